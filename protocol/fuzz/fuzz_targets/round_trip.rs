//! Structured input: arbitrary records of every kind go through `BatchWriter` and come back
//! out of `decode_batch` equal (names past the cap cut and flagged).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use picket_protocol::{
    decode_batch, BatchFlags, BatchWriter, Body, CreateDisposition, CreateResult, Delete,
    DeleteMethod, DriverHello, EncodeError, FileCreate, FileOp, FileRef, LinkChange, Loss,
    LossReason, Name, ProcessExit, ProcessStart, Record, RecordHeader, RecordKind, SetAttributes,
    SetSize, SizeKind, Stats, MAX_BATCH_LEN, MAX_NAME_BYTES,
};

#[derive(Arbitrary, Debug)]
struct File {
    handle_id: u64,
    file_id: u128,
    is_directory: bool,
    name_normalized: bool,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Create(File, u32, u32, u32, u32),
    FirstWrite(File),
    CloseModified(File),
    Rename(File, u32),
    HardLink(File, u32),
    Delete(File, u32),
    DeleteStream(File, u32),
    SetSize(File, u64, u32),
    SetAttributes(File, u32),
    Hello([u16; 3], u16, u16, u64, u32, u32, u32),
    Stats([u64; 5], u32, u32),
    Loss(u64, u64, u64, u32),
    ProcessStart(u32, u64, u32, u32, u32, Option<u32>, bool),
    ProcessExit(u32),
    Unknown(u16, u16, Vec<u64>),
}

/// One record: the step to its sequence number, header fields, body and names.
#[derive(Arbitrary, Debug)]
struct InputRecord {
    step: u16,
    timestamp: u64,
    pid: u32,
    tid: u32,
    process_start_key: u64,
    kind: Kind,
    name: Vec<u8>,
    name_truncated: bool,
    new_name: Vec<u8>,
    new_name_truncated: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    posix: bool,
    lost: u64,
    records: Vec<InputRecord>,
}

fn file(f: &File) -> FileRef {
    FileRef {
        handle_id: f.handle_id,
        file_id: f.file_id,
        is_directory: f.is_directory,
        name_normalized: f.name_normalized,
    }
}

fn cut(name: Name<'_>) -> Name<'_> {
    Name {
        bytes: &name.bytes[..name.bytes.len().min(MAX_NAME_BYTES)],
        truncated: name.truncated || name.bytes.len() > MAX_NAME_BYTES,
    }
}

/// The typed body for `kind`; `None` for an "unknown" body carrying a known kind's tag.
fn body<'a>(
    kind: &'a Kind,
    fixed: &'a [u8],
    name: Name<'a>,
    new_name: Name<'a>,
) -> Option<Body<'a>> {
    Some(match kind {
        Kind::Create(f, d, o, a, res) => Body::FileCreate(FileCreate {
            file: file(f),
            disposition: CreateDisposition::from_raw(*d),
            create_options: *o,
            desired_access: *a,
            result: CreateResult::from_raw(*res),
            name,
        }),
        Kind::FirstWrite(f) => Body::FirstWrite(FileOp {
            file: file(f),
            name,
        }),
        Kind::CloseModified(f) => Body::CloseModified(FileOp {
            file: file(f),
            name,
        }),
        Kind::Rename(f, x) => Body::Rename(LinkChange {
            file: file(f),
            flags: *x,
            name,
            new_name,
        }),
        Kind::HardLink(f, x) => Body::HardLink(LinkChange {
            file: file(f),
            flags: *x,
            name,
            new_name,
        }),
        Kind::Delete(f, m) => Body::Delete(Delete {
            file: file(f),
            method: DeleteMethod::from_raw(*m),
            name,
        }),
        Kind::DeleteStream(f, m) => Body::DeleteStream(Delete {
            file: file(f),
            method: DeleteMethod::from_raw(*m),
            name,
        }),
        Kind::SetSize(f, s, k) => Body::SetSize(SetSize {
            file: file(f),
            new_size: *s,
            kind: SizeKind::from_raw(*k),
            name,
        }),
        Kind::SetAttributes(f, a) => Body::SetAttributes(SetAttributes {
            file: file(f),
            attributes: *a,
            name,
        }),
        Kind::Hello(v, major, minor, caps, ring, batch, timeout) => {
            Body::DriverHello(DriverHello {
                driver_version: *v,
                protocol_major: *major,
                protocol_minor: *minor,
                capabilities: *caps,
                ring_capacity: *ring,
                max_batch_bytes: *batch,
                send_timeout_ms: *timeout,
            })
        }
        Kind::Stats(n, high, cap) => Body::Stats(Stats {
            events_seen: n[0],
            events_sent: n[1],
            events_dropped: n[2],
            batches_sent: n[3],
            send_failures: n[4],
            ring_high_water: *high,
            ring_capacity: *cap,
        }),
        Kind::Loss(a, b, c, reason) => Body::Loss(Loss {
            first_lost_seq: *a,
            last_lost_seq: *b,
            count: *c,
            reason: LossReason::from_raw(*reason),
        }),
        Kind::ProcessStart(parent, parent_key, cpid, ctid, session, user, forked) => {
            Body::ProcessStart(ProcessStart {
                parent_pid: *parent,
                parent_start_key: *parent_key,
                creating_pid: *cpid,
                creating_tid: *ctid,
                session_id: *session,
                user_id: *user,
                forked: *forked,
                image: name,
                command_line: new_name,
            })
        }
        Kind::ProcessExit(status) => Body::ProcessExit(ProcessExit {
            exit_status: *status,
        }),
        Kind::Unknown(kind, flags, _) => {
            if RecordKind::from_raw(*kind).is_some_and(RecordKind::is_implemented) {
                return None;
            }
            Body::Unknown {
                kind: *kind,
                flags: *flags,
                fixed,
                name: name.bytes,
                new_name: new_name.bytes,
            }
        }
    })
}

fuzz_target!(|input: Input| {
    let flags = if input.posix {
        BatchFlags::POSIX_NAMES
    } else {
        BatchFlags::UTF16_NAMES
    };
    let fixed: Vec<Vec<u8>> = input
        .records
        .iter()
        .map(|r| match &r.kind {
            Kind::Unknown(_, _, words) => words.iter().flat_map(|w| w.to_le_bytes()).collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut seq = 0u64;
    let mut sent = Vec::new();
    let mut expected = Vec::new();
    for (r, fixed) in input.records.iter().zip(&fixed) {
        let kind = &r.kind;
        seq = seq.saturating_add(u64::from(r.step).max(1));
        let name = Name {
            bytes: &r.name,
            truncated: r.name_truncated,
        };
        let new_name = Name {
            bytes: &r.new_name,
            truncated: r.new_name_truncated,
        };
        let header = RecordHeader {
            seq,
            timestamp: r.timestamp,
            pid: r.pid,
            tid: r.tid,
            process_start_key: r.process_start_key,
        };
        let Some(body_sent) = body(kind, fixed, name, new_name) else {
            continue;
        };
        let body_expected = match kind {
            Kind::Unknown(..) => body_sent,
            _ => body(kind, fixed, cut(name), cut(new_name)).expect("known kind"),
        };
        sent.push(Record {
            header,
            body: body_sent,
        });
        expected.push(Record {
            header,
            body: body_expected,
        });
    }

    let mut out = vec![0u8; MAX_BATCH_LEN];
    let mut writer = BatchWriter::new(&mut out, flags, input.lost).expect("header fits");
    let mut pushed = Vec::new();
    for (record, want) in sent.iter().zip(&expected) {
        match writer.push(record) {
            Ok(()) => pushed.push(*want),
            Err(EncodeError::BufferTooSmall { .. }) => break,
            // Odd UTF-16 names and oversized unknown bodies are refused, never encoded.
            Err(EncodeError::OddUtf16Name | EncodeError::MalformedUnknown) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let len = writer.finish();
    let batch = decode_batch(&out[..len]).expect("the encoder's output decodes");
    assert_eq!(batch.header.lost_since_previous, input.lost);
    assert!(batch.records().eq(pushed.into_iter()));
});
