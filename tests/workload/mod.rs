//! The shared file workload (`tests/data/workload.json`): loader, validator, OCSF comparison
//! and a POSIX runner.
//!
//! The Windows VM harness (`tests/vm/`) and the Linux end-to-end test run the same steps and
//! check the same expected events; the format is described in `tests/data/README.md`.
//!
//! ```no_run
//! use picket_integration_tests::workload::{self, Platform};
//! let w = workload::load_default().expect("workload.json is valid");
//! for event in w.expected_for(Platform::Linux) {
//!     println!("{} {}", event.operation, event.path);
//! }
//! ```

pub mod compare;
pub mod model;
#[cfg(unix)]
pub mod posix;
mod validate;

use std::path::{Path, PathBuf};

pub use compare::{compare, scratch_events, Mismatch, ObservedEvent};
pub use model::{Action, ExpectedEvent, Operation, Platform, RelPath, Step, Workload};

/// Everything that can be wrong with a workload file.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read workload file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("workload file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("workload format {found} is not supported (this loader reads format {supported})")]
    UnsupportedFormat { found: u32, supported: u32 },
    #[error("{context}: {field} `{path}`: {reason}")]
    BadPath {
        context: String,
        field: &'static str,
        path: String,
        reason: &'static str,
    },
    #[error("{context}: platforms: {reason}")]
    BadPlatforms {
        context: String,
        reason: &'static str,
    },
    #[error("step `{step}`: unknown op `{op}`")]
    UnknownOp { step: String, op: String },
    #[error(
        "step `{step}`: op `{op}` {} field `{field}`",
        if *missing { "needs" } else { "takes no" }
    )]
    StepField {
        step: String,
        op: String,
        field: &'static str,
        missing: bool,
    },
    #[error("a step has an empty id")]
    EmptyStepId,
    #[error("step id `{0}` is used twice")]
    DuplicateStepId(String),
    #[error("ignored_operations has no entry for {platform}")]
    IgnoredMissingPlatform { platform: Platform },
    #[error("step `{step}` cannot run on {platform}: {reason}")]
    StepImpossible {
        step: String,
        platform: Platform,
        reason: String,
    },
    #[error("the scratch folder is not empty after the {platform} steps: {left:?} left")]
    ScratchNotEmpty {
        platform: Platform,
        left: Vec<String>,
    },
    #[error("expected event #{index}: `{operation}` {} a new_path", if operation.has_new_path() { "needs" } else { "takes no" })]
    EventNewPath { index: usize, operation: Operation },
    #[error(
        "expected event #{index}: `{operation}` is ignored on {platform}, so it can never be seen"
    )]
    EventIgnored {
        index: usize,
        operation: Operation,
        platform: Platform,
    },
    #[error("expected event #{index}: no step `{step}`")]
    EventUnknownStep { index: usize, step: String },
    #[error("expected event #{index}: step `{step}` comes before the previous event's step")]
    EventOutOfOrder { index: usize, step: String },
    #[error("expected event #{index}: step `{step}` does not run on {platform}")]
    EventPlatformNotRun {
        index: usize,
        step: String,
        platform: Platform,
    },
    #[error("expected event #{index}: its paths are not the ones step `{step}` touches")]
    EventPathNotFromStep { index: usize, step: String },
    #[error("step `{step}` runs on {platform} but no event is expected from it there")]
    StepNotObserved { step: String, platform: Platform },
}

/// Where the shared workload lives in the repository.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/workload.json")
}

/// Parses and validates workload JSON text.
pub fn parse(text: &str) -> Result<Workload, WorkloadError> {
    let raw: model::raw::Workload = serde_json::from_str(text)?;
    let workload = model::from_raw(raw)?;
    validate::validate(&workload)?;
    Ok(workload)
}

/// Reads, parses and validates a workload file.
pub fn load(path: &Path) -> Result<Workload, WorkloadError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text)
}

/// Loads `tests/data/workload.json`.
pub fn load_default() -> Result<Workload, WorkloadError> {
    load(&default_path())
}

#[cfg(test)]
mod tests;
