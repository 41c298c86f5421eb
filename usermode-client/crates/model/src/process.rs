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
    /// Parent process id, where known (Sysmon `ParentProcessId`).
    pub parent_pid: Option<u32>,
    /// The parent's start key, where known (names the parent even after its pid is reused).
    #[serde(default)]
    pub parent_start_key: Option<u64>,
    /// The parent's executable (Sysmon `ParentImage`), where known.
    #[serde(default)]
    pub parent_image: Option<String>,
    /// The parent's command line (Sysmon `ParentCommandLine`), where known.
    #[serde(default)]
    pub parent_command_line: Option<String>,
    /// Working directory at start (Sysmon `CurrentDirectory`), where known.
    #[serde(default)]
    pub current_directory: Option<String>,
}

impl ProcessInfo {
    /// Copies what is known about `parent` into this process's parent fields (its pid
    /// must be this process's parent pid, or the parent pid is unknown).
    pub fn adopt_parent(&mut self, parent: &Self) {
        if self.parent_pid.is_some_and(|pid| pid != parent.key.pid) {
            return;
        }
        self.parent_pid = Some(parent.key.pid);
        if parent.key.start_key != 0 {
            self.parent_start_key = Some(parent.key.start_key);
        }
        self.parent_image.clone_from(&parent.image);
        self.parent_command_line.clone_from(&parent.command_line);
    }
}
