//! The pipeline: source → decode → parse → enrich → filter → detect → emit.
//!
//! [`Pipeline`] is the single-threaded core (one batch in, [`Output`]s out) that tests,
//! benchmarks and the fuzzer drive directly. [`run`] wires it to a [`BatchSource`] and an
//! [`Emitter`] on its own thread, with a bounded queue between them: when output is slower
//! than input, the source is not read (the kernel's own bounded ring then drops and counts,
//! and the loss is reported) — memory never grows with the backlog.
//!
//! [`BatchSource`]: picket_model::BatchSource
//! [`Emitter`]: picket_emit::Emitter

mod decode;
mod filter;
mod pipeline;
mod process;
mod run;

pub use decode::{DecodeStats, Decoded, Decoder};
pub use filter::EventFilter;
pub use pipeline::{Output, Pipeline, PipelineCounts};
pub use run::{run, Progress, ProgressFn, RunError, RunOptions, RunSummary, Writer};
