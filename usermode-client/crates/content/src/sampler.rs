//! Sampling off the pipeline's thread: a worker reads files behind a bounded queue and a rate
//! limit. [`Sampler::submit`] never blocks; when the queue is full or the rate is spent the
//! request is refused and counted, so a flood of writes costs bounded CPU and disk reads.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Instant;

use crate::sample::{read_sample, Sample, SampleError, SampleLimits};

/// One finished request.
#[derive(Debug)]
pub struct Done<T> {
    /// What the caller attached to the request.
    pub tag: T,
    /// The sample, or why there is none.
    pub result: Result<Sample, SampleError>,
}

/// Outcome of [`Sampler::submit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    /// Queued for the worker.
    Queued,
    /// Refused: the rate limit is spent.
    RateLimited,
    /// Refused: the queue is full (the worker is behind).
    QueueFull,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SamplerStats {
    /// Requests queued.
    pub queued: u64,
    /// Refused by the rate limit.
    pub rate_limited: u64,
    /// Refused because the queue was full.
    pub queue_full: u64,
    /// Results handed back.
    pub done: u64,
}

/// Bounds of the sampler.
#[derive(Clone, Copy, Debug)]
pub struct SamplerConfig {
    /// Per-read bounds.
    pub limits: SampleLimits,
    /// Requests waiting at most.
    pub queue: usize,
    /// Sustained reads per second.
    pub rate_per_sec: u32,
    /// Reads allowed in a burst above the rate.
    pub burst: u32,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            limits: SampleLimits::default(),
            queue: 1024,
            rate_per_sec: 400,
            burst: 800,
        }
    }
}

/// A token bucket over wall time.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The worker and its queues.
#[derive(Debug)]
pub struct Sampler<T> {
    requests: Option<SyncSender<(PathBuf, T)>>,
    results: Receiver<Done<T>>,
    bucket: Bucket,
    stats: SamplerStats,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Sampler<T> {
    /// Starts the worker thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(config: SamplerConfig) -> std::io::Result<Self> {
        let (requests, inbox) = mpsc::sync_channel::<(PathBuf, T)>(config.queue.max(1));
        // Results are bounded by the request queue plus the one being read.
        let (outbox, results) = mpsc::channel();
        let limits = config.limits;
        let worker = std::thread::Builder::new()
            .name("picket-content".into())
            .spawn(move || {
                for (path, tag) in inbox {
                    let result = read_sample(&path, limits);
                    if outbox.send(Done { tag, result }).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            requests: Some(requests),
            results,
            bucket: Bucket {
                tokens: f64::from(config.burst),
                rate: f64::from(config.rate_per_sec),
                burst: f64::from(config.burst.max(1)),
                last: Instant::now(),
            },
            stats: SamplerStats::default(),
            worker: Some(worker),
        })
    }

    /// Whether a request submitted now would be within the rate (takes nothing): lets a
    /// caller skip building a request that would only be refused. A `false` counts as that
    /// one request refused for the rate, as [`Sampler::submit`] would have counted it.
    pub fn ready(&mut self) -> bool {
        self.ready_at(Instant::now())
    }

    /// [`Sampler::ready`] with the caller's reading of the clock (a caller that reads it
    /// anyway saves a read per event).
    pub fn ready_at(&mut self, now: Instant) -> bool {
        self.bucket.refill(now);
        if self.requests.is_none() {
            self.stats.queue_full += 1;
            return false;
        }
        if self.bucket.tokens < 1.0 {
            self.stats.rate_limited += 1;
            return false;
        }
        true
    }

    /// Asks for `path` to be sampled; never blocks.
    pub fn submit(&mut self, path: PathBuf, tag: T) -> Submit {
        self.submit_at(path, tag, Instant::now())
    }

    /// [`Sampler::submit`] with the caller's reading of the clock.
    pub fn submit_at(&mut self, path: PathBuf, tag: T, now: Instant) -> Submit {
        if !self.reserve_at(now) {
            return Submit::RateLimited;
        }
        self.submit_reserved(path, tag)
    }

    /// Spends the rate's token for a request to be submitted later with
    /// [`Sampler::submit_reserved`] (or never: a token spent on a request dropped is not
    /// given back, so the rate bounds the requests a caller builds, not only those it
    /// sends). `false`, counted as refused for the rate, when none is left.
    pub fn reserve_at(&mut self, now: Instant) -> bool {
        if self.bucket.take(now) {
            true
        } else {
            self.stats.rate_limited += 1;
            false
        }
    }

    /// Queues a request whose token [`Sampler::reserve_at`] spent; never blocks.
    pub fn submit_reserved(&mut self, path: PathBuf, tag: T) -> Submit {
        let Some(requests) = &self.requests else {
            self.stats.queue_full += 1;
            return Submit::QueueFull;
        };
        match requests.try_send((path, tag)) {
            Ok(()) => {
                self.stats.queued += 1;
                Submit::Queued
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.queue_full += 1;
                Submit::QueueFull
            }
        }
    }

    /// A finished request, if any; never blocks.
    pub fn try_recv(&mut self) -> Option<Done<T>> {
        // The worker answers each queued request once: with every answer taken, none can be
        // waiting, and the channel (asked after every event) is left alone.
        if self.stats.done >= self.stats.queued {
            return None;
        }
        let done = self.results.try_recv().ok()?;
        self.stats.done += 1;
        Some(done)
    }

    /// Waits up to `timeout` for a finished request (tests and shutdown only).
    pub fn recv_timeout(&mut self, timeout: std::time::Duration) -> Option<Done<T>> {
        let done = self.results.recv_timeout(timeout).ok()?;
        self.stats.done += 1;
        Some(done)
    }

    /// Counters so far.
    #[must_use]
    pub const fn stats(&self) -> SamplerStats {
        self.stats
    }
}

impl<T> Drop for Sampler<T> {
    fn drop(&mut self) {
        // Closing the queue ends the worker after its current read.
        self.requests = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use std::time::Duration;

    #[test]
    fn samples_on_the_worker_and_refuses_beyond_its_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "some text\n").unwrap();
        let mut sampler = Sampler::spawn(SamplerConfig {
            queue: 4,
            rate_per_sec: 1,
            burst: 3,
            ..SamplerConfig::default()
        })
        .unwrap();
        let outcomes: Vec<Submit> = (0..5).map(|i| sampler.submit(file.clone(), i)).collect();
        assert_eq!(&outcomes[..3], &[Submit::Queued; 3]);
        assert_eq!(outcomes[4], Submit::RateLimited);
        let mut tags = Vec::new();
        while tags.len() < 3 {
            let done = sampler
                .recv_timeout(Duration::from_secs(10))
                .expect("a result");
            assert_eq!(done.result.unwrap().kind, Kind::Text);
            tags.push(done.tag);
        }
        assert_eq!(tags, vec![0, 1, 2], "results come back in order");
        let stats = sampler.stats();
        assert_eq!((stats.queued, stats.done), (3, 3));
        assert!(stats.rate_limited >= 1);
    }

    #[test]
    fn try_recv_hands_back_each_answer_then_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "some text\n").unwrap();
        let mut sampler = Sampler::spawn(SamplerConfig::default()).unwrap();
        assert!(sampler.try_recv().is_none(), "nothing asked");
        for tag in 0..2 {
            assert_eq!(sampler.submit(file.clone(), tag), Submit::Queued);
        }
        let start = std::time::Instant::now();
        let mut tags = Vec::new();
        while tags.len() < 2 {
            assert!(start.elapsed() < Duration::from_secs(10), "answers come");
            match sampler.try_recv() {
                Some(done) => tags.push(done.tag),
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        assert_eq!(tags, vec![0, 1]);
        assert!(sampler.try_recv().is_none(), "every answer taken");
        assert_eq!(sampler.submit(file, 2), Submit::Queued);
        let done = sampler
            .recv_timeout(Duration::from_secs(10))
            .expect("a result");
        assert_eq!(done.tag, 2);
    }

    #[test]
    fn ready_takes_nothing_and_counts_what_it_refuses() {
        let (requests, _inbox) = mpsc::sync_channel::<(PathBuf, u32)>(8);
        let (_outbox, results) = mpsc::channel();
        let mut sampler = Sampler {
            requests: Some(requests),
            results,
            bucket: Bucket {
                tokens: 1.0,
                rate: 0.0,
                burst: 1.0,
                last: Instant::now(),
            },
            stats: SamplerStats::default(),
            worker: None,
        };
        assert!(sampler.ready() && sampler.ready(), "asking takes no token");
        assert_eq!(sampler.submit("a".into(), 1), Submit::Queued);
        assert!(!sampler.ready(), "the one token is gone");
        assert_eq!(sampler.stats().rate_limited, 1, "a refusal is counted once");
        sampler.requests = None;
        sampler.bucket.tokens = 1.0;
        assert!(!sampler.ready(), "a closed queue takes nothing");
        assert_eq!(sampler.stats().queue_full, 1);
    }

    #[test]
    fn a_full_queue_refuses_instead_of_blocking() {
        let (requests, _inbox) = mpsc::sync_channel::<(PathBuf, u32)>(1);
        let (_outbox, results) = mpsc::channel();
        let mut sampler = Sampler {
            requests: Some(requests),
            results,
            bucket: Bucket {
                tokens: 10.0,
                rate: 0.0,
                burst: 10.0,
                last: Instant::now(),
            },
            stats: SamplerStats::default(),
            worker: None,
        };
        assert_eq!(sampler.submit("a".into(), 1), Submit::Queued);
        assert_eq!(sampler.submit("b".into(), 2), Submit::QueueFull);
        assert_eq!(sampler.stats().queue_full, 1);
    }
}
