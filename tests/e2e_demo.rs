//! `picket demo` end to end: the live sensor, a benign and a ransomware-like workload, and
//! the detection that must come out of it — an actionable alert for the ransomware-like
//! process, none for the benign one, and no alert at all with `--no-detect`.

// fanotify, setpriv and /proc: Linux only (the Windows harness is tests/vm/).
#![cfg(target_os = "linux")]

#[path = "e2e_support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{picket_bin, TempDir};

struct Demo {
    stdout: String,
    events: String,
    benign_pid: u64,
    ransom_pid: u64,
}

/// The pid printed on the stdout line that starts with `label`.
fn pid_after(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"));
    line.split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in `{line}`"))
}

fn run_demo(dir: &Path, extra: &[&str]) -> Demo {
    let out = Command::new(picket_bin())
        .arg("demo")
        .arg("--keep")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run picket demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "picket demo failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let events = std::fs::read_to_string(dir.join("picket-events.jsonl")).expect("events file");
    Demo {
        benign_pid: pid_after(&stdout, "benign workload"),
        ransom_pid: pid_after(&stdout, "ransomware-like workload"),
        stdout,
        events,
    }
}

/// (actor pid, severity, shadow) of every alert line.
fn alerts(events: &str) -> Vec<(u64, String, bool)> {
    events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["class_uid"] == 2004)
        .map(|v| {
            (
                v.pointer("/actor/process/pid")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                v["severity"].as_str().unwrap_or_default().to_owned(),
                v.pointer("/unmapped/picket/shadow")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn the_ransomware_like_workload_is_detected_and_the_benign_one_is_not() {
    let tmp = TempDir::new("demo");
    let demo = run_demo(&tmp.path().join("demo"), &[]);
    let alerts = alerts(&demo.events);
    assert!(
        alerts
            .iter()
            .any(|(pid, severity, shadow)| *pid == demo.ransom_pid
                && !shadow
                && (severity == "Critical" || severity == "High")),
        "no actionable high/critical alert for the ransomware-like process {}: {alerts:?}\n{}",
        demo.ransom_pid,
        demo.stdout
    );
    assert!(
        alerts.iter().all(|(pid, _, _)| *pid != demo.benign_pid),
        "the benign workload raised an alert: {alerts:?}"
    );
    assert!(
        demo.stdout.contains("what was detected:\n  ["),
        "{}",
        demo.stdout
    );
    assert!(demo.stdout.contains("no events lost"), "{}", demo.stdout);
}

#[test]
fn with_detection_off_the_demo_reports_events_and_no_alert() {
    let tmp = TempDir::new("demo-off");
    let demo = run_demo(&tmp.path().join("demo"), &["--no-detect", "--files", "4"]);
    assert!(alerts(&demo.events).is_empty());
    assert!(
        demo.stdout.contains("what was detected: nothing"),
        "{}",
        demo.stdout
    );
    // 4 files x 3 folders rewritten and renamed, 3 notes.
    let renames = demo
        .events
        .lines()
        .filter(|l| l.contains("\"operation\":\"rename\"") && l.contains(".locked"))
        .count();
    assert_eq!(renames, 12, "{}", demo.stdout);
}
