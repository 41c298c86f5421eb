//! The Linux inspector: `/proc/<pid>/{stat,exe,cmdline,status}`.
//!
//! The start key is `/proc/<pid>/stat` field 22 (`starttime`, clock ticks since boot), the
//! same value the fanotify source puts in each record. It is read before and after the other
//! files: if it differs from the event's, or changes in between, the pid now belongs to
//! another process and nothing is reported.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use picket_model::{ProcessInfo, ProcessKey, Timestamp};
use picket_parse::command_line_text;
use picket_parse::text::posix_text;

use crate::ProcessInspector;

/// Fields of `/proc/<pid>/stat` the inspector uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 4.
    pub parent_pid: u32,
    /// Field 22.
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so the fields are counted from the last `)`.
#[must_use]
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    // `rest` starts at field 3 (state).
    let parent_pid = fields.nth(1)?.parse().ok()?;
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(Stat {
        parent_pid,
        start_time,
    })
}

/// Looks processes up in a procfs tree (`/proc`, or a fake one in tests).
#[derive(Debug)]
pub struct ProcInspector {
    root: PathBuf,
    passwd: PathBuf,
    users: Option<HashMap<u32, String>>,
}

impl Default for ProcInspector {
    fn default() -> Self {
        Self::new("/proc", "/etc/passwd")
    }
}

impl ProcInspector {
    /// An inspector over `root` (procfs) with user names from `passwd`.
    pub fn new(root: impl Into<PathBuf>, passwd: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            passwd: passwd.into(),
            users: None,
        }
    }

    fn stat(&self, pid: u32) -> Option<Stat> {
        let text = std::fs::read_to_string(self.root.join(pid.to_string()).join("stat")).ok()?;
        parse_stat(&text)
    }

    fn account_name(&mut self, uid: u32) -> String {
        let passwd = &self.passwd;
        let users = self.users.get_or_insert_with(|| {
            std::fs::read_to_string(passwd)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    let uid = fields.nth(1)?.parse().ok()?;
                    Some((uid, name.to_owned()))
                })
                .collect()
        });
        users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }

    /// Effective uid from `/proc/<pid>/status`.
    fn uid(&self, pid: u32) -> Option<u32> {
        let status =
            std::fs::read_to_string(self.root.join(pid.to_string()).join("status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_ascii_whitespace().nth(2)?.parse().ok()
    }
}

impl ProcessInspector for ProcInspector {
    fn inspect(&mut self, key: ProcessKey, _seen_at: Timestamp) -> ProcessInfo {
        let unknown = ProcessInfo {
            key,
            ..ProcessInfo::default()
        };
        let same_process = |stat: Option<Stat>| {
            stat.is_some_and(|s| key.start_key == 0 || s.start_time == key.start_key)
        };
        let before = self.stat(key.pid);
        if !same_process(before) {
            return unknown;
        }
        let dir = self.root.join(key.pid.to_string());
        let image = std::fs::read_link(dir.join("exe"))
            .ok()
            .map(|p| posix_text(p.as_os_str().as_bytes()));
        let command_line = std::fs::read(dir.join("cmdline"))
            .ok()
            .filter(|raw| !raw.is_empty())
            .map(|raw| command_line_text(&raw, true));
        let uid = self.uid(key.pid);
        let after = self.stat(key.pid);
        if after.map(|s| s.start_time) != before.map(|s| s.start_time) {
            // The process ended and the pid was reused while we were reading.
            return unknown;
        }
        ProcessInfo {
            key,
            image,
            command_line,
            user: uid.map(|uid| self.account_name(uid)),
            uid,
            parent_pid: before.map(|s| s.parent_pid),
            current_directory: std::fs::read_link(dir.join("cwd"))
                .ok()
                .map(|p| posix_text(p.as_os_str().as_bytes())),
            ..ProcessInfo::default()
        }
    }

    fn user_name(&mut self, uid: u32) -> Option<String> {
        Some(self.account_name(uid))
    }

    fn is_alive(&mut self, key: ProcessKey) -> bool {
        self.stat(key.pid)
            .is_some_and(|s| key.start_key == 0 || s.start_time == key.start_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn stat_line(pid: u32, comm: &str, ppid: u32, start: u64) -> String {
        // Fields 3..=21 then starttime (22) and a few more.
        format!("{pid} ({comm}) S {ppid} 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start} 1000 10 18446744073709551615")
    }

    fn fake_process(root: &std::path::Path, pid: u32, start: u64, exe: &str, argv: &[u8]) {
        let dir = root.join(pid.to_string());
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("stat"), stat_line(pid, "we ird) (name", 1, start)).unwrap();
        fs::write(dir.join("cmdline"), argv).unwrap();
        fs::write(
            dir.join("status"),
            "Name:\tx\nUid:\t1000\t1001\t1000\t1000\n",
        )
        .unwrap();
        let _ = fs::remove_file(dir.join("exe"));
        std::os::unix::fs::symlink(exe, dir.join("exe")).unwrap();
    }

    #[test]
    fn parses_stat_with_a_hostile_command_name() {
        let stat = parse_stat(&stat_line(9, "a) 1 2 (b", 77, 123_456)).unwrap();
        assert_eq!(
            stat,
            Stat {
                parent_pid: 77,
                start_time: 123_456
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn reads_a_fake_procfs_and_refuses_a_reused_pid() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        let passwd = dir.path().join("passwd");
        fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nzoe:x:1001:1001::/home/zoe:/bin/sh\n",
        )
        .unwrap();
        fake_process(&proc_root, 42, 500, "/usr/bin/vim", b"vim\0my file.txt\0");
        let mut inspector = ProcInspector::new(&proc_root, &passwd);
        let key = ProcessKey {
            pid: 42,
            start_key: 500,
        };
        let info = inspector.inspect(key, Timestamp(0));
        assert_eq!(info.image.as_deref(), Some("/usr/bin/vim"));
        assert_eq!(info.command_line.as_deref(), Some("vim 'my file.txt'"));
        assert_eq!(info.uid, Some(1001));
        assert_eq!(info.user.as_deref(), Some("zoe"));
        assert_eq!(info.parent_pid, Some(1));
        assert!(inspector.is_alive(key));

        // pid 42 exits and is reused.
        fake_process(&proc_root, 42, 900, "/tmp/evil", b"evil\0");
        let stale = inspector.inspect(key, Timestamp(0));
        assert_eq!(
            stale,
            ProcessInfo {
                key,
                ..ProcessInfo::default()
            }
        );
        assert!(!inspector.is_alive(key));
        fs::remove_dir_all(proc_root.join("42")).unwrap();
        assert!(!inspector.is_alive(ProcessKey {
            pid: 42,
            start_key: 900
        }));
    }

    #[test]
    fn describes_this_test_process_from_the_real_procfs() {
        let pid = std::process::id();
        let start = parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).unwrap())
            .unwrap()
            .start_time;
        let mut inspector = ProcInspector::default();
        let info = inspector.inspect(
            ProcessKey {
                pid,
                start_key: start,
            },
            Timestamp(0),
        );
        let exe = std::env::current_exe().unwrap();
        assert_eq!(info.image.as_deref(), exe.to_str());
        assert!(info.command_line.is_some());
        assert!(info.user.is_some());
    }

    #[test]
    fn command_lines_quote_what_needs_quoting() {
        assert_eq!(command_line_text(b"ls\0-l\0", true), "ls -l");
        assert_eq!(
            command_line_text(b"sh\0-c\0echo 'hi'\0", true),
            r"sh -c 'echo '\''hi'\'''"
        );
        assert_eq!(command_line_text(b"a\0\0b\0", true), "a '' b");
        assert_eq!(command_line_text(b"x\xff\0", true), r"x\xFF");
    }
}
