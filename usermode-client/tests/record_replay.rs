//! `picket record` on the live Linux source, then `picket replay` of what it wrote: the
//! batches come back byte for byte and the processes as they were when recorded. Needs
//! root (fanotify); CI runs as root. Without it the test fails loudly rather than passing
//! without having checked anything.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

#[test]
fn a_recorded_session_replays_with_its_processes() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_ascii_whitespace().nth(2).map(str::to_owned))
        .unwrap();
    assert_eq!(
        uid, "0",
        "this test records with fanotify and needs root (CI runs as root)"
    );
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("watched");
    std::fs::create_dir(&watched).unwrap();
    let capture = dir.path().join("session.pkcap");
    let mut child = Command::new(env!("CARGO_BIN_EXE_picket"))
        .args([
            "record",
            capture.to_str().unwrap(),
            "--duration",
            "3",
            "--path",
        ])
        .arg(&watched)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("recording") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "record exited early"
        );
    }
    let file = watched.join("recorded.txt");
    std::fs::write(&file, b"picket").unwrap();
    std::fs::rename(&file, watched.join("renamed.txt")).unwrap();
    std::fs::remove_file(watched.join("renamed.txt")).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("recorded"), "{rest}");

    let out = Command::new(env!("CARGO_BIN_EXE_picket"))
        .args(["replay", capture.to_str().unwrap(), "--no-detect"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["class_uid"] == 1001)
        .collect();
    let ours: Vec<&Value> = events
        .iter()
        .filter(|e| e["actor"]["process"]["pid"] == std::process::id())
        .collect();
    let ops: Vec<&str> = ours
        .iter()
        .map(|e| e["unmapped"]["picket"]["operation"].as_str().unwrap())
        .collect();
    for expected in ["create", "rename", "delete"] {
        assert!(ops.contains(&expected), "{expected} missing from {ops:?}");
    }
    let exe = std::env::current_exe().unwrap();
    for event in &ours {
        assert_eq!(event["device"]["os"]["type"], "linux");
        assert_eq!(
            event["actor"]["process"]["file"]["path"],
            exe.to_str().unwrap(),
            "the process recorded with the session, not looked up at replay"
        );
    }
    let rename = ours
        .iter()
        .find(|e| e["unmapped"]["picket"]["operation"] == "rename")
        .unwrap();
    assert_eq!(rename["file"]["path"], file.to_str().unwrap());
    assert_eq!(
        rename["file_result"]["path"],
        watched.join("renamed.txt").to_str().unwrap()
    );
}
