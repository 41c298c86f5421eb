//! `picket stats [FILE]`: what a capture holds, or (Windows) the driver's own counters.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use picket_capture::{CaptureReader, FrameKind};
use picket_emit::iso8601;
use picket_model::{Notice, Timestamp};
use picket_pipeline::{Decoded, Decoder};
use picket_protocol::{Body, RecordKind};

/// `picket stats` arguments.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Capture file to summarise. Without it: the live driver's hello and periodic counters
    /// (Windows only), until Ctrl-C.
    pub file: Option<PathBuf>,
}

/// Summarises a capture or the live driver.
///
/// # Errors
/// When the capture cannot be read (what was read so far is still printed), or no live
/// driver exists here.
pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    match args.file {
        Some(file) => capture_stats(&file),
        None => live_stats(),
    }
}

fn kind_name(body: &Body<'_>) -> String {
    let name = match RecordKind::from_raw(body.kind_raw()) {
        _ if matches!(body, Body::Unknown { .. }) => {
            return format!("unknown {:#06x}", body.kind_raw());
        }
        Some(RecordKind::FileCreate) => "file_create",
        Some(RecordKind::FirstWrite) => "first_write",
        Some(RecordKind::CloseModified) => "close_modified",
        Some(RecordKind::Rename) => "rename",
        Some(RecordKind::HardLink) => "hard_link",
        Some(RecordKind::Delete) => "delete",
        Some(RecordKind::DeleteStream) => "delete_stream",
        Some(RecordKind::SetSize) => "set_size",
        Some(RecordKind::SetAttributes) => "set_attributes",
        Some(RecordKind::DriverHello) => "driver_hello",
        Some(RecordKind::Stats) => "stats",
        Some(RecordKind::Loss) => "loss",
        Some(RecordKind::ProcessStart | RecordKind::ProcessExit | RecordKind::VerdictRequest)
        | None => "reserved",
    };
    name.to_owned()
}

fn capture_stats(path: &Path) -> anyhow::Result<ExitCode> {
    let label = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot open {label}"))?;
    let mut reader = CaptureReader::new(BufReader::new(file)).with_context(|| label.clone())?;
    let header = reader.header().clone();
    println!("capture      {label}");
    println!(
        "format       Picket capture v{}",
        picket_capture::format::VERSION
    );
    println!(
        "recorded     {} on {:?} host {:?}, protocol {}.{}",
        iso8601(header.started_at),
        header.host_os,
        header.hostname,
        header.protocol.0,
        header.protocol.1
    );
    for (device, drive) in &header.volumes {
        println!("volume       {device} = {drive}");
    }
    let mut decoder = Decoder::new();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let (mut batches, mut processes, mut other_frames, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let (mut lost, mut malformed) = (0u64, 0u64);
    let mut lost_inexact = false;
    let mut seq_range: Option<(u64, u64)> = None;
    let mut times: Option<(Timestamp, Timestamp)> = None;
    let mut buf = Vec::new();
    let mut on_notice = |notice: &Notice| match notice {
        Notice::EventsLost { count, exact, .. } => {
            lost = lost.saturating_add(*count);
            lost_inexact |= !exact;
        }
        Notice::MalformedBatch { .. } => malformed += 1,
        _ => {}
    };
    let failure = loop {
        let frame = match reader.next_frame(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => break None,
            Err(error) => break Some(error),
        };
        match frame.kind {
            FrameKind::Batch => {
                batches += 1;
                bytes += buf.len() as u64;
                times = Some(
                    times.map_or((frame.received_at, frame.received_at), |(a, _)| {
                        (a, frame.received_at)
                    }),
                );
                decoder.feed(&buf, |decoded| match decoded {
                    Decoded::Record(record, _) => {
                        let seq = record.header.seq;
                        seq_range =
                            Some(seq_range.map_or((seq, seq), |(a, b)| (a.min(seq), b.max(seq))));
                        *kinds.entry(kind_name(&record.body)).or_default() += 1;
                    }
                    Decoded::Notice(notice) => on_notice(&notice),
                });
            }
            FrameKind::Process => processes += 1,
            FrameKind::Other(_) => other_frames += 1,
        }
    };
    decoder.flush(&mut |decoded| {
        if let Decoded::Notice(notice) = decoded {
            on_notice(&notice);
        }
    });
    let stats = decoder.stats();
    println!("batches      {batches} ({bytes} bytes), {malformed} malformed");
    println!(
        "records      {} ({} of unknown kinds skipped)",
        stats.records, stats.unknown_records
    );
    for (kind, count) in &kinds {
        println!("  {kind:<18} {count}");
    }
    if let Some((first, last)) = seq_range {
        println!("file seqs    {first}..={last}");
    }
    if let Some((first, last)) = times {
        let secs = last.0.saturating_sub(first.0) as f64 / 1e7;
        println!(
            "received     {} .. {} ({secs:.3} s)",
            iso8601(first),
            iso8601(last)
        );
    }
    if lost_inexact {
        println!(
            "lost         at least {lost} events (count unknown: the kernel queue overflowed)"
        );
    } else {
        println!("lost         {lost} events");
    }
    println!("processes    {processes} described");
    if other_frames > 0 {
        println!("other frames {other_frames} (unknown kinds, skipped)");
    }
    match failure {
        Some(error) => Err(anyhow::Error::new(error).context(label)),
        None => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(not(windows))]
fn live_stats() -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "picket stats without a FILE shows the minifilter's counters and needs Windows; \
         give a capture file (picket stats FILE)"
    )
}

#[cfg(windows)]
fn live_stats() -> anyhow::Result<ExitCode> {
    use picket_model::Pull;
    use std::sync::atomic::Ordering;
    let stop = super::interrupt::flag();
    let mut source = picket_winport::PortSource::connect(stop)?;
    let mut decoder = Decoder::new();
    let mut buf = Vec::new();
    eprintln!("picket: waiting for the driver's counters (Ctrl-C to stop)");
    while !stop.load(Ordering::Relaxed) {
        match picket_model::BatchSource::next_batch(&mut source, &mut buf)? {
            Pull::Batch => decoder.feed(&buf, |decoded| {
                if let Decoded::Notice(notice) = decoded {
                    println!("{notice:?}");
                }
            }),
            Pull::Idle => {}
            Pull::End => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}
