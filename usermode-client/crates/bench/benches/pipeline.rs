//! decode → parse → enrich → emit on a large generated capture.
//!
//! ```text
//! cargo bench -p picket-bench                                # 2 M events streamed from disk
//! PICKET_BENCH_EVENTS=20000000 cargo bench -p picket-bench   # any length: RSS stays flat
//! ```
//!
//! Prints, per core (the thread's CPU time): decode only; decode + parse; decode + parse +
//! enrich; OCSF and ECS serialisation alone; then the whole two-thread pipeline streaming
//! the capture file to a discarding writer, with its wall-clock rate and the process's peak
//! RSS. The streaming run comes first, so the peak RSS it prints is the pipeline's own.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use picket_bench::{peak_rss_bytes, process_cpu_time, si, CpuClock};
use picket_capture::{CaptureHeader, CaptureWriter, HostOs, Pace, ReplaySource};
use picket_emit::guard::{NoRollBack, OutputGuard};
use picket_emit::{Emitter, Format, HostInfo};
use picket_enrich::{ProcessCache, RecordedProcesses};
use picket_model::{FileEvent, ProcessInfo, ProcessKey, Timestamp};
use picket_parse::{Parser, VolumeMap};
use picket_pipeline::{run, Decoded, Decoder, EventFilter, Pipeline, RunOptions};

fn volumes() -> Vec<(String, String)> {
    vec![(r"\Device\HarddiskVolume3".into(), "C:".into())]
}

fn processes() -> RecordedProcesses {
    let table = RecordedProcesses::new(1024);
    for i in 0..37u32 {
        let pid = 1000 + i * 4;
        table.insert(ProcessInfo {
            key: ProcessKey {
                pid,
                start_key: u64::from(pid) * 7,
            },
            image: Some(format!(r"C:\Program Files\App{i}\app{i}.exe")),
            command_line: Some(format!(r#""C:\Program Files\App{i}\app{i}.exe" --job {i}"#)),
            user: Some(r"CORP\analyst".into()),
            ..ProcessInfo::default()
        });
    }
    table
}

fn rate(label: &str, events: u64, bytes: u64, took: Duration, unit: &str) {
    let secs = took.as_secs_f64().max(1e-9);
    println!(
        "{label:<34} {:>10}events/s  {:>10}B/s  ({events} events, {:.2} s {unit})",
        si(events as f64 / secs),
        si(bytes as f64 / secs),
        secs
    );
}

/// Writes a capture of `events` records to `path`, streaming (one batch in memory).
fn write_capture(path: &std::path::Path, events: u64) -> (u64, u64) {
    let file = BufWriter::with_capacity(1 << 20, File::create(path).expect("temp file"));
    let header = CaptureHeader {
        started_at: Timestamp(133_500_000_000_000_000),
        host_os: HostOs::Windows,
        hostname: "BENCH".into(),
        protocol: (
            picket_protocol::PROTOCOL_MAJOR,
            picket_protocol::PROTOCOL_MINOR,
        ),
        volumes: volumes(),
    };
    let mut writer = CaptureWriter::new(file, &header).expect("header");
    let mut bytes = 0u64;
    picket_synth::workload_stream(events, |batch| {
        bytes += batch.len() as u64;
        writer
            .write_batch(batch, Timestamp(133_500_000_000_000_000))
            .expect("write");
    })
    .expect("encode");
    let batches = writer.batches_written();
    writer.finish().expect("flush");
    (batches, bytes)
}

fn streaming(events: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.pkcap");
    let started = Instant::now();
    let (batches, bytes) = write_capture(&path, events);
    println!(
        "generated {events} events in {batches} batches, {} on disk, in {:.1} s",
        si(std::fs::metadata(&path).map_or(0, |m| m.len()) as f64) + "B",
        started.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_bytes().unwrap_or(0);
    let table = processes();
    let sink = table.clone();
    let file = BufReader::with_capacity(1 << 16, File::open(&path).expect("capture"));
    let mut source = ReplaySource::new(file, "bench.pkcap", Pace::Max)
        .expect("header")
        .with_process_sink(Box::new(move |info| sink.insert(info)));
    let mut pipeline = Pipeline::new(
        Parser::new(VolumeMap::fixed(volumes())),
        ProcessCache::new(Box::new(table), ProcessCache::DEFAULT_CAPACITY),
        EventFilter::default(),
        None,
    );
    let stop = AtomicBool::new(false);
    let cpu_before = process_cpu_time();
    let summary = run(
        &mut source,
        &mut pipeline,
        Emitter::new(production_output(), Format::Ocsf, HostInfo::default()),
        RunOptions {
            stop: &stop,
            progress: None,
            progress_every: Duration::from_secs(3600),
            alerts_on_stderr: false,
            // As `picket replay` does.
            writer: picket_pipeline::Writer::Thread,
        },
    )
    .expect("pipeline");
    assert_eq!(summary.emitted.events, events, "every event emitted");
    rate(
        "full pipeline, 2 threads, wall",
        summary.emitted.events,
        bytes,
        summary.elapsed,
        "wall",
    );
    if let (Some(before), Some(after)) = (cpu_before, process_cpu_time()) {
        rate(
            "full pipeline, per CPU-second",
            summary.emitted.events,
            bytes,
            after.saturating_sub(before),
            "CPU, both threads",
        );
    }
    let peak = peak_rss_bytes().unwrap_or(0);
    println!(
        "peak RSS (VmHWM) after streaming {}B of capture: {:.1} MiB (before the run: {:.1} MiB; target < 100 MiB)",
        si(bytes as f64),
        peak as f64 / 1048576.0,
        rss_before as f64 / 1048576.0
    );
}

fn stages(events: u64, passes: u32) {
    let mut batches = Vec::new();
    let mut bytes = 0u64;
    picket_synth::workload_stream(events, |b| {
        bytes += b.len() as u64;
        batches.push(b.to_vec());
    })
    .expect("encode");
    let total = events * u64::from(passes);
    let total_bytes = bytes * u64::from(passes);

    let clock = CpuClock::start();
    let mut records = 0u64;
    for _ in 0..passes {
        let mut decoder = Decoder::new();
        for b in &batches {
            decoder.feed(b, |d| {
                if let Decoded::Record(r, _) = d {
                    records += u64::from(r.header.pid != u32::MAX);
                }
            });
        }
    }
    assert_eq!(records, total);
    let unit = if clock.is_cpu_time() { "CPU" } else { "wall" };
    rate("decode", total, total_bytes, clock.elapsed(), unit);

    let clock = CpuClock::start();
    let mut parsed = 0u64;
    for _ in 0..passes {
        let mut decoder = Decoder::new();
        let mut parser = Parser::new(VolumeMap::fixed(volumes()));
        for b in &batches {
            decoder.feed(b, |d| {
                if let Decoded::Record(r, posix) = d {
                    if let Some(event) = parser.parse(r, posix) {
                        parsed += u64::from(event.target.path().len() > 3);
                    }
                }
            });
        }
    }
    assert_eq!(parsed, total);
    rate("decode + parse", total, total_bytes, clock.elapsed(), unit);

    let clock = CpuClock::start();
    let mut kept = 0u64;
    for _ in 0..passes {
        let mut pipeline = Pipeline::new(
            Parser::new(VolumeMap::fixed(volumes())),
            ProcessCache::new(Box::new(processes()), ProcessCache::DEFAULT_CAPACITY),
            EventFilter::default(),
            None,
        );
        let mut out = Vec::with_capacity(1024);
        for b in &batches {
            pipeline.process_batch(b, &mut out);
            kept += out.len() as u64;
            out.clear();
        }
    }
    assert_eq!(kept, total);
    rate(
        "decode + parse + enrich",
        total,
        total_bytes,
        clock.elapsed(),
        unit,
    );

    for (label, format) in [
        ("OCSF serialisation", Format::Ocsf),
        ("ECS serialisation", Format::Ecs),
    ] {
        let mut pipeline = Pipeline::new(
            Parser::new(VolumeMap::fixed(volumes())),
            ProcessCache::new(Box::new(processes()), ProcessCache::DEFAULT_CAPACITY),
            EventFilter::default(),
            None,
        );
        let mut emitter = Emitter::new(production_output(), format, HostInfo::default());
        let mut out = Vec::with_capacity(1024);
        let mut serialising = Duration::ZERO;
        let mut json_bytes = 0u64;
        let mut count = 0u64;
        let mut measure = Emitter::new(Vec::with_capacity(1 << 20), format, HostInfo::default());
        for b in &batches {
            pipeline.process_batch(b, &mut out);
            let events: Vec<&FileEvent> = out
                .iter()
                .filter_map(|o| match o {
                    picket_pipeline::Output::Event(e) => Some(e),
                    _ => None,
                })
                .collect();
            let clock = CpuClock::start();
            for e in &events {
                emitter.event(e).expect("sink");
            }
            serialising += clock.elapsed();
            count += events.len() as u64;
            if let Some(first) = events.first() {
                measure.event(first).expect("memory");
            }
            out.clear();
        }
        json_bytes += measure.into_inner().unwrap().len() as u64;
        let per_line = json_bytes as f64 / batches.len().max(1) as f64;
        let secs = serialising.as_secs_f64().max(1e-9);
        println!(
            "{label:<34} {:>10}events/s  {:>10}B/s of JSON  ({count} events, {secs:.2} s {unit}, ~{per_line:.0} B/line)",
            si(count as f64 / secs),
            si(count as f64 * per_line / secs),
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, shortened.
    let quick =
        std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench");
    let events: u64 = std::env::var("PICKET_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 2_000_000 });
    println!(
        "picket pipeline benchmark ({})",
        if quick { "quick check" } else { "release" }
    );
    streaming(events);
    let (stage_events, passes) = if quick { (10_000, 1) } else { (200_000, 5) };
    stages(stage_events, passes);
}

/// The output exactly as `picket` builds it (a boxed `OutputGuard`, which buffers whole
/// lines), over a sink: the figures then include the cost of handing bytes to the writer,
/// not only of formatting them.
fn production_output() -> Box<dyn std::io::Write + Send> {
    Box::new(OutputGuard::new(NoRollBack(std::io::sink()), "benchmark sink").quiet())
}
