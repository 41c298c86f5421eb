//! The [`Detector`] the pipeline calls: the running rule set, content sampling, hot reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use picket_model::{Alert, Detector, FileEvent, Host, Operation, ProcessEvent, Timestamp};

use crate::entropy::EntropySampler;
use crate::problem::Rejected;
use crate::reload::{self, ReloadOutcome, Reloader};
use crate::ruleset::RuleSet;
use crate::runtime::{Canaries, Evaluator, RuntimeConfig};
use crate::store;

/// How to build the detector.
#[derive(Clone, Debug, Default)]
pub struct DetectorOptions {
    /// Rule directory (replaces the built-in pack); `None` = the built-in pack.
    pub rules_dir: Option<PathBuf>,
    /// Canary paths.
    pub canaries: Vec<String>,
    /// Sample content entropy after `close_modified` (live sources only).
    pub entropy: bool,
    /// Where the last good rule set is kept (`None`: not kept).
    pub state_dir: Option<PathBuf>,
    /// Reload when the rule directory changes (and on SIGHUP).
    pub watch: bool,
    /// Poll interval of the directory watcher.
    pub watch_interval: Option<Duration>,
    /// Runtime bounds.
    pub runtime: RuntimeConfig,
}

/// The detector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The rules were refused and no last good set exists.
    #[error("{0}")]
    Rejected(#[from] Rejected),
    /// The watcher could not start.
    #[error("rule watcher: {0}")]
    Watch(#[from] std::io::Error),
}

/// Which set the detector started with.
#[derive(Debug)]
pub enum StartedWith {
    /// The built-in pack.
    Builtin,
    /// The configured directory.
    Directory(PathBuf),
    /// The configured directory was refused; the last good copy is running.
    LastGood {
        /// Where the copy is.
        dir: PathBuf,
        /// Why the configured directory was refused.
        refused: Rejected,
    },
}

/// Sigma detection over file events.
pub struct SigmaDetector {
    evaluator: Evaluator,
    canaries: Canaries,
    runtime: RuntimeConfig,
    sampler: Option<EntropySampler>,
    reloader: Option<Reloader>,
    state_dir: Option<PathBuf>,
    events: u64,
}

impl std::fmt::Debug for SigmaDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaDetector")
            .field("evaluator", &self.evaluator)
            .finish_non_exhaustive()
    }
}

/// The host this process runs on: only its own files can be sampled.
const LOCAL_HOST: Host = if cfg!(windows) {
    Host::Windows
} else {
    Host::Linux
};

impl SigmaDetector {
    /// Loads the rules (all or nothing), falling back to the last good set on disk when the
    /// configured directory is refused.
    ///
    /// # Errors
    /// When the rules are refused and there is no last good set, or the watcher fails.
    pub fn start(options: DetectorOptions) -> Result<(Self, StartedWith), StartError> {
        let (set, started) = match &options.rules_dir {
            None => (Arc::new(RuleSet::builtin()?), StartedWith::Builtin),
            Some(dir) => match reload::load(dir) {
                ReloadOutcome::Loaded(set) => {
                    save(options.state_dir.as_deref(), &set);
                    (set, StartedWith::Directory(dir.clone()))
                }
                ReloadOutcome::Refused(refused) => {
                    let last = options
                        .state_dir
                        .as_deref()
                        .and_then(store::last_good_dir)
                        .ok_or_else(|| refused.clone())?;
                    match reload::load(&last) {
                        ReloadOutcome::Loaded(set) => {
                            (set, StartedWith::LastGood { dir: last, refused })
                        }
                        ReloadOutcome::Refused(_) => return Err(refused.into()),
                    }
                }
            },
        };
        let reloader = match (&options.rules_dir, options.watch) {
            (Some(dir), true) => Some(Reloader::spawn(
                dir.clone(),
                options.watch_interval.unwrap_or(Duration::from_secs(2)),
            )?),
            _ => None,
        };
        let canaries = Canaries::new(options.canaries.iter().cloned());
        let detector = Self {
            evaluator: Evaluator::new(set, canaries.clone(), options.runtime.clone()),
            canaries,
            runtime: options.runtime,
            sampler: options.entropy.then(EntropySampler::default),
            reloader,
            state_dir: options.state_dir,
            events: 0,
        };
        Ok((detector, started))
    }

    /// The running set.
    #[must_use]
    pub fn rule_set(&self) -> &Arc<RuleSet> {
        self.evaluator.rule_set()
    }

    /// Rules disabled at run time.
    #[must_use]
    pub fn disabled_rules(&self) -> Vec<&str> {
        self.evaluator.disabled_rules()
    }

    /// Applies a finished reload, if any. Returns whether a new set went live.
    pub fn poll_reload(&mut self) -> bool {
        let Some(outcome) = self.reloader.as_ref().and_then(Reloader::poll) else {
            return false;
        };
        self.apply(outcome)
    }

    /// Swaps in `outcome` if it is a tested set; reports and keeps the running set otherwise.
    pub fn apply(&mut self, outcome: ReloadOutcome) -> bool {
        match outcome {
            ReloadOutcome::Loaded(set) => {
                save(self.state_dir.as_deref(), &set);
                // Its own target, which the client shows by default: a user who edited a
                // rule sees one line saying it took effect.
                tracing::info!(
                    target: "picket_reload",
                    "rules reloaded: {} rules, {} correlations, {} tests passed",
                    set.rule_count(),
                    set.correlation_count(),
                    set.test_count()
                );
                // Correlation windows restart with the new set: the old state belongs to
                // rules that may have changed meaning.
                self.evaluator = Evaluator::new(set, self.canaries.clone(), self.runtime.clone());
                true
            }
            ReloadOutcome::Refused(rejected) => {
                tracing::error!(
                    target: "picket_detect",
                    "rule update refused, the running set stays ({} problem(s)):",
                    rejected.problems.len()
                );
                for problem in &rejected.problems {
                    tracing::error!(target: "picket_detect", "  {problem}");
                }
                false
            }
        }
    }
}

fn save(state_dir: Option<&Path>, set: &RuleSet) {
    let Some(dir) = state_dir else { return };
    if let Err(e) = store::save_last_good(dir, set.files()) {
        tracing::warn!(
            target: "picket_detect",
            "cannot keep the last good rule set in {}: {e}",
            dir.display()
        );
    }
}

impl Detector for SigmaDetector {
    fn prepare(&mut self, event: &mut FileEvent) {
        let Some(sampler) = &self.sampler else { return };
        if event.operation == Operation::CloseModified
            && event.entropy.is_none()
            && event.host == LOCAL_HOST
            && !event.target.is_directory
        {
            event.entropy = sampler.sample(Path::new(event.target.path()));
        }
    }

    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        self.events = self.events.wrapping_add(1);
        if self.events.is_multiple_of(256) {
            self.poll_reload();
        }
        self.evaluator.process(event, alerts);
    }

    fn on_process(&mut self, event: &ProcessEvent, alerts: &mut Vec<Alert>) {
        crate::process_rules::evaluate(&self.evaluator.rule_set().process_rules, event, alerts);
    }

    fn on_idle(&mut self, now: Timestamp, alerts: &mut Vec<Alert>) {
        let _ = alerts;
        self.poll_reload();
        self.evaluator.idle(now);
    }
}
