//! ECS process events: `event.category: process`, `event.type: start` / `end`.

use serde::Serialize;

use picket_model::{ProcessActivity, ProcessEvent};

use super::{host, parent, Ecs, HostFields, Parent, User, ECS_VERSION};
use crate::{iso8601, HostInfo};

#[derive(Serialize)]
struct Event {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    kind_type: [&'static str; 1],
    action: &'static str,
    sequence: u64,
    module: &'static str,
    dataset: &'static str,
}

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
    parent: Option<Parent<'a>>,
}

#[derive(Serialize)]
struct Picket {
    process_start_key: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    forked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u32>,
}

/// One ECS process event line.
#[derive(Serialize)]
pub struct EcsProcessEvent<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    ecs: Ecs,
    event: Event,
    process: Process<'a>,
    user: User<'a>,
    host: HostFields<'a>,
    picket: Picket,
}

impl<'a> EcsProcessEvent<'a> {
    /// The ECS form of `event`.
    #[must_use]
    pub fn new(event: &'a ProcessEvent, info: &'a HostInfo) -> Self {
        let p = &event.process;
        let (kind_type, action) = match event.activity {
            ProcessActivity::Start => ("start", "process_started"),
            ProcessActivity::Exit => ("end", "process_ended"),
        };
        Self {
            timestamp: iso8601(event.time),
            ecs: Ecs {
                version: ECS_VERSION,
            },
            event: Event {
                kind: "event",
                category: ["process"],
                kind_type: [kind_type],
                action,
                sequence: event.seq,
                module: "picket",
                dataset: "picket.process",
            },
            process: Process {
                pid: p.key.pid,
                entity_id: format!("{}-{}", p.key.pid, p.key.start_key),
                executable: p.image.as_deref(),
                name: p
                    .image
                    .as_deref()
                    .map(|i| i.rsplit(['\\', '/']).next().unwrap_or(i)),
                command_line: p.command_line.as_deref(),
                working_directory: p.current_directory.as_deref(),
                exit_code: event.exit_status.map(i64::from),
                parent: parent(p),
            },
            user: User {
                name: p.user.as_deref(),
                id: p.uid.map(|uid| uid.to_string()),
            },
            host: host(event.host, info),
            picket: Picket {
                process_start_key: p.key.start_key,
                forked: event.forked,
                session_id: event.session_id,
            },
        }
    }
}
