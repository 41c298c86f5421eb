//! `picket demo`: the live sensor on a scratch folder, a benign workload and a
//! ransomware-like one run as separate processes, then what the sensor saw and detected.
//!
//! The sensor is the real `picket watch` (this binary, as a child process) with the same
//! detection flags `demo` was given; the workloads run in two more child processes, so each
//! has its own pid, image and command line in the events — and so neither is mistaken for
//! the sensor's own activity, which the sensor ignores. Needs root, like `picket watch`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::detection::DetectionArgs;

/// `picket demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Scratch folder to create and run in (default: a new folder under the temp dir). It
    /// must not exist yet.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the scratch folder and the sensor's JSON lines (`picket-events.jsonl`) afterwards.
    #[arg(long)]
    keep: bool,
    /// Files per victim folder in the ransomware-like workload (3 folders).
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    files: u32,
    /// Internal: run one workload (benign|ransomware) in DIR and exit.
    #[arg(long, hide = true, num_args = 2, value_names = ["KIND", "DIR"])]
    internal_workload: Option<Vec<PathBuf>>,
    #[command(flatten)]
    detection: DetectionArgs,
}

/// Runs `picket demo`.
///
/// # Errors
/// When the sensor cannot start (not root, no fanotify), or the scratch folder cannot be
/// made.
#[cfg(target_os = "linux")]
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    linux::run(args)
}

/// Runs `picket demo`: Linux only (on Windows the sensor is the minifilter; see
/// `tests/vm/` for its scripted workload).
///
/// # Errors
/// Always, on this platform.
#[cfg(not(target_os = "linux"))]
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let _ = (
        args.dir,
        args.keep,
        args.files,
        args.internal_workload,
        args.detection,
    );
    anyhow::bail!("picket demo runs on Linux (fanotify); on Windows use the VM harness in tests/vm")
}

#[cfg(target_os = "linux")]
mod linux;
