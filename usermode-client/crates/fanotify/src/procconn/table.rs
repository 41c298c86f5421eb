//! The process table the source keeps from the tracker's observations, and the
//! `ProcessStart` / `ProcessExit` records it decides on.
//!
//! - An `exec` is announced at once (a `ProcessStart` with the image, command line and uid
//!   read at exec time, the parent from the fork): Sigma `process_creation` rules see every
//!   program started on the machine.
//! - A `fork` without `exec` (a shell's subshell) is announced only when it first causes a
//!   file event ([`ProcessTable::announce`]), as a `FORKED` start carrying its parent's image
//!   and command line.
//! - An exit of an announced process becomes a `ProcessExit`, held until the fanotify queue
//!   has been drained ([`ProcessTable::take_exits`]), so it follows the process's last file
//!   events. The entry stays until then: a file event read after the process is gone still
//!   gets its start key from here.
//!
//! Nothing here depends on `/proc` still describing the process: lineage, uid changes and
//! exits come from the kernel's messages, and an inherited image from the parent's entry.
//! Only an `exec`'s own image and command line are read from `/proc`, by the tracker thread
//! at the moment of the `exec`. When that read came too late, the image still comes from
//! the kernel: the `FAN_OPEN_EXEC` event queued inside `execve` ([`ProcessTable::exec_opened`]);
//! such an exec's start waits for it (at most until a read that began after the exec was
//! seen has emptied the fanotify queue, or the process's first other file event), so the
//! start still precedes the process's file events. The command line has no such source:
//! when `/proc` was gone it is unknown (empty here, `null` out).

#![forbid(unsafe_code)]

use ahash::AHashMap as HashMap;

use super::tracker::{Observed, Snapshot};

/// A `ProcessStart` to encode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Start {
    /// The process.
    pub pid: u32,
    /// Its start key (0: unknown).
    pub start_key: u64,
    /// Parent.
    pub parent_pid: u32,
    /// Parent's start key (0: unknown).
    pub parent_start_key: u64,
    /// Image path bytes (empty: unknown).
    pub image: Vec<u8>,
    /// Command line, NUL-separated (empty: unknown).
    pub command_line: Vec<u8>,
    /// Effective uid.
    pub uid: Option<u32>,
    /// A fork that has executed nothing.
    pub forked: bool,
}

/// What the table decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Announce a process.
    Start(Start),
    /// A process ended.
    Exit {
        /// The process.
        pid: u32,
        /// Its start key.
        start_key: u64,
        /// Wait status.
        status: u32,
    },
}

#[derive(Clone, Debug, Default)]
struct Entry {
    start_key: u64,
    parent: u32,
    image: Vec<u8>,
    command_line: Vec<u8>,
    uid: Option<u32>,
    executed: bool,
    announced: bool,
    exited: Option<u32>,
    /// The sync in which the exit was seen.
    exit_generation: u64,
    /// An exec whose `/proc` was gone when read: its start waits (from this sync on) for
    /// the image from its `FAN_OPEN_EXEC` event.
    exec_waiting: Option<u64>,
    /// The `FAN_OPEN_EXEC` run this process is in (see [`ProcessTable::exec_opened`]).
    run: Run,
}

/// Where a process is in its sequence of `FAN_OPEN_EXEC` events. One `execve` opens the
/// program, then (in the kernel, still inside `execve`) a `#!` interpreter and the ELF
/// interpreter (`ld.so`): a run of consecutive `FAN_OPEN_EXEC` events of one pid, ended by
/// any other file event of that pid. Its first event names the executed file. Two execs
/// with no file event between them (`env mv …`) make one run that cannot be split: only
/// the first exec may take its image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Run {
    /// No run since the last file event (or ever).
    #[default]
    None,
    /// A run began with this file and no exec has taken it.
    Open(Vec<u8>),
    /// The run's image was taken (or the exec it belongs to already had its image from
    /// `/proc`): later events of the same run are ignored.
    Taken,
    /// An exec had its image from `/proc` before its run was read: the next run is its own.
    Expected,
}

/// Counters of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// `ProcessStart` records decided (exec and forked).
    pub starts: u64,
    /// `ProcessExit` records decided.
    pub exits: u64,
    /// Parents looked up in `/proc` because the table did not know them (processes older
    /// than the source).
    pub parents_read: u64,
    /// Execs whose `/proc` was gone when read and whose image came from `FAN_OPEN_EXEC`.
    pub images_from_open_exec: u64,
    /// Execs announced with their image unknown (gone from `/proc`, and no `FAN_OPEN_EXEC`
    /// could be tied to them: the program lies on another file system, or two execs made
    /// one run).
    pub images_unknown: u64,
}

/// pid → what is known, for live processes (and exited ones until their exit is out).
#[derive(Debug)]
pub struct ProcessTable {
    entries: HashMap<u32, Entry>,
    capacity: usize,
    exits: Vec<(u64, Decision)>,
    generation: u64,
    counters: TableCounters,
    /// Reads `/proc/<pid>` for a parent the table never saw (tests substitute it).
    read: fn(u32) -> Snapshot,
}

impl ProcessTable {
    /// An empty table holding at most `capacity` processes.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self::with_reader(capacity, Snapshot::read)
    }

    /// A table whose `/proc` reads go through `read`.
    #[must_use]
    pub fn with_reader(capacity: usize, read: fn(u32) -> Snapshot) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(16),
            exits: Vec::new(),
            generation: 0,
            counters: TableCounters::default(),
            read,
        }
    }

    /// Counters so far.
    #[must_use]
    pub const fn counters(&self) -> TableCounters {
        self.counters
    }

    /// Processes held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The start key of `pid` as the table knows it (0: unknown).
    #[must_use]
    pub fn start_key(&self, pid: u32) -> u64 {
        self.entries.get(&pid).map_or(0, |e| e.start_key)
    }

    /// The entry for a process the table never saw start, read from `/proc` (it is alive:
    /// it just forked or is being asked about).
    fn known(&mut self, pid: u32) -> &mut Entry {
        if !self.entries.contains_key(&pid) {
            self.counters.parents_read += 1;
            let snap = (self.read)(pid);
            self.make_room();
            self.entries.insert(
                pid,
                Entry {
                    start_key: snap.start_key,
                    parent: snap.parent_pid,
                    image: snap.image.unwrap_or_default(),
                    command_line: snap.command_line.unwrap_or_default(),
                    uid: snap.uid,
                    executed: true,
                    announced: false,
                    exited: None,
                    exit_generation: 0,
                    exec_waiting: None,
                    run: Run::None,
                },
            );
        }
        self.entries.entry(pid).or_default()
    }

    fn make_room(&mut self) {
        if self.entries.len() >= self.capacity {
            // Forget the quiet ones (never announced): at worst a later file event of one
            // of them is attributed through the client's `/proc` fallback instead.
            self.entries.retain(|_, e| e.announced);
            if self.entries.len() >= self.capacity {
                self.entries.clear();
            }
        }
    }

    fn start_of(&self, pid: u32, entry: &Entry) -> Start {
        Start {
            pid,
            start_key: entry.start_key,
            parent_pid: entry.parent,
            parent_start_key: self.start_key(entry.parent),
            image: entry.image.clone(),
            command_line: entry.command_line.clone(),
            uid: entry.uid,
            forked: !entry.executed,
        }
    }

    /// Takes one observation; an `exec` is announced into `out` at once.
    pub fn observe(&mut self, observed: Observed, out: &mut Vec<Decision>) {
        match observed {
            Observed::Fork {
                parent,
                child,
                snapshot,
            } => {
                let inherited = {
                    let p = self.known(parent);
                    Entry {
                        start_key: snapshot.start_key,
                        parent,
                        image: p.image.clone(),
                        command_line: p.command_line.clone(),
                        uid: p.uid,
                        executed: false,
                        announced: false,
                        exited: None,
                        exit_generation: 0,
                        exec_waiting: None,
                        run: Run::None,
                    }
                };
                self.make_room();
                self.entries.insert(child, inherited);
            }
            Observed::Exec { pid, snapshot } => {
                let had = self.entries.contains_key(&pid);
                let generation = self.generation;
                let entry = self.entries.entry(pid).or_default();
                if snapshot.start_key != 0 {
                    entry.start_key = snapshot.start_key;
                }
                if !had {
                    entry.parent = snapshot.parent_pid;
                }
                entry.command_line = snapshot.command_line.unwrap_or_default();
                entry.uid = snapshot.uid.or(entry.uid);
                entry.executed = true;
                let waiting = match (snapshot.image, std::mem::take(&mut entry.run)) {
                    (Some(image), run) => {
                        entry.image = image;
                        // This exec's run is the open one, or one still to be read.
                        entry.run = match run {
                            Run::Open(_) | Run::Taken => Run::Taken,
                            Run::None | Run::Expected => Run::Expected,
                        };
                        false
                    }
                    (None, Run::Open(image)) => {
                        entry.image = image;
                        entry.run = Run::Taken;
                        self.counters.images_from_open_exec += 1;
                        false
                    }
                    (None, run) => {
                        // Its run is still to be read (`None`/`Expected`), or it merged
                        // into one already taken (`Taken`): wait for the read that tells.
                        entry.image.clear();
                        entry.run = run;
                        true
                    }
                };
                let parent = entry.parent;
                if waiting {
                    // Announced when its image is read, before its first file event, or
                    // (image unknown) once a read that began after this sync emptied the
                    // queue: see `exec_opened`, `announce`, `take_exits`.
                    entry.exec_waiting = Some(generation);
                    entry.announced = false;
                } else {
                    entry.exec_waiting = None;
                    entry.announced = true;
                }
                let entry = entry.clone();
                if parent != 0 && !self.entries.contains_key(&parent) {
                    let _ = self.known(parent);
                }
                if !waiting {
                    self.counters.starts += 1;
                    out.push(Decision::Start(self.start_of(pid, &entry)));
                }
            }
            Observed::Uid { pid, euid } => {
                if let Some(entry) = self.entries.get_mut(&pid) {
                    entry.uid = Some(euid);
                }
            }
            Observed::Exit { pid, status } => {
                let Some(entry) = self.entries.get_mut(&pid) else {
                    return;
                };
                entry.exited = Some(status);
                entry.exit_generation = self.generation;
                if entry.announced {
                    self.counters.exits += 1;
                    self.exits.push((
                        self.generation,
                        Decision::Exit {
                            pid,
                            start_key: entry.start_key,
                            status,
                        },
                    ));
                }
            }
        }
    }

    /// Before a file event of `pid`: announces it (a `FORKED` start) if it never was.
    pub fn announce(&mut self, pid: u32, out: &mut Vec<Decision>) {
        let Some(entry) = self.entries.get_mut(&pid) else {
            return;
        };
        // Any other file event ends a run of `FAN_OPEN_EXEC` events.
        entry.run = Run::None;
        if entry.announced {
            return;
        }
        if entry.exec_waiting.take().is_some() {
            // Its first file event came and no `FAN_OPEN_EXEC` before it: unknown.
            self.counters.images_unknown += 1;
        }
        entry.announced = true;
        let entry = entry.clone();
        if let Some(status) = entry.exited {
            // It ended before its file event was read: its exit follows its start.
            self.exits.push((
                entry.exit_generation,
                Decision::Exit {
                    pid,
                    start_key: entry.start_key,
                    status,
                },
            ));
            self.counters.exits += 1;
        }
        self.counters.starts += 1;
        out.push(Decision::Start(self.start_of(pid, &entry)));
    }

    /// A `FAN_OPEN_EXEC` event of `pid` for the file at `path`, in the fanotify queue's
    /// order (before any later file event of that process). The kernel queues it in
    /// `execve` itself, race-free: it gives the image of an exec whose `/proc` was gone
    /// before the tracker read it. The first event of a run (see `Run`) is the executed
    /// file; a waiting exec's start is announced with it at once.
    pub fn exec_opened(&mut self, pid: u32, path: &[u8], out: &mut Vec<Decision>) {
        let Some(entry) = self.entries.get_mut(&pid) else {
            return;
        };
        entry.run = match std::mem::take(&mut entry.run) {
            Run::None if entry.exec_waiting.is_some() => {
                entry.image = path.to_vec();
                entry.exec_waiting = None;
                entry.announced = true;
                self.counters.images_from_open_exec += 1;
                self.counters.starts += 1;
                let entry = entry.clone();
                let start = self.start_of(pid, &entry);
                if let Some(e) = self.entries.get_mut(&pid) {
                    e.run = Run::Taken;
                }
                out.push(Decision::Start(start));
                return;
            }
            Run::None => Run::Open(path.to_vec()),
            Run::Expected => Run::Taken,
            run @ (Run::Open(_) | Run::Taken) => run,
        };
    }

    /// Starts a new generation: call before each batch of observations (one tracker sync).
    pub fn next_generation(&mut self) {
        self.generation = self.generation.saturating_add(1);
    }

    /// The exits held back, and forgets the processes that ended — those seen before the
    /// current generation only. Call after a fanotify read that emptied the queue: the
    /// read began after the previous sync, so it held every file event of a process whose
    /// exit that sync saw; an exit seen in the current sync may still have events queued
    /// after the read.
    pub fn take_exits(&mut self, out: &mut Vec<Decision>) {
        let current = self.generation;
        // Execs still waiting for their image: a read that began after the sync that saw
        // them has emptied the queue, and their `FAN_OPEN_EXEC` (queued before the exec
        // message) was not in it. Announced with the image unknown, before their exits.
        let waiting: Vec<u32> = self
            .entries
            .iter()
            .filter(|(_, e)| e.exec_waiting.is_some_and(|g| g < current))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in waiting {
            self.announce(pid, out);
        }
        let mut kept = Vec::new();
        for (generation, decision) in self.exits.drain(..) {
            if generation < current {
                out.push(decision);
            } else {
                kept.push((generation, decision));
            }
        }
        self.exits = kept;
        self.entries
            .retain(|_, e| e.exited.is_none() || e.exit_generation >= current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(pid: u32) -> Snapshot {
        Snapshot {
            start_key: u64::from(pid) * 10,
            parent_pid: 1,
            image: Some(b"/usr/bin/bash".to_vec()),
            command_line: Some(b"bash\0".to_vec()),
            uid: Some(1000),
        }
    }

    #[test]
    fn an_exec_is_announced_with_its_parent_and_outlives_its_process() {
        let mut table = ProcessTable::with_reader(64, shell);
        let mut out = Vec::new();
        table.observe(
            Observed::Fork {
                parent: 100,
                child: 200,
                snapshot: Snapshot {
                    start_key: 2000,
                    parent_pid: 100,
                    ..Snapshot::default()
                },
            },
            &mut out,
        );
        assert!(out.is_empty(), "a fork alone is not announced");
        table.observe(
            Observed::Exec {
                pid: 200,
                snapshot: Snapshot {
                    start_key: 2000,
                    parent_pid: 100,
                    image: Some(b"/usr/bin/mv".to_vec()),
                    command_line: Some(b"mv\0a\0b\0".to_vec()),
                    uid: Some(1000),
                },
            },
            &mut out,
        );
        table.observe(
            Observed::Exit {
                pid: 200,
                status: 0,
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![Decision::Start(Start {
                pid: 200,
                start_key: 2000,
                parent_pid: 100,
                parent_start_key: 1000,
                image: b"/usr/bin/mv".to_vec(),
                command_line: b"mv\0a\0b\0".to_vec(),
                uid: Some(1000),
                forked: false,
            })]
        );
        // Its file events, read after the exit, still get its start key.
        assert_eq!(table.start_key(200), 2000);
        let mut exits = Vec::new();
        table.take_exits(&mut exits);
        assert!(
            exits.is_empty(),
            "not before a read that began after the exit was seen"
        );
        assert_eq!(table.start_key(200), 2000);
        table.next_generation();
        table.take_exits(&mut exits);
        assert_eq!(
            exits,
            vec![Decision::Exit {
                pid: 200,
                start_key: 2000,
                status: 0
            }]
        );
        assert_eq!(table.start_key(200), 0, "forgotten once its exit is out");
    }

    #[test]
    fn a_fork_is_announced_on_its_first_file_event_with_the_parent_image() {
        let mut table = ProcessTable::with_reader(64, shell);
        let mut out = Vec::new();
        table.observe(
            Observed::Fork {
                parent: 100,
                child: 300,
                snapshot: Snapshot {
                    start_key: 3000,
                    ..Snapshot::default()
                },
            },
            &mut out,
        );
        table.observe(Observed::Uid { pid: 300, euid: 0 }, &mut out);
        table.observe(
            Observed::Exit {
                pid: 300,
                status: 256,
            },
            &mut out,
        );
        table.announce(300, &mut out);
        table.announce(300, &mut out);
        assert_eq!(
            out,
            vec![Decision::Start(Start {
                pid: 300,
                start_key: 3000,
                parent_pid: 100,
                parent_start_key: 1000,
                image: b"/usr/bin/bash".to_vec(),
                command_line: b"bash\0".to_vec(),
                uid: Some(0),
                forked: true,
            })]
        );
        let mut exits = Vec::new();
        table.next_generation();
        table.take_exits(&mut exits);
        assert_eq!(exits.len(), 1, "its exit follows, once");
    }

    #[test]
    fn quiet_processes_leave_no_records_and_the_table_stays_bounded() {
        let mut table = ProcessTable::with_reader(16, shell);
        let mut out = Vec::new();
        for child in 1000..1100 {
            table.observe(
                Observed::Fork {
                    parent: 100,
                    child,
                    snapshot: Snapshot::default(),
                },
                &mut out,
            );
            table.observe(
                Observed::Exit {
                    pid: child,
                    status: 0,
                },
                &mut out,
            );
        }
        let mut exits = Vec::new();
        table.next_generation();
        table.take_exits(&mut exits);
        assert!(out.is_empty() && exits.is_empty());
        assert!(table.len() <= 16);
    }

    fn exec_without_proc(pid: u32) -> Observed {
        Observed::Exec {
            pid,
            snapshot: Snapshot {
                start_key: u64::from(pid) * 10,
                parent_pid: 100,
                image: None,
                command_line: None,
                uid: None,
            },
        }
    }

    fn fork(child: u32) -> Observed {
        Observed::Fork {
            parent: 100,
            child,
            snapshot: Snapshot {
                start_key: u64::from(child) * 10,
                parent_pid: 100,
                ..Snapshot::default()
            },
        }
    }

    fn images(out: &[Decision]) -> Vec<(u32, Vec<u8>)> {
        out.iter()
            .filter_map(|d| match d {
                Decision::Start(s) => Some((s.pid, s.image.clone())),
                Decision::Exit { .. } => None,
            })
            .collect()
    }

    #[test]
    fn an_exec_gone_from_proc_takes_its_image_from_open_exec_in_either_order() {
        let mut table = ProcessTable::with_reader(64, shell);
        let mut out = Vec::new();
        // The exec's message read first: its start waits for the fanotify event.
        table.observe(fork(200), &mut out);
        table.observe(exec_without_proc(200), &mut out);
        assert!(out.is_empty(), "waits for its image");
        table.exec_opened(200, b"/usr/bin/mv", &mut out);
        table.exec_opened(200, b"/usr/lib/ld-linux-x86-64.so.2", &mut out);
        table.announce(200, &mut out);
        assert_eq!(images(&out), vec![(200, b"/usr/bin/mv".to_vec())]);
        // The fanotify event read first (the exec completed after the read).
        out.clear();
        table.observe(fork(300), &mut out);
        table.exec_opened(300, b"/usr/bin/tar", &mut out);
        table.exec_opened(300, b"/usr/lib/ld-linux-x86-64.so.2", &mut out);
        table.observe(exec_without_proc(300), &mut out);
        assert_eq!(images(&out), vec![(300, b"/usr/bin/tar".to_vec())]);
        assert_eq!(table.counters().images_from_open_exec, 2);
        assert_eq!(table.counters().images_unknown, 0);
    }

    #[test]
    fn an_image_that_cannot_be_tied_to_its_exec_stays_unknown() {
        let mut table = ProcessTable::with_reader(64, shell);
        let mut out = Vec::new();
        // `env mv`: env's image read from /proc, its run not yet read; mv gone from /proc.
        table.observe(fork(400), &mut out);
        table.observe(
            Observed::Exec {
                pid: 400,
                snapshot: Snapshot {
                    image: Some(b"/usr/bin/env".to_vec()),
                    ..shell(400)
                },
            },
            &mut out,
        );
        table.observe(exec_without_proc(400), &mut out);
        // One run: env, ld.so, mv, ld.so. None of it is mv's for sure.
        for path in [
            &b"/usr/bin/env"[..],
            b"/lib/ld.so",
            b"/usr/bin/mv",
            b"/lib/ld.so",
        ] {
            table.exec_opened(400, path, &mut out);
        }
        table.announce(400, &mut out);
        assert_eq!(
            images(&out),
            vec![(400, b"/usr/bin/env".to_vec()), (400, Vec::new())]
        );
        // A program on another file system: no event; announced unknown once a later
        // read emptied the queue, before its exit.
        out.clear();
        table.observe(fork(500), &mut out);
        table.observe(exec_without_proc(500), &mut out);
        table.observe(
            Observed::Exit {
                pid: 500,
                status: 0,
            },
            &mut out,
        );
        table.take_exits(&mut out);
        assert!(
            out.is_empty(),
            "not before a read that began after the sync"
        );
        table.next_generation();
        table.take_exits(&mut out);
        assert_eq!(images(&out), vec![(500, Vec::new())]);
        assert!(matches!(out.last(), Some(Decision::Exit { pid: 500, .. })));
        assert_eq!(table.counters().images_unknown, 2);
    }
}
