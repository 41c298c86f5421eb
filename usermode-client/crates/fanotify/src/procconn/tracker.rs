//! The tracker thread: reads the process connector as soon as the kernel queues an event
//! and, for an `exec`, reads `/proc/<pid>` at once — while the new program still runs — so
//! its image, command line and user are known even when it exits a millisecond later.
//! The source asks for everything up to "now" with [`Tracker::sync`] after each fanotify
//! read: the kernel queues a process event in the same system call that causes it, before
//! the process can touch a file, so every `exec` that precedes a file event of the read is
//! in the answer.
//!
//! The thread never waits for anything before it has read the `/proc` of the execs queued
//! on the socket: it empties the socket, reads every exec's `cmdline` and `exe` first (forks
//! and exits can wait), and publishes with `try_lock` — the source thread runs at normal
//! priority and may be preempted while it holds the lock; blocking on it (a priority
//! inversion) is what let short-lived programs exit before their `/proc` was read. Whatever
//! could not be published waits in the thread and goes out on its next pass, a millisecond
//! later at most.

#![forbid(unsafe_code)]

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::parse::{parse_datagram, ProcEvent};
use super::sys;

/// What `/proc/<pid>` said when it was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `stat` field 22 (0: unreadable, the process was gone).
    pub start_key: u64,
    /// `stat` field 4.
    pub parent_pid: u32,
    /// `readlink exe`.
    pub image: Option<Vec<u8>>,
    /// `cmdline` (NUL-separated).
    pub command_line: Option<Vec<u8>>,
    /// Effective uid (`status`).
    pub uid: Option<u32>,
}

impl Snapshot {
    /// Reads `/proc/<pid>`; fields that could not be read stay empty. The command line and
    /// the image go first (the command line before all: the image has a race-free second
    /// source, `FAN_OPEN_EXEC`): they are what a process that is about to exit takes with it.
    /// A pid cannot be reused within the few microseconds of these reads (the kernel hands
    /// pids out in increasing order up to `pid_max`), so no second check is needed; the
    /// start key read last names the process all of them describe.
    #[must_use]
    pub fn read(pid: u32) -> Self {
        let dir = format!("/proc/{pid}");
        let command_line = std::fs::read(format!("{dir}/cmdline"))
            .ok()
            .filter(|c| !c.is_empty());
        let image = std::fs::read_link(format!("{dir}/exe"))
            .ok()
            .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec());
        let Some((start_key, parent_pid)) = stat(&dir) else {
            return Self::default();
        };
        let uid = std::fs::read_to_string(format!("{dir}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))?
                    .split_ascii_whitespace()
                    .nth(2)?
                    .parse()
                    .ok()
            });
        Self {
            start_key,
            parent_pid,
            image,
            command_line,
            uid,
        }
    }

    /// Only the start key and parent (a fork: the rest is the parent's).
    #[must_use]
    pub fn stat_only(pid: u32) -> Self {
        stat(&format!("/proc/{pid}"))
            .map(|(start_key, parent_pid)| Self {
                start_key,
                parent_pid,
                ..Self::default()
            })
            .unwrap_or_default()
    }
}

fn stat(dir: &str) -> Option<(u64, u32)> {
    let text = std::fs::read(format!("{dir}/stat")).ok()?;
    let key = crate::process::start_key_from_stat(&text)?;
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close.checked_add(1)?..)?).ok()?;
    let ppid = rest.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some((key, ppid))
}

/// A process event with what was read about it at the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// A new process (not a thread).
    Fork {
        /// Parent thread group.
        parent: u32,
        /// The child.
        child: u32,
        /// The child's `/proc` (start key).
        snapshot: Snapshot,
    },
    /// A process executed a new image.
    Exec {
        /// The process.
        pid: u32,
        /// Its `/proc`, read at once.
        snapshot: Snapshot,
    },
    /// The effective uid changed.
    Uid {
        /// The process.
        pid: u32,
        /// New effective uid.
        euid: u32,
    },
    /// The process ended.
    Exit {
        /// The process.
        pid: u32,
        /// Wait status.
        status: u32,
    },
}

#[derive(Debug, Default)]
struct Shared {
    queue: Vec<Observed>,
    /// Sync requests answered (the thread emptied the socket after the request).
    answered: u64,
}

/// Counters of the tracker thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackerCounters {
    /// Process events read.
    pub events: u64,
    /// `exec`s whose `/proc` was already gone when read (image and command line unknown).
    pub missed_snapshots: u64,
    /// Datagrams that could not be parsed, receive overflows (`ENOBUFS`), and
    /// observations dropped while nobody read them.
    pub errors: u64,
}

/// The running tracker.
#[derive(Debug)]
pub struct Tracker {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    /// Sync requests made (outside the lock: the thread reads it without waiting).
    requested: Arc<AtomicU64>,
    wake: OwnedFd,
    stop: Arc<AtomicBool>,
    counters: Arc<[AtomicU64; 3]>,
    thread: Option<JoinHandle<()>>,
    /// Whether the thread runs under `SCHED_FIFO`.
    pub realtime: bool,
}

/// Observations held for the source at most (about 100 bytes each, plus snapshots).
const MAX_QUEUED: usize = 64 * 1024;

/// How long [`Tracker::sync`] waits for the thread before going on with what it has.
const SYNC_TIMEOUT: Duration = Duration::from_millis(200);

impl Tracker {
    /// Subscribes to process events and starts the thread.
    ///
    /// # Errors
    /// When the connector cannot be opened (not root, or a kernel without
    /// `CONFIG_PROC_EVENTS`).
    pub fn start() -> std::io::Result<Self> {
        let socket = sys::open_connector()?;
        // The thread has well under a millisecond to read a new program's `/proc`. A page
        // fault on a transparent huge page stops it for the time the kernel takes to zero
        // 2 MiB: ~0.2 ms here, and 2–3 ms on a VM whose host backs that memory page by
        // page (measured with ftrace, one such fault in the e2e `mv` loop after another
        // test freed memory; the `mv`s that started meanwhile lost their command lines).
        // The allocator (mimalloc advises huge pages for its arenas) or the system
        // (`enabled=always`) may ask for them; 4 KiB faults cost microseconds. Process-wide:
        // the kernel has no per-thread setting, and the thread's memory comes from shared
        // arenas.
        if let Err(error) = sys::disable_transparent_huge_pages() {
            tracing::warn!(
                %error,
                "transparent huge pages stay on: a huge-page fault in the process tracker can \
                 delay it past a short-lived program's exit"
            );
        }
        let (wake_read, wake_write) = sys::pipe()?;
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let requested = Arc::new(AtomicU64::new(0));
        let counters: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
        let (realtime_tx, realtime_rx) = std::sync::mpsc::channel();
        let thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            let requested = Arc::clone(&requested);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("picket-procconn".into())
                .spawn(move || {
                    let _ = realtime_tx.send(sys::realtime_thread().is_ok());
                    run(&socket, &wake_read, (&shared, &requested), &stop, &counters);
                })?
        };
        let realtime = realtime_rx.recv().unwrap_or(false);
        Ok(Self {
            shared,
            requested,
            wake: wake_write,
            stop,
            counters,
            thread: Some(thread),
            realtime,
        })
    }

    /// Everything observed until now (see the module docs), in kernel order.
    pub fn sync(&mut self) -> Vec<Observed> {
        let (lock, answered) = &*self.shared;
        let Ok(guard) = lock.lock() else {
            return Vec::new();
        };
        let want = self
            .requested
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        sys::poke(self.wake.as_fd());
        let Ok((mut guard, _)) =
            answered.wait_timeout_while(guard, SYNC_TIMEOUT, |s| s.answered < want)
        else {
            return Vec::new();
        };
        std::mem::take(&mut guard.queue)
    }

    /// Counters so far.
    #[must_use]
    pub fn counters(&self) -> TrackerCounters {
        TrackerCounters {
            events: self.counters[0].load(Ordering::Relaxed),
            missed_snapshots: self.counters[1].load(Ordering::Relaxed),
            errors: self.counters[2].load(Ordering::Relaxed),
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        sys::poke(self.wake.as_fd());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    socket: &OwnedFd,
    wake: &OwnedFd,
    (shared, requested): (&(Mutex<Shared>, Condvar), &AtomicU64),
    stop: &AtomicBool,
    counters: &[AtomicU64; 3],
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Vec::with_capacity(256);
    let mut observed = Vec::with_capacity(256);
    let mut execs: Vec<(usize, Observed)> = Vec::with_capacity(64);
    // Warm up before the first real exec: this thread's first allocations (fresh allocator
    // pages) and first `/proc` reads (code and kernel paths not yet touched) fault in
    // memory, which takes milliseconds on a VM whose host backs freed memory lazily — the
    // life of a `mv`. Reading our own `/proc` once pays that here.
    std::hint::black_box(Snapshot::read(std::process::id()));
    // Requests this thread has answered in `observed` but not yet published.
    let mut unpublished: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        // While observations wait to be published (the source thread held the lock), come
        // back within a millisecond to try again.
        let timeout = if unpublished.is_some() { 1 } else { 500 };
        let Ok([_, woken]) = sys::poll_two(socket.as_fd(), wake.as_fd(), timeout) else {
            counters[2].fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if woken {
            sys::drain_pipe(wake.as_fd());
        }
        let (lock, answered) = shared;
        // Read without the lock: this thread never waits for the source thread (which runs
        // at normal priority and may be preempted while it holds the lock) before it has
        // read the `/proc` of the execs the socket holds.
        let requested = requested.load(Ordering::SeqCst);
        // Empty the socket first, then read the `/proc` of every exec in it before
        // anything else: those reads race the programs' exit; the forks' and exits' do not.
        events.clear();
        loop {
            match sys::recv_nonblocking(socket.as_fd(), &mut buf) {
                Ok(Some(n)) => {
                    if parse_datagram(buf.get(..n).unwrap_or_default(), &mut events).is_err() {
                        counters[2].fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(None) => break,
                // ENOBUFS: the kernel dropped events for us. Counted; go on.
                Err(_) => {
                    counters[2].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        execs.clear();
        for (i, event) in events.iter().enumerate() {
            if let ProcEvent::Exec { .. } = event {
                if let Some(o) = observe(*event, counters) {
                    execs.push((i, o));
                }
            }
        }
        let mut pending = execs.drain(..).peekable();
        for (i, event) in events.iter().enumerate() {
            if pending.peek().is_some_and(|(at, _)| *at == i) {
                if let Some((_, o)) = pending.next() {
                    observed.push(o);
                }
            } else if !matches!(event, ProcEvent::Exec { .. }) {
                if let Some(o) = observe(*event, counters) {
                    observed.push(o);
                }
            }
        }
        // Every request made before this pass is answered once `observed` is published:
        // the socket was empty after it.
        unpublished = Some(unpublished.map_or(requested, |r| r.max(requested)));
        // `try_lock`: never block here either; unpublished observations keep their order
        // and go out with the next pass.
        if let Ok(mut guard) = lock.try_lock() {
            if guard.queue.len() >= MAX_QUEUED {
                // Nobody is reading (the pipeline is stalled): keep memory bounded; the
                // processes concerned fall back to `/proc` lookups. Counted.
                let lost = u64::try_from(observed.len()).unwrap_or(u64::MAX);
                counters[2].fetch_add(lost, Ordering::Relaxed);
                observed.clear();
            }
            guard.queue.append(&mut observed);
            if let Some(requested) = unpublished.take() {
                guard.answered = guard.answered.max(requested);
            }
            answered.notify_all();
        }
    }
}

fn observe(event: ProcEvent, counters: &[AtomicU64; 3]) -> Option<Observed> {
    counters[0].fetch_add(1, Ordering::Relaxed);
    match event {
        ProcEvent::Fork {
            parent_tgid,
            child_pid,
            child_tgid,
            ..
        } if child_pid == child_tgid => Some(Observed::Fork {
            parent: parent_tgid,
            child: child_tgid,
            snapshot: Snapshot::stat_only(child_tgid),
        }),
        ProcEvent::Exec { tgid, .. } => {
            let snapshot = Snapshot::read(tgid);
            if snapshot.image.is_none() {
                counters[1].fetch_add(1, Ordering::Relaxed);
                tracing::debug!(pid = tgid, "exec seen after the process was gone");
            }
            Some(Observed::Exec {
                pid: tgid,
                snapshot,
            })
        }
        ProcEvent::Uid { pid, tgid, euid } if pid == tgid => Some(Observed::Uid { pid, euid }),
        ProcEvent::Exit {
            pid,
            tgid,
            exit_code,
        } if pid == tgid => Some(Observed::Exit {
            pid,
            status: exit_code,
        }),
        _ => None,
    }
}
