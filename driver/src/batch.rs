//! The sender's logic: control records (driver hello, loss, stats) and batches built from
//! the ring, with the accounting of what was delivered and what was lost.
//!
//! The kernel shell runs this on its system thread at `PASSIVE_LEVEL` and does only the
//! `FltSendMessage` call itself.

use picket_protocol::{
    encode_record, encoded_len, BatchFlags, BatchWriter, Body, DriverHello, EncodeError, Loss,
    LossReason, Record, RecordHeader, Stats,
};

use crate::ring::{Consumer, Ring};
use crate::sync::RawSpin;

/// A batch ready to send: `out[..len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Built {
    /// Bytes in the batch.
    pub len: usize,
    /// Records in it.
    pub records: u64,
    /// First record's sequence number.
    pub first_seq: u64,
    /// Last record's sequence number.
    pub last_seq: u64,
    /// The loss total the batch header reported up to.
    lost_total: u64,
}

/// Delivery accounting across batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sender {
    /// Loss total reported by the last delivered batch.
    delivered_lost_total: u64,
    /// Records delivered.
    pub events_sent: u64,
    /// Batches delivered.
    pub batches_sent: u64,
    /// Batches that could not be delivered.
    pub send_failures: u64,
}

impl Sender {
    /// Fills `out` with the oldest published records, oldest first, as one batch. Records
    /// with a sequence number below `first_wanted` (left from before the current client
    /// connected) are discarded and counted as lost for lack of a client. `None` when there
    /// is nothing to send.
    pub fn build<P: RawSpin>(
        &mut self,
        ring: &Ring<'_, P>,
        consumer: &mut Consumer<'_, '_, P>,
        first_wanted: u64,
        out: &mut [u8],
    ) -> Option<Built> {
        discard_below(ring, consumer, first_wanted);
        consumer.front()?;
        let lost_total = ring.stats().events_dropped;
        let lost = lost_total.saturating_sub(self.delivered_lost_total);
        let mut writer = BatchWriter::new(out, BatchFlags::UTF16_NAMES, lost).ok()?;
        let (mut first_seq, mut last_seq, mut records) = (0, 0, 0u64);
        while let Some(front) = consumer.front() {
            let seq = front.seq;
            match writer.push_encoded(front.bytes) {
                Ok(()) => {
                    if records == 0 {
                        first_seq = seq;
                    }
                    last_seq = seq;
                    records = records.saturating_add(1);
                    consumer.pop();
                }
                Err(EncodeError::BufferTooSmall { .. } | EncodeError::BatchTooLong)
                    if records != 0 =>
                {
                    break;
                }
                Err(EncodeError::BufferTooSmall { .. } | EncodeError::BatchTooLong) => {
                    // Too big even for an empty batch: it will never fit, and leaving it at
                    // the front would wedge the ring for good (every later record lost as
                    // `RingFull`). The configuration bounds make this unreachable; defended.
                    consumer.pop();
                    ring.note_lost(seq, seq, 1, LossReason::EncodeFailed);
                }
                Err(_) => {
                    // Cannot happen for records our own encoder wrote; never send it, and
                    // say so rather than lose it quietly.
                    consumer.pop();
                    ring.note_lost(seq, seq, 1, LossReason::EncodeFailed);
                }
            }
        }
        if records == 0 {
            return None;
        }
        Some(Built {
            len: writer.finish(),
            records,
            first_seq,
            last_seq,
            lost_total,
        })
    }

    /// The client took the batch.
    pub const fn delivered(&mut self, built: &Built) {
        self.delivered_lost_total = built.lost_total;
        self.events_sent = self.events_sent.saturating_add(built.records);
        self.batches_sent = self.batches_sent.saturating_add(1);
    }

    /// The batch could not be delivered (timeout, client gone): its records are lost.
    pub fn failed<P: RawSpin>(&mut self, ring: &Ring<'_, P>, built: &Built) {
        self.send_failures = self.send_failures.saturating_add(1);
        ring.note_lost(
            built.first_seq,
            built.last_seq,
            built.records,
            LossReason::SendFailed,
        );
    }

    /// The stats record body for the current counters.
    #[must_use]
    pub fn stats<P: RawSpin>(&self, ring: &Ring<'_, P>) -> Stats {
        let ring_stats = ring.stats();
        Stats {
            events_seen: ring_stats.events_seen,
            events_sent: self.events_sent,
            events_dropped: ring_stats.events_dropped,
            batches_sent: self.batches_sent,
            send_failures: self.send_failures,
            ring_high_water: u32::try_from(ring_stats.high_water_bytes).unwrap_or(u32::MAX),
            ring_capacity: u32::try_from(ring_stats.capacity_bytes).unwrap_or(u32::MAX),
        }
    }
}

/// Discards every published record (no client to send it to), counting it lost.
pub fn discard_all<P: RawSpin>(ring: &Ring<'_, P>, consumer: &mut Consumer<'_, '_, P>) {
    discard_while(ring, consumer, |_| true);
}

/// Discards published records, oldest first, while `may_drop(seq)` agrees, counting them
/// lost for lack of a client.
///
/// `may_drop` is asked only *after* the record was read from the ring (an `Acquire` of its
/// header), so it sees everything its producer did before publishing it. The sender relies
/// on that when no client is connected: a connect callback claims the slot (`CONNECTING`)
/// before it stores the driver hello, so asking the slot whether it is vacant after seeing
/// the hello can never answer yes while that connect is in progress — the hello of a client
/// being connected is never thrown away as "no client".
pub fn discard_while<P: RawSpin>(
    ring: &Ring<'_, P>,
    consumer: &mut Consumer<'_, '_, P>,
    mut may_drop: impl FnMut(u64) -> bool,
) {
    let mut range: Option<(u64, u64, u64)> = None;
    while let Some(front) = consumer.front() {
        let seq = front.seq;
        if !may_drop(seq) {
            break;
        }
        consumer.pop();
        range = Some(match range {
            None => (seq, seq, 1),
            Some((first, _, count)) => (first, seq, count.saturating_add(1)),
        });
    }
    if let Some((first, last, count)) = range {
        ring.note_lost(first, last, count, LossReason::NoClient);
    }
}

fn discard_below<P: RawSpin>(ring: &Ring<'_, P>, consumer: &mut Consumer<'_, '_, P>, below: u64) {
    discard_while(ring, consumer, |seq| seq < below);
}

/// Header of a control record: the driver itself is the actor (pid/tid 0).
const fn control_header(timestamp: u64) -> RecordHeader {
    RecordHeader {
        seq: 0,
        timestamp,
        pid: 0,
        tid: 0,
        process_start_key: 0,
    }
}

/// Stores a control record whose body `take` produces under the ring lock; `None` when the
/// ring has no room or `take` has nothing.
fn store_control<P: RawSpin, T>(
    ring: &Ring<'_, P>,
    timestamp: u64,
    template: Body<'static>,
    take: impl FnOnce(&mut crate::loss::LossBook) -> Option<T>,
    body: impl FnOnce(T) -> Body<'static>,
) -> Option<u64> {
    let len = encoded_len(&Record {
        header: control_header(timestamp),
        body: template,
    })?;
    let (mut reservation, taken) = ring.reserve_control(len, take)?;
    let record = Record {
        header: RecordHeader {
            seq: reservation.seq(),
            ..control_header(timestamp)
        },
        body: body(taken),
    };
    let seq = reservation.seq();
    let written = encode_record(&record, reservation.payload()).ok()?;
    reservation.commit(written);
    Some(seq)
}

/// Stores the driver hello; returns its sequence number, the first the new client wants.
pub fn store_hello<P: RawSpin>(
    ring: &Ring<'_, P>,
    timestamp: u64,
    hello: DriverHello,
) -> Option<u64> {
    store_control(
        ring,
        timestamp,
        Body::DriverHello(hello),
        |_| Some(hello),
        Body::DriverHello,
    )
}

/// Stores one loss record per pending reason; returns how many were stored. Windows that
/// do not fit stay pending for the next call.
pub fn store_losses<P: RawSpin>(ring: &Ring<'_, P>, timestamp: u64) -> usize {
    let mut stored = 0usize;
    while store_control(
        ring,
        timestamp,
        Body::Loss(Loss::default()),
        crate::loss::LossBook::take_next,
        Body::Loss,
    )
    .is_some()
    {
        stored = stored.saturating_add(1);
    }
    stored
}

/// Stores a stats record.
pub fn store_stats<P: RawSpin>(ring: &Ring<'_, P>, timestamp: u64, stats: Stats) -> Option<u64> {
    store_control(
        ring,
        timestamp,
        Body::Stats(stats),
        |_| Some(stats),
        Body::Stats,
    )
}

#[cfg(test)]
mod tests;
