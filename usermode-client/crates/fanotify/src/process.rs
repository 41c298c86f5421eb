//! The process start key Picket pairs with a pid on Linux: field 22 of `/proc/<pid>/stat`
//! (start time in clock ticks since boot), so a reused pid never names the wrong process.

#![forbid(unsafe_code)]

use ahash::AHashMap as HashMap;

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

/// Start keys looked up during one read of the fanotify queue. Cleared after every read:
/// the events of one read are a few milliseconds apart, so a pid cannot be reused in between
/// in practice, while keeping entries longer could pair a reused pid with an old key.
#[derive(Debug, Default)]
pub struct StartKeys {
    keys: HashMap<u32, u64>,
}

impl StartKeys {
    /// The start key for `pid`; `exited` when the kernel said the process was already gone
    /// when the event was read (`FAN_EPIDFD`), in which case `/proc/<pid>` may be another
    /// process and the key is unknown (0).
    pub fn get(&mut self, pid: u32, exited: bool) -> u64 {
        if exited || pid == 0 {
            return 0;
        }
        *self.keys.entry(pid).or_insert_with(|| read_start_key(pid))
    }

    /// Forgets everything (after each read).
    pub fn clear(&mut self) {
        self.keys.clear();
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
}
