//! Hot reload: a background thread notices a rule directory change (polling its fingerprint,
//! which works the same on every platform and file system) or a SIGHUP (Unix), builds and tests
//! the new set off the event path, and hands over either the new set or the reasons it was
//! refused. The detector swaps only complete, tested sets.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;

use crate::problem::{Problem, Rejected};
use crate::ruleset::RuleSet;
use crate::source::{fingerprint, read_dir};

/// What a reload attempt produced.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// A new set that passed everything.
    Loaded(Arc<RuleSet>),
    /// The new content was refused; the running set stays.
    Refused(Rejected),
}

/// The watcher thread's handle; dropping it stops the thread.
#[derive(Debug)]
pub struct Reloader {
    receiver: Receiver<ReloadOutcome>,
    stop: Arc<AtomicBool>,
}

impl Reloader {
    /// Watches `dir`, polling every `interval`; also reloads on SIGHUP on Unix.
    ///
    /// # Errors
    /// When the thread or the signal handler cannot be set up.
    pub fn spawn(dir: PathBuf, interval: Duration) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let hangup = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))?;
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("picket-rules-reload".into())
            .spawn(move || {
                let mut last = fingerprint(&dir);
                let tick = Duration::from_millis(100).min(interval);
                let mut waited = Duration::ZERO;
                while !thread_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    waited += tick;
                    let signalled = hangup.swap(false, Ordering::Relaxed);
                    if !signalled && waited < interval {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let now = fingerprint(&dir);
                    if !signalled && now == last {
                        continue;
                    }
                    last = now;
                    if sender.send(load(&dir)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Self { receiver, stop })
    }

    /// A finished reload attempt, if any (never blocks).
    #[must_use]
    pub fn poll(&self) -> Option<ReloadOutcome> {
        // Empty or disconnected (the watcher thread ended): nothing to apply.
        self.receiver.try_recv().ok()
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads, validates, compiles and tests a directory: all or nothing.
#[must_use]
pub fn load(dir: &std::path::Path) -> ReloadOutcome {
    match read_dir(dir) {
        Ok(files) => match RuleSet::load(files) {
            Ok(set) => ReloadOutcome::Loaded(Arc::new(set)),
            Err(rejected) => ReloadOutcome::Refused(rejected),
        },
        Err(e) => ReloadOutcome::Refused(Rejected {
            problems: vec![Problem::error(
                &dir.display().to_string(),
                1,
                None,
                format!("cannot read the rule directory: {e}: {}", e.source),
            )],
        }),
    }
}
