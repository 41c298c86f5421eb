//! Runs workload steps on a POSIX host with the system calls `tests/data/README.md` lists,
//! so the Linux end-to-end test performs exactly what the Windows harness performs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::model::{Action, Platform, Step, Workload};

/// The bytes of a write of `size` bytes: `i mod 251`, so no two nearby blocks look alike and
/// the content never matters to the events.
pub fn pattern(size: u64) -> Vec<u8> {
    // 251 is prime and below 256, so every value fits in a byte.
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// A step that failed on the host.
#[derive(Debug, thiserror::Error)]
#[error("workload step `{step}` ({op} {path}) failed: {source}")]
pub struct StepError {
    pub step: String,
    pub op: &'static str,
    pub path: String,
    #[source]
    pub source: io::Error,
}

/// Performs one action under `scratch`. Every handle is closed before this returns.
pub fn run_action(action: &Action, scratch: &Path) -> io::Result<()> {
    let at = |p: &super::model::RelPath| p.join_to(scratch);
    match action {
        Action::Mkdir { path } => fs::create_dir(at(path)),
        Action::Create { path, size } => {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(at(path))?;
            write_once(&mut file, *size)
        }
        Action::Write { path, size } => {
            let mut file = OpenOptions::new().append(true).open(at(path))?;
            write_once(&mut file, *size)
        }
        Action::Rename { path, new_path } => {
            let to = at(new_path);
            // rename(2) replaces silently; the format says the name must be free.
            if fs::symlink_metadata(&to).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", to.display()),
                ));
            }
            fs::rename(at(path), to)
        }
        Action::Hardlink { path, new_path } => fs::hard_link(at(path), at(new_path)),
        Action::Truncate { path, size } => OpenOptions::new()
            .write(true)
            .open(at(path))?
            .set_len(*size),
        Action::Delete { path } => fs::remove_file(at(path)),
        Action::DeleteOnClose { path } => {
            // No delete-on-close flag on POSIX: unlink while the file is open, then close.
            let open = File::open(at(path))?;
            fs::remove_file(at(path))?;
            drop(open);
            Ok(())
        }
        Action::Rmdir { path } => fs::remove_dir(at(path)),
    }
}

/// One `write` call when the kernel takes it all at once (it does for these small sizes), so
/// the events match the Windows runner's single `WriteFile`.
fn write_once(file: &mut File, size: u64) -> io::Result<()> {
    file.write_all(&pattern(size))
}

/// Runs one step, naming it in the error.
pub fn run_step(step: &Step, scratch: &Path) -> Result<(), StepError> {
    run_action(&step.action, scratch).map_err(|source| StepError {
        step: step.id.clone(),
        op: step.action.op_name(),
        path: step.action.path().to_string(),
        source,
    })
}

/// Runs every Linux step of `workload` in order under `scratch` (which must exist and be
/// empty).
pub fn run_linux(workload: &Workload, scratch: &Path) -> Result<(), StepError> {
    workload
        .steps_for(Platform::Linux)
        .try_for_each(|step| run_step(step, scratch))
}
