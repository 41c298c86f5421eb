//! The live Linux source for `picket watch [PATH]`: fanotify on the file system holding PATH,
//! reporting the events at or under PATH (see the `picket-fanotify` crate docs for the
//! mapping from fanotify events to protocol records).

use std::path::Path;

use anyhow::Context as _;
use picket_fanotify::pace::PaceConfig;
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
    let pace = pace();
    start_pace(pace);
    let config = SourceConfig {
        report_hard_links: true,
        processes,
        pace: Some(pace),
        ..SourceConfig::new(path)
    };
    let source = FanotifySource::open(&config)
        .with_context(|| format!("cannot start the live sensor on {}", path.display()))?;
    tracing::info!("{}", source.describe());
    Ok(Box::new(source))
}

/// The sensor's pace (see `picket_fanotify::pace`): nice 0 in the `SCHED_BATCH` class while
/// it keeps up, so that its wake-ups do not preempt the programs it watches, and nice −5
/// (above ordinary programs, as auditd boosts itself) while its reads show it falling behind
/// the kernel's queue. `PICKET_NICE` and `PICKET_NICE_BEHIND` set other values,
/// `PICKET_BEHIND_EVENTS` when it counts as behind;
/// `PICKET_SCHED_BATCH=off` keeps the normal class (the overhead benchmark compares the two).
fn pace() -> PaceConfig {
    let defaults = PaceConfig::default();
    PaceConfig {
        nice: nice_from_env("PICKET_NICE", defaults.nice),
        behind_nice: nice_from_env("PICKET_NICE_BEHIND", defaults.behind_nice),
        batch: std::env::var("PICKET_SCHED_BATCH").map_or(defaults.batch, |v| v != "off"),
        behind_events: behind_events_from_env(),
    }
}

/// `PICKET_BEHIND_EVENTS`: events queued in the kernel that raise the sensor (default: a
/// quarter of its queue; 0: any backlog two full reads long).
fn behind_events_from_env() -> Option<u32> {
    let text = std::env::var("PICKET_BEHIND_EVENTS").ok()?;
    match text.trim().parse::<u32>() {
        Ok(events) => Some(events),
        Err(_) => {
            tracing::warn!(
                "PICKET_BEHIND_EVENTS={text:?} is not a number of events: using a quarter of \
                 the kernel queue"
            );
            None
        }
    }
}

fn nice_from_env(name: &str, default: i32) -> i32 {
    match std::env::var(name) {
        Ok(text) => match text.trim().parse::<i32>() {
            Ok(nice) if (-20..=19).contains(&nice) => nice,
            _ => {
                tracing::warn!(
                    "{name}={text:?} is not a nice value from -20 to 19: using {default}"
                );
                default
            }
        },
        Err(_) => default,
    }
}

/// Puts this thread at `pace`'s everyday value, before the source and the pipeline start
/// their threads (they inherit it).
fn start_pace(pace: PaceConfig) {
    if let Err(error) = picket_fanotify::pace::start(pace) {
        tracing::warn!(
            %error,
            "cannot run the sensor at nice {}{}: it runs as it was started",
            pace.nice,
            if pace.batch { " in the SCHED_BATCH class" } else { "" }
        );
    }
}
