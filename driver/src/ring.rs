//! The event ring: a bounded, preallocated, multi-producer single-consumer byte ring that
//! holds records already encoded in the wire format.
//!
//! I/O callbacks (producers, `IRQL <= APC_LEVEL` for file events) reserve a frame, encode
//! their record straight into it with `picket_protocol::encode_record` and publish it; they
//! never wait for user mode. The sender thread (the single consumer, `PASSIVE_LEVEL`) reads
//! published frames in order and copies them into a batch with `BatchWriter::push_encoded`.
//!
//! Sequence numbers are assigned here, in the same critical section that reserves space, so
//! ring order is sequence order and a record that cannot be stored still consumes its number
//! and is entered in the [`LossBook`]: every gap the client sees is a counted loss.
//!
//! # Frame layout (in 64-bit words)
//! `[header][seq][payload …]`. The header is `0` until the producer publishes the frame;
//! then `PUBLISHED | frame_words << 32 | payload_len` (`payload_len == 0`: a skip frame, used
//! as padding at the end of the buffer and for reservations abandoned unpublished). A frame
//! never wraps, so its payload is one contiguous `&mut [u8]` for the encoder.
//!
//! # Invariants
//! - I1: every word outside `[tail, head)` (the free space) is zero.
//! - I2: frames tile `[tail, head)` without wrapping; each starts with its header word.
//! - I3: between reservation and publication a frame is written only through its
//!   [`Reservation`]; after publication (header stored with `Release`) only the consumer
//!   touches it, until it zeroes it and moves `tail` past it (with `Release`).
//!
//! Producers reserve under a [`SpinLock`] (a few integer operations, preemption disabled);
//! the encoding itself and the consumer's copy run without any lock.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use picket_protocol::LossReason;

use crate::loss::LossBook;
use crate::sync::{RawSpin, SpinLock};

const PUBLISHED: u64 = 1 << 63;
/// Words of framing before the payload: header and sequence number.
const FRAME_OVERHEAD_WORDS: u64 = 2;
const WORD_BYTES: u64 = 8;

/// Why a record was not stored. Its sequence number was consumed and the loss counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The sequence number the record would have had.
    pub seq: u64,
    /// Why it was dropped.
    pub reason: LossReason,
}

/// Counters for the periodic stats record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Sequence numbers handed out: records captured, stored or dropped, control records
    /// included (so `seen = sent + dropped + in flight`, as `docs/PROTOCOL.md` §9 defines).
    pub events_seen: u64,
    /// Records lost, every reason included.
    pub events_dropped: u64,
    /// Most bytes ever in use at once.
    pub high_water_bytes: u64,
    /// Ring size in bytes.
    pub capacity_bytes: u64,
}

/// State changed only under the lock.
#[derive(Debug, Default)]
struct Shared {
    /// Next free word position (monotonic; the index is `head & mask`).
    head: u64,
    /// Next sequence number.
    next_seq: u64,
    events_seen: u64,
    high_water_words: u64,
    losses: LossBook,
}

/// The ring over a caller-provided, zeroed, power-of-two-sized word buffer.
pub struct Ring<'a, P: RawSpin> {
    words: NonNull<u64>,
    capacity: u64,
    /// `capacity - 1`: positions are reduced to indexes with it.
    mask: u64,
    shared: SpinLock<Shared, P>,
    /// Consumer position (monotonic); written only by the consumer.
    tail: AtomicU64,
    consumer_taken: AtomicBool,
    _storage: PhantomData<&'a mut [u64]>,
}

// SAFETY: the ring owns exclusive access to its buffer for `'a` (it holds the `&mut` it was
// built from); all shared access to the buffer follows invariants I1–I3, which hand each
// word to one thread at a time, with the atomics ordering the hand-overs.
unsafe impl<P: RawSpin + Send> Sync for Ring<'_, P> {}
// SAFETY: as above; nothing in the ring is tied to the creating thread.
unsafe impl<P: RawSpin + Send> Send for Ring<'_, P> {}

/// The ring could not be built over the buffer given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The buffer's length in words is not a power of two of at least 64.
    BadCapacity,
    /// The buffer is not all zero.
    NotZeroed,
}

impl<'a, P: RawSpin> Ring<'a, P> {
    /// Builds a ring over `storage`, which must be zeroed (I1) and a power of two of at
    /// least 64 words long. Sequence numbers start at `first_seq`.
    ///
    /// # Errors
    /// [`RingError`] when the buffer does not qualify.
    pub fn new(storage: &'a mut [u64], first_seq: u64) -> Result<Self, RingError> {
        if !Self::capacity_ok(storage.len()) {
            return Err(RingError::BadCapacity);
        }
        if storage.iter().any(|w| *w != 0) {
            return Err(RingError::NotZeroed);
        }
        // SAFETY: every word was just checked to be zero.
        unsafe { Self::new_zeroed(storage, first_seq) }
    }

    /// [`Ring::new`] without reading the buffer: for memory that is zero by construction
    /// (the driver's `ExAllocatePool2` allocation), where the check would touch every word
    /// of a multi-megabyte buffer in `DriverEntry` to learn nothing.
    ///
    /// # Errors
    /// [`RingError::BadCapacity`] when the length does not qualify.
    ///
    /// # Safety
    /// Every word of `storage` is zero (invariant I1 starts from it).
    pub unsafe fn new_zeroed(storage: &'a mut [u64], first_seq: u64) -> Result<Self, RingError> {
        let len = storage.len();
        if !Self::capacity_ok(len) {
            return Err(RingError::BadCapacity);
        }
        Ok(Self {
            words: NonNull::from(storage).cast(),
            capacity: len as u64,
            mask: (len as u64).wrapping_sub(1),
            shared: SpinLock::new(Shared {
                next_seq: first_seq,
                ..Shared::default()
            }),
            tail: AtomicU64::new(0),
            consumer_taken: AtomicBool::new(false),
            _storage: PhantomData,
        })
    }

    /// A power of two of at least 64 words.
    const fn capacity_ok(len: usize) -> bool {
        len.is_power_of_two() && len >= 64
    }

    /// Largest payload a single frame may carry (half the ring, so a frame always fits once
    /// the ring drains, padding included).
    #[must_use]
    pub fn max_payload_bytes(&self) -> usize {
        let words = (self.capacity / 2).saturating_sub(FRAME_OVERHEAD_WORDS);
        usize::try_from(words.saturating_mul(WORD_BYTES)).unwrap_or(usize::MAX)
    }

    /// Reserves a frame for a file event of up to `len` bytes and assigns its sequence
    /// number. Counts the event as seen either way.
    ///
    /// # Errors
    /// [`Dropped`] (`RingFull`, or `EncodeFailed` for a record larger than any frame); the
    /// loss is already counted.
    pub fn reserve(&self, len: usize) -> Result<Reservation<'_, 'a, P>, Dropped> {
        let need = Self::frame_words(len);
        let mut shared = self.shared.lock();
        shared.events_seen = shared.events_seen.saturating_add(1);
        let seq = Self::take_seq(&mut shared);
        let reason = match need {
            Some(need) if need <= self.capacity / 2 => match self.claim(&mut shared, need) {
                Some(claim) => {
                    drop(shared);
                    return Ok(self.finish_claim(&claim, seq, need));
                }
                None => LossReason::RingFull,
            },
            _ => LossReason::EncodeFailed,
        };
        shared.losses.note(seq, reason);
        Err(Dropped { seq, reason })
    }

    /// Counts a file event that is not stored at all (e.g. no client connected) and
    /// returns the sequence number it consumed.
    pub fn drop_event(&self, reason: LossReason) -> u64 {
        let mut shared = self.shared.lock();
        shared.events_seen = shared.events_seen.saturating_add(1);
        let seq = Self::take_seq(&mut shared);
        shared.losses.note(seq, reason);
        seq
    }

    /// Counts records that left the ring but never reached the client (a batch that could
    /// not be delivered, frames discarded for lack of a client).
    pub fn note_lost(&self, first_seq: u64, last_seq: u64, count: u64, reason: LossReason) {
        self.shared
            .lock()
            .losses
            .note_range(first_seq, last_seq, count, reason);
    }

    /// Reserves a frame of `len` bytes for a control record (hello, loss, stats) whose body
    /// `take` produces from the loss book under the lock. Nothing is taken, and no sequence
    /// number consumed, when the frame does not fit or `take` returns `None`: the caller
    /// retries later, so a loss window is never taken without its record being stored.
    pub fn reserve_control<T>(
        &self,
        len: usize,
        take: impl FnOnce(&mut LossBook) -> Option<T>,
    ) -> Option<(Reservation<'_, 'a, P>, T)> {
        let need = Self::frame_words(len).filter(|n| *n <= self.capacity / 2)?;
        let mut shared = self.shared.lock();
        self.free_words_for(&shared, need)?;
        let body = take(&mut shared.losses)?;
        shared.events_seen = shared.events_seen.saturating_add(1);
        let seq = Self::take_seq(&mut shared);
        let claim = self.claim(&mut shared, need)?;
        drop(shared);
        Some((self.finish_claim(&claim, seq, need), body))
    }

    /// Statistics so far.
    #[must_use]
    pub fn stats(&self) -> RingStats {
        let shared = self.shared.lock();
        RingStats {
            events_seen: shared.events_seen,
            events_dropped: shared.losses.total(),
            high_water_bytes: shared.high_water_words.saturating_mul(WORD_BYTES),
            capacity_bytes: self.capacity.saturating_mul(WORD_BYTES),
        }
    }

    /// The single consumer handle; `None` if it was already taken.
    pub fn consumer(&self) -> Option<Consumer<'_, 'a, P>> {
        if self.consumer_taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Consumer {
            ring: self,
            pos: self.tail.load(Ordering::Acquire),
        })
    }

    const fn take_seq(shared: &mut Shared) -> u64 {
        let seq = shared.next_seq;
        shared.next_seq = seq.saturating_add(1);
        seq
    }

    /// Words a frame with a payload of `len` bytes occupies.
    fn frame_words(len: usize) -> Option<u64> {
        let len = u64::try_from(len).ok()?;
        len.checked_add(WORD_BYTES - 1)?
            .checked_div(WORD_BYTES)?
            .checked_add(FRAME_OVERHEAD_WORDS)
    }

    /// Words to claim for a frame of `need` words at the current head: the frame, plus the
    /// rest of the buffer as padding when the frame would otherwise wrap. `None` when full.
    fn free_words_for(&self, shared: &Shared, need: u64) -> Option<(u64, u64)> {
        let tail = self.tail.load(Ordering::Acquire);
        let used = shared.head.checked_sub(tail)?;
        let index = shared.head & self.mask;
        let to_end = self.capacity.checked_sub(index)?;
        let pad = if need <= to_end { 0 } else { to_end };
        let total = pad.checked_add(need)?;
        let after = used.checked_add(total)?;
        (after <= self.capacity).then_some((pad, after))
    }

    fn claim(&self, shared: &mut Shared, need: u64) -> Option<Claim> {
        let (pad, used_after) = self.free_words_for(shared, need)?;
        let pad_at = shared.head;
        let start = pad_at.checked_add(pad)?;
        shared.head = start.checked_add(need)?;
        shared.high_water_words = shared.high_water_words.max(used_after);
        Some(Claim { pad_at, pad, start })
    }

    fn finish_claim(&self, claim: &Claim, seq: u64, need: u64) -> Reservation<'_, 'a, P> {
        if claim.pad != 0 {
            // The padding frame is reserved by this thread alone (I3); publish it at once.
            self.header(claim.pad_at)
                .store(PUBLISHED | (claim.pad << 32), Ordering::Release);
        }
        let seq_word = self.word_ptr(claim.start.wrapping_add(1));
        // SAFETY: `seq_word` is inside the buffer (`word_ptr` masks the index) and belongs to
        // the frame just claimed, which no other thread touches before publication (I3).
        unsafe { seq_word.write(seq) };
        Reservation {
            ring: self,
            start: claim.start,
            frame_words: need,
            seq,
            published: false,
        }
    }

    /// Pointer to the word at position `pos` (masked into the buffer).
    fn word_ptr(&self, pos: u64) -> *mut u64 {
        // `capacity` is a power of two no larger than the buffer length (a `usize`): the
        // masked index is in bounds and fits `usize`.
        let index = usize::try_from(pos & self.mask).unwrap_or(0);
        self.words.as_ptr().wrapping_add(index)
    }

    /// The header word at `pos` as an atomic.
    fn header(&self, pos: u64) -> &AtomicU64 {
        // SAFETY: the pointer is in bounds and 8-byte aligned (a `u64` buffer); header words
        // are only accessed atomically while they can be reached concurrently (I3), and
        // non-atomic accesses to the same word are ordered with them by the
        // `tail`/header Release-Acquire pairs.
        unsafe { AtomicU64::from_ptr(self.word_ptr(pos)) }
    }
}

/// Where a claimed frame (and its padding) lies.
struct Claim {
    pad_at: u64,
    pad: u64,
    start: u64,
}

/// A frame reserved for one record. Publish it with [`Reservation::commit`]; dropped
/// unpublished, it becomes a skip frame, so the consumer is never stuck behind it.
pub struct Reservation<'r, 'a, P: RawSpin> {
    ring: &'r Ring<'a, P>,
    start: u64,
    frame_words: u64,
    seq: u64,
    published: bool,
}

impl<P: RawSpin> Reservation<'_, '_, P> {
    /// The record's sequence number.
    #[must_use]
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// The frame's payload: zeroed, 8-byte aligned, at least as long as requested.
    pub fn payload(&mut self) -> &mut [u8] {
        let words = self.frame_words.saturating_sub(FRAME_OVERHEAD_WORDS);
        let bytes = usize::try_from(words.saturating_mul(WORD_BYTES)).unwrap_or(0);
        let first = self
            .ring
            .word_ptr(self.start.wrapping_add(FRAME_OVERHEAD_WORDS));
        // SAFETY: the frame does not wrap (I2), so `words` words from `first` are inside the
        // buffer; they belong to this reservation alone until it is published (I3), and
        // `&mut self` ties the slice to that exclusive borrow. The words are initialised
        // (zero, by I1) and `u8` has no invalid values.
        unsafe { core::slice::from_raw_parts_mut(first.cast::<u8>(), bytes) }
    }

    /// Publishes the first `len` bytes of the payload as the record. A `len` of 0 or beyond
    /// the payload publishes a skip frame instead (nothing malformed ever reaches a batch).
    pub fn commit(mut self, len: usize) {
        let max = self
            .frame_words
            .saturating_sub(FRAME_OVERHEAD_WORDS)
            .saturating_mul(WORD_BYTES);
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        self.publish(if len <= max && u32::try_from(len).is_ok() {
            len
        } else {
            0
        });
    }

    fn publish(&mut self, len: u64) {
        self.published = true;
        self.ring.header(self.start).store(
            PUBLISHED | (self.frame_words << 32) | len,
            Ordering::Release,
        );
    }
}

impl<P: RawSpin> Drop for Reservation<'_, '_, P> {
    fn drop(&mut self) {
        if !self.published {
            self.publish(0);
        }
    }
}

/// The consumer side, taken once with [`Ring::consumer`].
pub struct Consumer<'r, 'a, P: RawSpin> {
    ring: &'r Ring<'a, P>,
    /// Equal to `ring.tail` (only this handle moves it).
    pos: u64,
}

/// A published record at the front of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Front<'c> {
    /// Its sequence number.
    pub seq: u64,
    /// Its encoded bytes.
    pub bytes: &'c [u8],
}

impl<P: RawSpin> Consumer<'_, '_, P> {
    /// The oldest published record, skipping (and freeing) skip frames. `None` when the
    /// ring is empty or the oldest reservation is not yet published (records leave in
    /// sequence order, so a later one waits for it).
    pub fn front(&mut self) -> Option<Front<'_>> {
        loop {
            let header = self.ring.header(self.pos).load(Ordering::Acquire);
            if header & PUBLISHED == 0 {
                return None;
            }
            let frame_words = (header >> 32) & 0x7fff_ffff;
            let len = header & 0xffff_ffff;
            if len == 0 {
                self.release(frame_words);
                continue;
            }
            let seq_ptr = self.ring.word_ptr(self.pos.wrapping_add(1));
            // SAFETY: the frame was published with `Release` and the header read with
            // `Acquire`, so the producer's writes are visible and finished (I3); the seq word
            // is in bounds (masked).
            let seq = unsafe { seq_ptr.read() };
            let first = self
                .ring
                .word_ptr(self.pos.wrapping_add(FRAME_OVERHEAD_WORDS));
            let len = usize::try_from(len).unwrap_or(0);
            // SAFETY: `len` is at most the frame's payload (checked at commit); the frame
            // does not wrap (I2) and, once published, is read only by this consumer until
            // `pop` frees it (I3). The slice borrows `self`, so `pop` cannot run meanwhile.
            let bytes =
                unsafe { core::slice::from_raw_parts(first.cast::<u8>().cast_const(), len) };
            return Some(Front { seq, bytes });
        }
    }

    /// Frees the record [`Consumer::front`] returned. Does nothing when nothing is published.
    pub fn pop(&mut self) {
        let header = self.ring.header(self.pos).load(Ordering::Acquire);
        if header & PUBLISHED != 0 {
            self.release((header >> 32) & 0x7fff_ffff);
        }
    }

    /// Zeroes the frame at the front (restoring I1 for it) and hands its space back.
    fn release(&mut self, frame_words: u64) {
        let frame_words = frame_words.max(1);
        for offset in 1..frame_words {
            let word = self.ring.word_ptr(self.pos.wrapping_add(offset));
            // SAFETY: in bounds (masked); the frame is published and owned by the consumer
            // until `tail` moves past it below (I3).
            unsafe { word.write(0) };
        }
        self.ring.header(self.pos).store(0, Ordering::Relaxed);
        self.pos = self.pos.wrapping_add(frame_words);
        // INVARIANT: the freed words are zero (I1) before producers can claim them.
        self.ring.tail.store(self.pos, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
