//! Sequence tracking across batches: every gap is reported, none is hidden.

/// Sequence numbers that never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First missing sequence number.
    pub first: u64,
    /// Last missing sequence number.
    pub last: u64,
}

impl Gap {
    /// How many sequence numbers are missing.
    #[must_use]
    pub const fn count(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }
}

/// What one sequence number says about the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceCheck {
    /// The next expected number (or the first ever seen).
    InOrder,
    /// Numbers were skipped.
    Gap(Gap),
    /// The number went backwards: the driver restarted (or the stream is corrupt).
    Restarted {
        /// What was expected (`u64::MAX` after `u64::MAX` itself, whose successor has no value).
        expected: u64,
        /// What arrived.
        got: u64,
    },
}

/// Follows the per-driver sequence across batches.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequenceTracker {
    /// The last number seen. Kept rather than "the next expected", which has no value after
    /// `u64::MAX` and would make a restart after it look like a fresh start.
    last: Option<u64>,
}

impl SequenceTracker {
    /// A tracker that has seen nothing.
    #[must_use]
    pub const fn new() -> Self {
        Self { last: None }
    }

    /// Forgets the position (after a reconnect to a reloaded driver).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Records `seq` and says whether anything was skipped before it.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn observe(&mut self, seq: u64) -> SequenceCheck {
        let check = match self.last.map(|last| last.checked_add(1)) {
            None => SequenceCheck::InOrder,
            Some(Some(expected)) if seq == expected => SequenceCheck::InOrder,
            Some(Some(expected)) if seq > expected => SequenceCheck::Gap(Gap {
                first: expected,
                last: seq.saturating_sub(1),
            }),
            Some(Some(expected)) => SequenceCheck::Restarted { expected, got: seq },
            // After `u64::MAX` nothing can follow in order: whatever comes is a restart.
            Some(None) => SequenceCheck::Restarted {
                expected: u64::MAX,
                got: seq,
            },
        };
        self.last = Some(seq);
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_gaps_and_restarts() {
        let mut tracker = SequenceTracker::new();
        assert_eq!(tracker.observe(10), SequenceCheck::InOrder);
        assert_eq!(tracker.observe(11), SequenceCheck::InOrder);
        let gap = Gap {
            first: 12,
            last: 14,
        };
        assert_eq!(tracker.observe(15), SequenceCheck::Gap(gap));
        assert_eq!(gap.count(), 3);
        assert_eq!(
            tracker.observe(3),
            SequenceCheck::Restarted {
                expected: 16,
                got: 3
            }
        );
        assert_eq!(tracker.observe(4), SequenceCheck::InOrder);
        tracker.reset();
        assert_eq!(tracker.observe(100), SequenceCheck::InOrder);
    }

    #[test]
    fn a_restart_after_the_last_number_is_not_hidden() {
        let mut tracker = SequenceTracker::new();
        assert_eq!(tracker.observe(u64::MAX - 1), SequenceCheck::InOrder);
        assert_eq!(tracker.observe(u64::MAX), SequenceCheck::InOrder);
        assert_eq!(
            tracker.observe(0),
            SequenceCheck::Restarted {
                expected: u64::MAX,
                got: 0
            }
        );
        assert_eq!(tracker.observe(1), SequenceCheck::InOrder);
    }
}
