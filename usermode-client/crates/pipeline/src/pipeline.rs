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

    /// The decode stage's counters.
    #[must_use]
    pub const fn decode_stats(&self) -> DecodeStats {
        self.decoder.stats()
    }

    /// Processes one batch, appending what it produced to `out`.
    pub fn process_batch(&mut self, bytes: &[u8], out: &mut Vec<Output>) {
        let Self {
            decoder,
            parser,
            processes,
            filter,
            detector,
            alerts,
            counts,
            event_output,
            ..
        } = self;
        // The batch header's minor (offset 6, PROTOCOL.md §2) says how long names were cut.
        if let Some(&[lo, hi]) = bytes.get(6..8) {
            parser.set_protocol_minor(u16::from_le_bytes([lo, hi]));
        }
        decoder.feed(bytes, |decoded| match decoded {
            Decoded::Notice(notice) => {
                count_notice(counts, &notice);
                out.push(Output::Notice(notice));
            }
            Decoded::Record(record, posix) => {
                if let Some(parsed) = parser.parse_process(&record, posix) {
                    let event = crate::process::enrich(parsed, processes);
                    if let Some(detector) = detector.as_mut() {
                        detector.on_process(&event, alerts);
                    }
                    counts.processes += 1;
                    if *event_output {
                        out.push(Output::Process(event));
                    }
                    counts.alerts += alerts.len() as u64;
                    out.extend(alerts.drain(..).map(Output::Alert));
                    return;
                }
                let Some(parsed) = parser.parse(&record, posix) else {
                    return;
                };
                let process = processes.get(parsed.process, parsed.time);
                let mut event = FileEvent {
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
                if let Some(detector) = detector.as_mut() {
                    detector.prepare(&mut event);
                    detector.on_event(&event, alerts);
                }
                counts.events += 1;
                if *event_output {
                    out.push(Output::Event(event));
                }
                counts.alerts += alerts.len() as u64;
                out.extend(alerts.drain(..).map(Output::Alert));
            }
        });
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
