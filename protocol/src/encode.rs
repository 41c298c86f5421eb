//! The encoder the driver uses: writes into caller-provided buffers, never allocates, never
//! panics (checked by the `prove-no-panic` build), and says so with an error when a record
//! does not fit.

use crate::bytes::{align_up, write_bytes, write_u128, write_u16, write_u32, write_u64, zero};
use crate::layout;
use crate::record::{BatchFlags, Body, FileRef, Name, Record, RecordFlags, RecordKind};
use crate::{
    BATCH_HEADER_LEN, BATCH_MAGIC, MAX_NAME_BYTES, NAME_CUT_HEAD_BYTES, PROTOCOL_MAJOR,
    PROTOCOL_MINOR, RECORD_ALIGN, RECORD_HEADER_LEN,
};

/// Why a record or batch could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes the record or header needs.
        needed: usize,
        /// Bytes left in the buffer.
        available: usize,
    },
    /// `Body::Unknown` carried the tag of a kind this version encodes itself.
    KnownKindAsUnknown(u16),
    /// `Body::Unknown` carried a fixed part that is not a multiple of 8 bytes or too long, or a
    /// name over [`MAX_NAME_BYTES`].
    MalformedUnknown,
    /// A UTF-16 batch was given a name of odd byte length.
    OddUtf16Name,
    /// Sequence numbers must increase within a batch.
    SequenceNotIncreasing {
        /// The previous record's sequence number.
        previous: u64,
        /// The offending one.
        seq: u64,
    },
    /// `push_encoded` was given bytes that are not one well-formed record.
    MalformedRecord,
    /// The batch would exceed `u32::MAX` bytes or records.
    BatchTooLong,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: need {needed} bytes, {available} left")
            }
            Self::KnownKindAsUnknown(kind) => {
                write!(
                    f,
                    "kind {kind:#06x} is known and cannot be encoded as unknown"
                )
            }
            Self::MalformedUnknown => f.write_str("malformed unknown record"),
            Self::OddUtf16Name => f.write_str("UTF-16 name of odd byte length"),
            Self::SequenceNotIncreasing { previous, seq } => {
                write!(f, "sequence {seq} does not follow {previous}")
            }
            Self::MalformedRecord => f.write_str("not a well-formed encoded record"),
            Self::BatchTooLong => f.write_str("batch too long"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// A name as it goes on the wire: `head` then `tail` (empty unless the name was cut).
#[derive(Clone, Copy)]
struct Cut<'a> {
    head: &'a [u8],
    tail: &'a [u8],
}

impl<'a> Cut<'a> {
    const EMPTY: Self = Self::whole(&[]);

    const fn whole(bytes: &'a [u8]) -> Self {
        Self {
            head: bytes,
            tail: &[],
        }
    }

    const fn len(&self) -> usize {
        self.head.len().saturating_add(self.tail.len())
    }
}

/// Cuts a name longer than [`MAX_NAME_BYTES`] in the middle: its first
/// [`NAME_CUT_HEAD_BYTES`] and its last `MAX_NAME_BYTES - NAME_CUT_HEAD_BYTES` bytes (both
/// even, so a UTF-16 name of even length stays whole code units), keeping the final
/// component whole.
#[inline]
fn cut<'a>(name: &Name<'a>) -> (Cut<'a>, bool) {
    let len = name.bytes.len();
    if len <= MAX_NAME_BYTES {
        return (Cut::whole(name.bytes), name.truncated);
    }
    let tail_len = MAX_NAME_BYTES.saturating_sub(NAME_CUT_HEAD_BYTES);
    let head = name.bytes.get(..NAME_CUT_HEAD_BYTES).unwrap_or_default();
    let tail = name
        .bytes
        .get(len.saturating_sub(tail_len)..)
        .unwrap_or_default();
    (Cut { head, tail }, true)
}

/// What a body puts on the wire besides its fixed fields.
struct Shape<'a> {
    kind: u16,
    flags: u16,
    fixed_len: usize,
    name: Cut<'a>,
    new_name: Cut<'a>,
}

#[inline]
fn file_flags(file: &FileRef) -> u16 {
    let mut flags = 0;
    if file.name_normalized {
        flags |= RecordFlags::NAME_NORMALIZED;
    }
    if file.is_directory {
        flags |= RecordFlags::DIRECTORY;
    }
    flags
}

#[inline]
fn file_shape<'a>(
    kind: RecordKind,
    file: &FileRef,
    fixed_len: usize,
    name: &Name<'a>,
) -> Shape<'a> {
    let (name, truncated) = cut(name);
    let mut flags = file_flags(file);
    if truncated {
        flags |= RecordFlags::NAME_TRUNCATED;
    }
    Shape {
        kind: kind as u16,
        flags,
        fixed_len,
        name,
        new_name: Cut::EMPTY,
    }
}

#[inline]
fn shape<'a>(body: &Body<'a>) -> Result<Shape<'a>, EncodeError> {
    use layout::{
        create, delete, file_op, hello, link, loss, process_exit, process_start, set_attributes,
        set_size, stats,
    };
    Ok(match body {
        Body::FileCreate(b) => file_shape(RecordKind::FileCreate, &b.file, create::LEN, &b.name),
        Body::FirstWrite(b) => file_shape(RecordKind::FirstWrite, &b.file, file_op::LEN, &b.name),
        Body::CloseModified(b) => {
            file_shape(RecordKind::CloseModified, &b.file, file_op::LEN, &b.name)
        }
        Body::Rename(b) | Body::HardLink(b) => {
            let kind = if matches!(body, Body::Rename(_)) {
                RecordKind::Rename
            } else {
                RecordKind::HardLink
            };
            let mut shape = file_shape(kind, &b.file, link::LEN, &b.name);
            let (new_name, truncated) = cut(&b.new_name);
            if truncated {
                shape.flags |= RecordFlags::NEW_NAME_TRUNCATED;
            }
            shape.new_name = new_name;
            shape
        }
        Body::Delete(b) => file_shape(RecordKind::Delete, &b.file, delete::LEN, &b.name),
        Body::DeleteStream(b) => {
            file_shape(RecordKind::DeleteStream, &b.file, delete::LEN, &b.name)
        }
        Body::SetSize(b) => file_shape(RecordKind::SetSize, &b.file, set_size::LEN, &b.name),
        Body::SetAttributes(b) => file_shape(
            RecordKind::SetAttributes,
            &b.file,
            set_attributes::LEN,
            &b.name,
        ),
        Body::ProcessStart(b) => {
            let (image, image_cut) = cut(&b.image);
            let (command_line, command_cut) = cut(&b.command_line);
            let mut flags = 0;
            if image_cut {
                flags |= RecordFlags::NAME_TRUNCATED;
            }
            if command_cut {
                flags |= RecordFlags::NEW_NAME_TRUNCATED;
            }
            if b.user_id.is_some() {
                flags |= RecordFlags::USER_ID;
            }
            if b.forked {
                flags |= RecordFlags::FORKED;
            }
            Shape {
                kind: RecordKind::ProcessStart as u16,
                flags,
                fixed_len: process_start::LEN,
                name: image,
                new_name: command_line,
            }
        }
        Body::ProcessExit(_) => control_shape(RecordKind::ProcessExit, process_exit::LEN),
        Body::DriverHello(_) => control_shape(RecordKind::DriverHello, hello::LEN),
        Body::Stats(_) => control_shape(RecordKind::Stats, stats::LEN),
        Body::Loss(_) => control_shape(RecordKind::Loss, loss::LEN),
        Body::Unknown {
            kind,
            flags,
            fixed,
            name,
            new_name,
        } => {
            if RecordKind::from_raw(*kind).is_some_and(RecordKind::is_implemented) {
                return Err(EncodeError::KnownKindAsUnknown(*kind));
            }
            let malformed = fixed.len() % RECORD_ALIGN != 0
                || fixed.len() > usize::from(u16::MAX)
                || name.len() > MAX_NAME_BYTES
                || new_name.len() > MAX_NAME_BYTES;
            if malformed {
                return Err(EncodeError::MalformedUnknown);
            }
            Shape {
                kind: *kind,
                flags: *flags,
                fixed_len: fixed.len(),
                name: Cut::whole(name),
                new_name: Cut::whole(new_name),
            }
        }
    })
}

const fn control_shape<'a>(kind: RecordKind, fixed_len: usize) -> Shape<'a> {
    Shape {
        kind: kind as u16,
        flags: 0,
        fixed_len,
        name: Cut::EMPTY,
        new_name: Cut::EMPTY,
    }
}

/// Total bytes the shape takes on the wire, padding included.
#[inline]
fn shape_len(shape: &Shape<'_>) -> Option<usize> {
    let unpadded = RECORD_HEADER_LEN
        .checked_add(shape.fixed_len)?
        .checked_add(shape.name.len())?
        .checked_add(shape.new_name.len())?;
    align_up(unpadded)
}

/// Bytes `record` takes when encoded (names cut to [`MAX_NAME_BYTES`]); `None` for a
/// record that cannot be encoded at all.
#[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
#[must_use]
pub fn encoded_len(record: &Record<'_>) -> Option<usize> {
    shape(&record.body).ok().as_ref().and_then(shape_len)
}

#[inline]
fn write_file(fixed: &mut [u8], file: &FileRef) -> Option<()> {
    write_u64(fixed, layout::file::HANDLE_ID, file.handle_id)?;
    write_u128(fixed, layout::file::FILE_ID, file.file_id)
}

/// Writes the kind's fixed fields into `fixed` (already zeroed, exactly `fixed_len` long).
#[inline]
fn write_fixed(fixed: &mut [u8], body: &Body<'_>) -> Option<()> {
    use layout::{
        create, delete, hello, link, loss, process_exit, process_start, set_attributes, set_size,
        stats,
    };
    match body {
        Body::FileCreate(b) => {
            write_file(fixed, &b.file)?;
            write_u32(fixed, create::DISPOSITION, b.disposition.raw())?;
            write_u32(fixed, create::CREATE_OPTIONS, b.create_options)?;
            write_u32(fixed, create::DESIRED_ACCESS, b.desired_access)?;
            write_u32(fixed, create::RESULT, b.result.raw())
        }
        Body::FirstWrite(b) | Body::CloseModified(b) => write_file(fixed, &b.file),
        Body::Rename(b) | Body::HardLink(b) => {
            write_file(fixed, &b.file)?;
            write_u32(fixed, link::FLAGS, b.flags)
        }
        Body::Delete(b) | Body::DeleteStream(b) => {
            write_file(fixed, &b.file)?;
            write_u32(fixed, delete::METHOD, b.method.raw())
        }
        Body::SetSize(b) => {
            write_file(fixed, &b.file)?;
            write_u64(fixed, set_size::NEW_SIZE, b.new_size)?;
            write_u32(fixed, set_size::KIND, b.kind.raw())
        }
        Body::SetAttributes(b) => {
            write_file(fixed, &b.file)?;
            write_u32(fixed, set_attributes::ATTRIBUTES, b.attributes)
        }
        Body::ProcessStart(p) => {
            write_u32(fixed, process_start::PARENT_PID, p.parent_pid)?;
            write_u32(fixed, process_start::SESSION_ID, p.session_id)?;
            write_u64(fixed, process_start::PARENT_START_KEY, p.parent_start_key)?;
            write_u32(fixed, process_start::CREATING_PID, p.creating_pid)?;
            write_u32(fixed, process_start::CREATING_TID, p.creating_tid)?;
            write_u32(fixed, process_start::USER_ID, p.user_id.unwrap_or(0))
        }
        Body::ProcessExit(e) => write_u32(fixed, process_exit::EXIT_STATUS, e.exit_status),
        Body::DriverHello(h) => {
            let [major, minor, patch] = h.driver_version;
            write_u16(fixed, hello::DRIVER_VERSION, major)?;
            write_u16(fixed, hello::DRIVER_VERSION.checked_add(2)?, minor)?;
            write_u16(fixed, hello::DRIVER_VERSION.checked_add(4)?, patch)?;
            write_u16(fixed, hello::PROTOCOL_MAJOR, h.protocol_major)?;
            write_u16(fixed, hello::PROTOCOL_MINOR, h.protocol_minor)?;
            write_u64(fixed, hello::CAPABILITIES, h.capabilities)?;
            write_u32(fixed, hello::RING_CAPACITY, h.ring_capacity)?;
            write_u32(fixed, hello::MAX_BATCH_BYTES, h.max_batch_bytes)?;
            write_u32(fixed, hello::SEND_TIMEOUT_MS, h.send_timeout_ms)
        }
        Body::Stats(s) => {
            write_u64(fixed, stats::EVENTS_SEEN, s.events_seen)?;
            write_u64(fixed, stats::EVENTS_SENT, s.events_sent)?;
            write_u64(fixed, stats::EVENTS_DROPPED, s.events_dropped)?;
            write_u64(fixed, stats::BATCHES_SENT, s.batches_sent)?;
            write_u64(fixed, stats::SEND_FAILURES, s.send_failures)?;
            write_u32(fixed, stats::RING_HIGH_WATER, s.ring_high_water)?;
            write_u32(fixed, stats::RING_CAPACITY, s.ring_capacity)
        }
        Body::Loss(l) => {
            write_u64(fixed, loss::FIRST_LOST_SEQ, l.first_lost_seq)?;
            write_u64(fixed, loss::LAST_LOST_SEQ, l.last_lost_seq)?;
            write_u64(fixed, loss::COUNT, l.count)?;
            write_u32(fixed, loss::REASON, l.reason.raw())
        }
        Body::Unknown { fixed: raw, .. } => write_bytes(fixed, 0, raw),
    }
}

/// Encodes one record at the start of `out` and returns its length (a multiple of 8).
///
/// Names longer than [`MAX_NAME_BYTES`] are cut and flagged truncated. Nothing past the
/// returned length is touched; on error `out` may hold partial bytes but nothing claims them.
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when `out` is too short, and the `Body::Unknown` errors.
#[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
pub fn encode_record(record: &Record<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let shape = shape(&record.body)?;
    let too_small = EncodeError::BufferTooSmall {
        needed: shape_len(&shape).unwrap_or(usize::MAX),
        available: out.len(),
    };
    let len = shape_len(&shape).ok_or(too_small)?;
    let out = out.get_mut(..len).ok_or(too_small)?;
    write_record(out, record, &shape).ok_or(too_small)?;
    Ok(len)
}

/// Writes header, fixed part, names and padding into `out`, which is exactly the record's
/// length.
#[inline]
fn write_record(out: &mut [u8], record: &Record<'_>, shape: &Shape<'_>) -> Option<()> {
    use layout::record as r;
    zero(out, 0, out.len())?;
    let h = &record.header;
    write_u32(out, r::LEN, u32::try_from(out.len()).ok()?)?;
    write_u16(out, r::KIND, shape.kind)?;
    write_u16(out, r::FLAGS, shape.flags)?;
    write_u64(out, r::SEQ, h.seq)?;
    write_u64(out, r::TIMESTAMP, h.timestamp)?;
    write_u32(out, r::PID, h.pid)?;
    write_u32(out, r::TID, h.tid)?;
    write_u64(out, r::PROCESS_START_KEY, h.process_start_key)?;
    write_u16(out, r::FIXED_LEN, u16::try_from(shape.fixed_len).ok()?)?;
    write_u16(out, r::NAME_LEN, u16::try_from(shape.name.len()).ok()?)?;
    write_u16(
        out,
        r::NEW_NAME_LEN,
        u16::try_from(shape.new_name.len()).ok()?,
    )?;
    let fixed_end = RECORD_HEADER_LEN.checked_add(shape.fixed_len)?;
    write_fixed(out.get_mut(RECORD_HEADER_LEN..fixed_end)?, &record.body)?;
    let mut at = fixed_end;
    for part in [
        shape.name.head,
        shape.name.tail,
        shape.new_name.head,
        shape.new_name.tail,
    ] {
        // Most parts are empty (a cut name's tail, a new name outside renames and links):
        // no copy is made for them.
        if !part.is_empty() {
            write_bytes(out, at, part)?;
            at = at.checked_add(part.len())?;
        }
    }
    Some(())
}

/// Where an unfinished batch stands ([`BatchWriter::pause`]): its length, records and
/// sequence numbers so far. Only a paused writer makes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchProgress {
    flags: BatchFlags,
    lost_since_previous: u64,
    len: usize,
    count: u32,
    first_seq: u64,
    last_seq: Option<u64>,
}

impl BatchProgress {
    /// Records in the batch so far.
    #[must_use]
    pub const fn record_count(&self) -> u32 {
        self.count
    }
}

/// Builds one batch (one `FltSendMessage` payload) in a caller-provided buffer.
///
/// The header is written by [`BatchWriter::finish`]; records go in with [`push`] (encode
/// here) or [`push_encoded`] (copy a record encoded earlier, e.g. from the driver's ring).
/// A failed push leaves the batch as it was.
///
/// [`push`]: BatchWriter::push
/// [`push_encoded`]: BatchWriter::push_encoded
#[derive(Debug)]
pub struct BatchWriter<'b> {
    out: &'b mut [u8],
    /// What the batch holds so far.
    at: BatchProgress,
}

impl<'b> BatchWriter<'b> {
    /// Starts a batch in `out`, reporting `lost_since_previous` records lost since the last
    /// batch was delivered.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when `out` cannot hold the batch header.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn new(
        out: &'b mut [u8],
        flags: BatchFlags,
        lost_since_previous: u64,
    ) -> Result<Self, EncodeError> {
        if out.len() < BATCH_HEADER_LEN {
            return Err(EncodeError::BufferTooSmall {
                needed: BATCH_HEADER_LEN,
                available: out.len(),
            });
        }
        Ok(Self {
            out,
            at: BatchProgress {
                flags,
                lost_since_previous,
                len: BATCH_HEADER_LEN,
                count: 0,
                first_seq: 0,
                last_seq: None,
            },
        })
    }

    /// Bytes the batch holds so far, header included.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.at.len
    }

    /// Whether no record was pushed yet.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.at.count == 0
    }

    /// Records pushed so far.
    #[must_use]
    pub const fn record_count(&self) -> u32 {
        self.at.count
    }

    /// Bytes still free for records.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.capacity().saturating_sub(self.at.len)
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.out.len().min(u32::MAX as usize)
    }

    #[inline]
    fn check_seq(&self, seq: u64) -> Result<(), EncodeError> {
        match self.at.last_seq {
            Some(previous) if seq <= previous => {
                Err(EncodeError::SequenceNotIncreasing { previous, seq })
            }
            _ => Ok(()),
        }
    }

    #[inline]
    fn commit(&mut self, len: usize, seq: u64) -> Result<(), EncodeError> {
        let count = self
            .at
            .count
            .checked_add(1)
            .ok_or(EncodeError::BatchTooLong)?;
        let new_len = self
            .at
            .len
            .checked_add(len)
            .ok_or(EncodeError::BatchTooLong)?;
        if self.at.last_seq.is_none() {
            self.at.first_seq = seq;
        }
        self.at.last_seq = Some(seq);
        self.at.count = count;
        self.at.len = new_len;
        Ok(())
    }

    /// Encodes `record` at the end of the batch.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when it does not fit (the batch is unchanged: send it
    /// and start the next one), [`EncodeError::SequenceNotIncreasing`],
    /// [`EncodeError::OddUtf16Name`] in a UTF-16 batch, and [`encode_record`]'s errors.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn push(&mut self, record: &Record<'_>) -> Result<(), EncodeError> {
        self.check_seq(record.header.seq)?;
        if !self.at.flags.posix_names() {
            let shape = shape(&record.body)?;
            if shape.name.len() % 2 != 0 || shape.new_name.len() % 2 != 0 {
                return Err(EncodeError::OddUtf16Name);
            }
        }
        let capacity = self.capacity();
        let available = capacity.saturating_sub(self.at.len);
        let region =
            self.out
                .get_mut(self.at.len..capacity)
                .ok_or(EncodeError::BufferTooSmall {
                    needed: RECORD_HEADER_LEN,
                    available,
                })?;
        let len = encode_record(record, region)?;
        self.commit(len, record.header.seq)
    }

    /// Copies a record encoded earlier by [`encode_record`] to the end of the batch. Only
    /// the framing is checked (length, alignment, sequence, the fixed and name lengths adding
    /// up to the length with zero padding, names within [`MAX_NAME_BYTES`], the reserved header
    /// field), not the body: a record that passes cannot make the decoder reject the batch
    /// for its framing.
    ///
    /// # Errors
    /// [`EncodeError::MalformedRecord`] when the bytes are not one framed record, and as
    /// [`BatchWriter::push`].
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn push_encoded(&mut self, record: &[u8]) -> Result<(), EncodeError> {
        use crate::bytes::{read_u16, read_u32, read_u64};
        use layout::record as r;
        let declared = read_u32(record, r::LEN).ok_or(EncodeError::MalformedRecord)?;
        let framed = usize::try_from(declared).is_ok_and(|len| len == record.len())
            && record.len() >= RECORD_HEADER_LEN
            && record.len().is_multiple_of(RECORD_ALIGN);
        if !framed {
            return Err(EncodeError::MalformedRecord);
        }
        let seq = read_u64(record, r::SEQ).ok_or(EncodeError::MalformedRecord)?;
        self.check_seq(seq)?;
        let field = |at| read_u16(record, at).ok_or(EncodeError::MalformedRecord);
        let (fixed_len, name, new_name) = (
            field(r::FIXED_LEN)?,
            field(r::NAME_LEN)?,
            field(r::NEW_NAME_LEN)?,
        );
        let names_fit =
            usize::from(name) <= MAX_NAME_BYTES && usize::from(new_name) <= MAX_NAME_BYTES;
        let unpadded = RECORD_HEADER_LEN
            .checked_add(usize::from(fixed_len))
            .and_then(|len| len.checked_add(usize::from(name)))
            .and_then(|len| len.checked_add(usize::from(new_name)));
        let padding_zero = unpadded
            .and_then(|start| record.get(start..))
            .is_some_and(|padding| padding.iter().all(|&byte| byte == 0));
        let laid_out = names_fit
            && usize::from(fixed_len).is_multiple_of(RECORD_ALIGN)
            && unpadded.and_then(align_up) == Some(record.len())
            && padding_zero
            && field(r::RESERVED)? == 0;
        if !laid_out {
            return Err(EncodeError::MalformedRecord);
        }
        if !self.at.flags.posix_names() && (name % 2 != 0 || new_name % 2 != 0) {
            return Err(EncodeError::OddUtf16Name);
        }
        let available = self.remaining();
        let end = self.at.len.checked_add(record.len());
        let fits = end.is_some_and(|end| end <= self.capacity());
        let too_small = EncodeError::BufferTooSmall {
            needed: record.len(),
            available,
        };
        let end = end.filter(|_| fits).ok_or(too_small)?;
        self.out
            .get_mut(self.at.len..end)
            .ok_or(too_small)?
            .copy_from_slice(record);
        self.commit(record.len(), seq)
    }

    /// Sets the batch aside unfinished: what it holds stays in `out`, and
    /// [`BatchWriter::resume`] over the same bytes goes on where it stopped. A source that
    /// encodes each record as it is made keeps its batch open this way between records.
    #[must_use]
    pub const fn pause(self) -> BatchProgress {
        self.at
    }

    /// Goes on with a batch [`BatchWriter::pause`] set aside, in `out`: the buffer it was
    /// being written in, unchanged since (other bytes make a batch the decoder rejects,
    /// never a panic).
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when `out` is shorter than what the batch holds.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn resume(out: &'b mut [u8], progress: BatchProgress) -> Result<Self, EncodeError> {
        if out.len() < progress.len {
            return Err(EncodeError::BufferTooSmall {
                needed: progress.len,
                available: out.len(),
            });
        }
        Ok(Self { out, at: progress })
    }

    /// Writes the batch header and returns the batch's length: `out[..len]` is the message.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    #[must_use]
    pub fn finish(self) -> usize {
        use layout::batch as b;
        let out = &mut *self.out;
        // The header fits: `new` checked that `out` holds at least BATCH_HEADER_LEN bytes,
        // and `len` never exceeds `u32::MAX` (capacity is capped). A failed write here would
        // leave a header the decoder rejects, never a panic.
        let total = u32::try_from(self.at.len).unwrap_or(u32::MAX);
        let _ = write_u32(out, b::MAGIC, BATCH_MAGIC)
            .and_then(|()| write_u16(out, b::MAJOR, PROTOCOL_MAJOR))
            .and_then(|()| write_u16(out, b::MINOR, PROTOCOL_MINOR))
            .and_then(|()| write_u16(out, b::HEADER_LEN, crate::constants::BATCH_HEADER_LEN_U16))
            .and_then(|()| write_u16(out, b::FLAGS, self.at.flags.bits()))
            .and_then(|()| write_u32(out, b::RECORD_COUNT, self.at.count))
            .and_then(|()| write_u32(out, b::TOTAL_LEN, total))
            .and_then(|()| write_u32(out, b::RESERVED, 0))
            .and_then(|()| write_u64(out, b::FIRST_SEQ, self.at.first_seq))
            .and_then(|()| write_u64(out, b::LOST_SINCE_PREVIOUS, self.at.lost_since_previous));
        self.at.len
    }
}
