//! Small things a user trips on, through the real binary: a failed `record` leaves no file,
//! an error says its cause once, a hot reload says it happened.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;

use common::spread_capture::spread_capture;

fn picket(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_picket"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("picket runs")
}

#[test]
fn a_record_that_cannot_start_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("x.pkcap");
    let out = picket(&[
        "record",
        cap.to_str().unwrap(),
        "--path",
        "/nonexistent/picket",
    ]);
    assert!(!out.status.success());
    assert!(!cap.exists(), "an empty capture was left behind");
}

#[test]
fn a_missing_path_is_said_once() {
    for args in [
        &["watch", "/nonexistent/picket"][..],
        &["rules", "check", "/nonexistent/picket"][..],
        &["replay", "/nonexistent/picket.pkcap"][..],
    ] {
        let out = picket(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            stderr.matches("No such file or directory").count(),
            1,
            "{args:?}: {stderr}"
        );
    }
}

const RULE: &str = "title: Dropped payload
id: test-payload
logsource:
  category: file_event
detection:
  selection:
    TargetFilename|endswith: '\\payload.exe'
  condition: selection
level: high
";

#[test]
fn a_successful_hot_reload_prints_one_line_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("payload.yml"), RULE).unwrap();
    let cap = dir.path().join("slow.pkcap");
    spread_capture(&cap, 3_000, Duration::from_secs(7));
    let child = Command::new(env!("CARGO_BIN_EXE_picket"))
        .arg("replay")
        .arg(&cap)
        .args([
            "--speed",
            "recorded",
            "-q",
            "--output",
            "/dev/null",
            "--rules",
        ])
        .arg(&rules)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(
        rules.join("payload.yml"),
        RULE.replace("payload.exe", "dropper.exe"),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.matches("rules reloaded").count(), 1, "{stderr}");
}
