//! [`Outbox`]: protocol batches filled record by record, as the translator makes them.
//!
//! The source used to queue a whole read's records (a few hundred, each with its own path
//! buffers) and encode them into a batch afterwards. By then the queue's memory had gone
//! cold: every record was written to memory the cache had dropped and read back from it, and
//! its paths were freed long after they were made. Encoding each record as soon as it exists
//! touches it once, while it is hot, and frees its paths at once for the next event to reuse.
//! A paused [`BatchWriter`] keeps the batch open between records. Records arrive through
//! [`Sink`], their names borrowed from the translator's buffers: copied once, into the batch
//! (an owned record per event cost an allocation and a copy of its path, and more for a
//! merged event's further records).

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use picket_protocol::{BatchFlags, BatchProgress, BatchWriter, EncodeError, MAX_BATCH_LEN};

use crate::translate::{Made, PendingBody, Sink};

/// Buffers kept for batches to come: about what one read fills.
const SPARE_BUFFERS: usize = 4;

/// Room a new batch starts with, and the least it grows by.
const GROWTH: usize = 4096;
const FIRST_ROOM: usize = picket_protocol::BATCH_HEADER_LEN + GROWTH;

/// Finished batches waiting to be handed out, and the one being filled.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Finished batches, oldest first; each buffer is exactly its batch.
    ready: VecDeque<Vec<u8>>,
    /// The batch being filled: its buffer (room for [`MAX_BATCH_LEN`] bytes, as long as
    /// the batch has needed so far) and where it stands.
    open: Option<(Vec<u8>, BatchProgress)>,
    /// Buffers handed back by the reader of the batches, for the next ones.
    spare: Vec<Vec<u8>>,
    /// A record that could not be encoded, reported once the batches before it are out.
    failure: Option<EncodeError>,
}

/// Records are encoded into the open batch as the translator makes them, straight from its
/// buffers, a new batch started when one is full. A loss record opens a batch of its own,
/// whose header carries the loss count, as the driver's do.
///
/// A record that cannot be encoded is reported by [`Outbox::take`] after the batches
/// finished before it; records coming after it are dropped until then (the source stops
/// reading while a failure waits, and the reading ends with it). No record is possible that
/// fails: names are cut to the protocol's cap and the translator numbers records in order;
/// this keeps a failure from going unseen.
impl Sink for Outbox {
    fn put(&mut self, made: Made<'_>) {
        if self.failure.is_some() {
            return;
        }
        if let Err(err) = self.put_one(made) {
            self.failure = Some(err);
        }
    }
}

impl Outbox {
    /// Whether a record failed to encode and has not been reported yet.
    #[must_use]
    pub const fn failed(&self) -> bool {
        self.failure.is_some()
    }

    fn put_one(&mut self, made: Made<'_>) -> Result<(), EncodeError> {
        let record = made.record();
        let mut lost = 0;
        if let PendingBody::Loss(loss) = made.body {
            self.close();
            // Still open, it holds nothing: its buffer takes the loss's batch.
            if let Some((buf, _)) = self.open.take() {
                self.spare.push(buf);
            }
            lost = loss.count;
        }
        loop {
            let (buf, progress) = match &mut self.open {
                Some(open) => open,
                empty @ None => {
                    // Room for a whole batch is reserved (not touched) at once, so the
                    // buffer never moves as the batch grows and always comes back as spare.
                    let mut buf = self
                        .spare
                        .pop()
                        .unwrap_or_else(|| Vec::with_capacity(MAX_BATCH_LEN));
                    // The bytes of the last batch this buffer held are room already.
                    if buf.len() < FIRST_ROOM {
                        buf.resize(FIRST_ROOM, 0);
                    }
                    let progress =
                        BatchWriter::new(&mut buf, BatchFlags::POSIX_NAMES, lost)?.pause();
                    empty.insert((buf, progress))
                }
            };
            let mut writer = BatchWriter::resume(buf, *progress)?;
            let pushed = writer.push(&record);
            let held = writer.record_count();
            *progress = writer.pause();
            match pushed {
                Ok(()) => return Ok(()),
                // Out of room: more, as the record needs it. A `Vec` must initialise what it
                // grows by; growing here, right before the record is written, keeps that
                // pass on memory about to be used (zeroing a whole batch's worth ahead cost
                // a pass over cold memory).
                Err(EncodeError::BufferTooSmall { needed, .. }) if buf.len() < MAX_BATCH_LEN => {
                    let room = buf.len().saturating_add(needed.max(GROWTH));
                    buf.resize(room.min(MAX_BATCH_LEN), 0);
                }
                // Full: send it, and the record opens the next one.
                Err(EncodeError::BufferTooSmall { .. }) if held > 0 => self.close(),
                Err(err) => return Err(err),
            }
        }
    }

    /// Finishes the open batch, if it holds records, and queues it to be handed out.
    pub fn close(&mut self) {
        let Some((mut buf, progress)) = self.open.take() else {
            return;
        };
        if progress.record_count() == 0 {
            self.open = Some((buf, progress));
            return;
        }
        let len = BatchWriter::resume(&mut buf, progress).map_or(0, BatchWriter::finish);
        buf.truncate(len);
        self.ready.push_back(buf);
    }

    /// Whether a finished batch is waiting.
    #[must_use]
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Hands the oldest finished batch out in `buf` (whose allocation is kept for a later
    /// batch); `false` when none is waiting.
    ///
    /// # Errors
    /// A record that failed to encode, once every batch finished before it is out.
    pub fn take(&mut self, buf: &mut Vec<u8>) -> Result<bool, EncodeError> {
        let Some(mut batch) = self.ready.pop_front() else {
            return self.failure.take().map_or(Ok(false), Err);
        };
        std::mem::swap(buf, &mut batch);
        if self.spare.len() < SPARE_BUFFERS && batch.capacity() >= MAX_BATCH_LEN {
            self.spare.push(batch);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use picket_protocol::{decode_batch, Body, FileRef, Loss, LossReason, RecordHeader};

    use crate::translate::Pending;

    use super::*;

    fn write(seq: u64, name: &[u8]) -> Pending {
        Pending {
            header: RecordHeader {
                seq,
                ..RecordHeader::default()
            },
            body: PendingBody::FirstWrite,
            file: FileRef::default(),
            name: name.to_vec(),
            new_name: Vec::new(),
        }
    }

    fn loss(seq: u64, count: u64) -> Pending {
        Pending {
            body: PendingBody::Loss(Loss {
                first_lost_seq: 0,
                last_lost_seq: 0,
                count,
                reason: LossReason::QueueOverflow,
            }),
            ..write(seq, b"")
        }
    }

    /// Every batch handed out: (loss count in its header, its records' sequence numbers).
    fn drain(outbox: &mut Outbox) -> Vec<(u64, Vec<u64>)> {
        let mut buf = Vec::new();
        let mut batches = Vec::new();
        while outbox.take(&mut buf).expect("no failure") {
            let batch = decode_batch(&buf).expect("a valid batch");
            let seqs = batch.records().map(|r| r.header.seq).collect();
            batches.push((batch.header.lost_since_previous, seqs));
        }
        batches
    }

    fn put(outbox: &mut Outbox, records: impl IntoIterator<Item = Pending>) {
        for record in records {
            Sink::put(outbox, record.made());
        }
    }

    #[test]
    fn records_go_out_in_order_and_a_full_batch_makes_room_for_the_next() {
        let mut outbox = Outbox::default();
        // Records of about 2 KiB (names are capped at 2 KiB): 100 need four 64 KiB batches.
        let name = vec![b'x'; 2000];
        put(&mut outbox, (1..=100).map(|seq| write(seq, &name)));
        outbox.close();
        let batches = drain(&mut outbox);
        assert_eq!(batches.len(), 4);
        let seqs: Vec<u64> = batches.iter().flat_map(|(_, s)| s.clone()).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
        assert!(batches.iter().all(|(lost, s)| *lost == 0 && !s.is_empty()));
    }

    #[test]
    fn a_loss_opens_its_own_batch_and_carries_its_count() {
        let mut outbox = Outbox::default();
        put(
            &mut outbox,
            [
                write(1, b"/a"),
                write(2, b"/b"),
                loss(3, 7),
                write(4, b"/c"),
            ],
        );
        outbox.close();
        assert_eq!(drain(&mut outbox), [(0, vec![1, 2]), (7, vec![3, 4])]);

        // A loss first: no empty batch before it.
        put(&mut outbox, [loss(5, 2), write(6, b"/d")]);
        outbox.close();
        assert_eq!(drain(&mut outbox), [(2, vec![5, 6])]);
    }

    #[test]
    fn nothing_is_handed_out_before_the_batch_is_closed_and_empty_batches_never() {
        let mut outbox = Outbox::default();
        outbox.close();
        assert!(!outbox.has_ready());
        put(&mut outbox, [write(1, b"/a")]);
        assert!(!outbox.has_ready(), "the batch is still open");
        outbox.close();
        outbox.close();
        assert_eq!(drain(&mut outbox), [(0, vec![1])]);
    }

    /// Buffers handed back are used again, for shorter batches than what they held (a
    /// caller's buffer full of other bytes, a long batch): each batch is exactly its own
    /// bytes (its length, its records), nothing of what the buffer held before.
    #[test]
    fn a_reused_buffer_holds_exactly_the_new_batch() {
        fn only_record(buf: &[u8], seq: u64) {
            let batch = decode_batch(buf).expect("valid");
            assert_eq!(
                usize::try_from(batch.header.total_len).ok(),
                Some(buf.len())
            );
            let records: Vec<_> = batch.records().collect();
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].header.seq, seq);
            assert!(matches!(records[0].body, Body::FirstWrite(_)));
        }
        let mut outbox = Outbox::default();
        let long = vec![b'l'; 2000];
        put(&mut outbox, (1..=30).map(|seq| write(seq, &long)));
        outbox.close();
        // The caller's buffer, full of other bytes, goes to the spares.
        let mut buf = vec![0xAA; MAX_BATCH_LEN];
        let other = buf.as_ptr();
        assert_eq!(outbox.take(&mut buf), Ok(true));
        let (long_batch, long_len) = (buf.as_ptr(), buf.len());
        assert!(long_len > 60_000);

        put(&mut outbox, [write(31, b"/short")]);
        outbox.close();
        // Handing the long batch back; the short one was written in the caller's buffer.
        assert_eq!(outbox.take(&mut buf), Ok(true));
        assert_eq!(buf.as_ptr(), other);
        only_record(&buf, 31);

        put(&mut outbox, [write(32, b"/s")]);
        outbox.close();
        assert_eq!(outbox.take(&mut buf), Ok(true));
        assert_eq!(buf.as_ptr(), long_batch, "the long batch's buffer, reused");
        assert!(buf.len() < long_len);
        only_record(&buf, 32);
    }

    /// A record that cannot be encoded: the batches finished before it go out first, then
    /// the failure is reported once, and the outbox goes on.
    #[test]
    fn a_failure_is_reported_after_the_batches_before_it() {
        let mut outbox = Outbox::default();
        put(&mut outbox, [write(1, b"/a")]);
        // Sequence numbers must grow within a batch: the second 5 fails, and the record
        // made after it goes with it.
        put(
            &mut outbox,
            [write(5, b"/b"), write(5, b"/c"), write(6, b"/d")],
        );
        assert!(outbox.failed());
        outbox.close();
        let mut buf = Vec::new();
        assert_eq!(outbox.take(&mut buf), Ok(true));
        let seqs: Vec<u64> = decode_batch(&buf)
            .expect("valid")
            .records()
            .map(|r| r.header.seq)
            .collect();
        assert_eq!(seqs, [1, 5]);
        assert!(matches!(
            outbox.take(&mut buf),
            Err(EncodeError::SequenceNotIncreasing {
                previous: 5,
                seq: 5
            })
        ));
        assert_eq!(outbox.take(&mut buf), Ok(false), "reported once");
        assert!(!outbox.failed());
        put(&mut outbox, [write(7, b"/e")]);
        outbox.close();
        assert_eq!(drain(&mut outbox), [(0, vec![7])]);
    }
}
