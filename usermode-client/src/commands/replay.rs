//! `picket replay FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{FilterArgs, OutputArgs};
use crate::detection::DetectionArgs;

/// `picket replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture file written by `picket record`.
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub detection: DetectionArgs,
}

/// Replays a capture through the pipeline.
///
/// # Errors
/// Until the pipeline is wired.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let _ = (args.output, args.filter, args.detection);
    anyhow::bail!("picket replay {}: not built yet", args.file.display())
}
