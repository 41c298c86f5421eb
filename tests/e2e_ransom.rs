//! Ransomware behaviour end to end: the live fanotify sensor (`picket watch`, default flags),
//! our own simulator families (`picket-ransim`, see usermode-client/crates/ransim), and the
//! benign look-alikes. Every family must raise an actionable HIGH or CRITICAL alert; the
//! benign workloads must raise none at HIGH or above, and shadow alerts never print as
//! alerts on stderr.

// fanotify: Linux only.
#![cfg(target_os = "linux")]

#[path = "e2e_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use support::{picket_bin, TempDir, Watcher};

/// The simulator, built like `picket` (same cargo, profile and target directory).
fn ransim_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let picket = picket_bin();
        let profile_dir = picket.parent().expect("profile dir").to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "picket-ransim",
                "--bin",
                "picket-ransim",
            ])
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        assert!(build.status().expect("run cargo build").success());
        profile_dir.join("picket-ransim")
    })
    .clone()
}

fn ransim(args: &[&str], paths: &[&Path]) {
    let out = Command::new(ransim_bin())
        .args(args)
        .args(paths)
        .output()
        .expect("run picket-ransim");
    assert!(
        out.status.success(),
        "picket-ransim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An alert line: (severity, rule id, shadow).
#[derive(Debug)]
struct Seen {
    severity: String,
    rule: String,
    shadow: bool,
}

impl Seen {
    fn actionable_high(&self) -> bool {
        !self.shadow && (self.severity == "High" || self.severity == "Critical")
    }
}

fn alerts(output: &str) -> Vec<Seen> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["class_uid"] == 2004)
        .map(|v| Seen {
            severity: v["severity"].as_str().unwrap_or_default().to_owned(),
            rule: v
                .pointer("/finding_info/analytic/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            shadow: v
                .pointer("/unmapped/picket/shadow")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
        .collect()
}

/// Lets the content sampler's last results reach the pipeline, then stops the sensor.
fn finish(mut watcher: Watcher) -> support::Finished {
    watcher.sync();
    std::thread::sleep(Duration::from_millis(500));
    watcher.sync();
    let finished = watcher.stop();
    assert!(finished.status.success(), "{}", finished.stderr);
    finished
}

/// Seeds `per_folder` files per folder, starts the sensor, runs the family, returns what
/// the sensor said.
fn attack(family: &str, per_folder: &str, extra: &[&str]) -> support::Finished {
    let tmp = TempDir::new(&format!("ransom-{family}"));
    let root = tmp.path().join("watched");
    let victims = root.join("victims");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    ransim(&["seed", "--files", per_folder], &[&victims]);
    let watcher = Watcher::start(&root, &logs, &[]);
    let mut args = vec!["run", family];
    args.extend_from_slice(extra);
    ransim(&args, &[&victims]);
    finish(watcher)
}

fn assert_detected(family: &str, per_folder: &str, extra: &[&str]) {
    let finished = attack(family, per_folder, extra);
    let seen = alerts(&finished.output);
    assert!(
        seen.iter().any(Seen::actionable_high),
        "{family}: no actionable HIGH/CRITICAL alert: {seen:?}\nstderr:\n{}",
        finished.stderr
    );
}

#[test]
fn in_place_encryption_without_rename_is_detected() {
    assert_detected("in-place", "10", &[]);
}

#[test]
fn encrypt_and_rename_is_detected() {
    assert_detected("encrypt-rename", "10", &[]);
}

#[test]
fn copy_encrypt_delete_is_detected() {
    assert_detected("copy-encrypt-delete", "10", &[]);
}

#[test]
fn copy_encrypt_delete_to_random_names_is_detected() {
    assert_detected("copy-encrypt-delete-random-name", "10", &[]);
}

#[test]
fn one_encryptor_process_per_file_is_detected() {
    assert_detected("loop-encryptor-per-file", "10", &[]);
}

#[test]
fn a_shell_loop_of_mv_to_a_new_extension_is_detected() {
    assert_detected("loop-mv-rename-only", "10", &[]);
}

#[test]
fn intermittent_encryption_is_detected() {
    assert_detected("intermittent", "10", &[]);
}

#[test]
fn one_process_per_folder_is_detected() {
    assert_detected("folder-at-a-time", "6", &[]);
}

#[test]
fn a_slow_campaign_is_detected() {
    // Two files per folder, one every 1.5 s: 8 files in about 12 s.
    assert_detected("slow-rate", "2", &["--delay-ms", "1500"]);
}

#[test]
fn bit_flipping_in_place_is_detected() {
    assert_detected("bit-flip-in-place", "10", &[]);
}

#[test]
fn ransom_notes_alone_are_detected_and_shadow_alerts_stay_off_stderr() {
    let finished = attack("note-drop-only", "2", &[]);
    let seen = alerts(&finished.output);
    assert!(
        seen.iter()
            .any(|s| s.actionable_high() && s.rule == "picket-behaviour-ransom-note"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.shadow),
        "the Sigma note-spread rule (shadow) fires too: {seen:?}"
    );
    assert!(
        !finished.stderr.contains("[shadow]"),
        "a shadow alert was printed as an alert:\n{}",
        finished.stderr
    );
}

#[test]
fn benign_look_alikes_stay_below_high() {
    let tmp = TempDir::new("ransom-benign");
    let root = tmp.path().join("watched");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let watcher = Watcher::start(&root, &logs, &[]);
    for workload in [
        "sed-i-bak",
        "perl-pi-orig",
        "editor-swap-backup",
        "rsync-temp-rename",
        "git-checkout",
        "tar-create-extract",
        "zip-unzip-move",
        "gzip-r",
        "make-build",
        "package-manager",
        "log-rotation",
        "cp-r-research-tree",
    ] {
        ransim(&["benign", workload], &[&root.join(workload)]);
    }
    let finished = finish(watcher);
    let seen = alerts(&finished.output);
    assert!(
        seen.iter().all(|s| !s.actionable_high()),
        "a benign workload raised HIGH or above: {seen:?}"
    );
    assert!(
        finished.output.lines().count() > 1000,
        "the workloads ran under the sensor"
    );
}

#[test]
fn auto_placed_canaries_alert_when_touched() {
    let tmp = TempDir::new("ransom-canary");
    let root = tmp.path().join("watched");
    let decoys = root.join("share");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&decoys).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let canary_arg = decoys.display().to_string();
    let watcher = Watcher::start(&root, &logs, &["--canary-auto", &canary_arg]);
    let placed: Vec<PathBuf> = std::fs::read_dir(&decoys)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    assert!(!placed.is_empty(), "decoys placed in {}", decoys.display());
    std::fs::write(&placed[0], b"encrypted!").unwrap();
    let finished = finish(watcher);
    let seen = alerts(&finished.output);
    assert!(
        seen.iter()
            .any(|s| s.actionable_high() && s.rule == "picket-canary-touched"),
        "{seen:?}"
    );
}
