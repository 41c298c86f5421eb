//! Elastic Common Schema (8.x) profile.
//!
//! `file` is always the file as it is after the event (for a rename: the new name), with the
//! old name in `file.Ext.original` as Elastic Defend writes it; `event.action` carries
//! Picket's stable operation name.

use serde::Serialize;

use picket_model::{Alert, FileEvent, FilePath, Host, Operation, ProcessInfo};

use crate::ocsf::severity;
use crate::{iso8601, HostInfo};

mod process;
pub use process::EcsProcessEvent;

/// ECS version the output follows.
pub const ECS_VERSION: &str = "8.11.0";

const fn event_type(operation: Operation) -> &'static str {
    match operation {
        Operation::Create | Operation::HardLink => "creation",
        Operation::Open => "access",
        Operation::Delete => "deletion",
        Operation::FirstWrite
        | Operation::CloseModified
        | Operation::Truncate
        | Operation::Rename
        | Operation::SetAttributes => "change",
    }
}

#[derive(Serialize)]
struct Ecs {
    version: &'static str,
}

#[derive(Serialize)]
struct Event {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    kind_type: [&'static str; 1],
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u64>,
    module: &'static str,
    dataset: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<u8>,
}

#[derive(Serialize)]
struct Original<'a> {
    path: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct Ext<'a> {
    original: Original<'a>,
}

#[derive(Serialize)]
struct File<'a> {
    path: &'a str,
    name: &'a str,
    directory: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inode: Option<String>,
    #[serde(rename = "Ext", skip_serializing_if = "Option::is_none")]
    ext: Option<Ext<'a>>,
}

fn file<'a>(target: &'a FilePath, source: Option<&'a FilePath>, file_id: u128) -> File<'a> {
    File {
        path: target.path(),
        name: target.name(),
        directory: target.directory(),
        extension: target.extension(),
        kind: if target.is_directory { "dir" } else { "file" },
        inode: (file_id != 0).then(|| file_id.to_string()),
        ext: source.map(|s| Ext {
            original: Original {
                path: s.path(),
                name: s.name(),
            },
        }),
    }
}

#[derive(Serialize)]
struct Thread {
    id: u32,
}

#[derive(Serialize)]
struct Parent<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_line: Option<&'a str>,
}

fn parent(p: &ProcessInfo) -> Option<Parent<'_>> {
    let pid = p.parent_pid?;
    Some(Parent {
        pid,
        entity_id: p.parent_start_key.map(|key| format!("{pid}-{key}")),
        executable: p.parent_image.as_deref(),
        command_line: p.parent_command_line.as_deref(),
    })
}

/// ECS `process`, for file and process events alike (each sets only the optional fields it
/// has).
#[derive(Serialize)]
struct Process<'a> {
    pid: u32,
    entity_id: String,
    executable: Option<&'a str>,
    name: Option<&'a str>,
    command_line: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread: Option<Thread>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<Parent<'a>>,
}

/// The fields of `process` every event has: identity, image, command line and parent.
fn process(p: &ProcessInfo) -> Process<'_> {
    Process {
        pid: p.key.pid,
        entity_id: format!("{}-{}", p.key.pid, p.key.start_key),
        executable: p.image.as_deref(),
        name: p
            .image
            .as_deref()
            .map(|i| i.rsplit(['\\', '/']).next().unwrap_or(i)),
        command_line: p.command_line.as_deref(),
        working_directory: None,
        exit_code: None,
        thread: None,
        parent: parent(p),
    }
}

#[derive(Serialize)]
struct User<'a> {
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

/// ECS `user`: the process's user name and uid, where known.
fn user(p: &ProcessInfo) -> User<'_> {
    User {
        name: p.user.as_deref(),
        id: p.uid.map(|uid| uid.to_string()),
    }
}

#[derive(Serialize)]
struct Os {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct HostFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    os: Os,
}

fn host(host: Host, info: &HostInfo) -> HostFields<'_> {
    HostFields {
        hostname: info.hostname.as_deref(),
        os: Os {
            kind: match host {
                Host::Windows => "windows",
                Host::Linux => "linux",
            },
        },
    }
}

#[derive(Serialize)]
struct Picket<'a> {
    operation: &'static str,
    original_path: &'a str,
    process_start_key: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    delete_method: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    named_stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entropy: Option<f64>,
}

/// One ECS event line.
#[derive(Serialize)]
pub struct EcsEvent<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    ecs: Ecs,
    event: Event,
    file: File<'a>,
    process: Process<'a>,
    user: User<'a>,
    host: HostFields<'a>,
    picket: Picket<'a>,
}

impl<'a> EcsEvent<'a> {
    /// The ECS form of `event`.
    #[must_use]
    pub fn new(event: &'a FileEvent, info: &'a HostInfo) -> Self {
        let p = &event.process;
        Self {
            timestamp: iso8601(event.time),
            ecs: Ecs {
                version: ECS_VERSION,
            },
            event: Event {
                kind: "event",
                category: ["file"],
                kind_type: [event_type(event.operation)],
                action: event.operation.as_str(),
                sequence: Some(event.seq),
                module: "picket",
                dataset: "picket.file",
                severity: None,
            },
            file: file(
                &event.target,
                event.source.as_deref(),
                event.details.file_id,
            ),
            process: Process {
                thread: (event.thread_id != 0).then_some(Thread {
                    id: event.thread_id,
                }),
                ..process(p)
            },
            user: user(p),
            host: host(event.host, info),
            picket: Picket {
                operation: event.operation.as_str(),
                original_path: event.target.original(),
                process_start_key: p.key.start_key,
                delete_method: event.details.delete_method,
                named_stream: event.details.named_stream,
                new_size: event.details.new_size,
                size_kind: event.details.size_kind,
                entropy: event.entropy,
            },
        }
    }
}

#[derive(Serialize)]
struct Rule<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    ruleset: &'static str,
}

#[derive(Serialize)]
struct PicketAlert<'a> {
    level: picket_model::Level,
    tags: &'a [String],
    shadow: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation: Option<&'a picket_model::CorrelationContext>,
    events: Vec<EcsEvent<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    processes: Vec<EcsProcessEvent<'a>>,
}

/// One ECS alert line.
#[derive(Serialize)]
pub struct EcsAlert<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    ecs: Ecs,
    event: Event,
    message: &'a str,
    rule: Rule<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<HostFields<'a>>,
    picket: PicketAlert<'a>,
}

impl<'a> EcsAlert<'a> {
    /// The ECS form of `alert`.
    #[must_use]
    pub fn new(alert: &'a Alert, info: &'a HostInfo) -> Self {
        Self {
            timestamp: iso8601(alert.time),
            ecs: Ecs {
                version: ECS_VERSION,
            },
            event: Event {
                kind: "alert",
                category: ["intrusion_detection"],
                kind_type: ["info"],
                action: "rule_match",
                sequence: None,
                module: "picket",
                dataset: "picket.alert",
                severity: Some(severity(alert.level).0),
            },
            message: &alert.title,
            rule: Rule {
                id: &alert.rule_id,
                name: &alert.title,
                description: alert.description.as_deref(),
                ruleset: "picket",
            },
            host: alert.events.last().map(|e| host(e.host, info)),
            picket: PicketAlert {
                level: alert.level,
                tags: &alert.tags,
                shadow: alert.shadow,
                correlation: alert.correlation.as_ref(),
                events: alert
                    .events
                    .iter()
                    .map(|e| EcsEvent::new(e, info))
                    .collect(),
                processes: alert
                    .processes
                    .iter()
                    .map(|p| EcsProcessEvent::new(p, info))
                    .collect(),
            },
        }
    }
}
