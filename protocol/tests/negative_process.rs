//! Negative vectors of the process records (minor 1): every rule of §4.12–4.13 in
//! `docs/PROTOCOL.md` is broken once, on a batch that is valid before the change, and the
//! decoder names the rule and the offset.

use picket_protocol::{
    decode_batch, BatchFlags, BatchWriter, Body, DecodeErrorKind, Name, ProcessExit, ProcessStart,
    Record, RecordHeader, BATCH_HEADER_LEN, RECORD_HEADER_LEN,
};

fn header(seq: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: 1,
        pid: 42,
        tid: 0,
        process_start_key: 7,
    }
}

fn batch(body: Body<'_>) -> Vec<u8> {
    let mut out = vec![0u8; 8192];
    let mut writer = BatchWriter::new(&mut out, BatchFlags::POSIX_NAMES, 0).expect("header");
    writer
        .push(&Record {
            header: header(1),
            body,
        })
        .expect("fits");
    let len = writer.finish();
    out.truncate(len);
    decode_batch(&out).expect("valid before the change");
    out
}

fn start(user_id: Option<u32>) -> Body<'static> {
    Body::ProcessStart(ProcessStart {
        parent_pid: 1,
        parent_start_key: 2,
        creating_pid: 1,
        creating_tid: 1,
        session_id: 0,
        user_id,
        forked: false,
        image: Name::new(b"/usr/bin/mv"),
        command_line: Name::new(b"mv\0a\0b\0"),
    })
}

const RECORD: usize = BATCH_HEADER_LEN;
const FIXED: usize = RECORD + RECORD_HEADER_LEN;

fn set_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn rejected(bytes: &[u8]) -> (usize, DecodeErrorKind) {
    let error = decode_batch(bytes).expect_err("must be rejected");
    (error.offset, error.kind)
}

#[test]
fn a_user_id_without_its_flag_is_rejected_at_the_field() {
    let mut bytes = batch(start(None));
    set_u32(&mut bytes, FIXED + 24, 1000);
    assert_eq!(
        rejected(&bytes),
        (
            FIXED + 24,
            DecodeErrorKind::ReservedBitsSet {
                field: "user_id without USER_ID"
            }
        )
    );
}

#[test]
fn uid_zero_with_the_flag_is_root_not_unknown() {
    let bytes = batch(start(Some(0)));
    let record = decode_batch(&bytes).unwrap().records().next().unwrap();
    let Body::ProcessStart(start) = record.body else {
        panic!("not a start: {record:?}")
    };
    assert_eq!(start.user_id, Some(0));
}

#[test]
fn the_start_reserved_field_must_be_zero() {
    let mut bytes = batch(start(Some(1)));
    set_u32(&mut bytes, FIXED + 28, 1);
    assert_eq!(
        rejected(&bytes),
        (
            FIXED + 28,
            DecodeErrorKind::ReservedBitsSet {
                field: "fixed reserved"
            }
        )
    );
}

#[test]
fn flags_other_kinds_use_are_reserved_on_a_start() {
    for bit in [1u16 << 2, 1 << 3, 1 << 6, 1 << 15] {
        let mut bytes = batch(start(None));
        set_u16(&mut bytes, RECORD + 6, bit);
        assert_eq!(
            rejected(&bytes),
            (
                RECORD + 6,
                DecodeErrorKind::ReservedBitsSet {
                    field: "record flags"
                }
            ),
            "bit {bit:#x}"
        );
    }
}

#[test]
fn process_flags_are_reserved_on_file_and_exit_records() {
    let mut bytes = batch(Body::ProcessExit(ProcessExit { exit_status: 3 }));
    set_u16(&mut bytes, RECORD + 6, 1 << 4);
    assert_eq!(
        rejected(&bytes).1,
        DecodeErrorKind::ReservedBitsSet {
            field: "record flags"
        }
    );
}

#[test]
fn a_short_start_fixed_part_is_rejected() {
    // The smallest valid shape with a 24-byte fixed part: lengths agree, the kind's rule fails.
    let mut bytes = batch(Body::ProcessExit(ProcessExit { exit_status: 0 }));
    set_u16(&mut bytes, RECORD + 4, 0x0020);
    assert_eq!(
        rejected(&bytes),
        (
            RECORD + 40,
            DecodeErrorKind::FixedPartTooShort {
                kind: 0x0020,
                fixed_len: 8,
                needed: 32
            }
        )
    );
}

#[test]
fn an_exit_with_a_name_is_rejected() {
    // A start carries names; the same bytes relabelled as an exit must not.
    let mut bytes = batch(start(None));
    set_u16(&mut bytes, RECORD + 4, 0x0021);
    set_u16(&mut bytes, RECORD + 6, 0);
    assert_eq!(
        rejected(&bytes),
        (
            RECORD + 42,
            DecodeErrorKind::UnexpectedName { kind: 0x0021 }
        )
    );
}

#[test]
fn the_exit_reserved_field_must_be_zero() {
    let mut bytes = batch(Body::ProcessExit(ProcessExit { exit_status: 0 }));
    set_u32(&mut bytes, FIXED + 4, 9);
    assert_eq!(
        rejected(&bytes),
        (
            FIXED + 4,
            DecodeErrorKind::ReservedBitsSet {
                field: "fixed reserved"
            }
        )
    );
}
