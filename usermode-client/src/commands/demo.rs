//! `picket demo` (owned by the fanotify work, issue 6).

use std::process::ExitCode;

use crate::detection::DetectionArgs;

/// `picket demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    detection: DetectionArgs,
}

/// Runs `picket demo`.
///
/// # Errors
/// Always, until the live Linux source is built.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let _ = args.detection;
    anyhow::bail!("picket demo: the live Linux source is not built yet")
}
