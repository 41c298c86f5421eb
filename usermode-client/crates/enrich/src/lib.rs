//! The enrich stage: who did it. [`ProcessCache`] answers "which process is (pid, start
//! key)?" from a bounded cache in front of a [`ProcessInspector`] that looks at the live
//! system (`/proc` on Linux, `OpenProcess` on Windows — in `picket-winport`) or at the
//! process table a capture recorded.
//!
//! The rule that matters: never the wrong process. A pid is reused as soon as its process
//! exits; the start key is not. Entries are keyed by both, inspectors refuse to describe a
//! live process whose start key differs from the event's, and entries are dropped when their
//! process ends.

mod cache;
#[cfg(unix)]
mod procfs;
mod recorded;

pub use cache::{CacheStats, ProcessCache};
#[cfg(unix)]
pub use procfs::ProcInspector;
pub use recorded::RecordedProcesses;

use picket_model::{ProcessInfo, ProcessKey, Timestamp};

/// Looks processes up on a live system (or in a recorded table).
pub trait ProcessInspector {
    /// What is known about the process `key` names. Must never describe another process:
    /// when the live process with that pid has another start key (the pid was reused), or
    /// the facts cannot be read, it returns only the key, with every other field `None`.
    /// `seen_at` is the event's time (a Windows inspector rejects a process created later).
    fn inspect(&mut self, key: ProcessKey, seen_at: Timestamp) -> ProcessInfo;

    /// Whether the process `key` names still runs. The default (for recorded tables, where
    /// keys never collide) says yes.
    fn is_alive(&mut self, key: ProcessKey) -> bool {
        let _ = key;
        true
    }

    /// The cache dropped `key`: release anything held for it (a process handle).
    fn forget(&mut self, key: ProcessKey) {
        let _ = key;
    }

    /// The account name of a numeric user id, where the host has them (Linux).
    fn user_name(&mut self, uid: u32) -> Option<String> {
        let _ = uid;
        None
    }
}

/// Knows nothing: every event gets only its pid and start key.
#[derive(Clone, Copy, Debug, Default)]
pub struct NullInspector;

impl ProcessInspector for NullInspector {
    fn inspect(&mut self, key: ProcessKey, _seen_at: Timestamp) -> ProcessInfo {
        ProcessInfo {
            key,
            ..ProcessInfo::default()
        }
    }
}
