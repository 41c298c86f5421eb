//! The decoder user mode uses: a total function from bytes to validated, borrowed views.
//!
//! [`decode_batch`] validates the whole batch before it returns, so iterating its
//! [`Records`] cannot fail. Every rejection names what is wrong and the byte offset.

use crate::bytes::{align_up, read_u128, read_u16, read_u32, read_u64};
use crate::layout;
use crate::record::{
    BatchFlags, Body, CreateDisposition, CreateResult, Delete, DeleteMethod, DriverHello,
    FileCreate, FileOp, FileRef, LinkChange, Loss, LossReason, Name, ProcessExit, ProcessStart,
    Record, RecordFlags, RecordHeader, RecordKind, SetAttributes, SetSize, SizeKind, Stats,
};
use crate::{
    BATCH_HEADER_LEN, BATCH_MAGIC, MAX_NAME_BYTES, PROTOCOL_MAJOR, RECORD_ALIGN, RECORD_HEADER_LEN,
};

/// What is wrong with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Fewer bytes than the structure at this offset needs.
    Truncated {
        /// Bytes needed from the offset.
        needed: usize,
        /// Bytes available from the offset.
        available: usize,
    },
    /// The batch does not start with [`BATCH_MAGIC`].
    BadMagic(u32),
    /// A major version this decoder does not speak.
    UnsupportedMajor(u16),
    /// The batch header length is shorter than this version's, unaligned, or past the end.
    BadHeaderLength(u16),
    /// The header's total length differs from the bytes given.
    LengthMismatch {
        /// `total_len` from the header.
        declared: u32,
        /// Bytes given.
        actual: usize,
    },
    /// A reserved bit or field is not zero.
    ReservedBitsSet {
        /// Which field.
        field: &'static str,
    },
    /// A record's length is shorter than its header, unaligned, or runs past the batch.
    RecordLengthOutOfBounds(u32),
    /// A record's length disagrees with its fixed part and names.
    RecordLayoutMismatch {
        /// `len` from the record header.
        declared: u32,
        /// Length implied by `fixed_len` and the name lengths, padded.
        computed: usize,
    },
    /// Padding after the names is not zero.
    NonZeroPadding,
    /// A UTF-16 name has an odd byte length.
    OddUtf16Length(u16),
    /// A name is longer than [`MAX_NAME_BYTES`].
    NameTooLong(u16),
    /// A known kind's fixed part is shorter than this version's, or not a multiple of 8.
    FixedPartTooShort {
        /// The kind.
        kind: u16,
        /// `fixed_len` given.
        fixed_len: u16,
        /// Bytes this version needs.
        needed: usize,
    },
    /// A record carries a name its kind does not have, or lacks one it needs.
    UnexpectedName {
        /// The kind.
        kind: u16,
    },
    /// The first record's sequence number is not the header's `first_seq`.
    FirstSequenceMismatch {
        /// `first_seq` from the header.
        header: u64,
        /// The first record's.
        record: u64,
    },
    /// Sequence numbers do not increase within the batch.
    SequenceNotIncreasing {
        /// The previous record's.
        previous: u64,
        /// This record's.
        seq: u64,
    },
    /// Bytes remain after `record_count` records.
    TrailingBytes(usize),
}

/// A rejected batch: what is wrong, and at which byte offset from the batch start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset of the offending field or structure.
    pub offset: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use DecodeErrorKind as K;
        write!(f, "at byte {}: ", self.offset)?;
        match self.kind {
            K::Truncated { needed, available } => {
                write!(f, "truncated: need {needed} bytes, {available} available")
            }
            K::BadMagic(magic) => write!(f, "bad magic {magic:#010x}"),
            K::UnsupportedMajor(major) => write!(
                f,
                "unsupported protocol major version {major} (this client speaks {PROTOCOL_MAJOR})"
            ),
            K::BadHeaderLength(len) => write!(f, "bad batch header length {len}"),
            K::LengthMismatch { declared, actual } => {
                write!(f, "batch declares {declared} bytes but {actual} were given")
            }
            K::ReservedBitsSet { field } => write!(f, "reserved bits set in {field}"),
            K::RecordLengthOutOfBounds(len) => write!(f, "record length {len} out of bounds"),
            K::RecordLayoutMismatch { declared, computed } => write!(
                f,
                "record length {declared} disagrees with its contents ({computed})"
            ),
            K::NonZeroPadding => f.write_str("non-zero padding"),
            K::OddUtf16Length(len) => write!(f, "UTF-16 name of odd length {len}"),
            K::NameTooLong(len) => write!(f, "name of {len} bytes exceeds {MAX_NAME_BYTES}"),
            K::FixedPartTooShort {
                kind,
                fixed_len,
                needed,
            } => write!(
                f,
                "kind {kind:#06x}: fixed part of {fixed_len} bytes, need {needed} (multiple of 8)"
            ),
            K::UnexpectedName { kind } => write!(f, "kind {kind:#06x}: unexpected name layout"),
            K::FirstSequenceMismatch { header, record } => write!(
                f,
                "first record has sequence {record}, header says {header}"
            ),
            K::SequenceNotIncreasing { previous, seq } => {
                write!(f, "sequence {seq} does not follow {previous}")
            }
            K::TrailingBytes(count) => write!(f, "{count} bytes after the last record"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// The decoded batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Protocol major version.
    pub major: u16,
    /// Protocol minor version (any: newer minors only add).
    pub minor: u16,
    /// Batch flags.
    pub flags: BatchFlags,
    /// Number of records.
    pub record_count: u32,
    /// Bytes in the batch, header included.
    pub total_len: u32,
    /// Sequence number of the first record (meaningless when there is none).
    pub first_seq: u64,
    /// Records lost between the previous batch and this one.
    pub lost_since_previous: u64,
}

/// A validated batch.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The header.
    pub header: BatchHeader,
    bytes: &'a [u8],
    records_start: usize,
}

impl<'a> Batch<'a> {
    /// The records, in order. Validation already happened: iteration cannot fail.
    #[must_use]
    pub fn records(&self) -> Records<'a> {
        Records {
            bytes: self.bytes,
            offset: self.records_start,
            left: self.header.record_count,
            flags: self.header.flags,
        }
    }
}

/// Iterator over a validated batch's records.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
    left: u32,
    flags: BatchFlags,
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    fn next(&mut self) -> Option<Record<'a>> {
        self.left = self.left.checked_sub(1)?;
        // Cannot fail: `decode_batch` parsed every record with this same function.
        let (record, next) = parse_record(self.bytes, self.offset, self.flags).ok()?;
        self.offset = next;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

const fn err(offset: usize, kind: DecodeErrorKind) -> DecodeError {
    DecodeError { offset, kind }
}

#[inline]
fn truncated(bytes: &[u8], offset: usize, needed: usize) -> DecodeError {
    err(
        offset,
        DecodeErrorKind::Truncated {
            needed,
            available: bytes.len().saturating_sub(offset),
        },
    )
}

/// Reads a field that validation has already proven present; a miss is reported as
/// truncation at that offset rather than a panic.
macro_rules! field {
    ($read:ident, $bytes:expr, $base:expr, $off:expr, $size:expr) => {{
        let at = usize::saturating_add($base, $off);
        $read($bytes, at).ok_or_else(|| truncated($bytes, at, $size))?
    }};
}

/// Validates and decodes one batch: the message exactly as received, no more, no less.
///
/// # Errors
/// A [`DecodeError`] naming the first problem found and its offset.
#[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
pub fn decode_batch(bytes: &[u8]) -> Result<Batch<'_>, DecodeError> {
    let (header, records_start) = validate_batch(bytes, |_| {})?;
    Ok(Batch {
        header,
        bytes,
        records_start,
    })
}

/// Validates one batch as [`decode_batch`] does and appends its records to `records`, in
/// order, parsing each record once (iterating a [`Batch`] parses every record a second time).
///
/// The batch is all or nothing: on an error, whatever was appended belongs to a rejected
/// batch and must be discarded, never processed.
///
/// # Errors
/// A [`DecodeError`] naming the first problem found and its offset.
pub fn decode_batch_into<'a>(
    bytes: &'a [u8],
    records: &mut impl Extend<Record<'a>>,
) -> Result<BatchHeader, DecodeError> {
    validate_batch(bytes, |record| records.extend(core::iter::once(record)))
        .map(|(header, _)| header)
}

/// Checks the header and every record of a batch, handing each record to `each` as it is
/// checked; returns the header and where the records start. (Not marked no-panic itself:
/// `each` is the caller's; [`decode_batch`], whose `each` does nothing, is.)
#[inline]
fn validate_batch<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(Record<'a>),
) -> Result<(BatchHeader, usize), DecodeError> {
    use layout::batch as b;
    use DecodeErrorKind as K;
    if bytes.len() < BATCH_HEADER_LEN {
        return Err(truncated(bytes, 0, BATCH_HEADER_LEN));
    }
    let magic = field!(read_u32, bytes, 0, b::MAGIC, 4);
    if magic != BATCH_MAGIC {
        return Err(err(b::MAGIC, K::BadMagic(magic)));
    }
    let major = field!(read_u16, bytes, 0, b::MAJOR, 2);
    if major != PROTOCOL_MAJOR {
        return Err(err(b::MAJOR, K::UnsupportedMajor(major)));
    }
    let minor = field!(read_u16, bytes, 0, b::MINOR, 2);
    let header_len = field!(read_u16, bytes, 0, b::HEADER_LEN, 2);
    let header_usize = usize::from(header_len);
    if header_usize < BATCH_HEADER_LEN || header_usize % RECORD_ALIGN != 0 {
        return Err(err(b::HEADER_LEN, K::BadHeaderLength(header_len)));
    }
    let raw_flags = field!(read_u16, bytes, 0, b::FLAGS, 2);
    let flags = BatchFlags::from_bits(raw_flags).ok_or(err(
        b::FLAGS,
        K::ReservedBitsSet {
            field: "batch flags",
        },
    ))?;
    let record_count = field!(read_u32, bytes, 0, b::RECORD_COUNT, 4);
    let total_len = field!(read_u32, bytes, 0, b::TOTAL_LEN, 4);
    if usize::try_from(total_len).ok() != Some(bytes.len()) {
        let kind = K::LengthMismatch {
            declared: total_len,
            actual: bytes.len(),
        };
        return Err(err(b::TOTAL_LEN, kind));
    }
    if header_usize > bytes.len() {
        return Err(err(b::HEADER_LEN, K::BadHeaderLength(header_len)));
    }
    if field!(read_u32, bytes, 0, b::RESERVED, 4) != 0 {
        let kind = K::ReservedBitsSet {
            field: "batch reserved",
        };
        return Err(err(b::RESERVED, kind));
    }
    let header = BatchHeader {
        major,
        minor,
        flags,
        record_count,
        total_len,
        first_seq: field!(read_u64, bytes, 0, b::FIRST_SEQ, 8),
        lost_since_previous: field!(read_u64, bytes, 0, b::LOST_SINCE_PREVIOUS, 8),
    };

    let mut offset = header_usize;
    let mut previous: Option<u64> = None;
    for _ in 0..record_count {
        let (record, next) = parse_record(bytes, offset, flags)?;
        let seq = record.header.seq;
        match previous {
            None if seq != header.first_seq => {
                let kind = K::FirstSequenceMismatch {
                    header: header.first_seq,
                    record: seq,
                };
                return Err(err(offset.saturating_add(layout::record::SEQ), kind));
            }
            Some(previous) if seq <= previous => {
                let kind = K::SequenceNotIncreasing { previous, seq };
                return Err(err(offset.saturating_add(layout::record::SEQ), kind));
            }
            _ => {}
        }
        previous = Some(seq);
        offset = next;
        each(record);
    }
    if offset != bytes.len() {
        let kind = K::TrailingBytes(bytes.len().saturating_sub(offset));
        return Err(err(offset, kind));
    }
    Ok((header, header_usize))
}

/// Parses and validates the record at `start`; returns it and the next record's offset.
#[inline]
fn parse_record(
    bytes: &[u8],
    start: usize,
    flags: BatchFlags,
) -> Result<(Record<'_>, usize), DecodeError> {
    use layout::record as r;
    use DecodeErrorKind as K;
    let available = bytes.len().saturating_sub(start);
    if available < RECORD_HEADER_LEN {
        return Err(truncated(bytes, start, RECORD_HEADER_LEN));
    }
    let len = field!(read_u32, bytes, start, r::LEN, 4);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize < RECORD_HEADER_LEN || len_usize % RECORD_ALIGN != 0 || len_usize > available {
        return Err(err(start, K::RecordLengthOutOfBounds(len)));
    }
    let end = start.saturating_add(len_usize);
    let record = bytes
        .get(start..end)
        .ok_or_else(|| truncated(bytes, start, len_usize))?;

    let kind = field!(read_u16, record, 0, r::KIND, 2);
    let raw_flags = field!(read_u16, record, 0, r::FLAGS, 2);
    let header = RecordHeader {
        seq: field!(read_u64, record, 0, r::SEQ, 8),
        timestamp: field!(read_u64, record, 0, r::TIMESTAMP, 8),
        pid: field!(read_u32, record, 0, r::PID, 4),
        tid: field!(read_u32, record, 0, r::TID, 4),
        process_start_key: field!(read_u64, record, 0, r::PROCESS_START_KEY, 8),
    };
    let fixed_len = field!(read_u16, record, 0, r::FIXED_LEN, 2);
    let name_len = field!(read_u16, record, 0, r::NAME_LEN, 2);
    let new_name_len = field!(read_u16, record, 0, r::NEW_NAME_LEN, 2);
    if field!(read_u16, record, 0, r::RESERVED, 2) != 0 {
        let kind = K::ReservedBitsSet {
            field: "record reserved",
        };
        return Err(err(start.saturating_add(r::RESERVED), kind));
    }
    for (len, at) in [(name_len, r::NAME_LEN), (new_name_len, r::NEW_NAME_LEN)] {
        if usize::from(len) > MAX_NAME_BYTES {
            return Err(err(start.saturating_add(at), K::NameTooLong(len)));
        }
        if !flags.posix_names() && len % 2 != 0 {
            return Err(err(start.saturating_add(at), K::OddUtf16Length(len)));
        }
    }
    if usize::from(fixed_len) % RECORD_ALIGN != 0 {
        // `needed` is the next multiple of 8: the shortest fixed part that would be valid.
        let kind = K::FixedPartTooShort {
            kind,
            fixed_len,
            needed: align_up(usize::from(fixed_len)).unwrap_or(usize::MAX),
        };
        return Err(err(start.saturating_add(r::FIXED_LEN), kind));
    }
    let fixed_end = RECORD_HEADER_LEN.saturating_add(usize::from(fixed_len));
    let name_end = fixed_end.saturating_add(usize::from(name_len));
    let new_name_end = name_end.saturating_add(usize::from(new_name_len));
    let computed = align_up(new_name_end).unwrap_or(usize::MAX);
    if computed != len_usize {
        let kind = K::RecordLayoutMismatch {
            declared: len,
            computed,
        };
        return Err(err(start, kind));
    }
    let padding = record.get(new_name_end..).unwrap_or_default();
    if padding.iter().any(|&byte| byte != 0) {
        return Err(err(start.saturating_add(new_name_end), K::NonZeroPadding));
    }
    let parts = Parts {
        kind,
        flags: RecordFlags::from_bits(raw_flags),
        fixed: record.get(RECORD_HEADER_LEN..fixed_end).unwrap_or_default(),
        name: record.get(fixed_end..name_end).unwrap_or_default(),
        new_name: record.get(name_end..new_name_end).unwrap_or_default(),
        start,
    };
    let body = parse_body(&parts)?;
    Ok((Record { header, body }, end))
}

/// A record split into its regions, before the kind is interpreted.
struct Parts<'a> {
    kind: u16,
    flags: RecordFlags,
    fixed: &'a [u8],
    name: &'a [u8],
    new_name: &'a [u8],
    start: usize,
}

impl<'a> Parts<'a> {
    #[inline]
    fn error(&self, at: usize, kind: DecodeErrorKind) -> DecodeError {
        err(self.start.saturating_add(at), kind)
    }

    /// Fixed part long enough for `needed` bytes.
    #[inline]
    fn require_fixed(&self, needed: usize) -> Result<(), DecodeError> {
        if self.fixed.len() < needed {
            let kind = DecodeErrorKind::FixedPartTooShort {
                kind: self.kind,
                fixed_len: u16::try_from(self.fixed.len()).unwrap_or(u16::MAX),
                needed,
            };
            return Err(self.error(layout::record::FIXED_LEN, kind));
        }
        Ok(())
    }

    /// Flags limited to `allowed`.
    #[inline]
    fn require_flags(&self, allowed: u16) -> Result<(), DecodeError> {
        if self.flags.bits() & !allowed != 0 {
            let kind = DecodeErrorKind::ReservedBitsSet {
                field: "record flags",
            };
            return Err(self.error(layout::record::FLAGS, kind));
        }
        Ok(())
    }

    /// A `u32` reserved field inside the fixed part must be zero.
    #[inline]
    fn require_zero_u32(&self, at: usize) -> Result<(), DecodeError> {
        if read_u32(self.fixed, at) != Some(0) {
            let kind = DecodeErrorKind::ReservedBitsSet {
                field: "fixed reserved",
            };
            return Err(self.error(RECORD_HEADER_LEN.saturating_add(at), kind));
        }
        Ok(())
    }

    /// Names the kind cannot have must be empty. A name it can have may still be empty:
    /// the driver reports an event whose name query failed rather than drop it.
    #[inline]
    fn require_names(&self, name: bool, new_name: bool) -> Result<(), DecodeError> {
        // The offset names the length field of the name that should not be there.
        let at = if !name && !self.name.is_empty() {
            layout::record::NAME_LEN
        } else if !new_name && !self.new_name.is_empty() {
            layout::record::NEW_NAME_LEN
        } else {
            return Ok(());
        };
        let kind = DecodeErrorKind::UnexpectedName { kind: self.kind };
        Err(self.error(at, kind))
    }

    #[inline]
    fn u32_at(&self, at: usize) -> Result<u32, DecodeError> {
        read_u32(self.fixed, at).ok_or_else(|| self.short(at))
    }

    #[inline]
    fn u64_at(&self, at: usize) -> Result<u64, DecodeError> {
        read_u64(self.fixed, at).ok_or_else(|| self.short(at))
    }

    #[inline]
    fn u16_at(&self, at: usize) -> Result<u16, DecodeError> {
        read_u16(self.fixed, at).ok_or_else(|| self.short(at))
    }

    #[inline]
    /// Unreachable after `require_fixed`, but reported at the field's offset in the batch
    /// (not in the fixed part) should it ever happen.
    fn short(&self, at: usize) -> DecodeError {
        let kind = DecodeErrorKind::Truncated {
            needed: 8,
            available: self.fixed.len().saturating_sub(at),
        };
        self.error(RECORD_HEADER_LEN.saturating_add(at), kind)
    }

    /// A file record: its `FileRef` and first name, after the shared checks.
    #[inline]
    fn file(
        &self,
        fixed_len: usize,
        has_new_name: bool,
    ) -> Result<(FileRef, Name<'a>), DecodeError> {
        let mut allowed =
            RecordFlags::NAME_TRUNCATED | RecordFlags::NAME_NORMALIZED | RecordFlags::DIRECTORY;
        if has_new_name {
            allowed |= RecordFlags::NEW_NAME_TRUNCATED;
        }
        self.require_flags(allowed)?;
        self.require_fixed(fixed_len)?;
        self.require_names(true, has_new_name)?;
        let file = FileRef {
            handle_id: self.u64_at(layout::file::HANDLE_ID)?,
            file_id: read_u128(self.fixed, layout::file::FILE_ID)
                .ok_or_else(|| self.short(layout::file::FILE_ID))?,
            is_directory: self.flags.contains(RecordFlags::DIRECTORY),
            name_normalized: self.flags.contains(RecordFlags::NAME_NORMALIZED),
        };
        let name = Name {
            bytes: self.name,
            truncated: self.flags.contains(RecordFlags::NAME_TRUNCATED),
        };
        Ok((file, name))
    }

    #[inline]
    fn new_name(&self) -> Name<'a> {
        Name {
            bytes: self.new_name,
            truncated: self.flags.contains(RecordFlags::NEW_NAME_TRUNCATED),
        }
    }

    /// A control record: no flags, no names.
    #[inline]
    fn control(&self, fixed_len: usize) -> Result<(), DecodeError> {
        self.require_flags(0)?;
        self.require_fixed(fixed_len)?;
        self.require_names(false, false)
    }
}

#[allow(clippy::too_many_lines)] // one arm per kind, each a handful of field reads
#[inline]
fn parse_body<'a>(p: &Parts<'a>) -> Result<Body<'a>, DecodeError> {
    use layout::{
        create, delete, file_op, hello, link, loss, process_exit, process_start, set_attributes,
        set_size, stats,
    };
    let kind = RecordKind::from_raw(p.kind).filter(|kind| kind.is_implemented());
    let Some(kind) = kind else {
        return Ok(Body::Unknown {
            kind: p.kind,
            flags: p.flags.bits(),
            fixed: p.fixed,
            name: p.name,
            new_name: p.new_name,
        });
    };
    Ok(match kind {
        RecordKind::FileCreate => {
            let (file, name) = p.file(create::LEN, false)?;
            Body::FileCreate(FileCreate {
                file,
                disposition: CreateDisposition::from_raw(p.u32_at(create::DISPOSITION)?),
                create_options: p.u32_at(create::CREATE_OPTIONS)?,
                desired_access: p.u32_at(create::DESIRED_ACCESS)?,
                result: CreateResult::from_raw(p.u32_at(create::RESULT)?),
                name,
            })
        }
        RecordKind::FirstWrite | RecordKind::CloseModified => {
            let (file, name) = p.file(file_op::LEN, false)?;
            let op = FileOp { file, name };
            if kind == RecordKind::FirstWrite {
                Body::FirstWrite(op)
            } else {
                Body::CloseModified(op)
            }
        }
        RecordKind::Rename | RecordKind::HardLink => {
            let (file, name) = p.file(link::LEN, true)?;
            p.require_zero_u32(link::RESERVED)?;
            let change = LinkChange {
                file,
                flags: p.u32_at(link::FLAGS)?,
                name,
                new_name: p.new_name(),
            };
            if kind == RecordKind::Rename {
                Body::Rename(change)
            } else {
                Body::HardLink(change)
            }
        }
        RecordKind::Delete | RecordKind::DeleteStream => {
            let (file, name) = p.file(delete::LEN, false)?;
            p.require_zero_u32(delete::RESERVED)?;
            let delete = Delete {
                file,
                method: DeleteMethod::from_raw(p.u32_at(delete::METHOD)?),
                name,
            };
            if kind == RecordKind::Delete {
                Body::Delete(delete)
            } else {
                Body::DeleteStream(delete)
            }
        }
        RecordKind::SetSize => {
            let (file, name) = p.file(set_size::LEN, false)?;
            p.require_zero_u32(set_size::RESERVED)?;
            Body::SetSize(SetSize {
                file,
                new_size: p.u64_at(set_size::NEW_SIZE)?,
                kind: SizeKind::from_raw(p.u32_at(set_size::KIND)?),
                name,
            })
        }
        RecordKind::SetAttributes => {
            let (file, name) = p.file(set_attributes::LEN, false)?;
            p.require_zero_u32(set_attributes::RESERVED)?;
            Body::SetAttributes(SetAttributes {
                file,
                attributes: p.u32_at(set_attributes::ATTRIBUTES)?,
                name,
            })
        }
        RecordKind::DriverHello => {
            p.control(hello::LEN)?;
            if p.u16_at(hello::RESERVED0)? != 0 {
                let kind = DecodeErrorKind::ReservedBitsSet {
                    field: "fixed reserved",
                };
                return Err(p.error(RECORD_HEADER_LEN.saturating_add(hello::RESERVED0), kind));
            }
            p.require_zero_u32(hello::RESERVED1)?;
            p.require_zero_u32(hello::RESERVED2)?;
            let version = hello::DRIVER_VERSION;
            Body::DriverHello(DriverHello {
                driver_version: [
                    p.u16_at(version)?,
                    p.u16_at(version.saturating_add(2))?,
                    p.u16_at(version.saturating_add(4))?,
                ],
                protocol_major: p.u16_at(hello::PROTOCOL_MAJOR)?,
                protocol_minor: p.u16_at(hello::PROTOCOL_MINOR)?,
                capabilities: p.u64_at(hello::CAPABILITIES)?,
                ring_capacity: p.u32_at(hello::RING_CAPACITY)?,
                max_batch_bytes: p.u32_at(hello::MAX_BATCH_BYTES)?,
                send_timeout_ms: p.u32_at(hello::SEND_TIMEOUT_MS)?,
            })
        }
        RecordKind::Stats => {
            p.control(stats::LEN)?;
            Body::Stats(Stats {
                events_seen: p.u64_at(stats::EVENTS_SEEN)?,
                events_sent: p.u64_at(stats::EVENTS_SENT)?,
                events_dropped: p.u64_at(stats::EVENTS_DROPPED)?,
                batches_sent: p.u64_at(stats::BATCHES_SENT)?,
                send_failures: p.u64_at(stats::SEND_FAILURES)?,
                ring_high_water: p.u32_at(stats::RING_HIGH_WATER)?,
                ring_capacity: p.u32_at(stats::RING_CAPACITY)?,
            })
        }
        RecordKind::Loss => {
            p.control(loss::LEN)?;
            p.require_zero_u32(loss::RESERVED)?;
            Body::Loss(Loss {
                first_lost_seq: p.u64_at(loss::FIRST_LOST_SEQ)?,
                last_lost_seq: p.u64_at(loss::LAST_LOST_SEQ)?,
                count: p.u64_at(loss::COUNT)?,
                reason: LossReason::from_raw(p.u32_at(loss::REASON)?),
            })
        }
        RecordKind::ProcessStart => {
            p.require_flags(
                RecordFlags::NAME_TRUNCATED
                    | RecordFlags::NEW_NAME_TRUNCATED
                    | RecordFlags::USER_ID
                    | RecordFlags::FORKED,
            )?;
            p.require_fixed(process_start::LEN)?;
            p.require_zero_u32(process_start::RESERVED)?;
            let has_user = p.flags.contains(RecordFlags::USER_ID);
            let user_id = p.u32_at(process_start::USER_ID)?;
            if !has_user && user_id != 0 {
                let kind = DecodeErrorKind::ReservedBitsSet {
                    field: "user_id without USER_ID",
                };
                let at = RECORD_HEADER_LEN.saturating_add(process_start::USER_ID);
                return Err(p.error(at, kind));
            }
            Body::ProcessStart(ProcessStart {
                parent_pid: p.u32_at(process_start::PARENT_PID)?,
                parent_start_key: p.u64_at(process_start::PARENT_START_KEY)?,
                creating_pid: p.u32_at(process_start::CREATING_PID)?,
                creating_tid: p.u32_at(process_start::CREATING_TID)?,
                session_id: p.u32_at(process_start::SESSION_ID)?,
                user_id: has_user.then_some(user_id),
                forked: p.flags.contains(RecordFlags::FORKED),
                image: Name {
                    bytes: p.name,
                    truncated: p.flags.contains(RecordFlags::NAME_TRUNCATED),
                },
                command_line: p.new_name(),
            })
        }
        RecordKind::ProcessExit => {
            p.control(process_exit::LEN)?;
            p.require_zero_u32(process_exit::RESERVED)?;
            Body::ProcessExit(ProcessExit {
                exit_status: p.u32_at(process_exit::EXIT_STATUS)?,
            })
        }
        // Filtered out above: reserved kinds decode as `Unknown`.
        RecordKind::VerdictRequest => Body::Unknown {
            kind: p.kind,
            flags: p.flags.bits(),
            fixed: p.fixed,
            name: p.name,
            new_name: p.new_name,
        },
    })
}
