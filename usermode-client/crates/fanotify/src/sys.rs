//! The only place this crate talks to the kernel. Each function wraps one system call, owns
//! the file descriptors it returns (`OwnedFd`, closed on drop) and turns `-1` into an
//! `io::Error`, so no caller ever handles a raw return value or a raw pointer.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `fanotify_init(2)`: a new notification group.
pub fn fanotify_init(flags: u32, event_f_flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: fanotify_init takes two integers and touches no memory of ours.
    let fd = unsafe { libc::fanotify_init(flags, event_f_flags) };
    owned(fd)
}

/// `fanotify_mark(2)` on the object named by `path`.
pub fn fanotify_mark(group: BorrowedFd<'_>, flags: u32, mask: u64, path: &Path) -> io::Result<()> {
    let path = cstring(path)?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call; the group fd is
    // borrowed, so it is open for the duration of the call.
    let rc = unsafe {
        libc::fanotify_mark(
            group.as_raw_fd(),
            flags,
            mask,
            libc::AT_FDCWD,
            path.as_ptr(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `read(2)` into `buf`; `Ok(0)` is end of file, `WouldBlock` means nothing is queued.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buf`, which we borrow mutably for the call.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `ioctl(FIONREAD)`: the bytes a descriptor has ready to read. A fanotify group answers with
/// one event header's length per queued event, walking its queue under the lock that writers
/// take to queue theirs.
pub fn bytes_ready(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points to ours; the
    // descriptor is borrowed for the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &raw mut bytes) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(u32::try_from(bytes).unwrap_or(0))
}

/// `poll(2)` for readability; `Ok(true)` when `fd` has data before `timeout_ms` passes.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid, exclusively borrowed pollfd, and nfds = 1.
    let rc = unsafe { libc::poll(&raw mut pfd, 1, timeout_ms) };
    match rc {
        -1 => {
            let err = io::Error::last_os_error();
            // A signal (Ctrl-C) is not an error: the caller's loop checks its flags.
            if err.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(err)
            }
        }
        0 => Ok(false),
        _ => Ok(pfd.revents & libc::POLLIN != 0),
    }
}

/// Opens a directory (the mount fd `open_by_handle_at` needs).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let path = cstring(path)?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    owned(fd)
}

/// `open_by_handle_at(2)` with `O_PATH`: a descriptor for the object a file handle names
/// (needs `CAP_DAC_READ_SEARCH`). `handle` is the `f_handle` bytes, `handle_type` the
/// file system's handle type, both exactly as fanotify reported them.
pub fn open_by_handle(
    mount: BorrowedFd<'_>,
    handle_type: i32,
    handle: &[u8],
) -> io::Result<OwnedFd> {
    let handle_bytes = u32::try_from(handle.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file handle too long"))?;
    // `struct file_handle` is a u32 length, an i32 type and the bytes: build it in a u32
    // buffer so the header fields are aligned, packing the handle bytes in native order.
    let mut storage = Vec::with_capacity(2 + handle.len().div_ceil(4));
    storage.push(handle_bytes);
    storage.push(u32::from_ne_bytes(handle_type.to_ne_bytes()));
    storage.extend(handle.chunks(4).map(|chunk| {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        u32::from_ne_bytes(word)
    }));
    // SAFETY: `storage` is a 4-byte aligned buffer holding a complete `file_handle` whose
    // `handle_bytes` matches the bytes that follow; the kernel only reads it.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount.as_raw_fd(),
            storage.as_mut_ptr().cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    owned(fd)
}

/// The path the kernel has for an open descriptor (`readlink /proc/self/fd/N`).
pub fn fd_path(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    Ok(std::fs::read_link(link)?
        .into_os_string()
        .as_bytes()
        .to_vec())
}

/// Takes ownership of a descriptor the kernel handed us inside an event (a pidfd), so it
/// is closed exactly once. Negative values (`FAN_NOPIDFD`, `FAN_EPIDFD`) are not descriptors.
pub fn adopt_fd(fd: RawFd) -> Option<OwnedFd> {
    if fd < 0 {
        return None;
    }
    // SAFETY: fanotify created this descriptor for us in the read that returned it and
    // nobody else knows its number; adopting it once makes `OwnedFd` its only owner.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// This process's id.
pub fn getpid() -> u32 {
    std::process::id()
}

/// `CLOCK_BOOTTIME` in clock ticks (`USER_HZ`), rounded down: the clock and the unit of a
/// process's start time in `/proc/<pid>/stat` (field 22). 0 when it cannot be read.
pub fn boottime_ticks() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, exclusively borrowed timespec for the kernel to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &raw mut now) };
    // SAFETY: sysconf takes an integer and reads no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let (Ok(hz), Ok(secs), Ok(nanos)) = (
        u64::try_from(hz),
        u64::try_from(now.tv_sec),
        u64::try_from(now.tv_nsec),
    ) else {
        return 0;
    };
    if rc != 0 || hz == 0 {
        return 0;
    }
    secs.saturating_mul(hz)
        .saturating_add(nanos.saturating_mul(hz) / 1_000_000_000)
}

fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the system call just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `name_to_handle_at(2)`: the file handle of `path`, as (handle type, bytes). Used once at
/// start to prove that handles of this file system can be reopened.
pub fn name_to_handle(path: &Path) -> io::Result<(i32, Vec<u8>)> {
    const MAX_HANDLE_SZ: usize = 128;
    let path = cstring(path)?;
    // Header (u32 handle_bytes, i32 handle_type) and room for the largest handle, in u32
    // words so the header is aligned.
    let mut storage = [0u32; 2 + MAX_HANDLE_SZ / 4];
    storage[0] = MAX_HANDLE_SZ as u32;
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `storage` is an aligned `file_handle` whose `handle_bytes` (MAX_HANDLE_SZ)
    // matches the room after its header; `mount_id` is a valid out-pointer; `path` is
    // NUL-terminated and outlives the call.
    let rc = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            path.as_ptr(),
            storage.as_mut_ptr().cast::<libc::file_handle>(),
            &raw mut mount_id,
            0,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let len = (storage[0] as usize).min(MAX_HANDLE_SZ);
    let handle_type = i32::from_ne_bytes(storage[1].to_ne_bytes());
    let bytes: Vec<u8> = storage[2..]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .take(len)
        .collect();
    Ok((handle_type, bytes))
}

/// Sets the calling thread's nice value (Linux keeps one per thread; threads started after
/// the call inherit it). Lowering it below the current value needs `CAP_SYS_NICE`.
pub fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes three integers and touches no memory of ours; `who` 0 is the
    // calling thread.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the nice value of every thread of this process (each keeps its own; see
/// [`set_nice`]). Lowering a value below its current one needs `CAP_SYS_NICE`. A thread
/// that exits meanwhile is passed over; the first other failure is returned, after every
/// thread was tried.
pub fn set_process_nice(nice: i32) -> io::Result<()> {
    let mut first_error = None;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let Some(tid) = entry?
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::id_t>().ok())
        else {
            continue;
        };
        // SAFETY: setpriority takes three integers and touches no memory of ours.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Puts the calling thread in the `SCHED_BATCH` class (threads it starts later inherit it):
/// the same share of the CPU by its nice value as an ordinary thread, but its wake-ups never
/// preempt a running thread; it runs when the scheduler next chooses. Needs no privilege.
pub fn batch_thread() -> io::Result<()> {
    set_thread_policy(libc::SCHED_BATCH, 0)
}

/// Puts the calling thread in scheduling class `policy` at static `priority` (0 but for the
/// real-time classes).
pub fn set_thread_policy(policy: libc::c_int, priority: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` is a live, complete sched_param.
    if unsafe { libc::sched_setscheduler(0, policy, &raw const param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft limit on open descriptors to the hard limit.
pub fn raise_fd_limit() -> io::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, exclusively borrowed rlimit for the kernel to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur >= limit.rlim_max {
        return Ok(());
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit the kernel only reads.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that set nice values take turns: one sets every thread's.
    static NICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn set_nice_sets_the_calling_threads_value_only() {
        let _turn = NICE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = current_nice();
        std::thread::spawn(|| {
            // Raising the value needs no privilege.
            set_nice(7).unwrap();
            assert_eq!(current_nice(), 7);
        })
        .join()
        .unwrap();
        assert_eq!(current_nice(), before, "another thread's value is its own");
    }

    #[test]
    fn set_process_nice_sets_every_threads_value() {
        let _turn = NICE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = current_nice();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            // SAFETY: gettid takes nothing and touches no memory of ours.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = libc::id_t::try_from(tid_rx.recv().unwrap()).unwrap();
        // Raising the value needs no privilege.
        let raised = (before + 1).min(19);
        set_process_nice(raised).unwrap();
        // SAFETY: getpriority takes integers and touches no memory of ours.
        let others = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
        assert_eq!((current_nice(), others), (raised, raised));
        done_tx.send(()).unwrap();
        other.join().unwrap();
        // Put back where the test runs with the privilege to; harmless where it does not.
        let _ = set_process_nice(before);
    }

    #[test]
    fn batch_thread_changes_the_calling_threads_class_only() {
        // SAFETY: pid 0 is the calling thread.
        let before = unsafe { libc::sched_getscheduler(0) };
        std::thread::spawn(|| {
            batch_thread().unwrap();
            // SAFETY: pid 0 is the calling thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
        })
        .join()
        .unwrap();
        // SAFETY: pid 0 is the calling thread.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, before);
    }

    fn current_nice() -> i32 {
        // SAFETY: getpriority takes integers and touches no memory of ours.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }
}
