//! [`run`]: a source, the pipeline and an emitter, the output written on the reading
//! thread ([`Writer::Inline`]) or on a thread of its own behind a bounded queue
//! ([`Writer::Thread`]).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use picket_emit::{human, EmitCounts, Emitter};
use picket_model::{BatchSource, Pull, SourceError};

use crate::pipeline::{Output, Pipeline, PipelineCounts};

/// Batches of output in flight between the pipeline and the emitter. With batches of at
/// most 64 KiB (a few hundred events) this bounds the backlog to a few MiB.
const QUEUE_DEPTH: usize = 16;

/// Outputs a new chunk has room for: about what one full batch yields.
const CHUNK_CAPACITY: usize = 1024;

/// Counters for a progress line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Pipeline counters.
    pub counts: PipelineCounts,
    /// Batches read.
    pub batches: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Time since the start.
    pub elapsed: Duration,
}

/// A progress callback.
pub type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// Which thread writes the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Writer {
    /// The reading thread, after each batch: no hand-over between threads. A live sensor's
    /// choice: under CPU load the hand-over of every batch to a second thread (its wake-up,
    /// and that thread reading events another core wrote) cost 2–9 % of the sensor's CPU
    /// per event (overhead benchmark). A stalled output stalls reading; the event source's
    /// own queue (the kernel's) absorbs it, and beyond it losses are counted.
    #[default]
    Inline,
    /// A thread of its own, behind a queue of 16 batches (`QUEUE_DEPTH`): reading and
    /// detection go on while the output catches up, and on an idle machine the two run in
    /// parallel (a replay's throughput).
    Thread,
}

/// How [`run`] behaves.
pub struct RunOptions<'a> {
    /// Set (e.g. by a Ctrl-C handler) to stop after the current batch.
    pub stop: &'a AtomicBool,
    /// Called about every `progress_every` with the counters (human progress on stderr).
    pub progress: Option<ProgressFn<'a>>,
    /// How often to call `progress`.
    pub progress_every: Duration,
    /// Print each alert's one-line form on stderr.
    pub alerts_on_stderr: bool,
    /// Which thread writes the output.
    pub writer: Writer,
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("stop", &self.stop)
            .field("progress_every", &self.progress_every)
            .field("alerts_on_stderr", &self.alerts_on_stderr)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSummary {
    /// Pipeline counters.
    pub counts: PipelineCounts,
    /// What the emitter wrote.
    pub emitted: EmitCounts,
    /// Batches read.
    pub batches: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// What became of detection's content samples, when it samples content.
    pub content_sampling: Option<picket_model::ContentSampling>,
    /// Stopped by the stop flag rather than the end of the stream.
    pub interrupted: bool,
    /// The reader of the output went away (e.g. `| head`): a clean stop.
    pub output_closed: bool,
}

/// Why a run failed. Everything produced before the failure has been written.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The source failed.
    #[error("source: {error}")]
    Source {
        /// The error.
        #[source]
        error: SourceError,
        /// What had been done until then.
        summary: Box<RunSummary>,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[source] std::io::Error),
}

/// Writes one batch's outputs, in order.
fn write_chunk<W: Write>(
    emitter: &mut Emitter<W>,
    chunk: &[Output],
    alerts_on_stderr: bool,
) -> std::io::Result<()> {
    for output in chunk {
        match output {
            Output::Event(event) => emitter.event(event),
            Output::Process(event) => emitter.process(event),
            Output::Notice(notice) => {
                tracing::info!(?notice, "notice");
                emitter.notice(notice)
            }
            Output::Alert(alert) => {
                // Shadow (staged) rules are not actionable: their alerts go to the output
                // only, never to the terminal as alerts.
                if alerts_on_stderr && !alert.shadow {
                    eprintln!("{}", human::alert_line(alert));
                }
                emitter.alert(alert)
            }
        }?;
    }
    Ok(())
}

fn emitter_thread<W: Write>(
    mut emitter: Emitter<W>,
    rx: &Receiver<Vec<Output>>,
    recycle: &SyncSender<Vec<Output>>,
    alerts_on_stderr: bool,
) -> (Emitter<W>, Option<std::io::Error>) {
    loop {
        let chunk = match rx.try_recv() {
            Ok(chunk) => chunk,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                // Queue drained: push what we have to the reader (tail -f, jq) before
                // waiting for more.
                if let Err(error) = emitter.flush() {
                    return (emitter, Some(error));
                }
                match rx.recv() {
                    Ok(chunk) => chunk,
                    Err(_) => break,
                }
            }
        };
        // The outputs are read here but dropped by the pipeline thread when it reuses the
        // chunk: their strings were allocated there, and freeing on the allocating thread is
        // the allocator's fast path (a cross-thread free costs several times more).
        if let Err(error) = write_chunk(&mut emitter, &chunk, alerts_on_stderr) {
            return (emitter, Some(error));
        }
        // Hand the allocation back (the pool has room for every chunk in existence: see
        // `run`).
        let _ = recycle.try_send(chunk);
    }
    let flushed = emitter.flush().err();
    (emitter, flushed)
}

/// What became of one pull from the source.
enum Pulled {
    /// A batch (or an idle poll) went through the pipeline into the chunk.
    Processed,
    /// The source ended.
    End,
    /// The source failed.
    Failed(SourceError),
}

/// The reading side of a run, the same whichever thread writes: pulls batches through the
/// pipeline and reports progress.
struct Reading<'o, 'a> {
    options: &'o mut RunOptions<'a>,
    start: Instant,
    buf: Vec<u8>,
    batches: u64,
    bytes: u64,
    last_progress: Instant,
}

impl<'o, 'a> Reading<'o, 'a> {
    fn new(options: &'o mut RunOptions<'a>) -> Self {
        let start = Instant::now();
        Self {
            options,
            start,
            buf: Vec::with_capacity(picket_protocol::MAX_BATCH_LEN),
            batches: 0,
            bytes: 0,
            last_progress: start,
        }
    }

    fn stopped(&self) -> bool {
        self.options.stop.load(Ordering::Relaxed)
    }

    /// The next batch's outputs written over `chunk`'s (an idle poll's, possibly none).
    fn pull<S: BatchSource + ?Sized>(
        &mut self,
        source: &mut S,
        pipeline: &mut Pipeline,
        chunk: &mut Vec<Output>,
    ) -> Pulled {
        match source.next_batch(&mut self.buf) {
            Ok(Pull::Batch) => {
                self.batches += 1;
                self.bytes += self.buf.len() as u64;
                pipeline.process_batch_over(&self.buf, chunk);
                Pulled::Processed
            }
            Ok(Pull::Idle) => {
                chunk.clear();
                pipeline.on_idle(chunk);
                Pulled::Processed
            }
            Ok(Pull::End) => Pulled::End,
            Err(error) => Pulled::Failed(error),
        }
    }

    fn report_progress(&mut self, pipeline: &Pipeline) {
        if let Some(progress) = self.options.progress.as_mut() {
            if self.last_progress.elapsed() >= self.options.progress_every {
                self.last_progress = Instant::now();
                progress(&Progress {
                    counts: pipeline.counts(),
                    batches: self.batches,
                    bytes: self.bytes,
                    elapsed: self.start.elapsed(),
                });
            }
        }
    }

    fn summary(
        &self,
        pipeline: &Pipeline,
        emitted: EmitCounts,
        interrupted: bool,
        output_closed: bool,
    ) -> RunSummary {
        RunSummary {
            counts: pipeline.counts(),
            emitted,
            batches: self.batches,
            bytes: self.bytes,
            elapsed: self.start.elapsed(),
            content_sampling: pipeline.content_sampling(),
            interrupted,
            output_closed,
        }
    }
}

/// The result of a run from its summary and what failed, if anything. A closed output
/// (`| head`) is a clean end, not a failure.
fn outcome(
    summary: RunSummary,
    write_error: Option<std::io::Error>,
    source_error: Option<SourceError>,
) -> Result<RunSummary, RunError> {
    match (write_error, source_error) {
        (Some(error), _) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(RunError::Output(error))
        }
        (_, Some(error)) => Err(RunError::Source {
            error,
            summary: Box::new(summary),
        }),
        _ => Ok(summary),
    }
}

/// Reads `source` to its end (or until `options.stop`), runs every batch through
/// `pipeline`, and writes the outputs with `emitter` on the thread `options.writer` names.
///
/// # Errors
/// A [`RunError`] when the source or the output fails; all output produced until then has
/// been written and flushed.
pub fn run<S, W>(
    source: &mut S,
    pipeline: &mut Pipeline,
    emitter: Emitter<W>,
    mut options: RunOptions<'_>,
) -> Result<RunSummary, RunError>
where
    S: BatchSource + ?Sized,
    W: Write + Send,
{
    let reading = Reading::new(&mut options);
    match reading.options.writer {
        Writer::Inline => run_inline(source, pipeline, emitter, reading),
        Writer::Thread => run_threaded(source, pipeline, emitter, reading),
    }
}

fn run_inline<S, W>(
    source: &mut S,
    pipeline: &mut Pipeline,
    mut emitter: Emitter<W>,
    mut reading: Reading<'_, '_>,
) -> Result<RunSummary, RunError>
where
    S: BatchSource + ?Sized,
    W: Write,
{
    let alerts_on_stderr = reading.options.alerts_on_stderr;
    // One chunk, reused for every batch: its memory stays in this core's cache.
    let mut chunk = Vec::with_capacity(CHUNK_CAPACITY);
    let mut interrupted = false;
    let mut source_error = None;
    let mut write_error = None;
    loop {
        if reading.stopped() {
            interrupted = true;
            break;
        }
        match reading.pull(source, pipeline, &mut chunk) {
            Pulled::Processed => {}
            Pulled::End => break,
            Pulled::Failed(error) => {
                source_error = Some(error);
                break;
            }
        }
        if !chunk.is_empty() {
            // Flushed after every batch, as the writer thread does when it has caught up:
            // a reader of the output (tail -f, jq) sees each batch's lines at once.
            let written =
                write_chunk(&mut emitter, &chunk, alerts_on_stderr).and_then(|()| emitter.flush());
            if let Err(error) = written {
                write_error = Some(error);
                break;
            }
        }
        reading.report_progress(pipeline);
    }
    // The pipeline's last outputs are written unless the output has already failed.
    if write_error.is_none() {
        chunk.clear();
        pipeline.finish(&mut chunk);
        write_error = write_chunk(&mut emitter, &chunk, alerts_on_stderr)
            .and_then(|()| emitter.flush())
            .err();
    } else {
        pipeline.finish(&mut Vec::new());
    }
    let closed = write_error
        .as_ref()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
    let summary = reading.summary(pipeline, emitter.counts(), interrupted, closed);
    outcome(summary, write_error, source_error)
}

fn run_threaded<S, W>(
    source: &mut S,
    pipeline: &mut Pipeline,
    emitter: Emitter<W>,
    mut reading: Reading<'_, '_>,
) -> Result<RunSummary, RunError>
where
    S: BatchSource + ?Sized,
    W: Write + Send,
{
    let (tx, rx) = sync_channel::<Vec<Output>>(QUEUE_DEPTH);
    // A new chunk is made only when none is waiting in the pool, so at most QUEUE_DEPTH
    // queued + one being written + one being filled exist: the pool holds them all, chunks
    // are reused for good and never grown afresh (growing one faults in new pages).
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<Output>>(QUEUE_DEPTH + 2);
    let alerts_on_stderr = reading.options.alerts_on_stderr;
    std::thread::scope(|scope| {
        // Named, so its CPU time can be told apart (`top -H`, /proc/PID/task).
        let writer = std::thread::Builder::new()
            .name("picket-emit".into())
            .spawn_scoped(scope, move || {
                emitter_thread(emitter, &rx, &recycle_tx, alerts_on_stderr)
            })
            .map_err(RunError::Output)?;
        let mut interrupted = false;
        let mut output_closed = false;
        let mut source_error = None;
        let send = |chunk: Vec<Output>| tx.send(chunk).is_ok();
        // Chunks back from the emitter, the newest last.
        let mut pool: Vec<Vec<Output>> = Vec::with_capacity(QUEUE_DEPTH + 2);
        loop {
            if reading.stopped() {
                interrupted = true;
                break;
            }
            // The newest chunk is reused first: its memory (the chunk and the strings of
            // the outputs it held, freed here) was touched last and is likely still in
            // this core's cache. The oldest, which the channel would hand out, is some
            // sixteen batches cold, and every allocation and copy into it missed.
            pool.extend(recycle_rx.try_iter());
            // Its outputs are stale: the batch's are written over them, slot by slot.
            let mut chunk = pool
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK_CAPACITY));
            match reading.pull(source, pipeline, &mut chunk) {
                Pulled::Processed => {}
                Pulled::End => break,
                Pulled::Failed(error) => {
                    source_error = Some(error);
                    break;
                }
            }
            if chunk.is_empty() {
                // Nothing to write (an idle poll): keep the allocation for the next round.
                pool.push(chunk);
            } else if !send(chunk) {
                // The emitter stopped: its error is collected below.
                output_closed = true;
                break;
            }
            reading.report_progress(pipeline);
        }
        let mut tail = Vec::new();
        pipeline.finish(&mut tail);
        if !tail.is_empty() {
            let _ = send(tail);
        }
        drop(tx);
        let (emitter, write_error) = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let closed = output_closed
            || write_error
                .as_ref()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
        let summary = reading.summary(pipeline, emitter.counts(), interrupted, closed);
        outcome(summary, write_error, source_error)
    })
}
