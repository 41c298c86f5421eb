//! A path longer than the protocol's 2 048-byte name cap, live under `picket watch`: the
//! event's `file.name` and extension are the real final component (the name is cut in the
//! middle, flagged), so an extension rule cannot be dodged with a deep path. Needs root.

// fanotify: Linux only (the Windows harness is tests/vm/).
#![cfg(target_os = "linux")]

#[path = "e2e_support/mod.rs"]
mod support;

use serde_json::Value;
use support::Watcher;

#[test]
fn a_deep_path_keeps_its_file_name_and_extension() {
    let root = support::TempDir::new("long");
    let logs = support::TempDir::new("long");
    // 12 folders of 200 bytes: the file's path is about 2 450 bytes.
    let mut dir = root.path().to_path_buf();
    for i in 0..12 {
        dir.push(format!("{i:02}{}", "d".repeat(198)));
    }
    std::fs::create_dir_all(&dir).unwrap();
    let mut watcher = Watcher::start(root.path(), logs.path(), &["--no-detect"]);
    let file = dir.join("invoice.pdf.exe");
    std::fs::write(&file, b"MZ").unwrap();
    assert!(file.as_os_str().len() > 2048);
    watcher.sync();
    let finished = watcher.stop();
    assert!(finished.status.success(), "{}", finished.stderr);
    let created: Vec<Value> = finished
        .output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["unmapped"]["picket"]["operation"] == "create")
        .filter(|v| v["file"]["name"] == "invoice.pdf.exe")
        .collect();
    assert_eq!(created.len(), 1, "{}", finished.output);
    let event = &created[0];
    assert_eq!(event["file"]["ext"], "exe");
    assert_eq!(event["unmapped"]["picket"]["path_truncated"], true);
    let path = event["file"]["path"].as_str().unwrap();
    assert!(path.contains('\u{2026}'), "the cut is visible: {path}");
    assert!(path.starts_with(root.path().to_str().unwrap()), "{path}");
}
