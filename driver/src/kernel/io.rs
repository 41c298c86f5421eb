//! Safe views of what Filter Manager hands a callback: the callback data, file name
//! information and stream-handle contexts, each wrapped once with its release in `Drop`.

use core::ptr::NonNull;

use picket_protocol::{FileRef, Name, RecordHeader};
use wdk_sys::{
    ntddk::{KeQuerySystemTimePrecise, PsGetProcessId, PsGetProcessStartKey, PsGetThreadId},
    FILE_OBJECT, IRP_PAGING_IO, IRP_SYNCHRONOUS_PAGING_IO, LARGE_INTEGER, NTSTATUS, PEPROCESS,
    PFILE_OBJECT, POOL_TYPE,
};

use super::flt::{
    flag_on, nt_success, FltAllocateContext, FltGetFileNameInformation, FltGetRequestorProcess,
    FltGetStreamContext, FltGetStreamHandleContext, FltParseFileNameInformation, FltReleaseContext,
    FltReleaseFileNameInformation, FltSetStreamContext, FltSetStreamHandleContext,
    _FLT_SET_CONTEXT_OPERATION::FLT_SET_CONTEXT_KEEP_IF_EXISTS, FLT_CALLBACK_DATA,
    FLT_FILE_NAME_INFORMATION, FLT_FILE_NAME_NORMALIZED, FLT_IO_PARAMETER_BLOCK,
    FLT_RELATED_OBJECTS, FLT_STREAMHANDLE_CONTEXT, FLT_STREAM_CONTEXT, NAME_NORMALIZED,
    NAME_OPENED, PFLT_CALLBACK_DATA, PFLT_CONTEXT, PFLT_FILE_NAME_INFORMATION, PFLT_INSTANCE,
    STATUS_FLT_CONTEXT_ALREADY_DEFINED,
};
use super::ustr::bytes_of;
use crate::identity::is_named_stream;
use crate::records::{utf16_name, HandleFlags, StreamFlags};

/// A Filter Manager getter of one kind of context (`FltGetStreamHandleContext`,
/// `FltGetStreamContext`): the same signature for every kind.
type ContextGetter =
    unsafe extern "C" fn(PFLT_INSTANCE, PFILE_OBJECT, *mut PFLT_CONTEXT) -> NTSTATUS;

/// One operation as a callback sees it.
pub struct Op<'a> {
    /// The callback data (as a raw pointer too: Flt routines take it mutably).
    pub raw: PFLT_CALLBACK_DATA,
    /// The callback data.
    pub data: &'a FLT_CALLBACK_DATA,
    /// Its parameter block.
    pub iopb: &'a FLT_IO_PARAMETER_BLOCK,
    /// The related objects.
    pub objects: &'a FLT_RELATED_OBJECTS,
}

impl<'a> Op<'a> {
    /// Wraps the callback arguments.
    ///
    /// # Safety
    /// Both pointers are the ones Filter Manager passed to the running callback.
    pub unsafe fn new(
        data: PFLT_CALLBACK_DATA,
        objects: *const FLT_RELATED_OBJECTS,
    ) -> Option<Self> {
        // SAFETY: Filter Manager passes valid callback data for the callback's duration.
        let data_ref = unsafe { data.as_ref() }?;
        // SAFETY: `Iopb` of valid callback data points to its valid parameter block.
        let iopb = unsafe { data_ref.Iopb.as_ref() }?;
        // SAFETY: Filter Manager passes valid related objects for the callback's duration.
        let objects = unsafe { objects.as_ref() }?;
        Some(Self {
            raw: data,
            data: data_ref,
            iopb,
            objects,
        })
    }

    /// Paging I/O (memory or cache manager).
    pub fn is_paging_io(&self) -> bool {
        flag_on(
            self.iopb.IrpFlags,
            IRP_PAGING_IO | IRP_SYNCHRONOUS_PAGING_IO,
        )
    }

    /// The file object, if any.
    pub fn file_object(&self) -> Option<&'a FILE_OBJECT> {
        // SAFETY: a non-null FileObject in the related objects is valid for the callback.
        unsafe { self.objects.FileObject.as_ref() }
    }

    /// The process that requested the operation (not necessarily the current one: a
    /// post-operation callback may run in an arbitrary thread).
    pub fn requestor(&self) -> PEPROCESS {
        // SAFETY: valid callback data; callable at IRQL <= DISPATCH_LEVEL.
        unsafe { FltGetRequestorProcess(self.raw) }
    }

    /// The record header for this operation (sequence number filled by the ring).
    pub fn header(&self) -> RecordHeader {
        let process = self.requestor();
        let (pid, process_start_key) = if process.is_null() {
            (0, 0)
        } else {
            // SAFETY: `process` is the requestor's referenced EPROCESS for this operation.
            let pid = unsafe { PsGetProcessId(process) } as usize;
            // SAFETY: as above.
            let key = unsafe { PsGetProcessStartKey(process) };
            (pid, key)
        };
        let tid = if self.data.Thread.is_null() {
            0
        } else {
            // SAFETY: the originating thread of valid callback data.
            unsafe { PsGetThreadId(self.data.Thread) as usize }
        };
        RecordHeader {
            seq: 0,
            timestamp: now(),
            // PIDs and TIDs are multiples of 4 below 2^32 on Windows.
            pid: u32::try_from(pid).unwrap_or(u32::MAX),
            tid: u32::try_from(tid).unwrap_or(u32::MAX),
            process_start_key,
        }
    }

    /// The file's name as Filter Manager returns it: normalized where it can, opened
    /// otherwise. `IRQL <= APC_LEVEL`.
    pub fn name(&self) -> Option<FileName> {
        FileName::query(self.raw, NAME_NORMALIZED)
            .or_else(|| FileName::query(self.raw, NAME_OPENED))
    }

    /// The context `get` finds on this operation's file object (referenced for us), if any.
    /// `IRQL <= APC_LEVEL`.
    ///
    /// # Safety
    /// `T` is what Picket stores in contexts of `get`'s kind.
    unsafe fn context<T>(&self, get: ContextGetter) -> Option<ContextRef<T>> {
        let mut context = core::ptr::null_mut();
        // SAFETY: `get` is a Filter Manager context getter; valid instance and file object
        // of the running operation; `context` is a valid out-pointer.
        let status = unsafe {
            get(
                self.objects.Instance,
                self.objects.FileObject,
                &raw mut context,
            )
        };
        if !nt_success(status) {
            return None;
        }
        NonNull::new(context.cast::<T>()).map(ContextRef)
    }

    /// The stream-handle context Picket attached to this handle at create.
    /// `IRQL <= APC_LEVEL`.
    pub fn handle_context(&self) -> Option<ContextRef<HandleContext>> {
        // SAFETY: Picket's stream-handle contexts are all `HandleContext`s.
        unsafe { self.context(FltGetStreamHandleContext) }
    }

    /// The file's stream context, if a delete was ever requested on it.
    /// `IRQL <= APC_LEVEL`.
    pub fn stream_context(&self) -> Option<ContextRef<StreamContext>> {
        // SAFETY: Picket's stream contexts are all `StreamContext`s.
        unsafe { self.context(FltGetStreamContext) }
    }

    /// The file's stream context, created if missing; `None` where the file system does
    /// not support stream contexts or memory is short. `IRQL <= APC_LEVEL`.
    pub fn stream_context_or_create(&self) -> Option<ContextRef<StreamContext>> {
        if let Some(existing) = self.stream_context() {
            return Some(existing);
        }
        let fresh = allocate_context(
            self,
            FLT_STREAM_CONTEXT,
            StreamContext {
                flags: StreamFlags::new(),
            },
        )?;
        let mut old = core::ptr::null_mut();
        // SAFETY: valid instance and file object; the context is ours and initialised;
        // `old` is a valid out-pointer.
        let status = unsafe {
            FltSetStreamContext(
                self.objects.Instance,
                self.objects.FileObject,
                FLT_SET_CONTEXT_KEEP_IF_EXISTS,
                fresh.0.as_ptr().cast(),
                &raw mut old,
            )
        };
        if nt_success(status) {
            return Some(fresh);
        }
        if status == STATUS_FLT_CONTEXT_ALREADY_DEFINED {
            // Another thread attached one first: use it (`old` holds a reference for us).
            return NonNull::new(old.cast::<StreamContext>()).map(ContextRef);
        }
        None
    }
}

/// Allocates a Filter Manager context of `kind` holding `value`. `IRQL <= APC_LEVEL`.
fn allocate_context<T>(op: &Op<'_>, kind: u32, value: T) -> Option<ContextRef<T>> {
    let mut raw = core::ptr::null_mut();
    // SAFETY: our filter, a registered context type whose registered size is
    // `size_of::<T>()`; `raw` is a valid out-pointer.
    let status = unsafe {
        FltAllocateContext(
            op.objects.Filter,
            u16::try_from(kind).unwrap_or(0),
            core::mem::size_of::<T>() as u64,
            wdk_sys::_POOL_TYPE::NonPagedPoolNx as POOL_TYPE,
            &raw mut raw,
        )
    };
    if !nt_success(status) {
        return None;
    }
    let context = NonNull::new(raw.cast::<T>())?;
    // Filter Manager puts its own header before the context it hands back, so the pool's
    // 16-byte alignment does not carry over; only pointer alignment (8) is certain, which
    // the context types are held to (`CONTEXT_ALIGN`). Refuse rather than write misaligned.
    if !context.as_ptr().is_aligned() {
        // SAFETY: releases the one reference FltAllocateContext gave us (it frees the
        // still uninitialised context, which has no cleanup callback).
        unsafe { FltReleaseContext(raw) };
        return None;
    }
    // SAFETY: a fresh, aligned (checked) allocation of `size_of::<T>()` bytes.
    unsafe { context.as_ptr().write(value) };
    Some(ContextRef(context))
}

/// What Picket keeps per file stream (a stream context).
pub struct StreamContext {
    /// Delete candidacy shared by every handle on the stream.
    pub flags: StreamFlags,
}

/// Current system time, 100 ns units since 1601 (as `KeQuerySystemTimePrecise` returns).
pub fn now() -> u64 {
    let mut time = LARGE_INTEGER::default();
    // SAFETY: `time` is a valid out-pointer; callable at any IRQL <= DISPATCH_LEVEL.
    unsafe { KeQuerySystemTimePrecise(&raw mut time) };
    // SAFETY: reading the QuadPart view of a LARGE_INTEGER the kernel filled.
    let quad = unsafe { time.QuadPart };
    u64::try_from(quad).unwrap_or(0)
}

/// File name information from Filter Manager, released on drop.
pub struct FileName(NonNull<FLT_FILE_NAME_INFORMATION>);

impl FileName {
    fn query(data: PFLT_CALLBACK_DATA, options: u32) -> Option<Self> {
        let mut info: PFLT_FILE_NAME_INFORMATION = core::ptr::null_mut();
        // SAFETY: valid callback data; `info` is a valid out-pointer; the callers run at
        // IRQL <= APC_LEVEL.
        let status = unsafe { FltGetFileNameInformation(data, options, &raw mut info) };
        if !nt_success(status) {
            return None;
        }
        NonNull::new(info).map(Self)
    }

    /// Takes ownership of a reference Filter Manager returned (e.g. from
    /// `FltGetDestinationFileNameInformation`).
    ///
    /// # Safety
    /// `info` is null or a referenced name information this value may release.
    pub unsafe fn from_raw(info: PFLT_FILE_NAME_INFORMATION) -> Option<Self> {
        NonNull::new(info).map(Self)
    }

    /// The name's bytes (UTF-16LE, as returned), borrowed from the name information.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the name information is referenced while `self` lives; its `Name`
        // describes its own buffer. Callers run at IRQL <= APC_LEVEL (paged pool).
        let info = unsafe { self.0.as_ref() };
        // SAFETY: as above: `Name` is a valid UNICODE_STRING for `self`'s lifetime.
        unsafe { bytes_of(&raw const info.Name) }
    }

    /// Whether the name is normalized.
    pub fn normalized(&self) -> bool {
        // SAFETY: as in `bytes`.
        let info = unsafe { self.0.as_ref() };
        flag_on(info.Format, FLT_FILE_NAME_NORMALIZED)
    }

    /// The name for a record (the encoder cuts and flags overlong names; an odd stray byte
    /// is cut and flagged here, see [`utf16_name`]).
    pub fn record_name(&self) -> Name<'_> {
        utf16_name(self.bytes())
    }

    /// Whether the name is that of a named data stream (`file:stream`), from the stream
    /// component Filter Manager's own parser splits off (`FltParseFileNameInformation`);
    /// `false` when it cannot parse the name. `IRQL <= APC_LEVEL`.
    pub fn is_named_stream(&self) -> bool {
        // SAFETY: a referenced name information owned by `self`; parsing fills its
        // component views in place (Filter Manager's documented use) and is idempotent.
        let status = unsafe { FltParseFileNameInformation(self.0.as_ptr()) };
        if !nt_success(status) {
            return false;
        }
        // SAFETY: as in `bytes`.
        let info = unsafe { self.0.as_ref() };
        // SAFETY: after a successful parse `Stream` is a valid UNICODE_STRING viewing part
        // of the name's buffer, for `self`'s lifetime.
        is_named_stream(unsafe { bytes_of(&raw const info.Stream) })
    }
}

impl Drop for FileName {
    fn drop(&mut self) {
        // SAFETY: releases the one reference this value owns.
        unsafe { FltReleaseFileNameInformation(self.0.as_ptr()) };
    }
}

/// The alignment every context type may rely on: Filter Manager's context header guarantees
/// pointer alignment, not the pool's 16 bytes. A `u128` field (alignment 16 in Rust) would
/// let the compiler emit aligned 16-byte stores into a context that is only 8-aligned.
const CONTEXT_ALIGN: usize = core::mem::align_of::<*const u8>();
const _: () = assert!(core::mem::align_of::<HandleContext>() <= CONTEXT_ALIGN);
const _: () = assert!(core::mem::align_of::<StreamContext>() <= CONTEXT_ALIGN);

/// What Picket keeps per open handle (a stream-handle context).
pub struct HandleContext {
    /// The handle's identifier on the wire.
    pub handle_id: u64,
    /// The file's id, 128 bits little-endian (`FileInternalInformation` zero-extended, or
    /// `FileIdInformation` on `ReFS`), 0 when unknown. Kept as bytes, read as a `u128` only
    /// when a record is built: a `u128` field would need 16-byte alignment
    /// (see `CONTEXT_ALIGN`).
    pub file_id: [u8; 16],
    /// Directory or file.
    pub is_directory: bool,
    /// Write / modification / delete-intent flags.
    pub flags: HandleFlags,
}

impl HandleContext {
    /// The file reference for records about this handle.
    pub fn file_ref(&self, name_normalized: bool) -> FileRef {
        FileRef {
            handle_id: self.handle_id,
            file_id: u128::from_le_bytes(self.file_id),
            is_directory: self.is_directory,
            name_normalized,
        }
    }

    /// Allocates a context holding `value` and attaches it to the handle of `op` (keeping
    /// an existing one). `IRQL <= APC_LEVEL`.
    pub fn attach(op: &Op<'_>, value: Self) -> Option<ContextRef<Self>> {
        let owned = allocate_context(op, FLT_STREAMHANDLE_CONTEXT, value)?;
        let raw = owned.0.as_ptr().cast();
        // SAFETY: valid instance and file object; the context is ours and initialised.
        let status = unsafe {
            FltSetStreamHandleContext(
                op.objects.Instance,
                op.objects.FileObject,
                FLT_SET_CONTEXT_KEEP_IF_EXISTS,
                raw,
                core::ptr::null_mut(),
            )
        };
        nt_success(status).then_some(owned)
    }
}

/// A referenced Filter Manager context, released on drop. `IRQL <= DISPATCH_LEVEL` for
/// the release.
pub struct ContextRef<T>(NonNull<T>);

impl<T> ContextRef<T> {
    /// Gives up the reference as a raw pointer (e.g. a completion context), to be taken
    /// back exactly once with [`ContextRef::from_raw`].
    pub fn into_raw(self) -> *mut T {
        let raw = self.0.as_ptr();
        core::mem::forget(self);
        raw
    }

    /// Takes back a reference given up by [`ContextRef::into_raw`].
    ///
    /// # Safety
    /// `raw` came from `into_raw` of a `ContextRef<T>` and is taken back only once.
    pub unsafe fn from_raw(raw: *mut T) -> Option<Self> {
        NonNull::new(raw).map(Self)
    }
}

impl<T> core::ops::Deref for ContextRef<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the context is initialised (`attach` wrote it before setting it) and
        // referenced while `self` lives.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Drop for ContextRef<T> {
    fn drop(&mut self) {
        // SAFETY: releases the one reference this value owns.
        unsafe { FltReleaseContext(self.0.as_ptr().cast()) };
    }
}
