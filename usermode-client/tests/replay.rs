//! `picket replay` on the shipped captures, checked field by field, through the real binary.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use picket_integration_tests::workload::{self, compare, scratch_events, Platform};
use serde_json::Value;

fn picket(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_picket"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("picket runs")
}

fn replay(capture: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let path = common::capture_path(capture);
    let mut args = vec!["replay", path.to_str().unwrap(), "--no-detect"];
    args.extend_from_slice(extra);
    let out = picket(&args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "replay failed: {stderr}");
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    (lines, stderr)
}

fn events(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["class_uid"] == 1001).collect()
}

fn notices<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l.get("class_uid").is_none() && l["picket_notice"] == kind)
        .collect()
}

fn as_text(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn windows_capture_gives_exactly_the_workload_the_vm_harness_expects() {
    let (lines, stderr) = replay("windows-workload.pkcap", &[]);
    let w = workload::load_default().unwrap();
    let observed =
        scratch_events(&as_text(&lines), common::WIN_SCRATCH, Platform::Windows).unwrap();
    compare(
        &w,
        Platform::Windows,
        &observed,
        u64::from(common::WIN_RUNNER.pid),
    )
    .unwrap_or_else(|m| panic!("{m}"));
    assert!(stderr.contains("15 events"), "{stderr}");
    assert_eq!(notices(&lines, "driver_hello").len(), 1);
    assert_eq!(notices(&lines, "driver_stats").len(), 1);
    assert!(
        notices(&lines, "events_lost").is_empty(),
        "nothing was lost"
    );
}

#[test]
fn windows_events_carry_every_contract_field() {
    let (lines, _) = replay("windows-workload.pkcap", &[]);
    let events = events(&lines);
    let scratch = common::WIN_SCRATCH;
    // The first workload event: mkdir sub.
    let mkdir = events
        .iter()
        .find(|e| e["metadata"]["sequence"] == 3)
        .expect("sequence 3");
    assert_eq!(mkdir["class_uid"], 1001);
    assert_eq!(mkdir["category_uid"], 1);
    assert_eq!(mkdir["activity_id"], 1);
    assert_eq!(mkdir["activity_name"], "Create");
    assert_eq!(mkdir["type_uid"], 100_101);
    assert_eq!(mkdir["time"], 1_767_323_045_003u64);
    assert_eq!(mkdir["actor"]["process"]["pid"], 4242);
    assert_eq!(mkdir["actor"]["process"]["file"]["path"], common::WIN_IMAGE);
    assert_eq!(mkdir["actor"]["process"]["file"]["name"], "powershell.exe");
    assert_eq!(mkdir["actor"]["process"]["cmd_line"], common::WIN_CMDLINE);
    assert_eq!(mkdir["actor"]["process"]["tid"], 4246);
    assert_eq!(mkdir["actor"]["user"]["name"], common::WIN_USER);
    assert_eq!(mkdir["file"]["path"], format!(r"{scratch}\sub"));
    assert_eq!(mkdir["file"]["name"], "sub");
    assert_eq!(mkdir["file"]["parent_folder"], scratch);
    assert_eq!(mkdir["file"]["type_id"], 2, "a folder");
    assert!(mkdir.get("file_result").is_none());
    assert_eq!(mkdir["device"]["os"]["type"], "windows");
    assert_eq!(mkdir["device"]["hostname"], common::WIN_HOST);
    assert_eq!(mkdir["metadata"]["product"]["name"], "Picket");
    assert_eq!(mkdir["unmapped"]["picket"]["operation"], "create");
    assert_eq!(
        mkdir["unmapped"]["picket"]["original_path"],
        format!(r"{}\sub", common::WIN_SCRATCH_NT)
    );
    assert_eq!(mkdir["unmapped"]["picket"]["create"]["result"], "created");

    let rename = events
        .iter()
        .find(|e| e["unmapped"]["picket"]["operation"] == "rename")
        .unwrap();
    assert_eq!(rename["activity_id"], 5);
    assert_eq!(rename["file"]["path"], format!(r"{scratch}\alpha.txt"));
    assert_eq!(rename["file"]["ext"], "txt");
    assert_eq!(rename["file"]["type_id"], 1);
    assert_eq!(
        rename["file_result"]["path"],
        format!(r"{scratch}\sub\beta.txt")
    );
    assert_eq!(
        rename["file_result"]["parent_folder"],
        format!(r"{scratch}\sub")
    );

    let link = events
        .iter()
        .find(|e| e["unmapped"]["picket"]["operation"] == "hardlink")
        .unwrap();
    assert_eq!(link["activity_id"], 99);
    assert_eq!(link["file"]["path"], format!(r"{scratch}\sub\beta.txt"));
    assert_eq!(link["file_result"]["path"], format!(r"{scratch}\gamma.txt"));

    let truncate = events
        .iter()
        .find(|e| e["unmapped"]["picket"]["operation"] == "truncate")
        .unwrap();
    assert_eq!(truncate["activity_id"], 3);
    assert_eq!(truncate["unmapped"]["picket"]["new_size"], 1000);

    let deletes: Vec<_> = events
        .iter()
        .filter(|e| e["unmapped"]["picket"]["operation"] == "delete")
        .map(|e| e["unmapped"]["picket"]["delete_method"].as_str().unwrap())
        .collect();
    assert_eq!(
        deletes,
        ["disposition_ex", "delete_on_close", "disposition_ex"]
    );

    // Defender, whose process the capture does not describe: unknown, not guessed.
    let defender = events
        .iter()
        .find(|e| e["actor"]["process"]["pid"] == 888)
        .unwrap();
    assert_eq!(defender["actor"]["process"]["file"]["path"], Value::Null);
    assert_eq!(defender["actor"]["user"]["name"], Value::Null);
}

#[test]
fn linux_capture_gives_exactly_the_workload_the_e2e_test_expects() {
    let (lines, _) = replay("linux-workload.pkcap", &[]);
    let w = workload::load_default().unwrap();
    let observed =
        scratch_events(&as_text(&lines), common::LINUX_SCRATCH, Platform::Linux).unwrap();
    compare(
        &w,
        Platform::Linux,
        &observed,
        u64::from(common::LINUX_RUNNER.pid),
    )
    .unwrap_or_else(|m| panic!("{m}"));
    let first = events(&lines)[1].clone();
    assert_eq!(first["device"]["os"]["type"], "linux");
    assert_eq!(first["device"]["os"]["type_id"], 200);
    assert_eq!(first["file"]["path"], "/tmp/picket-scratch/sub");
    assert_eq!(first["file"]["parent_folder"], "/tmp/picket-scratch");
    assert_eq!(
        first["actor"]["process"]["file"]["path"],
        common::LINUX_IMAGE
    );
    assert_eq!(first["actor"]["user"]["name"], "root");
    assert_eq!(first["actor"]["user"]["uid"], "0");
    assert_eq!(
        first["unmapped"]["picket"]["original_path"],
        "/tmp/picket-scratch/sub"
    );
}

#[test]
fn edge_cases_are_reported_not_hidden() {
    let (lines, stderr) = replay("edge-cases.pkcap", &[]);
    let events = events(&lines);
    let by_seq = |seq: u64| {
        events
            .iter()
            .find(|e| e["metadata"]["sequence"] == seq)
            .unwrap_or_else(|| panic!("sequence {seq}"))
    };
    // PID reuse: same pid, two start keys, two programs.
    assert_eq!(
        by_seq(1)["actor"]["process"]["file"]["path"],
        r"C:\Apps\old.exe"
    );
    assert_eq!(
        by_seq(2)["actor"]["process"]["file"]["path"],
        r"C:\Users\Public\new.exe"
    );
    assert_eq!(
        by_seq(7)["actor"]["process"]["file"]["path"],
        r"C:\Apps\old.exe"
    );
    assert_eq!(
        by_seq(1)["actor"]["process"]["pid"],
        by_seq(2)["actor"]["process"]["pid"]
    );
    // An unpaired surrogate is escaped, never replaced.
    assert_eq!(by_seq(3)["file"]["path"], r"C:\data\x\u{D800}y.txt");
    assert_eq!(by_seq(3)["file"]["name"], r"x\u{D800}y.txt");
    // Unknown volume: the NT path stays, flagged truncated name kept.
    assert_eq!(
        by_seq(12)["file"]["path"],
        r"\Device\HarddiskVolume9\usb\report.pdf"
    );
    assert_eq!(by_seq(12)["unmapped"]["picket"]["path_truncated"], true);
    // Rename across volumes.
    assert_eq!(by_seq(14)["file"]["path"], r"C:\data\b.txt");
    assert_eq!(by_seq(14)["file_result"]["path"], r"D:\backup\b.txt.locked");
    // Seq 13 is a record kind from the future: skipped by length, nothing emitted.
    assert!(events.iter().all(|e| e["metadata"]["sequence"] != 13));
    assert_eq!(events.len(), 8);

    let lost: Vec<(u64, &str, u64, u64)> = notices(&lines, "events_lost")
        .iter()
        .map(|n| {
            (
                n["count"].as_u64().unwrap(),
                n["cause"].as_str().unwrap(),
                n["first_seq"].as_u64().unwrap(),
                n["last_seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lost,
        [
            (3, "ring_full", 4, 6),
            (2, "malformed_batch", 9, 10),
            (5, "sequence_gap", 15, 19)
        ],
        "each loss once: the gap 4..6 is the loss record's, not a second notice"
    );
    let malformed = notices(&lines, "malformed_batch");
    assert_eq!(malformed.len(), 1);
    assert_eq!(malformed[0]["batch_index"], 2);
    assert_eq!(malformed[0]["offset"], 0);
    assert!(malformed[0]["error"]
        .as_str()
        .unwrap()
        .contains("bad magic"));
    assert!(
        stderr.contains("10 lost") && stderr.contains("1 malformed"),
        "{stderr}"
    );
}

/// `--alerts-only`: the same alerts as a full run, no event line, and the summary still
/// counts every event handled.
#[test]
fn alerts_only_writes_the_alerts_of_a_full_run_and_nothing_else() {
    let path = common::capture_path("linux-workload.pkcap");
    let path = path.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["replay", path, "--canary", "/tmp/picket-scratch/gamma.txt"];
        args.extend_from_slice(extra);
        let out = picket(&args);
        assert!(out.status.success());
        let lines: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect();
        (lines, String::from_utf8(out.stderr).unwrap())
    };
    let (full, _) = run(&[]);
    let (only, stderr) = run(&["--alerts-only"]);
    let alerts = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .filter(|l| l["class_uid"] == 2004)
            .cloned()
            .collect()
    };
    assert_eq!(events(&full).len(), 15);
    assert_eq!(alerts(&full).len(), 5, "the canary's touches alert");
    assert!(only.iter().all(|l| l["class_uid"] != 1001));
    assert_eq!(alerts(&only), alerts(&full));
    assert_eq!(only.len(), 5, "alerts and nothing else");
    assert!(
        stderr.contains(": 15 events") && stderr.contains("5 alerts"),
        "{stderr}"
    );
    assert!(stderr.contains("events not written"), "{stderr}");
    // Without detection there would be nothing to write: refused.
    let out = picket(&["replay", path, "--alerts-only", "--no-detect"]);
    assert!(!out.status.success());
}

#[test]
fn ecs_output_file_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let (stdout, _) = replay(
        "windows-workload.pkcap",
        &[
            "--format",
            "ecs",
            "--output",
            out.to_str().unwrap(),
            "--pid",
            "4242",
        ],
    );
    assert!(stdout.is_empty(), "--output takes the lines off stdout");
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l.get("picket_notice").is_none())
        .collect();
    assert_eq!(lines.len(), 13, "the runner's events only");
    let rename = lines
        .iter()
        .find(|l| l["event"]["action"] == "rename")
        .unwrap();
    assert_eq!(rename["event"]["kind"], "event");
    assert_eq!(rename["event"]["type"][0], "change");
    assert_eq!(rename["@timestamp"], "2026-01-02T03:04:05.0090000Z");
    assert_eq!(
        rename["file"]["path"],
        format!(r"{}\sub\beta.txt", common::WIN_SCRATCH)
    );
    assert_eq!(
        rename["file"]["Ext"]["original"]["path"],
        format!(r"{}\alpha.txt", common::WIN_SCRATCH)
    );
    assert_eq!(rename["process"]["executable"], common::WIN_IMAGE);
    assert_eq!(rename["user"]["name"], common::WIN_USER);
    assert_eq!(rename["host"]["os"]["type"], "windows");

    let (lines, _) = replay(
        "windows-workload.pkcap",
        &[
            "--path-prefix",
            r"c:\programdata",
            "--image",
            "POWERSHELL.EXE",
        ],
    );
    assert!(
        events(&lines).is_empty(),
        "no powershell event under ProgramData"
    );
    let (lines, stderr) = replay(
        "windows-workload.pkcap",
        &["--path-prefix", r"c:\programdata"],
    );
    assert_eq!(events(&lines).len(), 1, "Defender's log");
    assert!(stderr.contains("14 filtered out"), "{stderr}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_truncated_capture_emits_what_it_holds_then_names_file_and_offset() {
    let bytes = std::fs::read(common::capture_path("windows-workload.pkcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = write(dir.path(), "cut.pkcap", &bytes[..bytes.len() - 10]);
    let out = picket(&["replay", &cut, "--no-detect"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cut.pkcap"), "{stderr}");
    assert!(
        stderr.contains("truncated") && stderr.contains("at byte"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.lines().count() >= 6,
        "the complete batches before the cut were emitted"
    );
}

#[test]
fn files_that_are_not_captures_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(dir.path(), "events.json", b"{\"class_uid\": 1001}\n");
    let out = picket(&["replay", &json]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("not a Picket capture file"), "{stderr}");
    let out = picket(&["replay", "/nonexistent/x.pkcap"]);
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot open /nonexistent/x.pkcap"));
}

#[test]
fn stats_summarises_a_capture() {
    let path = common::capture_path("edge-cases.pkcap");
    let out = picket(&["stats", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("batches      5"), "{text}");
    assert!(text.contains("1 malformed"), "{text}");
    assert!(text.contains("lost         10 events"), "{text}");
    assert!(text.contains(r"\Device\HarddiskVolume3 = C:"), "{text}");
}

#[test]
fn recorded_pace_is_honoured() {
    let path = common::capture_path("edge-cases.pkcap");
    let start = std::time::Instant::now();
    let out = picket(&[
        "replay",
        path.to_str().unwrap(),
        "--no-detect",
        "--speed",
        "recorded",
        "-q",
    ]);
    assert!(out.status.success());
    // Batches were received over 400 ms.
    assert!(start.elapsed() >= std::time::Duration::from_millis(400));
}
