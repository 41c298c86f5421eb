//! The process start key Picket pairs with a pid on Linux: field 22 of `/proc/<pid>/stat`
//! (start time in clock ticks since boot), so a reused pid never names the wrong process.

#![forbid(unsafe_code)]

use ahash::{AHashMap as HashMap, AHashSet as HashSet};

use crate::procconn::Observed;

/// Field 22 of a `/proc/<pid>/stat` line, or `None` when the line is not one. The command
/// name (field 2) may contain spaces and parentheses, so fields are counted after the last
/// `)`.
#[must_use]
pub fn start_key_from_stat(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close.checked_add(1)?..)?).ok()?;
    // After ")": field 3 (state) is the first; field 22 is the 20th.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Reads the start key of a live process; 0 when it is gone or unreadable (unknown, never
/// guessed).
#[must_use]
pub fn read_start_key(pid: u32) -> u64 {
    std::fs::read(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| start_key_from_stat(&stat))
        .unwrap_or(0)
}

/// Start keys read from `/proc`, kept while nothing says their pid changed hands.
///
/// A key is only as good as the pid it was read for: once the process exits, the pid may
/// be given to another. Without process tracking nothing reports exits, so the keys are
/// dropped after every read of the fanotify queue ([`StartKeys::clear`]): the events of one
/// read are milliseconds apart, and a pid cannot be reused in between in practice. With
/// it, the tracker's sync after each read holds every fork and exit before it: a key is
/// dropped when one of them names its pid ([`StartKeys::after_sync`]), and all are when a
/// sync may have missed some. An unknown key (0) is never kept. A writer that lives through
/// many reads then has its key read once, not at every read (an `open`, a `statx`, two
/// `read`s and a `close` of `/proc/<pid>/stat`, about 10 µs, every few hundred events).
#[derive(Debug, Default)]
pub struct StartKeys {
    keys: HashMap<u32, u64>,
}

/// Keys held at most: beyond, all are dropped and read again as needed.
const MAX_KEYS: usize = 4096;

impl StartKeys {
    /// The start key for `pid` (with pidfds, or without process tracking); `exited` when
    /// the kernel said the process was already gone when the event was read (`FAN_EPIDFD`),
    /// in which case `/proc/<pid>` may be another process and the key is unknown here (0;
    /// the source then asks the tracker's table, when there is one).
    pub fn get(&mut self, pid: u32, exited: bool) -> u64 {
        self.get_with(pid, exited, read_start_key)
    }

    /// [`StartKeys::get`], reading a key with `read`.
    fn get_with(&mut self, pid: u32, exited: bool, read: impl FnOnce(u32) -> u64) -> u64 {
        if exited || pid == 0 {
            return 0;
        }
        if let Some(&key) = self.keys.get(&pid) {
            return key;
        }
        // Unknown (0: gone or unreadable) is not kept: the next event asks again.
        let key = read(pid);
        if key != 0 {
            if self.keys.len() >= MAX_KEYS {
                self.keys.clear();
            }
            self.keys.insert(pid, key);
        }
        key
    }

    /// The start key for `pid` with process tracking in place of pidfds: a pid nothing put
    /// in doubt as [`StartKeys::get`] has it; one in doubt read afresh (not kept), and
    /// trusted only when its process is older than the window ([`PidChurn::held_throughout`]),
    /// else unknown here (0; the source then asks the tracker's table).
    pub fn get_unless_changed(&mut self, pid: u32, churn: &PidChurn) -> u64 {
        self.get_unless_changed_with(pid, churn, read_start_key)
    }

    fn get_unless_changed_with(
        &mut self,
        pid: u32,
        churn: &PidChurn,
        read: impl FnOnce(u32) -> u64,
    ) -> u64 {
        if pid == 0 {
            return 0;
        }
        if !churn.may_have_changed(pid) {
            return self.get_with(pid, false, read);
        }
        let key = read(pid);
        if churn.held_throughout(key) {
            key
        } else {
            0
        }
    }

    /// Forgets everything (after each read, without process tracking).
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// After a sync of the process tracker: forgets the pids that `observed` (the sync's
    /// answer) saw fork or exit, or everything when the sync was not `whole`.
    pub fn after_sync(&mut self, observed: &[Observed], whole: bool) {
        if !whole {
            self.keys.clear();
            return;
        }
        if self.keys.is_empty() {
            return;
        }
        for event in observed {
            match *event {
                Observed::Fork { child: pid, .. } | Observed::Exit { pid, .. } => {
                    self.keys.remove(&pid);
                }
                Observed::Exec { .. } | Observed::Uid { .. } => {}
            }
        }
    }
}

/// The pids whose process may have changed since the events still being read were queued:
/// what stands in for the kernel's pidfd per event when the process tracker runs.
///
/// With `FAN_REPORT_PIDFD` the kernel says, event by event, whether the process had exited
/// by the time the event was read (`FAN_EPIDFD`); its key is then never read from `/proc`,
/// where the pid may name another process by now. That pidfd is made at every read and
/// closed after it, about two thirds of a bare reader's CPU per event (1.2 of 1.85 µs,
/// measured). The tracker already sees every fork and exit, in order. fanotify events carry
/// no time, but every event of a read was queued after the last read that emptied the
/// queue, and the tracker's sync after that read holds every fork and exit since before it.
/// So a pid named by a fork or an exit in any sync since then may have changed hands under
/// an event of the current read: its events are taken as a pidfd's `FAN_EPIDFD` would have
/// them (the key from the tracker's table), but for the exception below. Every other pid
/// kept its process throughout, and `/proc` describes the process of the event.
///
/// A pid in doubt still gets its key from `/proc` when the process holding it now started
/// before the window did ([`PidChurn::held_throughout`]): start times only grow, so that
/// process held the pid under every event of the window. That keeps the keys of processes
/// older than the window (a daemon, a shell, a long build) when a sync may have missed
/// messages, or [`MAX_CHURN`] pids or more churned, and every pid is in doubt until the
/// window starts again after a read that empties the queue. A process younger than the
/// window whose pid churned gets its key from the tracker's table, which saw it fork.
#[derive(Debug, Default)]
pub struct PidChurn {
    /// When the window began (`CLOCK_BOOTTIME` in clock ticks, before the read that emptied
    /// the queue; 0 before any): every event still to be read was queued after it.
    window_start: u64,
    /// Forks and exits seen since the sync after the last read that emptied the queue.
    window: HashSet<u32>,
    /// The window may be missing some.
    window_unknown: bool,
    /// Those of the latest sync alone (where the next window starts).
    latest: HashSet<u32>,
    latest_unknown: bool,
}

/// Pids held in a window at most: beyond, every pid counts as changed.
pub const MAX_CHURN: usize = 4096;

impl PidChurn {
    /// Takes in a sync of the tracker (made after a read, before its events are
    /// translated): its answer, and whether it is `whole`.
    pub fn after_sync(&mut self, observed: &[Observed], whole: bool) {
        self.latest.clear();
        self.latest_unknown = !whole;
        for event in observed {
            if let Observed::Fork { child: pid, .. } | Observed::Exit { pid, .. } = *event {
                if self.latest.len() >= MAX_CHURN {
                    self.latest_unknown = true;
                    self.latest.clear();
                    break;
                }
                self.latest.insert(pid);
            }
        }
        self.window_unknown |= self.latest_unknown;
        if !self.window_unknown {
            self.window.extend(self.latest.iter().copied());
            if self.window.len() > MAX_CHURN {
                self.window_unknown = true;
            }
        }
        if self.window_unknown {
            self.window.clear();
        }
    }

    /// Whether `pid`'s process may have changed since the current read's events were queued.
    #[must_use]
    pub fn may_have_changed(&self, pid: u32) -> bool {
        self.window_unknown || self.window.contains(&pid)
    }

    /// After a read's events were translated: when that read emptied the queue, every later
    /// event was queued after it, so the window restarts at the sync that followed it, and
    /// at `read_began` (the boot-time clock in ticks, taken before the read).
    pub fn after_read(&mut self, emptied_queue: bool, read_began: u64) {
        if emptied_queue {
            self.window.clone_from(&self.latest);
            self.window_unknown = self.latest_unknown;
            self.window_start = read_began;
        }
    }

    /// Whether the process with start key `start_key` (read from `/proc` now) held its pid
    /// since before the window began: a tick earlier at least, since both are rounded
    /// down to ticks.
    #[must_use]
    pub fn held_throughout(&self, start_key: u64) -> bool {
        start_key != 0 && start_key < self.window_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_field_22_after_a_command_with_spaces_and_parens() {
        let line = b"1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_key_from_stat(line), Some(987_654));
    }

    #[test]
    fn rejects_lines_that_are_not_stat_lines() {
        assert_eq!(start_key_from_stat(b"garbage"), None);
        assert_eq!(start_key_from_stat(b"1 (x) S 1 2 3"), None);
        assert_eq!(start_key_from_stat(b""), None);
    }

    #[test]
    fn our_own_start_key_is_known_and_stable() {
        let pid = std::process::id();
        let key = read_start_key(pid);
        assert_ne!(key, 0);
        let mut keys = StartKeys::default();
        assert_eq!(keys.get(pid, false), key);
        assert_eq!(
            keys.get(pid, true),
            0,
            "an exited process has no trustworthy key"
        );
    }

    /// Reads counted: the key a pid had at its `n`th read is `pid * 100 + n`.
    struct Proc(std::collections::HashMap<u32, u64>);

    impl Proc {
        fn read(&mut self, pid: u32) -> u64 {
            let n = self.0.entry(pid).or_insert(0);
            *n += 1;
            u64::from(pid) * 100 + *n
        }
    }

    fn fork(child: u32) -> Observed {
        Observed::Fork {
            parent: 1,
            child,
            snapshot: crate::procconn::Snapshot::default(),
        }
    }

    fn exit(pid: u32) -> Observed {
        Observed::Exit { pid, status: 0 }
    }

    /// Reads and syncs as the source makes them: each read is followed by a sync, then its
    /// events are asked about, then the read says whether it emptied the queue.
    #[test]
    fn a_pid_counts_as_changed_from_its_fork_or_exit_until_two_drained_reads_later() {
        let mut churn = PidChurn::default();
        // Read 1 (drained): 7 exited before the sync that followed it.
        churn.after_sync(&[exit(7), fork(9)], true);
        assert!(churn.may_have_changed(7) && churn.may_have_changed(9));
        assert!(
            !churn.may_have_changed(8),
            "a pid nothing named kept its process"
        );
        churn.after_read(true, 1000);
        // Read 2: its events were queued after read 1, but 7 may have exited after that
        // (before the sync after read 1): still in doubt.
        churn.after_sync(&[Observed::Uid { pid: 8, euid: 0 }], true);
        assert!(churn.may_have_changed(7));
        assert!(
            !churn.may_have_changed(8),
            "an exec or a uid change keeps the process"
        );
        churn.after_read(false, 1000);
        // Read 3 (not drained either): the window still reaches back to read 1's sync.
        churn.after_sync(&[exit(11)], true);
        assert!(churn.may_have_changed(7) && churn.may_have_changed(11));
        churn.after_read(true, 1000);
        // Read 4: queued after read 3, which emptied the queue: only what read 3's sync
        // and this sync saw.
        churn.after_sync(&[], true);
        assert!(!churn.may_have_changed(7) && !churn.may_have_changed(9));
        assert!(churn.may_have_changed(11));
        churn.after_read(true, 1000);
        churn.after_sync(&[], true);
        assert!(!churn.may_have_changed(11));
    }

    #[test]
    fn a_sync_that_may_have_missed_messages_puts_every_pid_in_doubt_for_its_window() {
        let mut churn = PidChurn::default();
        churn.after_sync(&[], false);
        assert!(churn.may_have_changed(1234));
        churn.after_read(false, 1000);
        churn.after_sync(&[], true);
        assert!(
            churn.may_have_changed(1234),
            "the window still holds the lossy sync"
        );
        churn.after_read(true, 1000);
        churn.after_sync(&[], true);
        assert!(!churn.may_have_changed(1234));
        // Too many pids for one window: all in doubt, until it restarts.
        let many: Vec<Observed> = (1..=u32::try_from(MAX_CHURN).unwrap() + 1)
            .map(exit)
            .collect();
        churn.after_sync(&many, true);
        assert!(churn.may_have_changed(u32::MAX));
        churn.after_read(true, 1000);
        churn.after_sync(&[], true);
        assert!(
            churn.may_have_changed(u32::MAX),
            "the window restarts at that sync"
        );
        churn.after_read(true, 1000);
        churn.after_sync(&[exit(5)], true);
        assert!(!churn.may_have_changed(u32::MAX) && churn.may_have_changed(5));
    }

    #[test]
    fn a_pid_in_doubt_keeps_its_key_only_when_its_process_is_older_than_the_window() {
        let mut keys = StartKeys::default();
        let mut churn = PidChurn::default();
        // Read 1 emptied the queue; its read began at tick 1000. Read 2's sync saw 7 and 8
        // exit (or fork), and may have missed messages about anyone else.
        churn.after_sync(&[], true);
        churn.after_read(true, 1000);
        churn.after_sync(&[exit(7), exit(8)], true);
        // 7's pid now holds a process started at tick 999: it held the pid before the
        // window, so the exit was of an earlier holder, before any event still read. 8's
        // started at tick 1000, in the window's first tick: in doubt, unknown here.
        let reads = std::cell::Cell::new(0);
        let proc = |pid: u32| {
            reads.set(reads.get() + 1);
            if pid == 7 {
                999
            } else {
                1000
            }
        };
        assert_eq!(keys.get_unless_changed_with(7, &churn, proc), 999);
        assert_eq!(keys.get_unless_changed_with(8, &churn, proc), 0);
        // A pid nobody named is read once and kept.
        assert_eq!(keys.get_unless_changed_with(9, &churn, proc), 1000);
        assert_eq!(keys.get_unless_changed_with(9, &churn, proc), 1000);
        // A pid in doubt is read every time (its key is not kept), and gone is unknown.
        assert_eq!(keys.get_unless_changed_with(7, &churn, proc), 999);
        assert_eq!(keys.get_unless_changed_with(7, &churn, |_| 0), 0);
        assert_eq!(reads.get(), 4);
        // A lossy sync puts every pid in doubt: an old process keeps its key, a young one
        // is unknown here.
        churn.after_sync(&[], false);
        assert_eq!(keys.get_unless_changed_with(9, &churn, |_| 998), 998);
        assert_eq!(keys.get_unless_changed_with(9, &churn, |_| 1001), 0);
        // Before any read emptied the queue, nothing is older than the window.
        let fresh = PidChurn {
            window_unknown: true,
            ..PidChurn::default()
        };
        assert_eq!(keys.get_unless_changed_with(5, &fresh, |_| 1), 0);
    }

    #[test]
    fn a_key_is_kept_across_syncs_until_its_pid_forks_or_exits() {
        let mut proc = Proc(std::collections::HashMap::new());
        let mut keys = StartKeys::default();
        assert_eq!(keys.get_with(7, false, |p| proc.read(p)), 701);
        assert_eq!(keys.get_with(8, false, |p| proc.read(p)), 801);
        // Another process's fork and exit, an exec and a uid change of 7: both kept.
        keys.after_sync(
            &[
                fork(9),
                Observed::Exit { pid: 10, status: 0 },
                Observed::Exec {
                    pid: 7,
                    snapshot: crate::procconn::Snapshot::default(),
                },
                Observed::Uid { pid: 7, euid: 0 },
            ],
            true,
        );
        assert_eq!(keys.get_with(7, false, |p| proc.read(p)), 701);
        assert_eq!(keys.get_with(8, false, |p| proc.read(p)), 801);
        // 7 exits (its pid may be reused) and a new 8 forks: both read again.
        keys.after_sync(&[Observed::Exit { pid: 7, status: 0 }, fork(8)], true);
        assert_eq!(keys.get_with(7, false, |p| proc.read(p)), 702);
        assert_eq!(keys.get_with(8, false, |p| proc.read(p)), 802);
        // A sync that may have missed something: everything is read again.
        keys.after_sync(&[], false);
        assert_eq!(keys.get_with(7, false, |p| proc.read(p)), 703);
        assert_eq!(keys.get_with(8, false, |p| proc.read(p)), 803);
        // Without tracking, a read's keys are dropped with the read.
        keys.clear();
        assert_eq!(keys.get_with(7, false, |p| proc.read(p)), 704);
        // An exited process: no key, whatever is kept, and nothing read.
        assert_eq!(keys.get_with(7, true, |p| proc.read(p)), 0);
        assert_eq!(proc.0[&7], 4);
        // An unknown key (the process gone when read) is asked for again.
        let mut reads = 0;
        for _ in 0..2 {
            let unknown = keys.get_with(11, false, |_| {
                reads += 1;
                0
            });
            assert_eq!(unknown, 0);
        }
        assert_eq!(reads, 2);
    }

    #[test]
    fn the_kept_keys_are_bounded() {
        let mut keys = StartKeys::default();
        for pid in 1..=u32::try_from(MAX_KEYS).unwrap() + 10 {
            assert_eq!(keys.get_with(pid, false, u64::from), u64::from(pid));
            assert!(keys.keys.len() <= MAX_KEYS);
        }
    }
}
