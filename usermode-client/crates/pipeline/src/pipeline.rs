//! The single-threaded core: one batch in, outputs out.

use std::time::{Duration, Instant};

use picket_enrich::ProcessCache;
use picket_model::{Alert, Detector, FileEvent, Notice, ProcessEvent, Timestamp};
use picket_parse::Parser;

use crate::decode::{DecodeStats, Decoded, Decoder};
use crate::filter::EventFilter;

/// One output, in stream order: an event is followed by the alerts it caused.
#[allow(clippy::large_enum_variant)] // Events are the common case; boxing would cost an allocation each.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A file event that passed the filter.
    Event(FileEvent),
    /// A process start or exit.
    Process(ProcessEvent),
    /// Something about the stream.
    Notice(Notice),
    /// A detection.
    Alert(Alert),
}

/// What the pipeline produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineCounts {
    /// Events kept (emitted).
    pub events: u64,
    /// Process starts and exits (emitted).
    pub processes: u64,
    /// Events dropped by the filter.
    pub filtered: u64,
    /// Notices.
    pub notices: u64,
    /// Sum of `events_lost` counts.
    pub lost: u64,
    /// Some loss had no exact count: `lost` is a lower bound.
    pub lost_inexact: bool,
    /// Alerts.
    pub alerts: u64,
    /// Malformed batches.
    pub malformed: u64,
}

/// Decode → parse → enrich → filter → detect, for one batch at a time.
pub struct Pipeline {
    decoder: Decoder,
    parser: Parser,
    processes: ProcessCache,
    filter: EventFilter,
    detector: Option<Box<dyn Detector>>,
    alerts: Vec<Alert>,
    /// A batch's outputs set aside: to place alerts, or when events are not written.
    staged: Vec<Output>,
    /// (index in the batch, alerts so far) after each output that raised alerts.
    alerted: Vec<(usize, usize)>,
    counts: PipelineCounts,
    last_idle: Instant,
    /// File and process events are output (not only alerts and notices).
    event_output: bool,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("decoder", &self.decoder)
            .field("processes", &self.processes)
            .field("detector", &self.detector.is_some())
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

fn count_notice(counts: &mut PipelineCounts, notice: &Notice) {
    counts.notices = counts.notices.saturating_add(1);
    match notice {
        Notice::EventsLost { count, exact, .. } => {
            counts.lost = counts.lost.saturating_add(*count);
            counts.lost_inexact |= !exact;
        }
        Notice::MalformedBatch { .. } => counts.malformed = counts.malformed.saturating_add(1),
        _ => {}
    }
}

/// Moves `batch` (a batch's outputs) to `out` with each output's alerts after it: `alerted`
/// holds (index in the batch, alerts raised up to and with it). Event and process lines
/// are dropped unless `events` (they were detected on and counted).
fn place_alerts(
    batch: &mut Vec<Output>,
    alerts: &mut Vec<Alert>,
    alerted: &[(usize, usize)],
    events: bool,
    out: &mut Vec<Output>,
) {
    let mut alerts = alerts.drain(..);
    let mut placed = 0;
    let mut marks = alerted.iter().copied().peekable();
    for (at, output) in batch.drain(..).enumerate() {
        if events || matches!(output, Output::Notice(_) | Output::Alert(_)) {
            out.push(output);
        }
        if let Some((_, upto)) = marks.next_if(|&(mark, _)| mark == at) {
            out.extend(alerts.by_ref().take(upto - placed).map(Output::Alert));
            placed = upto;
        }
    }
    out.extend(alerts.map(Output::Alert));
}

/// Writes outputs into a vector from an index on, over the stale outputs found there.
struct Slots<'a> {
    out: &'a mut Vec<Output>,
    next: usize,
}

impl<'a> Slots<'a> {
    fn put(&mut self, output: Output) {
        match self.out.get_mut(self.next) {
            Some(slot) => *slot = output,
            None => self.out.push(output),
        }
        self.next += 1;
    }

    /// Drops the stale outputs not written over; the vector ends with the last written.
    fn finish(self) -> &'a mut Vec<Output> {
        self.out.truncate(self.next);
        self.out
    }
}

impl Pipeline {
    /// A pipeline from its stages.
    #[must_use]
    pub fn new(
        parser: Parser,
        processes: ProcessCache,
        filter: EventFilter,
        detector: Option<Box<dyn Detector>>,
    ) -> Self {
        Self {
            decoder: Decoder::new(),
            parser,
            processes,
            filter,
            detector,
            alerts: Vec::new(),
            staged: Vec::new(),
            alerted: Vec::new(),
            counts: PipelineCounts::default(),
            last_idle: Instant::now(),
            event_output: true,
        }
    }

    /// Whether file and process events go to the output (the default) or only alerts and
    /// notices do. Either way every event is parsed, enriched, filtered, given to detection
    /// and counted: only its line is not written.
    #[must_use]
    pub const fn with_event_output(mut self, on: bool) -> Self {
        self.event_output = on;
        self
    }

    /// Counters so far.
    #[must_use]
    pub const fn counts(&self) -> PipelineCounts {
        self.counts
    }

    /// What became of detection's content samples (`None` without a detector that
    /// samples content).
    #[must_use]
    pub fn content_sampling(&self) -> Option<picket_model::ContentSampling> {
        self.detector.as_ref()?.content_sampling()
    }

    /// The decode stage's counters.
    #[must_use]
    pub const fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// Processes one batch, appending what it produced to `out`.
    ///
    /// In three passes over the batch rather than one pass through every stage per event:
    /// decode, parse, enrich and filter every record; then detection over the batch's
    /// events in stream order; then the alerts are placed after the events that caused
    /// them. Each pass's code then stays in the instruction cache for the whole batch: per
    /// event, the stages together are more code than the first-level instruction cache
    /// holds, and the kernel's read of the next batch evicts it besides.
    pub fn process_batch(&mut self, bytes: &[u8], out: &mut Vec<Output>) {
        let first = out.len();
        self.process_from(bytes, out, first);
    }

    /// [`Pipeline::process_batch`] into a reused chunk: `chunk`'s outputs are stale, and each
    /// new one is written over one of them, slot by slot; those left over are dropped after.
    ///
    /// Clearing the chunk first, then filling it, went over its memory twice: dropping an
    /// output reads the slot (for the strings to free), and by the time the batch's outputs
    /// came to be written the slots had left the cache again. Replacing one output by the
    /// next writes the slot just read.
    pub fn process_batch_over(&mut self, bytes: &[u8], chunk: &mut Vec<Output>) {
        self.process_from(bytes, chunk, 0);
    }

    /// Processes one batch into `out` from index `first` on (outputs there and after are
    /// stale: overwritten, then dropped).
    fn process_from(&mut self, bytes: &[u8], out: &mut Vec<Output>, first: usize) {
        // The batch header's minor (offset 6, PROTOCOL.md §2) says how long names were cut.
        if let Some(&[lo, hi]) = bytes.get(6..8) {
            self.parser.set_protocol_minor(u16::from_le_bytes([lo, hi]));
        }
        let Self {
            decoder,
            parser,
            processes,
            filter,
            detector,
            alerts,
            staged,
            alerted,
            counts,
            event_output,
            ..
        } = self;
        debug_assert!(staged.is_empty() && alerts.is_empty());
        // Without event output the batch is staged aside, and only its notices and alerts
        // reach `out`.
        let (batch, first): (&mut Vec<Output>, usize) = if *event_output {
            (&mut *out, first)
        } else {
            // Stale outputs in `out` are not overwritten: the staged batch goes on after them.
            out.truncate(first);
            (&mut *staged, 0)
        };
        let mut slots = Slots {
            next: first,
            out: batch,
        };
        decoder.feed(bytes, |decoded| match decoded {
            Decoded::Notice(notice) => {
                count_notice(counts, &notice);
                slots.put(Output::Notice(notice));
            }
            Decoded::Record(record, posix) => {
                if let Some(parsed) = parser.parse_process(record, posix) {
                    counts.processes += 1;
                    slots.put(Output::Process(crate::process::enrich(parsed, processes)));
                    return;
                }
                let Some(parsed) = parser.parse(record, posix) else {
                    return;
                };
                let process = processes.get(parsed.process, parsed.time);
                let event = FileEvent {
                    seq: parsed.seq,
                    time: parsed.time,
                    host: parsed.host,
                    operation: parsed.operation,
                    process,
                    thread_id: parsed.thread_id,
                    target: parsed.target,
                    source: parsed.source.map(Box::new),
                    details: parsed.details,
                    entropy: None,
                };
                if !filter.keep(&event) {
                    counts.filtered += 1;
                    return;
                }
                counts.events += 1;
                slots.put(Output::Event(event));
            }
        });
        let batch = slots.finish();
        alerted.clear();
        if let Some(detector) = detector.as_mut() {
            for (at, output) in batch.iter_mut().skip(first).enumerate() {
                let before = alerts.len();
                match output {
                    Output::Event(event) => {
                        detector.prepare(event);
                        detector.on_event(event, alerts);
                    }
                    Output::Process(event) => detector.on_process(event, alerts),
                    Output::Notice(_) | Output::Alert(_) => {}
                }
                if alerts.len() > before {
                    alerted.push((at, alerts.len()));
                }
            }
            detector.end_batch();
        }
        counts.alerts += alerts.len() as u64;
        // Alerts are rare: only then is a written batch moved, to put them in place.
        if !*event_output || !alerted.is_empty() {
            if *event_output {
                staged.clear();
                staged.extend(out.drain(first..));
            }
            place_alerts(staged, alerts, alerted, *event_output, out);
        }
        self.processes.maybe_sweep();
        if self.last_idle.elapsed() >= Duration::from_secs(1) {
            // A source that is never idle still lets time-based work happen.
            self.on_idle(out);
        }
    }

    /// The source is idle: report gaps no loss record claimed, drop ended processes,
    /// refresh the volume map, and let detection expire windows.
    pub fn on_idle(&mut self, out: &mut Vec<Output>) {
        self.last_idle = Instant::now();
        let counts = &mut self.counts;
        self.decoder.flush(&mut |decoded| {
            if let Decoded::Notice(notice) = decoded {
                count_notice(counts, &notice);
                out.push(Output::Notice(notice));
            }
        });
        self.processes.maybe_sweep();
        if let Some(volumes) = self.parser.volumes_mut() {
            volumes.tick();
        }
        if let Some(detector) = self.detector.as_mut() {
            detector.on_idle(Timestamp::now(), &mut self.alerts);
            self.counts.alerts += self.alerts.len() as u64;
            out.extend(self.alerts.drain(..).map(Output::Alert));
        }
    }

    /// The stream ended: report everything still pending.
    pub fn finish(&mut self, out: &mut Vec<Output>) {
        self.on_idle(out);
    }
}
