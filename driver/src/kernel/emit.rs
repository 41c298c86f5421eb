//! Storing one record from a callback: dropped and counted when no client is connected,
//! encoded straight into the ring otherwise. Callers run at `IRQL <= APC_LEVEL` (the names
//! they pass live in paged pool).

use picket_protocol::{Body, LossReason, Record};

use super::io::Op;
use super::state::Driver;
use crate::records::store;

/// Stores `body` for `op`. The outcome is already accounted for either way (a dropped
/// record is in the loss book with its sequence number), so nothing is returned.
pub fn emit(driver: &Driver, op: &Op<'_>, body: Body<'_>) {
    if !driver.slot.is_connected() {
        driver.ring.drop_event(LossReason::NoClient);
        return;
    }
    let _ = store(
        &driver.ring,
        Record {
            header: op.header(),
            body,
        },
    );
}
