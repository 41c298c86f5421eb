//! ECS process events: `event.category: process`, `event.type: start` / `end`.

use serde::Serialize;

use picket_model::{ProcessActivity, ProcessEvent};

use super::{host, process, user, Ecs, Event, HostFields, Process, User, ECS_VERSION};
use crate::{iso8601, HostInfo};

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
                sequence: Some(event.seq),
                module: "picket",
                dataset: "picket.process",
                severity: None,
            },
            process: Process {
                working_directory: p.current_directory.as_deref(),
                exit_code: event.exit_status.map(i64::from),
                ..process(p)
            },
            user: user(p),
            host: host(event.host, info),
            picket: Picket {
                process_start_key: p.key.start_key,
                forked: event.forked,
                session_id: event.session_id,
            },
        }
    }
}
