use serde::{Deserialize, Serialize};

use crate::{FileEvent, ProcessEvent, Timestamp};

/// Severity of a rule (Sigma `level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `informational`
    Informational,
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

/// What a correlation rule counted when it fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CorrelationContext {
    /// `event_count`, `value_count`, `temporal` or `temporal_ordered`.
    pub kind: String,
    /// The group-by fields and their values for the group that fired.
    pub group: Vec<(String, String)>,
    /// The count (events or distinct values) that crossed the threshold.
    pub count: u64,
    /// The window, in seconds.
    pub window_secs: u64,
    /// Ids of the rules the correlation is built on.
    pub rules: Vec<String>,
}

/// A detection: one rule matched one event, or a correlation fired over several.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    /// Rule id (Sigma `id`).
    pub rule_id: String,
    /// Rule title.
    pub title: String,
    /// Rule level.
    pub level: Level,
    /// Rule tags (`attack.t1486`…).
    pub tags: Vec<String>,
    /// Rule description, if any.
    pub description: Option<String>,
    /// Staged rollout: the rule is in `shadow` mode, the alert is not actionable.
    pub shadow: bool,
    /// When it fired (the time of the last matched event).
    pub time: Timestamp,
    /// The matched event(s), in order; for correlations a bounded sample, newest last.
    pub events: Vec<FileEvent>,
    /// For correlation rules: what was counted.
    pub correlation: Option<CorrelationContext>,
    /// The matched process event(s) of a `process_creation` rule (file rules: empty).
    pub processes: Vec<ProcessEvent>,
}

/// What became of the content samples detection asked for: reported with a run's summary,
/// so that content left unread (a signal missed, not an event lost) is never silent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentSampling {
    /// Files read.
    pub read: u64,
    /// Files that could not be read: gone by then, not a regular file, over the size
    /// limit, or denied.
    pub unreadable: u64,
    /// Requests dropped unread because the file was renamed, deleted or replaced first.
    pub dropped: u64,
    /// Events that could have asked for a sample but found the rate limit spent (one whose
    /// file already had a request waiting counts too).
    pub skipped_rate: u64,
    /// Requests refused because the reader was behind (its queue full).
    pub skipped_queue: u64,
    /// Requests not yet read when the counts were taken (waiting, or being read).
    pub waiting: u64,
}

impl std::ops::AddAssign for ContentSampling {
    fn add_assign(&mut self, other: Self) {
        self.read += other.read;
        self.unreadable += other.unreadable;
        self.dropped += other.dropped;
        self.skipped_rate += other.skipped_rate;
        self.skipped_queue += other.skipped_queue;
        self.waiting += other.waiting;
    }
}

/// Detection as the pipeline sees it: events in, alerts out. Implemented by the Sigma engine.
///
/// `alerts` may already hold alerts raised earlier (the pipeline detects a whole batch before
/// placing them): implementations only push to it, never remove or reorder what is there.
pub trait Detector {
    /// Adds facts detection needs before the event is matched and emitted (e.g. content
    /// entropy sampled in user space). The default adds nothing.
    fn prepare(&mut self, event: &mut FileEvent) {
        let _ = event;
    }

    /// Matches one event; pushes any alerts it causes.
    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>);

    /// Matches one process start or exit (Sigma `process_creation` rules); pushes any
    /// alerts it causes. The default matches nothing.
    fn on_process(&mut self, event: &ProcessEvent, alerts: &mut Vec<Alert>) {
        let _ = (event, alerts);
    }

    /// Called when the stream is idle, with the current time: expire windows, fire
    /// time-based correlations. The default does nothing.
    fn on_idle(&mut self, now: Timestamp, alerts: &mut Vec<Alert>) {
        let _ = (now, alerts);
    }

    /// Called after the last event of a source's batch: work held back until the batch's
    /// later events were seen happens now (the behaviour detector submits its content
    /// samples, less those of files the batch renamed or deleted). The default does nothing.
    fn end_batch(&mut self) {}

    /// What became of the content samples asked for so far; `None` when the detector
    /// samples no content (the default).
    fn content_sampling(&self) -> Option<ContentSampling> {
        None
    }
}
