use serde::{Deserialize, Serialize};

/// Names a process for its whole life: a pid alone is reused, (pid, start key) is not.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ProcessKey {
    /// Process id.
    pub pid: u32,
    /// `PsGetProcessStartKey` on Windows, start time in clock ticks since boot on Linux;
    /// 0 when unknown.
    pub start_key: u64,
}

/// What enrichment knows about the process behind an event. Unknown fields stay `None`:
/// a short-lived process may be gone before it is looked at, and that is said, not guessed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Which process.
    pub key: ProcessKey,
    /// Full path of the executable (Sysmon `Image`).
    pub image: Option<String>,
    /// Command line (Sysmon `CommandLine`).
    pub command_line: Option<String>,
    /// Account, `DOMAIN\user` on Windows, user name (or uid) on Linux (Sysmon `User`).
    pub user: Option<String>,
    /// Numeric user id where the host has one (Linux uid).
    pub uid: Option<u32>,
    /// Parent process id, where known.
    pub parent_pid: Option<u32>,
}
