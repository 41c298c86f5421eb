//! Floods: hundreds of thousands of file operations under the real `picket watch`.
//!
//! What fanotify lets us guarantee, and what is asserted: the sensor's memory stays bounded
//! (peak RSS read from `VmHWM`); a kernel queue overflow always comes out as an
//! `events_lost` notice (fanotify does not say how many were dropped, so its count is "at
//! least one"); and the counts add up — never more events than operations, fewer only with a
//! loss notice, and exactly one event per operation when no loss was reported.

// fanotify, setpriv and /proc: Linux only (the Windows harness is tests/vm/).
#![cfg(target_os = "linux")]

#[path = "e2e_support/mod.rs"]
mod support;

use std::fs::{self, OpenOptions};
use std::path::Path;

use serde_json::Value;
use support::{lost_counts, TempDir, Watcher};

/// Peak resident memory the sensor may reach on these floods.
const MAX_PEAK_RSS_KIB: u64 = 128 * 1024;

/// Creates then deletes `files` empty files: one `create` and one `delete` event each.
fn create_then_delete(scratch: &Path, files: usize) {
    for i in 0..files {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(scratch.join(format!("f{i}")))
            .expect("create");
    }
    for i in 0..files {
        fs::remove_file(scratch.join(format!("f{i}"))).expect("delete");
    }
}

/// (creates, deletes) reported inside `scratch`.
fn count_events(output: &str, scratch: &Path) -> (usize, usize) {
    let prefix = format!("{}/", scratch.display());
    let mut counts = (0, 0);
    for line in output.lines().filter(|l| l.contains("\"unmapped\"")) {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        let in_scratch = v
            .pointer("/file/path")
            .and_then(Value::as_str)
            .is_some_and(|p| p.starts_with(&prefix));
        if !in_scratch {
            continue;
        }
        match v
            .pointer("/unmapped/picket/operation")
            .and_then(Value::as_str)
        {
            Some("create") => counts.0 += 1,
            Some("delete") => counts.1 += 1,
            _ => {}
        }
    }
    counts
}

struct Flood {
    creates: usize,
    deletes: usize,
    lost: Vec<u64>,
    /// The `events_lost` notices whose cause is a kernel queue overflow.
    overflows: Vec<Value>,
    stderr: String,
    peak_rss_kib: u64,
}

fn flood(files: usize, stop_sensor_meanwhile: bool) -> Flood {
    let root = TempDir::new("flood");
    let logs = TempDir::new("flood-logs");
    let scratch = root.path().join("scratch");
    fs::create_dir(&scratch).unwrap();
    let mut watcher = Watcher::start(root.path(), logs.path(), &[]);
    if stop_sensor_meanwhile {
        watcher.signal("STOP");
    }
    create_then_delete(&scratch, files);
    if stop_sensor_meanwhile {
        watcher.signal("CONT");
    }
    // The sensor has read everything up to this marker, overflow included.
    watcher.sync();
    let peak_rss_kib = watcher.peak_rss_kib();
    let finished = watcher.stop();
    assert!(
        finished.status.success(),
        "picket watch exited with {}; stderr:\n{}",
        finished.status,
        finished.stderr
    );
    let (creates, deletes) = count_events(&finished.output, &scratch);
    let overflows = finished
        .output
        .lines()
        .filter(|l| l.contains("queue_overflow"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["picket_notice"] == "events_lost")
        .collect();
    Flood {
        creates,
        deletes,
        lost: lost_counts(&finished.output),
        overflows,
        stderr: finished.stderr,
        peak_rss_kib,
    }
}

fn assert_counts_add_up(f: &Flood, files: usize) {
    assert!(
        f.creates <= files && f.deletes <= files,
        "more events than operations"
    );
    if f.lost.is_empty() {
        assert_eq!(
            (f.creates, f.deletes),
            (files, files),
            "no loss was reported, so every operation must have been reported"
        );
    } else {
        assert!(
            f.lost.iter().all(|&c| c >= 1),
            "a loss notice counts at least one"
        );
    }
    assert!(
        f.peak_rss_kib < MAX_PEAK_RSS_KIB,
        "peak RSS {} KiB exceeds {} KiB",
        f.peak_rss_kib,
        MAX_PEAK_RSS_KIB
    );
}

#[test]
fn a_flood_while_the_sensor_is_stopped_is_reported_as_lost_events() {
    let files = 100_000;
    let f = flood(files, true);
    eprintln!(
        "stopped sensor: {} ops, {} creates + {} deletes seen, loss notices {:?}, peak RSS {} KiB",
        2 * files,
        f.creates,
        f.deletes,
        f.lost,
        f.peak_rss_kib
    );
    // 200 000 events against a queue of 16 384 with nobody reading: it must overflow.
    assert!(!f.lost.is_empty(), "the overflow must be reported");
    assert!(f.creates + f.deletes < 2 * files);
    assert!(f.creates > 0, "what the queue held is delivered");
    assert_counts_add_up(&f, files);
    // The kernel does not say how many it dropped: no notice and no summary may read as an
    // exact count.
    assert!(
        !f.overflows.is_empty(),
        "the overflow is a queue_overflow notice"
    );
    for notice in &f.overflows {
        assert_eq!(notice["count"], Value::Null, "{notice}");
        assert!(notice["count_at_least"].as_u64() >= Some(1), "{notice}");
    }
    assert!(
        f.stderr.contains("at least") && f.stderr.contains("count unknown"),
        "the summary says the count is a lower bound:\n{}",
        f.stderr
    );
}

#[test]
fn a_flood_with_the_sensor_running_loses_nothing_silently() {
    let files = 50_000;
    let f = flood(files, false);
    eprintln!(
        "running sensor: {} ops, {} creates + {} deletes seen, loss notices {:?}, peak RSS {} KiB",
        2 * files,
        f.creates,
        f.deletes,
        f.lost,
        f.peak_rss_kib
    );
    assert_counts_add_up(&f, files);
}
