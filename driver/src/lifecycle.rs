//! The driver's life, as a state machine the kernel shell must walk in order.
//!
//! Unload order matters: stop storing records first (callbacks still run but store
//! nothing); remove the process-notify routine (`PsSetCreateProcessNotifyRoutineEx` with
//! `Remove`, which waits for callbacks in flight: they use the ring freed last); close the
//! server port (no new client can connect to a filter that is going
//! away); stop and join the sender thread (it may still be in `FltSendMessage` until its
//! timeout) *before* `FltUnregisterFilter`, because every `FltSendMessage` names the filter
//! and the filter object is gone once `FltUnregisterFilter` returns; unregister (Filter
//! Manager calls the disconnect callback for a client still connected, waits for in-flight
//! callbacks and frees our contexts); only then free the ring. Each step is allowed only
//! after the one before it.

use core::sync::atomic::{AtomicU8, Ordering};

/// Where the driver is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    /// `DriverEntry` is setting things up.
    Starting = 0,
    /// Filtering has started; records flow.
    Running = 1,
    /// Unloading: callbacks store nothing any more.
    Stopping = 2,
    /// The process-notify routine is removed (or was never registered) and no call of it
    /// is in flight.
    ProcessNotifyRemoved = 3,
    /// The server port is closed and the client slot refuses new connections.
    PortClosed = 4,
    /// The sender thread has exited and been joined: nothing calls `FltSendMessage` any more.
    SenderStopped = 5,
    /// `FltUnregisterFilter` returned: no callback runs or will run, the client port is
    /// closed (by the disconnect callback) and the filter pointer is dead.
    Unregistered = 6,
    /// The ring and every other allocation are freed.
    Freed = 7,
}

impl Stage {
    const fn from_raw(raw: u8) -> Self {
        match raw {
            0 => Self::Starting,
            1 => Self::Running,
            2 => Self::Stopping,
            3 => Self::ProcessNotifyRemoved,
            4 => Self::PortClosed,
            5 => Self::SenderStopped,
            6 => Self::Unregistered,
            _ => Self::Freed,
        }
    }
}

/// A step was attempted out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfOrder {
    /// The stage the driver was in.
    pub current: Stage,
    /// The stage asked for.
    pub requested: Stage,
}

/// The driver's current stage, shared by the callbacks and the unload routine.
#[derive(Debug, Default)]
pub struct Lifecycle(AtomicU8);

impl Lifecycle {
    /// A driver that is starting.
    #[must_use]
    pub const fn new() -> Self {
        Self(AtomicU8::new(Stage::Starting as u8))
    }

    /// The current stage.
    #[must_use]
    pub fn stage(&self) -> Stage {
        Stage::from_raw(self.0.load(Ordering::Acquire))
    }

    /// Whether callbacks may store records.
    #[must_use]
    pub fn accepting(&self) -> bool {
        self.stage() == Stage::Running
    }

    /// Moves to `next`, which must directly follow the current stage — except that a
    /// failed start may go from `Starting` straight to `Stopping` and unwind from there.
    ///
    /// # Errors
    /// [`OutOfOrder`] when `next` does not follow; nothing changes then.
    pub fn advance(&self, next: Stage) -> Result<(), OutOfOrder> {
        let current = self.stage();
        let allowed = (next as u8) == (current as u8).saturating_add(1)
            || (current == Stage::Starting && next == Stage::Stopping);
        if !allowed {
            return Err(OutOfOrder {
                current,
                requested: next,
            });
        }
        self.0
            .compare_exchange(
                current as u8,
                next as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(|_| ())
            .map_err(|raw| OutOfOrder {
                current: Stage::from_raw(raw),
                requested: next,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: [Stage; 7] = [
        Stage::Running,
        Stage::Stopping,
        Stage::ProcessNotifyRemoved,
        Stage::PortClosed,
        Stage::SenderStopped,
        Stage::Unregistered,
        Stage::Freed,
    ];

    #[test]
    fn the_full_life_in_order() {
        let life = Lifecycle::new();
        assert!(!life.accepting());
        for stage in ORDER {
            life.advance(stage).unwrap();
            assert_eq!(life.stage(), stage);
            assert_eq!(life.accepting(), stage == Stage::Running);
        }
    }

    #[test]
    fn steps_cannot_be_skipped_or_repeated() {
        let life = Lifecycle::new();
        life.advance(Stage::Running).unwrap();
        assert_eq!(
            life.advance(Stage::Unregistered),
            Err(OutOfOrder {
                current: Stage::Running,
                requested: Stage::Unregistered
            }),
            "the port must close before the filter unregisters"
        );
        life.advance(Stage::Stopping).unwrap();
        assert!(life.advance(Stage::Stopping).is_err());
        assert!(
            life.advance(Stage::PortClosed).is_err(),
            "the process-notify routine (which stores into the ring) must be removed first"
        );
        life.advance(Stage::ProcessNotifyRemoved).unwrap();
        life.advance(Stage::PortClosed).unwrap();
        assert!(
            life.advance(Stage::Unregistered).is_err(),
            "the sender thread (which calls FltSendMessage with the filter) must stop before \
             the filter unregisters"
        );
        life.advance(Stage::SenderStopped).unwrap();
        assert!(
            life.advance(Stage::Freed).is_err(),
            "the filter must unregister (callbacks drained) before the state is freed"
        );
        life.advance(Stage::Unregistered).unwrap();
        life.advance(Stage::Freed).unwrap();
    }

    #[test]
    fn a_failed_start_unwinds_through_the_same_steps() {
        let life = Lifecycle::new();
        life.advance(Stage::Stopping).unwrap();
        for stage in &ORDER[2..] {
            life.advance(*stage).unwrap();
        }
        assert_eq!(life.stage(), Stage::Freed);
        assert!(!life.accepting());
    }
}
