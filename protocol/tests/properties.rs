//! Property tests: round trips for arbitrary records, a decoder that never panics and never
//! returns a view outside its input, canonical encoding, and forward compatibility.

#[allow(dead_code)]
mod common;

use common::cases::{encode, utf16};
use common::future::{self, Future};
use common::{assert_views_inside, hex};
use picket_protocol::{
    decode_batch, decode_batch_into, encoded_len, BatchFlags, BatchWriter, Body, CreateDisposition,
    CreateResult, Delete, DeleteMethod, DriverHello, EncodeError, FileCreate, FileOp, FileRef, Gap,
    LinkChange, Loss, LossReason, Name, ProcessExit, ProcessStart, Record, RecordHeader,
    RecordKind, SequenceCheck, SequenceTracker, SetAttributes, SetSize, SizeKind, Stats,
    MAX_BATCH_LEN, MAX_NAME_BYTES, NAME_CUT_HEAD_BYTES, PROTOCOL_MINOR,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Owned name bytes: short ones mostly, some right around and past the cap.
fn name_bytes(posix: bool) -> impl Strategy<Value = Vec<u8>> {
    let lengths = prop_oneof![
        6 => 0usize..80,
        1 => (MAX_NAME_BYTES - 8)..(MAX_NAME_BYTES + 300),
    ];
    lengths.prop_flat_map(move |len| {
        // UTF-16 batches carry whole code units: even lengths only.
        let len = if posix { len } else { len & !1 };
        vec(any::<u8>(), len)
    })
}

/// The shape of a record before its names are borrowed.
#[derive(Clone, Debug)]
enum Shape {
    Create(FileRef, u32, u32, u32, u32),
    FirstWrite(FileRef),
    CloseModified(FileRef),
    Rename(FileRef, u32),
    HardLink(FileRef, u32),
    Delete(FileRef, u32),
    SetSize(FileRef, u64, u32),
    SetAttributes(FileRef, u32),
    Hello(DriverHello),
    Stats(Stats),
    Loss(u64, u64, u64, u32),
    /// parent pid, parent key, creating pid, creating tid, session, user id, forked.
    ProcessStart(u32, u64, u32, u32, u32, Option<u32>, bool),
    ProcessExit(u32),
    Unknown {
        kind: u16,
        flags: u16,
        fixed: Vec<u8>,
    },
}

/// An owned record: the shape, its names and their `truncated` flags, and the header.
#[derive(Clone, Debug)]
struct Owned {
    header: RecordHeader,
    shape: Shape,
    name: Vec<u8>,
    name_truncated: bool,
    new_name: Vec<u8>,
    new_name_truncated: bool,
}

fn file_ref() -> impl Strategy<Value = FileRef> {
    (any::<u64>(), any::<u128>(), any::<bool>(), any::<bool>()).prop_map(
        |(handle_id, file_id, is_directory, name_normalized)| FileRef {
            handle_id,
            file_id,
            is_directory,
            name_normalized,
        },
    )
}

fn unknown_kind() -> impl Strategy<Value = u16> {
    any::<u16>().prop_filter("not a kind this version decodes", |kind| {
        !RecordKind::from_raw(*kind).is_some_and(RecordKind::is_implemented)
    })
}

fn shape() -> impl Strategy<Value = Shape> {
    let hello = (
        any::<[u16; 3]>(),
        any::<u16>(),
        any::<u16>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(v, major, minor, caps, ring, batch, timeout)| {
            Shape::Hello(DriverHello {
                driver_version: v,
                protocol_major: major,
                protocol_minor: minor,
                capabilities: caps,
                ring_capacity: ring,
                max_batch_bytes: batch,
                send_timeout_ms: timeout,
            })
        });
    let stats = (any::<[u64; 5]>(), any::<u32>(), any::<u32>()).prop_map(|(n, high, cap)| {
        Shape::Stats(Stats {
            events_seen: n[0],
            events_sent: n[1],
            events_dropped: n[2],
            batches_sent: n[3],
            send_failures: n[4],
            ring_high_water: high,
            ring_capacity: cap,
        })
    });
    let unknown = (unknown_kind(), any::<u16>(), 0usize..10).prop_flat_map(|(kind, flags, n)| {
        vec(any::<u8>(), n * 8).prop_map(move |fixed| Shape::Unknown { kind, flags, fixed })
    });
    prop_oneof![
        (
            file_ref(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(f, d, o, a, r)| Shape::Create(f, d, o, a, r)),
        file_ref().prop_map(Shape::FirstWrite),
        file_ref().prop_map(Shape::CloseModified),
        (file_ref(), any::<u32>()).prop_map(|(f, x)| Shape::Rename(f, x)),
        (file_ref(), any::<u32>()).prop_map(|(f, x)| Shape::HardLink(f, x)),
        (file_ref(), any::<u32>()).prop_map(|(f, x)| Shape::Delete(f, x)),
        (file_ref(), any::<u64>(), any::<u32>()).prop_map(|(f, s, k)| Shape::SetSize(f, s, k)),
        (file_ref(), any::<u32>()).prop_map(|(f, a)| Shape::SetAttributes(f, a)),
        hello,
        stats,
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>())
            .prop_map(|(a, b, c, r)| Shape::Loss(a, b, c, r)),
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<Option<u32>>(),
            any::<bool>()
        )
            .prop_map(|(p, k, cp, ct, s, u, f)| Shape::ProcessStart(p, k, cp, ct, s, u, f)),
        any::<u32>().prop_map(Shape::ProcessExit),
        unknown,
    ]
}

fn header() -> impl Strategy<Value = RecordHeader> {
    (any::<u64>(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(
        |(timestamp, pid, tid, process_start_key)| RecordHeader {
            seq: 0,
            timestamp,
            pid,
            tid,
            process_start_key,
        },
    )
}

fn owned(posix: bool) -> impl Strategy<Value = Owned> {
    (
        header(),
        shape(),
        name_bytes(posix),
        any::<bool>(),
        name_bytes(posix),
        any::<bool>(),
    )
        .prop_map(|(header, shape, name, nt, new_name, nnt)| {
            // Unknown bodies carry names as is: keep them within the cap, as a sender must.
            let cap = |mut bytes: Vec<u8>| {
                if matches!(shape, Shape::Unknown { .. }) {
                    bytes.truncate(MAX_NAME_BYTES);
                }
                bytes
            };
            Owned {
                header,
                name: cap(name),
                name_truncated: nt,
                new_name: cap(new_name),
                new_name_truncated: nnt,
                shape,
            }
        })
}

/// Records with strictly increasing sequence numbers (gaps allowed).
fn batch_records(posix: bool, max: usize) -> impl Strategy<Value = (u64, Vec<(u64, Owned)>)> {
    (0u64..u64::MAX / 2, vec((1u64..1000, owned(posix)), 0..max)).prop_map(|(start, records)| {
        let mut seq = start;
        let records = records
            .into_iter()
            .map(|(step, record)| {
                seq += step;
                (seq, record)
            })
            .collect();
        (start, records)
    })
}

impl Owned {
    /// The typed record the encoder is given.
    fn record(&self, seq: u64) -> Record<'_> {
        let name = Name {
            bytes: &self.name,
            truncated: self.name_truncated,
        };
        let new_name = Name {
            bytes: &self.new_name,
            truncated: self.new_name_truncated,
        };
        let body = match &self.shape {
            Shape::Create(file, d, o, a, r) => Body::FileCreate(FileCreate {
                file: *file,
                disposition: CreateDisposition::from_raw(*d),
                create_options: *o,
                desired_access: *a,
                result: CreateResult::from_raw(*r),
                name,
            }),
            Shape::FirstWrite(file) => Body::FirstWrite(FileOp { file: *file, name }),
            Shape::CloseModified(file) => Body::CloseModified(FileOp { file: *file, name }),
            Shape::Rename(file, flags) => Body::Rename(LinkChange {
                file: *file,
                flags: *flags,
                name,
                new_name,
            }),
            Shape::HardLink(file, flags) => Body::HardLink(LinkChange {
                file: *file,
                flags: *flags,
                name,
                new_name,
            }),
            Shape::Delete(file, method) => Body::Delete(Delete {
                file: *file,
                method: DeleteMethod::from_raw(*method),
                name,
            }),
            Shape::SetSize(file, size, kind) => Body::SetSize(SetSize {
                file: *file,
                new_size: *size,
                kind: SizeKind::from_raw(*kind),
                name,
            }),
            Shape::SetAttributes(file, attributes) => Body::SetAttributes(SetAttributes {
                file: *file,
                attributes: *attributes,
                name,
            }),
            Shape::Hello(hello) => Body::DriverHello(*hello),
            Shape::Stats(stats) => Body::Stats(*stats),
            Shape::Loss(first, last, count, reason) => Body::Loss(Loss {
                first_lost_seq: *first,
                last_lost_seq: *last,
                count: *count,
                reason: LossReason::from_raw(*reason),
            }),
            Shape::ProcessStart(parent_pid, parent_key, cpid, ctid, session, user, forked) => {
                Body::ProcessStart(ProcessStart {
                    parent_pid: *parent_pid,
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
            Shape::ProcessExit(status) => Body::ProcessExit(ProcessExit {
                exit_status: *status,
            }),
            Shape::Unknown { kind, flags, fixed } => Body::Unknown {
                kind: *kind,
                flags: *flags,
                fixed,
                name: &self.name,
                new_name: &self.new_name,
            },
        };
        Record {
            header: RecordHeader { seq, ..self.header },
            body,
        }
    }
}

/// What the decoder must return for `record`: names past the cap cut in the middle (their
/// first `NAME_CUT_HEAD_BYTES` and their end, so the final component is whole) and flagged.
fn expected(record: &Record<'_>) -> Record<'static> {
    fn cut(name: Name<'_>) -> Name<'static> {
        let len = name.bytes.len();
        let truncated = name.truncated || len > MAX_NAME_BYTES;
        let bytes = if len > MAX_NAME_BYTES {
            let tail = MAX_NAME_BYTES - NAME_CUT_HEAD_BYTES;
            [
                &name.bytes[..NAME_CUT_HEAD_BYTES],
                &name.bytes[len - tail..],
            ]
            .concat()
        } else {
            name.bytes.to_vec()
        };
        Name {
            bytes: Box::leak(bytes.into_boxed_slice()),
            truncated,
        }
    }
    let leak = |bytes: &[u8]| -> &'static [u8] { Box::leak(bytes.to_vec().into_boxed_slice()) };
    let body = match record.body {
        Body::FileCreate(b) => Body::FileCreate(FileCreate {
            name: cut(b.name),
            ..b
        }),
        Body::FirstWrite(b) => Body::FirstWrite(FileOp {
            file: b.file,
            name: cut(b.name),
        }),
        Body::CloseModified(b) => Body::CloseModified(FileOp {
            file: b.file,
            name: cut(b.name),
        }),
        Body::Rename(b) => Body::Rename(LinkChange {
            file: b.file,
            flags: b.flags,
            name: cut(b.name),
            new_name: cut(b.new_name),
        }),
        Body::HardLink(b) => Body::HardLink(LinkChange {
            file: b.file,
            flags: b.flags,
            name: cut(b.name),
            new_name: cut(b.new_name),
        }),
        Body::Delete(b) => Body::Delete(Delete {
            file: b.file,
            method: b.method,
            name: cut(b.name),
        }),
        Body::DeleteStream(b) => Body::DeleteStream(Delete {
            file: b.file,
            method: b.method,
            name: cut(b.name),
        }),
        Body::SetSize(b) => Body::SetSize(SetSize {
            file: b.file,
            new_size: b.new_size,
            kind: b.kind,
            name: cut(b.name),
        }),
        Body::SetAttributes(b) => Body::SetAttributes(SetAttributes {
            file: b.file,
            attributes: b.attributes,
            name: cut(b.name),
        }),
        Body::ProcessStart(p) => Body::ProcessStart(ProcessStart {
            image: cut(p.image),
            command_line: cut(p.command_line),
            ..p
        }),
        Body::ProcessExit(e) => Body::ProcessExit(e),
        Body::DriverHello(h) => Body::DriverHello(h),
        Body::Stats(s) => Body::Stats(s),
        Body::Loss(l) => Body::Loss(l),
        Body::Unknown {
            kind,
            flags,
            fixed,
            name,
            new_name,
        } => Body::Unknown {
            kind,
            flags,
            fixed: leak(fixed),
            name: leak(name),
            new_name: leak(new_name),
        },
    };
    Record {
        header: record.header,
        body,
    }
}

fn flags(posix: bool) -> BatchFlags {
    if posix {
        BatchFlags::POSIX_NAMES
    } else {
        BatchFlags::UTF16_NAMES
    }
}

/// Pushes records until the buffer is full; returns the batch bytes and how many went in.
fn write_batch(posix: bool, lost: u64, records: &[Record<'_>], buffer: usize) -> (Vec<u8>, usize) {
    write_batch_over(0, posix, lost, records, buffer)
}

/// [`write_batch`] into a buffer whose old contents are `fill` bytes.
fn write_batch_over(
    fill: u8,
    posix: bool,
    lost: u64,
    records: &[Record<'_>],
    buffer: usize,
) -> (Vec<u8>, usize) {
    let mut out = vec![fill; buffer];
    let mut writer = BatchWriter::new(&mut out, flags(posix), lost).expect("header fits");
    let mut pushed = 0;
    for record in records {
        let before = writer.len();
        match writer.push(record) {
            Ok(()) => {
                assert_eq!(
                    writer.len() - before,
                    encoded_len(record).expect("encodable")
                );
                pushed += 1;
            }
            Err(EncodeError::BufferTooSmall { needed, available }) => {
                assert_eq!(Some(needed), encoded_len(record));
                assert!(needed > available);
                assert_eq!(writer.len(), before, "a failed push changes nothing");
                break;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let len = writer.finish();
    out.truncate(len);
    (out, pushed)
}

/// Records that decode to a canonical form, i.e. re-encoding gives the same bytes.
fn is_canonical_current(bytes: &[u8]) -> bool {
    let Ok(batch) = decode_batch(bytes) else {
        return false;
    };
    let header = batch.header;
    header.minor == PROTOCOL_MINOR
        && u16::from_le_bytes([bytes[8], bytes[9]]) == 40
        && (header.record_count > 0 || header.first_seq == 0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn records_round_trip(posix in any::<bool>(), lost in any::<u64>(), (_, records) in batch_records(false, 12)) {
        // `batch_records(false, ..)` gives even-length names, valid in both batch kinds.
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (bytes, pushed) = write_batch(posix, lost, &typed, MAX_BATCH_LEN);
        let batch = decode_batch(&bytes).expect("the encoder's output decodes");
        prop_assert_eq!(batch.header.lost_since_previous, lost);
        prop_assert_eq!(batch.header.record_count as usize, pushed);
        prop_assert_eq!(batch.header.flags, flags(posix));
        let want: Vec<Record<'static>> = typed[..pushed].iter().map(expected).collect();
        let got: Vec<Record<'_>> = batch.records().collect();
        prop_assert_eq!(got, want);
        assert_views_inside(&bytes, &batch);
    }

    #[test]
    fn posix_records_with_odd_names_round_trip((_, records) in batch_records(true, 8)) {
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (bytes, pushed) = write_batch(true, 0, &typed, MAX_BATCH_LEN);
        let batch = decode_batch(&bytes).expect("decodes");
        let want: Vec<Record<'static>> = typed[..pushed].iter().map(expected).collect();
        prop_assert_eq!(batch.records().collect::<Vec<_>>(), want);
    }

    #[test]
    fn utf16_batches_refuse_odd_names((_, records) in batch_records(true, 6)) {
        let mut out = vec![0u8; MAX_BATCH_LEN];
        let mut writer = BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 0).expect("header");
        for (seq, record) in &records {
            let record = record.record(*seq);
            let odd = views_after_cut(&record).iter().any(|len| len % 2 == 1);
            let result = writer.push(&record);
            if odd {
                prop_assert_eq!(result, Err(EncodeError::OddUtf16Name));
            } else {
                let fine = result.is_ok() || matches!(result, Err(EncodeError::BufferTooSmall { .. }));
                prop_assert!(fine, "{:?}", result);
            }
        }
        let len = writer.finish();
        prop_assert!(decode_batch(&out[..len]).is_ok());
    }

    #[test]
    fn many_records_fill_a_small_batch_exactly(
        (_, records) in batch_records(false, 64),
        buffer in 40usize..6000,
    ) {
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (bytes, pushed) = write_batch(false, 0, &typed, buffer);
        prop_assert!(bytes.len() <= buffer);
        let batch = decode_batch(&bytes).expect("decodes");
        let want: Vec<Record<'static>> = typed[..pushed].iter().map(expected).collect();
        prop_assert_eq!(batch.records().collect::<Vec<_>>(), want);
    }

    #[test]
    fn push_encoded_builds_the_same_batch_as_push((_, records) in batch_records(false, 12)) {
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (direct, pushed) = write_batch(false, 3, &typed, MAX_BATCH_LEN);
        let mut out = vec![0u8; MAX_BATCH_LEN];
        let mut writer = BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 3).expect("header");
        for record in &typed[..pushed] {
            let mut slot = vec![0u8; encoded_len(record).expect("encodable")];
            picket_protocol::encode_record(record, &mut slot).expect("fits exactly");
            writer.push_encoded(&slot).expect("our own record is well framed");
        }
        let len = writer.finish();
        prop_assert_eq!(&out[..len], &direct[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..2048)) {
        if let Ok(batch) = decode_batch(&bytes) {
            assert_views_inside(&bytes, &batch);
        }
    }

    #[test]
    fn arbitrary_records_behind_a_valid_header_never_panic(
        tail in vec(any::<u8>(), 0..1024),
        count in 0u32..6,
        posix in any::<bool>(),
    ) {
        let mut bytes = hex::parse("50 4b 42 31 01 00 00 00 28 00 00 00");
        bytes.extend_from_slice(&count.to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(40 + tail.len()).expect("small").to_le_bytes());
        bytes.extend_from_slice(&[0; 20]);
        bytes[10] = u8::from(posix);
        bytes.extend_from_slice(&tail);
        if let Ok(batch) = decode_batch(&bytes) {
            assert_views_inside(&bytes, &batch);
        }
    }

    #[test]
    fn mutated_valid_batches_never_panic_and_stay_in_bounds(
        (_, records) in batch_records(false, 6),
        mutations in vec(mutation(), 1..6),
        other in vec(any::<u8>(), 0..256),
    ) {
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (mut bytes, _) = write_batch(false, 1, &typed, MAX_BATCH_LEN);
        for mutation in &mutations {
            mutation.apply(&mut bytes, &other);
            if let Ok(batch) = decode_batch(&bytes) {
                assert_views_inside(&bytes, &batch);
                // Whatever survived validation is canonical: the encoder writes it again
                // byte for byte (v1.0 header, known fixed lengths).
                if is_canonical_current(&bytes) && fixed_parts_exact(&bytes) {
                    let records: Vec<Record<'_>> = batch.records().collect();
                    let again = encode(batch.header.flags, batch.header.lost_since_previous, &records, None);
                    prop_assert_eq!(again, bytes.clone());
                }
            }
        }
    }

    #[test]
    fn a_batch_written_over_old_bytes_is_the_batch_written_over_zeros(
        posix in any::<bool>(),
        (_, records) in batch_records(false, 6),
        fill in any::<u8>(),
        lost in any::<u64>(),
    ) {
        // Reused batch buffers are not cleared: the writer must set every byte it claims.
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let clean = write_batch_over(0, posix, lost, &typed, MAX_BATCH_LEN);
        prop_assert_eq!(write_batch_over(fill, posix, lost, &typed, MAX_BATCH_LEN), clean);
    }

    #[test]
    fn the_one_pass_decoder_agrees_with_the_two_pass_one(
        posix in any::<bool>(),
        (_, records) in batch_records(false, 6),
        mutations in vec(mutation(), 0..4),
        other in vec(any::<u8>(), 0..256),
    ) {
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (mut bytes, _) = write_batch(false, 1, &typed, MAX_BATCH_LEN);
        bytes[10] = u8::from(posix);
        for mutation in &mutations {
            mutation.apply(&mut bytes, &other);
        }
        let mut one_pass = Vec::new();
        match (decode_batch(&bytes), decode_batch_into(&bytes, &mut one_pass)) {
            (Ok(batch), Ok(header)) => {
                prop_assert_eq!(header, batch.header);
                let two_pass: Vec<Record<'_>> = batch.records().collect();
                prop_assert_eq!(one_pass, two_pass);
            }
            (Err(two), Err(one)) => prop_assert_eq!(one, two),
            (two, one) => prop_assert!(false, "decode_batch {:?}, decode_batch_into {:?}", two.map(|b| b.header), one),
        }
    }

    #[test]
    fn newer_minor_batches_decode_with_unknowns_skipped(
        (_, records) in batch_records(false, 8),
        minor in (PROTOCOL_MINOR + 1)..u16::MAX,
        header_words in 0usize..8,
        header_fill in any::<u8>(),
        extensions in vec((0usize..8, 1usize..4, any::<u8>()), 0..4),
    ) {
        let typed: Vec<Record<'_>> = records.iter().map(|(seq, r)| r.record(*seq)).collect();
        let (bytes, pushed) = write_batch(false, 0, &typed, MAX_BATCH_LEN / 2);
        let future = Future {
            minor,
            header_extension: vec![header_fill; header_words * 8],
            fixed_extensions: extensions
                .iter()
                .filter(|(index, _, _)| *index < pushed)
                .map(|(index, words, fill)| (*index, vec![*fill; words * 8]))
                .collect(),
        };
        let newer = future::apply(&bytes, &future);
        let batch = decode_batch(&newer).expect("a newer minor decodes");
        prop_assert_eq!(batch.header.minor, minor);
        let got: Vec<Record<'_>> = batch.records().collect();
        prop_assert_eq!(got.len(), pushed);
        for (index, (got, sent)) in got.iter().zip(&typed).enumerate() {
            match sent.body {
                // An unknown kind keeps its (possibly extended) fixed part verbatim.
                Body::Unknown { kind, flags, fixed, name, new_name } => {
                    let Body::Unknown { kind: k, flags: f, fixed: x, name: n, new_name: nn } = got.body else {
                        panic!("record {index}: unknown kind decoded as known");
                    };
                    prop_assert_eq!((k, f, n, nn), (kind, flags, name, new_name));
                    prop_assert!(x.starts_with(fixed));
                }
                // A known kind decodes to exactly what was sent, the extension ignored.
                _ => prop_assert_eq!(got, &expected(sent)),
            }
        }
        assert_views_inside(&newer, &batch);
    }

    #[test]
    fn the_tracker_reports_exactly_the_missing_sequence_numbers(
        start in 0u64..u64::MAX / 2,
        kept in vec(any::<bool>(), 1..200),
    ) {
        let seen: Vec<u64> = kept
            .iter()
            .enumerate()
            .filter(|(_, keep)| **keep)
            .map(|(index, _)| start + index as u64)
            .collect();
        let mut tracker = SequenceTracker::new();
        let mut reported = 0u64;
        let mut previous: Option<u64> = None;
        for &seq in &seen {
            let check = tracker.observe(seq);
            match previous {
                Some(previous) if seq > previous + 1 => {
                    let gap = Gap { first: previous + 1, last: seq - 1 };
                    prop_assert_eq!(check, SequenceCheck::Gap(gap));
                    reported += gap.count();
                }
                _ => prop_assert_eq!(check, SequenceCheck::InOrder),
            }
            previous = Some(seq);
        }
        // Every number between the first and the last one seen that never arrived is a gap.
        let span = match (seen.first(), seen.last()) {
            (Some(first), Some(last)) => last - first + 1,
            _ => 0,
        };
        prop_assert_eq!(reported, span - seen.len() as u64);
        // A number seen again (or an older one) is a restart, never silently accepted.
        if let Some(&last) = seen.last() {
            prop_assert_eq!(
                tracker.observe(last),
                SequenceCheck::Restarted { expected: last + 1, got: last }
            );
        }
    }
}

/// Name lengths after the encoder's cut, for the UTF-16 parity rule.
fn views_after_cut(record: &Record<'_>) -> Vec<usize> {
    let cut = |len: usize| len.min(MAX_NAME_BYTES);
    match record.body {
        Body::FileCreate(b) => vec![cut(b.name.bytes.len())],
        Body::FirstWrite(b) | Body::CloseModified(b) => vec![cut(b.name.bytes.len())],
        Body::Rename(b) | Body::HardLink(b) => {
            vec![cut(b.name.bytes.len()), cut(b.new_name.bytes.len())]
        }
        Body::Delete(b) | Body::DeleteStream(b) => vec![cut(b.name.bytes.len())],
        Body::SetSize(b) => vec![cut(b.name.bytes.len())],
        Body::SetAttributes(b) => vec![cut(b.name.bytes.len())],
        Body::ProcessStart(p) => vec![cut(p.image.bytes.len()), cut(p.command_line.bytes.len())],
        Body::ProcessExit(_) | Body::DriverHello(_) | Body::Stats(_) | Body::Loss(_) => vec![],
        Body::Unknown { name, new_name, .. } => vec![name.len(), new_name.len()],
    }
}

/// Whether every known record's fixed part has exactly this version's length (a longer one
/// is valid, from a newer minor, but is not what this encoder writes). `bytes` is a batch the
/// decoder accepted, so the walk below stays in bounds.
fn fixed_parts_exact(bytes: &[u8]) -> bool {
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
    let mut offset = u16_at(8);
    while offset < bytes.len() {
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4")) as usize;
        let kind = u16::try_from(u16_at(offset + 4)).expect("u16");
        let want = match RecordKind::from_raw(kind) {
            Some(RecordKind::FileCreate | RecordKind::SetSize | RecordKind::DriverHello) => 40,
            Some(RecordKind::FirstWrite | RecordKind::CloseModified) => 24,
            Some(
                RecordKind::Rename
                | RecordKind::HardLink
                | RecordKind::Delete
                | RecordKind::DeleteStream
                | RecordKind::SetAttributes
                | RecordKind::Loss
                | RecordKind::ProcessStart,
            ) => 32,
            Some(RecordKind::Stats) => 48,
            Some(RecordKind::ProcessExit) => 8,
            _ => u16_at(offset + 40),
        };
        if u16_at(offset + 40) != want {
            return false;
        }
        offset += len;
    }
    true
}

/// One way to damage a batch.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(usize, u8),
    Truncate(usize),
    Splice { at: usize, from: usize, len: usize },
    SetU32 { at: usize, value: u32 },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), any::<usize>(), 0usize..64)
            .prop_map(|(at, from, len)| Mutation::Splice { at, from, len }),
        2 => (any::<usize>(), prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>(), 0u32..4096])
            .prop_map(|(at, value)| Mutation::SetU32 { at, value }),
        1 => (any::<usize>(), 0usize..128).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>, other: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let n = bytes.len();
        match *self {
            Self::FlipBit(at, bit) => bytes[at % n] ^= 1 << bit,
            Self::Truncate(at) => bytes.truncate(at % n),
            Self::Splice { at, from, len } => {
                if other.is_empty() {
                    return;
                }
                let from = from % other.len();
                let len = len.min(other.len() - from);
                let at = at % n;
                let end = (at + len).min(n);
                bytes.splice(at..end, other[from..from + len].iter().copied());
            }
            Self::SetU32 { at, value } => {
                let at = (at % n) & !3;
                let end = (at + 4).min(n);
                bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
            Self::Duplicate { at, len } => {
                let at = at % n;
                let len = len.min(n - at);
                let copy = bytes[at..at + len].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
}

#[test]
fn utf16_helper_is_little_endian() {
    assert_eq!(utf16("A\u{e9}"), [0x41, 0x00, 0xe9, 0x00]);
}
