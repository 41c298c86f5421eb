//! `DriverEntry`, the Filter Manager registration and the unload routine.

use wdk_sys::{
    IRP_MJ_CLEANUP, IRP_MJ_CREATE, IRP_MJ_FILE_SYSTEM_CONTROL, IRP_MJ_SET_INFORMATION,
    IRP_MJ_WRITE, NTSTATUS, PCUNICODE_STRING, PDRIVER_OBJECT, STATUS_INSUFFICIENT_RESOURCES,
    STATUS_SUCCESS,
};

use super::callbacks::{
    post_cleanup, post_create, post_file_system_control, post_set_information, pre_cleanup,
    pre_file_system_control, pre_set_information, pre_write,
};
use super::flt::{
    nt_success, FltRegisterFilter, FltStartFiltering, FltUnregisterFilter,
    FLTFL_OPERATION_REGISTRATION_SKIP_PAGING_IO, FLT_CONTEXT_END, FLT_CONTEXT_REGISTRATION,
    FLT_FILTER_UNLOAD_FLAGS, FLT_INSTANCE_QUERY_TEARDOWN_FLAGS, FLT_OPERATION_REGISTRATION,
    FLT_REGISTRATION, FLT_REGISTRATION_VERSION, FLT_STREAMHANDLE_CONTEXT, FLT_STREAM_CONTEXT,
    IRP_MJ_OPERATION_END, PCFLT_RELATED_OBJECTS,
};
use super::io::{HandleContext, StreamContext};
use super::pool::{TAG_HANDLE, TAG_STREAM};
use super::state::{driver, publish, withdraw, Driver, LIFE};
use super::volume::instance_setup;
use super::{port, process_notify, registry, sender};
use crate::lifecycle::Stage;

/// Makes the registration tables (which hold raw pointers) usable as statics. They are
/// immutable and only read by Filter Manager.
#[repr(transparent)]
struct Table<T>(T);
// SAFETY: the tables are never written after compilation; sharing read-only data is sound.
unsafe impl<T> Sync for Table<T> {}

static CONTEXTS: Table<[FLT_CONTEXT_REGISTRATION; 3]> = Table([
    FLT_CONTEXT_REGISTRATION {
        #[allow(clippy::cast_possible_truncation)] // 0x0010
        ContextType: FLT_STREAMHANDLE_CONTEXT as u16,
        Flags: 0,
        // HandleContext owns nothing that needs releasing.
        ContextCleanupCallback: None,
        Size: core::mem::size_of::<HandleContext>() as u64,
        PoolTag: TAG_HANDLE,
        ContextAllocateCallback: None,
        ContextFreeCallback: None,
        Reserved1: core::ptr::null_mut(),
    },
    FLT_CONTEXT_REGISTRATION {
        #[allow(clippy::cast_possible_truncation)] // 0x0008
        ContextType: FLT_STREAM_CONTEXT as u16,
        Flags: 0,
        // StreamContext owns nothing that needs releasing.
        ContextCleanupCallback: None,
        Size: core::mem::size_of::<StreamContext>() as u64,
        PoolTag: TAG_STREAM,
        ContextAllocateCallback: None,
        ContextFreeCallback: None,
        Reserved1: core::ptr::null_mut(),
    },
    FLT_CONTEXT_REGISTRATION {
        #[allow(clippy::cast_possible_truncation)] // 0xffff
        ContextType: FLT_CONTEXT_END as u16,
        Flags: 0,
        ContextCleanupCallback: None,
        Size: 0,
        PoolTag: 0,
        ContextAllocateCallback: None,
        ContextFreeCallback: None,
        Reserved1: core::ptr::null_mut(),
    },
]);

const fn operation(
    major: u32,
    flags: u32,
    pre: super::flt::PFLT_PRE_OPERATION_CALLBACK,
    post: super::flt::PFLT_POST_OPERATION_CALLBACK,
) -> FLT_OPERATION_REGISTRATION {
    FLT_OPERATION_REGISTRATION {
        #[allow(clippy::cast_possible_truncation)] // IRP_MJ_* codes are below 0x100
        MajorFunction: major as u8,
        Flags: flags,
        PreOperation: pre,
        PostOperation: post,
        Reserved1: core::ptr::null_mut(),
    }
}

static OPERATIONS: Table<[FLT_OPERATION_REGISTRATION; 6]> = Table([
    operation(IRP_MJ_CREATE, 0, None, Some(post_create)),
    operation(
        IRP_MJ_WRITE,
        FLTFL_OPERATION_REGISTRATION_SKIP_PAGING_IO,
        Some(pre_write),
        None,
    ),
    operation(
        IRP_MJ_SET_INFORMATION,
        FLTFL_OPERATION_REGISTRATION_SKIP_PAGING_IO,
        Some(pre_set_information),
        Some(post_set_information),
    ),
    operation(IRP_MJ_CLEANUP, 0, Some(pre_cleanup), Some(post_cleanup)),
    operation(
        IRP_MJ_FILE_SYSTEM_CONTROL,
        0,
        Some(pre_file_system_control),
        Some(post_file_system_control),
    ),
    operation(IRP_MJ_OPERATION_END as u32, 0, None, None),
]);

static REGISTRATION: Table<FLT_REGISTRATION> = Table(FLT_REGISTRATION {
    #[allow(clippy::cast_possible_truncation)] // 112 bytes
    Size: core::mem::size_of::<FLT_REGISTRATION>() as u16,
    #[allow(clippy::cast_possible_truncation)] // 0x0203
    Version: FLT_REGISTRATION_VERSION as u16,
    Flags: 0,
    ContextRegistration: CONTEXTS.0.as_ptr(),
    OperationRegistration: OPERATIONS.0.as_ptr(),
    FilterUnloadCallback: Some(unload),
    InstanceSetupCallback: Some(instance_setup),
    InstanceQueryTeardownCallback: Some(query_teardown),
    InstanceTeardownStartCallback: None,
    InstanceTeardownCompleteCallback: None,
    GenerateFileNameCallback: None,
    NormalizeNameComponentCallback: None,
    NormalizeContextCleanupCallback: None,
    TransactionNotificationCallback: None,
    NormalizeNameComponentExCallback: None,
    SectionNotificationCallback: None,
});

/// Driver entry point. IRQL: `PASSIVE_LEVEL`.
///
/// Order: configuration, filter registration, state (ring, buffers), port, sender thread,
/// then filtering. Any failure unwinds through the same steps as unload.
///
/// # Safety
/// Called once by the I/O manager with a valid driver object and registry path.
#[cfg_attr(not(test), unsafe(export_name = "DriverEntry"))]
pub unsafe extern "system" fn driver_entry(
    driver_object: PDRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    let config = registry::read_config(registry_path);
    let mut filter = core::ptr::null_mut();
    // SAFETY: the driver object we were given; the registration is a static that outlives
    // the filter; `filter` is a valid out-pointer.
    let status =
        unsafe { FltRegisterFilter(driver_object, &raw const REGISTRATION.0, &raw mut filter) };
    if !nt_success(status) {
        return status;
    }
    let Ok(state) = Driver::create(filter, config) else {
        // SAFETY: the filter registered above, not started; unregistered once.
        unsafe { FltUnregisterFilter(filter) };
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    publish(state);
    let Some(state) = driver() else {
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    let mut status = port::create(state);
    if nt_success(status) {
        status = sender::start(state);
    }
    if nt_success(status) {
        // Not fatal: without FORCE_INTEGRITY (or with the kernel's notify slots all taken)
        // the driver reports files only, and its hello says so.
        let _ = process_notify::register();
    }
    if nt_success(status) && LIFE.advance(Stage::Running).is_ok() {
        // SAFETY: our registered filter, started once.
        status = unsafe { FltStartFiltering(filter) };
    }
    if !nt_success(status) {
        teardown();
    }
    status
}

/// Instance query-teardown (`fltmc detach`). IRQL: `PASSIVE_LEVEL`. Always agrees: a
/// detached volume is simply no longer watched. Without this callback Filter Manager
/// refuses every manual detach (unload is unaffected).
unsafe extern "C" fn query_teardown(
    _objects: PCFLT_RELATED_OBJECTS,
    _flags: FLT_INSTANCE_QUERY_TEARDOWN_FLAGS,
) -> NTSTATUS {
    STATUS_SUCCESS
}

/// Filter unload callback (`fltmc unload`, service stop). IRQL: `PASSIVE_LEVEL`.
unsafe extern "C" fn unload(_flags: FLT_FILTER_UNLOAD_FLAGS) -> NTSTATUS {
    teardown();
    STATUS_SUCCESS
}

/// Unload order, enforced by the lifecycle state machine: stop storing records, remove the
/// process-notify routine, close the server port (no new client), stop and join the sender thread, unregister (Filter Manager
/// calls the disconnect callback for a connected client, drains callbacks and frees our
/// contexts), free everything.
///
/// The sender is joined *before* `FltUnregisterFilter`: it passes the filter pointer to
/// every `FltSendMessage`, and that pointer is dead once `FltUnregisterFilter` returns.
fn teardown() {
    let _ = LIFE.advance(Stage::Stopping);
    let Some(state) = driver() else {
        return;
    };
    let filter = state.filter;
    // The process-notify routine stores into the ring: removed (calls in flight drained)
    // before anything else goes.
    process_notify::unregister();
    if LIFE.advance(Stage::ProcessNotifyRemoved).is_err() {
        return;
    }
    port::close(state);
    if LIFE.advance(Stage::PortClosed).is_err() {
        return;
    }
    sender::stop(state);
    if LIFE.advance(Stage::SenderStopped).is_err() {
        return;
    }
    // SAFETY: our registered filter; the server port is closed and nothing calls
    // FltSendMessage any more; unregistered once (the stage advance below cannot succeed
    // twice).
    unsafe { FltUnregisterFilter(filter) };
    if LIFE.advance(Stage::Unregistered).is_err() {
        return;
    }
    drop(withdraw());
    let _ = LIFE.advance(Stage::Freed);
}
