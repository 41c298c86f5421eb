//! The pipeline's view: [`BehaviourDetector`] runs the [`Engine`] with a content sampler on
//! its own thread; [`Stack`] runs several detectors (Sigma, then behaviour) as one.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use picket_content::{Sampler, SamplerConfig, Submit};
use picket_model::{Alert, Detector, FileEvent, Host, ProcessEvent, Timestamp};

use crate::engine::{Engine, EngineConfig, Request};

/// The host this process runs on: only its own files can be sampled.
const LOCAL_HOST: Host = if cfg!(windows) {
    Host::Windows
} else {
    Host::Linux
};

/// Only events this recent have their files sampled: the content is read *now*, so for a
/// replayed capture (or a backlog) it would describe a later state of the file, or another
/// machine's file at the same path. 60 s in 100 ns ticks.
const MAX_SAMPLE_AGE_TICKS: u64 = 60 * 10_000_000;

/// How long the wall clock is extrapolated from one reading of it: the age check needs
/// seconds, not nanoseconds, and one monotonic reading per event then serves both it and
/// the sampler's rate limit.
const WALL_CLOCK_REREAD: Duration = Duration::from_secs(1);

/// The behaviour engine plus its content sampler.
pub struct BehaviourDetector {
    engine: Engine,
    sampler: Option<Sampler<Request>>,
    requests: Vec<Request>,
    /// The wall clock read last, and the monotonic clock at that moment.
    wall: Option<(Timestamp, Instant)>,
}

impl std::fmt::Debug for BehaviourDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BehaviourDetector")
            .field("sampling", &self.sampler.is_some())
            .finish_non_exhaustive()
    }
}

impl BehaviourDetector {
    /// An engine with `config`; content sampling on a worker thread when `sample` (live
    /// sources), else patterns that need no content only.
    ///
    /// # Errors
    /// When the sampler thread cannot be started.
    pub fn new(config: EngineConfig, sample: Option<SamplerConfig>) -> std::io::Result<Self> {
        Ok(Self {
            engine: Engine::new(config),
            sampler: sample.map(Sampler::spawn).transpose()?,
            requests: Vec::new(),
            wall: None,
        })
    }

    /// The wall-clock time at `now`, extrapolated from a reading at most
    /// [`WALL_CLOCK_REREAD`] old.
    fn wall_at(&mut self, now: Instant) -> Timestamp {
        if let Some((wall, at)) = self.wall {
            let since = now.saturating_duration_since(at);
            if since < WALL_CLOCK_REREAD {
                let ticks = u64::try_from(since.as_nanos() / 100).unwrap_or(u64::MAX);
                return Timestamp(wall.0.saturating_add(ticks));
            }
        }
        let wall = Timestamp::now();
        self.wall = Some((wall, now));
        wall
    }

    /// Content sampler counters (queued, refused by rate or queue, done).
    #[must_use]
    pub fn sampler_stats(&self) -> Option<picket_content::SamplerStats> {
        self.sampler.as_ref().map(Sampler::stats)
    }

    fn drain(&mut self, alerts: &mut Vec<Alert>) {
        let Some(sampler) = &mut self.sampler else {
            return;
        };
        while let Some(done) = sampler.try_recv() {
            self.engine.on_sample(done.tag, done.result.ok(), alerts);
        }
    }
}

impl Detector for BehaviourDetector {
    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        self.drain(alerts);
        // Content is sampled for this host's live events only, while the sampler has room:
        // asking first spares building requests (each holds a copy of the event) that could
        // only be refused, which under a flood is nearly all of them.
        let now = (self.sampler.is_some() && event.host == LOCAL_HOST && Engine::may_sample(event))
            .then(Instant::now)
            .filter(|&now| {
                event.time.0 >= self.wall_at(now).0.saturating_sub(MAX_SAMPLE_AGE_TICKS)
            });
        let ready = now.and_then(|now| {
            let sampler = self.sampler.as_mut()?;
            sampler.ready_at(now).then_some((sampler, now))
        });
        let Some((sampler, now)) = ready else {
            // Without content, the patterns that need none run in `observe` itself.
            self.engine.observe(event, None, alerts);
            return;
        };
        self.engine.observe(event, Some(&mut self.requests), alerts);
        for request in self.requests.drain(..) {
            let path = PathBuf::from(&request.path);
            // Refused (rate or queue) requests are counted by the sampler: only the content
            // signal of that one file is missed, never an event.
            let _: Submit = sampler.submit_at(path, request, now);
        }
    }

    fn on_idle(&mut self, now: Timestamp, alerts: &mut Vec<Alert>) {
        self.drain(alerts);
        self.engine.tick(now, alerts);
    }
}

/// Several detectors run as one, in order: every one prepares and sees every event.
pub struct Stack(pub Vec<Box<dyn Detector>>);

impl Detector for Stack {
    fn prepare(&mut self, event: &mut FileEvent) {
        for d in &mut self.0 {
            d.prepare(event);
        }
    }

    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        for d in &mut self.0 {
            d.on_event(event, alerts);
        }
    }

    fn on_process(&mut self, event: &ProcessEvent, alerts: &mut Vec<Alert>) {
        for d in &mut self.0 {
            d.on_process(event, alerts);
        }
    }

    fn on_idle(&mut self, now: Timestamp, alerts: &mut Vec<Alert>) {
        for d in &mut self.0 {
            d.on_idle(now, alerts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::{Details, FilePath, Operation, ProcessInfo};
    use std::sync::Arc;

    fn close(path: &std::path::Path, time: Timestamp) -> FileEvent {
        FileEvent {
            seq: 1,
            time,
            host: LOCAL_HOST,
            operation: Operation::CloseModified,
            process: Arc::new(ProcessInfo::default()),
            thread_id: 0,
            target: FilePath::from_text(&path.display().to_string()),
            source: None,
            details: Details::default(),
            entropy: None,
        }
    }

    #[test]
    fn samples_live_events_and_not_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "text\n").unwrap();
        let mut detector =
            BehaviourDetector::new(EngineConfig::default(), Some(SamplerConfig::default()))
                .unwrap();
        let mut alerts = Vec::new();
        detector.on_event(&close(&file, Timestamp(1)), &mut alerts);
        assert_eq!(
            detector.sampler_stats().unwrap().queued,
            0,
            "a replayed event"
        );
        detector.on_event(&close(&file, Timestamp::now()), &mut alerts);
        assert_eq!(detector.sampler_stats().unwrap().queued, 1, "a live event");
        let start = std::time::Instant::now();
        while detector.sampler_stats().unwrap().done < 1 {
            assert!(start.elapsed() < std::time::Duration::from_secs(10));
            detector.on_idle(Timestamp::now(), &mut alerts);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(alerts.is_empty());
        let off = BehaviourDetector::new(EngineConfig::default(), None).unwrap();
        assert!(off.sampler_stats().is_none());
    }

    #[test]
    fn the_wall_clock_is_extrapolated_for_a_second_then_read_again() {
        let mut detector = BehaviourDetector::new(EngineConfig::default(), None).unwrap();
        let t0 = Instant::now();
        let w0 = detector.wall_at(t0);
        let half = detector.wall_at(t0 + Duration::from_millis(500));
        assert_eq!(
            half.0 - w0.0,
            5_000_000,
            "500 ms later, from the same reading"
        );
        let later = t0 + WALL_CLOCK_REREAD;
        let reread = detector.wall_at(later);
        assert_eq!(
            detector.wall,
            Some((reread, later)),
            "read again after a second"
        );
        let real = Timestamp::now();
        assert!(reread.0 <= real.0 && real.0 - reread.0 < 10 * 10_000_000);
    }

    /// Counts the process events it is shown.
    struct CountProcesses(std::rc::Rc<std::cell::Cell<usize>>);

    impl Detector for CountProcesses {
        fn on_event(&mut self, _: &FileEvent, _: &mut Vec<Alert>) {}

        fn on_process(&mut self, _: &ProcessEvent, _: &mut Vec<Alert>) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_stack_shows_process_events_to_every_detector() {
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut stack = Stack(vec![
            Box::new(CountProcesses(seen.clone())),
            Box::new(CountProcesses(seen.clone())),
        ]);
        let start = ProcessEvent {
            seq: 1,
            time: Timestamp::now(),
            host: LOCAL_HOST,
            activity: picket_model::ProcessActivity::Start,
            process: Arc::new(ProcessInfo::default()),
            forked: false,
            creating_pid: None,
            creating_tid: None,
            session_id: None,
            exit_status: None,
            image_truncated: false,
            command_line_truncated: false,
        };
        stack.on_process(&start, &mut Vec::new());
        assert_eq!(seen.get(), 2);
    }
}
