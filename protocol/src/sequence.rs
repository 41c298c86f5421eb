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
        /// What was expected.
        expected: u64,
        /// What arrived.
        got: u64,
    },
}

/// Follows the per-driver sequence across batches.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequenceTracker {
    next: Option<u64>,
}

impl SequenceTracker {
    /// A tracker that has seen nothing.
    #[must_use]
    pub const fn new() -> Self {
        Self { next: None }
    }

    /// Forgets the position (after a reconnect to a reloaded driver).
    pub fn reset(&mut self) {
        self.next = None;
    }

    /// Records `seq` and says whether anything was skipped before it.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn observe(&mut self, seq: u64) -> SequenceCheck {
        let check = match self.next {
            None => SequenceCheck::InOrder,
            Some(expected) if seq == expected => SequenceCheck::InOrder,
            Some(expected) if seq > expected => SequenceCheck::Gap(Gap {
                first: expected,
                last: seq.saturating_sub(1),
            }),
            Some(expected) => SequenceCheck::Restarted { expected, got: seq },
        };
        self.next = seq.checked_add(1);
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
}
