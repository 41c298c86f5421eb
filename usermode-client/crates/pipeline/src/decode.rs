//! The decode stage: the protocol's validating decoder plus stream accounting.
//!
//! Nothing is lost silently:
//! - a batch that fails validation becomes a `malformed_batch` notice (batch index, offset,
//!   reason) and is skipped whole; the sequence gap it leaves is reported with the cause
//!   `malformed_batch`;
//! - every driver loss record becomes an `events_lost` notice with its range, count and
//!   reason;
//! - a sequence gap no loss record explains becomes an `events_lost` notice with the cause
//!   `sequence_gap`.
//!
//! The driver assigns sequence numbers at capture and stores its loss record after the loss,
//! so the gap is usually seen one record — or one batch — before the record that explains
//! it. Gaps are therefore held back until the end of the batch after the one that revealed
//! them (or until the source is idle, or ends); a loss record arriving meanwhile claims them.
//! Ranges already reported are remembered (bounded), so a gap and a loss record describing
//! the same sequence numbers are never both counted, whatever their order.
//!
//! The batch header's `lost_since_previous` (PROTOCOL.md §9) declares the same losses by
//! count alone, at or before the loss record that names them. Declared counts are held, like
//! gaps, until the end of the batch after the one that declared them; every loss notice
//! emitted meanwhile (from a loss record or a gap) accounts for part of them, and what is
//! left is reported as `events_lost` with the cause `batch_header` (so an empty batch
//! declaring 7 lost reports 7). Counts reported that way are remembered: a loss record or
//! gap that describes them later is not counted again. Over a stream the total reported is
//! therefore what the headers declared or what the records and gaps show, whichever is
//! larger, never their sum.
//!
//! A Linux `FAN_Q_OVERFLOW` (reason `QueueOverflow`) does not say how many events were
//! dropped: its notice is marked inexact (`exact: false`, its count a lower bound).

use std::collections::VecDeque;

use picket_model::{LossCause, Notice};
use picket_protocol::{
    decode_batch_into, Body, Loss, LossReason, Record, SequenceCheck, SequenceTracker,
};

/// What the decode stage hands on.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A file record (control records become notices here), with the batch's
    /// `POSIX_NAMES` flag. Lent, not moved: a record is 144 bytes, and the batch's records
    /// are checked into a vector first, so a move was a second copy of every one.
    Record(&'a Record<'a>, bool),
    /// Something about the stream.
    Notice(Notice),
}

/// Counters of the decode stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Batches fed.
    pub batches: u64,
    /// Bytes fed.
    pub bytes: u64,
    /// Records decoded (all kinds).
    pub records: u64,
    /// Batches rejected.
    pub malformed: u64,
    /// Records of kinds this client does not know, skipped by length.
    pub unknown_records: u64,
}

#[derive(Clone, Copy, Debug)]
struct PendingGap {
    first: u64,
    last: u64,
    cause: LossCause,
    age: u8,
}

/// How many reported ranges are remembered to avoid double counting.
const REMEMBERED_RANGES: usize = 256;
/// How many gaps may wait for a loss record before the oldest is reported anyway.
const MAX_PENDING: usize = 256;

/// The decode stage's state across batches.
#[derive(Debug, Default)]
pub struct Decoder {
    tracker: SequenceTracker,
    pending: Vec<PendingGap>,
    reported: VecDeque<(u64, u64)>,
    after_malformed: bool,
    /// Losses declared by the previous batch's header not yet accounted for.
    declared_old: u64,
    /// Losses declared by the current batch's header not yet accounted for.
    declared_new: u64,
    /// Losses reported from headers alone that a later loss record or gap may describe.
    header_only: u64,
    stats: DecodeStats,
    /// The last batch's record list, emptied: its allocation serves the next batch.
    spare: Vec<Record<'static>>,
}

/// An emptied record list retyped for records borrowing another buffer, keeping its
/// allocation (collecting a `Vec`'s own iterator into a same-sized type reuses it).
fn recycle<'b>(mut records: Vec<Record<'_>>) -> Vec<Record<'b>> {
    records.clear();
    // Empty: the closure never runs.
    records.into_iter().map(|_| unreachable!()).collect()
}

const fn overlap(a: (u64, u64), b: (u64, u64)) -> u64 {
    let first = if a.0 > b.0 { a.0 } else { b.0 };
    let last = if a.1 < b.1 { a.1 } else { b.1 };
    if first > last {
        0
    } else {
        (last - first).saturating_add(1)
    }
}

const fn loss_cause(reason: LossReason) -> LossCause {
    match reason {
        LossReason::RingFull => LossCause::RingFull,
        LossReason::NoClient => LossCause::NoClient,
        LossReason::SendFailed => LossCause::SendFailed,
        LossReason::EncodeFailed => LossCause::EncodeFailed,
        LossReason::QueueOverflow => LossCause::QueueOverflow,
        LossReason::Other(_) => LossCause::Other,
    }
}

impl Decoder {
    /// A decoder that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters so far.
    #[must_use]
    pub const fn stats(&self) -> DecodeStats {
        self.stats
    }

    fn remember(&mut self, range: (u64, u64)) {
        if self.reported.len() >= REMEMBERED_RANGES {
            self.reported.pop_front();
        }
        self.reported.push_back(range);
    }

    fn already_reported(&self, range: (u64, u64)) -> u64 {
        self.reported
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(overlap(*r, range)))
    }

    /// Reports the pending gaps at least `min_age` batches old.
    fn flush_gaps(&mut self, min_age: u8, sink: &mut impl FnMut(Decoded<'_>)) {
        let mut kept = Vec::new();
        for gap in std::mem::take(&mut self.pending) {
            if gap.age < min_age {
                kept.push(gap);
                continue;
            }
            let range = (gap.first, gap.last);
            let count = overlap(range, range).saturating_sub(self.already_reported(range));
            self.lost(count, true, Some(range), gap.cause, sink);
            self.remember(range);
        }
        self.pending = kept;
    }

    /// Reports every gap still waiting for a loss record, and every header-declared loss
    /// nothing has accounted for (call when the source is idle and at the end of the
    /// stream).
    pub fn flush(&mut self, sink: &mut impl FnMut(Decoded<'_>)) {
        self.flush_gaps(0, sink);
        self.report_declared(true, sink);
    }

    /// Emits one `events_lost` notice for `count` records (nothing when 0), after taking
    /// off what header-only notices already reported, and accounts it against the headers'
    /// declarations.
    fn lost(
        &mut self,
        count: u64,
        exact: bool,
        range: Option<(u64, u64)>,
        cause: LossCause,
        sink: &mut impl FnMut(Decoded<'_>),
    ) {
        let already = count.min(self.header_only);
        self.header_only -= already;
        let count = count - already;
        let from_old = count.min(self.declared_old);
        self.declared_old -= from_old;
        let from_new = (count - from_old).min(self.declared_new);
        self.declared_new -= from_new;
        if count > 0 {
            sink(Decoded::Notice(Notice::EventsLost {
                count,
                exact,
                first_seq: range.map(|r| r.0),
                last_seq: range.map(|r| r.1),
                cause,
            }));
        }
    }

    /// Reports the header-declared losses nothing accounted for: those of the previous
    /// batch, or (`all`) every one.
    fn report_declared(&mut self, all: bool, sink: &mut impl FnMut(Decoded<'_>)) {
        let mut count = std::mem::take(&mut self.declared_old);
        if all {
            count = count.saturating_add(std::mem::take(&mut self.declared_new));
        }
        if count > 0 {
            sink(Decoded::Notice(Notice::EventsLost {
                count,
                exact: true,
                first_seq: None,
                last_seq: None,
                cause: LossCause::BatchHeader,
            }));
            self.header_only = self.header_only.saturating_add(count);
        }
    }

    fn on_loss(&mut self, loss: &Loss, sink: &mut impl FnMut(Decoded<'_>)) {
        let (first, last) = (loss.first_lost_seq, loss.last_lost_seq);
        let ranged = loss.count > 0
            && first <= last
            && (last - first).saturating_add(1) >= loss.count
            && loss.reason != LossReason::QueueOverflow;
        if !ranged {
            // FAN_Q_OVERFLOW: the kernel does not say how many; the count is a lower bound.
            let exact = loss.reason != LossReason::QueueOverflow;
            self.lost(loss.count, exact, None, loss_cause(loss.reason), sink);
            return;
        }
        // Gaps inside the loss range are explained by it: drop them (keeping any part
        // outside the range).
        let mut kept = Vec::with_capacity(self.pending.len());
        for gap in std::mem::take(&mut self.pending) {
            if gap.first < first {
                kept.push(PendingGap {
                    last: gap.last.min(first - 1),
                    ..gap
                });
            }
            if gap.last > last {
                kept.push(PendingGap {
                    first: gap.first.max(last + 1),
                    ..gap
                });
            }
        }
        self.pending = kept;
        let count = loss
            .count
            .saturating_sub(self.already_reported((first, last)));
        self.lost(
            count,
            true,
            Some((first, last)),
            loss_cause(loss.reason),
            sink,
        );
        self.remember((first, last));
    }

    /// Decodes one batch, handing records and notices to `sink` in stream order.
    pub fn feed(&mut self, bytes: &[u8], mut sink: impl FnMut(Decoded<'_>)) {
        let index = self.stats.batches;
        self.stats.batches += 1;
        self.stats.bytes += bytes.len() as u64;
        // Each record is parsed once, as it is checked; none is used unless all pass.
        let mut records = recycle(std::mem::take(&mut self.spare));
        let header = match decode_batch_into(bytes, &mut records) {
            Ok(header) => header,
            Err(error) => {
                self.stats.malformed += 1;
                self.after_malformed = true;
                tracing::warn!(batch = index, %error, "malformed batch skipped");
                sink(Decoded::Notice(Notice::MalformedBatch {
                    batch_index: index,
                    offset: error.offset,
                    error: error.to_string(),
                }));
                return;
            }
        };
        for gap in &mut self.pending {
            gap.age = gap.age.saturating_add(1);
        }
        self.declared_new = self.declared_new.saturating_add(header.lost_since_previous);
        let posix = header.flags.posix_names();
        for record in &records {
            self.stats.records += 1;
            match self.tracker.observe(record.header.seq) {
                SequenceCheck::InOrder => {}
                SequenceCheck::Gap(gap) => {
                    if self.pending.len() >= MAX_PENDING {
                        // Report the oldest now rather than hold an unbounded list.
                        let oldest = self.pending.remove(0);
                        self.pending.push(PendingGap {
                            age: u8::MAX,
                            ..oldest
                        });
                        self.flush_gaps(u8::MAX, &mut sink);
                    }
                    self.pending.push(PendingGap {
                        first: gap.first,
                        last: gap.last,
                        cause: if self.after_malformed {
                            LossCause::MalformedBatch
                        } else {
                            LossCause::SequenceGap
                        },
                        age: 0,
                    });
                }
                SequenceCheck::Restarted { expected, got } => {
                    self.flush(&mut sink);
                    self.reported.clear();
                    self.header_only = 0;
                    sink(Decoded::Notice(Notice::SourceRestarted { expected, got }));
                }
            }
            self.after_malformed = false;
            match &record.body {
                Body::Loss(loss) => self.on_loss(loss, &mut sink),
                Body::DriverHello(hello) => sink(Decoded::Notice(Notice::DriverHello {
                    driver_version: format!(
                        "{}.{}.{}",
                        hello.driver_version[0], hello.driver_version[1], hello.driver_version[2]
                    ),
                    protocol_major: hello.protocol_major,
                    protocol_minor: hello.protocol_minor,
                    capabilities: hello.capabilities,
                })),
                Body::Stats(stats) => sink(Decoded::Notice(Notice::DriverStats {
                    events_seen: stats.events_seen,
                    events_sent: stats.events_sent,
                    events_dropped: stats.events_dropped,
                    ring_high_water: stats.ring_high_water,
                    ring_capacity: stats.ring_capacity,
                })),
                Body::Unknown { kind, .. } => {
                    self.stats.unknown_records += 1;
                    tracing::debug!(kind, seq = record.header.seq, "unknown record kind skipped");
                }
                _ => sink(Decoded::Record(record, posix)),
            }
        }
        self.spare = recycle(records);
        self.flush_gaps(1, &mut sink);
        self.report_declared(false, &mut sink);
        self.declared_old = std::mem::take(&mut self.declared_new);
    }
}

#[cfg(test)]
mod tests;
