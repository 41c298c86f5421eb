//! Process start and exit events (protocol 1.1 `ProcessStart` / `ProcessExit`), the input
//! of Sigma `process_creation` rules and of OCSF Process Activity.

use std::sync::Arc;

use serde::Serialize;

use crate::{FieldValue, Host, ProcessInfo, Timestamp};

/// What happened to the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessActivity {
    /// It started (Windows: created; Linux: executed an image, or forked).
    Start,
    /// It ended.
    Exit,
}

impl ProcessActivity {
    /// The stable snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Exit => "exit",
        }
    }
}

/// One process start or exit, enriched.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProcessEvent {
    /// Per-source sequence number.
    pub seq: u64,
    /// When the kernel saw it.
    pub time: Timestamp,
    /// Where it comes from.
    pub host: Host,
    /// Start or exit.
    pub activity: ProcessActivity,
    /// The process, with its parent's facts where known.
    pub process: Arc<ProcessInfo>,
    /// Linux `fork` without `exec`: image and command line are the parent's.
    pub forked: bool,
    /// Who asked for the creation (Windows: may differ from the parent), where known.
    pub creating_pid: Option<u32>,
    /// The creating thread, where known.
    pub creating_tid: Option<u32>,
    /// Windows session id (starts on Windows only).
    pub session_id: Option<u32>,
    /// Exit status (exits only).
    pub exit_status: Option<u32>,
    /// The image name was cut at the protocol's cap.
    pub image_truncated: bool,
    /// The command line was cut at the protocol's cap.
    pub command_line_truncated: bool,
}

impl ProcessEvent {
    /// The Sysmon/Sigma `process_creation` field names this event answers to.
    pub const FIELDS: [&'static str; 13] = [
        "Image",
        "CommandLine",
        "ParentImage",
        "ParentCommandLine",
        "User",
        "CurrentDirectory",
        "ProcessId",
        "ParentProcessId",
        "OriginalFileName",
        "ProcessStartKey",
        "Host",
        "Activity",
        "ExitStatus",
    ];

    /// Looks a field up by its Sysmon/Sigma name. `OriginalFileName` (the PE version
    /// resource) is never known: the kernel does not parse images, so it stays unknown.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        let int = |value: u64| FieldValue::Int(i64::try_from(value).unwrap_or(i64::MAX));
        let p = &self.process;
        Some(match name {
            "Image" => FieldValue::Str(p.image.as_deref()?),
            "CommandLine" => FieldValue::Str(p.command_line.as_deref()?),
            "ParentImage" => FieldValue::Str(p.parent_image.as_deref()?),
            "ParentCommandLine" => FieldValue::Str(p.parent_command_line.as_deref()?),
            "User" => FieldValue::Str(p.user.as_deref()?),
            "CurrentDirectory" => FieldValue::Str(p.current_directory.as_deref()?),
            "ProcessId" => int(u64::from(p.key.pid)),
            "ParentProcessId" => int(u64::from(p.parent_pid?)),
            "ProcessStartKey" => int(p.key.start_key),
            "Host" => FieldValue::Str(match self.host {
                Host::Windows => "windows",
                Host::Linux => "linux",
            }),
            "Activity" => FieldValue::Str(self.activity.as_str()),
            "ExitStatus" => int(u64::from(self.exit_status?)),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessKey;

    #[test]
    fn answers_the_sigma_process_creation_taxonomy() {
        let event = ProcessEvent {
            seq: 1,
            time: Timestamp(0),
            host: Host::Linux,
            activity: ProcessActivity::Start,
            process: Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 10,
                    start_key: 5,
                },
                image: Some("/usr/bin/mv".into()),
                command_line: Some("mv a b".into()),
                user: Some("root".into()),
                parent_pid: Some(9),
                parent_image: Some("/usr/bin/bash".into()),
                ..ProcessInfo::default()
            }),
            forked: false,
            creating_pid: Some(9),
            creating_tid: None,
            session_id: None,
            exit_status: None,
            image_truncated: false,
            command_line_truncated: false,
        };
        assert_eq!(event.field("Image"), Some(FieldValue::Str("/usr/bin/mv")));
        assert_eq!(event.field("CommandLine"), Some(FieldValue::Str("mv a b")));
        assert_eq!(
            event.field("ParentImage"),
            Some(FieldValue::Str("/usr/bin/bash"))
        );
        assert_eq!(event.field("ParentProcessId"), Some(FieldValue::Int(9)));
        assert_eq!(event.field("ProcessId"), Some(FieldValue::Int(10)));
        assert_eq!(event.field("User"), Some(FieldValue::Str("root")));
        assert_eq!(
            event.field("ParentCommandLine"),
            None,
            "unknown stays unknown"
        );
        assert_eq!(event.field("OriginalFileName"), None);
        assert_eq!(event.field("ExitStatus"), None);
        assert_eq!(event.field("Activity"), Some(FieldValue::Str("start")));
    }
}
