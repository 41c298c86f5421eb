//! The bounded process cache.

use ahash::AHashMap as HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_model::{ProcessInfo, ProcessKey, Timestamp};

use crate::ProcessInspector;

/// Counters for the summary and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that asked the inspector.
    pub misses: u64,
    /// Entries dropped to stay under capacity.
    pub evicted: u64,
    /// Entries dropped because their process ended.
    pub ended: u64,
    /// Process start records taken in.
    pub starts: u64,
    /// Process exit records taken in.
    pub exits: u64,
}

struct Entry {
    info: Arc<ProcessInfo>,
    last_used: u64,
    /// A `ProcessExit` said it ended: dropped at the next sweep (not at once: the kernel
    /// may still deliver records it queued before the exit).
    ended: bool,
    /// A `ProcessStart` described it: the stream will say when it ends, so it is kept
    /// until then even after the process is gone (its queued file events still name it).
    recorded: bool,
}

/// (pid, start key) → shared [`ProcessInfo`], at most `capacity` entries.
///
/// Entries whose process has ended are dropped by [`ProcessCache::sweep`] (the pipeline calls
/// [`ProcessCache::maybe_sweep`] at least every `sweep_every`). Entries with an unknown start
/// key (0) cannot be told apart from a later process with the same pid, so every sweep drops
/// them whatever their state.
pub struct ProcessCache {
    inspector: Box<dyn ProcessInspector>,
    entries: HashMap<ProcessKey, Entry>,
    capacity: usize,
    clock: u64,
    sweep_every: Duration,
    last_sweep: Instant,
    stats: CacheStats,
    /// The entry looked up last: handed out again without a look-up while one process's
    /// events follow one another (the rule). No other entry is used meanwhile, so its
    /// `last_used` from the first of them keeps the eviction order; forgotten whenever the
    /// entries change.
    last: Option<(ProcessKey, Arc<ProcessInfo>)>,
}

impl std::fmt::Debug for ProcessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.capacity)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ProcessCache {
    /// Default capacity: far more processes than a machine runs at once, a few MiB at most.
    pub const DEFAULT_CAPACITY: usize = 8192;

    /// A cache in front of `inspector`.
    #[must_use]
    pub fn new(inspector: Box<dyn ProcessInspector>, capacity: usize) -> Self {
        Self {
            inspector,
            entries: HashMap::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            clock: 0,
            sweep_every: Duration::from_secs(1),
            last_sweep: Instant::now(),
            stats: CacheStats::default(),
            last: None,
        }
    }

    /// Sets the sweep interval.
    #[must_use]
    pub const fn with_sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_every = every;
        self
    }

    /// Counters so far.
    #[must_use]
    pub const fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Entries held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The process behind `key`, from the cache or the inspector.
    pub fn get(&mut self, key: ProcessKey, seen_at: Timestamp) -> Arc<ProcessInfo> {
        self.clock += 1;
        if let Some((last, info)) = &self.last {
            if *last == key {
                self.stats.hits += 1;
                return Arc::clone(info);
            }
        }
        let info = if let Some(entry) = self.entries.get_mut(&key) {
            entry.last_used = self.clock;
            self.stats.hits += 1;
            Arc::clone(&entry.info)
        } else {
            self.stats.misses += 1;
            if self.entries.len() >= self.capacity {
                self.evict();
            }
            let mut info = self.inspector.inspect(key, seen_at);
            // The inspector describes the key it was asked about, whatever it returns.
            info.key = key;
            self.fill_parent(&mut info, seen_at);
            self.insert(info, false)
        };
        self.last = Some((key, Arc::clone(&info)));
        info
    }

    fn insert(&mut self, info: ProcessInfo, recorded: bool) -> Arc<ProcessInfo> {
        self.last = None;
        let info = Arc::new(info);
        self.entries.insert(
            info.key,
            Entry {
                info: Arc::clone(&info),
                last_used: self.clock,
                ended: false,
                recorded,
            },
        );
        info
    }

    /// Fills the parent fields of `info` from the parent's entry (a process start recorded
    /// it), else from the inspector.
    fn fill_parent(&mut self, info: &mut ProcessInfo, seen_at: Timestamp) {
        let Some(parent_pid) = info.parent_pid else {
            return;
        };
        if info.parent_image.is_some() {
            return;
        }
        let exact = info.parent_start_key.map(|start_key| ProcessKey {
            pid: parent_pid,
            start_key,
        });
        let cached = match exact {
            Some(key) => self.entries.get(&key),
            // Without the parent's start key, the live entry with its pid (a parent
            // outlives the moment its child is looked at; an ended one may be reused).
            None => self
                .entries
                .values()
                .filter(|e| e.info.key.pid == parent_pid && !e.ended)
                .max_by_key(|e| e.last_used),
        };
        if let Some(parent) = cached {
            let parent = Arc::clone(&parent.info);
            info.adopt_parent(&parent);
            return;
        }
        let key = exact.unwrap_or(ProcessKey {
            pid: parent_pid,
            start_key: 0,
        });
        let parent = self.inspector.inspect(key, seen_at);
        info.adopt_parent(&parent);
    }

    /// A `ProcessStart` record: the kernel's description of the process replaces whatever
    /// was cached for its key (on Linux an `exec` keeps the key and changes the image).
    /// Facts the record does not carry (user name, parent image) come from the parent's
    /// entry and the inspector.
    pub fn record_start(&mut self, mut info: ProcessInfo, seen_at: Timestamp) -> Arc<ProcessInfo> {
        self.clock += 1;
        if info.user.is_none() {
            info.user = info.uid.and_then(|uid| self.inspector.user_name(uid));
        }
        if info.current_directory.is_none() {
            if let Some(old) = self.entries.get(&info.key) {
                info.current_directory
                    .clone_from(&old.info.current_directory);
            }
        }
        self.fill_parent(&mut info, seen_at);
        if !self.entries.contains_key(&info.key) && self.entries.len() >= self.capacity {
            self.evict();
        }
        self.stats.starts += 1;
        self.insert(info, true)
    }

    /// A `ProcessExit` record: the process as cached (or inspected), marked ended so the
    /// next sweep drops it.
    pub fn record_exit(&mut self, key: ProcessKey, seen_at: Timestamp) -> Arc<ProcessInfo> {
        let info = self.get(key, seen_at);
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.ended = true;
        }
        self.stats.exits += 1;
        info
    }

    /// Drops the least recently used eighth (at least one entry): amortised O(1) per miss.
    fn evict(&mut self) {
        self.last = None;
        let mut ages: Vec<u64> = self.entries.values().map(|e| e.last_used).collect();
        let drop = (ages.len() / 8).max(1);
        let (_, cutoff, _) = ages.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let old: Vec<ProcessKey> = self
            .entries
            .iter()
            .filter(|(_, e)| e.last_used <= cutoff)
            .map(|(k, _)| *k)
            .collect();
        for key in old {
            self.entries.remove(&key);
            self.inspector.forget(key);
            self.stats.evicted += 1;
        }
    }

    /// Sweeps if `sweep_every` has passed since the last sweep.
    pub fn maybe_sweep(&mut self) {
        if self.last_sweep.elapsed() >= self.sweep_every {
            self.sweep();
        }
    }

    /// Drops the entries whose process has ended (and those with an unknown start key).
    pub fn sweep(&mut self) {
        self.last = None;
        self.last_sweep = Instant::now();
        let keys: Vec<ProcessKey> = self.entries.keys().copied().collect();
        for key in keys {
            let (ended, recorded) = self
                .entries
                .get(&key)
                .map_or((false, false), |e| (e.ended, e.recorded));
            let gone = if recorded {
                ended
            } else {
                ended || !self.inspector.is_alive(key)
            };
            if key.start_key == 0 || gone {
                self.entries.remove(&key);
                self.inspector.forget(key);
                self.stats.ended += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    /// A fake system: pid → (start key, image) of the process running now.
    #[derive(Clone, Default)]
    struct FakeSystem {
        running: Rc<RefCell<BTreeMap<u32, (u64, String)>>>,
        inspections: Rc<RefCell<u32>>,
        forgotten: Rc<RefCell<Vec<ProcessKey>>>,
    }

    impl ProcessInspector for FakeSystem {
        fn inspect(&mut self, key: ProcessKey, _seen_at: Timestamp) -> ProcessInfo {
            *self.inspections.borrow_mut() += 1;
            let running = self.running.borrow();
            match running.get(&key.pid) {
                Some((start, image)) if key.start_key == 0 || *start == key.start_key => {
                    ProcessInfo {
                        key,
                        image: Some(image.clone()),
                        ..ProcessInfo::default()
                    }
                }
                _ => ProcessInfo {
                    key,
                    ..ProcessInfo::default()
                },
            }
        }

        fn is_alive(&mut self, key: ProcessKey) -> bool {
            self.running
                .borrow()
                .get(&key.pid)
                .is_some_and(|(start, _)| *start == key.start_key)
        }

        fn forget(&mut self, key: ProcessKey) {
            self.forgotten.borrow_mut().push(key);
        }
    }

    fn key(pid: u32, start_key: u64) -> ProcessKey {
        ProcessKey { pid, start_key }
    }

    /// A system running pids `0..count`, each with start key 7 and image `p<pid>`.
    fn running(count: u32) -> FakeSystem {
        let system = FakeSystem::default();
        for pid in 0..count {
            system
                .running
                .borrow_mut()
                .insert(pid, (7, format!("p{pid}")));
        }
        system
    }

    #[test]
    fn pid_reuse_never_attributes_an_event_to_the_wrong_process() {
        let system = FakeSystem::default();
        system
            .running
            .borrow_mut()
            .insert(100, (1, "/usr/bin/victim".into()));
        let mut cache = ProcessCache::new(Box::new(system.clone()), 16);
        let first = cache.get(key(100, 1), Timestamp(0));
        assert_eq!(first.image.as_deref(), Some("/usr/bin/victim"));

        // The process exits and pid 100 is reused by another program.
        system
            .running
            .borrow_mut()
            .insert(100, (2, "/tmp/attacker".into()));
        let second = cache.get(key(100, 2), Timestamp(0));
        assert_eq!(second.image.as_deref(), Some("/tmp/attacker"));
        // A late event of the first process still names the first process.
        let late = cache.get(key(100, 1), Timestamp(0));
        assert_eq!(late.image.as_deref(), Some("/usr/bin/victim"));

        // The first process's entry goes when its end is noticed; an event of it seen
        // afterwards is not attributed to the new owner of pid 100.
        cache.sweep();
        assert_eq!(cache.stats().ended, 1);
        assert_eq!(*system.forgotten.borrow(), vec![key(100, 1)]);
        let after = cache.get(key(100, 1), Timestamp(0));
        assert_eq!(after.image, None, "unknown, not the attacker");
        assert_eq!(after.key, key(100, 1));
    }

    #[test]
    fn hits_do_not_inspect_again_and_capacity_is_a_hard_bound() {
        let system = running(100);
        let mut cache = ProcessCache::new(Box::new(system.clone()), 10);
        for _ in 0..3 {
            cache.get(key(1, 7), Timestamp(0));
        }
        assert_eq!(*system.inspections.borrow(), 1);
        assert_eq!(cache.stats().hits, 2);
        for pid in 0..100 {
            cache.get(key(pid, 7), Timestamp(0));
            assert!(cache.len() <= 10);
        }
        assert!(cache.stats().evicted >= 90);
        assert_eq!(
            system.forgotten.borrow().len() as u64,
            cache.stats().evicted,
            "every evicted entry's resources are released"
        );
    }

    /// The process looked up last is handed out again without a look-up: its uses still
    /// count for eviction (a busy process outlives quieter ones), a start record replaces
    /// it, and a sweep that drops it is not undone.
    #[test]
    fn the_last_process_again_is_a_use_a_restart_replaces_it_and_a_sweep_drops_it() {
        let system = running(40);
        let mut cache = ProcessCache::new(Box::new(system.clone()), 8);
        cache.get(key(0, 7), Timestamp(0));
        for pid in 1..40 {
            // The busy process's run of events, then another process's event.
            for _ in 0..3 {
                assert_eq!(
                    cache.get(key(0, 7), Timestamp(0)).image.as_deref(),
                    Some("p0")
                );
            }
            cache.get(key(pid, 7), Timestamp(0));
        }
        assert!(cache.stats().evicted > 0);
        assert!(
            !system.forgotten.borrow().contains(&key(0, 7)),
            "the busy process was never the least recently used"
        );
        assert_eq!(cache.stats().hits, 3 * 39);
        assert_eq!(*system.inspections.borrow(), 40);

        let restarted = ProcessInfo {
            key: key(39, 7),
            image: Some("/new/image".into()),
            ..ProcessInfo::default()
        };
        cache.record_start(restarted, Timestamp(0));
        let again = cache.get(key(39, 7), Timestamp(0));
        assert_eq!(again.image.as_deref(), Some("/new/image"));

        // Ended and swept: the next event of it is inspected anew.
        system.running.borrow_mut().remove(&39);
        cache.record_exit(key(39, 7), Timestamp(0));
        cache.sweep();
        let inspections = *system.inspections.borrow();
        let gone = cache.get(key(39, 7), Timestamp(0));
        assert_eq!(gone.image, None);
        assert_eq!(*system.inspections.borrow(), inspections + 1);
    }

    #[test]
    fn unknown_start_keys_do_not_outlive_a_sweep() {
        let system = FakeSystem::default();
        system.running.borrow_mut().insert(5, (3, "a".into()));
        let mut cache = ProcessCache::new(Box::new(system.clone()), 10);
        cache.get(key(5, 0), Timestamp(0));
        cache.sweep();
        assert!(cache.is_empty());
    }
}
