//! The internal event model of Picket's user-mode client: the types the pipeline stages
//! (source → decode → parse → enrich → detect → emit) hand each other.
//!
//! Field names that detection rules use follow Sysmon/Sigma (`TargetFilename`,
//! `SourceFilename`, `Image`, `CommandLine`, `User`, `ProcessId`): see [`FileEvent::field`].
//! Windows (driver) and Linux (fanotify) events have the same shape; only [`Host`] and the
//! path syntax tell them apart.

mod alert;
mod event;
mod notice;
mod path;
mod process;
mod process_event;
mod source;
mod time;

pub use alert::{Alert, ContentSampling, CorrelationContext, Detector, Level};
pub use event::{CreateDetails, Details, Field, FieldValue, FileEvent, Operation};
pub use notice::{LossCause, Notice};
pub use path::{FilePath, PathParts};
pub use process::{ProcessInfo, ProcessKey};
pub use process_event::{ProcessActivity, ProcessEvent};
pub use source::{BatchSource, Pull, SourceError};
pub use time::Timestamp;

/// Which kind of machine an event comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Host {
    /// The Windows minifilter (UTF-16 names, NT device paths).
    Windows,
    /// The Linux fanotify source (POSIX byte paths).
    Linux,
}

/// One thing the pipeline produces, in stream order.
// Events are the common case: boxing them would allocate once per event to save space on
// the rare notice.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A file event.
    Event(FileEvent),
    /// Something about the stream itself (loss, gap, malformed batch, driver hello/stats).
    Notice(Notice),
}
