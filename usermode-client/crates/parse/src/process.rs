//! Process records → [`ParsedProcess`]: image and command line as text, Windows image paths
//! as DOS paths.

use picket_model::{Host, ProcessActivity, ProcessKey, Timestamp};
use picket_protocol::{Body, Record};

use crate::text::{posix_text, utf16_text};
use crate::Parser;

/// A process record after parsing, before enrichment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedProcess {
    /// Per-source sequence number.
    pub seq: u64,
    /// When the kernel saw it.
    pub time: Timestamp,
    /// Windows or Linux.
    pub host: Host,
    /// Start or exit.
    pub activity: ProcessActivity,
    /// The process.
    pub key: ProcessKey,
    /// Starts: the parent.
    pub parent: Option<ProcessKey>,
    /// Starts: the image as text (empty bytes: `None`).
    pub image: Option<String>,
    /// Starts: the command line as one line of text.
    pub command_line: Option<String>,
    /// Starts: Linux uid.
    pub uid: Option<u32>,
    /// Starts: a fork without exec.
    pub forked: bool,
    /// Starts: who asked (0 = unknown → `None`).
    pub creating_pid: Option<u32>,
    /// Starts: the creating thread.
    pub creating_tid: Option<u32>,
    /// Starts on Windows: the session.
    pub session_id: Option<u32>,
    /// Exits: the status.
    pub exit_status: Option<u32>,
    /// The image was cut at the cap.
    pub image_truncated: bool,
    /// The command line was cut at the cap.
    pub command_line_truncated: bool,
}

/// A Linux argv (NUL-separated) as one line: arguments joined by spaces, those that would be
/// ambiguous single-quoted (shell style). A Windows command line is already one line.
#[must_use]
pub fn command_line_text(raw: &[u8], posix: bool) -> String {
    if !posix {
        return utf16_text(raw);
    }
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    let mut line = String::new();
    for arg in raw.split(|b| *b == 0) {
        if !line.is_empty() {
            line.push(' ');
        }
        let text = posix_text(arg);
        if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            line.push('\'');
            line.push_str(&text.replace('\'', r"'\''"));
            line.push('\'');
        } else {
            line.push_str(&text);
        }
    }
    line
}

impl Parser {
    /// Windows image names come as `\??\C:\…` or `\Device\HarddiskVolumeN\…`: both become
    /// DOS paths where the volume is known.
    fn image_text(&mut self, raw: &[u8], posix: bool) -> String {
        if posix {
            return posix_text(raw);
        }
        let text = utf16_text(raw);
        if let Some(dos) = text.strip_prefix(r"\??\") {
            return dos.to_owned();
        }
        self.volumes_mut()
            .and_then(|map| map.translate(&text))
            .unwrap_or(text)
    }

    /// Parses a `ProcessStart` or `ProcessExit`; `None` for every other record.
    pub fn parse_process(&mut self, record: &Record<'_>, posix: bool) -> Option<ParsedProcess> {
        let h = &record.header;
        let nonzero = |v: u32| (v != 0).then_some(v);
        let mut parsed = ParsedProcess {
            seq: h.seq,
            time: Timestamp(h.timestamp),
            host: if posix { Host::Linux } else { Host::Windows },
            activity: ProcessActivity::Start,
            key: ProcessKey {
                pid: h.pid,
                start_key: h.process_start_key,
            },
            parent: None,
            image: None,
            command_line: None,
            uid: None,
            forked: false,
            creating_pid: None,
            creating_tid: None,
            session_id: None,
            exit_status: None,
            image_truncated: false,
            command_line_truncated: false,
        };
        match &record.body {
            Body::ProcessStart(start) => {
                parsed.parent = nonzero(start.parent_pid).map(|pid| ProcessKey {
                    pid,
                    start_key: start.parent_start_key,
                });
                parsed.image = (!start.image.bytes.is_empty())
                    .then(|| self.image_text(start.image.bytes, posix));
                parsed.command_line = (!start.command_line.bytes.is_empty())
                    .then(|| command_line_text(start.command_line.bytes, posix));
                parsed.uid = start.user_id;
                parsed.forked = start.forked;
                parsed.creating_pid = nonzero(start.creating_pid);
                parsed.creating_tid = nonzero(start.creating_tid);
                parsed.session_id = (!posix).then_some(start.session_id);
                parsed.image_truncated = start.image.truncated;
                parsed.command_line_truncated = start.command_line.truncated;
            }
            Body::ProcessExit(exit) => {
                parsed.activity = ProcessActivity::Exit;
                parsed.exit_status = Some(exit.exit_status);
            }
            _ => return None,
        }
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{Name, ProcessExit, ProcessStart, RecordHeader};

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn a_linux_start_joins_argv_and_keeps_lineage() {
        let record = Record {
            header: RecordHeader {
                seq: 3,
                timestamp: 9,
                pid: 100,
                tid: 0,
                process_start_key: 77,
            },
            body: Body::ProcessStart(ProcessStart {
                parent_pid: 99,
                parent_start_key: 55,
                creating_pid: 99,
                creating_tid: 99,
                session_id: 0,
                user_id: Some(0),
                forked: false,
                image: Name::new(b"/usr/bin/mv"),
                command_line: Name::new(b"mv\0a b\0c\0"),
            }),
        };
        let parsed = Parser::without_volumes()
            .parse_process(&record, true)
            .unwrap();
        assert_eq!(parsed.image.as_deref(), Some("/usr/bin/mv"));
        assert_eq!(parsed.command_line.as_deref(), Some("mv 'a b' c"));
        assert_eq!(
            parsed.parent,
            Some(ProcessKey {
                pid: 99,
                start_key: 55
            })
        );
        assert_eq!(parsed.uid, Some(0));
        assert_eq!(parsed.session_id, None);
    }

    #[test]
    fn a_windows_start_turns_the_image_into_a_dos_path() {
        let image = utf16(r"\??\C:\Windows\System32\cmd.exe");
        let command_line = utf16(r#""cmd.exe" /c whoami"#);
        let record = Record {
            header: RecordHeader::default(),
            body: Body::ProcessStart(ProcessStart {
                parent_pid: 4,
                session_id: 1,
                image: Name::new(&image),
                command_line: Name::new(&command_line),
                ..ProcessStart::default()
            }),
        };
        let parsed = Parser::without_volumes()
            .parse_process(&record, false)
            .unwrap();
        assert_eq!(
            parsed.image.as_deref(),
            Some(r"C:\Windows\System32\cmd.exe")
        );
        assert_eq!(
            parsed.command_line.as_deref(),
            Some(r#""cmd.exe" /c whoami"#)
        );
        assert_eq!(parsed.session_id, Some(1));
    }

    #[test]
    fn an_exit_carries_its_status_and_file_records_are_not_processes() {
        let exit = Record {
            header: RecordHeader::default(),
            body: Body::ProcessExit(ProcessExit { exit_status: 2 }),
        };
        let parsed = Parser::without_volumes()
            .parse_process(&exit, true)
            .unwrap();
        assert_eq!(parsed.activity, ProcessActivity::Exit);
        assert_eq!(parsed.exit_status, Some(2));
        let stats = Record {
            header: RecordHeader::default(),
            body: Body::Stats(picket_protocol::Stats::default()),
        };
        assert_eq!(Parser::without_volumes().parse_process(&stats, true), None);
    }
}
