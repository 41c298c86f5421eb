//! OCSF 1.3 File System Activity (1001) and Detection Finding (2004).
//!
//! Contract fields (relied on by tests and the Windows VM harness): `class_uid`,
//! `activity_id`/`activity_name`, `time` (ms), `actor.process.pid`,
//! `actor.process.file.path` (image), `actor.process.cmd_line`, `actor.user.name`,
//! `file.path`, `file.name`, `file.parent_folder`, `file.type_id`, `file_result.path` (rename
//! and hard link: the new name; `file` is then the source), `device.os.type`
//! (`windows`/`linux`), `metadata.sequence`, `unmapped.picket.operation`. Unknown process
//! facts are `null`, never guessed.

use serde::Serialize;

use picket_model::{
    Alert, CorrelationContext, FileEvent, FilePath, Host, Level, Operation, ProcessInfo,
};
use picket_protocol::{CreateDisposition, CreateResult};

use crate::HostInfo;

mod process;
pub use process::ProcessActivity;
#[path = "ocsf_line.rs"]
pub mod line;

/// OCSF schema version the output follows.
pub const OCSF_VERSION: &str = "1.3.0";

/// OCSF activity (id, name) for an operation.
#[must_use]
pub const fn activity(operation: Operation) -> (u8, &'static str) {
    match operation {
        Operation::Create => (1, "Create"),
        Operation::Open => (14, "Open"),
        Operation::FirstWrite | Operation::CloseModified | Operation::Truncate => (3, "Update"),
        Operation::Rename => (5, "Rename"),
        Operation::Delete => (4, "Delete"),
        Operation::SetAttributes => (6, "Set Attributes"),
        // OCSF has no link activity; "Other" with the operation named in `unmapped`.
        Operation::HardLink => (99, "Other"),
    }
}

/// OCSF severity (id, name) for a rule level.
#[must_use]
pub const fn severity(level: Level) -> (u8, &'static str) {
    match level {
        Level::Informational => (1, "Informational"),
        Level::Low => (2, "Low"),
        Level::Medium => (3, "Medium"),
        Level::High => (4, "High"),
        Level::Critical => (5, "Critical"),
    }
}

const fn disposition_name(raw: u32) -> &'static str {
    match CreateDisposition::from_raw(raw) {
        CreateDisposition::Supersede => "supersede",
        CreateDisposition::Open => "open",
        CreateDisposition::Create => "create",
        CreateDisposition::OpenIf => "open_if",
        CreateDisposition::Overwrite => "overwrite",
        CreateDisposition::OverwriteIf => "overwrite_if",
        CreateDisposition::Other(_) => "other",
    }
}

const fn result_name(raw: u32) -> &'static str {
    match CreateResult::from_raw(raw) {
        CreateResult::Superseded => "superseded",
        CreateResult::Opened => "opened",
        CreateResult::Created => "created",
        CreateResult::Overwritten => "overwritten",
        CreateResult::Exists => "exists",
        CreateResult::DoesNotExist => "does_not_exist",
        CreateResult::Other(_) => "other",
    }
}

/// An OCSF event class.
struct Class {
    uid: u32,
    name: &'static str,
    category_uid: u8,
    category_name: &'static str,
}

const FILE_SYSTEM_ACTIVITY: Class = Class {
    uid: 1001,
    name: "File System Activity",
    category_uid: 1,
    category_name: "System Activity",
};

const DETECTION_FINDING: Class = Class {
    uid: 2004,
    name: "Detection Finding",
    category_uid: 2,
    category_name: "Findings",
};

impl Class {
    /// OCSF's `type_uid`: the class times 100 plus the activity.
    const fn type_uid(&self, activity_id: u8) -> u32 {
        self.uid * 100 + activity_id as u32
    }
}

/// The classification attributes every OCSF event starts with.
#[derive(Serialize)]
struct Classification {
    class_uid: u32,
    class_name: &'static str,
    category_uid: u8,
    category_name: &'static str,
    activity_id: u8,
    activity_name: &'static str,
    type_uid: u32,
    severity_id: u8,
    severity: &'static str,
}

impl Classification {
    /// An event of `class`, with an (id, name) activity and severity.
    const fn new(
        class: &Class,
        (activity_id, activity_name): (u8, &'static str),
        (severity_id, severity): (u8, &'static str),
    ) -> Self {
        Self {
            class_uid: class.uid,
            class_name: class.name,
            category_uid: class.category_uid,
            category_name: class.category_name,
            activity_id,
            activity_name,
            type_uid: class.type_uid(activity_id),
            severity_id,
            severity,
        }
    }
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
    version: &'static str,
}

const PRODUCT: Product = Product {
    name: "Picket",
    vendor_name: "Picket",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Serialize)]
struct Metadata {
    version: &'static str,
    product: Product,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u64>,
}

impl Metadata {
    /// Picket's product block at this schema version; `sequence` for event lines.
    const fn new(sequence: Option<u64>) -> Self {
        Self {
            version: OCSF_VERSION,
            product: PRODUCT,
            sequence,
        }
    }
}

#[derive(Serialize)]
struct Os {
    #[serde(rename = "type")]
    kind: &'static str,
    type_id: u16,
    name: &'static str,
}

#[derive(Serialize)]
struct Device<'a> {
    hostname: Option<&'a str>,
    os: Os,
}

fn device(host: Host, info: &HostInfo) -> Device<'_> {
    let os = match host {
        Host::Windows => Os {
            kind: "windows",
            type_id: 100,
            name: "Windows",
        },
        Host::Linux => Os {
            kind: "linux",
            type_id: 200,
            name: "Linux",
        },
    };
    Device {
        hostname: info.hostname.as_deref(),
        os,
    }
}

#[derive(Serialize)]
struct ImageFile<'a> {
    path: Option<&'a str>,
    name: Option<&'a str>,
    type_id: u8,
}

#[derive(Serialize)]
struct User<'a> {
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
}

/// OCSF `process`, for file and process events alike (each sets only the optional fields it
/// has).
#[derive(Serialize)]
struct Process<'a> {
    pid: u32,
    /// Unique for the process's life: pid and start key.
    uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u32>,
    file: ImageFile<'a>,
    cmd_line: Option<&'a str>,
    user: User<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_process: Option<ParentProcess<'a>>,
}

/// The fields of `process` every event has: identity, image, command line, user and parent.
fn process(p: &ProcessInfo) -> Process<'_> {
    Process {
        pid: p.key.pid,
        uid: format!("{}-{}", p.key.pid, p.key.start_key),
        tid: None,
        file: ImageFile {
            path: p.image.as_deref(),
            name: p.image.as_deref().map(image_name),
            type_id: 1,
        },
        cmd_line: p.command_line.as_deref(),
        user: user(p),
        cwd: None,
        parent_process: parent_process(p),
    }
}

/// OCSF `user`: the process's user name and uid, where known.
fn user(p: &ProcessInfo) -> User<'_> {
    User {
        name: p.user.as_deref(),
        uid: p.uid.map(|uid| uid.to_string()),
    }
}

#[derive(Serialize)]
struct ParentProcess<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<ImageFile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd_line: Option<&'a str>,
}

fn parent_process(p: &ProcessInfo) -> Option<ParentProcess<'_>> {
    let pid = p.parent_pid?;
    Some(ParentProcess {
        pid,
        uid: p.parent_start_key.map(|key| format!("{pid}-{key}")),
        file: p.parent_image.as_deref().map(|path| ImageFile {
            path: Some(path),
            name: Some(image_name(path)),
            type_id: 1,
        }),
        cmd_line: p.parent_command_line.as_deref(),
    })
}

#[derive(Serialize)]
struct Actor<'a> {
    process: Process<'a>,
    user: User<'a>,
}

fn image_name(image: &str) -> &str {
    image.rsplit(['\\', '/']).next().unwrap_or(image)
}

fn actor(event: &FileEvent) -> Actor<'_> {
    let p = &event.process;
    Actor {
        process: Process {
            tid: (event.thread_id != 0).then_some(event.thread_id),
            ..process(p)
        },
        user: user(p),
    }
}

#[derive(Serialize)]
struct File<'a> {
    path: &'a str,
    name: &'a str,
    parent_folder: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ext: Option<&'a str>,
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
}

fn file(path: &FilePath, file_id: u128) -> File<'_> {
    File {
        path: path.path(),
        name: path.name(),
        parent_folder: path.directory(),
        ext: path.extension(),
        type_id: if path.is_directory { 2 } else { 1 },
        kind: if path.is_directory {
            "Folder"
        } else {
            "Regular File"
        },
        uid: (file_id != 0).then(|| format!("{file_id:x}")),
    }
}

#[derive(Serialize)]
struct Create {
    disposition: &'static str,
    result: &'static str,
    options: u32,
    desired_access: u32,
}

#[derive(Serialize)]
struct PicketEvent<'a> {
    operation: &'static str,
    original_path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_new_path: Option<&'a str>,
    process_start_key: u64,
    #[serde(skip_serializing_if = "is_zero")]
    handle_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    create: Option<Create>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_method: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    named_stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_flags: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    path_truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    new_path_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    entropy: Option<f64>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference.
const fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[derive(Serialize)]
struct Unmapped<T> {
    picket: T,
}

/// One OCSF File System Activity line.
#[derive(Serialize)]
pub struct FileActivity<'a> {
    #[serde(flatten)]
    classification: Classification,
    time: u64,
    metadata: Metadata,
    device: Device<'a>,
    actor: Actor<'a>,
    file: File<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_result: Option<File<'a>>,
    unmapped: Unmapped<PicketEvent<'a>>,
}

impl<'a> FileActivity<'a> {
    /// The OCSF form of `event`.
    #[must_use]
    pub fn new(event: &'a FileEvent, host: &'a HostInfo) -> Self {
        let d = &event.details;
        // For a rename or link, OCSF's `file` is the source and `file_result` the new name.
        let (subject, result) = match event.source.as_deref() {
            Some(source) => (source, Some(&event.target)),
            None => (&event.target, None),
        };
        Self {
            classification: Classification::new(
                &FILE_SYSTEM_ACTIVITY,
                activity(event.operation),
                severity(Level::Informational),
            ),
            time: event.time.unix_millis(),
            metadata: Metadata::new(Some(event.seq)),
            device: device(event.host, host),
            actor: actor(event),
            file: file(subject, d.file_id),
            file_result: result.map(|r| file(r, d.file_id)),
            unmapped: Unmapped {
                picket: PicketEvent {
                    operation: event.operation.as_str(),
                    original_path: subject.original(),
                    original_new_path: result.map(|r| r.original()),
                    process_start_key: event.process.key.start_key,
                    handle_id: d.handle_id,
                    create: d.create.map(|c| Create {
                        disposition: disposition_name(c.disposition),
                        result: result_name(c.result),
                        options: c.options,
                        desired_access: c.desired_access,
                    }),
                    delete_method: d.delete_method,
                    named_stream: d.named_stream,
                    new_size: d.new_size,
                    size_kind: d.size_kind,
                    attributes: d.attributes,
                    link_flags: d.link_flags,
                    path_truncated: subject.truncated,
                    new_path_truncated: result.is_some_and(|r| r.truncated),
                    entropy: event.entropy,
                },
            },
        }
    }
}

#[derive(Serialize)]
struct Analytic<'a> {
    uid: &'a str,
    name: &'a str,
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Technique {
    uid: String,
}

#[derive(Serialize)]
struct Tactic {
    name: String,
}

#[derive(Serialize)]
struct Attack {
    #[serde(skip_serializing_if = "Option::is_none")]
    technique: Option<Technique>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tactic: Option<Tactic>,
}

/// ATT&CK from Sigma tags: `attack.t1059.001` → technique `T1059.001`; `attack.impact`,
/// `attack.defense-evasion` → tactic `impact`, `defense-evasion`. Other tags are ignored here
/// (they stay in `unmapped.picket.tags`).
#[must_use]
fn attacks(tags: &[String]) -> Vec<Attack> {
    tags.iter()
        .filter_map(|tag| {
            let rest = tag.strip_prefix("attack.")?;
            let is_technique = rest.len() >= 5
                && rest.starts_with(['t', 'T'])
                && rest.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
            Some(if is_technique {
                Attack {
                    technique: Some(Technique {
                        uid: rest.to_ascii_uppercase(),
                    }),
                    tactic: None,
                }
            } else if rest.starts_with(['g', 's']) && rest[1..].bytes().all(|b| b.is_ascii_digit())
            {
                // Groups (g0001) and software (s0001) are not tactics.
                return None;
            } else {
                Attack {
                    technique: None,
                    tactic: Some(Tactic {
                        name: rest.to_owned(),
                    }),
                }
            })
        })
        .collect()
}

#[derive(Serialize)]
struct RelatedEvent {
    uid: String,
    type_uid: u32,
    time: u64,
}

#[derive(Serialize)]
struct FindingInfo<'a> {
    uid: String,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    desc: Option<&'a str>,
    analytic: Analytic<'a>,
    attacks: Vec<Attack>,
    related_events: Vec<RelatedEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_seen_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_time: Option<u64>,
}

#[derive(Serialize)]
struct PicketFinding<'a> {
    rule_id: &'a str,
    level: Level,
    tags: &'a [String],
    /// Staged rollout: evaluated and reported, not actionable.
    shadow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation: Option<&'a CorrelationContext>,
    /// The matched events, in the same OCSF form as the event lines.
    events: Vec<FileActivity<'a>>,
    /// The matched process events of a `process_creation` rule (OCSF 1007).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    processes: Vec<ProcessActivity<'a>>,
}

/// One OCSF Detection Finding line.
#[derive(Serialize)]
pub struct DetectionFinding<'a> {
    #[serde(flatten)]
    classification: Classification,
    status_id: u8,
    status: &'static str,
    time: u64,
    message: &'a str,
    metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<Device<'a>>,
    finding_info: FindingInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Actor<'a>>,
    unmapped: Unmapped<PicketFinding<'a>>,
}

impl<'a> DetectionFinding<'a> {
    /// The OCSF form of `alert`.
    #[must_use]
    pub fn new(alert: &'a Alert, host: &'a HostInfo) -> Self {
        let last = alert.events.last();
        let last_seq = last.map_or(0, |e| e.seq);
        Self {
            classification: Classification::new(
                &DETECTION_FINDING,
                (1, "Create"),
                severity(alert.level),
            ),
            status_id: 1,
            status: "New",
            time: alert.time.unix_millis(),
            message: &alert.title,
            metadata: Metadata::new(None),
            device: last
                .map(|e| e.host)
                .or_else(|| alert.processes.last().map(|p| p.host))
                .map(|h| device(h, host)),
            finding_info: FindingInfo {
                uid: format!("{}:{}:{last_seq}", alert.rule_id, alert.time.0),
                title: &alert.title,
                desc: alert.description.as_deref(),
                analytic: Analytic {
                    uid: &alert.rule_id,
                    name: &alert.title,
                    type_id: 1,
                    kind: "Rule",
                },
                attacks: attacks(&alert.tags),
                related_events: alert
                    .events
                    .iter()
                    .map(|e| RelatedEvent {
                        uid: e.seq.to_string(),
                        type_uid: FILE_SYSTEM_ACTIVITY.type_uid(activity(e.operation).0),
                        time: e.time.unix_millis(),
                    })
                    .collect(),
                first_seen_time: alert.events.first().map(|e| e.time.unix_millis()),
                last_seen_time: last.map(|e| e.time.unix_millis()),
            },
            actor: last.map(actor),
            unmapped: Unmapped {
                picket: PicketFinding {
                    rule_id: &alert.rule_id,
                    level: alert.level,
                    tags: &alert.tags,
                    shadow: alert.shadow,
                    correlation: alert.correlation.as_ref(),
                    events: alert
                        .events
                        .iter()
                        .map(|e| FileActivity::new(e, host))
                        .collect(),
                    processes: alert
                        .processes
                        .iter()
                        .map(|p| ProcessActivity::new(p, host))
                        .collect(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_tags_become_attack_entries() {
        let tags = [
            "attack.impact",
            "attack.t1486",
            "attack.t1059.001",
            "attack.g0010",
            "cve.2021-1234",
        ]
        .map(String::from);
        let json = serde_json::to_value(attacks(&tags)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"tactic": {"name": "impact"}},
                {"technique": {"uid": "T1486"}},
                {"technique": {"uid": "T1059.001"}},
            ])
        );
    }

    #[test]
    fn every_operation_has_an_ocsf_activity() {
        for op in Operation::ALL {
            let (id, name) = activity(op);
            assert!(!name.is_empty());
            assert!(matches!(id, 1..=14 | 99));
        }
    }
}
