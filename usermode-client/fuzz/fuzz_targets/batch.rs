//! Any bytes as one batch, into the pipeline core, twice (the second time with the decoder's
//! sequence state from the first), then idle and finish; and the same twice over a reused
//! chunk (`process_batch_over`), which must give the same outputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_emit::{Emitter, Format, HostInfo};
use picket_enrich::{NullInspector, ProcessCache};
use picket_parse::{Parser, VolumeMap};
use picket_pipeline::{EventFilter, Output, Pipeline};

fn new_pipeline() -> Pipeline {
    Pipeline::new(
        Parser::new(VolumeMap::fixed(vec![(
            r"\Device\HarddiskVolume3".into(),
            "C:".into(),
        )])),
        ProcessCache::new(Box::new(NullInspector), 8),
        EventFilter::new(vec![r"C:\".into()], vec![], vec![]),
        None,
    )
}

fuzz_target!(|data: &[u8]| {
    let mut pipeline = new_pipeline();
    let mut out = Vec::new();
    pipeline.process_batch(data, &mut out);
    let first = out.len();
    pipeline.process_batch(data, &mut out);

    // The same batches over a chunk that holds stale outputs (the first batch's, and the
    // chunk's own from the round before).
    let mut reused = new_pipeline();
    let mut chunk = out.clone();
    reused.process_batch_over(data, &mut chunk);
    assert_eq!(chunk[..], out[..first], "first batch over a reused chunk");
    reused.process_batch_over(data, &mut chunk);
    assert_eq!(chunk[..], out[first..], "second batch over a reused chunk");

    pipeline.on_idle(&mut out);
    pipeline.finish(&mut out);
    let mut emitter = Emitter::new(Vec::new(), Format::Ocsf, HostInfo::default());
    for output in &out {
        let written = match output {
            Output::Event(e) => emitter.event(e),
            Output::Process(p) => emitter.process(p),
            Output::Notice(n) => emitter.notice(n),
            Output::Alert(a) => emitter.alert(a),
        };
        written.expect("writing to memory cannot fail");
    }
    let text = String::from_utf8(emitter.into_inner().expect("a Vec takes every line"))
        .expect("output is UTF-8");
    assert_eq!(text.lines().count(), out.len(), "one line per output");
});
