//! [`run`]: a source, the pipeline and an emitter, with a bounded queue to the emitter
//! thread.

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
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("stop", &self.stop)
            .field("progress_every", &self.progress_every)
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
        for output in &chunk {
            let written = match output {
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
            };
            if let Err(error) = written {
                return (emitter, Some(error));
            }
        }
        // Hand the allocation back (the pool has room for every chunk in existence: see
        // `run`).
        let _ = recycle.try_send(chunk);
    }
    let flushed = emitter.flush().err();
    (emitter, flushed)
}

/// Reads `source` to its end (or until `options.stop`), runs every batch through
/// `pipeline`, and writes the outputs with `emitter` on a second thread.
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
    let start = Instant::now();
    let (tx, rx) = sync_channel::<Vec<Output>>(QUEUE_DEPTH);
    // A new chunk is made only when none is waiting in the pool, so at most QUEUE_DEPTH
    // queued + one being written + one being filled exist: the pool holds them all, chunks
    // are reused for good and never grown afresh (growing one faults in new pages).
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<Output>>(QUEUE_DEPTH + 2);
    let alerts_on_stderr = options.alerts_on_stderr;
    std::thread::scope(|scope| {
        // Named, so its CPU time can be told apart (`top -H`, /proc/PID/task).
        let writer = std::thread::Builder::new()
            .name("picket-emit".into())
            .spawn_scoped(scope, move || {
                emitter_thread(emitter, &rx, &recycle_tx, alerts_on_stderr)
            })
            .map_err(RunError::Output)?;
        let mut buf = Vec::with_capacity(picket_protocol::MAX_BATCH_LEN);
        let (mut batches, mut bytes) = (0u64, 0u64);
        let mut last_progress = Instant::now();
        let mut interrupted = false;
        let mut output_closed = false;
        let mut source_error = None;
        let send = |chunk: Vec<Output>| tx.send(chunk).is_ok();
        // Chunks back from the emitter, the newest last.
        let mut pool: Vec<Vec<Output>> = Vec::with_capacity(QUEUE_DEPTH + 2);
        loop {
            if options.stop.load(Ordering::Relaxed) {
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
            match source.next_batch(&mut buf) {
                Ok(Pull::Batch) => {
                    batches += 1;
                    bytes += buf.len() as u64;
                    pipeline.process_batch_over(&buf, &mut chunk);
                }
                Ok(Pull::Idle) => {
                    chunk.clear();
                    pipeline.on_idle(&mut chunk);
                }
                Ok(Pull::End) => break,
                Err(error) => {
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
            if let Some(progress) = options.progress.as_mut() {
                if last_progress.elapsed() >= options.progress_every {
                    last_progress = Instant::now();
                    progress(&Progress {
                        counts: pipeline.counts(),
                        batches,
                        bytes,
                        elapsed: start.elapsed(),
                    });
                }
            }
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
        let summary = RunSummary {
            counts: pipeline.counts(),
            emitted: emitter.counts(),
            batches,
            bytes,
            elapsed: start.elapsed(),
            content_sampling: pipeline.content_sampling(),
            interrupted,
            output_closed: output_closed
                || write_error
                    .as_ref()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe),
        };
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
    })
}
