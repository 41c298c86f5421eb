//! OCSF 1.3 Process Activity (1007): process starts (`Launch`) and exits (`Terminate`).
//!
//! `process` is the process that started or ended, with `parent_process` where known;
//! `actor.process` is its parent (for a start: who launched it), as OCSF's Process Activity
//! profile puts it. Unknown facts are `null`, never guessed.

use serde::Serialize;

use picket_model::{Level, ProcessActivity as Activity, ProcessEvent};

use super::{
    device, parent_process, process, severity, Class, Classification, Device, Metadata,
    ParentProcess, Process, Unmapped,
};
use crate::HostInfo;

const PROCESS_ACTIVITY: Class = Class {
    uid: 1007,
    name: "Process Activity",
    category_uid: 1,
    category_name: "System Activity",
};

const fn activity(activity: Activity) -> (u8, &'static str) {
    match activity {
        Activity::Start => (1, "Launch"),
        Activity::Exit => (2, "Terminate"),
    }
}

#[derive(Serialize)]
struct Actor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<ParentProcess<'a>>,
}

#[derive(Serialize)]
struct PicketProcess {
    activity: &'static str,
    process_start_key: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    forked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    creating_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    creating_tid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    image_truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    command_line_truncated: bool,
}

/// One OCSF Process Activity line.
#[derive(Serialize)]
pub struct ProcessActivity<'a> {
    #[serde(flatten)]
    classification: Classification,
    time: u64,
    metadata: Metadata,
    device: Device<'a>,
    process: Process<'a>,
    actor: Actor<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i64>,
    unmapped: Unmapped<PicketProcess>,
}

impl<'a> ProcessActivity<'a> {
    /// The OCSF form of `event`.
    #[must_use]
    pub fn new(event: &'a ProcessEvent, host: &'a HostInfo) -> Self {
        let p = &event.process;
        Self {
            classification: Classification::new(
                &PROCESS_ACTIVITY,
                activity(event.activity),
                severity(Level::Informational),
            ),
            time: event.time.unix_millis(),
            metadata: Metadata::new(Some(event.seq)),
            device: device(event.host, host),
            process: Process {
                cwd: p.current_directory.as_deref(),
                ..process(p)
            },
            actor: Actor {
                process: parent_process(p),
            },
            // Windows exit statuses are NTSTATUS bit patterns, Linux wait statuses small:
            // both are reported as the unsigned number the kernel gave.
            exit_code: event.exit_status.map(i64::from),
            unmapped: Unmapped {
                picket: PicketProcess {
                    activity: event.activity.as_str(),
                    process_start_key: p.key.start_key,
                    forked: event.forked,
                    creating_pid: event.creating_pid,
                    creating_tid: event.creating_tid,
                    session_id: event.session_id,
                    image_truncated: event.image_truncated,
                    command_line_truncated: event.command_line_truncated,
                },
            },
        }
    }
}
