//! `picket watch [PATH]`: the live sensor.

use std::path::PathBuf;
use std::process::ExitCode;

use super::options::{FilterArgs, OutputArgs};
use crate::detection::DetectionArgs;

/// `picket watch` arguments.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Linux: watch the file system holding PATH (default: the current directory's).
    /// Windows: ignored (the minifilter sees every volume it is attached to).
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub detection: DetectionArgs,
}

/// Runs the live sensor until Ctrl-C.
///
/// # Errors
/// Until the pipeline is wired.
pub fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let _ = (args.output, args.filter);
    let _detector = crate::detection::build_detector(&args.detection)?;
    #[cfg(target_os = "linux")]
    {
        let path = args.path.unwrap_or_else(|| PathBuf::from("."));
        let _source = crate::live_linux::open_live_source(&path)?;
    }
    anyhow::bail!("picket watch: the pipeline is not wired yet")
}
