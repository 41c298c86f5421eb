//! The fake ntoskrnl and Filter Manager: one handler per export the driver imports (the
//! table [`EXPORTS`], speakeasy's shape), each with its documented maximum IRQL. An import
//! missing from the table fails the load, naming it. Handlers are strict: a call Windows or
//! Driver Verifier would reject is a [`Violation`], not a guess.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::emu::{Emu, Flow, DATA_BASE};
use crate::fs::Fs;
use crate::layout as l;
use crate::verifier::{irql, Rule, Violation};

/// NTSTATUS values the fakes return.
pub mod status {
    /// `STATUS_SUCCESS`.
    pub const SUCCESS: u32 = 0;
    /// `STATUS_TIMEOUT`.
    pub const TIMEOUT: u32 = 0x102;
    /// `STATUS_BUFFER_OVERFLOW`.
    pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    /// `STATUS_INVALID_INFO_CLASS`.
    pub const INVALID_INFO_CLASS: u32 = 0xC000_0003;
    /// `STATUS_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: u32 = 0xC000_000D;
    /// `STATUS_BUFFER_TOO_SMALL`.
    pub const BUFFER_TOO_SMALL: u32 = 0xC000_0023;
    /// `STATUS_OBJECT_NAME_NOT_FOUND`.
    pub const OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
    /// `STATUS_PORT_DISCONNECTED`.
    pub const PORT_DISCONNECTED: u32 = 0xC000_0037;
    /// `STATUS_INSUFFICIENT_RESOURCES`.
    pub const INSUFFICIENT_RESOURCES: u32 = 0xC000_009A;
    /// `STATUS_FILE_DELETED`.
    pub const FILE_DELETED: u32 = 0xC000_0123;
    /// `STATUS_NOT_FOUND`.
    pub const NOT_FOUND: u32 = 0xC000_0225;
    /// `STATUS_CONNECTION_COUNT_LIMIT`.
    pub const CONNECTION_COUNT_LIMIT: u32 = 0xC000_0246;
    /// `STATUS_REVISION_MISMATCH`.
    pub const REVISION_MISMATCH: u32 = 0xC000_0059;
    /// `STATUS_FLT_CONTEXT_ALREADY_DEFINED`.
    pub const FLT_CONTEXT_ALREADY_DEFINED: u32 = 0xC01C_0002;
    /// `STATUS_OBJECTID_NOT_FOUND`.
    pub const OBJECTID_NOT_FOUND: u32 = 0xC000_02F0;
    /// `STATUS_FLT_INVALID_NAME_REQUEST`.
    pub const FLT_INVALID_NAME_REQUEST: u32 = 0xC01C_0005;
    /// `STATUS_PENDING`.
    pub const PENDING: u32 = 0x103;
    /// `STATUS_ACCESS_DENIED`.
    pub const ACCESS_DENIED: u32 = 0xC000_0022;
    /// `STATUS_PROCEDURE_NOT_FOUND`.
    pub const PROCEDURE_NOT_FOUND: u32 = 0xC000_007A;
}

/// Where the `POBJECT_TYPE` that the variable `PsThreadType` points to is stored.
pub const THREAD_TYPE_VAR: u64 = DATA_BASE + 0x800;
/// The fake thread object type (`*PsThreadType`).
pub const THREAD_TYPE: u64 = DATA_BASE + 0x900;

/// One export of the fake kernel.
pub struct Export {
    /// Module that exports it.
    pub library: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Highest IRQL it may be called at (documented).
    pub max_irql: u8,
    /// For a data export: the variable's value.
    pub data: Option<u64>,
    /// The handler (unused for data exports).
    pub run: fn(&mut Emu) -> Result<Flow, Violation>,
}

const NT: &str = "ntoskrnl.exe";
const FLT: &str = "FLTMGR.SYS";

const fn f(
    name: &'static str,
    max_irql: u8,
    run: fn(&mut Emu) -> Result<Flow, Violation>,
) -> Export {
    Export {
        library: NT,
        name,
        max_irql,
        data: None,
        run,
    }
}
const fn m(
    name: &'static str,
    max_irql: u8,
    run: fn(&mut Emu) -> Result<Flow, Violation>,
) -> Export {
    Export {
        library: FLT,
        name,
        max_irql,
        data: None,
        run,
    }
}

use irql::{APC, DISPATCH, HIGH, PASSIVE};

/// Every export the fake kernel implements. Add a line (and a handler) when the driver
/// imports something new; until then loading fails naming the import.
pub const EXPORTS: &[Export] = &[
    f("ExAllocatePool2", DISPATCH, ex_allocate_pool2),
    f("ExFreePoolWithTag", DISPATCH, ex_free_pool_with_tag),
    f("FsRtlIsPagingFile", APC, fs_rtl_is_paging_file),
    f("IoGetCurrentProcess", HIGH, io_get_current_process),
    f(
        "KeAcquireSpinLockRaiseToDpc",
        DISPATCH,
        ke_acquire_spin_lock_raise_to_dpc,
    ),
    f("KeReleaseSpinLock", DISPATCH, ke_release_spin_lock),
    f("KeInitializeEvent", HIGH, ke_initialize_event),
    f(
        "KeQuerySystemTimePrecise",
        HIGH,
        ke_query_system_time_precise,
    ),
    f("KeSetEvent", DISPATCH, ke_set_event),
    f("KeWaitForSingleObject", DISPATCH, ke_wait_for_single_object),
    f(
        "ObReferenceObjectByHandle",
        PASSIVE,
        ob_reference_object_by_handle,
    ),
    f("ObfDereferenceObject", DISPATCH, ob_dereference_object),
    f(
        "ObfDereferenceObjectWithTag",
        DISPATCH,
        ob_dereference_object_with_tag,
    ),
    f("ObfReferenceObject", DISPATCH, ob_reference_object),
    f(
        "ObfReferenceObjectWithTag",
        DISPATCH,
        ob_reference_object_with_tag,
    ),
    f("PsCreateSystemThread", PASSIVE, ps_create_system_thread),
    f(
        "PsGetProcessExitStatus",
        APC,
        crate::process::ps_get_process_exit_status,
    ),
    f("PsGetProcessId", HIGH, ps_get_process_id),
    // No WDK header declares it; the driver holds it to APC_LEVEL, as the lookup it pairs with.
    f(
        "PsGetProcessSessionId",
        APC,
        crate::process::ps_get_process_session_id,
    ),
    f("PsGetProcessStartKey", HIGH, ps_get_process_start_key),
    f("PsGetThreadId", HIGH, ps_get_thread_id),
    f(
        "PsLookupProcessByProcessId",
        APC,
        crate::process::ps_lookup_process_by_process_id,
    ),
    f(
        "PsSetCreateProcessNotifyRoutineEx",
        PASSIVE,
        crate::process::ps_set_create_process_notify_routine_ex,
    ),
    f(
        "PsTerminateSystemThread",
        PASSIVE,
        ps_terminate_system_thread,
    ),
    Export {
        library: NT,
        name: "PsThreadType",
        max_irql: HIGH,
        data: Some(THREAD_TYPE_VAR),
        run: data_export,
    },
    f("ZwClose", PASSIVE, zw_close),
    f("ZwOpenKey", PASSIVE, zw_open_key),
    f("ZwQueryValueKey", PASSIVE, zw_query_value_key),
    f("ZwWaitForSingleObject", PASSIVE, zw_wait_for_single_object),
    f("memcpy", HIGH, memcpy),
    f("memmove", HIGH, memcpy),
    f("memset", HIGH, memset),
    m("FltAllocateContext", APC, flt_allocate_context),
    m(
        "FltBuildDefaultSecurityDescriptor",
        PASSIVE,
        flt_build_default_security_descriptor,
    ),
    m("FltCloseClientPort", PASSIVE, flt_close_client_port),
    m(
        "FltCloseCommunicationPort",
        PASSIVE,
        flt_close_communication_port,
    ),
    m(
        "FltCreateCommunicationPort",
        PASSIVE,
        flt_create_communication_port,
    ),
    m(
        "FltFindExtraCreateParameter",
        APC,
        flt_find_extra_create_parameter,
    ),
    m("FltFsControlFile", PASSIVE, flt_fs_control_file),
    m("FltIsVolumeSnapshot", APC, flt_is_volume_snapshot),
    m("FltIsVolumeWritable", APC, flt_is_volume_writable),
    m(
        "FltParseFileNameInformation",
        APC,
        flt_parse_file_name_information,
    ),
    m(
        "FltQueryVolumeInformation",
        PASSIVE,
        flt_query_volume_information,
    ),
    m(
        "FltFreeSecurityDescriptor",
        PASSIVE,
        flt_free_security_descriptor,
    ),
    m(
        "FltGetDestinationFileNameInformation",
        APC,
        flt_get_destination_file_name_information,
    ),
    m(
        "FltGetEcpListFromCallbackData",
        APC,
        flt_get_ecp_list_from_callback_data,
    ),
    m(
        "FltGetFileNameInformation",
        APC,
        flt_get_file_name_information,
    ),
    m(
        "FltGetRequestorProcess",
        DISPATCH,
        flt_get_requestor_process,
    ),
    m("FltGetStreamContext", APC, flt_get_stream_context),
    m(
        "FltGetStreamHandleContext",
        APC,
        flt_get_stream_handle_context,
    ),
    m("FltIsDirectory", APC, flt_is_directory),
    m("FltIsEcpFromUserMode", APC, flt_is_ecp_from_user_mode),
    m(
        "FltQueryInformationFile",
        PASSIVE,
        flt_query_information_file,
    ),
    m("FltRegisterFilter", PASSIVE, flt_register_filter),
    m("FltReleaseContext", DISPATCH, flt_release_context),
    m(
        "FltReleaseFileNameInformation",
        APC,
        flt_release_file_name_information,
    ),
    m("FltSendMessage", APC, flt_send_message),
    m("FltSetStreamContext", APC, flt_set_stream_context),
    m(
        "FltSetStreamHandleContext",
        APC,
        flt_set_stream_handle_context,
    ),
    m("FltStartFiltering", PASSIVE, flt_start_filtering),
    m("FltUnregisterFilter", PASSIVE, flt_unregister_filter),
];

/// A live pool allocation.
#[derive(Clone, Debug)]
pub struct PoolAlloc {
    /// Bytes.
    pub size: u64,
    /// Pool tag.
    pub tag: u32,
    /// Who allocated it.
    pub caller: String,
}

/// A kernel event.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// Synchronization (auto-reset) rather than notification.
    pub synchronization: bool,
    /// Signalled.
    pub signaled: bool,
}

/// What a kernel handle refers to.
#[derive(Clone, Debug)]
pub enum Handle {
    /// A registry key (lower-case path).
    Key(String),
    /// A thread (its fake `ETHREAD`).
    Thread(u64),
}

/// One registered operation.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    /// `IRP_MJ_*`.
    pub major: u8,
    /// `FLTFL_OPERATION_REGISTRATION_*`.
    pub flags: u32,
    /// Pre-operation callback (0: none).
    pub pre: u64,
    /// Post-operation callback (0: none).
    pub post: u64,
}

/// One registered context type.
#[derive(Clone, Copy, Debug)]
pub struct ContextType {
    /// `FLT_*_CONTEXT`.
    pub kind: u16,
    /// Registered size.
    pub size: u64,
    /// Pool tag.
    pub tag: u32,
}

/// The registered filter, read from the driver's `FLT_REGISTRATION` in guest memory.
#[derive(Clone, Debug)]
pub struct Filter {
    /// The `PFLT_FILTER` handed out.
    pub object: u64,
    /// `FLT_REGISTRATION.Size`.
    pub size: u16,
    /// `FLT_REGISTRATION.Version`.
    pub version: u16,
    /// Operations.
    pub operations: Vec<Operation>,
    /// Context types.
    pub contexts: Vec<ContextType>,
    /// `FilterUnloadCallback`.
    pub unload: u64,
    /// `InstanceSetupCallback`.
    pub instance_setup: u64,
    /// `InstanceQueryTeardownCallback`.
    pub query_teardown: u64,
    /// `FltStartFiltering` was called.
    pub started: bool,
    /// `FltUnregisterFilter` was called.
    pub unregistered: bool,
}

/// The server port.
#[derive(Clone, Debug)]
pub struct ServerPort {
    /// The `PFLT_PORT` handed out.
    pub object: u64,
    /// Its name.
    pub name: String,
    /// Connect notify callback.
    pub connect: u64,
    /// Disconnect notify callback.
    pub disconnect: u64,
    /// Message notify callback (0: none).
    pub message: u64,
    /// `MaxConnections`.
    pub max_connections: u32,
    /// Server cookie.
    pub cookie: u64,
    /// Closed by `FltCloseCommunicationPort`.
    pub closed: bool,
}

/// A connected client.
#[derive(Clone, Debug)]
pub struct Client {
    /// The client port object handed to the connect callback.
    pub port: u64,
    /// The connection cookie the driver returned.
    pub cookie: u64,
    /// The client port was closed by the driver (`FltCloseClientPort`).
    pub closed: bool,
}

/// A Filter Manager context.
#[derive(Clone, Debug)]
pub struct Context {
    /// `FLT_*_CONTEXT`.
    pub kind: u16,
    /// References (the allocation's, the attachment's, each getter's).
    pub refs: i64,
    /// Who allocated it.
    pub caller: String,
}

/// File name information handed out.
#[derive(Clone, Debug)]
pub struct NameInfo {
    /// References.
    pub refs: i64,
    /// The name.
    pub name: String,
    /// Who asked for it.
    pub caller: String,
}

/// A fake process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Process {
    /// Process id.
    pub pid: u64,
    /// Process start key.
    pub start_key: u64,
    /// Terminal-services session.
    pub session_id: u32,
    /// Set when the process has exited (`PsGetProcessExitStatus`; `STATUS_PENDING` before).
    pub exit_status: Option<u32>,
    /// Its id left the process table: `PsLookupProcessByProcessId` no longer finds it.
    pub deleted: bool,
}

/// Faults the tests inject into the fake kernel.
#[derive(Clone, Debug, Default)]
pub struct Inject {
    /// Every Nth pool or context allocation fails (Driver Verifier's low-resources
    /// simulation, deterministic).
    pub fail_every_nth_allocation: Option<u64>,
    /// Statuses the next `FltSendMessage` calls return instead of delivering.
    pub send_statuses: VecDeque<u32>,
    /// Every name query fails.
    pub fail_name_queries: bool,
    /// Deliberately broken fake: `ExFreePoolWithTag` of this tag frees nothing (a leak
    /// the Verifier must report).
    pub lose_frees_of_tag: Option<u32>,
    /// Deliberately broken fake: `FltReleaseFileNameInformation` releases nothing.
    pub lose_name_releases: bool,
    /// Deliberately broken fake: pre-write callbacks run at this IRQL.
    pub pre_write_irql: Option<u8>,
    /// Deliberately broken fake: every free is performed twice.
    pub free_twice: bool,
    /// Deliberately broken fake: `PsSetCreateProcessNotifyRoutineEx(.., TRUE)` reports
    /// success but leaves the routine registered (the unload-order check must catch it).
    pub keep_process_notify: bool,
}

/// Counters of allocation calls (for the Nth-failure injection).
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Pool and context allocations attempted.
    pub allocations: u64,
    /// Allocations failed on purpose.
    pub failed_allocations: u64,
}

/// The fake kernel's state.
#[derive(Default)]
pub struct Kernel {
    /// Calls per export.
    pub calls: HashMap<&'static str, u64>,
    /// Live pool allocations.
    pub pool: BTreeMap<u64, PoolAlloc>,
    /// Freed pool allocations.
    pub freed_pool: HashSet<u64>,
    /// Events by address.
    pub events: HashMap<u64, Event>,
    /// Spin locks held: lock → thread index.
    pub spin_held: HashMap<u64, usize>,
    /// Open kernel handles.
    pub handles: HashMap<u64, Handle>,
    next_handle: u64,
    /// References taken by the driver on objects (net).
    pub object_refs: HashMap<u64, i64>,
    /// References taken with a tag (net).
    pub tagged_refs: HashMap<(u64, u32), i64>,
    /// Registry keys (lower-case path) and their values (name, type, data).
    pub registry: HashMap<String, Vec<(String, u32, Vec<u8>)>>,
    /// The filter.
    pub filter: Option<Filter>,
    /// The server port.
    pub port: Option<ServerPort>,
    /// The connected client.
    pub client: Option<Client>,
    /// Every buffer `FltSendMessage` delivered.
    pub messages: Vec<Vec<u8>>,
    /// `FltSendMessage` calls that returned a failure (injected or disconnected).
    pub failed_sends: u64,
    /// Security descriptors not yet freed.
    pub security_descriptors: HashSet<u64>,
    /// Contexts by address.
    pub contexts: HashMap<u64, Context>,
    /// Name information by address.
    pub names: HashMap<u64, NameInfo>,
    /// Fake processes by `EPROCESS` address.
    pub processes: HashMap<u64, Process>,
    /// Fake non-system threads (`ETHREAD` → tid) of the processes doing I/O.
    pub io_threads: HashMap<u64, u64>,
    /// Registered `PsSetCreateProcessNotifyRoutineEx` routines, in registration order.
    pub process_notify: Vec<u64>,
    /// Routines removed with `PsSetCreateProcessNotifyRoutineEx(.., TRUE)`.
    pub process_notify_removed: u64,
    /// What `IoGetCurrentProcess` returns.
    pub current_process: u64,
    /// The system process.
    pub system_process: u64,
    /// Fault injection.
    pub inject: Inject,
    /// Counters.
    pub counters: Counters,
    /// The fake file system and the operations in flight.
    pub fs: Fs,
}

impl Kernel {
    /// A kernel with the service key `\Registry\Machine\System\CurrentControlSet\Services\Picket`
    /// and, when `parameters` is given, its `Parameters` subkey with those DWORD values.
    #[must_use]
    pub fn new(parameters: Option<&[(&str, u32)]>) -> Self {
        let mut k = Self {
            next_handle: 0xFFFF_FFFF_8000_0004,
            ..Self::default()
        };
        k.registry.insert(SERVICE_KEY.to_lowercase(), Vec::new());
        if let Some(values) = parameters {
            k.registry.insert(
                format!("{SERVICE_KEY}\\Parameters").to_lowercase(),
                values
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), 4, value.to_le_bytes().to_vec()))
                    .collect(),
            );
        }
        k
    }

    fn new_handle(&mut self, handle: Handle) -> u64 {
        let h = self.next_handle;
        self.next_handle += 4;
        self.handles.insert(h, handle);
        h
    }
}

/// The driver's service key, as the I/O manager passes it to `DriverEntry`.
pub const SERVICE_KEY: &str = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\Picket";

/// Creates the system process and the fake objects.
///
/// # Errors
/// Emulator errors.
pub fn setup(emu: &mut Emu) -> Result<(), Violation> {
    let system = new_process(emu, 4, 1)?;
    emu.k.system_process = system;
    emu.k.current_process = system;
    emu.w64(THREAD_TYPE_VAR, THREAD_TYPE)?;
    Ok(())
}

/// A fake process object.
///
/// # Errors
/// Emulator errors.
pub fn new_process(emu: &mut Emu, pid: u64, start_key: u64) -> Result<u64, Violation> {
    let object = emu.alloc(0xA00)?;
    emu.k.processes.insert(
        object,
        Process {
            pid,
            start_key,
            ..Process::default()
        },
    );
    Ok(object)
}

/// A fake thread of a process doing I/O.
///
/// # Errors
/// Emulator errors.
pub fn new_io_thread(emu: &mut Emu, tid: u64) -> Result<u64, Violation> {
    let object = emu.alloc(0x500)?;
    emu.k.io_threads.insert(object, tid);
    Ok(object)
}

/// Whether a wait on `object` is satisfied now (consuming a synchronization event).
pub fn try_satisfy(emu: &mut Emu, object: u64) -> bool {
    if let Some(event) = emu.k.events.get_mut(&object) {
        if event.signaled {
            if event.synchronization {
                event.signaled = false;
            }
            return true;
        }
        return false;
    }
    if let Some(index) = emu.thread_by_object(object) {
        return emu.threads[index].state == crate::emu::ThreadState::Exited;
    }
    false
}

/// Wakes the threads waiting for `object`, a thread that just exited.
pub fn thread_exited(emu: &mut Emu, object: u64) {
    for t in &mut emu.threads {
        if matches!(t.state, crate::emu::ThreadState::Waiting(o, _) if o == object) {
            t.state = crate::emu::ThreadState::Ready(0);
        }
    }
}

fn ret(value: u32) -> Result<Flow, Violation> {
    Ok(Flow::Return(u64::from(value)))
}

fn bad(detail: impl Into<String>) -> Violation {
    Violation::new(Rule::BadCall, detail)
}

fn data_export(_: &mut Emu) -> Result<Flow, Violation> {
    Err(bad("a data export was called as a function"))
}

/// Counts an allocation; whether the injection makes it fail.
fn allocation_fails(emu: &mut Emu) -> bool {
    emu.k.counters.allocations += 1;
    let fail = emu
        .k
        .inject
        .fail_every_nth_allocation
        .is_some_and(|n| n > 0 && emu.k.counters.allocations.is_multiple_of(n));
    if fail {
        emu.k.counters.failed_allocations += 1;
    }
    fail
}

// ----- pool -----

fn ex_allocate_pool2(emu: &mut Emu) -> Result<Flow, Violation> {
    let (flags, size, tag) = (emu.arg(0)?, emu.arg(1)?, emu.arg(2)? as u32);
    const NON_PAGED: u64 = 0x40;
    const PAGED: u64 = 0x100;
    const UNINITIALIZED: u64 = 0x2;
    if flags & (NON_PAGED | PAGED) == 0 || size == 0 || tag == 0 {
        return Err(bad(format!("ExAllocatePool2(flags {flags:#x}, size {size}, tag {tag:#x}): no pool type, no size or no tag")));
    }
    if flags & PAGED != 0 && emu.irql() > APC {
        return Err(Violation::new(
            Rule::Irql,
            format!("paged ExAllocatePool2 at IRQL {}", emu.irql()),
        ));
    }
    if allocation_fails(emu) {
        return Ok(Flow::Return(0));
    }
    let at = emu.alloc(size)?;
    if flags & UNINITIALIZED != 0 {
        emu.write(at, &vec![0xAA; size as usize])?;
    }
    let caller = emu.caller_name();
    emu.k.pool.insert(at, PoolAlloc { size, tag, caller });
    Ok(Flow::Return(at))
}

fn ex_free_pool_with_tag(emu: &mut Emu) -> Result<Flow, Violation> {
    let (at, tag) = (emu.arg(0)?, emu.arg(1)? as u32);
    if emu.k.inject.lose_frees_of_tag == Some(tag) {
        return Ok(Flow::Return(0));
    }
    let Some(alloc) = emu.k.pool.remove(&at) else {
        let what = if emu.k.freed_pool.contains(&at) {
            "freed twice"
        } else {
            "never allocated"
        };
        return Err(Violation::new(
            Rule::DoubleFree,
            format!("ExFreePoolWithTag({at:#x}): {what}"),
        ));
    };
    if alloc.tag != tag {
        return Err(Violation::new(
            Rule::TagMismatch,
            format!(
                "ExFreePoolWithTag({at:#x}, {}) of a {} allocation",
                tag_name(tag),
                tag_name(alloc.tag)
            ),
        ));
    }
    emu.k.freed_pool.insert(at);
    emu.free(at)?;
    if emu.k.inject.free_twice {
        // The broken fake frees again: the check must catch it.
        emu.free(at)?;
    }
    Ok(Flow::Return(0))
}

/// A pool tag as its four characters.
#[must_use]
pub fn tag_name(tag: u32) -> String {
    String::from_utf8_lossy(&tag.to_le_bytes()).into_owned()
}

// ----- processes, threads, objects -----

fn fs_rtl_is_paging_file(_: &mut Emu) -> Result<Flow, Violation> {
    Ok(Flow::Return(0))
}

fn io_get_current_process(emu: &mut Emu) -> Result<Flow, Violation> {
    Ok(Flow::Return(emu.k.current_process))
}

fn ps_get_process_id(emu: &mut Emu) -> Result<Flow, Violation> {
    let p = emu.arg(0)?;
    let process = emu
        .k
        .processes
        .get(&p)
        .ok_or_else(|| bad(format!("PsGetProcessId({p:#x}): not a process")))?;
    Ok(Flow::Return(process.pid))
}

fn ps_get_process_start_key(emu: &mut Emu) -> Result<Flow, Violation> {
    let p = emu.arg(0)?;
    let process = emu
        .k
        .processes
        .get(&p)
        .ok_or_else(|| bad(format!("PsGetProcessStartKey({p:#x}): not a process")))?;
    Ok(Flow::Return(process.start_key))
}

fn ps_get_thread_id(emu: &mut Emu) -> Result<Flow, Violation> {
    let t = emu.arg(0)?;
    if let Some(tid) = emu.k.io_threads.get(&t) {
        return Ok(Flow::Return(*tid));
    }
    let index = emu
        .thread_by_object(t)
        .ok_or_else(|| bad(format!("PsGetThreadId({t:#x}): not a thread")))?;
    Ok(Flow::Return(emu.threads[index].tid))
}

fn ps_create_system_thread(emu: &mut Emu) -> Result<Flow, Violation> {
    let (out, process, start, context) = (emu.arg(0)?, emu.arg(3)?, emu.arg(5)?, emu.arg(6)?);
    if process != 0 && process != u64::MAX {
        return Err(bad("PsCreateSystemThread: a driver thread belongs in the system process (ProcessHandle NULL)"));
    }
    if start < emu.image.base || start >= emu.image.end() {
        return Err(bad(format!(
            "PsCreateSystemThread: start routine {start:#x} is outside the image"
        )));
    }
    let index = emu.new_thread(start, context)?;
    let object = emu.threads[index].object;
    let handle = emu.k.new_handle(Handle::Thread(object));
    emu.w64(out, handle)?;
    ret(status::SUCCESS)
}

fn ps_terminate_system_thread(emu: &mut Emu) -> Result<Flow, Violation> {
    if emu.threads[emu.current].harness {
        return Err(bad(
            "PsTerminateSystemThread called outside a system thread",
        ));
    }
    Ok(Flow::ExitThread)
}

fn ob_reference_object_by_handle(emu: &mut Emu) -> Result<Flow, Violation> {
    let (handle, object_type, out) = (emu.arg(0)?, emu.arg(2)?, emu.arg(4)?);
    let Some(Handle::Thread(object)) = emu.k.handles.get(&handle).cloned() else {
        return Err(bad(format!(
            "ObReferenceObjectByHandle({handle:#x}): not an open thread handle"
        )));
    };
    if object_type != THREAD_TYPE {
        return Err(bad(format!(
            "ObReferenceObjectByHandle: object type {object_type:#x} is not *PsThreadType"
        )));
    }
    emu.w64(out, object)?;
    *emu.k.object_refs.entry(object).or_insert(0) += 1;
    ret(status::SUCCESS)
}

fn reference(
    emu: &mut Emu,
    object: u64,
    tag: Option<u32>,
    delta: i64,
    api: &str,
) -> Result<(), Violation> {
    let known = emu.k.processes.contains_key(&object) || emu.thread_by_object(object).is_some();
    if !known {
        return Err(bad(format!("{api}({object:#x}): not an object")));
    }
    let count = emu.k.object_refs.entry(object).or_insert(0);
    *count += delta;
    if *count < 0 {
        return Err(Violation::new(
            Rule::Unbalanced,
            format!("{api}({object:#x}) drops a reference the driver never took"),
        ));
    }
    if let Some(tag) = tag {
        let count = emu.k.tagged_refs.entry((object, tag)).or_insert(0);
        *count += delta;
        if *count < 0 {
            return Err(Violation::new(
                Rule::Unbalanced,
                format!(
                    "{api}({object:#x}, {}) drops a reference never taken with that tag",
                    tag_name(tag)
                ),
            ));
        }
    }
    Ok(())
}

fn ob_reference_object(emu: &mut Emu) -> Result<Flow, Violation> {
    let o = emu.arg(0)?;
    reference(emu, o, None, 1, "ObfReferenceObject")?;
    Ok(Flow::Return(1))
}
fn ob_reference_object_with_tag(emu: &mut Emu) -> Result<Flow, Violation> {
    let (o, tag) = (emu.arg(0)?, emu.arg(1)? as u32);
    reference(emu, o, Some(tag), 1, "ObfReferenceObjectWithTag")?;
    Ok(Flow::Return(1))
}
fn ob_dereference_object(emu: &mut Emu) -> Result<Flow, Violation> {
    let o = emu.arg(0)?;
    reference(emu, o, None, -1, "ObfDereferenceObject")?;
    Ok(Flow::Return(0))
}
fn ob_dereference_object_with_tag(emu: &mut Emu) -> Result<Flow, Violation> {
    let (o, tag) = (emu.arg(0)?, emu.arg(1)? as u32);
    reference(emu, o, Some(tag), -1, "ObfDereferenceObjectWithTag")?;
    Ok(Flow::Return(0))
}

// ----- synchronisation and time -----

fn ke_acquire_spin_lock_raise_to_dpc(emu: &mut Emu) -> Result<Flow, Violation> {
    let lock = emu.arg(0)?;
    emu.read(lock, 8)?;
    if let Some(owner) = emu.k.spin_held.get(&lock) {
        return Err(Violation::new(Rule::Deadlock, format!("spin lock {lock:#x} acquired again (held by thread {owner}): a deadlock on one processor")));
    }
    let old = emu.irql();
    emu.k.spin_held.insert(lock, emu.current);
    emu.set_irql(DISPATCH);
    Ok(Flow::Return(u64::from(old)))
}

fn ke_release_spin_lock(emu: &mut Emu) -> Result<Flow, Violation> {
    let (lock, new) = (emu.arg(0)?, emu.arg(1)? as u8);
    if emu.k.spin_held.remove(&lock) != Some(emu.current) {
        return Err(Violation::new(
            Rule::IrqlBalance,
            format!("KeReleaseSpinLock({lock:#x}) of a lock this thread does not hold"),
        ));
    }
    if emu.irql() != DISPATCH || new > DISPATCH {
        return Err(Violation::new(
            Rule::IrqlBalance,
            format!("KeReleaseSpinLock at IRQL {} back to {new}", emu.irql()),
        ));
    }
    emu.set_irql(new);
    Ok(Flow::Return(0))
}

fn ke_initialize_event(emu: &mut Emu) -> Result<Flow, Violation> {
    let (event, kind, state) = (emu.arg(0)?, emu.arg(1)? as u32, emu.arg(2)? as u8);
    emu.write(event, &[0u8; 0x18])?;
    emu.k.events.insert(
        event,
        Event {
            synchronization: kind == 1,
            signaled: state != 0,
        },
    );
    Ok(Flow::Return(0))
}

fn ke_set_event(emu: &mut Emu) -> Result<Flow, Violation> {
    let event = emu.arg(0)?;
    let Some(e) = emu.k.events.get_mut(&event) else {
        return Err(bad(format!(
            "KeSetEvent({event:#x}): not an initialised event"
        )));
    };
    let previous = e.signaled;
    e.signaled = true;
    let synchronization = e.synchronization;
    for t in &mut emu.threads {
        if matches!(t.state, crate::emu::ThreadState::Waiting(o, _) if o == event) {
            t.state = crate::emu::ThreadState::Ready(0);
            if synchronization {
                if let Some(e) = emu.k.events.get_mut(&event) {
                    e.signaled = false;
                }
                break;
            }
        }
    }
    Ok(Flow::Return(u64::from(previous)))
}

fn ke_query_system_time_precise(emu: &mut Emu) -> Result<Flow, Violation> {
    let out = emu.arg(0)?;
    emu.clock += 1;
    emu.w64(out, emu.clock)?;
    Ok(Flow::Return(0))
}

fn deadline(emu: &Emu, timeout_ptr: u64) -> Result<Option<u64>, Violation> {
    if timeout_ptr == 0 {
        return Ok(None);
    }
    let t = emu.r64(timeout_ptr)? as i64;
    Ok(Some(if t < 0 {
        emu.clock + t.unsigned_abs()
    } else {
        t as u64
    }))
}

fn wait_checked(emu: &mut Emu, object: u64, timeout_ptr: u64) -> Result<Flow, Violation> {
    let deadline = deadline(emu, timeout_ptr)?;
    if deadline != Some(emu.clock) && emu.irql() > APC {
        return Err(Violation::new(
            Rule::Irql,
            format!(
                "a wait that may block at IRQL {} (only a zero timeout is allowed above APC_LEVEL)",
                emu.irql()
            ),
        ));
    }
    let known = emu.k.events.contains_key(&object) || emu.thread_by_object(object).is_some();
    if !known {
        return Err(bad(format!(
            "wait on {object:#x}, which is not an event or a thread"
        )));
    }
    emu.wait(object, deadline)
}

fn ke_wait_for_single_object(emu: &mut Emu) -> Result<Flow, Violation> {
    let (object, timeout) = (emu.arg(0)?, emu.arg(4)?);
    wait_checked(emu, object, timeout)
}

fn zw_wait_for_single_object(emu: &mut Emu) -> Result<Flow, Violation> {
    let (handle, timeout) = (emu.arg(0)?, emu.arg(2)?);
    let Some(Handle::Thread(object)) = emu.k.handles.get(&handle).cloned() else {
        return Err(bad(format!(
            "ZwWaitForSingleObject({handle:#x}): not an open thread handle"
        )));
    };
    wait_checked(emu, object, timeout)
}

// ----- handles and the registry -----

fn zw_close(emu: &mut Emu) -> Result<Flow, Violation> {
    let handle = emu.arg(0)?;
    if emu.k.handles.remove(&handle).is_none() {
        return Err(bad(format!("ZwClose({handle:#x}): not an open handle (STATUS_INVALID_HANDLE; Driver Verifier bugchecks)")));
    }
    ret(status::SUCCESS)
}

fn zw_open_key(emu: &mut Emu) -> Result<Flow, Violation> {
    let (out, attributes) = (emu.arg(0)?, emu.arg(2)?);
    let root = emu.r64(attributes + l::OA_ROOT)?;
    let name = emu.unicode_string(emu.r64(attributes + l::OA_NAME)?)?;
    let path = if root == 0 {
        name
    } else {
        match emu.k.handles.get(&root) {
            Some(Handle::Key(parent)) => format!("{parent}\\{name}"),
            _ => return Err(bad(format!("ZwOpenKey: root {root:#x} is not an open key"))),
        }
    };
    let path = path.to_lowercase();
    if !emu.k.registry.contains_key(&path) {
        return ret(status::OBJECT_NAME_NOT_FOUND);
    }
    let handle = emu.k.new_handle(Handle::Key(path));
    emu.w64(out, handle)?;
    ret(status::SUCCESS)
}

fn zw_query_value_key(emu: &mut Emu) -> Result<Flow, Violation> {
    let (handle, name, class, buffer, length, result) = (
        emu.arg(0)?,
        emu.arg(1)?,
        emu.arg(2)? as u32,
        emu.arg(3)?,
        emu.arg(4)? as u32,
        emu.arg(5)?,
    );
    let Some(Handle::Key(path)) = emu.k.handles.get(&handle).cloned() else {
        return Err(bad(format!(
            "ZwQueryValueKey({handle:#x}): not an open key"
        )));
    };
    if class != 2 {
        return Err(bad(format!(
            "ZwQueryValueKey class {class}: only KeyValuePartialInformation is faked"
        )));
    }
    let name = emu.unicode_string(name)?;
    let value = emu.k.registry.get(&path).and_then(|values| {
        values
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&name))
            .cloned()
    });
    let Some((_, kind, data)) = value else {
        return ret(status::OBJECT_NAME_NOT_FOUND);
    };
    let needed = l::KVPI_DATA as u32 + data.len() as u32;
    emu.w32(result, needed)?;
    if length < l::KVPI_DATA as u32 {
        return ret(status::BUFFER_TOO_SMALL);
    }
    emu.w32(buffer, 0)?;
    emu.w32(buffer + l::KVPI_TYPE, kind)?;
    emu.w32(buffer + l::KVPI_LENGTH, data.len() as u32)?;
    if length < needed {
        return ret(status::BUFFER_OVERFLOW);
    }
    emu.write(buffer + l::KVPI_DATA, &data)?;
    ret(status::SUCCESS)
}

// ----- C runtime -----

fn memcpy(emu: &mut Emu) -> Result<Flow, Violation> {
    let (dst, src, n) = (emu.arg(0)?, emu.arg(1)?, emu.arg(2)?);
    if n > 0 {
        let bytes = emu.read(src, n as usize)?;
        emu.write(dst, &bytes)?;
    }
    Ok(Flow::Return(dst))
}

fn memset(emu: &mut Emu) -> Result<Flow, Violation> {
    let (dst, byte, n) = (emu.arg(0)?, emu.arg(1)? as u8, emu.arg(2)?);
    if n > 0 {
        emu.write(dst, &vec![byte; n as usize])?;
    }
    Ok(Flow::Return(dst))
}

// ----- Filter Manager: registration -----

fn flt_register_filter(emu: &mut Emu) -> Result<Flow, Violation> {
    let (driver, registration, out) = (emu.arg(0)?, emu.arg(1)?, emu.arg(2)?);
    if driver == 0 {
        return Err(bad("FltRegisterFilter: no driver object"));
    }
    if emu.k.filter.is_some() {
        return Err(bad("FltRegisterFilter called twice"));
    }
    let size = emu.r16(registration + l::REG_SIZE_FIELD)?;
    let version = emu.r16(registration + l::REG_VERSION)?;
    if u64::from(size) != l::REG_SIZE || version != 0x0203 {
        return ret(status::INVALID_PARAMETER);
    }
    let mut operations = Vec::new();
    let mut at = emu.r64(registration + l::REG_OPERATIONS)?;
    while at != 0 {
        let major = emu.read(at, 1)?[0];
        if major == 0x80 {
            break;
        }
        operations.push(Operation {
            major,
            flags: emu.r32(at + l::OPREG_FLAGS)?,
            pre: emu.r64(at + l::OPREG_PRE)?,
            post: emu.r64(at + l::OPREG_POST)?,
        });
        at += l::OPREG_SIZE;
    }
    let mut contexts = Vec::new();
    let mut at = emu.r64(registration + l::REG_CONTEXTS)?;
    while at != 0 {
        let kind = emu.r16(at)?;
        if kind == 0xFFFF {
            break;
        }
        contexts.push(ContextType {
            kind,
            size: emu.r64(at + l::CTXREG_SIZE_FIELD)?,
            tag: emu.r32(at + l::CTXREG_TAG)?,
        });
        at += l::CTXREG_SIZE;
    }
    let object = emu.alloc(0x200)?;
    emu.k.filter = Some(Filter {
        object,
        size,
        version,
        operations,
        contexts,
        unload: emu.r64(registration + l::REG_UNLOAD)?,
        instance_setup: emu.r64(registration + l::REG_INSTANCE_SETUP)?,
        query_teardown: emu.r64(registration + l::REG_QUERY_TEARDOWN)?,
        started: false,
        unregistered: false,
    });
    emu.w64(out, object)?;
    ret(status::SUCCESS)
}

fn our_filter(emu: &Emu, filter: u64, api: &str) -> Result<(), Violation> {
    match &emu.k.filter {
        Some(f) if f.object == filter && !f.unregistered => Ok(()),
        Some(f) if f.object == filter => Err(Violation::new(
            Rule::BadMemory,
            format!("{api} with the filter after FltUnregisterFilter"),
        )),
        _ => Err(bad(format!(
            "{api}({filter:#x}): not the registered filter"
        ))),
    }
}

fn flt_start_filtering(emu: &mut Emu) -> Result<Flow, Violation> {
    let filter = emu.arg(0)?;
    our_filter(emu, filter, "FltStartFiltering")?;
    if let Some(f) = emu.k.filter.as_mut() {
        f.started = true;
    }
    ret(status::SUCCESS)
}

fn flt_unregister_filter(emu: &mut Emu) -> Result<Flow, Violation> {
    let filter = emu.arg(0)?;
    our_filter(emu, filter, "FltUnregisterFilter")?;
    crate::process::require_removed(emu, "FltUnregisterFilter")?;
    // Filter Manager disconnects a connected client first (the disconnect callback runs).
    if let (Some(client), Some(port)) = (emu.k.client.clone(), emu.k.port.clone()) {
        if !client.closed {
            emu.call(port.disconnect, &[client.cookie], PASSIVE)?;
        }
        emu.k.client = None;
    }
    // Post-operation callbacks still owed are delivered with FLTFL_POST_OPERATION_DRAINING.
    crate::fs::drain(emu)?;
    // Then it tears down every context it holds for us: the attachments' references.
    crate::fs::drop_attachments(emu)?;
    if let Some(f) = emu.k.filter.as_mut() {
        f.unregistered = true;
    }
    ret(status::SUCCESS)
}

// ----- Filter Manager: communication port -----

fn flt_build_default_security_descriptor(emu: &mut Emu) -> Result<Flow, Violation> {
    let out = emu.arg(0)?;
    let sd = emu.alloc(0x40)?;
    emu.k.security_descriptors.insert(sd);
    emu.w64(out, sd)?;
    ret(status::SUCCESS)
}

fn flt_free_security_descriptor(emu: &mut Emu) -> Result<Flow, Violation> {
    let sd = emu.arg(0)?;
    if !emu.k.security_descriptors.remove(&sd) {
        return Err(Violation::new(
            Rule::DoubleFree,
            format!("FltFreeSecurityDescriptor({sd:#x}): not a live descriptor"),
        ));
    }
    emu.free(sd)?;
    Ok(Flow::Return(0))
}

fn flt_create_communication_port(emu: &mut Emu) -> Result<Flow, Violation> {
    let (filter, out, attributes, cookie, connect, disconnect, message, max) = (
        emu.arg(0)?,
        emu.arg(1)?,
        emu.arg(2)?,
        emu.arg(3)?,
        emu.arg(4)?,
        emu.arg(5)?,
        emu.arg(6)?,
        emu.arg(7)? as u32,
    );
    our_filter(emu, filter, "FltCreateCommunicationPort")?;
    if connect == 0 || disconnect == 0 || max == 0 {
        return Err(bad("FltCreateCommunicationPort needs connect and disconnect callbacks and MaxConnections > 0"));
    }
    let name = emu.unicode_string(emu.r64(attributes + l::OA_NAME)?)?;
    let object = emu.alloc(0x100)?;
    emu.k.port = Some(ServerPort {
        object,
        name,
        connect,
        disconnect,
        message,
        max_connections: max,
        cookie,
        closed: false,
    });
    emu.w64(out, object)?;
    ret(status::SUCCESS)
}

fn flt_close_communication_port(emu: &mut Emu) -> Result<Flow, Violation> {
    let port = emu.arg(0)?;
    crate::process::require_removed(emu, "FltCloseCommunicationPort")?;
    match emu.k.port.as_mut() {
        Some(p) if p.object == port && !p.closed => p.closed = true,
        _ => {
            return Err(bad(format!(
                "FltCloseCommunicationPort({port:#x}): not an open server port"
            )))
        }
    }
    Ok(Flow::Return(0))
}

fn flt_close_client_port(emu: &mut Emu) -> Result<Flow, Violation> {
    let (filter, slot) = (emu.arg(0)?, emu.arg(1)?);
    our_filter(emu, filter, "FltCloseClientPort")?;
    let port = emu.r64(slot)?;
    if port != 0 {
        match emu.k.client.as_mut() {
            Some(c) if c.port == port && !c.closed => c.closed = true,
            _ => {
                return Err(bad(format!(
                    "FltCloseClientPort: {port:#x} is not the connected client's port"
                )))
            }
        }
    }
    emu.w64(slot, 0)?;
    Ok(Flow::Return(0))
}

fn flt_send_message(emu: &mut Emu) -> Result<Flow, Violation> {
    let (filter, slot, buffer, length, reply, timeout) = (
        emu.arg(0)?,
        emu.arg(1)?,
        emu.arg(2)?,
        emu.arg(3)? as u32,
        emu.arg(4)?,
        emu.arg(6)?,
    );
    our_filter(emu, filter, "FltSendMessage")?;
    if timeout == 0 {
        return Err(bad(
            "FltSendMessage without a timeout: a hung client would block the sender forever",
        ));
    }
    if reply != 0 {
        return Err(bad(
            "FltSendMessage expects a reply, but the client never sends one",
        ));
    }
    let port = emu.r64(slot)?;
    let connected = emu
        .k
        .client
        .as_ref()
        .is_some_and(|c| c.port == port && !c.closed);
    if port == 0 || !connected {
        emu.k.failed_sends += 1;
        return ret(status::PORT_DISCONNECTED);
    }
    let bytes = emu.read(buffer, length as usize)?;
    if let Some(injected) = emu.k.inject.send_statuses.pop_front() {
        if injected != status::SUCCESS {
            emu.k.failed_sends += 1;
            return ret(injected);
        }
    }
    emu.k.messages.push(bytes);
    ret(status::SUCCESS)
}

// ----- Filter Manager: contexts -----

fn flt_allocate_context(emu: &mut Emu) -> Result<Flow, Violation> {
    let (filter, kind, size, out) = (emu.arg(0)?, emu.arg(1)? as u16, emu.arg(2)?, emu.arg(4)?);
    our_filter(emu, filter, "FltAllocateContext")?;
    let registered = emu
        .k
        .filter
        .as_ref()
        .and_then(|f| f.contexts.iter().find(|c| c.kind == kind).copied());
    let Some(registered) = registered else {
        return Err(bad(format!(
            "FltAllocateContext of type {kind:#x}, which was not registered"
        )));
    };
    if registered.size != size {
        return Err(bad(format!(
            "FltAllocateContext of type {kind:#x}: size {size}, registered {}",
            registered.size
        )));
    }
    if allocation_fails(emu) {
        return ret(status::INSUFFICIENT_RESOURCES);
    }
    let at = emu.alloc(size)?;
    let caller = emu.caller_name();
    emu.k.contexts.insert(
        at,
        Context {
            kind,
            refs: 1,
            caller,
        },
    );
    emu.w64(out, at)?;
    ret(status::SUCCESS)
}

/// Adds `delta` references to context `at`; frees it at zero.
///
/// # Errors
/// [`Rule::Unbalanced`] for a context released more than referenced or unknown.
pub fn context_ref(emu: &mut Emu, at: u64, delta: i64, api: &str) -> Result<(), Violation> {
    let Some(context) = emu.k.contexts.get_mut(&at) else {
        return Err(Violation::new(
            Rule::Unbalanced,
            format!("{api}({at:#x}): not a live context (released too often?)"),
        ));
    };
    context.refs += delta;
    if context.refs == 0 {
        emu.k.contexts.remove(&at);
        emu.free(at)?;
    }
    Ok(())
}

fn flt_release_context(emu: &mut Emu) -> Result<Flow, Violation> {
    let at = emu.arg(0)?;
    context_ref(emu, at, -1, "FltReleaseContext")?;
    Ok(Flow::Return(0))
}

/// Which context slot a setter or getter addresses.
#[derive(Clone, Copy)]
enum Slot {
    Handle,
    Stream,
}

fn get_context(emu: &mut Emu, slot: Slot, api: &str) -> Result<Flow, Violation> {
    let (file_object, out) = (emu.arg(1)?, emu.arg(2)?);
    let current = crate::fs::context_slot(emu, file_object, matches!(slot, Slot::Stream), api)?;
    match current {
        Some(at) => {
            context_ref(emu, at, 1, api)?;
            emu.w64(out, at)?;
            ret(status::SUCCESS)
        }
        None => ret(status::NOT_FOUND),
    }
}

fn set_context(emu: &mut Emu, slot: Slot, api: &str) -> Result<Flow, Violation> {
    let (file_object, operation, new, old_out) =
        (emu.arg(1)?, emu.arg(2)? as u32, emu.arg(3)?, emu.arg(4)?);
    if !emu.k.contexts.contains_key(&new) {
        return Err(bad(format!("{api}: {new:#x} is not a live context")));
    }
    let stream = matches!(slot, Slot::Stream);
    let current = crate::fs::context_slot(emu, file_object, stream, api)?;
    if let Some(existing) = current {
        // FLT_SET_CONTEXT_KEEP_IF_EXISTS (1): the old one stays, referenced for the caller.
        if operation == 1 {
            if old_out != 0 {
                context_ref(emu, existing, 1, api)?;
                emu.w64(old_out, existing)?;
            }
            return ret(status::FLT_CONTEXT_ALREADY_DEFINED);
        }
        return Err(bad(format!(
            "{api}: only FLT_SET_CONTEXT_KEEP_IF_EXISTS is faked"
        )));
    }
    context_ref(emu, new, 1, api)?;
    crate::fs::set_context_slot(emu, file_object, stream, new)?;
    ret(status::SUCCESS)
}

fn flt_get_stream_handle_context(emu: &mut Emu) -> Result<Flow, Violation> {
    get_context(emu, Slot::Handle, "FltGetStreamHandleContext")
}
fn flt_get_stream_context(emu: &mut Emu) -> Result<Flow, Violation> {
    get_context(emu, Slot::Stream, "FltGetStreamContext")
}
fn flt_set_stream_handle_context(emu: &mut Emu) -> Result<Flow, Violation> {
    set_context(emu, Slot::Handle, "FltSetStreamHandleContext")
}
fn flt_set_stream_context(emu: &mut Emu) -> Result<Flow, Violation> {
    set_context(emu, Slot::Stream, "FltSetStreamContext")
}

// ----- Filter Manager: names, information, ECPs -----

/// Builds a referenced `FLT_FILE_NAME_INFORMATION` for `name` in guest memory.
///
/// # Errors
/// Emulator errors.
pub fn new_name_info(
    emu: &mut Emu,
    name: &str,
    format: u32,
    volume_len: usize,
) -> Result<u64, Violation> {
    let bytes: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let at = emu.alloc(l::FNI_SIZE + bytes.len() as u64)?;
    let buffer = at + l::FNI_SIZE;
    emu.w16(at + l::FNI_SIZE_FIELD, l::FNI_SIZE as u16)?;
    emu.w32(at + l::FNI_FORMAT, format)?;
    emu.write_unicode_string(at + l::FNI_NAME, buffer, &bytes)?;
    let volume_bytes = (volume_len * 2).min(bytes.len());
    emu.write_unicode_string(at + l::FNI_VOLUME, buffer, &bytes[..volume_bytes])?;
    let caller = emu.caller_name();
    emu.k.names.insert(
        at,
        NameInfo {
            refs: 1,
            name: name.to_owned(),
            caller,
        },
    );
    Ok(at)
}

fn flt_get_file_name_information(emu: &mut Emu) -> Result<Flow, Violation> {
    let (data, options, out) = (emu.arg(0)?, emu.arg(1)? as u32, emu.arg(2)?);
    let format = options & 0xFF;
    if format != 1 && format != 2 && format != 4 {
        return Err(bad(format!(
            "FltGetFileNameInformation: options {options:#x} name no single format"
        )));
    }
    if emu.k.inject.fail_name_queries {
        return ret(status::FLT_INVALID_NAME_REQUEST);
    }
    let (name, volume_len) = crate::fs::name_of(emu, data)?;
    let at = new_name_info(emu, &name, format, volume_len)?;
    emu.w64(out, at)?;
    ret(status::SUCCESS)
}

fn flt_get_destination_file_name_information(emu: &mut Emu) -> Result<Flow, Violation> {
    let (name, length, options, out) = (
        emu.arg(3)?,
        u64::from(emu.arg(4)? as u32),
        emu.arg(5)? as u32,
        emu.arg(6)?,
    );
    if emu.k.inject.fail_name_queries {
        return ret(status::FLT_INVALID_NAME_REQUEST);
    }
    let raw = emu.utf16(name, length)?;
    let (full, volume_len) = crate::fs::destination_name(emu, &raw)?;
    let at = new_name_info(emu, &full, options & 0xFF, volume_len)?;
    emu.w64(out, at)?;
    ret(status::SUCCESS)
}

fn flt_release_file_name_information(emu: &mut Emu) -> Result<Flow, Violation> {
    let at = emu.arg(0)?;
    if emu.k.inject.lose_name_releases {
        return Ok(Flow::Return(0));
    }
    let Some(info) = emu.k.names.get_mut(&at) else {
        return Err(Violation::new(
            Rule::Unbalanced,
            format!("FltReleaseFileNameInformation({at:#x}): not a live name (released twice?)"),
        ));
    };
    info.refs -= 1;
    if info.refs == 0 {
        emu.k.names.remove(&at);
        emu.free(at)?;
    }
    Ok(Flow::Return(0))
}

fn flt_get_requestor_process(emu: &mut Emu) -> Result<Flow, Violation> {
    let data = emu.arg(0)?;
    Ok(Flow::Return(crate::fs::requestor_of(emu, data)?))
}

fn flt_get_ecp_list_from_callback_data(emu: &mut Emu) -> Result<Flow, Violation> {
    let (data, out) = (emu.arg(1)?, emu.arg(2)?);
    crate::fs::requestor_of(emu, data)?;
    // No extra create parameters on any create the fake file system delivers.
    emu.w64(out, 0)?;
    ret(status::SUCCESS)
}

fn flt_find_extra_create_parameter(_: &mut Emu) -> Result<Flow, Violation> {
    Err(bad("FltFindExtraCreateParameter with a NULL ECP list"))
}

fn flt_is_ecp_from_user_mode(_: &mut Emu) -> Result<Flow, Violation> {
    Err(bad("FltIsEcpFromUserMode without an ECP"))
}

fn flt_is_directory(emu: &mut Emu) -> Result<Flow, Violation> {
    let (file_object, out) = (emu.arg(0)?, emu.arg(2)?);
    let directory = crate::fs::is_directory(emu, file_object)?;
    emu.write(out, &[u8::from(directory)])?;
    ret(status::SUCCESS)
}

fn flt_query_information_file(emu: &mut Emu) -> Result<Flow, Violation> {
    let (file_object, buffer, length, class, returned) = (
        emu.arg(1)?,
        emu.arg(2)?,
        u64::from(emu.arg(3)? as u32),
        emu.arg(4)? as u32,
        emu.arg(5)?,
    );
    let status = crate::fs::query_information(emu, file_object, buffer, length, class)?;
    if returned != 0 {
        emu.w32(returned, 0)?;
    }
    ret(status)
}

// ----- Filter Manager: volumes, name parsing, FSCTLs -----

fn volume_arg(emu: &Emu, volume: u64, api: &str) -> Result<(), Violation> {
    if volume == 0 || volume != emu.k.fs.volume_object {
        return Err(bad(format!("{api}({volume:#x}): not the volume")));
    }
    Ok(())
}

fn flt_is_volume_snapshot(emu: &mut Emu) -> Result<Flow, Violation> {
    let (volume, out) = (emu.arg(0)?, emu.arg(1)?);
    volume_arg(emu, volume, "FltIsVolumeSnapshot")?;
    emu.write(out, &[0])?;
    ret(status::SUCCESS)
}

fn flt_is_volume_writable(emu: &mut Emu) -> Result<Flow, Violation> {
    let (volume, out) = (emu.arg(0)?, emu.arg(1)?);
    volume_arg(emu, volume, "FltIsVolumeWritable")?;
    emu.write(out, &[1])?;
    ret(status::SUCCESS)
}

/// `FileFsAttributeInformation` of an NTFS volume: case-preserving and -sensitive search,
/// Unicode, ACLs, compression, quotas, sparse files, reparse points, object ids, named
/// streams, encryption, hard links, extended attributes, open by id, USN journal.
const NTFS_ATTRIBUTES: u32 = 0x03E7_00FF;

fn flt_query_volume_information(emu: &mut Emu) -> Result<Flow, Violation> {
    let (instance, iosb, buffer, length, class) = (
        emu.arg(0)?,
        emu.arg(1)?,
        emu.arg(2)?,
        u64::from(emu.arg(3)? as u32),
        emu.arg(4)? as u32,
    );
    if instance == 0 || instance != emu.k.fs.instance && instance != emu.k.fs.setup_instance {
        return Err(bad(format!(
            "FltQueryVolumeInformation({instance:#x}): not an instance"
        )));
    }
    // FileFsAttributeInformation only.
    if class != 5 {
        return Err(bad(format!(
            "FltQueryVolumeInformation class {class}: only FileFsAttributeInformation is faked"
        )));
    }
    let name: Vec<u8> = "NTFS".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut info = Vec::new();
    info.extend_from_slice(&NTFS_ATTRIBUTES.to_le_bytes());
    info.extend_from_slice(&255u32.to_le_bytes());
    info.extend_from_slice(&(name.len() as u32).to_le_bytes());
    info.extend_from_slice(&name);
    if length < l::FSA_NAME {
        return ret(status::BUFFER_TOO_SMALL);
    }
    let written = info.len().min(length as usize);
    emu.write(buffer, &info[..written])?;
    let result = if written < info.len() {
        status::BUFFER_OVERFLOW
    } else {
        status::SUCCESS
    };
    emu.w64(iosb, u64::from(result))?;
    emu.w64(iosb + 8, written as u64)?;
    ret(result)
}

/// Writes a `UNICODE_STRING` at `at` viewing `len` bytes of the buffer at `buffer + start`.
fn view(emu: &mut Emu, at: u64, buffer: u64, start: usize, len: usize) -> Result<(), Violation> {
    emu.w16(at, len as u16)?;
    emu.w16(at + 2, len as u16)?;
    emu.w64(at + 8, if len == 0 { 0 } else { buffer + start as u64 })
}

fn flt_parse_file_name_information(emu: &mut Emu) -> Result<Flow, Violation> {
    let at = emu.arg(0)?;
    let Some(info) = emu.k.names.get(&at).cloned() else {
        return Err(Violation::new(
            Rule::BadMemory,
            format!("FltParseFileNameInformation({at:#x}): not a live name"),
        ));
    };
    let buffer = emu.r64(at + l::FNI_NAME + l::US_BUFFER)?;
    let units: Vec<u16> = info.name.encode_utf16().collect();
    let volume = emu.k.fs.volume.encode_utf16().count().min(units.len());
    let last_slash = units
        .iter()
        .rposition(|u| *u == u16::from(b'\\'))
        .unwrap_or(volume);
    let final_start = (last_slash + 1).min(units.len());
    let final_component = &units[final_start..];
    let stream_at = final_component.iter().position(|u| *u == u16::from(b':'));
    let base_end = stream_at.map_or(units.len(), |s| final_start + s);
    let extension = units[final_start..base_end]
        .iter()
        .rposition(|u| *u == u16::from(b'.'))
        .map(|d| final_start + d + 1);
    view(emu, at + l::FNI_SHARE, buffer, 0, 0)?;
    view(
        emu,
        at + l::FNI_FINAL,
        buffer,
        2 * final_start,
        2 * (units.len() - final_start),
    )?;
    view(
        emu,
        at + l::FNI_PARENT,
        buffer,
        2 * volume,
        2 * (final_start - volume.min(final_start)),
    )?;
    match extension {
        Some(e) => view(
            emu,
            at + l::FNI_EXTENSION,
            buffer,
            2 * e,
            2 * (base_end - e),
        )?,
        None => view(emu, at + l::FNI_EXTENSION, buffer, 0, 0)?,
    }
    view(
        emu,
        at + l::FNI_STREAM,
        buffer,
        2 * base_end,
        2 * (units.len() - base_end),
    )?;
    // FLTFL_FILE_NAME_PARSED_FINAL_COMPONENT | EXTENSION | STREAM | PARENT_DIR.
    emu.w16(at + l::FNI_PARSED, 0xF)?;
    ret(status::SUCCESS)
}

fn flt_fs_control_file(emu: &mut Emu) -> Result<Flow, Violation> {
    let (file_object, code, output, output_length) = (
        emu.arg(1)?,
        emu.arg(2)? as u32,
        emu.arg(5)?,
        u64::from(emu.arg(6)? as u32),
    );
    const FSCTL_GET_OBJECT_ID: u32 = 0x0009_009C;
    if code != FSCTL_GET_OBJECT_ID {
        return Err(bad(format!(
            "FltFsControlFile code {code:#x}: only FSCTL_GET_OBJECT_ID is faked"
        )));
    }
    if output_length < 64 {
        return ret(status::BUFFER_TOO_SMALL);
    }
    emu.read(output, 64)?;
    // No file of the fake volume has an object id; a deleted one is gone.
    ret(crate::fs::object_id_status(emu, file_object)?)
}
