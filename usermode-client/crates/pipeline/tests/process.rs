//! Process records through the pipeline, as a replay sees them (no live system to ask): a
//! start feeds the cache, so the file events that follow name the process and its parent
//! even though nothing else describes it; an exit ends it.

use picket_emit::{Emitter, Format, HostInfo};
use picket_enrich::{ProcessCache, RecordedProcesses};
use picket_model::{ProcessActivity, ProcessInfo, ProcessKey};
use picket_parse::Parser;
use picket_pipeline::{EventFilter, Output, Pipeline};
use picket_protocol::{
    BatchFlags, Body, FileOp, FileRef, Name, ProcessExit, ProcessStart, Record, RecordHeader,
};
use picket_synth::batch;

fn header(seq: u64, pid: u32, start_key: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: 133_000_000_000_000_000 + seq,
        pid,
        tid: 0,
        process_start_key: start_key,
    }
}

fn start(
    seq: u64,
    pid: u32,
    key: u64,
    parent: u32,
    parent_key: u64,
    image: &'static [u8],
    cmd: &'static [u8],
) -> Record<'static> {
    Record {
        header: header(seq, pid, key),
        body: Body::ProcessStart(ProcessStart {
            parent_pid: parent,
            parent_start_key: parent_key,
            creating_pid: parent,
            creating_tid: 0,
            session_id: 0,
            user_id: Some(0),
            forked: false,
            image: Name::new(image),
            command_line: Name::new(cmd),
        }),
    }
}

#[test]
fn a_start_names_the_process_and_its_parent_for_the_events_that_follow() {
    let recorded = RecordedProcesses::new(16);
    let mut pipeline = Pipeline::new(
        Parser::without_volumes(),
        ProcessCache::new(Box::new(recorded), 64),
        EventFilter::default(),
        None,
    );
    let write = Record {
        header: header(3, 200, 20),
        body: Body::FirstWrite(FileOp {
            file: FileRef::default(),
            name: Name::new(b"/data/a.txt"),
        }),
    };
    let exit = Record {
        header: header(4, 200, 20),
        body: Body::ProcessExit(ProcessExit { exit_status: 0 }),
    };
    let bytes = batch(
        BatchFlags::POSIX_NAMES,
        0,
        &[
            start(1, 100, 10, 1, 1, b"/usr/bin/bash", b"bash\0"),
            start(2, 200, 20, 100, 10, b"/usr/bin/mv", b"mv\0a\0b\0"),
            write,
            exit,
        ],
    )
    .unwrap();
    let mut out = Vec::new();
    pipeline.process_batch(&bytes, &mut out);
    let kinds: Vec<&str> = out
        .iter()
        .map(|o| match o {
            Output::Process(p) if p.activity == ProcessActivity::Start => "start",
            Output::Process(_) => "exit",
            Output::Event(_) => "event",
            Output::Notice(_) => "notice",
            Output::Alert(_) => "alert",
        })
        .collect();
    assert_eq!(kinds, ["start", "start", "event", "exit"]);
    let Output::Event(event) = &out[2] else {
        unreachable!()
    };
    let want = ProcessInfo {
        key: ProcessKey {
            pid: 200,
            start_key: 20,
        },
        image: Some("/usr/bin/mv".into()),
        command_line: Some("mv a b".into()),
        uid: Some(0),
        parent_pid: Some(100),
        parent_start_key: Some(10),
        parent_image: Some("/usr/bin/bash".into()),
        parent_command_line: Some("bash".into()),
        ..ProcessInfo::default()
    };
    assert_eq!(*event.process, want);
    let Output::Process(exit) = &out[3] else {
        unreachable!()
    };
    assert_eq!(exit.exit_status, Some(0));
    assert_eq!(exit.process.image.as_deref(), Some("/usr/bin/mv"));

    // Both schemas write the process lines.
    for format in [Format::Ocsf, Format::Ecs] {
        let mut emitter = Emitter::new(Vec::new(), format, HostInfo::default());
        for o in &out {
            if let Output::Process(p) = o {
                emitter.process(p).unwrap();
            }
        }
        let text = String::from_utf8(emitter.into_inner().unwrap()).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        match format {
            Format::Ocsf => {
                assert_eq!(first["class_uid"], 1007);
                assert_eq!(first["activity_name"], "Launch");
                assert_eq!(first["process"]["file"]["path"], "/usr/bin/mv");
                assert_eq!(
                    first["process"]["parent_process"]["file"]["path"],
                    "/usr/bin/bash"
                );
                assert_eq!(first["actor"]["process"]["pid"], 100);
            }
            Format::Ecs => {
                assert_eq!(first["event"]["category"][0], "process");
                assert_eq!(first["event"]["type"][0], "start");
                assert_eq!(first["process"]["parent"]["executable"], "/usr/bin/bash");
            }
        }
    }
}
