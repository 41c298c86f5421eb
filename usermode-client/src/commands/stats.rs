//! `picket stats [FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;

/// `picket stats` arguments.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Capture file to summarise (without it: the live driver's counters, Windows only).
    pub file: Option<PathBuf>,
}

/// Summarises a capture or the live driver.
///
/// # Errors
/// Until the capture format is built.
pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let _ = args.file;
    anyhow::bail!("picket stats: not built yet")
}
