//! Negative vectors: hand-made malformed batches, one or more per `DecodeErrorKind`, each
//! with the exact error kind and byte offset the decoder must report.
//!
//! Every case starts from a small valid batch written out byte by byte below (not produced
//! by the encoder) and patches the fields it breaks, so a reader can check each expected
//! offset against the table in `docs/PROTOCOL.md`.

#[allow(dead_code)]
mod common;

use common::hex;
use picket_protocol::{decode_batch, DecodeError, DecodeErrorKind as K, MAX_NAME_BYTES};

/// One `FirstWrite` record (seq 7, name "ab" in UTF-16LE), 120 bytes in all.
const FIRST_WRITE: &str = "
    # batch header
    50 4b 42 31   01 00   00 00   28 00   00 00   01 00 00 00   # @0  magic major minor header_len flags count
    78 00 00 00   00 00 00 00                                   # @16 total_len 120, reserved
    07 00 00 00 00 00 00 00                                     # @24 first_seq 7
    00 00 00 00 00 00 00 00                                     # @32 lost_since_previous 0
    # record @40
    50 00 00 00   02 00   00 00                                 # @40 len 80, kind FirstWrite, flags 0
    07 00 00 00 00 00 00 00                                     # @48 seq 7
    00 80 3e d5 de b1 9d 01                                     # @56 timestamp
    d8 10 00 00   28 1e 00 00                                   # @64 pid, tid
    3b 2a 00 00 00 00 00 00                                     # @72 process_start_key
    18 00   04 00   00 00   00 00                               # @80 fixed_len 24, name_len 4, new_name_len 0, reserved
    11 00 00 00 00 00 00 00                                     # @88 handle_id
    c4 a2 01 00 00 00 05 00 00 00 00 00 00 00 00 00             # @96 file_id
    61 00 62 00                                                 # @112 name \"ab\"
    00 00 00 00                                                 # @116 padding
";

/// One `Rename` record (seq 7, names "a" -> "b"), 128 bytes in all.
const RENAME: &str = "
    50 4b 42 31   01 00   00 00   28 00   00 00   01 00 00 00   # @0
    80 00 00 00   00 00 00 00                                   # @16 total_len 128
    07 00 00 00 00 00 00 00   00 00 00 00 00 00 00 00           # @24 first_seq 7, lost 0
    58 00 00 00   04 00   00 00                                 # @40 len 88, kind Rename, flags 0
    07 00 00 00 00 00 00 00                                     # @48 seq 7
    00 00 00 00 00 00 00 00   00 00 00 00   00 00 00 00         # @56 timestamp, pid, tid
    00 00 00 00 00 00 00 00                                     # @72 process_start_key
    20 00   02 00   02 00   00 00                               # @80 fixed_len 32, names 2 + 2
    00 00 00 00 00 00 00 00                                     # @88 handle_id
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00             # @96 file_id
    01 00 00 00   00 00 00 00                                   # @112 link_flags, reserved
    61 00   62 00                                               # @120 name, new_name
    00 00 00 00                                                 # @124 padding
";

/// One `Stats` record (seq 9): a control record, no names. 136 bytes.
const STATS: &str = "
    50 4b 42 31   01 00   00 00   28 00   00 00   01 00 00 00   # @0
    88 00 00 00   00 00 00 00                                   # @16 total_len 136
    09 00 00 00 00 00 00 00   00 00 00 00 00 00 00 00           # @24 first_seq 9, lost 0
    60 00 00 00   01 01   00 00                                 # @40 len 96, kind Stats, flags 0
    09 00 00 00 00 00 00 00                                     # @48 seq 9
    00 00 00 00 00 00 00 00   00 00 00 00   00 00 00 00         # @56
    00 00 00 00 00 00 00 00                                     # @72
    30 00   00 00   00 00   00 00                               # @80 fixed_len 48, no names
    01 00 00 00 00 00 00 00   01 00 00 00 00 00 00 00           # @88 seen, sent
    00 00 00 00 00 00 00 00   01 00 00 00 00 00 00 00           # @104 dropped, batches
    00 00 00 00 00 00 00 00   00 00 00 00   00 10 00 00         # @120 failures, high water, capacity
";

fn base(text: &str) -> Vec<u8> {
    let bytes = hex::parse(text);
    // The bases themselves must be valid, or every case below proves nothing.
    decode_batch(&bytes).unwrap_or_else(|e| panic!("base batch rejected: {e}"));
    bytes
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

fn put16(bytes: &mut [u8], at: usize, value: u16) {
    put(bytes, at, &value.to_le_bytes());
}

fn put32(bytes: &mut [u8], at: usize, value: u32) {
    put(bytes, at, &value.to_le_bytes());
}

fn put64(bytes: &mut [u8], at: usize, value: u64) {
    put(bytes, at, &value.to_le_bytes());
}

/// Sets the batch's `total_len` to the bytes it has (for cases that change the length).
fn fix_total(bytes: &mut [u8]) {
    let len = u32::try_from(bytes.len()).expect("small");
    put32(bytes, 16, len);
}

#[track_caller]
fn rejects(bytes: &[u8], offset: usize, kind: K) {
    let error = decode_batch(bytes).expect_err("a malformed batch must be rejected");
    assert_eq!(error, DecodeError { offset, kind });
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("at byte {offset}: ")),
        "the message names the offset: {text}"
    );
}

#[test]
fn truncated_batch_header() {
    let bytes = base(FIRST_WRITE);
    rejects(
        &bytes[..39],
        0,
        K::Truncated {
            needed: 40,
            available: 39,
        },
    );
    rejects(
        &[],
        0,
        K::Truncated {
            needed: 40,
            available: 0,
        },
    );
}

#[test]
fn truncated_record_header() {
    let mut bytes = base(FIRST_WRITE);
    bytes.truncate(48);
    fix_total(&mut bytes);
    rejects(
        &bytes,
        40,
        K::Truncated {
            needed: 48,
            available: 8,
        },
    );
}

#[test]
fn record_count_beyond_the_records_is_truncation_at_the_end() {
    let mut bytes = base(FIRST_WRITE);
    put32(&mut bytes, 12, 2);
    rejects(
        &bytes,
        120,
        K::Truncated {
            needed: 48,
            available: 0,
        },
    );
}

#[test]
fn bad_magic() {
    let mut bytes = base(FIRST_WRITE);
    bytes[3] = b'2';
    rejects(&bytes, 0, K::BadMagic(u32::from_le_bytes(*b"PKB2")));
}

#[test]
fn unsupported_major() {
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 4, 2);
    rejects(&bytes, 4, K::UnsupportedMajor(2));
    put16(&mut bytes, 4, 0);
    rejects(&bytes, 4, K::UnsupportedMajor(0));
}

#[test]
fn bad_header_length() {
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 8, 32);
    rejects(&bytes, 8, K::BadHeaderLength(32));
    put16(&mut bytes, 8, 44);
    rejects(&bytes, 8, K::BadHeaderLength(44));
    put16(&mut bytes, 8, 128);
    rejects(&bytes, 8, K::BadHeaderLength(128));
}

#[test]
fn length_mismatch() {
    let mut bytes = base(FIRST_WRITE);
    put32(&mut bytes, 16, 128);
    rejects(
        &bytes,
        16,
        K::LengthMismatch {
            declared: 128,
            actual: 120,
        },
    );
    let mut longer = base(FIRST_WRITE);
    longer.extend_from_slice(&[0; 8]);
    rejects(
        &longer,
        16,
        K::LengthMismatch {
            declared: 120,
            actual: 128,
        },
    );
}

#[test]
fn reserved_bits_in_the_batch_header() {
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 10, 0x0002);
    rejects(
        &bytes,
        10,
        K::ReservedBitsSet {
            field: "batch flags",
        },
    );
    let mut bytes = base(FIRST_WRITE);
    bytes[23] = 0x80;
    rejects(
        &bytes,
        20,
        K::ReservedBitsSet {
            field: "batch reserved",
        },
    );
}

#[test]
fn reserved_bits_in_the_record_header_and_flags() {
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 86, 1);
    rejects(
        &bytes,
        86,
        K::ReservedBitsSet {
            field: "record reserved",
        },
    );
    // NEW_NAME_TRUNCATED on a kind with one name, and an undefined bit.
    for flag in [0x0002, 0x0010, 0x8000] {
        let mut bytes = base(FIRST_WRITE);
        put16(&mut bytes, 46, flag);
        rejects(
            &bytes,
            46,
            K::ReservedBitsSet {
                field: "record flags",
            },
        );
    }
    // Control records take no flags at all.
    let mut bytes = base(STATS);
    put16(&mut bytes, 46, 0x0008);
    rejects(
        &bytes,
        46,
        K::ReservedBitsSet {
            field: "record flags",
        },
    );
}

#[test]
fn reserved_field_in_a_fixed_part() {
    let mut bytes = base(RENAME);
    bytes[116] = 1;
    rejects(
        &bytes,
        116,
        K::ReservedBitsSet {
            field: "fixed reserved",
        },
    );
}

#[test]
fn record_length_out_of_bounds() {
    for (len, why) in [
        (40, "shorter than a header"),
        (84, "unaligned"),
        (88, "past the end"),
    ] {
        let mut bytes = base(FIRST_WRITE);
        put32(&mut bytes, 40, len);
        let error = decode_batch(&bytes).expect_err(why);
        assert_eq!(
            error,
            DecodeError {
                offset: 40,
                kind: K::RecordLengthOutOfBounds(len)
            },
            "{why}"
        );
    }
}

#[test]
fn record_layout_mismatch() {
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 82, 12);
    rejects(
        &bytes,
        40,
        K::RecordLayoutMismatch {
            declared: 80,
            computed: 88,
        },
    );
    // Shorter contents than the length: 48 + 24 + 0 = 72, but the record says 80.
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 82, 0);
    rejects(
        &bytes,
        40,
        K::RecordLayoutMismatch {
            declared: 80,
            computed: 72,
        },
    );
}

#[test]
fn non_zero_padding() {
    let mut bytes = base(FIRST_WRITE);
    bytes[119] = 0xff;
    rejects(&bytes, 116, K::NonZeroPadding);
}

#[test]
fn odd_utf16_length() {
    // 48 + 24 + 3 still pads to 80: only the odd length is wrong.
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 82, 3);
    rejects(&bytes, 82, K::OddUtf16Length(3));
    let mut bytes = base(RENAME);
    put16(&mut bytes, 84, 1);
    put16(&mut bytes, 82, 3);
    rejects(&bytes, 82, K::OddUtf16Length(3));
    let mut bytes = base(RENAME);
    put16(&mut bytes, 82, 1);
    put16(&mut bytes, 84, 3);
    rejects(&bytes, 82, K::OddUtf16Length(1));
    // The same record in a POSIX batch is fine.
    put16(&mut bytes, 10, 0x0001);
    assert!(decode_batch(&bytes).is_ok());
}

#[test]
fn name_too_long() {
    let too_long = u16::try_from(MAX_NAME_BYTES + 2).expect("small");
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 82, too_long);
    rejects(&bytes, 82, K::NameTooLong(too_long));
    let mut bytes = base(RENAME);
    put16(&mut bytes, 84, u16::MAX);
    rejects(&bytes, 84, K::NameTooLong(u16::MAX));
}

#[test]
fn fixed_part_too_short_or_unaligned() {
    // 16 fixed bytes + a 12-byte name keep the record at 80 bytes: only fixed_len is wrong.
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 80, 16);
    put16(&mut bytes, 82, 12);
    rejects(
        &bytes,
        80,
        K::FixedPartTooShort {
            kind: 0x0002,
            fixed_len: 16,
            needed: 24,
        },
    );
    // Not a multiple of 8: 20 fixed bytes, an 8-byte name.
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 80, 20);
    put16(&mut bytes, 82, 8);
    rejects(
        &bytes,
        80,
        K::FixedPartTooShort {
            kind: 0x0002,
            fixed_len: 20,
            needed: 24,
        },
    );
}

#[test]
fn unexpected_names() {
    // A FirstWrite with a second name (same total length: 0 + 4 instead of 4 + 0).
    let mut bytes = base(FIRST_WRITE);
    put16(&mut bytes, 82, 0);
    put16(&mut bytes, 84, 4);
    rejects(&bytes, 84, K::UnexpectedName { kind: 0x0002 });
    // A Stats record with a name: 48 + 48 + 8 = 104.
    let mut bytes = base(STATS);
    bytes.extend_from_slice(&[0x61, 0, 0x62, 0, 0x63, 0, 0x64, 0]);
    put32(&mut bytes, 40, 104);
    put16(&mut bytes, 82, 8);
    fix_total(&mut bytes);
    rejects(&bytes, 82, K::UnexpectedName { kind: 0x0101 });
}

#[test]
fn first_sequence_mismatch() {
    let mut bytes = base(FIRST_WRITE);
    put64(&mut bytes, 24, 6);
    rejects(
        &bytes,
        48,
        K::FirstSequenceMismatch {
            header: 6,
            record: 7,
        },
    );
}

/// Two copies of the FirstWrite record, the second with sequence `second`.
fn two_records(second: u64) -> Vec<u8> {
    let one = base(FIRST_WRITE);
    let mut bytes = one.clone();
    bytes.extend_from_slice(&one[40..]);
    put32(&mut bytes, 12, 2);
    put64(&mut bytes, 120 + 8, second);
    fix_total(&mut bytes);
    bytes
}

#[test]
fn sequence_not_increasing() {
    assert!(decode_batch(&two_records(8)).is_ok());
    // A gap is loss, not an error: the decoder accepts it and the tracker reports it.
    assert!(decode_batch(&two_records(1000)).is_ok());
    for second in [7, 6, 0] {
        rejects(
            &two_records(second),
            128,
            K::SequenceNotIncreasing {
                previous: 7,
                seq: second,
            },
        );
    }
}

#[test]
fn trailing_bytes() {
    let mut bytes = base(FIRST_WRITE);
    put32(&mut bytes, 12, 0);
    rejects(&bytes, 40, K::TrailingBytes(80));
}

#[test]
fn the_first_problem_wins_in_field_order() {
    // Bad magic and a bad major: the magic is reported, at offset 0.
    let mut bytes = base(FIRST_WRITE);
    bytes[0] = 0;
    put16(&mut bytes, 4, 9);
    assert_eq!(decode_batch(&bytes).map(|_| ()).unwrap_err().offset, 0);
}
