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
    raise_priority();
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

/// The sensor's nice value unless `PICKET_NICE` says otherwise: above ordinary programs, as
/// auditd boosts itself. On a machine whose cores are all busy, a sensor at the writers'
/// priority gets the same share of a core as each of them and can fall behind a fast writer
/// until the kernel queue overflows and events are lost; a modest boost lets it keep up. It
/// is a weight, not a real-time class: a sensor that spins cannot starve the machine.
const DEFAULT_NICE: i32 = -5;

/// Sets the nice value of this thread, before the source and the pipeline start their
/// threads (they inherit it). Without `CAP_SYS_NICE` the sensor runs at the default priority
/// and says so.
fn raise_priority() {
    let nice = match std::env::var("PICKET_NICE") {
        Ok(text) => match text.trim().parse::<i32>() {
            Ok(nice) if (-20..=19).contains(&nice) => nice,
            _ => {
                tracing::warn!(
                    "PICKET_NICE={text:?} is not a nice value from -20 to 19: using {DEFAULT_NICE}"
                );
                DEFAULT_NICE
            }
        },
        Err(_) => DEFAULT_NICE,
    };
    if let Err(error) = picket_fanotify::set_nice(nice) {
        tracing::warn!(
            %error,
            "cannot set the sensor's nice value to {nice}: it runs at the default priority and \
             may fall behind writers on a busy machine"
        );
    }
}
