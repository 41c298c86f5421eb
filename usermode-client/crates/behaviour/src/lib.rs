//! Behaviour detection over file events: the ransomware patterns Sigma cannot say, because
//! they need file content (sampled in user space by `picket-content`) or process lineage.
//!
//! - [`actor`]: who is behind a behaviour (process, parent, account, host).
//! - [`names`]: what file names say (backup suffixes, temp names, derived names).
//! - [`engine`]: the patterns and thresholds; pure, driven by events and samples.
//! - [`detector`]: the pipeline's [`picket_model::Detector`]: the engine plus a sampler
//!   thread, and a stack that runs it next to the Sigma engine.
//! - [`canary`]: decoy files placed on request (`--canary-auto DIR`).

pub mod actor;
pub mod canary;
pub mod detector;
pub mod engine;
pub mod names;

pub use detector::{BehaviourDetector, Stack};
pub use engine::{Engine, EngineConfig};
