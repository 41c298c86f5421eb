//! `picket`: the user-mode client. This file only parses the command line and dispatches;
//! every stage lives in a library crate under `crates/` (see `commands/` for the wiring).

mod commands;
mod detection;
#[cfg(target_os = "linux")]
mod live_linux;

use std::process::ExitCode;

/// The sensor allocates a few small strings per event (paths and their parts) on one thread
/// and frees them on another (the writer): mimalloc's thread-local free lists cost a
/// fraction of glibc malloc's per allocation (see the overhead benchmark). Linux only, where
/// the live sensor's CPU per event is measured; Windows keeps the system allocator.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Picket: a thin Windows minifilter (or Linux fanotify) forwards file events; this client
/// decodes, parses, enriches, detects and emits them as OCSF JSON lines.
#[derive(Debug, Parser)]
#[command(name = "picket", version, about, propagate_version = true)]
struct Cli {
    /// Diagnostics on stderr: error, warn, info, debug, trace (or a tracing filter such as
    /// `picket_pipeline=debug`). `RUST_LOG` works too.
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Watch file activity live (Windows: the minifilter's port; Linux: fanotify on the
    /// file system holding PATH) and print events as JSON lines.
    Watch(commands::watch::WatchArgs),
    /// Record raw batches from the live source into a capture file (replayable byte for byte).
    Record(commands::record::RecordArgs),
    /// Run the full pipeline on a capture file.
    Replay(commands::replay::ReplayArgs),
    /// Summarise a capture file, or (Windows) show the driver's live counters.
    Stats(commands::stats::StatsArgs),
    /// Print the client and protocol versions.
    Version,
    /// Check and manage detection rules.
    Rules(commands::rules::RulesArgs),
    /// Run a short benign and ransomware-like workload under the live sensor.
    Demo(commands::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_tracing(cli.log.as_deref());
    let result = match cli.command {
        Command::Watch(args) => commands::watch::run(args),
        Command::Record(args) => commands::record::run(args),
        Command::Replay(args) => commands::replay::run(args),
        Command::Stats(args) => commands::stats::run(args),
        Command::Version => commands::version::run(),
        Command::Rules(args) => commands::rules::run(args),
        Command::Demo(args) => commands::demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("picket: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
