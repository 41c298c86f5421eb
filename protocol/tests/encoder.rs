//! The encoder's refusals: every `EncodeError` the driver can get, and what a failed push
//! leaves behind (nothing: the batch is as it was).

use picket_protocol::{
    decode_batch, encode_record, encoded_len, BatchFlags, BatchWriter, Body, EncodeError, FileOp,
    FileRef, Name, Record, RecordHeader, Stats, BATCH_HEADER_LEN, MAX_NAME_BYTES,
};

fn write(seq: u64, name: &[u8]) -> Record<'_> {
    Record {
        header: RecordHeader {
            seq,
            ..RecordHeader::default()
        },
        body: Body::FirstWrite(FileOp {
            file: FileRef::default(),
            name: Name::new(name),
        }),
    }
}

fn encoded(record: &Record<'_>) -> Vec<u8> {
    let mut out = vec![0u8; 8192];
    let len = encode_record(record, &mut out).expect("fits");
    out.truncate(len);
    out
}

#[test]
fn encode_record_says_how_much_it_needs_and_touches_nothing_past_it() {
    let record = write(1, b"a\0b\0");
    let needed = encoded_len(&record).expect("encodable");
    assert_eq!(needed, 80);
    let mut short = vec![0xAA; needed - 1];
    assert_eq!(
        encode_record(&record, &mut short),
        Err(EncodeError::BufferTooSmall {
            needed,
            available: needed - 1
        })
    );
    let mut out = vec![0xAA; needed + 16];
    assert_eq!(encode_record(&record, &mut out), Ok(needed));
    assert!(out[needed..].iter().all(|&byte| byte == 0xAA));
}

#[test]
fn unknown_bodies_are_checked() {
    let known = Record {
        header: RecordHeader::default(),
        body: Body::Unknown {
            kind: 0x0001,
            flags: 0,
            fixed: &[],
            name: &[],
            new_name: &[],
        },
    };
    let mut out = [0u8; 256];
    assert_eq!(
        encode_record(&known, &mut out),
        Err(EncodeError::KnownKindAsUnknown(1))
    );
    let long_name = vec![0u8; MAX_NAME_BYTES + 2];
    for (fixed, name) in [(&[0u8; 12][..], &[][..]), (&[0u8; 8][..], &long_name[..])] {
        let malformed = Record {
            header: RecordHeader::default(),
            body: Body::Unknown {
                kind: 0x0777,
                flags: 0,
                fixed,
                name,
                new_name: &[],
            },
        };
        assert_eq!(
            encode_record(&malformed, &mut out),
            Err(EncodeError::MalformedUnknown)
        );
        assert_eq!(encoded_len(&malformed), None);
    }
}

#[test]
fn batch_writer_needs_room_for_its_header() {
    let mut out = [0u8; BATCH_HEADER_LEN - 1];
    assert_eq!(
        BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 0).map(|_| ()),
        Err(EncodeError::BufferTooSmall {
            needed: BATCH_HEADER_LEN,
            available: BATCH_HEADER_LEN - 1
        })
    );
}

#[test]
fn a_failed_push_leaves_the_batch_as_it_was() {
    let mut out = vec![0u8; BATCH_HEADER_LEN + 80 + 40];
    let mut writer = BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 0).expect("header");
    writer.push(&write(1, b"a\0b\0")).expect("first fits");
    assert_eq!(writer.remaining(), 40);
    let error = writer.push(&write(2, b"a\0b\0")).unwrap_err();
    assert_eq!(
        error,
        EncodeError::BufferTooSmall {
            needed: 80,
            available: 40
        }
    );
    assert_eq!(
        writer.push(&write(1, b"")),
        Err(EncodeError::SequenceNotIncreasing {
            previous: 1,
            seq: 1
        })
    );
    assert_eq!(
        writer.push(&write(3, b"odd")),
        Err(EncodeError::OddUtf16Name)
    );
    assert_eq!(writer.record_count(), 1);
    let len = writer.finish();
    let batch = decode_batch(&out[..len]).expect("the batch is still whole");
    assert_eq!(batch.records().count(), 1);
}

#[test]
fn push_encoded_checks_the_framing() {
    let good = encoded(&write(5, b"a\0b\0"));
    let mut out = vec![0u8; 4096];
    let mut writer = BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 0).expect("header");

    let mut cases: Vec<(&str, Vec<u8>, EncodeError)> = Vec::new();
    let mut short = good.clone();
    short.truncate(72);
    cases.push(("shorter than its len", short, EncodeError::MalformedRecord));
    let mut name_len = good.clone();
    name_len[42] = 12;
    cases.push((
        "names past the record",
        name_len,
        EncodeError::MalformedRecord,
    ));
    let mut padding = good.clone();
    padding[79] = 1;
    cases.push(("non-zero padding", padding, EncodeError::MalformedRecord));
    let mut reserved = good.clone();
    reserved[46] = 1;
    cases.push(("reserved field", reserved, EncodeError::MalformedRecord));
    let mut fixed = good.clone();
    fixed[40] = 20;
    fixed[42] = 8;
    cases.push(("unaligned fixed part", fixed, EncodeError::MalformedRecord));
    let mut odd = good.clone();
    odd[42] = 3;
    cases.push(("odd UTF-16 name", odd, EncodeError::OddUtf16Name));
    cases.push((
        "header only",
        good[..40].to_vec(),
        EncodeError::MalformedRecord,
    ));
    for (why, bytes, error) in cases {
        assert_eq!(writer.push_encoded(&bytes), Err(error), "{why}");
    }
    assert!(writer.is_empty());
    writer.push_encoded(&good).expect("a well-formed record");
    assert_eq!(
        writer.push_encoded(&good),
        Err(EncodeError::SequenceNotIncreasing {
            previous: 5,
            seq: 5
        })
    );
    let len = writer.finish();
    let batch = decode_batch(&out[..len]).expect("valid");
    assert_eq!(batch.records().next(), Some(write(5, b"a\0b\0")));
}

#[test]
fn push_encoded_accepts_odd_names_in_a_posix_batch() {
    let record = encoded(&write(1, b"odd"));
    let mut out = vec![0u8; 1024];
    let mut writer = BatchWriter::new(&mut out, BatchFlags::POSIX_NAMES, 0).expect("header");
    writer
        .push_encoded(&record)
        .expect("POSIX names may be odd");
    let stats = Record {
        header: RecordHeader {
            seq: 2,
            ..RecordHeader::default()
        },
        body: Body::Stats(Stats::default()),
    };
    writer.push(&stats).expect("fits");
    let len = writer.finish();
    let batch = decode_batch(&out[..len]).expect("valid");
    let records: Vec<Record<'_>> = batch.records().collect();
    assert_eq!(records, [write(1, b"odd"), stats]);
}

#[test]
fn finish_writes_first_seq_and_the_loss_count() {
    let mut out = vec![0u8; 1024];
    let mut writer = BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 9).expect("header");
    writer.push(&write(40, b"")).expect("fits");
    writer.push(&write(45, b"")).expect("fits");
    let len = writer.finish();
    let header = decode_batch(&out[..len]).expect("valid").header;
    assert_eq!((header.first_seq, header.lost_since_previous), (40, 9));
    assert_eq!(header.record_count, 2);
}

#[test]
fn a_paused_batch_resumes_where_it_stopped() {
    let mut straight = vec![0u8; 1024];
    let mut writer = BatchWriter::new(&mut straight, BatchFlags::POSIX_NAMES, 2).expect("header");
    for seq in [5, 6, 9] {
        writer.push(&write(seq, b"/tmp/x")).expect("fits");
    }
    let straight_len = writer.finish();

    let mut out = vec![0u8; 1024];
    let mut progress = BatchWriter::new(&mut out, BatchFlags::POSIX_NAMES, 2)
        .expect("header")
        .pause();
    for seq in [5, 6, 9] {
        let mut writer = BatchWriter::resume(&mut out, progress).expect("same buffer");
        writer.push(&write(seq, b"/tmp/x")).expect("fits");
        progress = writer.pause();
    }
    assert_eq!(progress.record_count(), 3);
    // The sequence check goes on across the pause.
    let mut writer = BatchWriter::resume(&mut out, progress).expect("same buffer");
    assert_eq!(
        writer.push(&write(9, b"")),
        Err(EncodeError::SequenceNotIncreasing {
            previous: 9,
            seq: 9
        })
    );
    let len = writer.finish();
    assert_eq!(out[..len], straight[..straight_len]);

    // A buffer shorter than what the batch holds is refused.
    let mut short = vec![0u8; len - 8];
    assert_eq!(
        BatchWriter::resume(&mut short, progress).map(BatchWriter::finish),
        Err(EncodeError::BufferTooSmall {
            needed: len,
            available: len - 8
        })
    );
}

/// A name over the cap is cut in the middle: the start (volume, top folders) and the end
/// (the final component, whole) are kept, and the record says it was truncated.
#[test]
fn a_long_name_keeps_its_final_component_whole() {
    use picket_protocol::{decode_batch, BatchFlags, BatchWriter, FileOp, NAME_CUT_HEAD_BYTES};
    let mut path = b"/srv".to_vec();
    while path.len() < 3 * MAX_NAME_BYTES {
        path.extend_from_slice(b"/deep-folder.d");
    }
    path.extend_from_slice(b"/invoice.pdf.exe");
    let record = Record {
        header: RecordHeader {
            seq: 1,
            ..RecordHeader::default()
        },
        body: Body::FirstWrite(FileOp {
            file: FileRef::default(),
            name: Name::new(&path),
        }),
    };
    let mut out = vec![0u8; 16 * 1024];
    let mut writer = BatchWriter::new(&mut out, BatchFlags::POSIX_NAMES, 0).unwrap();
    writer.push(&record).unwrap();
    let len = writer.finish();
    let batch = decode_batch(&out[..len]).unwrap();
    let decoded = batch.records().next().unwrap();
    let Body::FirstWrite(create) = decoded.body else {
        panic!("a first write");
    };
    assert!(create.name.truncated);
    assert_eq!(create.name.bytes.len(), MAX_NAME_BYTES);
    assert_eq!(
        &create.name.bytes[..NAME_CUT_HEAD_BYTES],
        &path[..NAME_CUT_HEAD_BYTES]
    );
    assert!(create.name.bytes.ends_with(b"/invoice.pdf.exe"));
}
