//! Runs the shared workload (`tests/data/workload.json`) through the fake file system as
//! the Windows VM harness runs it with Win32 calls, and turns what the client received into
//! the events the workload comparison reads.

use picket_integration_tests::workload::{self, Action, ObservedEvent, Platform, Workload};
use picket_parse::Parser;
use picket_protocol::decode_batch;

use crate::fs::{
    cleanup, close, create, set_information, write, FILE_CREATE, FILE_DELETE_ON_CLOSE,
    FILE_DIRECTORY_FILE, FILE_DISPOSITION_INFORMATION, FILE_END_OF_FILE_INFORMATION,
    FILE_LINK_INFORMATION, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_RENAME_INFORMATION,
    FILE_SYNCHRONOUS_IO_NONALERT,
};
use crate::layout as l;
use crate::verifier::{Rule, Violation};
use crate::Harness;

const SYNCHRONIZE: u32 = 0x0010_0000;
const DELETE: u32 = 0x0001_0000;
const GENERIC_WRITE_MAPPED: u32 = 0x0012_0116;
const FILE_LIST_DIRECTORY: u32 = 0x1;
const FILE_READ_ATTRIBUTES: u32 = 0x80;
const FILE_WRITE_ATTRIBUTES: u32 = 0x100;

/// The workload file, loaded and validated by the shared loader.
///
/// # Errors
/// An invalid workload file.
pub fn load() -> Result<Workload, String> {
    workload::load_default().map_err(|e| e.to_string())
}

fn rename_buffer(h: &Harness, new_path: &str) -> Vec<u8> {
    let target = format!(
        "\\??\\C:\\{}\\{}",
        h.emu.k.fs.scratch,
        new_path.replace('/', "\\")
    );
    let name: Vec<u8> = target.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut buffer = vec![0u8; l::RENAME_NAME as usize];
    buffer[l::RENAME_NAME_LENGTH as usize..][..4]
        .copy_from_slice(&(name.len() as u32).to_le_bytes());
    buffer.extend_from_slice(&name);
    buffer
}

fn open(h: &mut Harness, path: &str, options: u32, access: u32) -> Result<u64, Violation> {
    let actor = h.actor;
    create(
        &mut h.emu,
        actor,
        path,
        FILE_OPEN,
        options | FILE_SYNCHRONOUS_IO_NONALERT,
        access,
    )?
    .ok_or_else(|| Violation::new(Rule::BadCall, format!("the workload could not open {path}")))
}

fn finish(h: &mut Harness, fo: u64) -> Result<(), Violation> {
    let actor = h.actor;
    cleanup(&mut h.emu, actor, fo)?;
    close(&mut h.emu, fo)
}

/// Performs one workload action with the I/O the Win32 call makes (see
/// `tests/data/README.md`): create, write, set information, cleanup and close, plus the
/// cache manager's paging write after a cached write (which Filter Manager must not deliver).
///
/// # Errors
/// Any violation in the driver's callbacks.
pub fn run_action(h: &mut Harness, action: &Action) -> Result<(), Violation> {
    let actor = h.actor;
    h.emu.k.fs.operation = action.op_name().to_owned();
    match action {
        Action::Mkdir { path } => {
            let fo = create(
                &mut h.emu,
                actor,
                path.as_str(),
                FILE_CREATE,
                FILE_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT,
                FILE_LIST_DIRECTORY | SYNCHRONIZE,
            )?
            .ok_or_else(|| Violation::new(Rule::BadCall, "mkdir failed"))?;
            finish(h, fo)?;
        }
        Action::Create { path, size } => {
            let fo = create(
                &mut h.emu,
                actor,
                path.as_str(),
                FILE_CREATE,
                FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT,
                GENERIC_WRITE_MAPPED,
            )?
            .ok_or_else(|| Violation::new(Rule::BadCall, "create failed"))?;
            write(&mut h.emu, actor, fo, *size as u32, false)?;
            cleanup(&mut h.emu, actor, fo)?;
            // The lazy writer flushes the cached data through the same file object after
            // cleanup, before close: paging I/O Filter Manager must not deliver.
            write(&mut h.emu, actor, fo, *size as u32, true)?;
            close(&mut h.emu, fo)?;
        }
        Action::Write { path, size } => {
            let fo = open(
                h,
                path.as_str(),
                FILE_NON_DIRECTORY_FILE,
                GENERIC_WRITE_MAPPED,
            )?;
            write(&mut h.emu, actor, fo, *size as u32, false)?;
            finish(h, fo)?;
        }
        Action::Rename { path, new_path } | Action::Hardlink { path, new_path } => {
            let rename = matches!(action, Action::Rename { .. });
            let access = if rename {
                DELETE | SYNCHRONIZE
            } else {
                FILE_WRITE_ATTRIBUTES | SYNCHRONIZE
            };
            let fo = open(h, path.as_str(), 0, access)?;
            let buffer = rename_buffer(h, new_path.as_str());
            let class = if rename {
                FILE_RENAME_INFORMATION
            } else {
                FILE_LINK_INFORMATION
            };
            set_information(
                &mut h.emu,
                actor,
                fo,
                class,
                &buffer,
                Some(new_path.as_str()),
                false,
            )?;
            finish(h, fo)?;
        }
        Action::Truncate { path, size } => {
            let fo = open(
                h,
                path.as_str(),
                FILE_NON_DIRECTORY_FILE,
                GENERIC_WRITE_MAPPED,
            )?;
            set_information(
                &mut h.emu,
                actor,
                fo,
                FILE_END_OF_FILE_INFORMATION,
                &size.to_le_bytes(),
                None,
                false,
            )?;
            finish(h, fo)?;
        }
        Action::Delete { path } | Action::Rmdir { path } => {
            let directory = matches!(action, Action::Rmdir { .. });
            let options = if directory {
                FILE_DIRECTORY_FILE
            } else {
                FILE_NON_DIRECTORY_FILE
            };
            let fo = open(
                h,
                path.as_str(),
                options,
                DELETE | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
            )?;
            set_information(
                &mut h.emu,
                actor,
                fo,
                FILE_DISPOSITION_INFORMATION,
                &[1],
                None,
                false,
            )?;
            finish(h, fo)?;
        }
        Action::DeleteOnClose { path } => {
            let fo = open(
                h,
                path.as_str(),
                FILE_NON_DIRECTORY_FILE | FILE_DELETE_ON_CLOSE,
                DELETE | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
            )?;
            finish(h, fo)?;
        }
    }
    h.emu.k.fs.operation.clear();
    Ok(())
}

/// Runs every Windows step of the workload.
///
/// # Errors
/// Any violation.
pub fn run(h: &mut Harness, w: &Workload) -> Result<(), Violation> {
    for step in w.steps_for(Platform::Windows) {
        run_action(h, &step.action)?;
    }
    Ok(())
}

/// The file events the client received, as the workload comparison reads them (paths
/// relative to the scratch folder).
///
/// # Errors
/// A batch that does not decode.
pub fn observed(h: &Harness) -> Result<Vec<ObservedEvent>, String> {
    let mut parser = Parser::without_volumes();
    let scratch = h.emu.k.fs.scratch_name();
    let mut out = Vec::new();
    for (i, message) in h.emu.k.messages.iter().enumerate() {
        let batch = decode_batch(message).map_err(|e| format!("message {i}: {e}"))?;
        let posix = batch.header.flags.posix_names();
        for record in batch.records() {
            let Some(event) = parser.parse(&record, posix) else {
                continue;
            };
            let Some(operation) = workload::Operation::from_name(event.operation.as_str()) else {
                continue;
            };
            let (path, new_path) = match &event.source {
                Some(source) => (
                    source.path().to_owned(),
                    Some(event.target.path().to_owned()),
                ),
                None => (event.target.path().to_owned(), None),
            };
            let Some(path) =
                workload::compare::relative_to_scratch(&path, &scratch, Platform::Windows)
            else {
                continue;
            };
            let new_path = new_path.and_then(|p| {
                workload::compare::relative_to_scratch(&p, &scratch, Platform::Windows)
            });
            out.push(ObservedEvent {
                line: out.len() + 1,
                operation,
                path,
                new_path,
                pid: Some(u64::from(event.process.pid)),
            });
        }
    }
    Ok(out)
}
