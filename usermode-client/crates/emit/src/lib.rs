//! The emit stage: one JSON object per line for every event, notice and alert.
//!
//! - Events: OCSF File System Activity (`class_uid` 1001) by default ([`ocsf`]), or Elastic
//!   Common Schema with [`Format::Ecs`] ([`ecs`]).
//! - Alerts: OCSF Detection Finding (`class_uid` 2004), or an ECS `event.kind: alert`.
//! - Notices (events lost, malformed batch, driver hello/stats, source restarted): a line
//!   with **no** `class_uid` and a `picket_notice` field naming the kind, plus `time` (ms since
//!   the Unix epoch, when the client noticed) and the notice's own fields ([`notice`]).
//!
//! Serialisation goes through borrowed `serde` structs straight into the writer: no
//! intermediate JSON tree per event.

pub mod ecs;
pub mod guard;
pub mod human;
pub mod notice;
pub mod ocsf;
mod time;

use std::io::Write;

use picket_model::{Alert, FileEvent, Notice, ProcessEvent};

pub use time::iso8601;

/// Output schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// OCSF 1001 / 2004.
    #[default]
    Ocsf,
    /// Elastic Common Schema.
    Ecs,
}

/// Facts about the sensor's host that are not in each event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// Host name (live: this machine's; replay: the recording machine's).
    pub hostname: Option<String>,
}

/// What has been written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmitCounts {
    /// Event lines.
    pub events: u64,
    /// Process start/exit lines.
    pub processes: u64,
    /// Notice lines.
    pub notices: u64,
    /// Alert lines.
    pub alerts: u64,
    /// Sum of the counts of `events_lost` notices.
    pub lost: u64,
    /// Some loss had no exact count (a queue overflow): `lost` is then a lower bound.
    pub lost_inexact: bool,
    /// Malformed batches reported.
    pub malformed: u64,
}

/// Appends `value` as one JSON line to `lines`; on a serialisation error nothing of it stays.
/// Serialised into the emitter's buffer, not through the writer: serde_json's many small
/// writes straight into a `BufWriter` cost more than the copy (measured: most of the
/// client's CPU under the fanotify overhead benchmark went to `BufWriter::write_all`).
fn json_line(lines: &mut Vec<u8>, value: &impl serde::Serialize) -> std::io::Result<()> {
    let start = lines.len();
    if let Err(error) = serde_json::to_writer(&mut *lines, value) {
        lines.truncate(start);
        return Err(std::io::Error::from(error));
    }
    lines.push(b'\n');
    Ok(())
}

/// Lines held by the emitter before they are handed to its writer: the output guard's
/// buffer size, so that a full hand-over is written from here without a copy into the
/// guard's buffer (see [`guard::OutputGuard`]).
const HAND_OVER: usize = guard::BUFFER;

/// Writes JSON lines in one format.
///
/// Lines are rendered one after the other into a buffer of the emitter's and handed to the
/// writer in pieces of whole lines (about [`guard::BUFFER`] bytes), and by [`Emitter::flush`]:
/// a line used to be rendered into a buffer of its own and copied into the output guard's,
/// and that copy of every line (a kilobyte per event) was a sixth of the output's
/// instructions. Like a `BufWriter`, the emitter writes what it holds when dropped, ignoring
/// errors: flush to see them.
#[derive(Debug)]
pub struct Emitter<W: Write> {
    /// The writer; `None` only once [`Emitter::into_inner`] took it.
    out: Option<W>,
    /// Whole lines not handed to `out` yet.
    lines: Vec<u8>,
    format: Format,
    host: HostInfo,
    /// The OCSF file-activity writer (keeps what repeats between lines).
    ocsf_lines: ocsf::line::LineWriter,
    counts: EmitCounts,
}

impl<W: Write> Emitter<W> {
    /// An emitter writing to `out` (wrap files and stdout in an [`guard::OutputGuard`] or a
    /// `BufWriter`).
    pub fn new(out: W, format: Format, host: HostInfo) -> Self {
        Self {
            out: Some(out),
            lines: Vec::with_capacity(2 * HAND_OVER),
            format,
            ocsf_lines: ocsf::line::LineWriter::new(&host),
            host,
            counts: EmitCounts {
                events: 0,
                processes: 0,
                notices: 0,
                alerts: 0,
                lost: 0,
                lost_inexact: false,
                malformed: 0,
            },
        }
    }

    /// Hands the held lines to the writer once they fill a hand-over.
    fn line_done(&mut self) -> std::io::Result<()> {
        if self.lines.len() >= HAND_OVER {
            self.write_held()?;
        }
        Ok(())
    }

    /// Hands every held line to the writer.
    fn write_held(&mut self) -> std::io::Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        // Cleared whatever the outcome: a failed write is the writer's to report (the guard
        // holds or counts its lines), and the next lines must not repeat these.
        let result = out.write_all(&self.lines);
        self.lines.clear();
        result
    }

    /// Lines written so far.
    #[must_use]
    pub const fn counts(&self) -> EmitCounts {
        self.counts
    }

    /// One event line.
    ///
    /// # Errors
    /// When writing fails.
    pub fn event(&mut self, event: &FileEvent) -> std::io::Result<()> {
        match self.format {
            // The hottest line: written directly (byte-identical to the serde form).
            Format::Ocsf => {
                self.ocsf_lines.file_activity(&mut self.lines, event);
                self.lines.push(b'\n');
                Ok(())
            }
            Format::Ecs => json_line(&mut self.lines, &ecs::EcsEvent::new(event, &self.host)),
        }?;
        self.counts.events += 1;
        self.line_done()
    }

    /// One process start or exit line (OCSF Process Activity, or an ECS process event).
    /// Counted with the events.
    ///
    /// # Errors
    /// When writing fails.
    pub fn process(&mut self, event: &ProcessEvent) -> std::io::Result<()> {
        match self.format {
            Format::Ocsf => json_line(
                &mut self.lines,
                &ocsf::ProcessActivity::new(event, &self.host),
            ),
            Format::Ecs => json_line(
                &mut self.lines,
                &ecs::EcsProcessEvent::new(event, &self.host),
            ),
        }?;
        self.counts.processes += 1;
        self.line_done()
    }

    /// One alert line.
    ///
    /// # Errors
    /// When writing fails.
    pub fn alert(&mut self, alert: &Alert) -> std::io::Result<()> {
        match self.format {
            Format::Ocsf => json_line(
                &mut self.lines,
                &ocsf::DetectionFinding::new(alert, &self.host),
            ),
            Format::Ecs => json_line(&mut self.lines, &ecs::EcsAlert::new(alert, &self.host)),
        }?;
        self.counts.alerts += 1;
        self.line_done()
    }

    /// One notice line.
    ///
    /// # Errors
    /// When writing fails.
    pub fn notice(&mut self, notice: &Notice) -> std::io::Result<()> {
        let start = self.lines.len();
        if let Err(error) = notice::write(&mut self.lines, notice, picket_model::Timestamp::now()) {
            self.lines.truncate(start);
            return Err(error);
        }
        self.lines.push(b'\n');
        self.counts.notices += 1;
        match notice {
            Notice::EventsLost { count, exact, .. } => {
                self.counts.lost = self.counts.lost.saturating_add(*count);
                self.counts.lost_inexact |= !exact;
            }
            Notice::MalformedBatch { .. } => self.counts.malformed += 1,
            _ => {}
        }
        self.line_done()
    }

    /// Hands the held lines to the writer and flushes it.
    ///
    /// # Errors
    /// When writing or flushing fails.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.write_held()?;
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    /// The writer, once the held lines are handed to it.
    ///
    /// # Errors
    /// When handing them over fails.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.write_held()?;
        // Only this consumes the emitter's writer: it is always there.
        self.out
            .take()
            .ok_or_else(|| std::io::Error::other("the emitter's writer was already taken"))
    }
}

impl<W: Write> Drop for Emitter<W> {
    fn drop(&mut self) {
        let _ = self.write_held();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{Details, FilePath, Host, Operation, ProcessInfo, ProcessKey, Timestamp};
    use serde_json::Value;
    use std::sync::Arc;

    fn rename() -> FileEvent {
        let path = |p: &str| {
            FilePath::from_text(p).with_original(format!(r"\Device\HarddiskVolume3{}", &p[2..]))
        };
        FileEvent {
            seq: 9,
            time: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            host: Host::Windows,
            operation: Operation::Rename,
            process: Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 4,
                    start_key: 8,
                },
                image: Some(r"C:\w\x.exe".into()),
                command_line: Some("x.exe /q".into()),
                user: Some(r"HOST\a".into()),
                ..ProcessInfo::default()
            }),
            thread_id: 0,
            target: path(r"C:\u\d.locked"),
            source: Some(Box::new(path(r"C:\u\d.docx"))),
            details: Details::default(),
            entropy: None,
        }
    }

    fn lines(format: Format, event: &FileEvent) -> Value {
        let mut emitter = Emitter::new(Vec::new(), format, HostInfo::default());
        emitter.event(event).unwrap();
        assert_eq!(emitter.counts().events, 1);
        let out = emitter.into_inner().unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn ocsf_rename_puts_the_source_in_file_and_the_target_in_file_result() {
        let v = lines(Format::Ocsf, &rename());
        assert_eq!(v["class_uid"], 1001);
        assert_eq!(v["activity_id"], 5);
        assert_eq!(v["activity_name"], "Rename");
        assert_eq!(v["type_uid"], 100_105);
        assert_eq!(v["time"], 1_700_000_000_000u64);
        assert_eq!(v["file"]["path"], r"C:\u\d.docx");
        assert_eq!(v["file"]["ext"], "docx");
        assert_eq!(v["file_result"]["path"], r"C:\u\d.locked");
        assert_eq!(v["actor"]["process"]["pid"], 4);
        assert_eq!(v["actor"]["process"]["file"]["path"], r"C:\w\x.exe");
        assert_eq!(v["actor"]["process"]["file"]["name"], "x.exe");
        assert_eq!(v["actor"]["process"]["cmd_line"], "x.exe /q");
        assert_eq!(v["actor"]["user"]["name"], r"HOST\a");
        assert_eq!(v["device"]["os"]["type"], "windows");
        assert_eq!(v["metadata"]["sequence"], 9);
        assert_eq!(v["unmapped"]["picket"]["operation"], "rename");
        assert_eq!(
            v["unmapped"]["picket"]["original_new_path"],
            r"\Device\HarddiskVolume3\u\d.locked"
        );
    }

    #[test]
    fn ecs_rename_keeps_the_old_name_in_ext_original() {
        let v = lines(Format::Ecs, &rename());
        assert_eq!(v["@timestamp"], "2023-11-14T22:13:20.0000000Z");
        assert_eq!(v["event"]["action"], "rename");
        assert_eq!(v["event"]["type"][0], "change");
        assert_eq!(v["file"]["path"], r"C:\u\d.locked");
        assert_eq!(v["file"]["Ext"]["original"]["path"], r"C:\u\d.docx");
        assert_eq!(v["process"]["executable"], r"C:\w\x.exe");
        assert_eq!(v["host"]["os"]["type"], "windows");
    }

    #[test]
    fn a_refs_128_bit_id_and_a_stream_delete_reach_both_formats_whole() {
        let mut event = rename();
        event.operation = Operation::Delete;
        event.source = None;
        event.details.file_id = 0x0000_0000_0000_1f2e_0000_0000_0000_0a0b;
        event.details.delete_method = Some("disposition");
        event.details.named_stream = true;
        let v = lines(Format::Ocsf, &event);
        assert_eq!(v["file"]["uid"], "1f2e0000000000000a0b");
        assert_eq!(v["unmapped"]["picket"]["named_stream"], true);
        let v = lines(Format::Ecs, &event);
        assert_eq!(v["file"]["inode"], "147241911196349641001483");
        assert_eq!(v["picket"]["named_stream"], true);
        event.details.named_stream = false;
        event.details.file_id = 0;
        let v = lines(Format::Ocsf, &event);
        assert!(v["file"].get("uid").is_none(), "an unknown id is left out");
        assert!(v["unmapped"]["picket"].get("named_stream").is_none());
    }

    #[test]
    fn unknown_process_facts_are_null_not_guessed() {
        let mut event = rename();
        event.process = Arc::new(ProcessInfo {
            key: ProcessKey {
                pid: 4,
                start_key: 8,
            },
            ..ProcessInfo::default()
        });
        let v = lines(Format::Ocsf, &event);
        assert_eq!(v["actor"]["process"]["file"]["path"], Value::Null);
        assert!(v["actor"]["process"]
            .as_object()
            .unwrap()
            .contains_key("cmd_line"));
        assert_eq!(v["actor"]["user"]["name"], Value::Null);
    }

    #[test]
    fn alerts_are_detection_findings() {
        let alert = Alert {
            rule_id: "r-1".into(),
            title: "Ransom".into(),
            level: picket_model::Level::High,
            tags: vec!["attack.t1486".into(), "attack.impact".into()],
            description: None,
            shadow: true,
            time: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            events: vec![rename()],
            correlation: None,
            processes: Vec::new(),
        };
        let mut emitter = Emitter::new(Vec::new(), Format::Ocsf, HostInfo::default());
        emitter.alert(&alert).unwrap();
        let v: Value = serde_json::from_slice(&emitter.into_inner().unwrap()).unwrap();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["finding_info"]["analytic"]["uid"], "r-1");
        assert_eq!(v["finding_info"]["attacks"][0]["technique"]["uid"], "T1486");
        assert_eq!(v["unmapped"]["picket"]["shadow"], true);
        assert_eq!(v["unmapped"]["picket"]["events"][0]["class_uid"], 1001);
        let line = human::alert_line(&alert);
        assert!(
            line.starts_with("ALERT HIGH [shadow] Ransom (r-1): pid 4"),
            "{line}"
        );
    }

    fn process_line(
        format: Format,
        activity: picket_model::ProcessActivity,
        exit: Option<u32>,
    ) -> String {
        let event = ProcessEvent {
            seq: 3,
            time: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            host: Host::Linux,
            activity,
            process: Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 40,
                    start_key: 7,
                },
                image: Some("/usr/bin/sh".into()),
                command_line: Some("sh -c true".into()),
                uid: Some(1000),
                parent_pid: Some(1),
                parent_start_key: Some(2),
                current_directory: Some("/tmp".into()),
                ..ProcessInfo::default()
            }),
            forked: false,
            creating_pid: None,
            creating_tid: None,
            session_id: None,
            exit_status: exit,
            image_truncated: false,
            command_line_truncated: false,
        };
        let mut emitter = Emitter::new(Vec::new(), format, HostInfo::default());
        emitter.process(&event).unwrap();
        String::from_utf8(emitter.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn ecs_process_lines_keep_their_exact_fields_and_order() {
        let start = process_line(Format::Ecs, picket_model::ProcessActivity::Start, None);
        let exit = process_line(Format::Ecs, picket_model::ProcessActivity::Exit, Some(0));
        assert_eq!(
            start,
            concat!(
                r#"{"@timestamp":"2023-11-14T22:13:20.0000000Z","ecs":{"version":"8.11.0"},"#,
                r#""event":{"kind":"event","category":["process"],"type":["start"],"#,
                r#""action":"process_started","sequence":3,"module":"picket","#,
                r#""dataset":"picket.process"},"process":{"pid":40,"entity_id":"40-7","#,
                r#""executable":"/usr/bin/sh","name":"sh","command_line":"sh -c true","#,
                r#""working_directory":"/tmp","parent":{"pid":1,"entity_id":"1-2"}},"#,
                r#""user":{"name":null,"id":"1000"},"host":{"os":{"type":"linux"}},"#,
                r#""picket":{"process_start_key":7}}"#,
                "\n"
            )
        );
        assert_eq!(
            exit,
            concat!(
                r#"{"@timestamp":"2023-11-14T22:13:20.0000000Z","ecs":{"version":"8.11.0"},"#,
                r#""event":{"kind":"event","category":["process"],"type":["end"],"#,
                r#""action":"process_ended","sequence":3,"module":"picket","#,
                r#""dataset":"picket.process"},"process":{"pid":40,"entity_id":"40-7","#,
                r#""executable":"/usr/bin/sh","name":"sh","command_line":"sh -c true","#,
                r#""working_directory":"/tmp","exit_code":0,"#,
                r#""parent":{"pid":1,"entity_id":"1-2"}},"#,
                r#""user":{"name":null,"id":"1000"},"host":{"os":{"type":"linux"}},"#,
                r#""picket":{"process_start_key":7}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn ocsf_process_lines_keep_their_exact_fields_and_order() {
        let head = |id: u8, name: &str| {
            format!(
                concat!(
                    r#"{{"class_uid":1007,"class_name":"Process Activity","category_uid":1,"#,
                    r#""category_name":"System Activity","activity_id":{},"#,
                    r#""activity_name":"{}","type_uid":10070{},"severity_id":1,"#,
                    r#""severity":"Informational","time":1700000000000,"#,
                    r#""metadata":{{"version":"1.3.0","product":{{"name":"Picket","#,
                    r#""vendor_name":"Picket","version":"{}"}},"sequence":3}},"#,
                    r#""device":{{"hostname":null,"#,
                    r#""os":{{"type":"linux","type_id":200,"name":"Linux"}}}},"#,
                    r#""process":{{"pid":40,"uid":"40-7","#,
                    r#""file":{{"path":"/usr/bin/sh","name":"sh","type_id":1}},"#,
                    r#""cmd_line":"sh -c true","user":{{"name":null,"uid":"1000"}},"#,
                    r#""cwd":"/tmp","parent_process":{{"pid":1,"uid":"1-2"}}}},"#,
                    r#""actor":{{"process":{{"pid":1,"uid":"1-2"}}}},"#
                ),
                id,
                name,
                id,
                env!("CARGO_PKG_VERSION")
            )
        };
        let start = process_line(Format::Ocsf, picket_model::ProcessActivity::Start, None);
        let exit = process_line(Format::Ocsf, picket_model::ProcessActivity::Exit, Some(0));
        assert_eq!(
            start,
            head(1, "Launch")
                + r#""unmapped":{"picket":{"activity":"start","process_start_key":7}}}"#
                + "\n"
        );
        assert_eq!(
            exit,
            head(2, "Terminate")
                + r#""exit_code":0,"#
                + r#""unmapped":{"picket":{"activity":"exit","process_start_key":7}}}"#
                + "\n"
        );
    }
    /// A writer that records each hand-over's size.
    #[derive(Default)]
    struct Recorder {
        data: Vec<u8>,
        writes: Vec<usize>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.data.extend_from_slice(buf);
            self.writes.push(buf.len());
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Lines are held until a hand-over's worth, handed over whole and in order, and the rest
    /// by `flush`; event and notice lines keep their order across hand-overs.
    #[test]
    fn lines_are_handed_over_whole_in_order_a_buffers_worth_at_a_time() {
        for format in [Format::Ocsf, Format::Ecs] {
            let mut emitter = Emitter::new(Recorder::default(), format, HostInfo::default());
            let mut event = rename();
            let mut expected = 0;
            // Several hand-overs' worth in either format (lines of a few hundred bytes).
            let events = u64::try_from(4 * HAND_OVER / 256).unwrap();
            for seq in 0..events {
                event.seq = seq;
                emitter.event(&event).unwrap();
                expected += 1;
                if seq % 250 == 0 {
                    emitter
                        .notice(&Notice::SourceRestarted {
                            expected: seq,
                            got: 0,
                        })
                        .unwrap();
                    expected += 1;
                }
            }
            // Something held for the flush, whichever line the last hand-over ended at.
            let mut seq = events;
            while emitter.lines.is_empty() {
                event.seq = seq;
                emitter.event(&event).unwrap();
                expected += 1;
                seq += 1;
            }
            let before_flush = emitter.out.as_ref().unwrap().data.len();
            emitter.flush().unwrap();
            let out = emitter.into_inner().unwrap();
            assert!(
                before_flush > 0 && before_flush < out.data.len(),
                "{format:?}"
            );
            // Every hand-over but the flush's is at least a buffer's worth, of whole lines.
            let (last, full) = out.writes.split_last().unwrap();
            assert!(*last < HAND_OVER && full.iter().all(|&n| n >= HAND_OVER));
            let mut at = 0;
            for n in &out.writes {
                at += n;
                assert_eq!(out.data[at - 1], b'\n');
            }
            let text = String::from_utf8(out.data).unwrap();
            let values: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(values.len(), expected);
            let seqs: Vec<u64> = values
                .iter()
                .filter(|v| v.get("picket_notice").is_none())
                .map(|v| {
                    v["metadata"]["sequence"]
                        .as_u64()
                        .or_else(|| v["event"]["sequence"].as_u64())
                        .unwrap()
                })
                .collect();
            assert_eq!(seqs, (0..seq).collect::<Vec<_>>(), "{format:?}");
        }
    }
}
