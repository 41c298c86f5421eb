//! `picket record FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

/// `picket record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Capture file to write.
    pub file: PathBuf,
}

/// Records the live source into a capture file.
///
/// # Errors
/// Until the capture format is built.
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("picket record {}: not built yet", args.file.display())
}
