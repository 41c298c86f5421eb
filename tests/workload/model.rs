//! The typed form of `tests/data/workload.json` and its parsing.
//!
//! The file is read through permissive `raw` structs (`deny_unknown_fields`, every field as
//! written) and then turned into typed values here, so an error names the step and the field
//! instead of quoting a serde message about an untagged enum.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::WorkloadError;

/// The workload file format this loader understands.
pub const FORMAT: u32 = 1;

/// Operating system a step or an expected event applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// The minifilter path, checked by the VM harness in `tests/vm/`.
    Windows,
    /// The fanotify path, checked by the Linux end-to-end test.
    Linux,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 2] = [Platform::Windows, Platform::Linux];

    /// The platform this test binary runs on, if it is one the workload knows.
    pub fn current() -> Option<Platform> {
        if cfg!(windows) {
            Some(Platform::Windows)
        } else if cfg!(target_os = "linux") {
            Some(Platform::Linux)
        } else {
            None
        }
    }

    /// The spelling used in the JSON file.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Linux => "linux",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values of `unmapped.picket.operation` in Picket's OCSF output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Open,
    FirstWrite,
    CloseModified,
    Rename,
    Hardlink,
    Delete,
    Truncate,
    SetAttributes,
}

impl Operation {
    /// Every operation, in a stable order.
    pub const ALL: [Operation; 9] = [
        Operation::Create,
        Operation::Open,
        Operation::FirstWrite,
        Operation::CloseModified,
        Operation::Rename,
        Operation::Hardlink,
        Operation::Delete,
        Operation::Truncate,
        Operation::SetAttributes,
    ];

    /// The spelling used in the OCSF output and in the JSON file.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Open => "open",
            Operation::FirstWrite => "first_write",
            Operation::CloseModified => "close_modified",
            Operation::Rename => "rename",
            Operation::Hardlink => "hardlink",
            Operation::Delete => "delete",
            Operation::Truncate => "truncate",
            Operation::SetAttributes => "set_attributes",
        }
    }

    /// Parses the OCSF spelling.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether events of this operation carry a second name (`file_result` in OCSF).
    pub fn has_new_path(self) -> bool {
        matches!(self, Operation::Rename | Operation::Hardlink)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated path relative to the scratch folder: `/`-separated, no empty, `.` or `..`
/// component, no drive, no backslash, no leading `/`, lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Checks `text` against the path rules of the workload format.
    pub fn parse(text: &str) -> Result<RelPath, &'static str> {
        if text.is_empty() {
            return Err("path is empty");
        }
        if text.starts_with('/') {
            return Err("path is absolute");
        }
        if text.contains('\\') {
            return Err("path contains a backslash; use '/'");
        }
        if text.contains(':') {
            return Err("path contains ':' (a drive or a stream name)");
        }
        if text.chars().any(|c| c.is_control()) {
            return Err("path contains a control character");
        }
        if text.chars().any(char::is_uppercase) {
            return Err("path has upper-case letters; names must be lower case");
        }
        for component in text.split('/') {
            match component {
                "" => return Err("path has an empty component"),
                "." | ".." => return Err("path has a '.' or '..' component"),
                _ => {}
            }
        }
        Ok(RelPath(text.to_owned()))
    }

    /// The path as written in the file.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent folder, or `None` for a direct child of the scratch folder.
    pub fn parent(&self) -> Option<RelPath> {
        self.0
            .rsplit_once('/')
            .map(|(parent, _)| RelPath(parent.to_owned()))
    }

    /// Joins the path to `base` with the host's separator.
    pub fn join_to(&self, base: &std::path::Path) -> std::path::PathBuf {
        self.0
            .split('/')
            .fold(base.to_path_buf(), |acc, c| acc.join(c))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a step does. Exact system calls per platform: `tests/data/README.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Mkdir { path: RelPath },
    Create { path: RelPath, size: u64 },
    Write { path: RelPath, size: u64 },
    Rename { path: RelPath, new_path: RelPath },
    Hardlink { path: RelPath, new_path: RelPath },
    Truncate { path: RelPath, size: u64 },
    Delete { path: RelPath },
    DeleteOnClose { path: RelPath },
    Rmdir { path: RelPath },
}

impl Action {
    /// The `op` spelling of this action.
    pub fn op_name(&self) -> &'static str {
        match self {
            Action::Mkdir { .. } => "mkdir",
            Action::Create { .. } => "create",
            Action::Write { .. } => "write",
            Action::Rename { .. } => "rename",
            Action::Hardlink { .. } => "hardlink",
            Action::Truncate { .. } => "truncate",
            Action::Delete { .. } => "delete",
            Action::DeleteOnClose { .. } => "delete_on_close",
            Action::Rmdir { .. } => "rmdir",
        }
    }

    /// The (first) path the action works on.
    pub fn path(&self) -> &RelPath {
        match self {
            Action::Mkdir { path }
            | Action::Create { path, .. }
            | Action::Write { path, .. }
            | Action::Rename { path, .. }
            | Action::Hardlink { path, .. }
            | Action::Truncate { path, .. }
            | Action::Delete { path }
            | Action::DeleteOnClose { path }
            | Action::Rmdir { path } => path,
        }
    }

    /// The second path of a rename or hard link.
    pub fn new_path(&self) -> Option<&RelPath> {
        match self {
            Action::Rename { new_path, .. } | Action::Hardlink { new_path, .. } => Some(new_path),
            _ => None,
        }
    }
}

/// One step of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    /// Platforms the step runs on (never empty, no duplicates).
    pub platforms: Vec<Platform>,
    pub action: Action,
}

impl Step {
    /// Whether the step runs on `platform`.
    pub fn runs_on(&self, platform: Platform) -> bool {
        self.platforms.contains(&platform)
    }
}

/// One event the sensor must report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedEvent {
    /// Id of the step that causes the event.
    pub step: String,
    pub operation: Operation,
    pub path: RelPath,
    /// The new name of a rename or hard link (`file_result` in OCSF).
    pub new_path: Option<RelPath>,
    /// Platforms the event is reported on (never empty, no duplicates).
    pub platforms: Vec<Platform>,
}

impl ExpectedEvent {
    /// Whether the event is expected on `platform`.
    pub fn applies_to(&self, platform: Platform) -> bool {
        self.platforms.contains(&platform)
    }
}

/// The whole workload file, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub format: u32,
    pub name: String,
    pub description: String,
    pub notes: BTreeMap<String, String>,
    pub ignored_operations: BTreeMap<Platform, Vec<Operation>>,
    pub steps: Vec<Step>,
    pub expected_events: Vec<ExpectedEvent>,
}

impl Workload {
    /// The steps that run on `platform`, in order.
    pub fn steps_for(&self, platform: Platform) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.runs_on(platform))
    }

    /// The events expected on `platform`, in order.
    pub fn expected_for(&self, platform: Platform) -> impl Iterator<Item = &ExpectedEvent> {
        self.expected_events
            .iter()
            .filter(move |e| e.applies_to(platform))
    }

    /// Operations dropped from the output before comparing, on `platform`.
    pub fn ignored_for(&self, platform: Platform) -> &[Operation] {
        self.ignored_operations
            .get(&platform)
            .map_or(&[], Vec::as_slice)
    }

    /// The step with id `id`.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// The file as written, before any check beyond JSON types.
pub(super) mod raw {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::{Operation, Platform};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Workload {
        pub format: u32,
        pub name: String,
        pub description: String,
        #[serde(default)]
        pub notes: BTreeMap<String, String>,
        pub ignored_operations: BTreeMap<Platform, Vec<Operation>>,
        pub steps: Vec<Step>,
        pub expected_events: Vec<ExpectedEvent>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Step {
        pub id: String,
        pub op: String,
        pub path: String,
        pub new_path: Option<String>,
        pub size: Option<u64>,
        pub platforms: Option<Vec<Platform>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ExpectedEvent {
        pub step: String,
        pub operation: Operation,
        pub path: String,
        pub new_path: Option<String>,
        pub platforms: Vec<Platform>,
    }
}

/// Turns the raw file into typed values, checking each field on its own. Cross-field and
/// cross-step consistency is `validate`'s job.
pub(super) fn from_raw(raw: raw::Workload) -> Result<Workload, WorkloadError> {
    if raw.format != FORMAT {
        return Err(WorkloadError::UnsupportedFormat {
            found: raw.format,
            supported: FORMAT,
        });
    }
    let steps = raw
        .steps
        .into_iter()
        .map(step_from_raw)
        .collect::<Result<Vec<_>, _>>()?;
    let expected_events = raw
        .expected_events
        .into_iter()
        .enumerate()
        .map(|(index, event)| event_from_raw(index, event))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Workload {
        format: raw.format,
        name: raw.name,
        description: raw.description,
        notes: raw.notes,
        ignored_operations: raw.ignored_operations,
        steps,
        expected_events,
    })
}

fn path_field(context: &str, field: &'static str, text: &str) -> Result<RelPath, WorkloadError> {
    RelPath::parse(text).map_err(|reason| WorkloadError::BadPath {
        context: context.to_owned(),
        field,
        path: text.to_owned(),
        reason,
    })
}

fn platforms_field(
    context: &str,
    platforms: Vec<Platform>,
) -> Result<Vec<Platform>, WorkloadError> {
    if platforms.is_empty() {
        return Err(WorkloadError::BadPlatforms {
            context: context.to_owned(),
            reason: "the list is empty",
        });
    }
    let mut seen = Vec::with_capacity(platforms.len());
    for platform in platforms {
        if seen.contains(&platform) {
            return Err(WorkloadError::BadPlatforms {
                context: context.to_owned(),
                reason: "a platform is listed twice",
            });
        }
        seen.push(platform);
    }
    Ok(seen)
}

fn step_from_raw(raw: raw::Step) -> Result<Step, WorkloadError> {
    let context = format!("step `{}`", raw.id);
    let field_error = |field: &'static str, missing: bool| WorkloadError::StepField {
        step: raw.id.clone(),
        op: raw.op.clone(),
        field,
        missing,
    };
    let path = path_field(&context, "path", &raw.path)?;
    let new_path = raw
        .new_path
        .as_deref()
        .map(|p| path_field(&context, "new_path", p))
        .transpose()?;
    let wants_new_path = matches!(raw.op.as_str(), "rename" | "hardlink");
    let wants_size = matches!(raw.op.as_str(), "create" | "write" | "truncate");
    match (wants_new_path, new_path.is_some()) {
        (true, false) => return Err(field_error("new_path", true)),
        (false, true) => return Err(field_error("new_path", false)),
        _ => {}
    }
    match (wants_size, raw.size) {
        (true, None) => return Err(field_error("size", true)),
        (false, Some(_)) => return Err(field_error("size", false)),
        _ => {}
    }
    let size = raw.size.unwrap_or(0);
    let new_path = new_path.unwrap_or_else(|| path.clone());
    let action = match raw.op.as_str() {
        "mkdir" => Action::Mkdir { path },
        "create" => Action::Create { path, size },
        "write" => Action::Write { path, size },
        "rename" => Action::Rename { path, new_path },
        "hardlink" => Action::Hardlink { path, new_path },
        "truncate" => Action::Truncate { path, size },
        "delete" => Action::Delete { path },
        "delete_on_close" => Action::DeleteOnClose { path },
        "rmdir" => Action::Rmdir { path },
        _ => {
            return Err(WorkloadError::UnknownOp {
                step: raw.id,
                op: raw.op,
            })
        }
    };
    let platforms = platforms_field(&context, raw.platforms.unwrap_or(Platform::ALL.to_vec()))?;
    Ok(Step {
        id: raw.id,
        platforms,
        action,
    })
}

fn event_from_raw(index: usize, raw: raw::ExpectedEvent) -> Result<ExpectedEvent, WorkloadError> {
    let context = format!("expected event #{index} (step `{}`)", raw.step);
    let path = path_field(&context, "path", &raw.path)?;
    let new_path = raw
        .new_path
        .as_deref()
        .map(|p| path_field(&context, "new_path", p))
        .transpose()?;
    if raw.operation.has_new_path() != new_path.is_some() {
        return Err(WorkloadError::EventNewPath {
            index,
            operation: raw.operation,
        });
    }
    let platforms = platforms_field(&context, raw.platforms)?;
    Ok(ExpectedEvent {
        step: raw.step,
        operation: raw.operation,
        path,
        new_path,
        platforms,
    })
}
