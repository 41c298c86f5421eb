//! The whole pipeline (capture framing → decode → parse → enrich → emit) on capture bytes,
//! written to memory. Shared by the mutated-capture test and the cargo-fuzz `pipeline`
//! target (which includes this file by path), so both exercise the same wiring.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use picket_capture::{Pace, ReplaySource};
use picket_emit::{Emitter, Format, HostInfo};
use picket_enrich::{ProcessCache, RecordedProcesses};
use picket_parse::{Parser, VolumeMap};
use picket_pipeline::{run, EventFilter, Pipeline, RunError, RunOptions};

/// Replays `bytes` as the capture file `label` (its recorded processes and volume map, no
/// filter, no detection). Returns the output and, when the run ended in an error (including
/// bytes that are not a capture), that error.
///
/// # Panics
/// When writing to memory fails or the output is not UTF-8: both are bugs, whatever the input.
pub fn replay_bytes(bytes: &[u8], label: &str, format: Format) -> (String, Option<String>) {
    let processes = RecordedProcesses::new(64);
    let sink = processes.clone();
    let source = match ReplaySource::new(bytes, label, Pace::Max) {
        Ok(source) => source,
        Err(error) => return (String::new(), Some(error.to_string())),
    };
    let mut source = source.with_process_sink(Box::new(move |info| sink.insert(info)));
    let volumes = source.header().volumes.clone();
    let mut pipeline = Pipeline::new(
        Parser::new(VolumeMap::fixed(volumes)),
        ProcessCache::new(Box::new(processes), 16),
        EventFilter::default(),
        None,
    );
    let mut out = Vec::new();
    let stop = AtomicBool::new(false);
    let result = run(
        &mut source,
        &mut pipeline,
        Emitter::new(&mut out, format, HostInfo::default()),
        RunOptions {
            stop: &stop,
            progress: None,
            progress_every: Duration::from_secs(60),
            alerts_on_stderr: false,
            // As `picket replay` does.
            writer: picket_pipeline::Writer::Thread,
        },
    );
    let error = match result {
        Ok(_) => None,
        Err(RunError::Source { error, .. }) => Some(error.to_string()),
        Err(RunError::Output(error)) => panic!("writing to memory failed: {error}"),
    };
    (String::from_utf8(out).expect("output is UTF-8"), error)
}
