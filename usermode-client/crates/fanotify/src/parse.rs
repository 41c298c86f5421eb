//! A bounds-checked reader for what `read(2)` returns on a fanotify descriptor: a sequence of
//! `fanotify_event_metadata` headers, each followed by variable-length information records
//! (file handles, directory handle + name, pidfd, error).
//!
//! The kernel is trusted, but a misunderstanding of its format must give an error, never
//! undefined behaviour: this module reads only through checked slice accessors, has no
//! `unsafe`, and turns every length that does not add up into a [`ParseError`] with its
//! offset. It owns nothing: descriptors it finds (pidfds) are reported as numbers and the
//! caller adopts them.

#![forbid(unsafe_code)]

use std::fmt;

/// `sizeof(struct fanotify_event_metadata)`.
pub const METADATA_LEN: usize = 24;
/// `FANOTIFY_METADATA_VERSION` this parser understands.
pub const METADATA_VERSION: u8 = 3;

/// `FAN_EVENT_INFO_TYPE_*`.
pub mod info_type {
    /// The object's own file handle.
    pub const FID: u8 = 1;
    /// Parent directory handle and the entry's name.
    pub const DFID_NAME: u8 = 2;
    /// Parent directory handle (no name).
    pub const DFID: u8 = 3;
    /// A pidfd for the acting process.
    pub const PIDFD: u8 = 4;
    /// File system error report.
    pub const ERROR: u8 = 5;
    /// `FAN_RENAME`: the old directory and name.
    pub const OLD_DFID_NAME: u8 = 10;
    /// `FAN_RENAME`: the new directory and name.
    pub const NEW_DFID_NAME: u8 = 12;
}

/// Info header (4) + `__kernel_fsid_t` (8) + `file_handle` header (4 + 4).
const FID_FIXED_LEN: usize = 4 + 8 + 8;

/// A file handle as fanotify reports it: enough to reopen the object with
/// `open_by_handle_at` on the same file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileHandle<'a> {
    /// The file system id (`__kernel_fsid_t`), raw.
    pub fsid: [u8; 8],
    /// `file_handle.handle_type`.
    pub handle_type: i32,
    /// `file_handle.f_handle`, exactly `handle_bytes` long.
    pub bytes: &'a [u8],
}

impl FileHandle<'_> {
    /// The inode number, for the handle types that carry it in the clear (`FILEID_INO32_GEN`
    /// and its parent variant used by ext4, xfs and others; `FILEID_INO64_GEN` used by tmpfs
    /// and others); 0 when the handle is opaque to us.
    #[must_use]
    pub fn inode(&self) -> u128 {
        const FILEID_INO32_GEN: i32 = 1;
        const FILEID_INO32_GEN_PARENT: i32 = 2;
        const FILEID_INO64_GEN: i32 = 0x81;
        const FILEID_INO64_GEN_PARENT: i32 = 0x82;
        match self.handle_type {
            FILEID_INO32_GEN | FILEID_INO32_GEN_PARENT => {
                read_u32(self.bytes, 0).map_or(0, u128::from)
            }
            FILEID_INO64_GEN | FILEID_INO64_GEN_PARENT => {
                read_u64(self.bytes, 0).map_or(0, u128::from)
            }
            _ => 0,
        }
    }
}

/// A directory handle and a name inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DirEntry<'a> {
    /// The directory.
    pub dir: FileHandle<'a>,
    /// The entry's name, without the terminating NUL (`.` for the directory itself).
    pub name: &'a [u8],
}

/// One event with its information records, borrowed from the read buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// Byte offset of the event in the buffer (for error messages).
    pub offset: usize,
    /// `FAN_*` bits (several when the kernel merged events).
    pub mask: u64,
    /// Event file descriptor (`FAN_NOFD` in FID mode).
    pub fd: i32,
    /// The acting process (thread group id), 0 when outside our pid namespace.
    pub pid: i32,
    /// `FAN_EVENT_INFO_TYPE_FID`: the object itself (the child with `FAN_REPORT_TARGET_FID`).
    pub object: Option<FileHandle<'a>>,
    /// `FAN_EVENT_INFO_TYPE_DFID`: the parent directory, no name.
    pub dir: Option<FileHandle<'a>>,
    /// `FAN_EVENT_INFO_TYPE_DFID_NAME`: parent directory and name.
    pub entry: Option<DirEntry<'a>>,
    /// `FAN_EVENT_INFO_TYPE_OLD_DFID_NAME` (`FAN_RENAME`).
    pub old_entry: Option<DirEntry<'a>>,
    /// `FAN_EVENT_INFO_TYPE_NEW_DFID_NAME` (`FAN_RENAME`).
    pub new_entry: Option<DirEntry<'a>>,
    /// `FAN_EVENT_INFO_TYPE_PIDFD`: a descriptor the reader now owns (>= 0), or
    /// `FAN_NOPIDFD` / `FAN_EPIDFD` (the process had already exited).
    pub pidfd: Option<i32>,
    /// `FAN_EVENT_INFO_TYPE_ERROR`: errno and count.
    pub error: Option<(i32, u32)>,
}

/// What is wrong with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Fewer bytes left than an event header.
    ShortMetadata {
        /// Bytes left.
        available: usize,
    },
    /// `vers` is not [`METADATA_VERSION`].
    UnsupportedVersion(u8),
    /// `metadata_len` below the header size or above `event_len`.
    BadMetadataLength {
        /// `event_len`.
        event_len: u32,
        /// `metadata_len`.
        metadata_len: u16,
    },
    /// `event_len` runs past the bytes read.
    EventPastEnd {
        /// `event_len`.
        event_len: u32,
        /// Bytes left.
        available: usize,
    },
    /// An info record header does not fit in the event.
    ShortInfoHeader,
    /// An info record's `len` is below its header or runs past the event.
    BadInfoLength {
        /// Its type.
        info_type: u8,
        /// Its `len`.
        len: u16,
    },
    /// A file handle record shorter than its fixed part.
    ShortFileHandle {
        /// Its type.
        info_type: u8,
    },
    /// `handle_bytes` larger than the record.
    HandleTooLong {
        /// `handle_bytes`.
        handle_bytes: u32,
        /// Bytes the record has for it.
        room: usize,
    },
    /// A name without its terminating NUL inside the record.
    NameNotTerminated,
    /// A pidfd or error record of the wrong size.
    BadFixedRecord {
        /// Its type.
        info_type: u8,
    },
    /// Two records of the same type in one event.
    DuplicateInfo {
        /// The type.
        info_type: u8,
    },
}

/// A malformed event, with where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed fanotify event at byte {offset}: {kind}")]
pub struct ParseError {
    /// Offset of the problem in the buffer.
    pub offset: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShortMetadata { available } => {
                write!(
                    f,
                    "{available} bytes left, an event header needs {METADATA_LEN}"
                )
            }
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "metadata version {v}, this reader knows {METADATA_VERSION}"
                )
            }
            Self::BadMetadataLength {
                event_len,
                metadata_len,
            } => write!(f, "metadata_len {metadata_len} with event_len {event_len}"),
            Self::EventPastEnd {
                event_len,
                available,
            } => write!(f, "event_len {event_len} but only {available} bytes left"),
            Self::ShortInfoHeader => f.write_str("info record header does not fit"),
            Self::BadInfoLength { info_type, len } => {
                write!(f, "info record type {info_type} has bad length {len}")
            }
            Self::ShortFileHandle { info_type } => {
                write!(f, "file handle record type {info_type} is too short")
            }
            Self::HandleTooLong { handle_bytes, room } => {
                write!(
                    f,
                    "handle_bytes {handle_bytes} but {room} bytes in the record"
                )
            }
            Self::NameNotTerminated => f.write_str("name is not NUL-terminated"),
            Self::BadFixedRecord { info_type } => {
                write!(f, "info record type {info_type} has the wrong size")
            }
            Self::DuplicateInfo { info_type } => {
                write!(f, "two info records of type {info_type}")
            }
        }
    }
}

/// The events in `buf`, in order. After the first error the iterator ends: a bad length
/// means nothing after it can be framed.
#[must_use]
pub fn events(buf: &[u8]) -> Events<'_> {
    Events {
        buf,
        offset: 0,
        done: false,
    }
}

/// Iterator over the events of one read; see [`events`].
#[derive(Clone, Debug)]
pub struct Events<'a> {
    buf: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Events<'a> {
    /// The next event, parsed into `event` (every field set anew) instead of returned: the
    /// event is about 250 bytes, and returning it through the iterator's `Option` and
    /// `Result` copied it two or three times. `None` after the last event or an error.
    ///
    /// # Errors
    /// As [`Iterator::next`]: the rest of the read cannot be framed.
    pub fn next_into(&mut self, event: &mut RawEvent<'a>) -> Option<Result<(), ParseError>> {
        if self.done || self.offset >= self.buf.len() {
            return None;
        }
        let rest = self.buf.get(self.offset..).unwrap_or_default();
        match parse_event_into(rest, self.offset, event) {
            Ok(len) => {
                self.offset = self.offset.saturating_add(len);
                Some(Ok(()))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<RawEvent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.offset >= self.buf.len() {
            return None;
        }
        let rest = self.buf.get(self.offset..).unwrap_or_default();
        match parse_event(rest, self.offset) {
            Ok((event, len)) => {
                self.offset = self.offset.saturating_add(len);
                Some(Ok(event))
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

fn read_u8(buf: &[u8], at: usize) -> Option<u8> {
    buf.get(at).copied()
}

fn read_u16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        buf.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        buf.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(
        buf.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        buf.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Parses the event at the start of `buf` (which sits at `base` in the whole read) and
/// returns it with its length.
fn parse_event(buf: &[u8], base: usize) -> Result<(RawEvent<'_>, usize), ParseError> {
    let mut event = RawEvent::default();
    let total = parse_event_into(buf, base, &mut event)?;
    Ok((event, total))
}

/// [`parse_event`] into `event` (every field set anew); returns the event's length.
fn parse_event_into<'a>(
    buf: &'a [u8],
    base: usize,
    event: &mut RawEvent<'a>,
) -> Result<usize, ParseError> {
    let err = |offset: usize, kind| ParseError {
        offset: base.saturating_add(offset),
        kind,
    };
    let short = || {
        err(
            0,
            ParseErrorKind::ShortMetadata {
                available: buf.len(),
            },
        )
    };
    if buf.len() < METADATA_LEN {
        return Err(short());
    }
    let event_len = read_u32(buf, 0).ok_or_else(short)?;
    let vers = read_u8(buf, 4).ok_or_else(short)?;
    let metadata_len = read_u16(buf, 6).ok_or_else(short)?;
    let mask = read_u64(buf, 8).ok_or_else(short)?;
    let fd = read_i32(buf, 16).ok_or_else(short)?;
    let pid = read_i32(buf, 20).ok_or_else(short)?;
    if vers != METADATA_VERSION {
        return Err(err(4, ParseErrorKind::UnsupportedVersion(vers)));
    }
    let total = usize::try_from(event_len).unwrap_or(usize::MAX);
    let meta = usize::from(metadata_len);
    if meta < METADATA_LEN || meta > total {
        return Err(err(
            6,
            ParseErrorKind::BadMetadataLength {
                event_len,
                metadata_len,
            },
        ));
    }
    let body = buf.get(..total).ok_or_else(|| {
        err(
            0,
            ParseErrorKind::EventPastEnd {
                event_len,
                available: buf.len(),
            },
        )
    })?;
    *event = RawEvent {
        offset: base,
        mask,
        fd,
        pid,
        ..RawEvent::default()
    };
    let mut at = meta;
    while at < total {
        let len = parse_info(body, at, event).map_err(|kind| err(at, kind))?;
        at = at.saturating_add(len);
    }
    Ok(total)
}

/// Parses the info record at `at` into `event`; returns its length.
fn parse_info<'a>(
    event_bytes: &'a [u8],
    at: usize,
    event: &mut RawEvent<'a>,
) -> Result<usize, ParseErrorKind> {
    let info_type = read_u8(event_bytes, at).ok_or(ParseErrorKind::ShortInfoHeader)?;
    let len = read_u16(event_bytes, at.saturating_add(2)).ok_or(ParseErrorKind::ShortInfoHeader)?;
    let end = at.saturating_add(usize::from(len));
    let record = match event_bytes.get(at..end) {
        Some(record) if record.len() >= 4 => record,
        _ => return Err(ParseErrorKind::BadInfoLength { info_type, len }),
    };
    let dup = || ParseErrorKind::DuplicateInfo { info_type };
    match info_type {
        info_type::FID => set_once(&mut event.object, file_handle(record, info_type)?.0, dup)?,
        info_type::DFID => set_once(&mut event.dir, file_handle(record, info_type)?.0, dup)?,
        info_type::DFID_NAME => set_once(&mut event.entry, dir_entry(record, info_type)?, dup)?,
        info_type::OLD_DFID_NAME => {
            set_once(&mut event.old_entry, dir_entry(record, info_type)?, dup)?;
        }
        info_type::NEW_DFID_NAME => {
            set_once(&mut event.new_entry, dir_entry(record, info_type)?, dup)?;
        }
        info_type::PIDFD => {
            let pidfd = (record.len() >= 8)
                .then(|| read_i32(record, 4))
                .flatten()
                .ok_or(ParseErrorKind::BadFixedRecord { info_type })?;
            set_once(&mut event.pidfd, pidfd, dup)?;
        }
        info_type::ERROR => {
            let error = read_i32(record, 4)
                .zip(read_u32(record, 8))
                .ok_or(ParseErrorKind::BadFixedRecord { info_type })?;
            set_once(&mut event.error, error, dup)?;
        }
        // A record type from a newer kernel: skipped by its length, like an unknown
        // protocol record.
        _ => {}
    }
    Ok(record.len())
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    dup: impl FnOnce() -> ParseErrorKind,
) -> Result<(), ParseErrorKind> {
    if slot.is_some() {
        return Err(dup());
    }
    *slot = Some(value);
    Ok(())
}

/// A FID-style record: header, fsid, `file_handle`; returns the handle and what follows it.
fn file_handle(record: &[u8], info_type: u8) -> Result<(FileHandle<'_>, &[u8]), ParseErrorKind> {
    let short = ParseErrorKind::ShortFileHandle { info_type };
    if record.len() < FID_FIXED_LEN {
        return Err(short);
    }
    let fsid: [u8; 8] = record
        .get(4..12)
        .and_then(|s| s.try_into().ok())
        .ok_or(short)?;
    let handle_bytes = read_u32(record, 12).ok_or(short)?;
    let handle_type = read_i32(record, 16).ok_or(short)?;
    let room = record.len().saturating_sub(FID_FIXED_LEN);
    let n = usize::try_from(handle_bytes).unwrap_or(usize::MAX);
    let end = FID_FIXED_LEN.saturating_add(n);
    let bytes = record
        .get(FID_FIXED_LEN..end)
        .ok_or(ParseErrorKind::HandleTooLong { handle_bytes, room })?;
    let tail = record.get(end..).unwrap_or_default();
    Ok((
        FileHandle {
            fsid,
            handle_type,
            bytes,
        },
        tail,
    ))
}

fn dir_entry(record: &[u8], info_type: u8) -> Result<DirEntry<'_>, ParseErrorKind> {
    let (dir, tail) = file_handle(record, info_type)?;
    let nul = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or(ParseErrorKind::NameNotTerminated)?;
    let name = tail.get(..nul).unwrap_or_default();
    Ok(DirEntry { dir, name })
}

#[cfg(test)]
mod tests;
