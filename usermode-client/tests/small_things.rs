//! Small things a user trips on, through the real binary: a failed `record` leaves no file,
//! an error says its cause once, a hot reload says it happened.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use picket_capture::{CaptureHeader, CaptureWriter, HostOs};
use picket_model::Timestamp;

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

/// A capture whose batches were received over `span`.
fn slow_capture(path: &Path, span: Duration) {
    let mut batches = Vec::new();
    picket_synth::workload_stream(3_000, |b| batches.push(b.to_vec())).unwrap();
    let t0 = 133_500_000_000_000_000u64;
    let mut w = CaptureWriter::new(
        Vec::new(),
        &CaptureHeader {
            started_at: Timestamp(t0),
            host_os: HostOs::Windows,
            hostname: "H".into(),
            protocol: (
                picket_protocol::PROTOCOL_MAJOR,
                picket_protocol::PROTOCOL_MINOR,
            ),
            volumes: vec![(r"\Device\HarddiskVolume3".into(), "C:".into())],
        },
    )
    .unwrap();
    let step = span.as_nanos() as u64 / 100 / batches.len() as u64;
    for (i, b) in batches.iter().enumerate() {
        w.write_batch(b, Timestamp(t0 + i as u64 * step)).unwrap();
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}

#[test]
fn a_successful_hot_reload_prints_one_line_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("payload.yml"), RULE).unwrap();
    let cap = dir.path().join("slow.pkcap");
    slow_capture(&cap, Duration::from_secs(7));
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
