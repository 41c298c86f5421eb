//! `picket watch [PATH]`: the live sensor.

use std::path::PathBuf;
use std::process::ExitCode;

use picket_emit::HostInfo;
use picket_pipeline::Writer;

use super::options::SessionArgs;
use super::session::{local_hostname, run_session, Session};

/// `picket watch` arguments.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Linux: watch the file system holding PATH and report what happens at or under it
    /// (default: the current directory). Windows: the minifilter reports every attached
    /// volume; narrow with --path-prefix.
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub session: SessionArgs,
}

/// Runs the live sensor until Ctrl-C.
///
/// # Errors
/// When the live source cannot be opened or the output written.
pub fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let live = super::live::open(args.path.as_deref())?;
    let mut source = live.source;
    let session = Session {
        label: live.label,
        parser: live.parser,
        inspector: live.inspector,
        host: HostInfo {
            hostname: local_hostname(),
        },
        // A live sensor's CPU per event is what the watched machine pays.
        writer: Writer::Inline,
    };
    run_session(&mut *source, session, &args.session)
}
