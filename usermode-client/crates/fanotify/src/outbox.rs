//! [`Outbox`]: protocol batches filled record by record, as the translator makes them.
//!
//! The source used to queue a whole read's records (a few hundred, each with its own path
//! buffers) and encode them into a batch afterwards. By then the queue's memory had gone
//! cold: every record was written to memory the cache had dropped and read back from it, and
//! its paths were freed long after they were made. Encoding each record as soon as it exists
//! touches it once, while it is hot, and frees its paths at once for the next event to reuse.
//! A paused [`BatchWriter`] keeps the batch open between records.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use picket_protocol::{BatchFlags, BatchProgress, BatchWriter, EncodeError, MAX_BATCH_LEN};

use crate::translate::{Pending, PendingBody};

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
    /// The batch being filled: its buffer ([`MAX_BATCH_LEN`] long) and where it stands.
    open: Option<(Vec<u8>, BatchProgress)>,
    /// Buffers handed back by the reader of the batches, for the next ones.
    spare: Vec<Vec<u8>>,
}

impl Outbox {
    /// Encodes every record of `pending` into the open batch, oldest first, starting a new
    /// batch when one is full. A loss record opens a batch of its own, whose header carries
    /// the loss count, as the driver's do.
    ///
    /// # Errors
    /// When a record cannot be encoded; it is dropped, the records after it stay queued.
    pub fn put(&mut self, pending: &mut VecDeque<Pending>) -> Result<(), EncodeError> {
        while let Some(record) = pending.pop_front() {
            self.put_one(&record)?;
        }
        Ok(())
    }

    fn put_one(&mut self, pending: &Pending) -> Result<(), EncodeError> {
        let record = pending.record();
        let mut lost = 0;
        if let PendingBody::Loss(loss) = &pending.body {
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
                    let mut buf = self.spare.pop().unwrap_or_default();
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
                // Out of room: more, zeroed just before the record is written into it
                // (zeroing a whole batch's worth ahead cost a pass over cold memory; the
                // writer sets every byte it claims).
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
    pub fn take(&mut self, buf: &mut Vec<u8>) -> bool {
        let Some(mut batch) = self.ready.pop_front() else {
            return false;
        };
        std::mem::swap(buf, &mut batch);
        if self.spare.len() < SPARE_BUFFERS && batch.capacity() >= MAX_BATCH_LEN {
            self.spare.push(batch);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use picket_protocol::{decode_batch, Body, FileRef, Loss, LossReason, RecordHeader};

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
        while outbox.take(&mut buf) {
            let batch = decode_batch(&buf).expect("a valid batch");
            let seqs = batch.records().map(|r| r.header.seq).collect();
            batches.push((batch.header.lost_since_previous, seqs));
        }
        batches
    }

    #[test]
    fn records_go_out_in_order_and_a_full_batch_makes_room_for_the_next() {
        let mut outbox = Outbox::default();
        // Records of about 2 KiB (names are capped at 2 KiB): 100 need four 64 KiB batches.
        let name = vec![b'x'; 2000];
        let mut pending: VecDeque<Pending> = (1..=100).map(|seq| write(seq, &name)).collect();
        outbox.put(&mut pending).expect("encodable");
        assert!(pending.is_empty());
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
        let mut pending: VecDeque<Pending> = [
            write(1, b"/a"),
            write(2, b"/b"),
            loss(3, 7),
            write(4, b"/c"),
        ]
        .into();
        outbox.put(&mut pending).expect("encodable");
        outbox.close();
        assert_eq!(drain(&mut outbox), [(0, vec![1, 2]), (7, vec![3, 4])]);

        // A loss first: no empty batch before it.
        let mut pending: VecDeque<Pending> = [loss(5, 2), write(6, b"/d")].into();
        outbox.put(&mut pending).expect("encodable");
        outbox.close();
        assert_eq!(drain(&mut outbox), [(2, vec![5, 6])]);
    }

    #[test]
    fn nothing_is_handed_out_before_the_batch_is_closed_and_empty_batches_never() {
        let mut outbox = Outbox::default();
        outbox.close();
        assert!(!outbox.has_ready());
        let mut pending: VecDeque<Pending> = [write(1, b"/a")].into();
        outbox.put(&mut pending).expect("encodable");
        assert!(!outbox.has_ready(), "the batch is still open");
        outbox.close();
        outbox.close();
        assert_eq!(drain(&mut outbox), [(0, vec![1])]);
        // The handed-back buffer is reused, and its old bytes do not leak into the next batch.
        let mut pending: VecDeque<Pending> = [write(2, b"/b")].into();
        outbox.put(&mut pending).expect("encodable");
        outbox.close();
        let mut buf = vec![0xAA; 16];
        assert!(outbox.take(&mut buf));
        let batch = decode_batch(&buf).expect("valid");
        let records: Vec<_> = batch.records().collect();
        assert_eq!(records.len(), 1);
        assert!(matches!(records[0].body, Body::FirstWrite(_)));
    }

    #[test]
    fn a_record_that_cannot_be_encoded_is_an_error_and_the_rest_stays_queued() {
        let mut outbox = Outbox::default();
        // Sequence numbers must grow within a batch.
        let mut pending: VecDeque<Pending> =
            [write(5, b"/a"), write(5, b"/b"), write(6, b"/c")].into();
        assert!(matches!(
            outbox.put(&mut pending),
            Err(EncodeError::SequenceNotIncreasing { .. })
        ));
        assert_eq!(pending.len(), 1);
    }
}
