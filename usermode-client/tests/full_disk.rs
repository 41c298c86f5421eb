//! A full output disk, for real: `picket replay --output` on a 64 KiB tmpfs (root only, as
//! the live sensor's tests). The sensor keeps running, never writes half a line, counts what
//! it could not write, says so at once on stderr, and when space returns writes an
//! `output_gap` line with the counts and carries on.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::spread_capture::spread_capture;

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(size: &str) -> Self {
        assert!(
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")),
            "this test mounts a tmpfs: run it as root (as .ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap().keep();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "picket-full"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount -t tmpfs failed");
        Self(dir)
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn whole_lines(path: &Path) -> Vec<serde_json::Value> {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n"),
        "the output ends with half a line"
    );
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("every line is whole JSON"))
        .collect()
}

#[test]
fn a_full_output_disk_never_stops_the_sensor_and_the_gap_is_reported_when_space_returns() {
    let work = tempfile::tempdir().unwrap();
    let cap = work.path().join("big.pkcap");
    let events = 4_000;
    spread_capture(&cap, events, Duration::from_secs(4));
    let disk = SmallDisk::mount("64k");
    let out = disk.0.join("events.json");
    let child = Command::new(env!("CARGO_BIN_EXE_picket"))
        .arg("replay")
        .arg(&cap)
        .args(["--no-detect", "--speed", "recorded", "--output"])
        .arg(&out)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The disk fills within the first batches; give space back halfway.
    std::thread::sleep(Duration::from_millis(1500));
    disk.resize("64m");
    let finished = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(finished.stderr).unwrap();
    assert!(
        stderr.contains("No space left on device") && stderr.contains("still sensing"),
        "the failure is said at once: {stderr}"
    );
    assert!(
        stderr.contains("writable again"),
        "and the resumption: {stderr}"
    );
    let lines = whole_lines(&out);
    let gaps: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["picket_notice"] == "output_gap")
        .collect();
    assert_eq!(gaps.len(), 1, "{stderr}");
    let dropped = gaps[0]["events"].as_u64().unwrap();
    assert!(dropped > 0);
    let written = lines.iter().filter(|l| l["class_uid"] == 1001).count() as u64;
    // Every event is either written or counted in the gap (opens are not events: count
    // what the pipeline emitted from its own summary).
    assert!(written > 0, "writing resumed");
    let emitted: u64 = stderr
        .lines()
        .find_map(|l| {
            let (head, _) = l.split_once(" events (")?;
            head.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("summary line: {stderr}"));
    assert_eq!(written + dropped, emitted, "{stderr}");
    assert_eq!(
        finished.status.code(),
        Some(1),
        "lines were lost: the exit status says so"
    );
}

#[test]
fn a_disk_that_stays_full_counts_everything_at_the_end() {
    let work = tempfile::tempdir().unwrap();
    let cap = work.path().join("big.pkcap");
    spread_capture(&cap, 2_000, Duration::ZERO);
    let disk = SmallDisk::mount("64k");
    let out = disk.0.join("events.json");
    let finished = Command::new(env!("CARGO_BIN_EXE_picket"))
        .arg("replay")
        .arg(&cap)
        .args(["--no-detect", "--output"])
        .arg(&out)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8(finished.stderr).unwrap();
    assert_eq!(finished.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not be written to the end"),
        "{stderr}"
    );
    assert!(stderr.contains("output lines were not written"), "{stderr}");
    let lines = whole_lines(&out);
    assert!(!lines.is_empty(), "the disk took what fitted");
}
