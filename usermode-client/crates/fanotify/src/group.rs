//! Opening the notification group: probe what this kernel offers, newest first, and fall
//! back step by step, so the source runs on any kernel with `FAN_REPORT_DFID_NAME` (5.9+)
//! and says precisely what is missing on older ones.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::error::FanotifyError;
use crate::mask;
use crate::sys;

/// Which object the mark is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// The whole file system holding the path (`FAN_MARK_FILESYSTEM`).
    Filesystem,
    /// The mount holding the path (`FAN_MARK_MOUNT`), where a file system mark is refused.
    Mount,
}

/// The optional kernel features the group may use. All on by default: each is used where
/// the kernel has it. Turning one off makes the source behave as on a kernel without it,
/// which is how the fallbacks are tested on a new kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// `FAN_REPORT_PIDFD` (Linux 5.15). The source asks for it only without process
    /// tracking: the kernel makes a pidfd for every event at the read, which the reader
    /// must close, about two thirds of a bare reader's CPU per event.
    pub pidfd: bool,
    /// `FAN_REPORT_FID`: the object's own handle (Linux 5.1; with DFID_NAME 5.9).
    pub object_fid: bool,
    /// `FAN_REPORT_TARGET_FID` (Linux 5.17); needs `object_fid`.
    pub target_fid: bool,
    /// `FAN_RENAME` (Linux 5.17), else `MOVED_FROM`/`MOVED_TO` halves.
    pub rename_event: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            pidfd: true,
            object_fid: true,
            target_fid: true,
            rename_event: true,
        }
    }
}

impl Features {
    /// Whether a set of `fanotify_init` report flags uses only allowed features.
    const fn allows_init(self, report: u32) -> bool {
        (self.pidfd || report & libc::FAN_REPORT_PIDFD == 0)
            && (self.object_fid || report & libc::FAN_REPORT_FID == 0)
            && (self.target_fid || report & libc::FAN_REPORT_TARGET_FID == 0)
    }
}

/// What the kernel granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The `fanotify_init` flags in effect.
    pub init_flags: u32,
    /// The event mask of the mark.
    pub event_mask: u64,
    /// Where the mark is.
    pub mark: MarkKind,
    /// `FAN_RENAME` (one event with both names) rather than `MOVED_FROM`/`MOVED_TO` halves.
    pub rename_event: bool,
    /// `FAN_REPORT_TARGET_FID`: the child's handle comes with entry events.
    pub target_fid: bool,
    /// `FAN_REPORT_FID`: the object's own handle (its inode) comes with every event.
    pub object_fid: bool,
    /// `FAN_REPORT_PIDFD`: a pidfd with every event (tells an exited process apart).
    pub pidfd: bool,
    /// The group's kernel queue limit in events (see [`QUEUE_EVENTS`]), 0 when unknown.
    pub queue_limit: u32,
}

impl Capabilities {
    /// One line for humans: what the source watches and how.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = vec![match self.mark {
            MarkKind::Filesystem => "filesystem mark",
            MarkKind::Mount => "mount mark",
        }];
        parts.push(if self.rename_event {
            "FAN_RENAME"
        } else {
            "MOVED_FROM/MOVED_TO pairs"
        });
        if self.target_fid {
            parts.push("target FID");
        }
        if self.pidfd {
            parts.push("pidfd");
        }
        format!(
            "fanotify ({}, queue limit {} events)",
            parts.join(", "),
            self.queue_limit
        )
    }
}

/// How long a reader that has just emptied the queue lets events gather before it waits on
/// the group again. While nobody waits, queuing an event wakes nobody, so the writer pays
/// less per event and the reader gets hundreds of events per `read` instead of a few; the
/// queue (16 384 events by default) takes far longer than this to fill even under a flood
/// (~150 000 events/s fill it in ~100 ms). Both picket's source and the benchmark's bare
/// reader use it, so their comparison measures only what picket does with the events.
pub const GATHER_INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

const BASE_INIT: u32 = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;

/// `fanotify_init` flag sets to try, richest first.
const INIT_CHOICES: [u32; 4] = [
    libc::FAN_REPORT_DFID_NAME_TARGET | libc::FAN_REPORT_PIDFD,
    libc::FAN_REPORT_DFID_NAME_TARGET,
    libc::FAN_REPORT_DFID_NAME | libc::FAN_REPORT_FID,
    libc::FAN_REPORT_DFID_NAME,
];

/// The events every configuration asks for.
const COMMON_MASK: u64 =
    mask::CREATE | mask::MODIFY | mask::ATTRIB | mask::CLOSE_WRITE | mask::DELETE | mask::ONDIR;

/// An open notification group with its mark.
#[derive(Debug)]
pub struct Group {
    fd: OwnedFd,
    caps: Capabilities,
}

impl Group {
    /// Opens a group and marks the file system holding `path`, using the richest
    /// configuration the kernel accepts among those `features` allows.
    ///
    /// # Errors
    /// [`FanotifyError::MissingPrivilege`] without `CAP_SYS_ADMIN`,
    /// [`FanotifyError::Unsupported`] when the kernel or file system cannot report what we
    /// need, [`FanotifyError::Io`] otherwise.
    pub fn open(path: &Path, features: Features) -> Result<Self, FanotifyError> {
        let (fd, init_flags, queue_limit) = init_with_queue(features)?;
        let (mark, event_mask) = mark(fd.as_fd(), path, features.rename_event)?;
        let caps = Capabilities {
            init_flags,
            event_mask,
            mark,
            rename_event: event_mask & mask::RENAME != 0,
            target_fid: init_flags & libc::FAN_REPORT_TARGET_FID != 0,
            object_fid: init_flags & libc::FAN_REPORT_FID != 0,
            pidfd: init_flags & libc::FAN_REPORT_PIDFD != 0,
            queue_limit,
        };
        Ok(Self { fd, caps })
    }

    /// What the kernel granted.
    #[must_use]
    pub const fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// The group's descriptor.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits up to `timeout_ms` for events; `true` when some are queued.
    ///
    /// # Errors
    /// The `poll` failure.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        sys::poll_readable(self.fd.as_fd(), timeout_ms)
    }

    /// Adds `FAN_OPEN_EXEC` to the mark on the file system (or mount) holding `path`: the
    /// kernel then reports every program executed from it, with the pid, inside `execve`
    /// and so before any file event of the new program (see [`crate::procconn`]).
    ///
    /// # Errors
    /// The `fanotify_mark` failure (the mark keeps its other events).
    pub fn add_open_exec(&mut self, path: &Path) -> io::Result<()> {
        let flags = libc::FAN_MARK_ADD
            | match self.caps.mark {
                MarkKind::Filesystem => libc::FAN_MARK_FILESYSTEM,
                MarkKind::Mount => libc::FAN_MARK_MOUNT,
            };
        sys::fanotify_mark(self.fd.as_fd(), flags, mask::OPEN_EXEC, path)?;
        self.caps.event_mask |= mask::OPEN_EXEC;
        Ok(())
    }

    /// How many events the kernel's queue holds now (the group's `FIONREAD`, divided by the
    /// header length it counts per event). It walks the queue under the lock writers take
    /// to add to it, so it is asked only when a read suggests a backlog.
    ///
    /// # Errors
    /// The `ioctl` failure.
    pub fn queued_events(&self) -> io::Result<u32> {
        let per_event = u32::try_from(crate::parse::METADATA_LEN).unwrap_or(u32::MAX);
        sys::bytes_ready(self.fd.as_fd()).map(|bytes| bytes / per_event)
    }

    /// Reads queued events into `buf`; 0 when none are queued.
    ///
    /// # Errors
    /// The `read` failure (`EINVAL` when `buf` cannot hold one event).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match sys::read(self.fd.as_fd(), buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            other => other,
        }
    }
}

/// Closes the descriptors the kernel opened for one event (its pidfd, and its event fd
/// outside FID mode): a reader that only drains events must still do this, or it runs out of
/// descriptors.
pub fn release_descriptors(event: &crate::parse::RawEvent<'_>) {
    drop(event.pidfd.and_then(sys::adopt_fd));
    drop(sys::adopt_fd(event.fd));
}

/// The kernel queue a group asks for, in events: the kernel gives each group the
/// `fs.fanotify.max_queued_events` in force when it is created (16 384 by default, about
/// 0.1 s of a busy writer), and drops events beyond it. A reader that is descheduled for a
/// moment on a machine whose cores are all busy (measured: the overhead benchmark, one run
/// in five) needs more slack than that; 131 072 events bound the kernel memory a stalled
/// reader can pin to about 15 MiB, where `FAN_UNLIMITED_QUEUE` would bound nothing.
pub const QUEUE_EVENTS: u32 = 131_072;

const QUEUE_SYSCTL: &str = "/proc/sys/fs/fanotify/max_queued_events";

/// [`init`] with a queue of [`QUEUE_EVENTS`]: when the system's limit is lower, it is raised
/// for the moment the group is created and put back right after (an administrator's higher
/// value is kept as it is). Without the right to write the sysctl (a container, no root),
/// the group gets the system's limit. Returns the limit the group got as well.
fn init_with_queue(features: Features) -> Result<(OwnedFd, u32, u32), FanotifyError> {
    // Groups created at once by threads of this process (tests) must not read each other's
    // raised value as the system's.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let system = queue_limit();
    let raised = system != 0
        && system < QUEUE_EVENTS
        && std::fs::write(QUEUE_SYSCTL, QUEUE_EVENTS.to_string()).is_ok();
    let result = init(features);
    if raised {
        if let Err(error) = std::fs::write(QUEUE_SYSCTL, system.to_string()) {
            tracing::warn!(
                %error,
                "could not put fs.fanotify.max_queued_events back to {system} after creating \
                 the group with {QUEUE_EVENTS}"
            );
        }
    }
    let limit = if raised { QUEUE_EVENTS } else { system };
    result.map(|(fd, flags)| (fd, flags, limit))
}

fn init(features: Features) -> Result<(OwnedFd, u32), FanotifyError> {
    let event_f_flags =
        u32::try_from(libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC).unwrap_or_default();
    let mut last = None;
    for report in INIT_CHOICES {
        if !features.allows_init(report) {
            continue;
        }
        let flags = BASE_INIT | report;
        match sys::fanotify_init(flags, event_f_flags) {
            Ok(fd) => return Ok((fd, flags)),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                return Err(FanotifyError::MissingPrivilege {
                    capability: "CAP_SYS_ADMIN",
                    call: "fanotify_init",
                })
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                return Err(FanotifyError::Unsupported {
                    path: String::new(),
                    reason: "this kernel has no fanotify (CONFIG_FANOTIFY is off)".into(),
                })
            }
            // EINVAL: a flag this kernel does not know; try the next, poorer set.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(FanotifyError::io("fanotify_init", e)),
        }
    }
    Err(FanotifyError::Unsupported {
        path: String::new(),
        reason: format!(
            "the kernel refuses FAN_REPORT_DFID_NAME (needs Linux 5.9 or later): {}",
            last.map_or_else(String::new, |e| e.to_string())
        ),
    })
}

fn mark(
    group: BorrowedFd<'_>,
    path: &Path,
    rename_event: bool,
) -> Result<(MarkKind, u64), FanotifyError> {
    let choices = [
        (MarkKind::Filesystem, COMMON_MASK | mask::RENAME),
        (
            MarkKind::Filesystem,
            COMMON_MASK | mask::MOVED_FROM | mask::MOVED_TO,
        ),
        (MarkKind::Mount, COMMON_MASK | mask::RENAME),
        (
            MarkKind::Mount,
            COMMON_MASK | mask::MOVED_FROM | mask::MOVED_TO,
        ),
    ];
    let mut last = None;
    for (kind, event_mask) in choices {
        if !rename_event && event_mask & mask::RENAME != 0 {
            continue;
        }
        let flags = libc::FAN_MARK_ADD
            | match kind {
                MarkKind::Filesystem => libc::FAN_MARK_FILESYSTEM,
                MarkKind::Mount => libc::FAN_MARK_MOUNT,
            };
        match sys::fanotify_mark(group, flags, event_mask, path) {
            Ok(()) => return Ok((kind, event_mask)),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                return Err(FanotifyError::MissingPrivilege {
                    capability: "CAP_SYS_ADMIN",
                    call: "fanotify_mark",
                })
            }
            Err(e)
                if e.raw_os_error() == Some(libc::ENOENT)
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Err(FanotifyError::io(
                    format!("cannot watch {}", path.display()),
                    e,
                ))
            }
            // EINVAL: event or mark type unknown here; EXDEV / ENODEV / EOPNOTSUPP: this
            // file system (or subvolume) cannot report file handles for this mark type.
            Err(e) => last = Some(e),
        }
    }
    Err(FanotifyError::Unsupported {
        path: path.display().to_string(),
        reason: format!(
            "neither a file system nor a mount mark with directory entry events is accepted \
             (the file system may not support file handles, e.g. some network or FUSE \
             file systems): {}",
            last.map_or_else(String::new, |e| e.to_string())
        ),
    })
}

fn queue_limit() -> u32 {
    std::fs::read_to_string(QUEUE_SYSCTL)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
