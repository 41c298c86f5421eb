//! Record building: raw Filter Manager values in, protocol records into the ring.
//!
//! No parsing: names are copied as given, numbers are split only where the I/O manager packs
//! two fields into one (create options).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use picket_protocol::{
    encode_record, encoded_len, CreateDisposition, CreateResult, DeleteMethod, LossReason, Name,
    Record, SizeKind, MAX_NAME_BYTES,
};

use crate::ring::{Dropped, Ring};
use crate::sync::RawSpin;

/// `FILE_DELETE_ON_CLOSE` in the create options.
pub const FILE_DELETE_ON_CLOSE: u32 = 0x0000_1000;
/// `FILE_DIRECTORY_FILE` in the create options.
pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
const FILE_DISPOSITION_DELETE: u32 = 0x1;
const FILE_DISPOSITION_ON_CLOSE: u32 = 0x8;

/// The create disposition: the high byte of `Parameters.Create.Options`.
#[must_use]
pub const fn create_disposition(options: u32) -> CreateDisposition {
    CreateDisposition::from_raw(options >> 24)
}

/// The create options proper: the low 24 bits of `Parameters.Create.Options`.
#[must_use]
pub const fn create_options(options: u32) -> u32 {
    options & 0x00ff_ffff
}

/// What a successful create did, from `IoStatus.Information` (`FILE_OPENED`, …).
#[must_use]
pub fn create_result(information: usize) -> CreateResult {
    CreateResult::from_raw(u32::try_from(information).unwrap_or(u32::MAX))
}

/// A name for a record from the bytes of a `UNICODE_STRING` Filter Manager returned.
///
/// Its `Length` is even for every well-behaved file system; an odd one (a buggy name
/// provider below us) would make the whole record unsendable in a UTF-16 batch, so the
/// stray last byte is cut and the name flagged truncated: the event still goes out.
/// A name longer than `MAX_NAME_BYTES` is cut in the middle by the encoder (protocol 1.1),
/// keeping its final component whole; a truncated name of exactly `MAX_NAME_BYTES` means
/// that cut to the client, so an odd name that would shrink to exactly that length loses one
/// more code unit here (it is flagged truncated either way).
#[must_use]
pub const fn utf16_name(bytes: &[u8]) -> Name<'_> {
    match bytes.split_last() {
        Some((_, whole)) if !bytes.len().is_multiple_of(2) => {
            let whole = if whole.len() == MAX_NAME_BYTES {
                match whole.split_last_chunk::<2>() {
                    Some((shorter, _)) => shorter,
                    None => whole,
                }
            } else {
                whole
            };
            Name {
                bytes: whole,
                truncated: true,
            }
        }
        _ => Name::new(bytes),
    }
}

/// `FILE_INFORMATION_CLASS` values the driver watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetInfo {
    /// `FileRenameInformation[Ex][BypassAccessCheck]`.
    Rename,
    /// `FileLinkInformation[Ex][BypassAccessCheck]`.
    Link,
    /// `FileDispositionInformation`.
    Disposition,
    /// `FileDispositionInformationEx`.
    DispositionEx,
    /// `FileEndOfFileInformation`.
    EndOfFile,
    /// `FileAllocationInformation`.
    Allocation,
    /// `FileBasicInformation` (attributes, times).
    Basic,
    /// `FileValidDataLengthInformation` (`SetFileValidData`): the valid data length moves
    /// up without the bytes in between being written — a change of content, not a write.
    ValidDataLength,
}

impl SetInfo {
    /// Classifies a `FILE_INFORMATION_CLASS`; `None` for classes the driver ignores.
    #[must_use]
    pub const fn classify(class: u32) -> Option<Self> {
        Some(match class {
            4 => Self::Basic,
            10 | 56 | 65 | 66 => Self::Rename,
            11 | 57 | 72 | 73 => Self::Link,
            13 => Self::Disposition,
            64 => Self::DispositionEx,
            19 => Self::Allocation,
            20 => Self::EndOfFile,
            39 => Self::ValidDataLength,
            _ => return None,
        })
    }

    /// Whether a request of this class changes what programs see. An end-of-file request
    /// with `AdvanceOnly` set is the cache manager's lazy writer moving the on-disk size up
    /// to data it already wrote; the file's size as programs know it does not change, so
    /// reporting it would show the System process "resizing" every file written through
    /// the cache.
    #[must_use]
    pub const fn is_visible_change(self, advance_only: bool) -> bool {
        !(matches!(self, Self::EndOfFile) && advance_only)
    }

    /// The size kind for a set-size class.
    #[must_use]
    pub const fn size_kind(self) -> Option<SizeKind> {
        match self {
            Self::EndOfFile => Some(SizeKind::EndOfFile),
            Self::Allocation => Some(SizeKind::Allocation),
            Self::ValidDataLength => Some(SizeKind::ValidDataLength),
            _ => None,
        }
    }
}

/// What a disposition request asks for.
///
/// A handle has two independent delete requests, as
/// the file system keeps them: the disposition (`FileDispositionInformation[Ex]`) and
/// delete-on-close (`FILE_DELETE_ON_CLOSE` at create, or `FILE_DISPOSITION_ON_CLOSE`).
/// Clearing one leaves the other in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteIntent {
    /// Delete when the last handle closes: the disposition (`Disposition`,
    /// `DispositionEx`) or, with `DeleteOnClose`, the delete-on-close request.
    Set(DeleteMethod),
    /// Undo the disposition (`DeleteFile = FALSE`, or `FILE_DISPOSITION_DO_NOT_DELETE`);
    /// delete-on-close stays.
    Clear,
    /// Undo delete-on-close (`FILE_DISPOSITION_ON_CLOSE` without `DELETE`); the disposition
    /// stays.
    ClearOnClose,
}

/// `FILE_DISPOSITION_INFORMATION.DeleteFile`.
#[must_use]
pub const fn disposition_intent(delete_file: bool) -> DeleteIntent {
    if delete_file {
        DeleteIntent::Set(DeleteMethod::Disposition)
    } else {
        DeleteIntent::Clear
    }
}

/// `FILE_DISPOSITION_INFORMATION_EX.Flags`: `DELETE` marks for deletion (with `ON_CLOSE`:
/// sets delete-on-close); no `DELETE` clears the mark (with `ON_CLOSE`: clears
/// delete-on-close).
#[must_use]
pub const fn disposition_ex_intent(flags: u32) -> DeleteIntent {
    if flags & FILE_DISPOSITION_DELETE == 0 {
        if flags & FILE_DISPOSITION_ON_CLOSE != 0 {
            DeleteIntent::ClearOnClose
        } else {
            DeleteIntent::Clear
        }
    } else if flags & FILE_DISPOSITION_ON_CLOSE != 0 {
        DeleteIntent::Set(DeleteMethod::DeleteOnClose)
    } else {
        DeleteIntent::Set(DeleteMethod::DispositionEx)
    }
}

/// Per-driver counter that names handles on the wire instead of their kernel addresses.
#[derive(Debug)]
pub struct HandleIds(AtomicU64);

impl HandleIds {
    /// Starts at 1 (0 means "no handle" in control records).
    #[must_use]
    pub const fn new() -> Self {
        Self(AtomicU64::new(1))
    }

    /// A fresh identifier.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for HandleIds {
    fn default() -> Self {
        Self::new()
    }
}

/// What the post-cleanup query found about a file whose deletion was requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileProbe {
    /// The query failed with `STATUS_FILE_DELETED`: the file is gone.
    Deleted,
    /// The file still exists (delete pending on another handle, or undone).
    Exists,
    /// The query failed otherwise: nothing can be confirmed.
    Unknown,
}

/// What cleanup of a handle reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Emit a "closed after modification" record.
    pub close_modified: bool,
    /// Emit a delete record with this method.
    pub deleted: Option<DeleteMethod>,
}

/// The flags kept in each stream-handle context. Atomic: I/O on one handle can run on
/// several CPUs at once.
#[derive(Debug, Default)]
pub struct HandleFlags(AtomicU32);

const WRITTEN: u32 = 1 << 0;
const MODIFIED: u32 = 1 << 1;
/// Delete-on-close requested (at create or by `FILE_DISPOSITION_ON_CLOSE`): its own slot,
/// so a "do not delete" disposition does not erase it.
const ON_CLOSE: u32 = 1 << 2;
/// The disposition's method (`Disposition` / `DispositionEx`), 0 when none is in force.
const DISPOSITION_SHIFT: u32 = 8;
const DISPOSITION_MASK: u32 = 0xff << DISPOSITION_SHIFT;

impl HandleFlags {
    /// Flags for a new handle; `delete_on_close` from the create options.
    #[must_use]
    pub const fn new(delete_on_close: bool) -> Self {
        Self(AtomicU32::new(if delete_on_close { ON_CLOSE } else { 0 }))
    }

    /// Flags for a handle a successful create returned: `delete_on_close` from the create
    /// options; a create that overwrote or superseded the file (`result`) already changed
    /// its contents, so the handle starts out modified and its cleanup reports
    /// "closed after modification" even when nothing is written through it.
    #[must_use]
    pub const fn for_create(delete_on_close: bool, result: CreateResult) -> Self {
        let mut bits = if delete_on_close { ON_CLOSE } else { 0 };
        if matches!(result, CreateResult::Overwritten | CreateResult::Superseded) {
            bits |= MODIFIED;
        }
        Self(AtomicU32::new(bits))
    }

    /// Marks a write; `true` only for the first write through the handle.
    pub fn note_write(&self) -> bool {
        self.0.fetch_or(WRITTEN | MODIFIED, Ordering::AcqRel) & WRITTEN == 0
    }

    /// Marks a change other than a write (size, valid data length, zeroed ranges, cloned
    /// extents, raw encrypted writes).
    pub fn note_modified(&self) {
        self.0.fetch_or(MODIFIED, Ordering::AcqRel);
    }

    /// Applies a successful disposition request to its slot, leaving the other alone.
    pub fn note_delete_intent(&self, intent: DeleteIntent) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                Some(match intent {
                    DeleteIntent::Set(DeleteMethod::DeleteOnClose) => bits | ON_CLOSE,
                    DeleteIntent::Set(method) => {
                        (bits & !DISPOSITION_MASK) | ((method.raw() & 0xff) << DISPOSITION_SHIFT)
                    }
                    DeleteIntent::Clear => bits & !DISPOSITION_MASK,
                    DeleteIntent::ClearOnClose => bits & !ON_CLOSE,
                })
            });
    }

    /// Whether cleanup of this handle may have something to report.
    #[must_use]
    pub fn anything_to_report(&self) -> bool {
        self.0.load(Ordering::Acquire) & (MODIFIED | ON_CLOSE | DISPOSITION_MASK) != 0
    }

    /// The delete requested through this handle, if any is in force: the disposition's
    /// method first (the explicit request), else delete-on-close.
    #[must_use]
    pub fn delete_intent(&self) -> Option<DeleteMethod> {
        let bits = self.0.load(Ordering::Acquire);
        let method = (bits & DISPOSITION_MASK) >> DISPOSITION_SHIFT;
        if method != 0 {
            Some(DeleteMethod::from_raw(method))
        } else if bits & ON_CLOSE != 0 {
            Some(DeleteMethod::DeleteOnClose)
        } else {
            None
        }
    }

    /// What to report at cleanup of this handle, given the file's stream flags (when it
    /// has any) and the probe the shell made (only when a delete was requested on this
    /// handle or the stream; `Unknown` otherwise). A deleted file gets a delete record only
    /// — nothing is left to have been modified — and only once per stream: the cleanup of
    /// whichever handle finds the file gone reports it.
    #[must_use]
    pub fn at_cleanup(&self, stream: Option<&StreamFlags>, probe: FileProbe) -> CleanupReport {
        let bits = self.0.load(Ordering::Acquire);
        let method = self
            .delete_intent()
            .or_else(|| stream.and_then(StreamFlags::candidate));
        match (method, probe) {
            (Some(method), FileProbe::Deleted) => CleanupReport {
                close_modified: false,
                deleted: stream
                    .is_none_or(StreamFlags::claim_report)
                    .then_some(method),
            },
            _ => CleanupReport {
                close_modified: bits & MODIFIED != 0,
                deleted: None,
            },
        }
    }
}

/// Per-file (stream context) delete state, shared by every handle on the file.
///
/// A delete requested through one handle happens when the *last* handle closes, which may
/// be another one, so every cleanup of a candidate stream checks — as Microsoft's `delete`
/// sample does with its stream contexts.
#[derive(Debug, Default)]
pub struct StreamFlags(AtomicU32);

const REPORTED: u32 = 1 << 16;

impl StreamFlags {
    /// A stream nobody asked to delete.
    #[must_use]
    pub const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// A delete was requested on some handle (disposition, or delete-on-close at create).
    /// Never cleared by a later "do not delete" on one handle: another may still hold a
    /// request, and a needless check at cleanup costs one query, a missed delete a blind spot.
    pub fn mark(&self, method: DeleteMethod) {
        let method = method.raw() & 0xff;
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
                Some((bits & !0xff) | method)
            });
    }

    /// The method of the last delete requested on the stream, if any.
    #[must_use]
    pub fn candidate(&self) -> Option<DeleteMethod> {
        let method = self.0.load(Ordering::Acquire) & 0xff;
        (method != 0).then(|| DeleteMethod::from_raw(method))
    }

    /// `true` for the first caller only: the delete is reported once.
    pub fn claim_report(&self) -> bool {
        self.0.fetch_or(REPORTED, Ordering::AcqRel) & REPORTED == 0
    }
}

/// Encodes `record` straight into a ring frame, under the sequence number the ring
/// assigns (the header's `seq` is overwritten). Returns that number.
///
/// # Errors
/// [`Dropped`] when the ring refused the record or the encoder did (the loss is counted
/// either way, with the record's sequence number).
pub fn store<P: RawSpin>(ring: &Ring<'_, P>, mut record: Record<'_>) -> Result<u64, Dropped> {
    let len = encoded_len(&record).unwrap_or(usize::MAX);
    let mut reservation = ring.reserve(len)?;
    let seq = reservation.seq();
    record.header.seq = seq;
    if let Ok(written) = encode_record(&record, reservation.payload()) {
        reservation.commit(written);
        return Ok(seq);
    }
    drop(reservation);
    ring.note_lost(seq, seq, 1, LossReason::EncodeFailed);
    Err(Dropped {
        seq,
        reason: LossReason::EncodeFailed,
    })
}

#[cfg(test)]
mod tests;
