//! Runs the pipeline on a source with the shared flags: the common core of `watch`,
//! `replay` (and `demo`).

use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use picket_emit::{human, Emitter, HostInfo};
use picket_enrich::{ProcessCache, ProcessInspector};
use picket_model::BatchSource;
use picket_parse::Parser;
use picket_pipeline::{run, EventFilter, Pipeline, Progress, RunError, RunOptions, RunSummary};

use super::interrupt;
use super::options::{Format, SessionArgs};
use crate::detection::build_detector;

/// Where the events come from and how to read them.
pub struct Session {
    /// Short description for messages (`capture x.pkcap`, `fanotify on /`).
    pub label: String,
    /// The parse stage, with the volume map the source needs.
    pub parser: Parser,
    /// Who answers process questions.
    pub inspector: Box<dyn ProcessInspector>,
    /// Host facts for the output.
    pub host: HostInfo,
}

fn open_output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(path)
                .with_context(|| format!("cannot create output file {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
    })
}

fn print_summary(label: &str, summary: &RunSummary) {
    eprintln!(
        "picket: {label}: {}{}",
        human::summary_line(&summary.emitted, summary.elapsed),
        if summary.counts.filtered > 0 {
            format!(", {} filtered out", summary.counts.filtered)
        } else {
            String::new()
        }
    );
}

/// Runs `source` through the whole pipeline until it ends or Ctrl-C.
///
/// # Errors
/// When detection cannot start, the output cannot be written, or the source fails (after
/// everything read until then has been written and the summary printed).
pub fn run_session(
    source: &mut dyn BatchSource,
    session: Session,
    args: &SessionArgs,
) -> anyhow::Result<ExitCode> {
    let SessionArgs {
        output,
        filter,
        detection,
    } = args;
    let detector = build_detector(detection)?;
    let mut pipeline = Pipeline::new(
        session.parser,
        ProcessCache::new(session.inspector, ProcessCache::DEFAULT_CAPACITY),
        EventFilter::new(
            filter.path_prefixes.clone(),
            filter.pids.clone(),
            filter.images.clone(),
        ),
        detector,
    );
    let format = match output.format {
        Format::Ocsf => picket_emit::Format::Ocsf,
        Format::Ecs => picket_emit::Format::Ecs,
    };
    let emitter = Emitter::new(open_output(output.output.as_deref())?, format, session.host);
    let show_progress = !output.quiet && std::io::stderr().is_terminal();
    let progress = show_progress.then(|| {
        Box::new(|p: &Progress| {
            eprint!(
                "\rpicket: {} events ({:.0}/s), {}, {} alerts   ",
                p.counts.events,
                human::rate(p.counts.events, p.elapsed),
                human::lost_phrase(p.counts.lost, p.counts.lost_inexact),
                p.counts.alerts
            );
        }) as picket_pipeline::ProgressFn<'_>
    });
    let options = RunOptions {
        stop: interrupt::flag(),
        progress,
        progress_every: Duration::from_secs(1),
        alerts_on_stderr: !output.quiet,
    };
    let result = run(source, &mut pipeline, emitter, options);
    if show_progress {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            if !output.quiet {
                print_summary(&session.label, &summary);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(RunError::Source { error, summary }) => {
            print_summary(&session.label, &summary);
            Err(anyhow::Error::new(error).context(format!("{} failed", session.label)))
        }
        Err(RunError::Output(error)) => {
            let name = output
                .output
                .as_deref()
                .map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
            Err(anyhow::Error::new(error).context(format!("cannot write to {name}")))
        }
    }
}

/// This machine's name, for the output's host fields.
pub fn local_hostname() -> Option<String> {
    let name = if cfg!(windows) {
        std::env::var("COMPUTERNAME").ok()
    } else {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .ok()
    };
    name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}
