//! Processes as the kernel reports them to `PsSetCreateProcessNotifyRoutineEx` routines:
//! the exports the driver's process-notify callback imports, the harness side that creates
//! and ends processes and calls every registered routine the way Windows does
//! (`PASSIVE_LEVEL`, in the creating thread's process for a start, in the exiting process for
//! an exit, a `PS_CREATE_NOTIFY_INFO` in guest memory for a start and NULL for an exit), and
//! the decoded process records the client received.

use picket_protocol::{decode_batch, Body};

use crate::emu::{Emu, Flow};
use crate::fs::CallbackCost;
use crate::kernel::{new_process, status};
use crate::layout as l;
use crate::verifier::{irql, Rule, Violation};
use crate::Harness;

/// How many process-notify routines the kernel accepts (`PSP_MAX_CREATE_PROCESS_NOTIFY`).
pub const MAX_ROUTINES: usize = 64;

fn ret(value: u32) -> Result<Flow, Violation> {
    Ok(Flow::Return(u64::from(value)))
}

fn process_arg(emu: &Emu, api: &str) -> Result<crate::kernel::Process, Violation> {
    let p = emu.arg(0)?;
    emu.k
        .processes
        .get(&p)
        .copied()
        .ok_or_else(|| Violation::new(Rule::BadCall, format!("{api}({p:#x}): not a process")))
}

/// `PsSetCreateProcessNotifyRoutineEx(NotifyRoutine, Remove)`.
///
/// Registration: the kernel verifies that the routine lies in a loaded image linked with
/// `/INTEGRITYCHECK` (`MmVerifyCallbackFunctionCheckFlags`), else `STATUS_ACCESS_DENIED`;
/// a routine registered twice, or a 65th, is `STATUS_INVALID_PARAMETER` (all three
/// documented). Removal of a routine that is not registered is undocumented; Windows
/// answers `STATUS_PROCEDURE_NOT_FOUND` (the driver removes only what it registered). Removal waits for calls in
/// flight; here none can be (the harness calls routines synchronously).
///
/// # Errors
/// Emulator errors.
pub fn ps_set_create_process_notify_routine_ex(emu: &mut Emu) -> Result<Flow, Violation> {
    let (routine, remove) = (emu.arg(0)?, emu.arg(1)? as u8);
    if remove != 0 {
        let Some(index) = emu.k.process_notify.iter().position(|r| *r == routine) else {
            return ret(status::PROCEDURE_NOT_FOUND);
        };
        if !emu.k.inject.keep_process_notify {
            emu.k.process_notify.remove(index);
        }
        emu.k.process_notify_removed += 1;
        return ret(status::SUCCESS);
    }
    let in_image = routine >= emu.image.base && routine < emu.image.end();
    if !in_image || !emu.image.force_integrity() {
        return ret(status::ACCESS_DENIED);
    }
    if emu.k.process_notify.contains(&routine) || emu.k.process_notify.len() >= MAX_ROUTINES {
        return ret(status::INVALID_PARAMETER);
    }
    emu.k.process_notify.push(routine);
    ret(status::SUCCESS)
}

/// `PsGetProcessExitStatus`: the exit status once the process exited, `STATUS_PENDING`
/// while it runs.
///
/// # Errors
/// Not a process.
pub fn ps_get_process_exit_status(emu: &mut Emu) -> Result<Flow, Violation> {
    let process = process_arg(emu, "PsGetProcessExitStatus")?;
    ret(process.exit_status.unwrap_or(status::PENDING))
}

/// `PsGetProcessSessionId`.
///
/// # Errors
/// Not a process.
pub fn ps_get_process_session_id(emu: &mut Emu) -> Result<Flow, Violation> {
    let process = process_arg(emu, "PsGetProcessSessionId")?;
    ret(process.session_id)
}

/// `PsLookupProcessByProcessId`: a *referenced* process for an id still in the process
/// table (the caller owes an `ObDereferenceObject`, which the Verifier's reference
/// accounting checks); `STATUS_INVALID_PARAMETER` for an id that is not (the out
/// parameter is left alone).
///
/// # Errors
/// An out parameter outside guest memory.
pub fn ps_lookup_process_by_process_id(emu: &mut Emu) -> Result<Flow, Violation> {
    let (pid, out) = (emu.arg(0)?, emu.arg(1)?);
    let found = emu
        .k
        .processes
        .iter()
        .find(|(_, p)| p.pid == pid && !p.deleted)
        .map(|(object, _)| *object);
    let Some(object) = found else {
        return ret(status::INVALID_PARAMETER);
    };
    emu.w64(out, object)?;
    *emu.k.object_refs.entry(object).or_insert(0) += 1;
    ret(status::SUCCESS)
}

/// The unload-order rule: the process-notify routine goes first, before the port closes
/// or the filter unregisters (it stores into the ring those free).
///
/// # Errors
/// [`Rule::BadCall`] when a routine is still registered.
pub fn require_removed(emu: &Emu, api: &str) -> Result<(), Violation> {
    if emu.k.process_notify.is_empty() {
        return Ok(());
    }
    Err(Violation::new(
        Rule::BadCall,
        format!(
            "{api} while the process-notify routine is still registered: it must be removed \
             first (a process starting now would store into what the unload is tearing down)"
        ),
    ))
}

/// A process creation as the kernel describes it to the notify routines.
#[derive(Clone, Debug)]
pub struct NewProcess<'a> {
    /// The new process's id.
    pub pid: u64,
    /// Its start key.
    pub start_key: u64,
    /// Its session.
    pub session_id: u32,
    /// `ParentProcessId`.
    pub parent_pid: u64,
    /// `CreatingThreadId.UniqueProcess`.
    pub creating_pid: u64,
    /// `CreatingThreadId.UniqueThread`.
    pub creating_tid: u64,
    /// `ImageFileName`.
    pub image: &'a str,
    /// `CommandLine` (`None`: a NULL pointer, as for some system processes).
    pub command_line: Option<&'a str>,
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A `UNICODE_STRING` and its buffer, each a block of its own (an over-read of the buffer
/// hits the guard page).
fn unicode_string(emu: &mut Emu, text: &str) -> Result<(u64, u64), Violation> {
    let bytes = utf16(text);
    if bytes.len() > usize::from(u16::MAX) {
        return Err(Violation::new(
            Rule::Emulator,
            "a UNICODE_STRING holds at most 65,535 bytes",
        ));
    }
    let string = emu.alloc(l::US_SIZE)?;
    let buffer = emu.alloc(bytes.len() as u64)?;
    emu.write_unicode_string(string, buffer, &bytes)?;
    Ok((string, buffer))
}

impl Harness {
    /// Calls every registered process-notify routine at `PASSIVE_LEVEL` with `args`, each
    /// measured like a file callback (instructions, stack: `operation` labels it).
    fn notify(&mut self, args: &[u64], operation: &str) -> Result<(), Violation> {
        for routine in self.emu.k.process_notify.clone() {
            self.emu.paint_stack()?;
            let before = self.emu.instructions();
            self.emu.call(routine, args, irql::PASSIVE)?;
            let cost = CallbackCost {
                callback: self
                    .emu
                    .symbols
                    .function_at(routine)
                    .map_or_else(|| "process notify".to_owned(), str::to_owned),
                operation: operation.to_owned(),
                instructions: self.emu.instructions() - before,
                stack: self.emu.stack_used(),
            };
            self.emu.k.fs.costs.push(cost);
        }
        Ok(())
    }

    fn process_by_pid(&self, pid: u64) -> Option<u64> {
        self.emu
            .k
            .processes
            .iter()
            .find(|(_, p)| p.pid == pid && !p.deleted)
            .map(|(object, _)| *object)
    }

    /// Creates process `p`: its `EPROCESS`, then every registered routine is called with
    /// it, its id and a `PS_CREATE_NOTIFY_INFO` built in guest memory (freed afterwards, so a
    /// pointer kept past the call faults), in the context of the creating process. Returns
    /// the process object and the `CreationStatus` the routines left (a routine that writes
    /// a failure there denies the creation).
    ///
    /// # Errors
    /// Any violation.
    pub fn start_process(&mut self, p: &NewProcess<'_>) -> Result<(u64, u32), Violation> {
        let object = new_process(&mut self.emu, p.pid, p.start_key)?;
        if let Some(process) = self.emu.k.processes.get_mut(&object) {
            process.session_id = p.session_id;
        }
        let (image, image_buffer) = unicode_string(&mut self.emu, p.image)?;
        let command_line = match p.command_line {
            Some(text) => Some(unicode_string(&mut self.emu, text)?),
            None => None,
        };
        let file_object = self.emu.alloc(0x100)?;
        let info = self.emu.alloc(l::PCNI_SIZE)?;
        self.emu.w64(info + l::PCNI_SIZE_FIELD, l::PCNI_SIZE)?;
        // FileOpenNameAvailable: ImageFileName is the name the image was opened by.
        self.emu.w32(info + l::PCNI_FLAGS, 1)?;
        self.emu.w64(info + l::PCNI_PARENT, p.parent_pid)?;
        self.emu
            .w64(info + l::PCNI_CREATING + l::CID_PROCESS, p.creating_pid)?;
        self.emu
            .w64(info + l::PCNI_CREATING + l::CID_THREAD, p.creating_tid)?;
        self.emu.w64(info + l::PCNI_FILE_OBJECT, file_object)?;
        self.emu.w64(info + l::PCNI_IMAGE, image)?;
        self.emu
            .w64(info + l::PCNI_COMMAND_LINE, command_line.map_or(0, |c| c.0))?;
        self.emu
            .w32(info + l::PCNI_CREATION_STATUS, status::SUCCESS)?;
        let creator = self
            .process_by_pid(p.creating_pid)
            .unwrap_or(self.emu.k.system_process);
        let saved = self.emu.k.current_process;
        self.emu.k.current_process = creator;
        let result = self.notify(&[object, p.pid, info], "process start");
        self.emu.k.current_process = saved;
        result?;
        let creation_status = self.emu.r32(info + l::PCNI_CREATION_STATUS)?;
        for block in [info, file_object, image, image_buffer] {
            self.emu.free(block)?;
        }
        if let Some((string, buffer)) = command_line {
            self.emu.free(string)?;
            self.emu.free(buffer)?;
        }
        Ok((object, creation_status))
    }

    /// Process `object` exits with `exit_status`: every registered routine is called with
    /// a NULL `CreateInfo` in the exiting process's context, then its id leaves the process
    /// table.
    ///
    /// # Errors
    /// Any violation; an unknown or already exited process.
    pub fn exit_process(&mut self, object: u64, exit_status: u32) -> Result<(), Violation> {
        let pid = match self.emu.k.processes.get_mut(&object) {
            Some(p) if p.exit_status.is_none() => {
                p.exit_status = Some(exit_status);
                p.pid
            }
            _ => {
                return Err(Violation::new(
                    Rule::Emulator,
                    format!("exit_process({object:#x}): not a running process"),
                ))
            }
        };
        let saved = self.emu.k.current_process;
        self.emu.k.current_process = object;
        let result = self.notify(&[object, pid, 0], "process exit");
        self.emu.k.current_process = saved;
        result?;
        if let Some(p) = self.emu.k.processes.get_mut(&object) {
            p.deleted = true;
        }
        Ok(())
    }

    /// Every process record the client received, in order, decoded by `picket-protocol`.
    ///
    /// # Errors
    /// A batch that does not decode.
    pub fn process_records(&self) -> Result<Vec<ProcessRecord>, String> {
        let mut out = Vec::new();
        for (i, message) in self.emu.k.messages.iter().enumerate() {
            let batch =
                decode_batch(message).map_err(|e| format!("message {i} does not decode: {e}"))?;
            for record in batch.records() {
                let event = match record.body {
                    Body::ProcessStart(s) => ProcessEvent::Start {
                        parent_pid: s.parent_pid,
                        parent_start_key: s.parent_start_key,
                        creating_pid: s.creating_pid,
                        creating_tid: s.creating_tid,
                        session_id: s.session_id,
                        image: s.image.bytes.to_vec(),
                        image_truncated: s.image.truncated,
                        command_line: s.command_line.bytes.to_vec(),
                        command_line_truncated: s.command_line.truncated,
                    },
                    Body::ProcessExit(e) => ProcessEvent::Exit {
                        exit_status: e.exit_status,
                    },
                    _ => continue,
                };
                out.push(ProcessRecord {
                    seq: record.header.seq,
                    pid: record.header.pid,
                    start_key: record.header.process_start_key,
                    event,
                });
            }
        }
        Ok(out)
    }

    /// The capabilities of the last `DriverHello` the client received.
    ///
    /// # Errors
    /// A batch that does not decode.
    pub fn hello_capabilities(&self) -> Result<Option<u64>, String> {
        let mut found = None;
        for (i, message) in self.emu.k.messages.iter().enumerate() {
            let batch =
                decode_batch(message).map_err(|e| format!("message {i} does not decode: {e}"))?;
            for record in batch.records() {
                if let Body::DriverHello(hello) = record.body {
                    found = Some(hello.capabilities);
                }
            }
        }
        Ok(found)
    }
}

/// A decoded process record (owned; the timestamp left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRecord {
    /// Sequence number.
    pub seq: u64,
    /// The process's id (record header).
    pub pid: u32,
    /// Its start key (record header).
    pub start_key: u64,
    /// Start or exit.
    pub event: ProcessEvent,
}

/// What a process record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessEvent {
    /// `ProcessStart`.
    Start {
        /// Parent id.
        parent_pid: u32,
        /// Parent start key (0: not found).
        parent_start_key: u64,
        /// Creating process.
        creating_pid: u32,
        /// Creating thread.
        creating_tid: u32,
        /// Session.
        session_id: u32,
        /// Image file name bytes (UTF-16LE).
        image: Vec<u8>,
        /// The image name was cut.
        image_truncated: bool,
        /// Command line bytes (UTF-16LE).
        command_line: Vec<u8>,
        /// The command line was cut.
        command_line_truncated: bool,
    },
    /// `ProcessExit`.
    Exit {
        /// The exit status.
        exit_status: u32,
    },
}
