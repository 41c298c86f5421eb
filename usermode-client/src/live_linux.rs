//! The live Linux source for `picket watch [PATH]`: fanotify on the file system holding PATH,
//! reporting the events at or under PATH (see the `picket-fanotify` crate docs for the
//! mapping from fanotify events to protocol records).

use std::path::Path;

use anyhow::Context as _;
use picket_fanotify::{FanotifySource, SourceConfig};

/// Opens the fanotify source for the file system holding `path`.
///
/// # Errors
/// Without root (`CAP_SYS_ADMIN` for fanotify, `CAP_DAC_READ_SEARCH` to reopen directory
/// handles) the error names the missing capability; a kernel or file system that cannot
/// report directory entries with file handles, or a path that does not exist, is named too.
pub fn open_live_source(path: &Path) -> anyhow::Result<Box<dyn picket_model::BatchSource>> {
    // Hard links are reported as such (existing name and new name), as the Windows driver
    // does, whenever the source has seen the file under its other name.
    // Process starts and exits come from the netlink process connector, so a program that
    // exits before its file events are read keeps its image, command line and parent.
    // `PICKET_PROCESSES=off` turns it off (the overhead benchmark's comparison run).
    let processes = std::env::var("PICKET_PROCESSES").map_or(true, |v| v != "off");
    let config = SourceConfig {
        report_hard_links: true,
        processes,
        ..SourceConfig::new(path)
    };
    let source = FanotifySource::open(&config)
        .with_context(|| format!("cannot start the live sensor on {}", path.display()))?;
    tracing::info!("{}", source.describe());
    Ok(Box::new(source))
}
