//! Any bytes as a capture file, through the whole pipeline. Properties: no panic, and every
//! line written is JSON.
#![no_main]

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use picket_capture::{Pace, ReplaySource};
use picket_emit::{Emitter, Format, HostInfo};
use picket_enrich::{ProcessCache, RecordedProcesses};
use picket_parse::{Parser, VolumeMap};
use picket_pipeline::{run, EventFilter, Pipeline, RunOptions};

fuzz_target!(|data: &[u8]| {
    let processes = RecordedProcesses::new(64);
    let sink = processes.clone();
    let Ok(source) = ReplaySource::new(data, "fuzz.pkcap", Pace::Max) else {
        return;
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
    let format = if data.len() % 2 == 0 { Format::Ocsf } else { Format::Ecs };
    let _ = run(
        &mut source,
        &mut pipeline,
        Emitter::new(&mut out, format, HostInfo::default()),
        RunOptions {
            stop: &stop,
            progress: None,
            progress_every: Duration::from_secs(3600),
            alerts_on_stderr: false,
        },
    );
    let text = std::str::from_utf8(&out).expect("output is UTF-8");
    for line in text.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON object: {line}"
        );
    }
});
