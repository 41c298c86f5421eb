//! Running a rule set over events: candidate selection, full evaluation under a guard,
//! correlation state, and alerts.
//!
//! The guard is the "a bad rule never stops the pipeline" promise: a rule whose evaluation
//! panics is disabled at once; a rule whose timed evaluation exceeds the budget `strikes`
//! times in a row is disabled too. Rules are timed one by one on one event in
//! `sample_every`, and on the events after any event whose whole evaluation (measured on one
//! event in 8, a few ns per event amortised) went over the budget — so a rule that turns
//! slow is found within a few dozen events, not thousands. Both are reported (tracing +
//! [`Evaluator::take_reports`]).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_model::{Alert, CorrelationContext, FileEvent, Host, Timestamp};
use rsigma_eval::{CorrelationConfig, CorrelationEngine, EvaluationResult, Event};

use crate::counting::{CountSettings, Counts};
use crate::event::SigmaEvent;
use crate::prefilter::Scratch;
use crate::ruleset::{RuleMeta, RuleSet};
use crate::settled::Settled;

/// How far event time moves before the evaluator reads the clock again (10 ms in 100 ns
/// ticks; see [`Evaluator::process`]).
const CLOCK_STEP_TICKS: u64 = 100_000;

/// Bounds and budgets of the runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// One event in `sample_every` has each candidate rule timed.
    pub sample_every: u64,
    /// After an event whose evaluation went over the budget, this many events have each
    /// candidate rule timed.
    pub investigate_events: u32,
    /// A sampled evaluation slower than this is a strike.
    pub slow_budget: Duration,
    /// Consecutive strikes that disable a rule.
    pub strikes: u32,
    /// Correlation state entries, all correlations and groups together.
    pub max_state_entries: usize,
    /// Entries kept per group window (oldest dropped first).
    pub max_group_entries: usize,
    /// After a correlation fires for a group, it stays quiet this long for that group.
    pub suppress_secs: u64,
    /// Recent correlated events kept to attach to correlation alerts.
    pub recent_events: usize,
    /// Events attached to one correlation alert.
    pub events_per_alert: usize,
    /// Count the `event_count` and `value_count` correlations that qualify in Picket rather
    /// than in rsigma's engine (same firings, a fraction of the work; see `counting`). Off
    /// only to compare.
    pub native_counts: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            sample_every: 1024,
            investigate_events: 64,
            slow_budget: Duration::from_millis(5),
            strikes: 3,
            max_state_entries: 20_000,
            max_group_entries: 1_000,
            suppress_secs: 60,
            recent_events: 512,
            events_per_alert: 10,
            native_counts: true,
        }
    }
}

/// User-configured canary paths (files, or directories whose contents are canaries).
#[derive(Clone, Debug, Default)]
pub struct Canaries {
    paths: Vec<String>,
}

impl Canaries {
    /// From paths as the user wrote them (trailing separators ignored).
    #[must_use]
    pub fn new(paths: impl IntoIterator<Item = String>) -> Self {
        Self {
            paths: paths
                .into_iter()
                .map(|p| p.trim_end_matches(['/', '\\']).to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Does the event touch a canary (target or rename/link source)?
    #[must_use]
    pub fn touches(&self, event: &FileEvent) -> bool {
        if self.paths.is_empty() {
            return false;
        }
        let hit = |path: &str| self.paths.iter().any(|c| covers(c, path, event.host));
        hit(event.target.path()) || event.source.as_ref().is_some_and(|s| hit(s.path()))
    }
}

fn covers(canary: &str, path: &str, host: Host) -> bool {
    let (sep, same): (char, fn(&str, &str) -> bool) = match host {
        // Windows paths are case-insensitive.
        Host::Windows => ('\\', |a, b| a.eq_ignore_ascii_case(b)),
        Host::Linux => ('/', |a, b| a == b),
    };
    if path.len() < canary.len() || !path.is_char_boundary(canary.len()) {
        return false;
    }
    let (head, tail) = path.split_at(canary.len());
    same(head, canary) && (tail.is_empty() || tail.starts_with(sep))
}

/// An event kept as evidence for correlations. Boxed: the ring holds hundreds of them and
/// turns over with every matching event, and a slot of a pointer is pushed and popped
/// without copying a whole event in and out of memory that has gone cold.
struct Recent {
    event: Box<FileEvent>,
    rules: Vec<u32>,
}

impl Recent {
    fn new(event: &FileEvent) -> Self {
        Self {
            event: Box::new(event.clone()),
            rules: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Health {
    disabled: bool,
    strikes: u32,
}

/// A rule set in operation, with its state.
pub struct Evaluator {
    set: Arc<RuleSet>,
    config: RuntimeConfig,
    correlation: Option<CorrelationEngine>,
    /// The counts kept here instead of in `correlation` (which still chains on them).
    counts: Option<Counts>,
    scratch: Scratch,
    candidates: Vec<u32>,
    health: Vec<Health>,
    /// The last answer of each rule settled by the process (see [`crate::settled`]).
    settled: Vec<Option<Settled>>,
    canaries: Canaries,
    recent: VecDeque<Recent>,
    events_seen: u64,
    /// Events left in which every candidate rule is timed (after a slow event).
    investigate: u32,
    /// The newest event time seen, and when (wall clock) it was seen: the clock of `idle`.
    last_event: Option<(Timestamp, Instant)>,
    matched: Vec<usize>,
    fired: Vec<String>,
    reports: Vec<String>,
    /// rsigma's list of matched selection names, kept between evaluations.
    selections: Vec<String>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("rules", &self.set.rule_count())
            .field("correlations", &self.set.correlation_count())
            .finish_non_exhaustive()
    }
}

impl Evaluator {
    /// Puts `set` to work.
    #[must_use]
    pub fn new(set: Arc<RuleSet>, canaries: Canaries, config: RuntimeConfig) -> Self {
        let mut reports = Vec::new();
        // rsigma compares the suppression as an `i64` (`as`: a larger value would wrap to
        // "never"); clamped, both engines read the same time.
        let suppress_ms = config
            .suppress_secs
            .min(u64::try_from(i64::MAX / 1000).unwrap_or(u64::MAX))
            .saturating_mul(1000);
        // Counts kept here share the state budget with rsigma's engine, half each.
        let count_budget = (config.max_state_entries / 2).max(1);
        let counts = if config.native_counts && set.correlation_count() > 0 {
            Counts::new(
                &set,
                CountSettings {
                    max_groups: count_budget,
                    max_group_entries: config.max_group_entries,
                    suppress_ms: i64::try_from(suppress_ms).unwrap_or(i64::MAX),
                },
            )
        } else {
            None
        };
        let engine_budget = if counts.is_some() {
            config.max_state_entries.saturating_sub(count_budget)
        } else {
            config.max_state_entries
        };
        let correlation = if set.correlation_count() == 0 {
            None
        } else {
            let engine_config = CorrelationConfig {
                max_state_entries: engine_budget.max(1),
                max_group_entries: Some(config.max_group_entries),
                suppress: Some(suppress_ms),
                timestamp_fallback: rsigma_eval::TimestampFallback::Skip,
                ..CorrelationConfig::default()
            };
            match set.correlation_engine(engine_config) {
                Ok(engine) => Some(engine),
                Err(e) => {
                    // Checked at load time; if it still fails, detection goes on without them.
                    reports.push(format!("correlations disabled: {e}"));
                    None
                }
            }
        };
        let health = vec![Health::default(); set.rule_count()];
        let settled = std::iter::repeat_with(|| None)
            .take(set.rule_count())
            .collect();
        let counts = counts.filter(|_| correlation.is_some());
        Self {
            set,
            config,
            correlation,
            counts,
            scratch: Scratch::default(),
            candidates: Vec::new(),
            health,
            settled,
            canaries,
            recent: VecDeque::new(),
            events_seen: 0,
            investigate: 0,
            last_event: None,
            matched: Vec::new(),
            fired: Vec::new(),
            reports,
            selections: Vec::new(),
        }
    }

    /// The set in use.
    #[must_use]
    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.set
    }

    /// Rules disabled at run time (ids).
    #[must_use]
    pub fn disabled_rules(&self) -> Vec<&str> {
        self.health
            .iter()
            .enumerate()
            .filter(|(_, h)| h.disabled)
            .map(|(i, _)| self.set.rule_meta(i).id.as_str())
            .collect()
    }

    /// Reports since the last call (rules disabled, correlations failing).
    pub fn take_reports(&mut self) -> Vec<String> {
        std::mem::take(&mut self.reports)
    }

    /// Detection rules that matched the last event (indices), alerting or not.
    #[must_use]
    pub fn last_matched(&self) -> &[usize] {
        &self.matched
    }

    /// Correlations that fired on the last event (ids), alerting or not.
    #[must_use]
    pub fn last_fired(&self) -> &[String] {
        &self.fired
    }

    fn report(&mut self, message: String) {
        tracing::error!(target: "picket_detect", "{message}");
        self.reports.push(message);
    }

    /// Matches one event; pushes its alerts.
    pub fn process(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        self.events_seen = self.events_seen.wrapping_add(1);
        // The newest event time and when it was seen, for `idle` to extrapolate from. Taken
        // again only once event time has moved on by `CLOCK_STEP` (a clock read per event
        // costs more than the rest of a candidate-free event): `idle`'s notion of now then
        // lags the newest event by less than that step, far below any window's size.
        if self
            .last_event
            .is_none_or(|(t, _)| event.time.0 >= t.0.saturating_add(CLOCK_STEP_TICKS))
        {
            self.last_event = Some((event.time, Instant::now()));
        }
        self.matched.clear();
        self.fired.clear();
        let view = SigmaEvent::new(event, self.canaries.touches(event));
        self.set
            .candidates(&view, &mut self.scratch, &mut self.candidates);
        let investigating = self.investigate > 0;
        self.investigate = self.investigate.saturating_sub(1);
        // Most events are candidates of no rule: nothing to time, match or correlate. The
        // set is shared (below, for the calls that need `self` whole) only when there is.
        if self.candidates.is_empty() {
            return;
        }
        let set = Arc::clone(&self.set);
        let timed = investigating
            || self
                .events_seen
                .is_multiple_of(self.config.sample_every.max(1));
        let whole = (self.events_seen.is_multiple_of(8) && !timed).then(Instant::now);
        let mut correlated: Vec<EvaluationResult> = Vec::new();
        let mut counted = false;
        let candidates = std::mem::take(&mut self.candidates);
        for &index in &candidates {
            let i = index as usize;
            if self.health[i].disabled {
                continue;
            }
            let rule = &set.rules[i];
            let remembered = self.settled[i]
                .as_ref()
                .filter(|settled| settled.answers(event));
            let matched = if let Some(settled) = remembered {
                settled.matched
            } else {
                let started = timed.then(Instant::now);
                let selections = &mut self.selections;
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| set.rule_holds(i, &view, selections)));
                if let Some(started) = started {
                    self.check_time(i, started.elapsed());
                }
                match outcome {
                    Ok(matched) => {
                        if rule.settled {
                            self.settled[i] = Some(Settled::new(event, matched));
                        }
                        matched
                    }
                    Err(panic) => {
                        self.health[i].disabled = true;
                        let why = panic_message(panic.as_ref());
                        let id = set.rule_meta(i).id.clone();
                        self.report(format!("rule {id} disabled: it failed at run time ({why})"));
                        continue;
                    }
                }
            };
            if !matched {
                continue;
            }
            self.matched.push(i);
            if rule.emits {
                alerts.push(single_alert(&rule.meta, event));
            }
            if self.counts.as_ref().is_some_and(|c| c.counts_rule(i)) {
                counted = true;
            } else if rule.correlated {
                // rsigma's engine is fed the result; nothing else needs it built.
                correlated.push(set.detection_result(i));
            }
        }
        self.candidates = candidates;
        if whole.is_some_and(|started| started.elapsed() > self.config.slow_budget) {
            self.investigate = self.config.investigate_events;
        }
        if counted || !correlated.is_empty() {
            self.correlate(&view, correlated, alerts);
        }
    }

    fn check_time(&mut self, rule: usize, elapsed: Duration) {
        let health = &mut self.health[rule];
        if elapsed <= self.config.slow_budget {
            health.strikes = 0;
            return;
        }
        health.strikes += 1;
        if health.strikes >= self.config.strikes {
            health.disabled = true;
            let id = self.set.rule_meta(rule).id.clone();
            self.report(format!(
                "rule {id} disabled: {} consecutive sampled evaluations over the {:?} budget (last {elapsed:?})",
                self.config.strikes, self.config.slow_budget
            ));
        }
    }

    fn correlate(
        &mut self,
        view: &SigmaEvent<'_>,
        detections: Vec<EvaluationResult>,
        alerts: &mut Vec<Alert>,
    ) {
        let event = view.event();
        self.keep_recent(event);
        let Some(engine) = self.correlation.as_mut() else {
            return;
        };
        let now_ms = unix_millis(event.time);
        let mut detections = detections;
        // A count kept here that fires is a result as rsigma's would be, and goes on to
        // rsigma as a detection of its correlation when correlations are built on it.
        let mut results = Vec::new();
        if let Some(counts) = self.counts.as_mut() {
            for &rule in &self.matched {
                counts.feed(rule, view, now_ms, &self.set, &mut results, &mut detections);
            }
        }
        if !detections.is_empty() {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                engine.process_with_detections(view, detections, now_ms)
            }));
            match outcome {
                Ok(engine_results) => results.extend(engine_results),
                Err(panic) => {
                    self.correlation = None;
                    self.counts = None;
                    let why = panic_message(panic.as_ref());
                    self.report(format!(
                        "correlations disabled: the correlation engine failed ({why})"
                    ));
                    return;
                }
            }
        }
        for result in results {
            let Some(body) = result.as_correlation() else {
                continue;
            };
            let Some(id) = result.header.rule_id.clone() else {
                continue;
            };
            let Some(correlation) = self.set.correlations.iter().find(|c| c.meta.id == id) else {
                continue;
            };
            self.fired.push(id.clone());
            if !self.emits_correlation(&id) {
                continue;
            }
            let events = self.sample_events(
                &correlation.base_rules,
                &body.group_key,
                now_ms,
                correlation.window_secs,
            );
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let count = body.aggregated_value.max(0.0) as u64;
            alerts.push(Alert {
                rule_id: id,
                title: correlation.meta.title.clone(),
                level: correlation.meta.level,
                tags: correlation.meta.tags.clone(),
                description: correlation.meta.description.clone(),
                shadow: correlation.meta.shadow,
                time: event.time,
                events,
                correlation: Some(CorrelationContext {
                    kind: body.correlation_type.as_str().to_owned(),
                    group: body.group_key.clone(),
                    count,
                    window_secs: correlation.window_secs,
                    rules: correlation.rule.rules.clone(),
                }),
                processes: Vec::new(),
            });
        }
    }

    /// A correlation referenced by another one with `generate: false` only feeds it.
    fn emits_correlation(&self, id: &str) -> bool {
        let name = self
            .set
            .correlations
            .iter()
            .find(|c| c.meta.id == id)
            .and_then(|c| c.meta.name.clone());
        !self.set.correlations.iter().any(|parent| {
            !parent.rule.generate
                && parent
                    .rule
                    .rules
                    .iter()
                    .any(|r| r == id || Some(r) == name.as_ref())
        })
    }

    /// Keeps `event` and the correlated rules it matched in the ring of recent events. A
    /// full ring's oldest entry is overwritten in place: its box, rule list and path text
    /// are reused instead of freed and allocated again for every matching event.
    fn keep_recent(&mut self, event: &FileEvent) {
        let capacity = self.config.recent_events;
        if capacity == 0 {
            self.recent.clear();
            return;
        }
        // The capacity is fixed with the evaluator, so the ring is never above it.
        debug_assert!(self.recent.len() <= capacity);
        let oldest = if self.recent.len() >= capacity {
            self.recent.pop_front()
        } else {
            None
        };
        let mut entry = match oldest {
            Some(mut oldest) => {
                oldest.event.as_mut().clone_from(event);
                oldest.rules.clear();
                oldest
            }
            None => Recent::new(event),
        };
        let set = &self.set;
        entry.rules.extend(
            self.matched
                .iter()
                .filter(|&&i| set.rules[i].correlated)
                .map(|&i| u32::try_from(i).unwrap_or(u32::MAX)),
        );
        self.recent.push_back(entry);
    }

    /// The most recent events behind a firing: they matched one of its base rules, belong
    /// to its group and fall inside its window. Oldest first, at most `events_per_alert`.
    fn sample_events(
        &self,
        base_rules: &[String],
        group: &[(String, String)],
        now_ms: i64,
        window_secs: u64,
    ) -> Vec<FileEvent> {
        let window_ms = i64::try_from(window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let since = now_ms.saturating_sub(window_ms);
        let mut out: Vec<FileEvent> = self
            .recent
            .iter()
            .rev()
            .filter(|r| unix_millis(r.event.time) >= since)
            .filter(|r| {
                r.rules
                    .iter()
                    .any(|&i| base_rules.contains(&self.set.rule_meta(i as usize).id))
            })
            .filter(|r| {
                let view = SigmaEvent::new(&r.event, false);
                group.iter().all(|(field, value)| {
                    view.get_field(field)
                        .and_then(|v| v.as_str().map(|s| s.into_owned()))
                        .is_none_or(|v| v == *value)
                })
            })
            .take(self.config.events_per_alert)
            .map(|r| FileEvent::clone(&r.event))
            .collect();
        out.reverse();
        out
    }

    /// The stream is idle: expire correlation windows and old samples.
    ///
    /// Windows run on event time. `now` (the caller's wall clock) is used only before any
    /// event; afterwards the clock is the newest event's time plus the wall time elapsed
    /// since it was seen, so a replay of an old capture is not expired by today's date,
    /// while a live source that goes quiet still sees its windows close.
    pub fn idle(&mut self, now: Timestamp) {
        let now = self.last_event.map_or(now, |(time, seen)| {
            let elapsed = u64::try_from(seen.elapsed().as_nanos() / 100).unwrap_or(u64::MAX);
            Timestamp(time.0.saturating_add(elapsed))
        });
        let now_ms = unix_millis(now);
        if let Some(counts) = self.counts.as_mut() {
            counts.expire(now_ms);
        }
        if let Some(engine) = self.correlation.as_mut() {
            let outcome = catch_unwind(AssertUnwindSafe(|| engine.evict_expired(now_ms)));
            if outcome.is_err() {
                self.correlation = None;
                self.counts = None;
                self.report("correlations disabled: eviction failed".to_owned());
            }
        }
        let keep = i64::try_from(crate::ruleset::MAX_TIMESPAN_SECS * 1000).unwrap_or(i64::MAX);
        while self
            .recent
            .front()
            .is_some_and(|r| unix_millis(r.event.time) < now_ms.saturating_sub(keep))
        {
            self.recent.pop_front();
        }
    }

    /// The correlations counted by Picket itself rather than rsigma's engine (see
    /// [`RuntimeConfig::native_counts`]).
    #[must_use]
    pub fn native_counts(&self) -> Vec<&str> {
        self.counts
            .as_ref()
            .map_or_else(Vec::new, |c| c.ids(&self.set))
    }

    /// The most entries any one correlation group holds (diagnostics: walks all state).
    #[must_use]
    pub fn largest_group(&self) -> usize {
        let engine = self.correlation.as_ref().map_or(0, |engine| {
            engine
                .introspect()
                .groups
                .iter()
                .map(|g| g.entries)
                .max()
                .unwrap_or(0)
        });
        engine.max(self.counts.as_ref().map_or(0, Counts::largest_group))
    }

    /// Correlation state entries held (for flood tests and stats).
    #[must_use]
    pub fn correlation_state(&self) -> usize {
        self.correlation
            .as_ref()
            .map_or(0, CorrelationEngine::state_count)
            + self.counts.as_ref().map_or(0, Counts::groups)
    }
}

/// The correlation engine's clock: Unix milliseconds (see `ruleset::engine_form`).
fn unix_millis(t: Timestamp) -> i64 {
    i64::try_from(t.unix_millis()).unwrap_or(i64::MAX)
}

fn single_alert(meta: &RuleMeta, event: &FileEvent) -> Alert {
    Alert {
        rule_id: meta.id.clone(),
        title: meta.title.clone(),
        level: meta.level,
        tags: meta.tags.clone(),
        description: meta.description.clone(),
        shadow: meta.shadow,
        time: event.time,
        events: vec![event.clone()],
        correlation: None,
        processes: Vec::new(),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruletest::file_path;
    use picket_model::{Details, Operation, ProcessInfo, ProcessKey};

    fn set(yaml: &[&str]) -> Arc<RuleSet> {
        let rules = yaml
            .iter()
            .map(|y| rsigma_parser::parse_sigma_yaml(y).unwrap().rules.remove(0))
            .collect();
        Arc::new(RuleSet::compile_untested(rules).unwrap())
    }

    fn event(pid: u32, op: Operation, path: &str, seq: u64) -> FileEvent {
        FileEvent {
            seq,
            time: Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + seq * 1_000_000),
            host: Host::Windows,
            operation: op,
            process: Arc::new(ProcessInfo {
                key: ProcessKey { pid, start_key: 1 },
                image: Some(r"C:\x\e.exe".into()),
                ..ProcessInfo::default()
            }),
            thread_id: 1,
            target: file_path(path, Host::Windows),
            source: None,
            details: Details::default(),
            entropy: None,
        }
    }

    const GOOD: &str = "title: good\nid: good\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|endswith: '.exe'\n  condition: s\nlevel: high\n";

    /// A flood of distinct groups in a count kept here: the state stays within its half of
    /// the budget, the stalest groups go first, and a group that is still being fed keeps
    /// its window (and fires).
    #[test]
    fn a_flood_of_distinct_groups_sheds_the_stalest() {
        let note = "title: note\nid: note\nlogsource: {category: file_event}\ndetection:\n  s:\n    FileExtension: txt\n  condition: s\nlevel: informational\n";
        let spread = "title: spread\nid: spread\ncorrelation:\n  type: value_count\n  rules: [note]\n  group-by: [ProcessId, FileName]\n  timespan: 60s\n  condition: {field: FileDirectory, gte: 3}\nlevel: low\n";
        let config = RuntimeConfig {
            max_state_entries: 40,
            ..RuntimeConfig::default()
        };
        let file = crate::source::RuleFile {
            name: "flood.yml".into(),
            relative: "flood.yml".into(),
            text: format!("{note}---\n{spread}"),
            unreadable: None,
        };
        let set = Arc::new(RuleSet::compile(vec![file]).unwrap());
        let mut evaluator = Evaluator::new(set, Canaries::default(), config);
        assert_eq!(evaluator.native_counts(), ["spread"]);
        let mut alerts = Vec::new();
        for seq in 0..200 {
            // One name written every 5 events, in a new folder every 50: its group is never
            // among the stalest, so it is kept while the others come and go.
            let path = if seq % 5 == 0 {
                format!(r"C:\d{}\README.txt", seq / 50)
            } else {
                format!(r"C:\d\n{seq}.txt")
            };
            evaluator.process(&event(1, Operation::Create, &path, seq), &mut alerts);
            assert!(evaluator.correlation_state() <= 20, "{seq}");
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].rule_id, "spread");
        assert_eq!(alerts[0].time, event(1, Operation::Create, "x", 100).time);
    }

    /// A rule settled by the process is remembered, and answers exactly as evaluated afresh
    /// on every event: the same process, another one, an equal process in another `Arc`,
    /// another operation, a directory, another host.
    #[test]
    fn a_settled_rule_answers_as_evaluated_afresh() {
        // Each of the four decides some rule without deciding whether it is a candidate
        // (the prefilter finds the `.exe`; the deciding field is in a negation).
        let rule = |id: &str, logsource: &str, deciding: &str| {
            format!(
                "title: {id}\nid: {id}\nlogsource: {{{logsource}}}\ndetection:\n  s:\n    Image|endswith: '.exe'\n  f:\n    {deciding}\n  condition: s and not f\n"
            )
        };
        let rules = [
            rule("op", "category: file_change", "Operation: first_write"),
            rule("dir", "", "IsDirectory: true"),
            rule("host", "", "Host: linux"),
            rule("user", "", "User|contains: adm"),
        ];
        let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
        let set = set(&rules);
        assert!((0..rules.len()).all(|i| set.rules[i].settled));
        let process = |image: &str, user: &str| {
            Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 7,
                    start_key: 1,
                },
                image: Some(image.into()),
                user: Some(user.into()),
                ..ProcessInfo::default()
            })
        };
        let admin = process(r"C:\x.exe", "admin");
        let twin = Arc::new((*admin).clone());
        let other = process(r"C:\y.exe", "bob");
        let mut remembering = Evaluator::new(
            Arc::clone(&set),
            Canaries::default(),
            RuntimeConfig::default(),
        );
        let mut alerts = Vec::new();
        let processes = [&admin, &twin, &other];
        let operations = [
            Operation::CloseModified,
            Operation::FirstWrite,
            Operation::Delete,
        ];
        // Each event changes each of the four at random, one time in three: many follow
        // one that differs in one of them only.
        let (mut p, mut operation, mut is_directory, mut host) = (0, 0, false, Host::Windows);
        let mut seed = 11_u64;
        let mut fired = 0;
        for seq in 0..600 {
            let mut roll = |n: u64| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) % n
            };
            if roll(3) == 0 {
                p = usize::try_from(roll(3)).unwrap();
            }
            if roll(3) == 0 {
                operation = usize::try_from(roll(3)).unwrap();
            }
            if roll(3) == 0 {
                is_directory = !is_directory;
            }
            if roll(3) == 0 {
                host = if host == Host::Windows {
                    Host::Linux
                } else {
                    Host::Windows
                };
            }
            let mut e = event(7, operations[operation], r"C:\a\b.txt", seq);
            e.process = Arc::clone(processes[p]);
            e.host = host;
            e.target.is_directory = is_directory;
            remembering.process(&e, &mut alerts);
            let mut afresh = Evaluator::new(
                Arc::clone(&set),
                Canaries::default(),
                RuntimeConfig::default(),
            );
            afresh.process(&e, &mut Vec::new());
            assert_eq!(
                remembering.last_matched(),
                afresh.last_matched(),
                "event {seq}: {:?}, dir {is_directory}, {host:?}, {:?}",
                operations[operation],
                processes[p].image
            );
            fired += remembering.last_matched().len();
        }
        assert!(fired > 0);
    }

    #[test]
    fn a_rule_that_fails_at_run_time_is_disabled_and_the_rest_goes_on() {
        let bad = "title: bad\nid: bad\nlogsource: {category: file_event}\ndetection:\n  s:\n    PicketTestPanic: x\n  condition: s\n";
        let mut evaluator = Evaluator::new(
            set(&[bad, GOOD]),
            Canaries::default(),
            RuntimeConfig::default(),
        );
        let mut alerts = Vec::new();
        for seq in 0..3 {
            evaluator.process(
                &event(1, Operation::Create, r"C:\a\x.exe", seq),
                &mut alerts,
            );
        }
        assert_eq!(alerts.len(), 3, "the good rule kept alerting");
        assert!(alerts.iter().all(|a| a.rule_id == "good"));
        assert_eq!(evaluator.disabled_rules(), vec!["bad"]);
        let reports = evaluator.take_reports();
        assert_eq!(reports.len(), 1, "reported once: {reports:?}");
        assert!(reports[0].contains("rule bad disabled"), "{reports:?}");
    }

    #[test]
    fn a_slow_rule_is_disabled_after_its_strikes() {
        let config = RuntimeConfig {
            sample_every: 1,
            slow_budget: Duration::ZERO,
            strikes: 2,
            ..RuntimeConfig::default()
        };
        let mut evaluator = Evaluator::new(set(&[GOOD]), Canaries::default(), config);
        let mut alerts = Vec::new();
        for seq in 0..5 {
            evaluator.process(
                &event(1, Operation::Create, r"C:\a\x.exe", seq),
                &mut alerts,
            );
        }
        assert_eq!(alerts.len(), 2, "alerts until disabled");
        assert_eq!(evaluator.disabled_rules(), vec!["good"]);
        assert!(evaluator.take_reports()[0].contains("budget"));
    }

    #[test]
    fn idle_runs_on_event_time_not_on_the_callers_clock() {
        let builtin = Arc::new(RuleSet::builtin().unwrap());
        let mut evaluator = Evaluator::new(builtin, Canaries::default(), RuntimeConfig::default());
        let mut alerts = Vec::new();
        // An old capture: events from 2023, replayed today.
        for seq in 0..5 {
            let e = event(
                5,
                Operation::CloseModified,
                &format!(r"C:\a\f{seq}.docx"),
                seq,
            );
            evaluator.process(&e, &mut alerts);
        }
        let state = evaluator.correlation_state();
        assert!(state > 0);
        evaluator.idle(Timestamp::from_unix_nanos(1_900_000_000_000_000_000));
        assert_eq!(
            evaluator.correlation_state(),
            state,
            "today's date expires nothing"
        );
    }

    #[test]
    fn a_rule_that_turns_slow_is_found_without_waiting_for_a_sample() {
        let config = RuntimeConfig {
            sample_every: u64::MAX,
            slow_budget: Duration::ZERO,
            strikes: 3,
            ..RuntimeConfig::default()
        };
        let mut evaluator = Evaluator::new(set(&[GOOD]), Canaries::default(), config);
        let mut alerts = Vec::new();
        for seq in 0..20 {
            evaluator.process(
                &event(1, Operation::Create, r"C:\a\x.exe", seq),
                &mut alerts,
            );
        }
        assert_eq!(
            evaluator.disabled_rules(),
            vec!["good"],
            "found within 20 events"
        );
        assert!(alerts.len() < 20);
    }

    #[test]
    fn shadow_rules_alert_flagged_not_actionable() {
        let shadow = "title: s\nid: s\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|endswith: '.exe'\n  condition: s\nshadow: true\n";
        let mut evaluator = Evaluator::new(
            set(&[shadow, GOOD]),
            Canaries::default(),
            RuntimeConfig::default(),
        );
        let mut alerts = Vec::new();
        evaluator.process(&event(1, Operation::Create, r"C:\a\x.exe", 0), &mut alerts);
        let flags: Vec<(&str, bool)> = alerts
            .iter()
            .map(|a| (a.rule_id.as_str(), a.shadow))
            .collect();
        assert_eq!(flags, vec![("s", true), ("good", false)]);
        assert_eq!(alerts[0].events.len(), 1);
    }

    #[test]
    fn correlation_state_stays_bounded_under_a_flood() {
        let builtin = Arc::new(RuleSet::builtin().unwrap());
        let config = RuntimeConfig {
            max_state_entries: 500,
            max_group_entries: 50,
            ..RuntimeConfig::default()
        };
        let mut evaluator = Evaluator::new(builtin, Canaries::default(), config);
        let mut alerts = Vec::new();
        // 50k rewrites by 50k different processes, and 20k renames by one process to
        // 20k distinct names: every one of them is correlation state.
        for seq in 0..50_000_u64 {
            let pid = u32::try_from(seq).unwrap();
            let e = event(pid, Operation::CloseModified, r"C:\a\f.docx", seq);
            evaluator.process(&e, &mut alerts);
            assert!(
                evaluator.correlation_state() <= 500,
                "state {}",
                evaluator.correlation_state()
            );
        }
        for seq in 0..20_000_u64 {
            let mut e = event(
                7,
                Operation::Rename,
                &format!(r"C:\a\f{seq}.docx.x"),
                50_000 + seq,
            );
            e.source = Some(Box::new(file_path(
                &format!(r"C:\a\f{seq}.docx"),
                Host::Windows,
            )));
            evaluator.process(&e, &mut alerts);
        }
        assert!(evaluator.correlation_state() <= 500);
        let largest = evaluator.largest_group();
        assert!(largest > 0 && largest <= 50, "per-group cap: {largest}");
        assert!(evaluator.recent.len() <= RuntimeConfig::default().recent_events);
        // Windows expire as (event) time moves on.
        let later = 70_000 * 1_000_000 + 3_600 * 1_000_000_000;
        let e = event(8, Operation::Open, r"C:\a\f.txt", later / 1_000_000);
        evaluator.process(&e, &mut alerts);
        evaluator.idle(Timestamp(0));
        assert_eq!(evaluator.correlation_state(), 0);
    }

    #[test]
    fn the_recent_ring_keeps_the_newest_events_whole_when_it_overwrites() {
        let builtin = Arc::new(RuleSet::builtin().unwrap());
        let config = RuntimeConfig {
            recent_events: 3,
            ..RuntimeConfig::default()
        };
        let mut evaluator = Evaluator::new(builtin, Canaries::default(), config);
        let mut alerts = Vec::new();
        // Renames (with a source path) and rewrites (without) alternate, with paths of
        // growing and shrinking length, so an overwritten slot must take the new event's
        // source, or lose its own, and never keep text of the old one.
        let mut kept = Vec::new();
        for seq in 0..10_u64 {
            let long = "x".repeat(usize::try_from(seq % 4).unwrap() * 7);
            let mut e = if seq % 2 == 0 {
                let mut e = event(
                    7,
                    Operation::Rename,
                    &format!(r"C:\{long}f{seq}.docx.x"),
                    seq,
                );
                e.source = Some(Box::new(file_path(
                    &format!(r"C:\{long}f{seq}.docx"),
                    Host::Windows,
                )));
                e
            } else {
                event(
                    7,
                    Operation::CloseModified,
                    &format!(r"C:\{long}g{seq}.docx"),
                    seq,
                )
            };
            e.thread_id = u32::try_from(seq).unwrap();
            evaluator.process(&e, &mut alerts);
            if evaluator.recent.back().is_some_and(|r| r.event.seq == seq) {
                kept.push(e);
            }
        }
        assert!(kept.len() > 3, "the pack correlates renames and rewrites");
        let ring: Vec<&FileEvent> = evaluator.recent.iter().map(|r| r.event.as_ref()).collect();
        let newest: Vec<&FileEvent> = kept.iter().skip(kept.len() - 3).collect();
        assert_eq!(ring, newest);
        assert!(evaluator.recent.iter().all(|r| !r.rules.is_empty()));
    }

    /// Process 66 rewrites and renames 15 documents (process 9 writes a log between),
    /// then drops ransom notes: the built-in pack's ransomware chain.
    fn ransom_stream() -> Vec<FileEvent> {
        let mut events = Vec::new();
        let mut seq = 0;
        for i in 0..15 {
            seq += 1;
            let e = event(
                66,
                Operation::CloseModified,
                &format!(r"C:\u\d{i}\f.docx"),
                seq,
            );
            events.push(e);
            seq += 1;
            let mut e = event(
                66,
                Operation::Rename,
                &format!(r"C:\u\d{i}\f.docx.pay"),
                seq,
            );
            e.source = Some(Box::new(file_path(
                &format!(r"C:\u\d{i}\f.docx"),
                Host::Windows,
            )));
            events.push(e);
            // Unrelated noise from another process.
            seq += 1;
            let e = event(9, Operation::CloseModified, r"C:\other\log.txt", seq);
            events.push(e);
        }
        for i in 0..4 {
            seq += 1;
            let e = event(66, Operation::Create, &format!(r"C:\u\d{i}\PAY.txt"), seq);
            events.push(e);
        }
        events
    }

    #[test]
    fn a_ring_of_one_or_none_keeps_that_many_events_and_alerts_alike() {
        for kept in [0, 1] {
            let builtin = Arc::new(RuleSet::builtin().unwrap());
            let config = RuntimeConfig {
                recent_events: kept,
                ..RuntimeConfig::default()
            };
            let mut evaluator = Evaluator::new(builtin, Canaries::default(), config);
            let mut alerts = Vec::new();
            for e in ransom_stream() {
                evaluator.process(&e, &mut alerts);
                assert!(evaluator.recent.len() <= kept);
            }
            let ransom = alerts
                .iter()
                .find(|a| a.rule_id == "picket-ransom-behaviour")
                .expect("ransomware detected without kept events too");
            assert!(ransom.events.len() <= kept, "{}", ransom.events.len());
            assert!(ransom.events.iter().all(|e| e.process.key.pid == 66));
        }
    }

    #[test]
    fn correlation_alerts_carry_context_and_the_events_behind_them() {
        let builtin = Arc::new(RuleSet::builtin().unwrap());
        let mut evaluator = Evaluator::new(builtin, Canaries::default(), RuntimeConfig::default());
        let mut alerts = Vec::new();
        for e in ransom_stream() {
            evaluator.process(&e, &mut alerts);
        }
        let ransom = alerts
            .iter()
            .find(|a| a.rule_id == "picket-ransom-behaviour")
            .expect("ransomware detected");
        let context = ransom.correlation.as_ref().unwrap();
        assert_eq!(context.kind, "temporal_ordered");
        assert_eq!(context.window_secs, 120);
        assert!(context
            .group
            .contains(&("ProcessId".to_owned(), "66".to_owned())));
        assert!(!ransom.events.is_empty());
        assert!(ransom.events.iter().all(|e| e.process.key.pid == 66));
        assert!(
            ransom.events.windows(2).all(|w| w[0].seq < w[1].seq),
            "oldest first"
        );
        let ids: Vec<&str> = alerts.iter().map(|a| a.rule_id.as_str()).collect();
        assert!(ids.contains(&"picket-ransom-encrypt-rename"));
        assert!(
            !ids.contains(&"picket-ransom-mass-rewrite"),
            "ingredients stay silent: {ids:?}"
        );
        assert!(!ids.contains(&"picket-ransom-rename"));
        let note = alerts
            .iter()
            .find(|a| a.rule_id == "picket-ransom-note-spread")
            .unwrap();
        assert!(note.shadow);
    }

    #[test]
    fn canaries_cover_files_and_directories_per_host_rules() {
        assert!(covers(r"C:\Bait", r"c:\bait\x.docx", Host::Windows));
        assert!(covers(r"C:\Bait\x.docx", r"C:\BAIT\X.DOCX", Host::Windows));
        assert!(!covers(r"C:\Bait", r"C:\Baits\x.docx", Host::Windows));
        assert!(covers("/srv/bait", "/srv/bait/a", Host::Linux));
        assert!(!covers("/srv/bait", "/SRV/bait/a", Host::Linux));
    }
}
