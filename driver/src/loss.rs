//! Loss accounting: nothing is lost silently.
//!
//! Every record that is captured but will never reach the client is counted here with its
//! sequence number and the reason, so the client is told exactly what it missed.
//!
//! The book lives inside the ring's lock ([`crate::ring`]): sequence numbers and losses are
//! updated in the same critical section, so a loss window's range is exact.

use picket_protocol::{Loss, LossReason};

/// Reasons the driver loses records, in the order loss records are emitted.
pub const REASONS: [LossReason; 4] = [
    LossReason::NoClient,
    LossReason::RingFull,
    LossReason::EncodeFailed,
    LossReason::SendFailed,
];

/// Losses of one reason not yet reported to the client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Window {
    first: u64,
    last: u64,
    count: u64,
}

impl Window {
    fn note(&mut self, first: u64, last: u64, count: u64) {
        if count == 0 {
            return;
        }
        if self.count == 0 {
            self.first = first;
            self.last = last;
        } else {
            self.first = self.first.min(first);
            self.last = self.last.max(last);
        }
        self.count = self.count.saturating_add(count);
    }
}

/// Unreported losses per reason, and the running total.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LossBook {
    windows: [Window; REASONS.len()],
    total: u64,
}

impl LossBook {
    /// Records one lost record.
    pub fn note(&mut self, seq: u64, reason: LossReason) {
        self.note_range(seq, seq, 1, reason);
    }

    /// Records `count` lost records whose sequence numbers lie in `first..=last` (a batch
    /// that could not be delivered, or ring records discarded for lack of a client).
    pub fn note_range(&mut self, first: u64, last: u64, count: u64, reason: LossReason) {
        let index = REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(REASONS.len().saturating_sub(1));
        if let Some(window) = self.windows.get_mut(index) {
            window.note(first, last, count);
            self.total = self.total.saturating_add(count);
        }
    }

    /// Records lost since the driver started.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.total
    }

    /// Whether some loss has not been reported yet.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        self.windows.iter().any(|w| w.count != 0)
    }

    /// Takes the oldest-reason pending window as a loss record body, leaving it empty.
    pub fn take_next(&mut self) -> Option<Loss> {
        let (window, reason) = self
            .windows
            .iter_mut()
            .zip(REASONS)
            .find(|(w, _)| w.count != 0)?;
        let loss = Loss {
            first_lost_seq: window.first,
            last_lost_seq: window.last,
            count: window.count,
            reason,
        };
        *window = Window::default();
        Some(loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_book_has_nothing_to_report() {
        let mut book = LossBook::default();
        assert!(!book.has_pending());
        assert_eq!(book.take_next(), None);
        assert_eq!(book.total(), 0);
    }

    #[test]
    fn losses_of_one_reason_merge_into_one_exact_range() {
        let mut book = LossBook::default();
        book.note(12, LossReason::RingFull);
        book.note(10, LossReason::RingFull);
        book.note(15, LossReason::RingFull);
        assert_eq!(
            book.take_next(),
            Some(Loss {
                first_lost_seq: 10,
                last_lost_seq: 15,
                count: 3,
                reason: LossReason::RingFull
            })
        );
        assert!(!book.has_pending());
        assert_eq!(book.total(), 3, "the total survives reporting");
    }

    #[test]
    fn each_reason_gets_its_own_record() {
        let mut book = LossBook::default();
        book.note_range(20, 29, 10, LossReason::SendFailed);
        book.note(5, LossReason::NoClient);
        let first = book.take_next().unwrap();
        let second = book.take_next().unwrap();
        assert_eq!((first.reason, first.count), (LossReason::NoClient, 1));
        assert_eq!(
            (
                second.reason,
                second.first_lost_seq,
                second.last_lost_seq,
                second.count
            ),
            (LossReason::SendFailed, 20, 29, 10)
        );
        assert_eq!(book.take_next(), None);
        assert_eq!(book.total(), 11);
    }

    #[test]
    fn an_empty_range_counts_nothing() {
        let mut book = LossBook::default();
        book.note_range(1, 0, 0, LossReason::SendFailed);
        assert!(!book.has_pending());
        assert_eq!(book.total(), 0);
    }

    #[test]
    fn a_reason_the_driver_never_uses_is_still_counted() {
        let mut book = LossBook::default();
        book.note(7, LossReason::QueueOverflow);
        assert_eq!(book.total(), 1);
        assert!(book.has_pending());
    }
}
