//! The communication port `\PicketPort`: administrators and SYSTEM only, one client at a
//! time, no message callback (the kernel never reads a user buffer).

use core::sync::atomic::Ordering;

use picket_protocol::{DriverHello, PORT_NAME_UTF16, PROTOCOL_MAJOR, PROTOCOL_MINOR};
use wdk_sys::{
    ntddk::{IoGetCurrentProcess, ObfDereferenceObjectWithTag, ObfReferenceObjectWithTag},
    NTSTATUS, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, PVOID, STATUS_CONNECTION_COUNT_LIMIT,
    STATUS_DELETE_PENDING, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
    STATUS_REVISION_MISMATCH, STATUS_SUCCESS,
};

use super::flt::{
    nt_success, object_attributes, FltBuildDefaultSecurityDescriptor, FltCloseClientPort,
    FltCloseCommunicationPort, FltCreateCommunicationPort, FltFreeSecurityDescriptor,
    FLT_PORT_ALL_ACCESS, PFLT_PORT,
};
use super::io::now;
use super::pool::TAG_CLIENT;
use super::state::{driver, Driver};
use super::ustr::unicode;
use crate::batch::store_hello;
use crate::connection::Refusal;

static PORT_NAME: [u16; 11] = PORT_NAME_UTF16;

/// One number of this crate's `major.minor.patch`, for the driver hello.
// Compile-time only: a malformed version fails the build, so no panic path exists at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn version_part(text: &str) -> u16 {
    let bytes = text.as_bytes();
    let mut value: u16 = 0;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u16;
        i += 1;
    }
    value
}

const DRIVER_VERSION: [u16; 3] = [
    version_part(env!("CARGO_PKG_VERSION_MAJOR")),
    version_part(env!("CARGO_PKG_VERSION_MINOR")),
    version_part(env!("CARGO_PKG_VERSION_PATCH")),
];

/// What this driver reports.
const CAPABILITIES: u64 = DriverHello::CAP_CREATE
    | DriverHello::CAP_FIRST_WRITE
    | DriverHello::CAP_CLOSE_MODIFIED
    | DriverHello::CAP_RENAME_LINK
    | DriverHello::CAP_DELETE
    | DriverHello::CAP_SET_INFO
    | DriverHello::CAP_FILE_IDS
    | DriverHello::CAP_HANDLE_IDS
    | DriverHello::CAP_STREAM_DELETES;

/// Creates the server port. `PASSIVE_LEVEL`.
pub fn create(driver: &Driver) -> NTSTATUS {
    let mut descriptor = core::ptr::null_mut();
    // SAFETY: `descriptor` is a valid out-pointer; FLT_PORT_ALL_ACCESS grants the port to
    // administrators and SYSTEM only.
    let status =
        unsafe { FltBuildDefaultSecurityDescriptor(&raw mut descriptor, FLT_PORT_ALL_ACCESS) };
    if !nt_success(status) {
        return status;
    }
    let mut name = unicode(&PORT_NAME);
    let mut attributes = object_attributes(
        &raw mut name,
        OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        core::ptr::null_mut(),
        descriptor,
    );
    // SAFETY: our filter; the server-port slot lives in the driver state; the attributes,
    // name and descriptor are valid for the call; at most one connection.
    let status = unsafe {
        FltCreateCommunicationPort(
            driver.filter,
            driver.server_port.as_ptr(),
            &raw mut attributes,
            core::ptr::null_mut(),
            Some(connect),
            Some(disconnect),
            None,
            1,
        )
    };
    // SAFETY: the descriptor came from FltBuildDefaultSecurityDescriptor; the port keeps
    // its own copy.
    unsafe { FltFreeSecurityDescriptor(descriptor) };
    status
}

/// Closes the server port and refuses every later connection. `PASSIVE_LEVEL`.
///
/// A connected client's port is deliberately not closed here: Filter Manager calls the
/// disconnect callback for it during `FltUnregisterFilter` (or earlier, when the client
/// goes away), and that callback is the one place that closes it. Two closers of the same
/// port variable would race, and the sender stops sending as soon as the slot is closed.
pub fn close(driver: &Driver) {
    let server = driver
        .server_port
        .swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !server.is_null() {
        // SAFETY: the server port we created, closed once (the swap).
        unsafe { FltCloseCommunicationPort(server) };
    }
    let _ = driver.slot.close();
}

/// Drops the reference on the client's process taken in `connect`, once.
fn forget_client_process(driver: &Driver) {
    let process = driver
        .client_process
        .swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !process.is_null() {
        // SAFETY: the reference `connect` took with this tag; the swap makes this the only
        // release of it. PASSIVE_LEVEL (port callbacks).
        unsafe { ObfDereferenceObjectWithTag(process.cast(), TAG_CLIENT) };
    }
}

/// Undoes a connection `connect` had begun but refuses: Filter Manager closes the client
/// port itself when the connect callback fails, and calls no disconnect callback.
fn refuse(driver: &Driver) {
    driver
        .client_port
        .store(core::ptr::null_mut(), Ordering::Release);
    forget_client_process(driver);
    driver.slot.abort();
}

/// Connect callback. IRQL: `PASSIVE_LEVEL`, in the connecting process.
unsafe extern "C" fn connect(
    client_port: PFLT_PORT,
    _server_cookie: PVOID,
    context: PVOID,
    context_len: u32,
    connection_cookie: *mut PVOID,
) -> NTSTATUS {
    let Some(driver) = driver() else {
        return STATUS_DELETE_PENDING;
    };
    let hello_bytes: &[u8] = if context.is_null() {
        &[]
    } else {
        // SAFETY: Filter Manager passes the connection context captured into kernel memory
        // with its size; it is valid for this call. Only its size, magic and version are
        // checked (`ClientHello::decode`).
        unsafe { core::slice::from_raw_parts(context.cast::<u8>(), context_len as usize) }
    };
    match driver.slot.begin(hello_bytes) {
        Ok(_) => {}
        Err(Refusal::Hello(picket_protocol::HelloError::UnsupportedMajor(_))) => {
            return STATUS_REVISION_MISMATCH
        }
        Err(Refusal::Hello(_)) => return STATUS_INVALID_PARAMETER,
        Err(Refusal::Busy) => return STATUS_CONNECTION_COUNT_LIMIT,
        Err(Refusal::Closed) => return STATUS_DELETE_PENDING,
    }
    // SAFETY: the connect callback runs in the context of the connecting process.
    let process = unsafe { IoGetCurrentProcess() };
    // The comparison in `Driver::is_client` never dereferences the process, but without a
    // reference its address could be reused by a new process (if the client's port handle
    // outlived it), which would then be silently skipped. Released in `disconnect`.
    // SAFETY: the current process is a valid object; PASSIVE_LEVEL.
    let _ = unsafe { ObfReferenceObjectWithTag(process.cast(), TAG_CLIENT) };
    // The slot was empty, so no reference is held; release one anyway if there were.
    forget_client_process(driver);
    driver.client_process.store(process, Ordering::Release);
    driver.client_port.store(client_port, Ordering::Release);
    let hello = DriverHello {
        driver_version: DRIVER_VERSION,
        protocol_major: PROTOCOL_MAJOR,
        protocol_minor: PROTOCOL_MINOR,
        capabilities: if super::process_notify::registered() {
            CAPABILITIES | DriverHello::CAP_PROCESSES
        } else {
            CAPABILITIES
        },
        ring_capacity: driver.config.ring_capacity,
        max_batch_bytes: driver.config.max_batch_bytes,
        send_timeout_ms: driver.config.send_timeout_ms,
    };
    let Some(first_seq) = store_hello(&driver.ring, now(), hello) else {
        // The ring is full: refuse; Filter Manager closes the client port itself.
        refuse(driver);
        return STATUS_INSUFFICIENT_RESOURCES;
    };
    if !driver.slot.complete(first_seq) {
        // Unload closed the slot while this client was connecting: a connection accepted
        // now would never be served and its port never closed by us.
        refuse(driver);
        return STATUS_DELETE_PENDING;
    }
    if !connection_cookie.is_null() {
        // SAFETY: a valid out-pointer from Filter Manager.
        unsafe { connection_cookie.write(core::ptr::null_mut()) };
    }
    driver.wake_sender();
    STATUS_SUCCESS
}

/// Disconnect callback (client exit, crash or close, or `FltUnregisterFilter` at unload).
/// IRQL: `PASSIVE_LEVEL`. The one place the client port is closed. Filter Manager accepts no
/// new connection (one at most) until this returns.
unsafe extern "C" fn disconnect(_connection_cookie: PVOID) {
    if let Some(driver) = driver() {
        // Not connected first, so the sender starts no new send on the port being closed.
        driver.slot.disconnect();
        // SAFETY: our filter and the client-port slot; Filter Manager synchronises this with
        // a `FltSendMessage` in flight on the same slot and sets it to NULL.
        unsafe { FltCloseClientPort(driver.filter, driver.client_port.as_ptr()) };
        forget_client_process(driver);
        driver.wake_sender();
    }
}
