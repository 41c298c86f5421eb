//! Netlink process-connector datagrams → [`ProcEvent`]s. Safe code only: every length is
//! checked, and anything inconsistent ends the datagram's parse (counted by the caller).

#![forbid(unsafe_code)]

const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;
/// `what`, `cpu`, `timestamp_ns` before the event's own fields.
const EVENT_HDR: usize = 16;

const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_UID: u32 = 0x0000_0004;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One process event, as the kernel sent it (thread-level events included: the tracker
/// keeps those of thread group leaders).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// `fork`/`clone`: `child_pid == child_tgid` for a new process, else a new thread.
    Fork {
        /// The parent thread group.
        parent_tgid: u32,
        /// The creating thread.
        parent_pid: u32,
        /// The new task.
        child_pid: u32,
        /// Its thread group.
        child_tgid: u32,
    },
    /// `execve` succeeded.
    Exec {
        /// The task.
        pid: u32,
        /// Its thread group.
        tgid: u32,
    },
    /// The real and effective uid changed.
    Uid {
        /// The task.
        pid: u32,
        /// Its thread group.
        tgid: u32,
        /// New effective uid.
        euid: u32,
    },
    /// A task ended (`pid == tgid`: the thread group leader, i.e. the process).
    Exit {
        /// The task.
        pid: u32,
        /// Its thread group.
        tgid: u32,
        /// The wait status (`exit_code` as `waitpid` reports it).
        exit_code: u32,
    },
    /// The connector acknowledged our subscription, or another kind we do not use.
    Other,
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    Some(u32::from_ne_bytes(bytes.get(at..end)?.try_into().ok()?))
}

/// Parses every netlink message in one datagram; `Err` names the first inconsistency (the
/// events before it are in `out`).
///
/// # Errors
/// A message whose lengths do not fit the datagram.
pub fn parse_datagram(bytes: &[u8], out: &mut Vec<ProcEvent>) -> Result<(), &'static str> {
    let mut offset = 0usize;
    while offset < bytes.len() {
        let len = u32_at(bytes, offset).ok_or("netlink header cut short")?;
        let len = usize::try_from(len).map_err(|_| "netlink length")?;
        let end = offset.checked_add(len).ok_or("netlink length")?;
        if len < NLMSG_HDR || end > bytes.len() {
            return Err("netlink length out of bounds");
        }
        let message = bytes
            .get(offset..end)
            .ok_or("netlink length out of bounds")?;
        out.push(parse_message(message)?);
        // Messages are 4-byte aligned (NLMSG_ALIGN).
        offset = end.checked_add(3).ok_or("netlink length")? & !3;
    }
    Ok(())
}

fn parse_message(message: &[u8]) -> Result<ProcEvent, &'static str> {
    let cn = message.get(NLMSG_HDR..).ok_or("no connector header")?;
    let idx = u32_at(cn, 0).ok_or("connector header cut short")?;
    let val = u32_at(cn, 4).ok_or("connector header cut short")?;
    if idx != super::sys::CN_IDX_PROC || val != super::sys::CN_VAL_PROC {
        return Ok(ProcEvent::Other);
    }
    let data = cn.get(CN_MSG..).ok_or("connector header cut short")?;
    let what = u32_at(data, 0).ok_or("process event cut short")?;
    let field = |n: usize| u32_at(data, EVENT_HDR + 4 * n).ok_or("process event cut short");
    Ok(match what {
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_pid: field(0)?,
            parent_tgid: field(1)?,
            child_pid: field(2)?,
            child_tgid: field(3)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: field(0)?,
            tgid: field(1)?,
        },
        PROC_EVENT_UID => ProcEvent::Uid {
            pid: field(0)?,
            tgid: field(1)?,
            euid: field(3)?,
        },
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: field(0)?,
            tgid: field(1)?,
            exit_code: field(2)?,
        },
        _ => ProcEvent::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, fields: &[u32]) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend_from_slice(&what.to_ne_bytes());
        data.extend_from_slice(&0u32.to_ne_bytes());
        data.extend_from_slice(&123u64.to_ne_bytes());
        for f in fields {
            data.extend_from_slice(&f.to_ne_bytes());
        }
        let mut out = Vec::new();
        let total = u32::try_from(NLMSG_HDR + CN_MSG + data.len()).unwrap();
        out.extend_from_slice(&total.to_ne_bytes());
        out.extend_from_slice(&[0u8; 12]);
        out.extend_from_slice(&1u32.to_ne_bytes());
        out.extend_from_slice(&1u32.to_ne_bytes());
        out.extend_from_slice(&[0u8; 8]);
        out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_ne_bytes());
        out.extend_from_slice(&[0u8; 2]);
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn parses_fork_exec_uid_and_exit() {
        let mut bytes = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        bytes.extend(message(PROC_EVENT_EXEC, &[11, 11]));
        bytes.extend(message(PROC_EVENT_UID, &[11, 11, 0, 1000]));
        bytes.extend(message(PROC_EVENT_EXIT, &[11, 11, 256, 17, 10, 10]));
        let mut out = Vec::new();
        parse_datagram(&bytes, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                ProcEvent::Fork {
                    parent_pid: 10,
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11
                },
                ProcEvent::Exec { pid: 11, tgid: 11 },
                ProcEvent::Uid {
                    pid: 11,
                    tgid: 11,
                    euid: 1000
                },
                ProcEvent::Exit {
                    pid: 11,
                    tgid: 11,
                    exit_code: 256
                },
            ]
        );
    }

    #[test]
    fn inconsistent_lengths_are_errors_not_panics() {
        let good = message(PROC_EVENT_EXEC, &[1, 1]);
        for cut in 0..good.len() {
            let mut bytes = good[..cut].to_vec();
            if bytes.len() >= 4 {
                bytes[..4].copy_from_slice(&u32::try_from(good.len()).unwrap().to_ne_bytes());
            }
            let mut out = Vec::new();
            assert!(parse_datagram(&bytes, &mut out).is_err() || bytes.is_empty());
        }
        let mut short = message(PROC_EVENT_EXEC, &[1]);
        let mut out = Vec::new();
        assert!(parse_datagram(&short, &mut out).is_err());
        short[..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse_datagram(&short, &mut out).is_err());
    }
}
