//! Flags shared by the commands that run the pipeline.

use std::path::PathBuf;

use crate::detection::DetectionArgs;

/// Output format of the JSON lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OCSF File System Activity (1001) and Detection Finding (2004).
    #[default]
    Ocsf,
    /// Elastic Common Schema.
    Ecs,
}

/// Where and how events are written.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct OutputArgs {
    /// Write JSON lines to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output schema.
    #[arg(long, value_enum, default_value_t = Format::Ocsf)]
    pub format: Format,
    /// No progress and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Write only alerts and notices (lost events, volumes, rule changes): no line per file
    /// or process event. Every event is still parsed, enriched, filtered, given to detection
    /// and counted in the summary; only its line is left out (a deployment that ships
    /// findings, not telemetry).
    #[arg(long, conflicts_with = "no_detect")]
    pub alerts_only: bool,
    /// Write the output on a thread of its own (`replay` always does): reading and detection
    /// go on while a slow output (a terminal, a pipe to a slow reader) catches up, for up to
    /// 16 batches. By default `watch` writes on its reading thread: handing every batch to
    /// another thread cost 2–9 % more CPU per event on a busy machine (the overhead benchmark
    /// measures both), and a stalled output is absorbed by the kernel's event queue, beyond
    /// which losses are counted.
    #[arg(long)]
    pub output_thread: bool,
}

/// Which events are kept (applied before detection and output).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FilterArgs {
    /// Keep only events whose path (or rename/link target) starts with PREFIX (repeatable).
    #[arg(long = "path-prefix", value_name = "PREFIX")]
    pub path_prefixes: Vec<String>,
    /// Keep only events of this process id (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Keep only events whose process image path ends with IMAGE, case-insensitively
    /// (e.g. `powershell.exe`; repeatable).
    #[arg(long = "image", value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// The flags of every command that runs a live or recorded source through the pipeline
/// (`watch`, `replay`): output, event filter, detection.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub detection: DetectionArgs,
}
