//! The I/O callbacks. They read what Filter Manager gives them, ask the plain-Rust layer
//! what to do, and store at most a record or two; they never wait for user mode.
//!
//! | callback | IRQL | why it is safe |
//! |---|---|---|
//! | post-create | `PASSIVE_LEVEL` (create post-ops always are) | name query, context allocation |
//! | pre-write | `<= APC_LEVEL` (paging I/O is not registered) | name query, context lookup |
//! | pre-set-information | `<= APC_LEVEL` | name queries, reading the system buffer |
//! | post-set-information | `<= APC_LEVEL`: synchronized (`FLT_PREOP_SYNCHRONIZE`) | record with names |
//! | pre-cleanup | `<= APC_LEVEL` | name query and parse (before cleanup, while it is allowed) |
//! | post-cleanup | `PASSIVE_LEVEL`: synchronized | `FltQueryInformationFile` / `FltFsControlFile` to confirm a delete |
//! | pre-file-system-control | `<= APC_LEVEL` (`IRP_MJ_FILE_SYSTEM_CONTROL` pre-ops are at `PASSIVE_LEVEL` or `APC_LEVEL`) | context lookup only |
//! | post-file-system-control | `<= DISPATCH_LEVEL` | one atomic `fetch_or`, `FltReleaseContext` (both allowed at `DISPATCH_LEVEL`) |

use picket_protocol::{
    Body, Delete, DeleteMethod, FileCreate, FileOp, FileRef, LinkChange, LossReason, Name,
    SetAttributes, SetSize, SizeKind,
};
use wdk_sys::{
    ntddk::FsRtlIsPagingFile,
    _FILE_INFORMATION_CLASS::{
        FileIdInformation, FileInternalInformation, FileStandardInformation,
    },
    FILE_ALLOCATION_INFORMATION, FILE_BASIC_INFORMATION, FILE_DISPOSITION_INFORMATION,
    FILE_DISPOSITION_INFORMATION_EX, FILE_END_OF_FILE_INFORMATION, FILE_ID_INFORMATION,
    FILE_INFORMATION_CLASS, FILE_INTERNAL_INFORMATION, FILE_RENAME_INFORMATION,
    FILE_STANDARD_INFORMATION, FILE_VALID_DATA_LENGTH_INFORMATION, FO_VOLUME_OPEN, NTSTATUS, PVOID,
    SL_OPEN_PAGING_FILE, STATUS_FILE_DELETED,
};

use super::emit::emit;
use super::flt::{
    flag_on, nt_success, size_u32, FltFindExtraCreateParameter, FltFsControlFile,
    FltGetDestinationFileNameInformation, FltGetEcpListFromCallbackData, FltIsDirectory,
    FltIsEcpFromUserMode, FltQueryInformationFile,
    _FLT_POSTOP_CALLBACK_STATUS::FLT_POSTOP_FINISHED_PROCESSING,
    _FLT_PREOP_CALLBACK_STATUS::{
        FLT_PREOP_SUCCESS_NO_CALLBACK, FLT_PREOP_SUCCESS_WITH_CALLBACK, FLT_PREOP_SYNCHRONIZE,
    },
    FLTFL_POST_OPERATION_DRAINING, FLT_POSTOP_CALLBACK_STATUS, FLT_PREOP_CALLBACK_STATUS,
    GUID_ECP_PREFETCH_OPEN, NAME_NORMALIZED, PCFLT_RELATED_OBJECTS, PFLT_CALLBACK_DATA,
};
use super::io::{ContextRef, FileName, HandleContext, Op, StreamContext};
use super::pool::{PoolBox, TAG_OP};
use super::state::{driver, Driver, LIFE};
use crate::create::CreateWork;
use crate::identity::{self, Deleted, InternalId};
use crate::modify::{fsctl_modifies, FSCTL_GET_OBJECT_ID};
use crate::records::{
    create_disposition, create_options, create_result, disposition_ex_intent, disposition_intent,
    DeleteIntent, FileProbe, HandleFlags, SetInfo, StreamFlags, FILE_DELETE_ON_CLOSE,
};
use crate::skip::{create_succeeded, IoFacts};

/// The driver state when records are being stored, `None` before start and during unload.
fn running() -> Option<&'static Driver> {
    if LIFE.accepting() {
        driver()
    } else {
        None
    }
}

/// What every callback needs first: the running driver and the wrapped arguments. `None`
/// (the I/O goes on untouched) before start, during unload, or when the arguments do not
/// wrap.
///
/// # Safety
/// `data` and `objects` are the arguments Filter Manager passed to the running callback.
unsafe fn begin<'a>(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
) -> Option<(&'static Driver, Op<'a>)> {
    let driver = running()?;
    // SAFETY: the caller's guarantee.
    let op = unsafe { Op::new(data, objects) }?;
    Some((driver, op))
}

/// The name a record carries: empty when Filter Manager gave none.
fn record_name(name: Option<&FileName>) -> Name<'_> {
    name.map_or(Name::new(&[]), FileName::record_name)
}

/// `IoStatus.Status` of the operation.
fn status_of(op: &Op<'_>) -> NTSTATUS {
    // SAFETY: `Status` is the member of the IO_STATUS_BLOCK union Filter Manager fills
    // for a completed operation.
    unsafe { op.data.IoStatus.__bindgen_anon_1.Status }
}

/// Whether the create carries the prefetcher's ECP (kernel-originated, so a user-mode
/// program cannot hide behind it). `PASSIVE_LEVEL`.
fn is_prefetcher(op: &Op<'_>) -> bool {
    let mut list = core::ptr::null_mut();
    // SAFETY: our filter and the running create's callback data; `list` is an out-pointer.
    let status = unsafe { FltGetEcpListFromCallbackData(op.objects.Filter, op.raw, &raw mut list) };
    if !nt_success(status) || list.is_null() {
        return false;
    }
    let mut context: PVOID = core::ptr::null_mut();
    // SAFETY: a valid ECP list of this create; the GUID is a static; out-pointers are valid.
    let status = unsafe {
        FltFindExtraCreateParameter(
            op.objects.Filter,
            list,
            &GUID_ECP_PREFETCH_OPEN,
            &raw mut context,
            core::ptr::null_mut(),
        )
    };
    if !nt_success(status) || context.is_null() {
        return false;
    }
    // SAFETY: `context` is an ECP context returned by Filter Manager for this create.
    unsafe { FltIsEcpFromUserMode(op.objects.Filter, context) == 0 }
}

/// Queries information `class` of the operation's file into a `T`: the status, and `T` as
/// the file system filled it. `PASSIVE_LEVEL`.
///
/// # Safety
/// `T` is the plain-data structure of information `class` (any bytes valid).
unsafe fn query_information<T: Default>(
    op: &Op<'_>,
    class: FILE_INFORMATION_CLASS,
) -> (NTSTATUS, T) {
    let mut info = T::default();
    // SAFETY: valid instance and file object of the running operation; `info` is a local
    // of the size passed.
    let status = unsafe {
        FltQueryInformationFile(
            op.objects.Instance,
            op.objects.FileObject,
            core::ptr::addr_of_mut!(info).cast(),
            size_u32::<T>(),
            class,
            core::ptr::null_mut(),
        )
    };
    (status, info)
}

/// The file's id, 128 bits as little-endian bytes: `FileInternalInformation`, or — when that
/// returns `FILE_INVALID_FILE_ID` (`ReFS` ids that need 128 bits) — `FileIdInformation`,
/// as Microsoft's `delete` sample does; 0 if the file system has none. `PASSIVE_LEVEL`.
fn file_id(op: &Op<'_>) -> [u8; 16] {
    // SAFETY: FILE_INTERNAL_INFORMATION is the structure of its class.
    let (status, info) =
        unsafe { query_information::<FILE_INTERNAL_INFORMATION>(op, FileInternalInformation) };
    // SAFETY: reading the QuadPart view of a LARGE_INTEGER (any bit pattern is an i64),
    // used only when the query succeeded.
    let index = nt_success(status).then_some(unsafe { info.IndexNumber.QuadPart });
    let id = match identity::internal_id(index) {
        InternalId::Known(id) => id,
        InternalId::Unknown => 0,
        InternalId::Needs128Bits => {
            // SAFETY: FILE_ID_INFORMATION is the structure of its class.
            let (status, info) =
                unsafe { query_information::<FILE_ID_INFORMATION>(op, FileIdInformation) };
            identity::file_id_128(nt_success(status).then_some(info.FileId.Identifier))
        }
    };
    id.to_le_bytes()
}

/// Post-create. IRQL: `PASSIVE_LEVEL`.
pub unsafe extern "C" fn post_create(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    _context: PVOID,
    flags: u32,
) -> FLT_POSTOP_CALLBACK_STATUS {
    if flag_on(flags, FLTFL_POST_OPERATION_DRAINING) {
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    // SAFETY: the arguments Filter Manager passed to this callback.
    let Some((driver, op)) = (unsafe { begin(data, objects) }) else {
        return FLT_POSTOP_FINISHED_PROCESSING;
    };
    if !create_succeeded(status_of(&op)) {
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    let Some(file) = op.file_object() else {
        return FLT_POSTOP_FINISHED_PROCESSING;
    };
    let facts = IoFacts {
        paging_io: false,
        volume_open: flag_on(file.Flags, FO_VOLUME_OPEN),
        prefetcher: is_prefetcher(&op),
        paging_file: flag_on(u32::from(op.iopb.OperationFlags), SL_OPEN_PAGING_FILE)
            // SAFETY: a valid file object of a successful create.
            || unsafe { FsRtlIsPagingFile(op.objects.FileObject) } != 0,
        from_client: driver.is_client(op.requestor()),
    };
    if facts.skip().is_some() {
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    // SAFETY: `Create` is the member of the parameter union for IRP_MJ_CREATE.
    let create = unsafe { op.iopb.Parameters.Create };
    // SAFETY: a create's security context is valid kernel memory for the operation.
    let desired_access = unsafe { create.SecurityContext.as_ref() }.map_or(0, |s| s.DesiredAccess);
    let mut is_directory = 0u8;
    // SAFETY: valid file object and instance; `is_directory` is an out-pointer.
    let status = unsafe {
        FltIsDirectory(
            op.objects.FileObject,
            op.objects.Instance,
            &raw mut is_directory,
        )
    };
    let is_directory = nt_success(status) && is_directory != 0;
    let result = create_result(usize::try_from(op.data.IoStatus.Information).unwrap_or(usize::MAX));
    let delete_on_close = flag_on(create.Options, FILE_DELETE_ON_CLOSE);
    // Without a client the record would only be counted lost: no queries just to fill it.
    let work = CreateWork::plan(driver.slot.is_connected());
    let context = HandleContext::attach(
        &op,
        HandleContext {
            handle_id: driver.handle_ids.next(),
            file_id: if work.query_file_id {
                file_id(&op)
            } else {
                [0; 16]
            },
            is_directory,
            flags: HandleFlags::for_create(delete_on_close, result),
        },
    );
    if delete_on_close {
        if let Some(stream) = op.stream_context_or_create() {
            stream.flags.mark(DeleteMethod::DeleteOnClose);
        }
    }
    if !work.build_record {
        driver.ring.drop_event(LossReason::NoClient);
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    let name = op.name();
    let normalized = name.as_ref().is_some_and(FileName::normalized);
    let file_ref = context.as_ref().map_or_else(
        || FileRef {
            is_directory,
            name_normalized: normalized,
            ..FileRef::default()
        },
        |c| c.file_ref(normalized),
    );
    emit(
        driver,
        &op,
        Body::FileCreate(FileCreate {
            file: file_ref,
            disposition: create_disposition(create.Options),
            create_options: create_options(create.Options),
            desired_access,
            result,
            name: record_name(name.as_ref()),
        }),
    );
    FLT_POSTOP_FINISHED_PROCESSING
}

/// Pre-write: the first write through a handle. IRQL: `<= APC_LEVEL`.
pub unsafe extern "C" fn pre_write(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    _context: *mut PVOID,
) -> FLT_PREOP_CALLBACK_STATUS {
    // SAFETY: the arguments Filter Manager passed to this callback.
    let Some((driver, op)) = (unsafe { begin(data, objects) }) else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    if op.is_paging_io() || driver.is_client(op.requestor()) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
    // No context: the handle was opened before Picket attached. Nothing to track.
    let Some(context) = op.handle_context() else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    if context.flags.note_write() {
        let name = op.name();
        let normalized = name.as_ref().is_some_and(FileName::normalized);
        emit(
            driver,
            &op,
            Body::FirstWrite(FileOp {
                file: context.file_ref(normalized),
                name: record_name(name.as_ref()),
            }),
        );
    }
    FLT_PREOP_SUCCESS_NO_CALLBACK
}

/// What a pre-operation callback hands its (synchronized) post-operation callback.
struct Pending {
    context: Option<ContextRef<HandleContext>>,
    stream: Option<ContextRef<StreamContext>>,
    name: Option<FileName>,
    new_name: Option<FileName>,
    /// The handle is on a named data stream (`file:stream`); parsed from `name` in
    /// pre-cleanup, for delete candidates only.
    named_stream: bool,
    what: PendingOp,
}

impl Pending {
    /// The file reference for its records (a handle opened before Picket attached has no
    /// context: only the name's normalization is known).
    fn file_ref(&self) -> FileRef {
        let normalized = self.name.as_ref().is_some_and(FileName::normalized);
        self.context.as_ref().map_or_else(
            || FileRef {
                name_normalized: normalized,
                ..FileRef::default()
            },
            |c| c.file_ref(normalized),
        )
    }
}

enum PendingOp {
    Link { rename: bool, flags: u32 },
    Delete(DeleteIntent),
    Size(SizeKind, u64),
    Attributes(u32),
    Cleanup,
}

/// Reads a fixed-size structure from the set-information system buffer.
///
/// # Safety
/// `op` is a pre-set-information operation.
unsafe fn info_buffer<T: Copy>(op: &Op<'_>) -> Option<T> {
    // SAFETY: `SetFileInformation` is the member of the parameter union for this major
    // function (guaranteed by the caller).
    let params = unsafe { op.iopb.Parameters.SetFileInformation };
    if (params.Length as usize) < core::mem::size_of::<T>() || params.InfoBuffer.is_null() {
        return None;
    }
    // SAFETY: the I/O manager buffered the caller's data into this system buffer (kernel
    // memory) of `Length` bytes, checked above to hold a `T`; it may be unaligned.
    Some(unsafe { params.InfoBuffer.cast::<T>().read_unaligned() })
}

/// Destination name of a rename or hard link. `<= APC_LEVEL`, pre-operation only.
///
/// # Safety
/// `op` is a pre-set-information operation for a rename or link class.
unsafe fn destination(op: &Op<'_>) -> Option<FileName> {
    // SAFETY: caller's guarantee; FILE_LINK_INFORMATION has the same layout up to FileName.
    let params = unsafe { op.iopb.Parameters.SetFileInformation };
    let header = core::mem::offset_of!(FILE_RENAME_INFORMATION, FileName);
    // SAFETY: as in `info_buffer`.
    let info: FILE_RENAME_INFORMATION = unsafe { info_buffer(op) }?;
    let needed = header.checked_add(info.FileNameLength as usize)?;
    if (params.Length as usize) < needed {
        return None;
    }
    let file_name = params
        .InfoBuffer
        .cast::<FILE_RENAME_INFORMATION>()
        .wrapping_byte_add(header)
        .cast::<u16>();
    let mut out = core::ptr::null_mut();
    // SAFETY: valid instance and file object; the root handle and name come from the
    // system buffer, whose length was checked to hold the whole name; `out` is valid.
    let status = unsafe {
        FltGetDestinationFileNameInformation(
            op.objects.Instance,
            op.objects.FileObject,
            info.RootDirectory,
            file_name,
            info.FileNameLength,
            NAME_NORMALIZED,
            &raw mut out,
        )
    };
    if !nt_success(status) {
        return None;
    }
    // SAFETY: a referenced name information we now own.
    unsafe { FileName::from_raw(out) }
}

/// Hands `pending` to the post-operation callback, which then runs synchronized. Without
/// memory for it the record it would have produced is counted as lost, not forgotten.
fn synchronize(
    driver: &Driver,
    pending: Pending,
    completion: *mut PVOID,
) -> FLT_PREOP_CALLBACK_STATUS {
    let Some(boxed) = PoolBox::new(pending, TAG_OP) else {
        driver.ring.drop_event(LossReason::EncodeFailed);
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    // SAFETY: Filter Manager passes a valid completion-context out-pointer.
    unsafe { completion.write(boxed.into_raw().cast()) };
    FLT_PREOP_SYNCHRONIZE
}

/// What a visible set-information request of `kind` (raw `class`) asks for, read from its
/// system buffer; `None` when the buffer is too short for it or it changes nothing reported.
/// `<= APC_LEVEL`, pre-operation only.
///
/// # Safety
/// `op` is a pre-set-information operation.
unsafe fn requested(op: &Op<'_>, kind: SetInfo, class: u32) -> Option<PendingOp> {
    Some(match kind {
        SetInfo::Rename | SetInfo::Link => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_RENAME_INFORMATION>(op) }?;
            // FILE_RENAME_INFORMATION_EX classes carry `Flags`; the others a BOOLEAN
            // `ReplaceIfExists`, which is FILE_RENAME_REPLACE_IF_EXISTS (1) when set.
            let flags = if matches!(class, 65 | 66 | 72 | 73) {
                // SAFETY: reading the union member the class defines.
                unsafe { info.__bindgen_anon_1.Flags }
            } else {
                // SAFETY: reading the union member the class defines.
                u32::from(unsafe { info.__bindgen_anon_1.ReplaceIfExists } != 0)
            };
            PendingOp::Link {
                rename: kind == SetInfo::Rename,
                flags,
            }
        }
        SetInfo::Disposition => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_DISPOSITION_INFORMATION>(op) }?;
            PendingOp::Delete(disposition_intent(info.DeleteFile != 0))
        }
        SetInfo::DispositionEx => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_DISPOSITION_INFORMATION_EX>(op) }?;
            PendingOp::Delete(disposition_ex_intent(info.Flags))
        }
        SetInfo::EndOfFile => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_END_OF_FILE_INFORMATION>(op) }?;
            // SAFETY: QuadPart view of a LARGE_INTEGER.
            let size = unsafe { info.EndOfFile.QuadPart };
            PendingOp::Size(SizeKind::EndOfFile, size.cast_unsigned())
        }
        SetInfo::Allocation => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_ALLOCATION_INFORMATION>(op) }?;
            // SAFETY: QuadPart view of a LARGE_INTEGER.
            let size = unsafe { info.AllocationSize.QuadPart };
            PendingOp::Size(SizeKind::Allocation, size.cast_unsigned())
        }
        SetInfo::ValidDataLength => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_VALID_DATA_LENGTH_INFORMATION>(op) }?;
            // SAFETY: QuadPart view of a LARGE_INTEGER.
            let size = unsafe { info.ValidDataLength.QuadPart };
            PendingOp::Size(SizeKind::ValidDataLength, size.cast_unsigned())
        }
        SetInfo::Basic => {
            // SAFETY: `op` is a pre-set-information operation.
            let info = unsafe { info_buffer::<FILE_BASIC_INFORMATION>(op) }?;
            // 0 leaves the attributes unchanged: only times change, not reported.
            if info.FileAttributes == 0 {
                return None;
            }
            PendingOp::Attributes(info.FileAttributes)
        }
    })
}

/// Pre-set-information. IRQL: `<= APC_LEVEL`.
pub unsafe extern "C" fn pre_set_information(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion: *mut PVOID,
) -> FLT_PREOP_CALLBACK_STATUS {
    // SAFETY: the arguments Filter Manager passed to this callback.
    let Some((driver, op)) = (unsafe { begin(data, objects) }) else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    if op.is_paging_io() || driver.is_client(op.requestor()) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
    // SAFETY: `SetFileInformation` is the parameter member for IRP_MJ_SET_INFORMATION.
    let class = unsafe { op.iopb.Parameters.SetFileInformation.FileInformationClass };
    let class = u32::try_from(class).unwrap_or(u32::MAX);
    let Some(kind) = SetInfo::classify(class) else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    // SAFETY: `SetFileInformation` is the parameter member for IRP_MJ_SET_INFORMATION.
    let params = unsafe { op.iopb.Parameters.SetFileInformation };
    // SAFETY: a plain copy of the union's `ReplaceIfExists`/`AdvanceOnly` view (two
    // BOOLEANs, any bit pattern valid); `AdvanceOnly` means something only for end-of-file
    // requests, the only class `is_visible_change` looks at it for.
    let booleans = unsafe { params.__bindgen_anon_1.__bindgen_anon_1 };
    let advance_only = booleans.AdvanceOnly;
    if !kind.is_visible_change(advance_only != 0) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
    // SAFETY: `op` is a pre-set-information operation.
    let Some(what) = (unsafe { requested(&op, kind, class) }) else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    let (name, new_name) = match what {
        // SAFETY: `op` is pre-set-information for a rename or link class.
        PendingOp::Link { .. } => (op.name(), unsafe { destination(&op) }),
        PendingOp::Delete(_) => (None, None),
        _ => (op.name(), None),
    };
    synchronize(
        driver,
        Pending {
            context: op.handle_context(),
            stream: None,
            name,
            new_name,
            named_stream: false,
            what,
        },
        completion,
    )
}

/// What a synchronized post-operation callback needs first: the pending state taken back
/// (always, so it is freed whatever follows), then, unless Filter Manager is draining, as
/// [`begin`].
///
/// # Safety
/// The arguments Filter Manager passed to a post-operation callback whose pre-operation
/// returned `FLT_PREOP_SYNCHRONIZE` through `synchronize`: `completion` is what it stored.
unsafe fn resume<'a>(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion: PVOID,
    flags: u32,
) -> Option<(&'static Driver, Op<'a>, PoolBox<Pending>)> {
    // SAFETY: the caller's guarantee; taken back exactly once.
    let pending = unsafe { PoolBox::from_raw(completion.cast::<Pending>(), TAG_OP) }?;
    if flag_on(flags, FLTFL_POST_OPERATION_DRAINING) {
        return None;
    }
    // SAFETY: the caller's guarantee.
    let (driver, op) = unsafe { begin(data, objects) }?;
    Some((driver, op, pending))
}

/// Post-set-information. IRQL: `<= APC_LEVEL` (synchronized by the pre-operation).
pub unsafe extern "C" fn post_set_information(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion: PVOID,
    flags: u32,
) -> FLT_POSTOP_CALLBACK_STATUS {
    // SAFETY: this callback's arguments; only `pre_set_information` returns FLT_PREOP_SYNCHRONIZE,
    // with this context.
    let Some((driver, op, pending)) = (unsafe { resume(data, objects, completion, flags) }) else {
        return FLT_POSTOP_FINISHED_PROCESSING;
    };
    if !nt_success(status_of(&op)) {
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    let file = pending.file_ref();
    let name = record_name(pending.name.as_ref());
    let body = match pending.what {
        PendingOp::Delete(intent) => {
            // Reported at cleanup, once the file is confirmed gone — by whichever handle
            // closes last, hence the mark on the stream too.
            if let Some(context) = &pending.context {
                context.flags.note_delete_intent(intent);
            }
            if let DeleteIntent::Set(method) = intent {
                if let Some(stream) = op.stream_context_or_create() {
                    stream.flags.mark(method);
                }
            }
            return FLT_POSTOP_FINISHED_PROCESSING;
        }
        PendingOp::Link { rename, flags } => {
            let change = LinkChange {
                file,
                flags,
                name,
                new_name: record_name(pending.new_name.as_ref()),
            };
            if rename {
                Body::Rename(change)
            } else {
                Body::HardLink(change)
            }
        }
        PendingOp::Size(kind, new_size) => {
            if let Some(context) = &pending.context {
                context.flags.note_modified();
            }
            Body::SetSize(SetSize {
                file,
                new_size,
                kind,
                name,
            })
        }
        PendingOp::Attributes(attributes) => Body::SetAttributes(SetAttributes {
            file,
            attributes,
            name,
        }),
        PendingOp::Cleanup => return FLT_POSTOP_FINISHED_PROCESSING,
    };
    emit(driver, &op, body);
    FLT_POSTOP_FINISHED_PROCESSING
}

/// Pre-cleanup: takes the name while it can still be queried. IRQL: `<= APC_LEVEL`.
pub unsafe extern "C" fn pre_cleanup(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion: *mut PVOID,
) -> FLT_PREOP_CALLBACK_STATUS {
    // SAFETY: the arguments Filter Manager passed to this callback.
    let Some((driver, op)) = (unsafe { begin(data, objects) }) else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    let context = op.handle_context();
    let stream = op.stream_context();
    let handle_has_news = context
        .as_ref()
        .is_some_and(|c| c.flags.anything_to_report());
    let stream_is_candidate = stream
        .as_ref()
        .is_some_and(|s| s.flags.candidate().is_some());
    if !handle_has_news && !stream_is_candidate {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
    let delete_candidate = stream_is_candidate
        || context
            .as_ref()
            .is_some_and(|c| c.flags.delete_intent().is_some());
    let name = op.name();
    let named_stream = delete_candidate && name.as_ref().is_some_and(FileName::is_named_stream);
    synchronize(
        driver,
        Pending {
            name,
            context,
            stream,
            new_name: None,
            named_stream,
            what: PendingOp::Cleanup,
        },
        completion,
    )
}

/// Whether the file is gone, the way Microsoft's `delete` sample checks. `PASSIVE_LEVEL`.
fn probe(op: &Op<'_>) -> FileProbe {
    // SAFETY: FILE_STANDARD_INFORMATION is the structure of its class.
    let (status, _) =
        unsafe { query_information::<FILE_STANDARD_INFORMATION>(op, FileStandardInformation) };
    if status == STATUS_FILE_DELETED {
        FileProbe::Deleted
    } else if nt_success(status) {
        FileProbe::Exists
    } else {
        FileProbe::Unknown
    }
}

/// Whether the whole file is gone after one of its named streams was deleted: the `delete`
/// sample's `FSCTL_GET_OBJECT_ID` check (see `identity::object_id_probe`). `PASSIVE_LEVEL`.
fn probe_whole_file(op: &Op<'_>) -> FileProbe {
    // FILE_OBJECTID_BUFFER: 64 bytes.
    let mut buffer = [0u8; 64];
    // SAFETY: valid instance and file object of the running operation; the output buffer
    // is a local of the length passed; no input buffer.
    let status = unsafe {
        FltFsControlFile(
            op.objects.Instance,
            op.objects.FileObject,
            FSCTL_GET_OBJECT_ID,
            core::ptr::null_mut(),
            0,
            buffer.as_mut_ptr().cast(),
            size_u32::<[u8; 64]>(),
            core::ptr::null_mut(),
        )
    };
    identity::object_id_probe(status)
}

/// Post-cleanup: "closed after modification" and confirmed deletes. IRQL: `PASSIVE_LEVEL`
/// (synchronized by the pre-operation).
pub unsafe extern "C" fn post_cleanup(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion: PVOID,
    flags: u32,
) -> FLT_POSTOP_CALLBACK_STATUS {
    // SAFETY: this callback's arguments; only `pre_cleanup` returns FLT_PREOP_SYNCHRONIZE,
    // with this context.
    let Some((driver, op, pending)) = (unsafe { resume(data, objects, completion, flags) }) else {
        return FLT_POSTOP_FINISHED_PROCESSING;
    };
    // A failed cleanup changed nothing: no probe, no record.
    if !nt_success(status_of(&op)) {
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    // A handle opened before Picket attached has no context: judge it as an untouched one.
    let untracked = HandleFlags::new(false);
    let flags = pending.context.as_ref().map_or(&untracked, |c| &c.flags);
    let stream = pending.stream.as_ref().map(|s| &s.flags);
    let probe =
        if flags.delete_intent().is_some() || stream.and_then(StreamFlags::candidate).is_some() {
            probe(&op)
        } else {
            FileProbe::Unknown
        };
    let report = flags.at_cleanup(stream, probe);
    let file = pending.file_ref();
    let name = record_name(pending.name.as_ref());
    if let Some(method) = report.deleted {
        let whole_file = if pending.named_stream {
            probe_whole_file(&op)
        } else {
            FileProbe::Unknown
        };
        let delete = Delete { file, method, name };
        let body = match identity::deleted(pending.named_stream, whole_file) {
            Deleted::File => Body::Delete(delete),
            Deleted::Stream => Body::DeleteStream(delete),
        };
        emit(driver, &op, body);
    }
    if report.close_modified {
        emit(driver, &op, Body::CloseModified(FileOp { file, name }));
    }
    FLT_POSTOP_FINISHED_PROCESSING
}

/// Pre-file-system-control: a request that changes the file's contents without a write
/// (`modify::fsctl_modifies`) hands the handle's context to the post-operation, which marks
/// the handle modified if the request succeeded. Nothing is queried, nothing is stored.
/// IRQL: `<= APC_LEVEL`.
pub unsafe extern "C" fn pre_file_system_control(
    data: PFLT_CALLBACK_DATA,
    objects: PCFLT_RELATED_OBJECTS,
    completion: *mut PVOID,
) -> FLT_PREOP_CALLBACK_STATUS {
    // SAFETY: the arguments Filter Manager passed to this callback.
    let Some((driver, op)) = (unsafe { begin(data, objects) }) else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    // SAFETY: `FileSystemControl` is the parameter member for IRP_MJ_FILE_SYSTEM_CONTROL.
    let control = unsafe { op.iopb.Parameters.FileSystemControl };
    // SAFETY: `Common` is the view every minor function shares; `FsControlCode` is at the
    // same offset in each (a plain copy of a ULONG).
    let code = unsafe { control.Common.FsControlCode };
    if !fsctl_modifies(op.iopb.MinorFunction, code) || driver.is_client(op.requestor()) {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    }
    let Some(context) = op.handle_context() else {
        return FLT_PREOP_SUCCESS_NO_CALLBACK;
    };
    // SAFETY: Filter Manager passes a valid completion-context out-pointer.
    unsafe { completion.write(context.into_raw().cast()) };
    FLT_PREOP_SUCCESS_WITH_CALLBACK
}

/// Post-file-system-control: takes the context back (always, draining or not, so its
/// reference is released) and marks the handle modified when the request succeeded.
/// IRQL: `<= DISPATCH_LEVEL`.
pub unsafe extern "C" fn post_file_system_control(
    data: PFLT_CALLBACK_DATA,
    _objects: PCFLT_RELATED_OBJECTS,
    completion: PVOID,
    flags: u32,
) -> FLT_POSTOP_CALLBACK_STATUS {
    // SAFETY: only `pre_file_system_control` returns FLT_PREOP_SUCCESS_WITH_CALLBACK, with
    // a context it gave up through `into_raw`; taken back once, here.
    let Some(context) = (unsafe { ContextRef::<HandleContext>::from_raw(completion.cast()) })
    else {
        return FLT_POSTOP_FINISHED_PROCESSING;
    };
    if flag_on(flags, FLTFL_POST_OPERATION_DRAINING) {
        return FLT_POSTOP_FINISHED_PROCESSING;
    }
    // SAFETY: valid callback data for this callback's duration.
    let Some(data) = (unsafe { data.as_ref() }) else {
        return FLT_POSTOP_FINISHED_PROCESSING;
    };
    // SAFETY: `Status` is the member of the IO_STATUS_BLOCK union Filter Manager fills
    // for a completed operation.
    let status = unsafe { data.IoStatus.__bindgen_anon_1.Status };
    if nt_success(status) {
        context.flags.note_modified();
    }
    FLT_POSTOP_FINISHED_PROCESSING
}
