//! End to end on Linux: the real `picket watch` binary on a temporary folder, the shared
//! workload (`tests/data/workload.json`) performed by this test process, and the sensor's
//! OCSF output compared with the workload's expected Linux events — paths, operations,
//! rename source and target, and this process's pid on every event. Needs root and fanotify
//! (CI runs as root); without them the sensor fails to start and so does this test.

// fanotify, setpriv and /proc: Linux only (the Windows harness is tests/vm/).
#![cfg(target_os = "linux")]

#[path = "e2e_support/mod.rs"]
mod support;

use std::time::Duration;

use picket_integration_tests::workload::{self, posix, Platform};
use serde_json::Value;
use support::Watcher;

/// After each step, before the next: fanotify merges queued events about one file from one
/// process (a second write-and-close after the first would vanish into it), so the runner
/// lets the sensor read a step's events first, as steps a human or a program takes are
/// apart. Correctness does not depend on it being long: `Watcher::sync` proves delivery.
const BETWEEN_STEPS: Duration = Duration::from_millis(100);

#[test]
fn picket_watch_reports_the_shared_workload_exactly() {
    let workload = workload::load_default().expect("tests/data/workload.json is valid");
    let root = support::TempDir::new("watch");
    let logs = support::TempDir::new("watch");
    let root_path = root.path().to_path_buf();
    let scratch = root_path.join("scratch");
    std::fs::create_dir(&scratch).unwrap();

    let mut watcher = Watcher::start(&root_path, logs.path(), &[]);
    for step in workload.steps_for(Platform::Linux) {
        posix::run_step(step, &scratch).expect("workload step");
        std::thread::sleep(BETWEEN_STEPS);
    }
    watcher.sync();
    let finished = watcher.stop();
    assert!(
        finished.status.success(),
        "picket watch exited with {}; stderr:\n{}",
        finished.status,
        finished.stderr
    );

    let scratch_text = scratch.to_str().unwrap();
    let observed = workload::scratch_events(&finished.output, scratch_text, Platform::Linux)
        .expect("the output is OCSF JSON lines");
    if let Err(mismatch) = workload::compare(
        &workload,
        Platform::Linux,
        &observed,
        u64::from(std::process::id()),
    ) {
        panic!("{mismatch}\nstderr:\n{}", finished.stderr);
    }

    // The contract fields beyond the comparison, on every scratch event.
    for line in finished.output.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(path) = v.pointer("/file/path").and_then(Value::as_str) else {
            continue;
        };
        if !path.starts_with(scratch_text) {
            continue;
        }
        assert_eq!(v["class_uid"], 1001, "{line}");
        assert_eq!(
            v.pointer("/device/os/type").and_then(Value::as_str),
            Some("linux"),
            "{line}"
        );
        assert!(
            v.pointer("/metadata/sequence").is_some_and(Value::is_u64),
            "{line}"
        );
        let image = v
            .pointer("/actor/process/file/path")
            .and_then(Value::as_str);
        let me = std::env::current_exe().unwrap();
        assert_eq!(
            image,
            Some(me.to_str().unwrap()),
            "the image is this test binary: {line}"
        );
    }
}
