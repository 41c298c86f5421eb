//! [`FanotifySource`]: the [`BatchSource`] the client reads on Linux. Each call waits for
//! events (up to the poll interval), reads what the kernel queued, translates it and hands
//! back one protocol batch; each record is encoded as soon as it is made ([`Outbox`]),
//! batches that do not go out at once wait for the next calls, and nothing new is read until
//! they are out, so memory stays bounded by one read's worth of batches.
//!
//! [`Outbox`]: crate::outbox::Outbox

#![forbid(unsafe_code)]

use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use picket_model::{BatchSource, Pull, SourceError, Timestamp};
use picket_protocol::{
    DriverHello, EncodeError, Loss, LossReason, Stats, MAX_BATCH_LEN, PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
};

use crate::error::FanotifyError;
use crate::group::{Capabilities, Features, Group};
use crate::mask;
use crate::outbox::Outbox;
use crate::pace::Pacer;
use crate::parse;
use crate::paths::MountResolver;
use crate::procconn::{Decision, ProcessTable, Tracker};
use crate::process::{PidChurn, StartKeys};
use crate::sys;
use crate::translate::{Actor, Counters, Limits, Translator};

/// How to open the source.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// Events at or under this path are reported; the whole file system holding it is
    /// marked (the kernel has no subtree mark).
    pub path: PathBuf,
    /// Drop events caused by this process (the client's own output and lookups). Tests that
    /// drive the source and the file operations from one process turn it off.
    pub exclude_self: bool,
    /// The optional kernel features to use where the kernel has them (all by default).
    pub features: Features,
    /// How long [`BatchSource::next_batch`] waits before answering [`Pull::Idle`].
    pub poll_interval: Duration,
    /// After a read that emptied the queue, how long to let events gather before waiting
    /// on the group again (see [`crate::group::GATHER_INTERVAL`]); zero reads at once.
    pub gather: Duration,
    /// Bounds of the translator's caches.
    pub limits: Limits,
    /// Report a new name for a file already seen under another name as a hard link (see
    /// [`Translator::with_hard_links`]). Off by default: `tests/data/workload.json`, shared
    /// with the Windows harness, expects Linux to report a hard link as a create.
    pub report_hard_links: bool,
    /// How often a `Stats` record reports the source's counters (as the driver's periodic
    /// stats do); zero turns them off.
    pub stats_interval: Duration,
    /// Report process starts and exits system-wide, and attribute file events of processes
    /// that are gone by the time they are read (see [`crate::procconn`]). Off by default
    /// here (the library's tests count file records); `picket watch` and `live` turn it on.
    pub processes: bool,
    /// Raise the sensor's threads while its reads show it falling behind, and lower them
    /// again once it has caught up (see [`crate::pace`]). Off by default here; `picket watch`
    /// and `live` turn it on.
    pub pace: Option<crate::pace::PaceConfig>,
}

impl SourceConfig {
    /// Defaults for watching `path`: own events excluded, every kernel feature, 200 ms poll.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            exclude_self: true,
            features: Features::default(),
            poll_interval: Duration::from_millis(200),
            gather: crate::group::GATHER_INTERVAL,
            limits: Limits::default(),
            report_hard_links: false,
            stats_interval: Duration::from_secs(10),
            processes: false,
            pace: None,
        }
    }
}

/// Counters for the summary and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceCounters {
    /// What the translator did.
    pub translated: Counters,
    /// `read` calls that returned events.
    pub reads: u64,
    /// Reads whose bytes could not all be parsed (the rest of that read is lost and a loss
    /// record says so).
    pub parse_errors: u64,
    /// Batches handed out.
    pub batches: u64,
    /// Directory handles reopened (path cache misses).
    pub dirs_resolved: u64,
    /// Process tracking (zero when off).
    pub processes: crate::procconn::TableCounters,
    /// The tracker thread's counters (zero when off).
    pub tracker: crate::procconn::TrackerCounters,
    /// Times the reader fell behind the kernel's queue and was raised (zero without
    /// [`SourceConfig::pace`]).
    pub behind_spells: u64,
}

/// Bytes per read: small enough that the pidfds of one read (one per event, without
/// process tracking) stay well under the default limit of 1024 open descriptors.
const READ_BUF_LEN: usize = 64 * 1024;

/// The live Linux source.
#[derive(Debug)]
pub struct FanotifySource {
    group: Group,
    resolver: MountResolver,
    translator: Translator,
    keys: StartKeys,
    exclude_pid: Option<u32>,
    read_buf: Vec<u8>,
    /// The translator's records, encoded as it makes them.
    outbox: Outbox,
    poll_ms: i32,
    gather: Duration,
    /// The last read emptied the queue.
    drained: bool,
    scope: PathBuf,
    reads: u64,
    parse_errors: u64,
    batches: u64,
    /// Most events one read returned since the last stats record: how far behind the
    /// reader was (the kernel does not expose its queue depth).
    read_high_water: u32,
    stats_interval: Duration,
    last_stats: Instant,
    /// The advice on the kernel queue's size was given (once per source).
    overflow_advised: bool,
    /// Process tracking, when on.
    processes: Option<Processes>,
    /// Raises and lowers the sensor's threads as it falls behind and catches up.
    pace: Option<Pacer>,
}

/// The queue size to advise after an overflow: 4 times the group's (picket's 131 072
/// becomes 524 288, about 60 MiB of kernel memory at worst), at least 262 144.
fn overflow_advice(limit: u32) -> u32 {
    limit.saturating_mul(4).max(262_144)
}

/// The process connector's tracker and the table fed from it.
#[derive(Debug)]
struct Processes {
    tracker: Tracker,
    table: ProcessTable,
    decisions: Vec<Decision>,
    /// Whose pid may have changed hands under the current read (in place of pidfds).
    churn: PidChurn,
}

/// Processes the table holds at most (live ones, and exited ones until their exit is out).
const PROCESS_TABLE_CAPACITY: usize = 64 * 1024;

impl FanotifySource {
    /// Opens a group on the file system holding `config.path`.
    ///
    /// # Errors
    /// [`FanotifyError::MissingPrivilege`] naming `CAP_SYS_ADMIN` or `CAP_DAC_READ_SEARCH`,
    /// [`FanotifyError::Unsupported`] for a kernel or file system that cannot do it, and
    /// [`FanotifyError::Io`] for a path that does not exist.
    pub fn open(config: &SourceConfig) -> Result<Self, FanotifyError> {
        let scope = std::fs::canonicalize(&config.path)
            .map_err(|e| FanotifyError::io(format!("cannot watch {}", config.path.display()), e))?;
        let mount_dir = if scope.is_dir() {
            scope.clone()
        } else {
            scope.parent().unwrap_or(Path::new("/")).to_path_buf()
        };
        // Process tracking is an addition: without it (no CAP_NET_ADMIN, a kernel without
        // CONFIG_PROC_EVENTS) file events flow as before and the hello says so. Started
        // before the group, whose pidfds it makes unnecessary (see `PidChurn`).
        let tracker = if config.processes {
            Tracker::start()
                .map_err(|error| {
                    tracing::warn!(
                        %error,
                        "no process tracking (the netlink process connector needs CAP_NET_ADMIN): \
                         processes are looked up in /proc when their events are read"
                    );
                })
                .ok()
        } else {
            None
        };
        let features = Features {
            pidfd: config.features.pidfd && tracker.is_none(),
            ..config.features
        };
        let mut group = Group::open(&scope, features)?;
        let mount = sys::open_dir(&mount_dir)
            .map_err(|e| FanotifyError::io(format!("open {}", mount_dir.display()), e))?;
        check_handles(&mount_dir, &mount)?;
        // Without process tracking, each event of a read carries a pidfd until it is
        // translated; failure is harmless (the read buffer is sized for the default limit
        // of 1024).
        let _ = sys::raise_fd_limit();
        let exclude_pid = config.exclude_self.then(sys::getpid);
        let mut translator = Translator::new(
            scope.as_os_str().as_bytes().to_vec(),
            exclude_pid,
            config.limits,
        )
        .with_hard_links(config.report_hard_links);
        let processes = tracker.map(|tracker| {
            if let Err(error) = group.add_open_exec(&scope) {
                tracing::warn!(
                    %error,
                    "no FAN_OPEN_EXEC events: an exec whose /proc is gone before the \
                     tracker reads it is reported with its image unknown"
                );
            }
            if !tracker.realtime {
                tracing::warn!(
                    "process tracker runs without SCHED_FIFO: a program that exits \
                         within microseconds of its exec may be reported without its image"
                );
            }
            Processes {
                tracker,
                table: ProcessTable::new(PROCESS_TABLE_CAPACITY),
                decisions: Vec::new(),
                churn: PidChurn::default(),
            }
        });
        let mut outbox = Outbox::default();
        let mut hello = hello(&group.capabilities());
        if processes.is_some() {
            hello.capabilities |= DriverHello::CAP_PROCESSES;
        }
        translator.hello(hello, now(), &mut outbox);
        let queue_limit = group.capabilities().queue_limit;
        Ok(Self {
            group,
            resolver: MountResolver::new(mount),
            translator,
            keys: StartKeys::default(),
            exclude_pid,
            read_buf: vec![0; READ_BUF_LEN],
            outbox,
            poll_ms: i32::try_from(config.poll_interval.as_millis()).unwrap_or(i32::MAX),
            gather: config.gather,
            drained: false,
            scope,
            reads: 0,
            parse_errors: 0,
            batches: 0,
            read_high_water: 0,
            stats_interval: config.stats_interval,
            last_stats: Instant::now(),
            overflow_advised: false,
            processes,
            pace: config.pace.map(|pace| Pacer::new(pace, queue_limit)),
        })
    }

    /// Takes what the tracker saw until now into the table; queues the starts it decides.
    fn sync_processes(&mut self, timestamp: u64) {
        let Some(p) = self.processes.as_mut() else {
            // Nothing reports exits: a pid's key holds for one read only.
            self.keys.clear();
            return;
        };
        p.table.next_generation();
        let observed = p.tracker.sync();
        let whole = p.tracker.last_sync_whole();
        self.keys.after_sync(&observed, whole);
        p.churn.after_sync(&observed, whole);
        for observed in observed {
            p.table.observe(observed, &mut p.decisions);
        }
        for decision in p.decisions.drain(..) {
            self.translator
                .process(decision, timestamp, &mut self.outbox);
        }
    }

    /// After a read's events (or a quiet poll): whether the queue was left empty.
    fn after_read(&mut self, emptied_queue: bool, read_began: u64) {
        if let Some(p) = self.processes.as_mut() {
            p.churn.after_read(emptied_queue, read_began);
        }
    }

    /// Queues the held-back exits (once the fanotify queue was emptied).
    fn flush_exits(&mut self, timestamp: u64) {
        let Some(p) = self.processes.as_mut() else {
            return;
        };
        p.table.take_exits(&mut p.decisions);
        for decision in p.decisions.drain(..) {
            self.translator
                .process(decision, timestamp, &mut self.outbox);
        }
    }

    /// Before a file event of `pid`: its start record if it was never announced, and its
    /// start key when `/proc` no longer has it.
    fn process_of(
        processes: &mut Option<Processes>,
        translator: &mut Translator,
        out: &mut Outbox,
        (pid, start_key, timestamp): (u32, u64, u64),
    ) -> u64 {
        let Some(p) = processes.as_mut() else {
            return start_key;
        };
        p.table.announce(pid, &mut p.decisions);
        let known = p.table.start_key(pid);
        for decision in p.decisions.drain(..) {
            translator.process(decision, timestamp, out);
        }
        if start_key == 0 {
            known
        } else {
            start_key
        }
    }

    /// A `FAN_OPEN_EXEC` event: the image of `pid`'s exec, to the process table.
    fn exec_opened(
        processes: &mut Option<Processes>,
        translator: &mut Translator,
        resolver: &mut MountResolver,
        out: &mut Outbox,
        (event, pid, timestamp): (&parse::RawEvent<'_>, u32, u64),
    ) {
        let Some(p) = processes.as_mut() else {
            return;
        };
        let Some(path) = event
            .entry
            .as_ref()
            .and_then(|entry| translator.entry_path(entry, resolver))
        else {
            return;
        };
        p.table.exec_opened(pid, &path, &mut p.decisions);
        for decision in p.decisions.drain(..) {
            translator.process(decision, timestamp, out);
        }
    }

    /// What the kernel granted.
    #[must_use]
    pub fn capabilities(&self) -> Capabilities {
        self.group.capabilities()
    }

    /// The watched tree (canonical).
    #[must_use]
    pub fn scope(&self) -> &Path {
        &self.scope
    }

    /// One line for humans: what is watched and how.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{} on the file system holding {}, reporting events under it",
            self.capabilities().describe(),
            self.scope.display()
        )
    }

    /// Counters so far.
    #[must_use]
    pub fn counters(&self) -> SourceCounters {
        SourceCounters {
            translated: self.translator.counters(),
            reads: self.reads,
            parse_errors: self.parse_errors,
            batches: self.batches,
            dirs_resolved: self.translator.dirs_resolved(),
            processes: self
                .processes
                .as_ref()
                .map(|p| p.table.counters())
                .unwrap_or_default(),
            tracker: self
                .processes
                .as_ref()
                .map(|p| p.tracker.counters())
                .unwrap_or_default(),
            behind_spells: self.pace.as_ref().map_or(0, Pacer::spells),
        }
    }

    /// Waits for events and translates one read of them into the outbox.
    fn fill(&mut self) -> Result<(), FanotifyError> {
        if self.drained && !self.gather.is_zero() {
            std::thread::sleep(self.gather);
        }
        self.drained = false;
        // Before the queue is looked at: when this read empties it, later events were all
        // queued after this moment (see `PidChurn`). Only with process tracking.
        let read_began = if self.processes.is_none() {
            0
        } else {
            sys::boottime_ticks()
        };
        if !self
            .group
            .wait(self.poll_ms)
            .map_err(|e| FanotifyError::io("poll on the fanotify group", e))?
        {
            let timestamp = now();
            self.sync_processes(timestamp);
            // The queue was empty when the poll gave up: later events come after this sync.
            self.after_read(true, read_began);
            self.flush_exits(timestamp);
            // A rename's second half is queued within the same call as its first: after a
            // quiet poll interval, a first half still waiting has none.
            self.translator.flush_moves(&mut self.outbox);
            return Ok(());
        }
        let n = self
            .group
            .read(&mut self.read_buf)
            .map_err(|e| FanotifyError::io("read from the fanotify group", e))?;
        if n == 0 {
            return Ok(());
        }
        self.reads = self.reads.saturating_add(1);
        // A read that left room for a quarter more found the queue empty: next time, let
        // events gather first.
        self.drained = n < self.read_buf.len() - self.read_buf.len() / 4;
        // The queue's depth as the read left it, if the pace asks for it.
        let depth = self
            .pace
            .as_ref()
            .filter(|pace| pace.wants_depth(self.drained))
            .map(|_| self.group.queued_events());
        let timestamp = now();
        // Every exec that precedes an event of this read is in the tracker's answer, and
        // every fork and exit that would make a start key kept from an earlier read wrong.
        self.sync_processes(timestamp);
        let bytes = self.read_buf.get(..n).unwrap_or_default();
        let mut in_read: u32 = 0;
        // The last event's process, whose start key and announcement hold for the next
        // event of the same process: runs of one process's events are the rule, and each
        // took two table look-ups and a key look-up. Forgotten at an exec (which changes
        // the table's entry) and with the read (the table is synced before the next).
        let mut last_actor: Option<(u32, bool, u64)> = None;
        let mut events = parse::events(bytes);
        // Parsed in place, one event after another (see `Events::next_into`).
        let mut raw = parse::RawEvent::default();
        while let Some(parsed) = events.next_into(&mut raw) {
            in_read = in_read.saturating_add(1);
            match parsed {
                Ok(()) => {}
                Err(err) => {
                    // The rest of this read cannot be framed: say events were lost.
                    self.parse_errors = self.parse_errors.saturating_add(1);
                    tracing::error!(%err, "the rest of this fanotify read is dropped");
                    let loss = Loss {
                        first_lost_seq: 0,
                        last_lost_seq: 0,
                        count: 1,
                        reason: LossReason::EncodeFailed,
                    };
                    self.translator.loss(loss, timestamp, &mut self.outbox);
                    break;
                }
            }
            // The pidfd, if any (without process tracking), has told us all we need (whether
            // the process had exited). Closed
            // at once, while the kernel's objects behind it are still in the cache: closing a
            // read's descriptors together after its events made the bare reader 15 % slower
            // and picket no faster (18 pinned pairs).
            crate::group::release_descriptors(&raw);
            let pid = u32::try_from(raw.pid).unwrap_or(0);
            // Borrowed, not moved: the event is about 250 bytes (references to its handles
            // and names in the read buffer, file system ids), and a move per event was a copy
            // of all of it.
            let without_exec;
            let event = if raw.mask & mask::OPEN_EXEC == 0 {
                &raw
            } else {
                last_actor = None;
                Self::exec_opened(
                    &mut self.processes,
                    &mut self.translator,
                    &mut self.resolver,
                    &mut self.outbox,
                    (&raw, pid, timestamp),
                );
                let rest = raw.mask & !(mask::OPEN_EXEC | mask::ONDIR);
                if rest == 0 {
                    continue;
                }
                without_exec = parse::RawEvent {
                    mask: raw.mask & !mask::OPEN_EXEC,
                    ..raw
                };
                &without_exec
            };
            let exited = event.pidfd == Some(libc::FAN_EPIDFD);
            let start_key = if self.exclude_pid == Some(pid) {
                0
            } else if let Some((_, _, key)) =
                last_actor.filter(|&(last, was_exited, _)| last == pid && was_exited == exited)
            {
                key
            } else {
                let key = match self.processes.as_ref() {
                    // Tracking stands in for pidfds: the group has none (see `open`).
                    Some(p) => self.keys.get_unless_changed(pid, &p.churn),
                    None => self.keys.get(pid, exited),
                };
                let key = Self::process_of(
                    &mut self.processes,
                    &mut self.translator,
                    &mut self.outbox,
                    (pid, key, timestamp),
                );
                last_actor = Some((pid, exited, key));
                key
            };
            let actor = Actor {
                pid,
                start_key,
                timestamp,
            };
            self.translator
                .translate(event, actor, &mut self.resolver, &mut self.outbox);
        }
        self.after_read(self.drained, read_began);
        self.read_high_water = self.read_high_water.max(in_read);
        if let Some(pace) = &mut self.pace {
            pace.after_read(self.drained, in_read, depth);
        }
        let overflows = self.translator.counters().overflows;
        if overflows > 0 && !self.overflow_advised {
            self.overflow_advised = true;
            let limit = self.group.capabilities().queue_limit;
            tracing::warn!(
                "the kernel's fanotify queue overflowed: events were dropped and the kernel \
                 does not say how many; picket's group holds {limit} events for a reader \
                 that falls behind; raise fs.fanotify.max_queued_events above that before \
                 starting picket, which keeps a higher value (e.g. sysctl -w \
                 fs.fanotify.max_queued_events={})",
                overflow_advice(limit)
            );
        }
        if self.drained {
            self.flush_exits(timestamp);
            self.translator.expire_moves(timestamp, &mut self.outbox);
        }
        Ok(())
    }

    /// Queues a `Stats` record when the interval has passed.
    fn maybe_stats(&mut self) {
        if self.stats_interval.is_zero() || self.last_stats.elapsed() < self.stats_interval {
            return;
        }
        self.last_stats = Instant::now();
        let c = self.translator.counters();
        let stats = Stats {
            events_seen: c.events,
            events_sent: c.records,
            events_dropped: c.overflows,
            batches_sent: self.batches,
            send_failures: self.parse_errors,
            ring_high_water: std::mem::take(&mut self.read_high_water),
            ring_capacity: self.group.capabilities().queue_limit,
        };
        self.translator.stats(stats, now(), &mut self.outbox);
    }
}

impl BatchSource for FanotifySource {
    fn next_batch(&mut self, buf: &mut Vec<u8>) -> Result<Pull, SourceError> {
        // Nothing new is read while batches wait, or a failure does.
        if !self.outbox.has_ready() && !self.outbox.failed() {
            self.fill()?;
            self.maybe_stats();
        }
        self.outbox.close();
        if !self.outbox.take(buf).map_err(encode_error)? {
            return Ok(Pull::Idle);
        }
        self.batches = self.batches.saturating_add(1);
        Ok(Pull::Batch)
    }
}

fn encode_error(err: EncodeError) -> SourceError {
    SourceError::Malformed(format!("cannot encode a fanotify record: {err}"))
}

/// Proves at start that handles of this file system can be reopened: without
/// `CAP_DAC_READ_SEARCH`, or on a file system without handle support, no path could ever be
/// resolved, and that must be an error now, not silence later.
fn check_handles(dir: &Path, mount: &std::os::fd::OwnedFd) -> Result<(), FanotifyError> {
    let (handle_type, bytes) =
        sys::name_to_handle(dir).map_err(|e| FanotifyError::Unsupported {
            path: dir.display().to_string(),
            reason: format!("the file system gives no file handles: {e}"),
        })?;
    match sys::open_by_handle(mount.as_fd(), handle_type, &bytes) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(FanotifyError::MissingPrivilege {
            capability: "CAP_DAC_READ_SEARCH",
            call: "open_by_handle_at",
        }),
        Err(e) => Err(FanotifyError::Unsupported {
            path: dir.display().to_string(),
            reason: format!("file handles cannot be reopened: {e}"),
        }),
    }
}

/// Now, in the protocol's clock (100 ns since 1601).
fn now() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Timestamp::from_unix_nanos(nanos).0
}

/// The hello record describing this source.
fn hello(caps: &Capabilities) -> DriverHello {
    let version = |s: &str| s.parse().unwrap_or(0);
    let mut capabilities = DriverHello::CAP_CREATE
        | DriverHello::CAP_FIRST_WRITE
        | DriverHello::CAP_CLOSE_MODIFIED
        | DriverHello::CAP_RENAME_LINK
        | DriverHello::CAP_DELETE
        | DriverHello::CAP_SET_INFO;
    if caps.object_fid {
        capabilities |= DriverHello::CAP_FILE_IDS;
    }
    DriverHello {
        driver_version: [
            version(env!("CARGO_PKG_VERSION_MAJOR")),
            version(env!("CARGO_PKG_VERSION_MINOR")),
            version(env!("CARGO_PKG_VERSION_PATCH")),
        ],
        protocol_major: PROTOCOL_MAJOR,
        protocol_minor: PROTOCOL_MINOR,
        capabilities,
        ring_capacity: caps.queue_limit,
        max_batch_bytes: u32::try_from(MAX_BATCH_LEN).unwrap_or(u32::MAX),
        send_timeout_ms: 0,
    }
}
