//! The pipeline's view: [`BehaviourDetector`] runs the [`Engine`] with a content sampler on
//! its own thread; [`Stack`] runs several detectors (Sigma, then behaviour) as one.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use picket_content::{Sampler, SamplerConfig, Submit};
use picket_model::{
    Alert, ContentSampling, Detector, FileEvent, Host, Operation, ProcessEvent, Timestamp,
};

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
/// seconds, not nanoseconds, and one monotonic reading per event time then serves both it
/// and the sampler's rate limit.
const WALL_CLOCK_REREAD: Duration = Duration::from_secs(1);

/// The behaviour engine plus its content sampler.
pub struct BehaviourDetector {
    engine: Engine,
    sampler: Option<Sampler<Request>>,
    requests: Vec<Request>,
    /// This batch's sample requests, oldest first, each with its token of the rate spent:
    /// submitted at its end, once its later events were seen (see
    /// [`BehaviourDetector::cancel_replaced`]). Not longer: the sample is what content
    /// detection waits for, and a ransomware run loses a file per millisecond or so.
    deferred: Vec<Request>,
    /// Waiting requests dropped ([`BehaviourDetector::cancel_replaced`]).
    dropped: u64,
    /// Answers without a sample (the file gone or unreadable when read).
    unreadable: u64,
    /// The wall clock read last, and the monotonic clock at that moment.
    wall: Option<(Timestamp, Instant)>,
    /// The last event time sampling was considered for, the monotonic clock read for it,
    /// and whether such an event is recent enough to sample ([`BehaviourDetector::clock_for`]).
    clock: Option<(Timestamp, Instant, bool)>,
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
            deferred: Vec::new(),
            dropped: 0,
            unreadable: 0,
            wall: None,
            clock: None,
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

    /// The monotonic clock for sampling an event stamped `time`, or `None` when such an event
    /// is too old to sample. Read once per event time: a live source stamps a read's events
    /// with one time, and a clock reading per event cost as much as the rest of the
    /// detector's work on an event it does not sample. The rate limit is refilled from the
    /// readings it is given, so time spent within a read is counted at the next one.
    fn clock_for(&mut self, time: Timestamp) -> Option<Instant> {
        if let Some((at, now, fresh)) = self.clock {
            if at == time {
                return fresh.then_some(now);
            }
        }
        let now = Instant::now();
        let fresh = time.0 >= self.wall_at(now).0.saturating_sub(MAX_SAMPLE_AGE_TICKS);
        self.clock = Some((time, now, fresh));
        fresh.then_some(now)
    }

    /// Content sampler counters (queued, refused by rate or queue, done).
    #[must_use]
    pub fn sampler_stats(&self) -> Option<picket_content::SamplerStats> {
        self.sampler.as_ref().map(Sampler::stats)
    }

    /// Drops the waiting requests whose file `event` took away: the file was renamed or
    /// deleted (itself, or a directory above it), or another file was renamed onto its
    /// name. Such a request could only fail, after a wake of the sampler and an open; or,
    /// renamed onto, it would read the other file's content under this name and put it in
    /// the engine's memory before the rename's own request compared that content with what
    /// was there. The rename's own request, for its new name, is made after this. The
    /// token of the rate a dropped request spent stays spent: given back, every file of a
    /// flood written and deleted would have a request built (a copy of its event) and
    /// dropped, which cost more than the reads it saves.
    fn cancel_replaced(deferred: &mut Vec<Request>, dropped: &mut u64, event: &FileEvent) {
        if deferred.is_empty() {
            return;
        }
        let before = deferred.len();
        let separator = match event.host {
            Host::Windows => '\\',
            Host::Linux => '/',
        };
        let directory = event.target.is_directory.then_some(separator);
        match (event.operation, &event.source) {
            (Operation::Rename, Some(source)) => {
                let (from, onto) = (source.path(), event.target.path());
                deferred.retain(|request| {
                    !names_or_contains(from, directory, &request.path) && request.path != onto
                });
            }
            (Operation::Delete, _) => {
                let gone = event.target.path();
                deferred.retain(|request| !names_or_contains(gone, directory, &request.path));
            }
            _ => {}
        }
        *dropped += (before - deferred.len()) as u64;
    }

    /// Submits the deferred requests; the sampler counts those refused.
    fn submit_deferred(&mut self) {
        let Some(sampler) = self.sampler.as_mut() else {
            return;
        };
        for request in self.deferred.drain(..) {
            let path = PathBuf::from(&request.path);
            // A request refused for a full queue (the reader behind) is counted by the
            // sampler: only the content signal of that one file is missed, never an event.
            let _: Submit = sampler.submit_reserved(path, request);
        }
    }

    fn drain(&mut self, alerts: &mut Vec<Alert>) {
        let Some(sampler) = &mut self.sampler else {
            return;
        };
        while let Some(done) = sampler.try_recv() {
            let sample = done.result.ok();
            self.unreadable += u64::from(sample.is_none());
            self.engine.on_sample(done.tag, sample, alerts);
        }
    }
}

impl Detector for BehaviourDetector {
    fn on_event(&mut self, event: &FileEvent, alerts: &mut Vec<Alert>) {
        self.drain(alerts);
        // Content is sampled for this host's live events only, while the sampler has room:
        // asking first spares building requests (each holds a copy of the event) that could
        // only be refused, which under a flood is nearly all of them.
        let now = if self.sampler.is_some() && event.host == LOCAL_HOST && Engine::may_sample(event)
        {
            self.clock_for(event.time)
        } else {
            None
        };
        let ready = now.and_then(|now| {
            let sampler = self.sampler.as_mut()?;
            sampler.ready_at(now).then_some((sampler, now))
        });
        // Before the request this event may make, which is for its own target.
        Self::cancel_replaced(&mut self.deferred, &mut self.dropped, event);
        let Some((sampler, now)) = ready else {
            // Without content, the patterns that need none run in `observe` itself.
            self.engine.observe(event, None, alerts);
            return;
        };
        self.engine.observe(event, Some(&mut self.requests), alerts);
        for request in self.requests.drain(..) {
            // A file closed again in the same batch: the waiting request reads the newest
            // content anyway, so a second would only read it twice. The first close's request
            // is kept: it knows a new file is new (the second close does not), and evidence
            // from the sample is credited to its process, as when the second read was the
            // one refused by the rate.
            if !self.deferred.iter().any(|d| d.path == request.path) && sampler.reserve_at(now) {
                self.deferred.push(request);
            }
        }
    }

    fn end_batch(&mut self) {
        self.submit_deferred();
    }

    fn content_sampling(&self) -> Option<ContentSampling> {
        let stats = self.sampler.as_ref()?.stats();
        Some(ContentSampling {
            read: stats.done.saturating_sub(self.unreadable),
            unreadable: self.unreadable,
            dropped: self.dropped,
            skipped_rate: stats.rate_limited,
            skipped_queue: stats.queue_full,
            waiting: (self.deferred.len() as u64) + stats.queued.saturating_sub(stats.done),
        })
    }

    fn on_idle(&mut self, now: Timestamp, alerts: &mut Vec<Alert>) {
        // A caller that does not mark its batches still has its samples taken.
        self.submit_deferred();
        self.drain(alerts);
        self.engine.tick(now, alerts);
    }
}

/// Whether `path` is `gone` itself or, when `gone` is a directory whose paths part at
/// `separator`, a path under it.
fn names_or_contains(gone: &str, directory: Option<char>, path: &str) -> bool {
    match path.strip_prefix(gone) {
        Some("") => true,
        Some(rest) => directory.is_some_and(|separator| rest.starts_with(separator)),
        None => false,
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

    fn end_batch(&mut self) {
        for d in &mut self.0 {
            d.end_batch();
        }
    }

    fn content_sampling(&self) -> Option<ContentSampling> {
        self.0
            .iter()
            .filter_map(|d| d.content_sampling())
            .reduce(|mut sum, one| {
                sum += one;
                sum
            })
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

    /// Events stamped alike (a read's) share one clock reading; a new time reads the clock
    /// again; an event too old to sample is not, whether its time is new or repeated.
    #[test]
    fn the_clock_is_read_once_per_event_time() {
        let mut detector = BehaviourDetector::new(EngineConfig::default(), None).unwrap();
        let time = Timestamp::now();
        let first = detector.clock_for(time).expect("a fresh event");
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(detector.clock_for(time), Some(first));
        let next = detector
            .clock_for(Timestamp(time.0 + 1))
            .expect("a fresh event");
        assert!(next > first, "a new time reads the clock");
        let old = Timestamp(time.0 - MAX_SAMPLE_AGE_TICKS - 10_000_000);
        assert_eq!(detector.clock_for(old), None);
        assert_eq!(detector.clock_for(old), None);
        let back = detector.clock_for(time).expect("a fresh event");
        assert!(
            back > next,
            "the clock is read again for a time seen before the last"
        );
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
        assert!(detector.deferred.is_empty(), "a replayed event");
        detector.on_event(&close(&file, Timestamp::now()), &mut alerts);
        assert_eq!(
            detector.sampler_stats().unwrap().queued,
            0,
            "held to the batch's end"
        );
        detector.end_batch();
        assert_eq!(detector.sampler_stats().unwrap().queued, 1, "a live event");
        let start = std::time::Instant::now();
        while detector.sampler_stats().unwrap().done < 1 {
            assert!(start.elapsed() < std::time::Duration::from_secs(10));
            detector.on_idle(Timestamp::now(), &mut alerts);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(alerts.is_empty());
        assert_eq!(detector.content_sampling().unwrap().read, 1);
        let off = BehaviourDetector::new(EngineConfig::default(), None).unwrap();
        assert!(off.sampler_stats().is_none());
        assert!(off.content_sampling().is_none());
    }

    fn renamed(from: &str, to: &str, directory: bool) -> FileEvent {
        let mut event = close(std::path::Path::new(to), Timestamp::now());
        event.operation = Operation::Rename;
        event.target.is_directory = directory;
        let mut source = FilePath::from_text(from);
        source.is_directory = directory;
        event.source = Some(Box::new(source));
        event
    }

    fn deleted(path: &str, directory: bool) -> FileEvent {
        let mut event = close(std::path::Path::new(path), Timestamp::now());
        event.operation = Operation::Delete;
        event.target.is_directory = directory;
        event
    }

    fn sampling(burst: u32) -> BehaviourDetector {
        let config = SamplerConfig {
            burst,
            rate_per_sec: 1,
            ..SamplerConfig::default()
        };
        BehaviourDetector::new(EngineConfig::default(), Some(config)).unwrap()
    }

    fn deferred_paths(detector: &BehaviourDetector) -> Vec<&str> {
        detector.deferred.iter().map(|r| r.path.as_str()).collect()
    }

    fn close_now(detector: &mut BehaviourDetector, path: &str) {
        detector.on_event(
            &close(std::path::Path::new(path), Timestamp::now()),
            &mut Vec::new(),
        );
    }

    #[test]
    fn renaming_or_deleting_a_file_in_the_batch_cancels_its_sample() {
        let mut detector = sampling(100);
        let mut alerts = Vec::new();
        for name in [
            "/d/kept",
            "/d/renamed",
            "/d/deleted",
            "/moved/x",
            "/moved2/y",
        ] {
            close_now(&mut detector, name);
        }
        detector.on_event(&renamed("/d/renamed", "/d/renamed.bak", false), &mut alerts);
        detector.on_event(&deleted("/d/deleted", false), &mut alerts);
        detector.on_event(&renamed("/moved", "/elsewhere", true), &mut alerts);
        detector.on_event(&deleted("/moved2", true), &mut alerts);
        // A name that only begins like one renamed or deleted is another file.
        detector.on_event(&renamed("/d/kep", "/d/kep2", false), &mut alerts);
        detector.on_event(&deleted("/d/kep", true), &mut alerts);
        // The renames' own requests (for their new names, which the engine compares with
        // the old) stay.
        assert_eq!(
            deferred_paths(&detector),
            ["/d/kept", "/d/renamed.bak", "/d/kep2"]
        );
        let counts = detector.content_sampling().unwrap();
        assert_eq!((counts.dropped, counts.waiting), (4, 3));
        detector.end_batch();
        assert_eq!(detector.sampler_stats().unwrap().queued, 3);
        assert!(detector.deferred.is_empty());
        // None of the three files exists: each is answered unreadable.
        let start = std::time::Instant::now();
        while detector.content_sampling().unwrap().unreadable < 3 {
            assert!(start.elapsed() < Duration::from_secs(10));
            detector.on_idle(Timestamp::now(), &mut alerts);
            std::thread::sleep(Duration::from_millis(5));
        }
        let counts = detector.content_sampling().unwrap();
        assert_eq!((counts.read, counts.waiting, counts.dropped), (0, 0, 4));
        let stack = Stack(vec![Box::new(detector), Box::new(sampling(1))]);
        assert_eq!(stack.content_sampling().unwrap().unreadable, 3, "summed");
    }

    #[test]
    fn a_windows_directory_deleted_drops_the_requests_under_it_at_its_separator() {
        let mut detector = sampling(100);
        for name in [r"C:\d\x.docx", r"C:\dx\y.docx", r"C:\d/z.docx"] {
            close_now(&mut detector, name);
        }
        let mut gone = deleted(r"C:\d", true);
        gone.host = Host::Windows;
        BehaviourDetector::cancel_replaced(&mut detector.deferred, &mut detector.dropped, &gone);
        // Only the host's separator is looked for: the parse stage gives the minifilter's
        // paths with `\` (a `/` left in one costs at most a sample that fails).
        assert_eq!(deferred_paths(&detector), [r"C:\dx\y.docx", r"C:\d/z.docx"]);
        assert_eq!(detector.dropped, 1);
    }

    #[test]
    fn a_rename_onto_a_waiting_name_cancels_its_sample_before_asking_its_own() {
        let mut detector = sampling(100);
        let mut alerts = Vec::new();
        close_now(&mut detector, "/d/doc.txt");
        // A temp file renamed over the document: its content is what the rename's own
        // request compares with what was known of the document.
        detector.on_event(&renamed("/d/.doc.tmp", "/d/doc.txt", false), &mut alerts);
        let waiting: Vec<_> = detector.deferred.iter().map(|r| &r.purpose).collect();
        assert_eq!(
            waiting,
            [&crate::engine::Purpose::RenameTarget {
                source: "/d/.doc.tmp".into()
            }]
        );
        // A new file under the old name of a renamed one is sampled.
        detector.on_event(&renamed("/d/a", "/d/b", false), &mut alerts);
        close_now(&mut detector, "/d/a");
        assert!(deferred_paths(&detector).contains(&"/d/a"));
    }

    #[test]
    fn a_file_closed_again_in_the_batch_is_sampled_once() {
        let mut detector = sampling(100);
        close_now(&mut detector, "/d/log");
        close_now(&mut detector, "/d/log");
        close_now(&mut detector, "/d/other");
        assert_eq!(deferred_paths(&detector), ["/d/log", "/d/other"]);
    }

    #[test]
    fn waiting_requests_count_against_the_rate_and_idle_submits_them() {
        let mut detector = sampling(2);
        let mut alerts = Vec::new();
        for name in ["/d/1", "/d/2", "/d/3"] {
            close_now(&mut detector, name);
        }
        assert_eq!(
            deferred_paths(&detector),
            ["/d/1", "/d/2"],
            "no request is built that the rate would refuse"
        );
        assert_eq!(detector.sampler_stats().unwrap().rate_limited, 1);
        assert_eq!(detector.content_sampling().unwrap().skipped_rate, 1);
        detector.on_idle(Timestamp::now(), &mut alerts);
        assert_eq!(detector.sampler_stats().unwrap().queued, 2);
        assert!(detector.deferred.is_empty());
    }

    #[test]
    fn a_dropped_request_keeps_its_token_spent() {
        // The rate bounds the requests built (each a copy of its event), not only those
        // sent: under a flood of files written and deleted, nearly all are dropped.
        let mut detector = sampling(2);
        let mut alerts = Vec::new();
        close_now(&mut detector, "/d/1");
        detector.on_event(&deleted("/d/1", false), &mut alerts);
        close_now(&mut detector, "/d/2");
        close_now(&mut detector, "/d/3");
        assert_eq!(deferred_paths(&detector), ["/d/2"]);
        let counts = detector.content_sampling().unwrap();
        assert_eq!((counts.dropped, counts.skipped_rate), (1, 1));
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
