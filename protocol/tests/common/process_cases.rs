//! Golden cases of the process records (minor 1) that need more than one record or a
//! non-default batch: the Linux source's POSIX bytes, and names cut at the cap.

use super::cases::BatchCase;
use super::cases::Message;
use picket_protocol::{
    BatchFlags, Body, Name, ProcessExit, ProcessStart, Record, RecordHeader, MAX_NAME_BYTES,
};

fn header(seq: u64, pid: u32, process_start_key: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: 133_650_000_000_000_000 + seq * 10_000,
        pid,
        tid: 0,
        process_start_key,
    }
}

/// The Linux source: bash forks (a `FORKED` start: the parent's image and command line),
/// the child executes `mv` (a second start for the same pid and start key, with its own image,
/// NUL-separated command line and uid), then exits with wait status 0.
pub fn posix_case() -> Message {
    let forked = Record {
        header: header(70, 4242, 987_654),
        body: Body::ProcessStart(ProcessStart {
            parent_pid: 4100,
            parent_start_key: 900_000,
            creating_pid: 4100,
            creating_tid: 4100,
            session_id: 0,
            user_id: Some(1000),
            forked: true,
            image: Name::new(b"/usr/bin/bash"),
            command_line: Name::new(b"bash\0-i\0"),
        }),
    };
    let exec = Record {
        header: header(71, 4242, 987_654),
        body: Body::ProcessStart(ProcessStart {
            parent_pid: 4100,
            parent_start_key: 900_000,
            creating_pid: 4100,
            creating_tid: 4100,
            session_id: 0,
            user_id: Some(1000),
            forked: false,
            image: Name::new(b"/usr/bin/mv"),
            command_line: Name::new(b"mv\0a1\0b1\0"),
        }),
    };
    let exit = Record {
        header: header(72, 4242, 987_654),
        body: Body::ProcessExit(ProcessExit { exit_status: 0 }),
    };
    let records = vec![forked, exec, exit];
    Message::Batch(BatchCase {
        title: &[
            "ProcessStart/ProcessExit from the Linux source (POSIX_NAMES): bash forks (FORKED,",
            "the parent's image), the child executes mv (same pid and start key), and exits.",
        ],
        flags: BatchFlags::POSIX_NAMES,
        lost_since_previous: 0,
        encode_from: records.clone(),
        decoded: records,
        future: None,
    })
}

/// A command line longer than the cap is cut to exactly [`MAX_NAME_BYTES`] and flagged
/// `NEW_NAME_TRUNCATED`; the image stays whole.
pub fn truncated_case() -> Message {
    let long: &'static [u8] = Box::leak(
        [b"sh\0-c\0".as_slice(), &[b'x'; MAX_NAME_BYTES]]
            .concat()
            .into_boxed_slice(),
    );
    let start = |command_line: Name<'static>| Record {
        header: header(90, 777, 5_000),
        body: Body::ProcessStart(ProcessStart {
            parent_pid: 1,
            parent_start_key: 2,
            creating_pid: 1,
            creating_tid: 1,
            session_id: 0,
            user_id: Some(0),
            forked: false,
            image: Name::new(b"/bin/sh"),
            command_line,
        }),
    };
    let cut = long.get(..MAX_NAME_BYTES).expect("long enough");
    Message::Batch(BatchCase {
        title: &[
            "ProcessStart with a command line longer than 2048 bytes: cut to exactly 2048 and",
            "flagged NEW_NAME_TRUNCATED (uid 0 is a known user id: USER_ID is set).",
        ],
        flags: BatchFlags::POSIX_NAMES,
        lost_since_previous: 0,
        encode_from: vec![start(Name::new(long))],
        decoded: vec![start(Name {
            bytes: cut,
            truncated: true,
        })],
        future: None,
    })
}
