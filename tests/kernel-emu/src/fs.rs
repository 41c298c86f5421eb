//! The fake file system and Filter Manager's I/O path: each file operation becomes the
//! `FLT_CALLBACK_DATA`, `FLT_IO_PARAMETER_BLOCK`, `FLT_RELATED_OBJECTS` and `FILE_OBJECT`
//! Filter Manager would build in memory, delivered to the registered pre- and
//! post-operation callbacks at the IRQL each runs at, around the file system's effect.
//!
//! Modelled NTFS behaviour (assumptions, not measurements): names are case-insensitive; a
//! delete (disposition or delete-on-close) removes the handle's name at its last cleanup;
//! after that, queries through that file object fail with `STATUS_FILE_DELETED` (the
//! probe Microsoft's `delete` sample relies on); hard links share one file id.

use std::collections::HashMap;

use crate::emu::Emu;
use crate::kernel::{context_ref, status};
use crate::layout as l;
use crate::verifier::{irql, Rule, Violation};

/// `IRP_MJ_CREATE`.
pub const IRP_MJ_CREATE: u8 = 0;
/// `IRP_MJ_WRITE`.
pub const IRP_MJ_WRITE: u8 = 4;
/// `IRP_MJ_SET_INFORMATION`.
pub const IRP_MJ_SET_INFORMATION: u8 = 6;
/// `IRP_MJ_CLEANUP`.
pub const IRP_MJ_CLEANUP: u8 = 0x12;
/// `IRP_PAGING_IO`.
pub const IRP_PAGING_IO: u32 = 0x2;
/// `FLTFL_OPERATION_REGISTRATION_SKIP_PAGING_IO`.
pub const SKIP_PAGING_IO: u32 = 0x1;

/// `FILE_OPEN`.
pub const FILE_OPEN: u32 = 1;
/// `FILE_CREATE`.
pub const FILE_CREATE: u32 = 2;
/// `FILE_DIRECTORY_FILE`.
pub const FILE_DIRECTORY_FILE: u32 = 0x1;
/// `FILE_SYNCHRONOUS_IO_NONALERT`.
pub const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
/// `FILE_NON_DIRECTORY_FILE`.
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
/// `FILE_DELETE_ON_CLOSE`.
pub const FILE_DELETE_ON_CLOSE: u32 = 0x1000;

/// `FileRenameInformation`.
pub const FILE_RENAME_INFORMATION: u32 = 10;
/// `FileLinkInformation`.
pub const FILE_LINK_INFORMATION: u32 = 11;
/// `FileDispositionInformation`.
pub const FILE_DISPOSITION_INFORMATION: u32 = 13;
/// `FileEndOfFileInformation`.
pub const FILE_END_OF_FILE_INFORMATION: u32 = 20;

/// One file or directory.
#[derive(Clone, Debug)]
pub struct Node {
    /// File id.
    pub id: u64,
    /// Directory.
    pub directory: bool,
    /// Its names (relative, `/`-separated, lower case).
    pub links: Vec<String>,
    /// End of file.
    pub size: u64,
    /// The stream context attached, if any.
    pub stream_context: Option<u64>,
    /// Handles not yet cleaned up.
    pub open: usize,
}

/// One file object (a handle).
#[derive(Clone, Debug)]
pub struct FileObj {
    /// Its node.
    pub node: usize,
    /// The name it was opened by (follows a rename through it).
    pub path: String,
    /// The stream-handle context attached, if any.
    pub handle_context: Option<u64>,
    /// Delete on close (create option) or delete disposition set through it.
    pub delete_pending: bool,
    /// Its name was deleted at cleanup.
    pub link_deleted: bool,
    /// Cleanup happened.
    pub cleaned_up: bool,
}

/// An operation in flight: who asked, through which file object.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    /// The file object.
    pub file_object: u64,
    /// The requestor's `EPROCESS`.
    pub process: u64,
}

/// Who performs an operation.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    /// Its `EPROCESS`.
    pub process: u64,
    /// Its `ETHREAD`.
    pub thread: u64,
}

/// Cost of one callback invocation.
#[derive(Clone, Debug)]
pub struct CallbackCost {
    /// Callback name (from the PDB, else `IRP_MJ_x pre/post`).
    pub callback: String,
    /// The workload operation it served (`create`, `write`, ...), or empty.
    pub operation: String,
    /// Guest instructions executed.
    pub instructions: u64,
    /// Stack bytes used.
    pub stack: u64,
}

/// The fake file system.
#[derive(Debug)]
pub struct Fs {
    /// `\Device\HarddiskVolume3`.
    pub volume: String,
    /// The scratch folder under the volume root.
    pub scratch: String,
    /// Files and directories.
    pub nodes: Vec<Node>,
    /// Live names → node.
    pub names: HashMap<String, usize>,
    /// Live file objects.
    pub files: HashMap<u64, FileObj>,
    /// Operations in flight by callback data address.
    pub ops: HashMap<u64, InFlight>,
    /// Fake volume and instance objects.
    pub volume_object: u64,
    /// The instance handed to callbacks.
    pub instance: u64,
    /// The instance being set up (during the instance-setup callback).
    pub setup_instance: u64,
    /// Costs of every callback delivered.
    pub costs: Vec<CallbackCost>,
    /// The workload operation being run (labels the costs).
    pub operation: String,
    /// Operations whose pre-operation callback ran and whose post-operation callback is
    /// still owed (I/O in flight): drained by `FltUnregisterFilter`.
    pub in_flight: Vec<OwedPost>,
}

/// A post-operation callback Filter Manager still owes the driver.
#[derive(Clone, Copy, Debug)]
pub struct OwedPost {
    /// The operation's memory block.
    pub block: u64,
    /// Callback data.
    pub data: u64,
    /// Related objects.
    pub objects: u64,
    /// The completion context the pre-operation callback returned.
    pub completion: u64,
    /// The post-operation callback.
    pub post: u64,
}

impl Default for Fs {
    fn default() -> Self {
        Self {
            volume: "\\Device\\HarddiskVolume3".into(),
            scratch: "picket-emu".into(),
            nodes: Vec::new(),
            names: HashMap::new(),
            files: HashMap::new(),
            ops: HashMap::new(),
            volume_object: 0,
            instance: 0,
            setup_instance: 0,
            costs: Vec::new(),
            operation: String::new(),
            in_flight: Vec::new(),
        }
    }
}

impl Fs {
    /// The full normalized name of a relative path.
    #[must_use]
    pub fn full_name(&self, rel: &str) -> String {
        format!(
            "{}\\{}\\{}",
            self.volume,
            self.scratch,
            rel.replace('/', "\\")
        )
    }

    /// The scratch folder's full name.
    #[must_use]
    pub fn scratch_name(&self) -> String {
        format!("{}\\{}", self.volume, self.scratch)
    }
}

fn file<'a>(emu: &'a Emu, fo: u64, api: &str) -> Result<&'a FileObj, Violation> {
    emu.k.fs.files.get(&fo).ok_or_else(|| {
        Violation::new(
            Rule::BadCall,
            format!("{api}({fo:#x}): not a live file object"),
        )
    })
}

/// The context attached to a file object (`stream`: its stream's; else the handle's).
///
/// # Errors
/// A file object that is not live.
pub fn context_slot(emu: &Emu, fo: u64, stream: bool, api: &str) -> Result<Option<u64>, Violation> {
    let f = file(emu, fo, api)?;
    Ok(if stream {
        emu.k.fs.nodes[f.node].stream_context
    } else {
        f.handle_context
    })
}

/// Attaches a context.
///
/// # Errors
/// A file object that is not live.
pub fn set_context_slot(
    emu: &mut Emu,
    fo: u64,
    stream: bool,
    context: u64,
) -> Result<(), Violation> {
    let node = file(emu, fo, "set context")?.node;
    if stream {
        emu.k.fs.nodes[node].stream_context = Some(context);
    } else if let Some(f) = emu.k.fs.files.get_mut(&fo) {
        f.handle_context = Some(context);
    }
    Ok(())
}

/// Filter Manager drops every attachment reference (unregister).
///
/// # Errors
/// Unbalanced contexts.
pub fn drop_attachments(emu: &mut Emu) -> Result<(), Violation> {
    let handle: Vec<u64> = emu
        .k
        .fs
        .files
        .values_mut()
        .filter_map(|f| f.handle_context.take())
        .collect();
    let stream: Vec<u64> = emu
        .k
        .fs
        .nodes
        .iter_mut()
        .filter_map(|n| n.stream_context.take())
        .collect();
    for at in handle.into_iter().chain(stream) {
        context_ref(emu, at, -1, "Filter Manager teardown")?;
    }
    Ok(())
}

/// The requestor of an operation in flight.
///
/// # Errors
/// Callback data that is not in flight (used after the operation completed).
pub fn requestor_of(emu: &Emu, data: u64) -> Result<u64, Violation> {
    emu.k.fs.ops.get(&data).map(|op| op.process).ok_or_else(|| {
        Violation::new(
            Rule::BadMemory,
            format!("callback data {data:#x} is not an operation in flight"),
        )
    })
}

/// The name of the file an operation in flight is about, and the volume prefix length.
///
/// # Errors
/// Callback data not in flight.
pub fn name_of(emu: &Emu, data: u64) -> Result<(String, usize), Violation> {
    let op = emu.k.fs.ops.get(&data).ok_or_else(|| {
        Violation::new(
            Rule::BadMemory,
            format!("callback data {data:#x} is not an operation in flight"),
        )
    })?;
    let f = file(emu, op.file_object, "FltGetFileNameInformation")?;
    Ok((
        emu.k.fs.full_name(&f.path),
        emu.k.fs.volume.encode_utf16().count(),
    ))
}

/// The normalized name of a rename or link target as the caller passed it
/// (`\??\C:\picket-emu\...`).
///
/// # Errors
/// A target outside the fake volume.
pub fn destination_name(emu: &Emu, raw: &str) -> Result<(String, usize), Violation> {
    let rest = raw.strip_prefix("\\??\\C:").ok_or_else(|| {
        Violation::new(
            Rule::BadCall,
            format!("destination {raw:?} is not on the fake C: volume"),
        )
    })?;
    Ok((
        format!("{}{rest}", emu.k.fs.volume),
        emu.k.fs.volume.encode_utf16().count(),
    ))
}

/// `FltIsDirectory`.
///
/// # Errors
/// A file object that is not live.
pub fn is_directory(emu: &Emu, fo: u64) -> Result<bool, Violation> {
    let f = file(emu, fo, "FltIsDirectory")?;
    Ok(emu.k.fs.nodes[f.node].directory)
}

/// `FltQueryInformationFile`.
///
/// # Errors
/// A file object that is not live; bad memory.
pub fn query_information(
    emu: &mut Emu,
    fo: u64,
    buffer: u64,
    length: u64,
    class: u32,
) -> Result<u32, Violation> {
    let f = file(emu, fo, "FltQueryInformationFile")?.clone();
    if f.link_deleted {
        return Ok(status::FILE_DELETED);
    }
    let node = emu.k.fs.nodes[f.node].clone();
    match class {
        // FileInternalInformation
        6 => {
            if length < l::INTERNAL_SIZE {
                return Ok(status::INVALID_PARAMETER);
            }
            emu.w64(buffer, node.id)?;
        }
        // FileStandardInformation
        5 => {
            if length < l::STANDARD_SIZE {
                return Ok(status::INVALID_PARAMETER);
            }
            emu.w64(buffer, node.size.div_ceil(4096) * 4096)?;
            emu.w64(buffer + 8, node.size)?;
            emu.w32(buffer + l::STANDARD_LINKS, node.links.len() as u32)?;
            emu.write(buffer + l::STANDARD_DIRECTORY, &[u8::from(node.directory)])?;
        }
        // FileIdInformation: the volume serial number and the 128-bit id.
        59 => {
            if length < l::ID_SIZE {
                return Ok(status::INVALID_PARAMETER);
            }
            emu.w64(buffer, 0x5EED_0000_1CE5_0001)?;
            emu.w64(buffer + l::ID_FILE_ID, node.id)?;
            emu.w64(buffer + l::ID_FILE_ID + 8, 0)?;
        }
        _ => return Ok(status::INVALID_INFO_CLASS),
    }
    Ok(status::SUCCESS)
}

/// What `FSCTL_GET_OBJECT_ID` returns for a file object: `STATUS_FILE_DELETED` once the
/// file has no name left, else "no object id" (the fake volume assigns none).
///
/// # Errors
/// A file object that is not live.
pub fn object_id_status(emu: &Emu, fo: u64) -> Result<u32, Violation> {
    let f = file(emu, fo, "FltFsControlFile")?;
    Ok(
        if f.link_deleted && emu.k.fs.nodes[f.node].links.is_empty() {
            status::FILE_DELETED
        } else {
            status::OBJECTID_NOT_FOUND
        },
    )
}

// ----- delivering operations -----

/// One operation's guest memory.
struct Frame {
    block: u64,
    data: u64,
    objects: u64,
    completion: u64,
    extra: u64,
}

const PARAMS: u64 = 0x60 + l::IOPB_PARAMETERS;

fn frame(
    emu: &mut Emu,
    actor: Actor,
    major: u8,
    fo: u64,
    irp_flags: u32,
) -> Result<Frame, Violation> {
    let block = emu.alloc(0x1000)?;
    let data = block;
    let iopb = block + 0x60;
    let objects = block + 0xB0;
    let completion = block + 0xF0;
    let extra = block + 0x100;
    emu.w32(data + l::CD_FLAGS, 1)?; // FLTFL_CALLBACK_DATA_IRP_OPERATION
    emu.w64(data + l::CD_THREAD, actor.thread)?;
    emu.w64(data + l::CD_IOPB, iopb)?;
    emu.write(data + l::CD_REQUESTOR_MODE, &[1])?; // UserMode
    emu.w32(iopb + l::IOPB_IRP_FLAGS, irp_flags)?;
    emu.write(iopb + l::IOPB_MAJOR, &[major])?;
    emu.w64(iopb + l::IOPB_FILE_OBJECT, fo)?;
    emu.w64(iopb + l::IOPB_INSTANCE, emu.k.fs.instance)?;
    let filter = emu.k.filter.as_ref().map_or(0, |f| f.object);
    emu.w16(objects + l::RO_SIZE_FIELD, l::RO_SIZE as u16)?;
    emu.w64(objects + l::RO_FILTER, filter)?;
    emu.w64(objects + l::RO_VOLUME, emu.k.fs.volume_object)?;
    emu.w64(objects + l::RO_INSTANCE, emu.k.fs.instance)?;
    emu.w64(objects + l::RO_FILE_OBJECT, fo)?;
    emu.k.fs.ops.insert(
        data,
        InFlight {
            file_object: fo,
            process: actor.process,
        },
    );
    Ok(Frame {
        block,
        data,
        objects,
        completion,
        extra,
    })
}

fn end_frame(emu: &mut Emu, f: &Frame) -> Result<(), Violation> {
    emu.k.fs.ops.remove(&f.data);
    emu.free(f.block)?;
    Ok(())
}

/// Calls one callback, measuring it.
fn invoke(
    emu: &mut Emu,
    function: u64,
    args: &[u64],
    at: u8,
    label: &str,
) -> Result<u64, Violation> {
    emu.paint_stack()?;
    let before = emu.instructions();
    let result = emu.call(function, args, at)?;
    let cost = CallbackCost {
        callback: emu
            .symbols
            .function_at(function)
            .map_or_else(|| label.to_owned(), str::to_owned),
        operation: emu.k.fs.operation.clone(),
        instructions: emu.instructions() - before,
        stack: emu.stack_used(),
    };
    emu.k.fs.costs.push(cost);
    Ok(result)
}

/// What the file system does for an operation: its status and `IoStatus.Information`.
type Effect<'a> = dyn FnMut(&mut Emu) -> Result<(u32, u64), Violation> + 'a;

/// Runs `major` through the registered callbacks: pre at `pre_irql`, then `effect` (the
/// file system: returns status and information), then post (synchronized or not).
fn deliver(
    emu: &mut Emu,
    f: &Frame,
    major: u8,
    paging: bool,
    pre_irql: u8,
    effect: &mut Effect<'_>,
) -> Result<u32, Violation> {
    let registered = emu.k.filter.as_ref().and_then(|filter| {
        (filter.started && !filter.unregistered && emu.k.fs.instance != 0)
            .then(|| filter.operations.iter().find(|o| o.major == major).copied())
            .flatten()
    });
    let registered = registered.filter(|o| !(paging && o.flags & SKIP_PAGING_IO != 0));
    let mut post = registered.map_or(0, |o| o.post);
    let mut completion = 0;
    if let Some(op) = registered.filter(|o| o.pre != 0) {
        emu.w64(f.completion, 0)?;
        let result = invoke(
            emu,
            op.pre,
            &[f.data, f.objects, f.completion],
            pre_irql,
            &format!("IRP_MJ_{major:#x} pre"),
        )? as u32;
        completion = emu.r64(f.completion)?;
        match result {
            0 | 5 => {} // FLT_PREOP_SUCCESS_WITH_CALLBACK, FLT_PREOP_SYNCHRONIZE
            1 => {
                // FLT_PREOP_SUCCESS_NO_CALLBACK: no post; a completion context would leak.
                if completion != 0 {
                    return Err(Violation::new(Rule::Unbalanced, "a pre-operation callback set a completion context and returned FLT_PREOP_SUCCESS_NO_CALLBACK"));
                }
                post = 0;
            }
            other => {
                return Err(Violation::new(
                    Rule::BadCall,
                    format!(
                        "pre-operation callback returned {other}, which this driver never should"
                    ),
                ));
            }
        }
    } else if registered.is_none() {
        post = 0;
    }
    let (status, information) = effect(emu)?;
    emu.w64(f.data + l::CD_STATUS, u64::from(status))?;
    emu.w64(f.data + l::CD_INFORMATION, information)?;
    if post != 0 {
        // Post-create runs at PASSIVE_LEVEL; a synchronized post runs in the pre's thread
        // at PASSIVE here (the fake file system completes synchronously).
        let result = invoke(
            emu,
            post,
            &[f.data, f.objects, completion, 0],
            irql::PASSIVE,
            &format!("IRP_MJ_{major:#x} post"),
        )?;
        if result != 0 {
            return Err(Violation::new(Rule::BadCall, format!("post-operation callback returned {result}, expected FLT_POSTOP_FINISHED_PROCESSING")));
        }
    } else if completion != 0 {
        return Err(Violation::new(
            Rule::Unbalanced,
            "a completion context was set but no post-operation callback runs",
        ));
    }
    Ok(status)
}

/// Opens or creates `path` (relative); the file object on success.
///
/// # Errors
/// Violations in the callbacks.
pub fn create(
    emu: &mut Emu,
    actor: Actor,
    path: &str,
    disposition: u32,
    options: u32,
    access: u32,
) -> Result<Option<u64>, Violation> {
    let key = path.to_lowercase();
    let existing = emu.k.fs.names.get(&key).copied();
    let fo = emu.alloc(l::FO_SIZE + 0x200)?;
    emu.w16(fo + l::FO_TYPE, 5)?;
    emu.w16(fo + l::FO_SIZE_FIELD, l::FO_SIZE as u16)?;
    let name: Vec<u8> = format!("\\{}\\{}", emu.k.fs.scratch, path.replace('/', "\\"))
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    emu.write_unicode_string(fo + l::FO_FILE_NAME, fo + l::FO_SIZE, &name)?;
    let f = frame(emu, actor, IRP_MJ_CREATE, fo, 0)?;
    let security = f.extra;
    emu.w32(security + l::SC_DESIRED_ACCESS, access)?;
    emu.w64(f.block + PARAMS + l::P_CREATE_SECURITY, security)?;
    emu.w32(
        f.block + PARAMS + l::P_CREATE_OPTIONS,
        (disposition << 24) | options,
    )?;
    let directory = options & FILE_DIRECTORY_FILE != 0;
    let mut opened = None;
    let mut effect = |emu: &mut Emu| -> Result<(u32, u64), Violation> {
        let node = match (disposition, existing) {
            (FILE_CREATE, Some(_)) => return Ok((0xC000_0035, 0)), // OBJECT_NAME_COLLISION
            (FILE_OPEN, None) => return Ok((status::OBJECT_NAME_NOT_FOUND, 0)),
            (_, Some(node)) => node,
            (_, None) => {
                let id = 0x1_0000 + emu.k.fs.nodes.len() as u64;
                emu.k.fs.nodes.push(Node {
                    id,
                    directory,
                    links: vec![key.clone()],
                    size: 0,
                    stream_context: None,
                    open: 0,
                });
                let node = emu.k.fs.nodes.len() - 1;
                emu.k.fs.names.insert(key.clone(), node);
                node
            }
        };
        emu.k.fs.nodes[node].open += 1;
        emu.k.fs.files.insert(
            fo,
            FileObj {
                node,
                path: key.clone(),
                handle_context: None,
                delete_pending: options & FILE_DELETE_ON_CLOSE != 0,
                link_deleted: false,
                cleaned_up: false,
            },
        );
        opened = Some(fo);
        Ok((status::SUCCESS, if existing.is_some() { 1 } else { 2 })) // FILE_OPENED / FILE_CREATED
    };
    deliver(emu, &f, IRP_MJ_CREATE, false, irql::PASSIVE, &mut effect)?;
    end_frame(emu, &f)?;
    if opened.is_none() {
        emu.free(fo)?;
    }
    Ok(opened)
}

/// Writes `length` bytes at the end (paging I/O when `paging`).
///
/// # Errors
/// Violations in the callbacks.
pub fn write(
    emu: &mut Emu,
    actor: Actor,
    fo: u64,
    length: u32,
    paging: bool,
) -> Result<(), Violation> {
    let f = frame(
        emu,
        actor,
        IRP_MJ_WRITE,
        fo,
        if paging { IRP_PAGING_IO } else { 0 },
    )?;
    let node = file(emu, fo, "write")?.node;
    let offset = emu.k.fs.nodes[node].size;
    emu.w32(f.block + PARAMS + l::P_WRITE_LENGTH, length)?;
    emu.w64(f.block + PARAMS + l::P_WRITE_OFFSET, offset)?;
    let pre_irql = emu.k.inject.pre_write_irql.unwrap_or(irql::APC);
    let mut effect = |emu: &mut Emu| {
        let n = &mut emu.k.fs.nodes[node];
        if !paging {
            n.size = n.size.max(offset + u64::from(length));
        }
        Ok((status::SUCCESS, u64::from(length)))
    };
    deliver(emu, &f, IRP_MJ_WRITE, paging, pre_irql, &mut effect)?;
    end_frame(emu, &f)
}

/// A set-information request of `class` with `buffer` as the system buffer.
///
/// # Errors
/// Violations in the callbacks.
pub fn set_information(
    emu: &mut Emu,
    actor: Actor,
    fo: u64,
    class: u32,
    buffer: &[u8],
    target: Option<&str>,
    replace: bool,
) -> Result<u32, Violation> {
    let f = frame(emu, actor, IRP_MJ_SET_INFORMATION, fo, 0)?;
    let info = f.extra;
    emu.write(info, buffer)?;
    emu.w32(f.block + PARAMS + l::P_SETINFO_LENGTH, buffer.len() as u32)?;
    emu.w32(f.block + PARAMS + l::P_SETINFO_CLASS, class)?;
    emu.write(
        f.block + PARAMS + l::P_SETINFO_REPLACE,
        &[u8::from(replace), 0],
    )?;
    emu.w64(f.block + PARAMS + l::P_SETINFO_BUFFER, info)?;
    let target = target.map(str::to_lowercase);
    let mut effect = |emu: &mut Emu| -> Result<(u32, u64), Violation> {
        let node = file(emu, fo, "set information")?.node;
        match class {
            FILE_RENAME_INFORMATION | FILE_LINK_INFORMATION => {
                let Some(target) = target.clone() else {
                    return Ok((status::INVALID_PARAMETER, 0));
                };
                if emu.k.fs.names.contains_key(&target) {
                    return Ok((0xC000_0035, 0));
                }
                if class == FILE_RENAME_INFORMATION {
                    let old = file(emu, fo, "rename")?.path.clone();
                    emu.k.fs.names.remove(&old);
                    emu.k.fs.nodes[node].links.retain(|n| *n != old);
                    if let Some(file) = emu.k.fs.files.get_mut(&fo) {
                        file.path = target.clone();
                    }
                }
                emu.k.fs.nodes[node].links.push(target.clone());
                emu.k.fs.names.insert(target, node);
            }
            FILE_DISPOSITION_INFORMATION => {
                let delete = emu.read(info, 1)?[0] != 0;
                if let Some(file) = emu.k.fs.files.get_mut(&fo) {
                    file.delete_pending = delete;
                }
            }
            FILE_END_OF_FILE_INFORMATION => {
                emu.k.fs.nodes[node].size = emu.r64(info)?;
            }
            _ => {}
        }
        Ok((status::SUCCESS, 0))
    };
    let result = deliver(
        emu,
        &f,
        IRP_MJ_SET_INFORMATION,
        false,
        irql::PASSIVE,
        &mut effect,
    )?;
    end_frame(emu, &f)?;
    Ok(result)
}

/// Cleanup (the last user handle closed); a pending delete removes the name.
///
/// # Errors
/// Violations in the callbacks.
pub fn cleanup(emu: &mut Emu, actor: Actor, fo: u64) -> Result<(), Violation> {
    let f = frame(emu, actor, IRP_MJ_CLEANUP, fo, 0)?;
    let mut effect = |emu: &mut Emu| -> Result<(u32, u64), Violation> {
        let file = file(emu, fo, "cleanup")?.clone();
        emu.k.fs.nodes[file.node].open -= 1;
        if file.delete_pending {
            emu.k.fs.names.remove(&file.path);
            emu.k.fs.nodes[file.node].links.retain(|n| *n != file.path);
        }
        if let Some(live) = emu.k.fs.files.get_mut(&fo) {
            live.cleaned_up = true;
            live.link_deleted = file.delete_pending;
        }
        Ok((status::SUCCESS, 0))
    };
    deliver(emu, &f, IRP_MJ_CLEANUP, false, irql::PASSIVE, &mut effect)?;
    end_frame(emu, &f)
}

/// Close: Filter Manager drops the handle's context and, with the stream's last file
/// object, the stream context; the file object is freed.
///
/// # Errors
/// Unbalanced contexts.
pub fn close(emu: &mut Emu, fo: u64) -> Result<(), Violation> {
    let Some(file) = emu.k.fs.files.remove(&fo) else {
        return Err(Violation::new(
            Rule::BadCall,
            format!("close of {fo:#x}: not a live file object"),
        ));
    };
    if let Some(context) = file.handle_context {
        context_ref(emu, context, -1, "Filter Manager (close)")?;
    }
    let still_open = emu.k.fs.files.values().any(|f| f.node == file.node);
    let node = &mut emu.k.fs.nodes[file.node];
    if !still_open {
        if let Some(context) = node.stream_context.take() {
            context_ref(emu, context, -1, "Filter Manager (stream teardown)")?;
        }
    }
    emu.free(fo)?;
    Ok(())
}

/// Starts a set-information request whose completion never comes before unload: the
/// pre-operation callback runs; if it asks for a post-operation callback, that call is owed
/// and `FltUnregisterFilter` delivers it with `FLTFL_POST_OPERATION_DRAINING`.
///
/// # Errors
/// Violations in the callback.
pub fn set_information_in_flight(
    emu: &mut Emu,
    actor: Actor,
    fo: u64,
    class: u32,
    buffer: &[u8],
) -> Result<bool, Violation> {
    let f = frame(emu, actor, IRP_MJ_SET_INFORMATION, fo, 0)?;
    emu.write(f.extra, buffer)?;
    emu.w32(f.block + PARAMS + l::P_SETINFO_LENGTH, buffer.len() as u32)?;
    emu.w32(f.block + PARAMS + l::P_SETINFO_CLASS, class)?;
    emu.w64(f.block + PARAMS + l::P_SETINFO_BUFFER, f.extra)?;
    let op = emu.k.filter.as_ref().and_then(|filter| {
        filter
            .operations
            .iter()
            .find(|o| o.major == IRP_MJ_SET_INFORMATION)
            .copied()
    });
    let Some(op) = op.filter(|o| o.pre != 0 && o.post != 0) else {
        end_frame(emu, &f)?;
        return Ok(false);
    };
    emu.w64(f.completion, 0)?;
    let result = invoke(
        emu,
        op.pre,
        &[f.data, f.objects, f.completion],
        irql::PASSIVE,
        "pre-set-information",
    )?;
    let completion = emu.r64(f.completion)?;
    if result == 1 {
        end_frame(emu, &f)?;
        return Ok(false);
    }
    emu.k.fs.in_flight.push(OwedPost {
        block: f.block,
        data: f.data,
        objects: f.objects,
        completion,
        post: op.post,
    });
    Ok(true)
}

/// Delivers every owed post-operation callback with `FLTFL_POST_OPERATION_DRAINING`
/// (Filter Manager does this while the filter unregisters).
///
/// # Errors
/// Violations in the callbacks.
pub fn drain(emu: &mut Emu) -> Result<(), Violation> {
    let owed = std::mem::take(&mut emu.k.fs.in_flight);
    for o in owed {
        let result = emu.call(o.post, &[o.data, o.objects, o.completion, 1], irql::PASSIVE)?;
        if result != 0 {
            return Err(Violation::new(
                Rule::BadCall,
                format!("a draining post-operation callback returned {result}"),
            ));
        }
        emu.k.fs.ops.remove(&o.data);
        emu.free(o.block)?;
    }
    Ok(())
}
