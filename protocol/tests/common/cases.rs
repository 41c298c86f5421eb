//! The golden cases: every message kind with realistic values, as typed Rust values.
//!
//! Each case names its file under `tests/golden/`. `encode_from` is what the sender holds
//! (names may exceed the cap); `decoded` is what the client must get back from the bytes.

use super::future::{self, Future};
use picket_protocol::{
    BatchFlags, BatchWriter, Body, ClientHello, CreateDisposition, CreateResult, Delete,
    DeleteMethod, DriverHello, FileCreate, FileOp, FileRef, LinkChange, Loss, LossReason, Name,
    ProcessExit, ProcessStart, Record, RecordHeader, SetAttributes, SetSize, SizeKind, Stats,
    Verdict, VerdictReply, MAX_BATCH_LEN, MAX_NAME_BYTES, NAME_CUT_HEAD_BYTES, PROTOCOL_MAJOR,
};

/// One batch golden vector.
pub struct BatchCase {
    /// What the vector shows (comment lines on top of the file).
    pub title: &'static [&'static str],
    pub flags: BatchFlags,
    pub lost_since_previous: u64,
    /// The records as the driver (or fanotify source) hands them to the encoder.
    pub encode_from: Vec<Record<'static>>,
    /// The records the decoder must return.
    pub decoded: Vec<Record<'static>>,
    /// A newer-minor rewrite of the encoded batch, if the case is one.
    pub future: Option<Future>,
}

/// A golden vector: a batch or one of the fixed user → kernel messages.
pub enum Message {
    Batch(BatchCase),
    ClientHello(&'static [&'static str], ClientHello),
    VerdictReply(&'static [&'static str], VerdictReply),
}

/// `(file stem, message)` for every golden vector.
pub fn all() -> Vec<(&'static str, Message)> {
    vec![
        ("file_create", batch(FILE_CREATE_TITLE, vec![file_create()])),
        ("first_write", batch(&["FirstWrite: the first write through a handle."], vec![first_write()])),
        ("close_modified", batch(&["CloseModified: the handle that wrote was cleaned up."], vec![close_modified()])),
        ("rename", batch(&["Rename: report.docx renamed over report.docx.locked (ReplaceIfExists)."], vec![rename()])),
        ("hard_link", batch(&["HardLink: a second name for an existing file."], vec![hard_link()])),
        ("delete", batch(&["Delete: a directory deleted through FileDispositionInformationEx."], vec![delete()])),
        ("set_size", batch(&["SetSize: end-of-file set to 0 (truncate)."], vec![set_size()])),
        ("set_attributes", batch(&["SetAttributes: the file became hidden."], vec![set_attributes()])),
        ("driver_hello", batch(&["DriverHello: the first record after a client connects."], vec![driver_hello()])),
        ("stats", batch(&["Stats: the driver's periodic counters."], vec![stats()])),
        ("loss", loss_case()),
        ("unknown_newer_minor", newer_minor_case()),
        ("truncated_names", truncated_case()),
        ("posix_names", posix_case()),
        ("empty_with_loss", empty_case()),
        // Minor 1.
        ("delete_stream", batch(DELETE_STREAM_TITLE, vec![delete_stream()])),
        ("valid_data_length", batch(VALID_DATA_LENGTH_TITLE, vec![valid_data_length()])),
        ("refs_file_id", batch(REFS_FILE_ID_TITLE, vec![refs_first_write()])),
        ("process_start", batch(PROCESS_START_TITLE, vec![process_start()])),
        ("process_exit", batch(&["ProcessExit (minor 1): cmd.exe ended with exit code 1."], vec![process_exit()])),
        ("process_posix", super::process_cases::posix_case()),
        ("process_truncated", super::process_cases::truncated_case()),
        (
            "client_hello",
            Message::ClientHello(
                &["ClientHello: the connection context the client passes to FilterConnectCommunicationPort."],
                ClientHello::default(),
            ),
        ),
        (
            "verdict_reply",
            Message::VerdictReply(
                &["VerdictReply: user mode denies the request with sequence 4096 (reserved for prevention)."],
                VerdictReply {
                    request_seq: 4096,
                    verdict: Verdict::Deny,
                },
            ),
        ),
    ]
}

const PROCESS_START_TITLE: &[&str] = &[
    "ProcessStart (minor 1): explorer.exe starts cmd.exe. Header pid/start key name the new",
    "process; name = image, new_name = command line, UTF-16LE bytes as PS_CREATE_NOTIFY_INFO",
    "holds them.",
];

fn process_start() -> Record<'static> {
    Record {
        header: RecordHeader {
            tid: 0,
            ..header(4000)
        },
        body: Body::ProcessStart(ProcessStart {
            parent_pid: 4312,
            parent_start_key: 0x0000_0001_0000_2a3b,
            creating_pid: 4312,
            creating_tid: 7720,
            session_id: 1,
            user_id: None,
            forked: false,
            image: Name::new(utf16(&format!("{VOLUME}\\Windows\\System32\\cmd.exe"))),
            command_line: Name::new(utf16("\"C:\\Windows\\system32\\cmd.exe\" /c whoami")),
        }),
    }
}

fn process_exit() -> Record<'static> {
    Record {
        header: RecordHeader {
            seq: 4001,
            timestamp: 133_650_000_000_000_000 + 4001 * 10_000,
            pid: 5120,
            tid: 0,
            process_start_key: 0x0000_0001_0000_2a40,
        },
        body: Body::ProcessExit(ProcessExit { exit_status: 1 }),
    }
}

const FILE_CREATE_TITLE: &[&str] = &[
    "FileCreate: notepad creates report.docx (FILE_OVERWRITE_IF -> FILE_CREATED).",
    "A file record: header, 24-byte FileRef + kind fields, one UTF-16LE name, padding.",
];

fn batch(title: &'static [&'static str], records: Vec<Record<'static>>) -> Message {
    Message::Batch(BatchCase {
        title,
        flags: BatchFlags::UTF16_NAMES,
        lost_since_previous: 0,
        encode_from: records.clone(),
        decoded: records,
        future: None,
    })
}

/// Leaks `text` as UTF-16LE bytes: golden records borrow their names for `'static`.
pub fn utf16(text: &str) -> &'static [u8] {
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Box::leak(bytes.into_boxed_slice())
}

const VOLUME: &str = "\\Device\\HarddiskVolume3";

fn header(seq: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: 133_650_000_000_000_000 + seq * 10_000,
        pid: 4312,
        tid: 7720,
        process_start_key: 0x0000_0001_0000_2a3b,
    }
}

fn control_header(seq: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: 133_650_000_000_000_000 + seq * 10_000,
        pid: 0,
        tid: 0,
        process_start_key: 0,
    }
}

fn report_file() -> FileRef {
    FileRef {
        handle_id: 17,
        // NTFS: sequence 5, MFT index 0x1a2c4, zero-extended to 128 bits.
        file_id: 0x0005_0000_0001_a2c4,
        is_directory: false,
        name_normalized: true,
    }
}

fn report_name() -> Name<'static> {
    Name::new(utf16(&format!(
        "{VOLUME}\\Users\\alice\\Documents\\report.docx"
    )))
}

fn file_create() -> Record<'static> {
    Record {
        header: header(1000),
        body: Body::FileCreate(FileCreate {
            file: report_file(),
            disposition: CreateDisposition::OverwriteIf,
            // FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT
            create_options: 0x0000_0060,
            // FILE_GENERIC_READ | FILE_GENERIC_WRITE
            desired_access: 0x0012_019f,
            result: CreateResult::Created,
            name: report_name(),
        }),
    }
}

fn first_write() -> Record<'static> {
    Record {
        header: header(1001),
        body: Body::FirstWrite(FileOp {
            file: report_file(),
            name: report_name(),
        }),
    }
}

fn close_modified() -> Record<'static> {
    Record {
        header: header(1002),
        body: Body::CloseModified(FileOp {
            file: report_file(),
            name: report_name(),
        }),
    }
}

fn rename() -> Record<'static> {
    Record {
        header: header(1003),
        body: Body::Rename(LinkChange {
            file: report_file(),
            // ReplaceIfExists
            flags: 0x0000_0001,
            name: report_name(),
            new_name: Name::new(utf16(&format!(
                "{VOLUME}\\Users\\alice\\Documents\\report.docx.locked"
            ))),
        }),
    }
}

fn hard_link() -> Record<'static> {
    Record {
        header: header(1004),
        body: Body::HardLink(LinkChange {
            file: FileRef {
                handle_id: 18,
                file_id: 0x0002_0000_0000_7f10,
                is_directory: false,
                name_normalized: true,
            },
            flags: 0,
            name: Name::new(utf16(&format!("{VOLUME}\\Windows\\System32\\cmd.exe"))),
            new_name: Name::new(utf16(&format!("{VOLUME}\\Users\\Public\\svc.exe"))),
        }),
    }
}

fn delete() -> Record<'static> {
    Record {
        header: header(1005),
        body: Body::Delete(Delete {
            file: FileRef {
                handle_id: 19,
                file_id: 0x0001_0000_0000_9a00,
                is_directory: true,
                name_normalized: true,
            },
            method: DeleteMethod::DispositionEx,
            name: Name::new(utf16(&format!("{VOLUME}\\Users\\alice\\Backups"))),
        }),
    }
}

fn set_size() -> Record<'static> {
    Record {
        header: header(1006),
        body: Body::SetSize(SetSize {
            file: report_file(),
            new_size: 0,
            kind: SizeKind::EndOfFile,
            name: report_name(),
        }),
    }
}

fn set_attributes() -> Record<'static> {
    Record {
        header: header(1007),
        body: Body::SetAttributes(SetAttributes {
            file: report_file(),
            // FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_ARCHIVE
            attributes: 0x0000_0022,
            name: report_name(),
        }),
    }
}

fn driver_hello() -> Record<'static> {
    Record {
        header: control_header(1),
        body: Body::DriverHello(DriverHello {
            driver_version: [0, 1, 0],
            protocol_major: PROTOCOL_MAJOR,
            protocol_minor: 0,
            capabilities: 0xff,
            ring_capacity: 4096,
            max_batch_bytes: u32::try_from(MAX_BATCH_LEN).expect("64 KiB"),
            send_timeout_ms: 1000,
        }),
    }
}

fn stats() -> Record<'static> {
    Record {
        header: control_header(5000),
        body: Body::Stats(Stats {
            events_seen: 4999,
            events_sent: 4890,
            events_dropped: 100,
            batches_sent: 312,
            send_failures: 2,
            ring_high_water: 4096,
            ring_capacity: 4096,
        }),
    }
}

fn loss_case() -> Message {
    let record = Record {
        header: control_header(2100),
        body: Body::Loss(Loss {
            first_lost_seq: 2000,
            last_lost_seq: 2099,
            count: 100,
            reason: LossReason::RingFull,
        }),
    };
    Message::Batch(BatchCase {
        title: &[
            "Loss: sequence numbers 2000..=2099 were captured but never sent (ring full).",
            "The batch header's lost_since_previous says the same: 100.",
        ],
        flags: BatchFlags::UTF16_NAMES,
        lost_since_previous: 100,
        encode_from: vec![record],
        decoded: vec![record],
        future: None,
    })
}

fn newer_minor_case() -> Message {
    let verdict_request = Record {
        header: header(3001),
        body: Body::Unknown {
            kind: 0x0030,
            flags: 0,
            fixed: &[0x10, 0x27, 0, 0, 0, 0, 0, 0, 0xd8, 0x10, 0, 0, 0, 0, 0, 0],
            name: utf16(&format!("{VOLUME}\\Windows\\explorer.exe")),
            new_name: &[],
        },
    };
    let unknown = Record {
        header: header(3002),
        body: Body::Unknown {
            kind: 0x0040,
            flags: 0x8001,
            fixed: &[1, 2, 3, 4, 5, 6, 7, 8],
            name: &[],
            new_name: utf16("x"),
        },
    };
    let mut create = file_create();
    create.header = header(3000);
    let mut write = first_write();
    write.header = header(3003);
    let records = vec![create, verdict_request, unknown, write];
    Message::Batch(BatchCase {
        title: &[
            "A batch from a newer minor (1.2) read by a 1.1 client: the header is 8 bytes",
            "longer, FileCreate carries 8 more fixed bytes, and two kinds this version does",
            "not decode (0x0030, reserved for verdict requests, and 0x0040) are skipped by",
            "length and returned as Body::Unknown. The known records decode unchanged.",
        ],
        flags: BatchFlags::UTF16_NAMES,
        lost_since_previous: 0,
        encode_from: records.clone(),
        decoded: records,
        future: Some(Future {
            minor: 2,
            header_extension: vec![0xa1, 0xa2, 0xa3, 0xa4, 0, 0, 0, 0],
            fixed_extensions: vec![(0, vec![0xee; 8])],
        }),
    })
}

fn truncated_case() -> Message {
    // Names past the cap are cut to exactly MAX_NAME_BYTES and flagged, never dropped; since
    // 1.1 in the middle, so the final component (a.txt, b.txt.locked) is whole.
    let long_dir = "deep\\".repeat(400);
    let source = utf16(&format!("{VOLUME}\\{long_dir}a.txt"));
    let target = utf16(&format!("{VOLUME}\\{long_dir}b.txt.locked"));
    assert!(source.len() > MAX_NAME_BYTES && target.len() > MAX_NAME_BYTES);
    let exact: String = "e".repeat(MAX_NAME_BYTES / 2 - VOLUME.len() - 1);
    let exact = utf16(&format!("{VOLUME}\\{exact}"));
    assert_eq!(exact.len(), MAX_NAME_BYTES);
    let rename = |source: Name<'static>, target: Name<'static>| Record {
        header: header(4000),
        body: Body::Rename(LinkChange {
            file: report_file(),
            flags: 0,
            name: source,
            new_name: target,
        }),
    };
    let create = |name: Name<'static>| Record {
        header: header(4001),
        body: Body::FileCreate(FileCreate {
            file: report_file(),
            disposition: CreateDisposition::Open,
            create_options: 0,
            desired_access: 0x0012_0089,
            result: CreateResult::Opened,
            name,
        }),
    };
    let cut = |bytes: &'static [u8]| {
        let tail = MAX_NAME_BYTES - NAME_CUT_HEAD_BYTES;
        let kept = [&bytes[..NAME_CUT_HEAD_BYTES], &bytes[bytes.len() - tail..]].concat();
        Name {
            bytes: Box::leak(kept.into_boxed_slice()),
            truncated: true,
        }
    };
    Message::Batch(BatchCase {
        title: &[
            "Truncated names: a rename whose source and destination are both longer than",
            "MAX_NAME_BYTES (2048): both are cut to 2048 bytes in the middle (their first 512",
            "and last 1536 bytes, so the file names stay whole) and flagged NAME_TRUNCATED /",
            "NEW_NAME_TRUNCATED. Then a create whose name is exactly 2048 bytes: not cut,",
            "not flagged.",
        ],
        flags: BatchFlags::UTF16_NAMES,
        lost_since_previous: 0,
        encode_from: vec![
            rename(Name::new(source), Name::new(target)),
            create(Name::new(exact)),
        ],
        decoded: vec![rename(cut(source), cut(target)), create(Name::new(exact))],
        future: None,
    })
}

fn posix_case() -> Message {
    let linux = |seq: u64| RecordHeader {
        seq,
        timestamp: 133_650_000_000_000_000 + seq * 10_000,
        pid: 2231,
        tid: 2231,
        // Process start time in clock ticks since boot, as the fanotify source reads it.
        process_start_key: 918_273,
    };
    let inode = |ino: u128| FileRef {
        handle_id: 0,
        file_id: ino,
        is_directory: false,
        name_normalized: false,
    };
    let records = vec![
        Record {
            header: linux(10),
            body: Body::FileCreate(FileCreate {
                file: inode(1_311_234),
                disposition: CreateDisposition::OpenIf,
                create_options: 0,
                desired_access: 0,
                result: CreateResult::Created,
                // 21 bytes: odd lengths are fine in a POSIX batch.
                name: Name::new(b"/home/alice/notes.txt"),
            }),
        },
        Record {
            header: linux(11),
            body: Body::SetSize(SetSize {
                file: inode(1_311_234),
                new_size: 0,
                kind: SizeKind::Truncate,
                name: Name::new(b"/home/alice/notes.txt"),
            }),
        },
        Record {
            header: linux(12),
            body: Body::Rename(LinkChange {
                file: inode(1_311_234),
                flags: 0,
                name: Name::new(b"/home/alice/notes.txt"),
                new_name: Name::new(b"/home/alice/.notes.txt.swp"),
            }),
        },
        Record {
            header: linux(14),
            body: Body::Delete(Delete {
                file: inode(1_311_240),
                method: DeleteMethod::Unlink,
                // Not UTF-8: POSIX names are raw bytes, carried as is.
                name: Name::new(b"/tmp/\xff\xfeodd"),
            }),
        },
    ];
    Message::Batch(BatchCase {
        title: &[
            "POSIX-names batch (flags bit 0), as the Linux fanotify source writes it:",
            "names are raw bytes, odd lengths and non-UTF-8 allowed; file_id is the inode.",
            "Sequence 13 is missing: the source dropped it (lost_since_previous 1) and the",
            "client's SequenceTracker reports the gap 13..=13.",
        ],
        flags: BatchFlags::POSIX_NAMES,
        lost_since_previous: 1,
        encode_from: records.clone(),
        decoded: records,
        future: None,
    })
}

fn empty_case() -> Message {
    Message::Batch(BatchCase {
        title: &[
            "An empty batch that only reports loss: 42 records lost since the previous batch.",
            "first_seq is 0 (meaningless without records).",
        ],
        flags: BatchFlags::UTF16_NAMES,
        lost_since_previous: 42,
        encode_from: vec![],
        decoded: vec![],
        future: None,
    })
}

/// Encodes `records` as one batch the way the driver does, then applies `future`.
pub fn encode(
    flags: BatchFlags,
    lost_since_previous: u64,
    records: &[Record<'_>],
    future: Option<&Future>,
) -> Vec<u8> {
    let mut out = vec![0u8; MAX_BATCH_LEN];
    let mut writer = BatchWriter::new(&mut out, flags, lost_since_previous).expect("header fits");
    for record in records {
        writer.push(record).expect("record fits");
    }
    let len = writer.finish();
    out.truncate(len);
    match future {
        Some(future) => future::apply(&out, future),
        None => out,
    }
}

const DELETE_STREAM_TITLE: &[&str] = &[
    "DeleteStream (minor 1): the named stream report.docx:Zone.Identifier was deleted",
    "(Unblock-File, a browser clearing the mark of the web); the file itself remains.",
    "Same fixed part as Delete; a minor-0 client skips the kind by length.",
];

fn delete_stream() -> Record<'static> {
    Record {
        header: header(4000),
        body: Body::DeleteStream(Delete {
            file: FileRef {
                handle_id: 23,
                ..report_file()
            },
            method: DeleteMethod::Disposition,
            name: Name::new(utf16(&format!(
                "{VOLUME}\\Users\\alice\\Downloads\\setup.exe:Zone.Identifier"
            ))),
        }),
    }
}

const VALID_DATA_LENGTH_TITLE: &[&str] = &[
    "SetSize with kind ValidDataLength (minor 1): SetFileValidData moved the valid data",
    "length to 16 MiB without writing the bytes in between.",
];

fn valid_data_length() -> Record<'static> {
    Record {
        header: header(4001),
        body: Body::SetSize(SetSize {
            file: report_file(),
            new_size: 16 << 20,
            kind: SizeKind::ValidDataLength,
            name: report_name(),
        }),
    }
}

const REFS_FILE_ID_TITLE: &[&str] = &[
    "FirstWrite on ReFS: the 128-bit file id from FileIdInformation (FileInternalInformation",
    "returns FILE_INVALID_FILE_ID for it), FILE_ID_128 bytes read as a little-endian u128.",
];

fn refs_first_write() -> Record<'static> {
    Record {
        header: header(4002),
        body: Body::FirstWrite(FileOp {
            file: FileRef {
                handle_id: 31,
                file_id: 0x0000_0000_0000_1f2e_0000_0000_0000_0a0b,
                is_directory: false,
                name_normalized: true,
            },
            name: Name::new(utf16(&format!("{VOLUME}\\DevDrive\\src\\main.rs"))),
        }),
    }
}
