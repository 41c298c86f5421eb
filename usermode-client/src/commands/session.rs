//! Runs the pipeline on a source with the shared flags: the common core of `watch`,
//! `replay` (and `demo`).

use std::fs::File;
use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use picket_emit::guard::{GuardReport, NoRollBack, OutputGuard};
use picket_emit::{human, Emitter, HostInfo};
use picket_enrich::{ProcessCache, ProcessInspector};
use picket_model::BatchSource;
use picket_parse::Parser;
use picket_pipeline::{
    run, EventFilter, Pipeline, Progress, RunError, RunOptions, RunSummary, Writer,
};

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
    /// Which thread writes the output (`--output-thread` makes it a thread of its own).
    pub writer: Writer,
}

/// The output behind an [`OutputGuard`]: a full disk never stops the sensor nor leaves half
/// a line (see `picket_emit::guard`).
fn open_output(path: Option<&Path>) -> anyhow::Result<(Box<dyn Write + Send>, Arc<GuardReport>)> {
    let guarded = |guard: OutputGuard<_>| {
        let report = guard.report();
        (Box::new(guard) as Box<dyn Write + Send>, report)
    };
    Ok(match path {
        Some(path) => guarded(OutputGuard::new(
            File::create(path)
                .with_context(|| format!("cannot create output file {}", path.display()))?,
            path.display().to_string(),
        )),
        None => match stdout_file() {
            Some(file) => guarded(OutputGuard::new(file, "stdout")),
            None => {
                let guard = OutputGuard::new(NoRollBack(std::io::stdout()), "stdout");
                let report = guard.report();
                (Box::new(guard), report)
            }
        },
    })
}

/// Stdout as a file when it is one (`picket watch > out.json`), so a write cut short by a
/// full disk can be rolled back to the last whole line.
#[cfg(unix)]
fn stdout_file() -> Option<File> {
    use std::os::fd::AsFd as _;
    let file = File::from(std::io::stdout().as_fd().try_clone_to_owned().ok()?);
    file.metadata().ok()?.is_file().then_some(file)
}

#[cfg(not(unix))]
fn stdout_file() -> Option<File> {
    None
}

fn print_summary(label: &str, summary: &RunSummary, alerts_only: bool) {
    // With `--alerts-only` no event line is written: the events are those handled.
    let counts = if alerts_only {
        picket_emit::EmitCounts {
            events: summary.counts.events,
            ..summary.emitted
        }
    } else {
        summary.emitted
    };
    eprintln!(
        "picket: {label}: {}{}{}{}",
        human::summary_line(&counts, summary.elapsed),
        if summary.counts.filtered > 0 {
            format!(", {} filtered out", summary.counts.filtered)
        } else {
            String::new()
        },
        // Content left unread is a detection signal missed, not an event lost: said, not
        // hidden.
        summary
            .content_sampling
            .map(|s| format!(", {}", human::sampling_phrase(&s)))
            .unwrap_or_default(),
        if alerts_only {
            " (events not written: --alerts-only)"
        } else {
            ""
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
    )
    .with_event_output(!output.alerts_only);
    let format = match output.format {
        Format::Ocsf => picket_emit::Format::Ocsf,
        Format::Ecs => picket_emit::Format::Ecs,
    };
    let (out, guard) = open_output(output.output.as_deref())?;
    let emitter = Emitter::new(out, format, session.host);
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
        writer: if output.output_thread {
            Writer::Thread
        } else {
            session.writer
        },
    };
    let result = run(source, &mut pipeline, emitter, options);
    if show_progress {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            if !output.quiet {
                print_summary(&session.label, &summary, output.alerts_only);
            }
            if guard.dropped_lines() > 0 {
                eprintln!(
                    "picket: {} output lines were not written (the output failed {} time(s); \
                     each gap is an output_gap line where writing resumed)",
                    guard.dropped_lines(),
                    guard.failures()
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(RunError::Source { error, summary }) => {
            print_summary(&session.label, &summary, output.alerts_only);
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
