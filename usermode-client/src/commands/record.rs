//! `picket record FILE`: the live source's raw batches into a capture file, with the volume
//! map and the processes the batches name, so `picket replay` reproduces the session on any
//! machine.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use picket_capture::{CaptureHeader, CaptureWriter, HostOs};
use picket_model::{ProcessKey, Pull, Timestamp};
use picket_protocol::{decode_batch, PROTOCOL_MAJOR, PROTOCOL_MINOR};

use super::interrupt;
use super::session::local_hostname;

/// `picket record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Capture file to write.
    pub file: PathBuf,
    /// Linux: record the file system holding PATH (default: the current directory).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Keys whose process frame was written; cleared when large (a process seen again after
/// that is simply described again).
const MAX_REMEMBERED: usize = 1 << 16;

/// Records the live source into a capture file.
///
/// # Errors
/// When the file cannot be created or written, or the live source fails.
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let label = args.file.display().to_string();
    // The live source first: when it cannot start (not root, no such path) no empty capture
    // is left behind to make the next run fail with "File exists".
    let mut live = super::live::open(args.path.as_deref())?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!args.force)
        .open(&args.file)
        .with_context(|| {
            format!("cannot create {label} (an existing file is kept unless --force)")
        })?;
    let header = CaptureHeader {
        started_at: Timestamp::now(),
        host_os: HostOs::current(),
        hostname: local_hostname().unwrap_or_default(),
        protocol: (PROTOCOL_MAJOR, PROTOCOL_MINOR),
        volumes: live.volumes.clone(),
    };
    let mut writer = match CaptureWriter::new(BufWriter::with_capacity(1 << 16, file), &header) {
        Ok(writer) => writer,
        Err(error) => {
            // Nothing useful was written: do not leave a broken capture behind.
            let _ = std::fs::remove_file(&args.file);
            return Err(anyhow::Error::new(error).context(format!("writing {label}")));
        }
    };
    let stop = interrupt::flag();
    if !args.quiet {
        eprintln!(
            "picket: recording {} to {label} (Ctrl-C to stop)",
            live.label
        );
    }
    let deadline = args
        .duration
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| Instant::now() + Duration::from_secs_f64(d));
    let start = Instant::now();
    let mut described: HashSet<ProcessKey> = HashSet::new();
    let mut buf = Vec::new();
    let mut processes = 0u64;
    let mut failure = None;
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        match live.source.next_batch(&mut buf) {
            Ok(Pull::Batch) => {}
            Ok(Pull::Idle) => continue,
            Ok(Pull::End) => break,
            Err(error) => {
                failure = Some(anyhow::Error::new(error).context(live.label.clone()));
                break;
            }
        }
        let now = Timestamp::now();
        // Describe each new process before the batch that names it, while it still runs.
        if let Ok(batch) = decode_batch(&buf) {
            for record in batch.records() {
                let key = ProcessKey {
                    pid: record.header.pid,
                    start_key: record.header.process_start_key,
                };
                if key.pid == 0 || !described.insert(key) {
                    continue;
                }
                if described.len() > MAX_REMEMBERED {
                    described.clear();
                }
                let info = live
                    .inspector
                    .inspect(key, Timestamp(record.header.timestamp));
                writer
                    .write_process(&info, now)
                    .with_context(|| format!("writing {label}"))?;
                processes += 1;
            }
        }
        writer
            .write_batch(&buf, now)
            .with_context(|| format!("writing {label}"))?;
    }
    let batches = writer.batches_written();
    let bytes = writer.bytes_written();
    writer
        .finish()
        .with_context(|| format!("writing {label}"))?;
    if !args.quiet {
        eprintln!(
            "picket: recorded {batches} batches, {processes} processes, {bytes} bytes to {label} in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(ExitCode::SUCCESS),
    }
}
