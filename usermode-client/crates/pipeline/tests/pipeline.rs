//! The pipeline end to end on synthetic batches: enrichment, filters, detection order,
//! notices, the emitter thread.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use picket_emit::{Emitter, Format, HostInfo};
use picket_enrich::{ProcessCache, RecordedProcesses};
use picket_model::{
    Alert, BatchSource, Detector, FileEvent, Level, Operation, ProcessInfo, ProcessKey, Pull,
    SourceError,
};
use picket_parse::{Parser, VolumeMap};
use picket_pipeline::{run, EventFilter, Output, Pipeline, RunOptions, Writer};
use picket_protocol::{BatchFlags, Record};
use picket_synth::{batch, created, file, header, rename, utf16};

fn batches() -> Vec<Vec<u8>> {
    let a = utf16(r"\Device\HarddiskVolume3\data\a.txt");
    let b = utf16(r"\Device\HarddiskVolume3\data\a.locked");
    let other = utf16(r"\Device\HarddiskVolume3\Windows\x.log");
    vec![
        batch(
            BatchFlags::UTF16_NAMES,
            0,
            &[
                Record {
                    header: header(1, 133_000_000_000_000_000, 100, 5),
                    body: created(file(1, 9), &a),
                },
                Record {
                    header: header(2, 133_000_000_000_000_001, 200, 6),
                    body: created(file(2, 10), &other),
                },
            ],
        )
        .unwrap(),
        batch(
            BatchFlags::UTF16_NAMES,
            0,
            &[Record {
                header: header(4, 133_000_000_000_000_002, 100, 5),
                body: rename(file(1, 9), &a, &b),
            }],
        )
        .unwrap(),
    ]
}

fn pipeline(filter: EventFilter, detector: Option<Box<dyn Detector>>) -> Pipeline {
    let processes = RecordedProcesses::new(16);
    processes.insert(ProcessInfo {
        key: ProcessKey {
            pid: 100,
            start_key: 5,
        },
        image: Some(r"C:\tools\crypt.exe".into()),
        ..ProcessInfo::default()
    });
    Pipeline::new(
        Parser::new(VolumeMap::fixed(vec![(
            r"\Device\HarddiskVolume3".into(),
            "C:".into(),
        )])),
        ProcessCache::new(Box::new(processes), 64),
        filter,
        detector,
    )
}

/// Alerts on every rename; counts idle calls.
struct RenameDetector;

impl Detector for RenameDetector {
    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        if event.operation == Operation::Rename {
            alerts.push(Alert {
                rule_id: "test-rename".into(),
                title: "rename seen".into(),
                level: Level::Low,
                tags: vec![],
                description: None,
                shadow: false,
                time: event.time,
                events: vec![event.clone()],
                correlation: None,
                processes: Vec::new(),
            });
        }
    }
}

/// What each output is, in order.
fn kinds(out: &[Output]) -> Vec<&'static str> {
    out.iter()
        .map(|o| match o {
            Output::Event(_) => "event",
            Output::Process(_) => "process",
            Output::Notice(_) => "notice",
            Output::Alert(_) => "alert",
        })
        .collect()
}

#[test]
fn events_are_enriched_filtered_and_followed_by_their_alerts() {
    let mut p = pipeline(
        EventFilter::new(vec![r"c:\DATA\".into()], vec![], vec![]),
        Some(Box::new(RenameDetector)),
    );
    let mut out = Vec::new();
    for b in batches() {
        p.process_batch(&b, &mut out);
    }
    p.finish(&mut out);
    let kinds = kinds(&out);
    // create a.txt, rename (+ its alert), then the gap (seq 3) reported at the end.
    assert_eq!(kinds, ["event", "event", "alert", "notice"]);
    let Output::Event(created) = &out[0] else {
        unreachable!()
    };
    assert_eq!(created.target.path(), r"C:\data\a.txt");
    assert_eq!(
        created.process.image.as_deref(),
        Some(r"C:\tools\crypt.exe")
    );
    let Output::Event(renamed) = &out[1] else {
        unreachable!()
    };
    assert_eq!(renamed.source.as_ref().unwrap().path(), r"C:\data\a.txt");
    assert_eq!(renamed.target.path(), r"C:\data\a.locked");
    assert_eq!(
        p.counts().filtered,
        1,
        r"C:\Windows\x.log is outside the prefix"
    );
    assert_eq!(p.counts().lost, 1);
    assert_eq!(p.counts().alerts, 1);
}

/// Without event output, detection still sees every event and the counts hold them; only
/// alerts and notices are output.
#[test]
fn without_event_output_only_alerts_and_notices_go_out() {
    let mut p =
        pipeline(EventFilter::default(), Some(Box::new(RenameDetector))).with_event_output(false);
    let mut out = Vec::new();
    for b in batches() {
        p.process_batch(&b, &mut out);
    }
    p.finish(&mut out);
    let kinds = kinds(&out);
    assert_eq!(kinds, ["alert", "notice"]);
    let Output::Alert(alert) = &out[0] else {
        unreachable!()
    };
    assert_eq!(alert.rule_id, "test-rename");
    assert_eq!(p.counts().events, 3);
    assert_eq!(p.counts().alerts, 1);
    assert_eq!(p.counts().lost, 1);
}

/// Counts the batches it is told have ended.
struct CountBatches(std::rc::Rc<std::cell::Cell<usize>>);

impl Detector for CountBatches {
    fn on_event(&mut self, _: &FileEvent, _: &mut Vec<Alert>) {}

    fn end_batch(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// The behaviour detector holds its content samples until this call: without it they would
/// wait for the next idle tick, up to a second.
#[test]
fn detection_is_told_when_each_batch_ends() {
    let ended = std::rc::Rc::new(std::cell::Cell::new(0));
    let mut p = pipeline(
        EventFilter::default(),
        Some(Box::new(CountBatches(ended.clone()))),
    );
    let mut out = Vec::new();
    for (at, bytes) in batches().iter().enumerate() {
        p.process_batch(bytes, &mut out);
        assert_eq!(ended.get(), at + 1);
    }
}

/// Two alerts for every rename, naming the renamed file.
struct TwoPerRename;

impl Detector for TwoPerRename {
    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        if event.operation == Operation::Rename {
            for rule in ["first", "second"] {
                alerts.push(Alert {
                    rule_id: rule.into(),
                    title: event.target.path().into(),
                    level: Level::Low,
                    tags: vec![],
                    description: None,
                    shadow: false,
                    time: event.time,
                    events: vec![],
                    correlation: None,
                    processes: Vec::new(),
                });
            }
        }
    }
}

/// One batch: created, renamed, created, renamed, created (paths by number).
fn busy_batch() -> Vec<u8> {
    let paths: Vec<Vec<u8>> = (0..=5u32)
        .map(|n| utf16(&format!(r"\Device\HarddiskVolume3\data\{n}.txt")))
        .collect();
    let records: Vec<Record> = (1..=5usize)
        .map(|n| {
            let id = n as u64;
            Record {
                header: header(id, 133_000_000_000_000_000 + id, 100, 5),
                body: if n % 2 == 0 {
                    rename(file(id, 9), &paths[n - 1], &paths[n])
                } else {
                    created(file(id, 9), &paths[n])
                },
            }
        })
        .collect();
    batch(BatchFlags::UTF16_NAMES, 0, &records).unwrap()
}

/// Detection runs over a whole batch before its outputs are placed: alerts raised in the
/// middle of a batch still come right after the event that raised them, in their order.
#[test]
fn alerts_in_the_middle_of_a_batch_follow_their_event() {
    let titles = |out: &[Output]| -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Output::Event(e) => format!("event {}", e.target.path()),
                Output::Alert(a) => format!("alert {} {}", a.rule_id, a.title),
                Output::Process(_) => "process".into(),
                Output::Notice(_) => "notice".into(),
            })
            .collect()
    };
    let before = || {
        Output::Notice(picket_model::Notice::SourceRestarted {
            expected: 0,
            got: 0,
        })
    };
    // Appended after what `out` already holds.
    let mut p = pipeline(EventFilter::default(), Some(Box::new(TwoPerRename)));
    let mut out = vec![before()];
    p.process_batch(&busy_batch(), &mut out);
    assert_eq!(
        titles(&out),
        [
            "notice",
            r"event C:\data\1.txt",
            r"event C:\data\2.txt",
            r"alert first C:\data\2.txt",
            r"alert second C:\data\2.txt",
            r"event C:\data\3.txt",
            r"event C:\data\4.txt",
            r"alert first C:\data\4.txt",
            r"alert second C:\data\4.txt",
            r"event C:\data\5.txt",
        ]
    );
    assert_eq!(p.counts().alerts, 4);

    // Without event lines, the alerts alone.
    let mut p =
        pipeline(EventFilter::default(), Some(Box::new(TwoPerRename))).with_event_output(false);
    let mut out = vec![before()];
    p.process_batch(&busy_batch(), &mut out);
    p.process_batch(&busy_batch(), &mut out);
    let alerts = [
        r"alert first C:\data\2.txt",
        r"alert second C:\data\2.txt",
        r"alert first C:\data\4.txt",
        r"alert second C:\data\4.txt",
    ];
    // The second batch starts the sequence again: its restart notice comes first.
    let expected: Vec<&str> = ["notice"]
        .into_iter()
        .chain(alerts)
        .chain(["notice"])
        .chain(alerts)
        .collect();
    assert_eq!(titles(&out), expected);
    assert_eq!(p.counts().events, 10);
    assert_eq!(p.counts().alerts, 8);
}

/// A reused chunk's stale outputs are written over: what comes out is what a fresh vector
/// gets, whether the chunk held more outputs than the batch makes or fewer, with events
/// written or alerts only, with alerts or without a detector, for a good batch or a
/// malformed one (a notice only).
#[test]
fn a_batch_over_a_reused_chunk_leaves_exactly_its_outputs() {
    let detector = |alerting: bool| -> Option<Box<dyn Detector>> {
        alerting.then(|| Box::new(TwoPerRename) as Box<dyn Detector>)
    };
    let mut malformed = busy_batch();
    malformed.truncate(malformed.len() - 3);
    for (bytes, events, alerting) in [
        (busy_batch(), true, true),
        (busy_batch(), false, true),
        (busy_batch(), true, false),
        (malformed, true, true),
    ] {
        let mut p = pipeline(EventFilter::default(), detector(alerting)).with_event_output(events);
        let mut expected = Vec::new();
        p.process_batch(&bytes, &mut expected);
        assert!(!expected.is_empty());
        for stale in [0, 1, expected.len(), expected.len() + 7] {
            let mut p =
                pipeline(EventFilter::default(), detector(alerting)).with_event_output(events);
            // A chunk as the writer hands it back: the outputs of an earlier batch.
            let mut chunk = Vec::new();
            while chunk.len() < stale {
                let mut other = pipeline(EventFilter::default(), None);
                other.process_batch(&busy_batch(), &mut chunk);
            }
            chunk.truncate(stale);
            p.process_batch_over(&bytes, &mut chunk);
            assert_eq!(
                chunk, expected,
                "events {events}, alerting {alerting}, {stale} stale outputs"
            );
        }
    }
}

/// Events written over the stale outputs of a reused chunk: whatever stood in each slot (a
/// rename with its boxed old path, a creation, a notice, nothing), and with events filtered
/// out between kept ones, the chunk ends as a fresh vector would.
#[test]
fn events_written_over_stale_ones_are_exactly_the_new_ones() {
    let mut sources = batches();
    sources.push(busy_batch());
    // Shifted by one: renames over creations and creations over renames.
    let mut shifted = vec![batches()[1].clone()];
    shifted.push(busy_batch());
    for filter in [
        EventFilter::default(),
        EventFilter::new(vec![], vec![200], vec![]),
    ] {
        for bytes in &sources {
            let mut expected = Vec::new();
            pipeline(filter.clone(), None).process_batch(bytes, &mut expected);
            for stale_batches in [&sources, &shifted] {
                let mut chunk = Vec::new();
                let mut other = pipeline(EventFilter::default(), None);
                for stale in stale_batches.iter() {
                    other.process_batch(stale, &mut chunk);
                }
                let mut p = pipeline(filter.clone(), None);
                p.process_batch_over(bytes, &mut chunk);
                assert_eq!(chunk, expected);
            }
        }
    }
}

#[test]
fn filters_by_pid_and_image() {
    let mut out = Vec::new();
    let mut p = pipeline(EventFilter::new(vec![], vec![200], vec![]), None);
    for b in batches() {
        p.process_batch(&b, &mut out);
    }
    assert_eq!(p.counts().events, 1);
    let mut p = pipeline(
        EventFilter::new(vec![], vec![], vec!["CRYPT.EXE".into()]),
        None,
    );
    for b in batches() {
        p.process_batch(&b, &mut out);
    }
    assert_eq!(p.counts().events, 2, "pid 200 has no known image: not kept");
}

/// The test batches as a source that ends after them.
fn batch_source() -> VecSource {
    VecSource(
        batches()
            .into_iter()
            .map(Ok)
            .collect::<Vec<_>>()
            .into_iter(),
    )
}

/// Run options with no progress and no alerts on stderr.
fn options(stop: &AtomicBool, writer: Writer) -> RunOptions<'_> {
    RunOptions {
        stop,
        progress: None,
        progress_every: Duration::from_secs(1),
        alerts_on_stderr: false,
        writer,
    }
}

struct VecSource(std::vec::IntoIter<Result<Vec<u8>, ()>>);

impl BatchSource for VecSource {
    fn next_batch(&mut self, buf: &mut Vec<u8>) -> Result<Pull, SourceError> {
        match self.0.next() {
            Some(Ok(bytes)) => {
                *buf = bytes;
                Ok(Pull::Batch)
            }
            Some(Err(())) => Err(SourceError::Malformed("broken source".into())),
            None => Ok(Pull::End),
        }
    }
}

#[test]
fn run_writes_every_line_and_reports_a_source_error_after_writing_what_came_before() {
    for writer in [Writer::Inline, Writer::Thread] {
        let mut items: Vec<Result<Vec<u8>, ()>> = batches().into_iter().map(Ok).collect();
        items.push(Err(()));
        let mut source = VecSource(items.into_iter());
        let mut p = pipeline(EventFilter::default(), Some(Box::new(RenameDetector)));
        let stop = AtomicBool::new(false);
        let mut out = Vec::new();
        let emitter = Emitter::new(&mut out, Format::Ocsf, HostInfo::default());
        let options = options(&stop, writer);
        let err = run(&mut source, &mut p, emitter, options).unwrap_err();
        let picket_pipeline::RunError::Source { summary, .. } = err else {
            panic!("{writer:?}: expected a source error");
        };
        assert_eq!(summary.batches, 2, "{writer:?}");
        assert_eq!(summary.emitted.events, 3, "{writer:?}");
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let classes: Vec<Option<u64>> = lines.iter().map(|l| l["class_uid"].as_u64()).collect();
        assert_eq!(
            classes,
            [Some(1001), Some(1001), Some(1001), Some(2004), None],
            "{writer:?}"
        );
        assert_eq!(lines[4]["picket_notice"], "events_lost");
        assert_eq!(lines[2]["unmapped"]["picket"]["operation"], "rename");
    }
}

/// Refuses every write with `kind` once `room` bytes have gone out.
struct FailingOutput {
    room: usize,
    kind: std::io::ErrorKind,
}

impl std::io::Write for FailingOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::Error::from(self.kind));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_output_ends_the_run_cleanly_and_a_failed_one_is_an_error() {
    for writer in [Writer::Inline, Writer::Thread] {
        let closed = |kind| {
            let mut source = batch_source();
            let mut p = pipeline(EventFilter::default(), None);
            let stop = AtomicBool::new(false);
            run(
                &mut source,
                &mut p,
                Emitter::new(
                    FailingOutput { room: 10, kind },
                    Format::Ocsf,
                    HostInfo::default(),
                ),
                options(&stop, writer),
            )
        };
        // `| head` went away: a clean stop that says so.
        let summary = closed(std::io::ErrorKind::BrokenPipe).unwrap();
        assert!(summary.output_closed, "{writer:?}");
        // Written on the reading thread, the first batch's failed write stops the reading;
        // the writer thread's failure is seen by the reader at its next hand-over.
        let read_on = if writer == Writer::Inline { 1 } else { 2 };
        assert!(
            (1..=read_on).contains(&summary.batches),
            "{writer:?}: {} batches read",
            summary.batches
        );
        // Any other failure is the run's error.
        let error = closed(std::io::ErrorKind::PermissionDenied).unwrap_err();
        assert!(
            matches!(error, picket_pipeline::RunError::Output(ref e) if e.kind() == std::io::ErrorKind::PermissionDenied),
            "{writer:?}: {error}"
        );
    }
}

#[test]
fn stop_flag_ends_the_run_cleanly() {
    let mut source = batch_source();
    for writer in [Writer::Inline, Writer::Thread] {
        let mut p = pipeline(EventFilter::default(), None);
        let stop = AtomicBool::new(true);
        let summary = run(
            &mut source,
            &mut p,
            Emitter::new(std::io::sink(), Format::Ecs, HostInfo::default()),
            options(&stop, writer),
        )
        .unwrap();
        assert!(summary.interrupted, "{writer:?}");
        assert_eq!(summary.batches, 0, "{writer:?}");
    }
}

/// Found by the `batch` fuzz target: counts taken from the stream must not overflow.
#[test]
fn huge_loss_counts_saturate_instead_of_overflowing() {
    use picket_protocol::{Body, Loss, LossReason, RecordHeader};
    let loss = |seq| Record {
        header: RecordHeader {
            seq,
            ..RecordHeader::default()
        },
        body: Body::Loss(Loss {
            first_lost_seq: 0,
            last_lost_seq: 0,
            count: u64::MAX,
            reason: LossReason::SendFailed,
        }),
    };
    let bytes = batch(
        BatchFlags::UTF16_NAMES,
        u64::MAX,
        &[loss(1), loss(u64::MAX - 1)],
    )
    .unwrap();
    let mut p = pipeline(EventFilter::default(), None);
    let mut out = Vec::new();
    p.process_batch(&bytes, &mut out);
    p.process_batch(&bytes, &mut out);
    p.finish(&mut out);
    assert_eq!(p.counts().lost, u64::MAX);
    let mut emitter = Emitter::new(std::io::sink(), Format::Ocsf, HostInfo::default());
    for o in &out {
        if let Output::Notice(n) = o {
            emitter.notice(n).unwrap();
        }
    }
    assert_eq!(emitter.counts().lost, u64::MAX);
}
