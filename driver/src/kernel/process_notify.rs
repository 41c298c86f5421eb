//! The process-notify callback (`PsSetCreateProcessNotifyRoutineEx`): process start and
//! exit records. It copies what `PS_CREATE_NOTIFY_INFO` gives — ids and the bytes of the
//! image and command-line `UNICODE_STRING`s — into [`crate::process`], which builds the
//! record; nothing is parsed here.
//!
//! Registration needs the image's `FORCE_INTEGRITY` flag (`/INTEGRITYCHECK`); without it
//! the kernel refuses with `STATUS_ACCESS_DENIED` and the driver runs on without process
//! records (file records are unaffected), which the missing `CAP_PROCESSES` bit in the
//! hello says. Removal waits for calls in flight, so the unload removes the routine
//! before anything it uses goes away (see [`crate::lifecycle`]).

use core::sync::atomic::{AtomicBool, Ordering};

use picket_protocol::{LossReason, Record};
use wdk_sys::{
    ntddk::{
        ObfDereferenceObject, PsGetProcessExitStatus, PsGetProcessStartKey,
        PsSetCreateProcessNotifyRoutineEx,
    },
    HANDLE, NTSTATUS, PEPROCESS, PPS_CREATE_NOTIFY_INFO, ULONG,
};

use super::flt::nt_success;
use super::io::now;
use super::state::{driver, LIFE};
use super::ustr::bytes_of;
use crate::process::{exit_record, id_of, start_record, Created};
use crate::records::store;

// Declared here because the generated bindings (`wdk_sys::ntddk`, `flt`) do not carry them:
// `PsLookupProcessByProcessId` is in ntifs.h, `PsGetProcessSessionId` is an ntoskrnl export
// without a WDK header declaration.
extern "system" {
    /// `PsLookupProcessByProcessId` (ntifs.h, Windows 2000+): a referenced `EPROCESS` for a
    /// pid. IRQL <= `APC_LEVEL`.
    fn PsLookupProcessByProcessId(pid: HANDLE, process: *mut PEPROCESS) -> NTSTATUS;
    /// `PsGetProcessSessionId` (ntoskrnl export since Windows XP): the session of a
    /// referenced process. IRQL <= `APC_LEVEL`.
    fn PsGetProcessSessionId(process: PEPROCESS) -> ULONG;
}

/// Whether the routine is registered (and so must be removed at unload).
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the routine. IRQL: `PASSIVE_LEVEL`. Returns the status; failure is not fatal
/// to the driver (see the module docs).
pub fn register() -> NTSTATUS {
    // SAFETY: `notify` has the PCREATE_PROCESS_NOTIFY_ROUTINE_EX signature and lives as
    // long as the driver image; removed in `unregister` before unload completes.
    let status = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(notify), 0) };
    if nt_success(status) {
        REGISTERED.store(true, Ordering::Release);
    }
    status
}

/// Whether process records are reported (the hello's `CAP_PROCESSES`).
pub fn registered() -> bool {
    REGISTERED.load(Ordering::Acquire)
}

/// Removes the routine if it was registered; returns once no call of it is in flight.
/// IRQL: `PASSIVE_LEVEL`.
pub fn unregister() {
    if REGISTERED.swap(false, Ordering::AcqRel) {
        // SAFETY: the same routine registered in `register`; removal waits for the calls
        // in flight (rundown protection), after which none can start.
        let _ = unsafe { PsSetCreateProcessNotifyRoutineEx(Some(notify), 1) };
    }
}

/// The start key of process `pid`, 0 when it cannot be looked up (it exited already).
/// IRQL: `PASSIVE_LEVEL`.
fn start_key_of(pid: HANDLE) -> u64 {
    let mut process: PEPROCESS = core::ptr::null_mut();
    // SAFETY: `process` is a valid out-pointer; on success we hold a reference.
    let status = unsafe { PsLookupProcessByProcessId(pid, &raw mut process) };
    if !nt_success(status) || process.is_null() {
        return 0;
    }
    // SAFETY: `process` is referenced (looked up above).
    let key = unsafe { PsGetProcessStartKey(process) };
    // SAFETY: releases the reference PsLookupProcessByProcessId took, once.
    unsafe { ObfDereferenceObject(process.cast()) };
    key
}

/// Stores `record` when a client is connected and the driver runs; counts it lost
/// otherwise, as the file callbacks do.
fn emit(record: Record<'_>) {
    let Some(driver) = driver() else {
        return;
    };
    if !LIFE.accepting() {
        return;
    }
    if !driver.slot.is_connected() {
        driver.ring.drop_event(LossReason::NoClient);
        return;
    }
    let _ = store(&driver.ring, record);
}

/// `PCREATE_PROCESS_NOTIFY_ROUTINE_EX`. IRQL: `PASSIVE_LEVEL`, in a critical region, in the
/// context of the creating thread (start) or the last thread of the exiting process (exit).
/// `create_info` is non-null for a start and null for an exit.
unsafe extern "C" fn notify(process: PEPROCESS, pid: HANDLE, create_info: PPS_CREATE_NOTIFY_INFO) {
    if process.is_null() {
        return;
    }
    // SAFETY: the kernel passes the process being created or exiting, referenced for the
    // duration of the call.
    let start_key = unsafe { PsGetProcessStartKey(process) };
    let pid_u32 = id_of(pid as usize);
    // SAFETY: null for an exit; otherwise valid for the duration of the call.
    let Some(info) = (unsafe { create_info.as_ref() }) else {
        // SAFETY: as above; the process is exiting, so its exit status is set.
        let status = unsafe { PsGetProcessExitStatus(process) };
        #[allow(clippy::cast_sign_loss)] // the NTSTATUS bit pattern
        emit(exit_record(pid_u32, start_key, status as u32, now()));
        return;
    };
    // SAFETY: the strings in `info` are null or valid for the duration of the call, and the
    // record is encoded into the ring before we return.
    let image = unsafe { bytes_of(info.ImageFileName) };
    // SAFETY: as above (`CommandLine` is optional: null gives no bytes).
    let command_line = unsafe { bytes_of(info.CommandLine) };
    // SAFETY: the referenced process being created.
    let session_id = unsafe { PsGetProcessSessionId(process) };
    let created = Created {
        pid: pid_u32,
        start_key,
        parent_pid: id_of(info.ParentProcessId as usize),
        parent_start_key: start_key_of(info.ParentProcessId),
        creating_pid: id_of(info.CreatingThreadId.UniqueProcess as usize),
        creating_tid: id_of(info.CreatingThreadId.UniqueThread as usize),
        session_id,
        image,
        command_line,
    };
    emit(start_record(&created, now()));
}
