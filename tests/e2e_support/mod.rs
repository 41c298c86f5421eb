//! Runs the real `picket` binary for the end-to-end tests: builds it once, starts
//! `picket watch` on a folder, proves the sensor is live before the test acts, waits until
//! everything the test did has come out, and stops it with Ctrl-C (SIGINT) as a user would.
//!
//! Liveness is proven with marker files, never with sleeps: the test creates a marker inside
//! the watched folder (outside the scratch folder the assertions look at) and waits until the
//! sensor's output names it. A sensor that never starts makes the test fail with its stderr,
//! never pass.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A private folder under the system temp dir, removed with everything in it on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty folder named after the test process and a counter.
    pub fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("picket-e2e-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        Self(fs::canonicalize(&dir).expect("canonical temp dir"))
    }

    /// Its path (canonical).
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// How long the sensor may take to show a marker before the test fails.
pub const MARKER_TIMEOUT: Duration = Duration::from_secs(60);

/// The `picket` binary of this build, built on first use with the cargo that runs the tests
/// (same profile, same target directory), so the test never runs a stale binary.
pub fn picket_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // <target>/<profile>/deps/<test> → <target>/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in <target>/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "picket", "--bin", "picket"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p picket");
        assert!(status.success(), "cargo build -p picket failed");
        let bin = profile_dir.join("picket");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

/// A running `picket watch`.
pub struct Watcher {
    child: Option<Child>,
    pub output: PathBuf,
    pub stderr: PathBuf,
    markers: u32,
    root: PathBuf,
}

/// What a stopped watcher left.
pub struct Finished {
    pub status: ExitStatus,
    pub output: String,
    pub stderr: String,
}

impl Watcher {
    /// Starts `picket watch <root> --output <logs>/events.jsonl [extra...]` and waits until
    /// it reports a marker file created under `root`.
    pub fn start(root: &Path, logs: &Path, extra: &[&str]) -> Self {
        let output = logs.join("events.jsonl");
        let stderr = logs.join("stderr.txt");
        let child = Command::new(picket_bin())
            .arg("watch")
            .arg(root)
            .arg("--output")
            .arg(&output)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn picket watch");
        let mut watcher = Self {
            child: Some(child),
            output,
            stderr,
            markers: 0,
            root: root.to_path_buf(),
        };
        watcher.sync();
        watcher
    }

    /// The sensor's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Creates a new marker file under the watched root and waits until the output names
    /// it: everything done before this call has then been read by the sensor (fanotify
    /// delivers one group's events in order).
    pub fn sync(&mut self) {
        self.markers += 1;
        let marker = self
            .root
            .join(format!(".picket-e2e-marker-{}", self.markers));
        let needle = format!("\"{}\"", marker.display());
        let start = Instant::now();
        let mut last_touch = Instant::now() - Duration::from_secs(1);
        loop {
            // Re-create the marker now and then: the first one may predate the group.
            if last_touch.elapsed() >= Duration::from_millis(500) {
                let _ = fs::remove_file(&marker);
                fs::write(&marker, b"m").expect("write marker");
                last_touch = Instant::now();
            }
            if fs::read_to_string(&self.output).is_ok_and(|text| text.contains(&needle)) {
                let _ = fs::remove_file(&marker);
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "picket watch exited ({status}) before reporting {}; stderr:\n{}",
                    marker.display(),
                    fs::read_to_string(&self.stderr).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < MARKER_TIMEOUT,
                "picket watch did not report {} within {MARKER_TIMEOUT:?}; stderr:\n{}",
                marker.display(),
                fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`INT`, `STOP`, `CONT`) to the sensor.
    pub fn signal(&self, name: &str) {
        // The shell's built-in `kill`: no dependency on procps being installed.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{name} {}", self.pid()))
            .status()
            .expect("run sh -c kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Peak resident memory of the sensor so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// Ctrl-C, then collect the output (the sensor must exit by itself within 30 s).
    pub fn stop(mut self) -> Finished {
        self.signal("INT");
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("picket watch did not exit within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Finished {
            status,
            output: fs::read_to_string(&self.output).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `events_lost` notices in the output: their counts.
pub fn lost_counts(output: &str) -> Vec<u64> {
    output
        .lines()
        .filter(|l| l.contains("picket_notice"))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| find_events_lost(&v))
        .collect()
}

fn find_events_lost(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Object(map) => {
            let is_lost = map.values().any(|x| x == "events_lost");
            if is_lost {
                // `count`, or `count_at_least` when the source cannot say how many (a
                // kernel queue overflow: `count` is then null).
                let count = map
                    .get("count")
                    .and_then(serde_json::Value::as_u64)
                    .or_else(|| {
                        map.get("count_at_least")
                            .and_then(serde_json::Value::as_u64)
                    });
                if let Some(count) = count {
                    return Some(count);
                }
            }
            map.values().find_map(find_events_lost)
        }
        serde_json::Value::Array(items) => items.iter().find_map(find_events_lost),
        _ => None,
    }
}
