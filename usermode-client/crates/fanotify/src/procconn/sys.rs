//! The netlink process connector's system calls: one small safe function each, as in
//! [`crate::sys`] for fanotify.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `NETLINK_CONNECTOR`'s process-events channel (`CN_IDX_PROC`, `CN_VAL_PROC`).
pub const CN_IDX_PROC: u32 = 1;
/// See [`CN_IDX_PROC`].
pub const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN`: start sending process events to this socket.
const PROC_CN_MCAST_LISTEN: u32 = 1;

/// A `NETLINK_CONNECTOR` socket bound to the process-events group and subscribed to it
/// (needs `CAP_NET_ADMIN`). Its receive buffer is raised (`SO_RCVBUFFORCE`) so a burst of
/// process events does not overflow it.
pub fn open_connector() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes three integers and touches no memory of ours.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_CONNECTOR,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size: libc::c_int = 8 << 20;
    // SAFETY: the option value points at a live c_int and the length says so. Failure
    // (no CAP_NET_ADMIN) leaves the default buffer: overflows are then counted, not fatal.
    let _ = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const size).cast(),
            socklen::<libc::c_int>(),
        )
    };
    // SAFETY: an all-zero sockaddr_nl is a valid value of this plain C struct.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = u16::try_from(libc::AF_NETLINK).unwrap_or_default();
    addr.nl_groups = CN_IDX_PROC;
    // SAFETY: `addr` is a complete sockaddr_nl and the length is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            socklen::<libc::sockaddr_nl>(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let message = listen_message();
    // SAFETY: the pointer and length describe `message`, which outlives the call.
    let sent = unsafe { libc::send(fd.as_raw_fd(), message.as_ptr().cast(), message.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// `nlmsghdr` + `cn_msg` + `PROC_CN_MCAST_LISTEN`, in native byte order.
fn listen_message() -> Vec<u8> {
    let mut out = Vec::with_capacity(40);
    let total: u32 = 16 + 20 + 4;
    out.extend_from_slice(&total.to_ne_bytes()); // nlmsg_len
    out.extend_from_slice(&u16::try_from(libc::NLMSG_DONE).unwrap_or(3).to_ne_bytes()); // nlmsg_type
    out.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
    out.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    out.extend_from_slice(&std::process::id().to_ne_bytes()); // nlmsg_pid
    out.extend_from_slice(&CN_IDX_PROC.to_ne_bytes()); // cn_msg.id.idx
    out.extend_from_slice(&CN_VAL_PROC.to_ne_bytes()); // cn_msg.id.val
    out.extend_from_slice(&0u32.to_ne_bytes()); // seq
    out.extend_from_slice(&0u32.to_ne_bytes()); // ack
    out.extend_from_slice(&4u16.to_ne_bytes()); // len
    out.extend_from_slice(&0u16.to_ne_bytes()); // flags
    out.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    out
}

fn socklen<T>() -> libc::socklen_t {
    libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX)
}

/// One datagram, without waiting: `Ok(None)` when none is queued.
pub fn recv_nonblocking(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: the pointer and length describe `buf`, exclusively borrowed for the call.
    let n = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    match usize::try_from(n) {
        Ok(n) => Ok(Some(n)),
        Err(_) => {
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                io::ErrorKind::Interrupted => Ok(Some(0)),
                _ => Err(err),
            }
        }
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes; which ones are.
pub fn poll_two(a: BorrowedFd<'_>, b: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<[bool; 2]> {
    let mut pfds = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two valid, exclusively borrowed pollfds, and nfds = 2.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok([false, false]);
        }
        return Err(err);
    }
    let ready = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLERR) != 0;
    Ok([ready(&pfds[0]), ready(&pfds[1])])
}

/// Whether `fd` may hold something to read, without waiting: `false` only when `poll(2)`
/// says for certain that nothing is there (an error, a signal or `POLLERR` count as maybe).
pub fn may_have_data(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid, exclusively borrowed pollfd, nfds = 1, and no wait.
    let rc = unsafe { libc::poll(&raw mut pfd, 1, 0) };
    rc != 0
}

/// A pipe (read end, write end), both close-on-exec and non-blocking: the wake-up channel.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just created this descriptor; nobody else owns it.
    let read = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: as above, for the write end.
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    Ok((read, write))
}

/// Writes one byte (a wake-up); a full pipe already holds one, which is as good.
pub fn poke(fd: BorrowedFd<'_>) {
    let byte = [1u8];
    // SAFETY: the pointer and length describe `byte`, which outlives the call.
    let _ = unsafe { libc::write(fd.as_raw_fd(), byte.as_ptr().cast(), 1) };
}

/// Empties the wake-up pipe.
pub fn drain_pipe(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: the pointer and length describe `buf`, exclusively borrowed.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
    }
}

/// Runs the calling thread in the normal class (`SCHED_OTHER`), whatever it inherited.
pub fn normal_thread() -> io::Result<()> {
    crate::sys::set_thread_policy(libc::SCHED_OTHER, 0)
}

/// Runs the calling thread under `SCHED_FIFO` at the lowest real-time priority, so it reads
/// `/proc/<pid>` of a new program before a busy machine's other work (and before the
/// program, usually, exits). Fails without `CAP_SYS_NICE`; the caller goes on without it.
pub fn realtime_thread() -> io::Result<()> {
    crate::sys::set_thread_policy(libc::SCHED_FIFO, 1)
}

/// Tells the kernel to back none of this process's memory with transparent huge pages
/// (`PR_SET_THP_DISABLE`: every thread, from the next page fault on, whatever `madvise` asked
/// for; inherited by children). Pages that are already huge stay so.
pub fn disable_transparent_huge_pages() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integers only and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_thread_leaves_an_inherited_batch_class() {
        std::thread::spawn(|| {
            crate::sys::batch_thread().unwrap();
            normal_thread().unwrap();
            // SAFETY: pid 0 is the calling thread.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
