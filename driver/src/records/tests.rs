use picket_protocol::{
    decode_batch, BatchFlags, BatchWriter, Body, CreateDisposition, CreateResult, DeleteMethod,
    FileCreate, FileRef, LossReason, Name, Record, RecordHeader, SizeKind, MAX_NAME_BYTES,
};

use super::*;
use crate::ring::Ring;
use crate::sync::TestSpin;

#[test]
fn create_options_split_into_disposition_and_options() {
    // FILE_OVERWRITE_IF (5) << 24 | FILE_NON_DIRECTORY_FILE | FILE_DELETE_ON_CLOSE
    let raw = (5 << 24) | 0x40 | FILE_DELETE_ON_CLOSE;
    assert_eq!(create_disposition(raw), CreateDisposition::OverwriteIf);
    assert_eq!(create_options(raw), 0x40 | FILE_DELETE_ON_CLOSE);
    assert_eq!(create_disposition(9 << 24), CreateDisposition::Other(9));
}

#[test]
fn create_results_map_from_io_status_information() {
    assert_eq!(create_result(0), CreateResult::Superseded);
    assert_eq!(create_result(1), CreateResult::Opened);
    assert_eq!(create_result(2), CreateResult::Created);
    assert_eq!(create_result(3), CreateResult::Overwritten);
    assert_eq!(create_result(usize::MAX), CreateResult::Other(u32::MAX));
}

#[test]
fn set_information_classes_are_classified() {
    for class in [10, 56, 65, 66] {
        assert_eq!(SetInfo::classify(class), Some(SetInfo::Rename), "{class}");
    }
    for class in [11, 57, 72, 73] {
        assert_eq!(SetInfo::classify(class), Some(SetInfo::Link), "{class}");
    }
    assert_eq!(SetInfo::classify(13), Some(SetInfo::Disposition));
    assert_eq!(SetInfo::classify(64), Some(SetInfo::DispositionEx));
    assert_eq!(
        SetInfo::classify(20).and_then(SetInfo::size_kind),
        Some(SizeKind::EndOfFile)
    );
    assert_eq!(
        SetInfo::classify(19).and_then(SetInfo::size_kind),
        Some(SizeKind::Allocation)
    );
    assert_eq!(SetInfo::classify(4), Some(SetInfo::Basic));
    assert_eq!(
        SetInfo::classify(39).and_then(SetInfo::size_kind),
        Some(SizeKind::ValidDataLength)
    );
    assert_eq!(
        SetInfo::classify(14),
        None,
        "FilePositionInformation is ignored"
    );
}

#[test]
fn disposition_flags_map_to_intents() {
    assert_eq!(
        disposition_intent(true),
        DeleteIntent::Set(DeleteMethod::Disposition)
    );
    assert_eq!(disposition_intent(false), DeleteIntent::Clear);
    assert_eq!(
        disposition_ex_intent(0x1),
        DeleteIntent::Set(DeleteMethod::DispositionEx)
    );
    assert_eq!(
        disposition_ex_intent(0x1 | 0x2),
        DeleteIntent::Set(DeleteMethod::DispositionEx)
    );
    assert_eq!(
        disposition_ex_intent(0x1 | 0x8),
        DeleteIntent::Set(DeleteMethod::DeleteOnClose)
    );
    assert_eq!(disposition_ex_intent(0x8), DeleteIntent::ClearOnClose);
    assert_eq!(disposition_ex_intent(0), DeleteIntent::Clear);
}

#[test]
fn only_the_first_write_through_a_handle_is_reported() {
    let flags = HandleFlags::new(false);
    assert!(flags.note_write());
    assert!(!flags.note_write());
    assert_eq!(
        flags.at_cleanup(None, FileProbe::Unknown),
        CleanupReport {
            close_modified: true,
            deleted: None
        }
    );
}

#[test]
fn an_untouched_handle_reports_nothing_at_cleanup() {
    let flags = HandleFlags::new(false);
    assert_eq!(
        flags.at_cleanup(None, FileProbe::Exists),
        CleanupReport::default()
    );
    assert_eq!(flags.delete_intent(), None);
}

#[test]
fn delete_is_reported_only_when_confirmed() {
    let flags = HandleFlags::new(false);
    flags.note_write();
    flags.note_delete_intent(DeleteIntent::Set(DeleteMethod::Disposition));
    assert_eq!(
        flags.at_cleanup(None, FileProbe::Deleted),
        CleanupReport {
            close_modified: false,
            deleted: Some(DeleteMethod::Disposition)
        }
    );
    assert_eq!(
        flags.at_cleanup(None, FileProbe::Exists),
        CleanupReport {
            close_modified: true,
            deleted: None
        },
        "still there (another handle open, or undone): not a delete"
    );
}

#[test]
fn delete_on_close_from_create_and_undo() {
    let flags = HandleFlags::new(true);
    assert_eq!(flags.delete_intent(), Some(DeleteMethod::DeleteOnClose));
    flags.note_delete_intent(disposition_ex_intent(0x8));
    assert_eq!(flags.delete_intent(), None);
    assert_eq!(flags.at_cleanup(None, FileProbe::Deleted).deleted, None);
}

#[test]
fn a_do_not_delete_disposition_leaves_delete_on_close_in_force() {
    // CreateFile(FILE_FLAG_DELETE_ON_CLOSE), then SetFileInformationByHandle(
    // FileDispositionInfo, DeleteFile = FALSE): the file is still deleted at close.
    let flags = HandleFlags::new(true);
    flags.note_delete_intent(disposition_intent(false));
    assert_eq!(flags.delete_intent(), Some(DeleteMethod::DeleteOnClose));
    assert!(flags.anything_to_report());
    assert_eq!(
        flags.at_cleanup(None, FileProbe::Deleted).deleted,
        Some(DeleteMethod::DeleteOnClose)
    );
}

#[test]
fn the_two_delete_slots_are_set_and_cleared_independently() {
    let flags = HandleFlags::new(false);
    flags.note_delete_intent(disposition_ex_intent(0x1 | 0x8));
    flags.note_delete_intent(disposition_intent(true));
    assert_eq!(
        flags.delete_intent(),
        Some(DeleteMethod::Disposition),
        "the explicit disposition is named first"
    );
    flags.note_delete_intent(disposition_ex_intent(0x8));
    assert_eq!(flags.delete_intent(), Some(DeleteMethod::Disposition));
    flags.note_delete_intent(disposition_intent(false));
    assert_eq!(flags.delete_intent(), None);
    assert!(!flags.anything_to_report());
    flags.note_delete_intent(disposition_ex_intent(0x1));
    assert_eq!(flags.delete_intent(), Some(DeleteMethod::DispositionEx));
}

#[test]
fn a_create_that_overwrote_or_superseded_starts_modified() {
    for (result, modified) in [
        (CreateResult::Overwritten, true),
        (CreateResult::Superseded, true),
        (CreateResult::Created, false),
        (CreateResult::Opened, false),
        (CreateResult::Other(9), false),
    ] {
        let flags = HandleFlags::for_create(false, result);
        assert_eq!(flags.anything_to_report(), modified, "{result:?}");
        let report = flags.at_cleanup(None, FileProbe::Unknown);
        assert_eq!(report.close_modified, modified, "{result:?}");
        assert!(
            flags.note_write(),
            "the first write is still the first: {result:?}"
        );
    }
    let flags = HandleFlags::for_create(true, CreateResult::Overwritten);
    assert_eq!(flags.delete_intent(), Some(DeleteMethod::DeleteOnClose));
}

#[test]
fn a_change_that_is_not_a_write_makes_the_close_modified() {
    let flags = HandleFlags::new(false);
    flags.note_modified();
    assert!(flags.at_cleanup(None, FileProbe::Unknown).close_modified);
    assert!(flags.note_write(), "but it is no write");
}

#[test]
fn handle_ids_are_distinct_and_never_zero() {
    let ids = HandleIds::new();
    let (a, b) = (ids.next(), ids.next());
    assert!(a != 0 && b != 0 && a != b);
}

fn create_record(name: &[u8]) -> Record<'_> {
    Record {
        header: RecordHeader {
            seq: 999, // replaced by the ring's number
            timestamp: 133_000_000_000_000_000,
            pid: 4242,
            tid: 77,
            process_start_key: 0x1234,
        },
        body: Body::FileCreate(FileCreate {
            file: FileRef {
                handle_id: 5,
                file_id: 0xabc,
                is_directory: false,
                name_normalized: true,
            },
            disposition: CreateDisposition::Create,
            create_options: 0x40,
            desired_access: 0x0012_0116,
            result: CreateResult::Created,
            name: Name::new(name),
        }),
    }
}

/// Sends the ring's first record the way the sender does (into a UTF-16 batch written to
/// `out`) and decodes it back.
fn first_record_sent<'o>(ring: &Ring<TestSpin>, out: &'o mut [u8]) -> Record<'o> {
    let mut consumer = ring.consumer().unwrap();
    let front = consumer.front().unwrap();
    let mut batch = BatchWriter::new(&mut *out, BatchFlags::UTF16_NAMES, 0).unwrap();
    batch.push_encoded(front.bytes).unwrap();
    let len = batch.finish();
    let out: &'o [u8] = out;
    decode_batch(&out[..len]).unwrap().records().next().unwrap()
}

#[test]
fn a_stored_record_decodes_from_a_batch_with_the_ring_sequence_number() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 40).unwrap();
    let name: Vec<u8> = "\\Device\\HarddiskVolume3\\x.txt"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(store(&ring, create_record(&name)), Ok(40));
    let mut out = vec![0u8; 4096];
    let record = first_record_sent(&ring, &mut out);
    let mut expected = create_record(&name);
    expected.header.seq = 40;
    assert_eq!(record, expected);
}

#[test]
fn an_overlong_name_is_cut_and_flagged_not_dropped() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let name = vec![b'a'; MAX_NAME_BYTES + 100];
    store(&ring, create_record(&name)).unwrap();
    let mut out = vec![0u8; 8192];
    let Body::FileCreate(create) = first_record_sent(&ring, &mut out).body else {
        panic!("not a create")
    };
    assert_eq!(create.name.bytes.len(), MAX_NAME_BYTES);
    assert!(create.name.truncated);
}

#[test]
fn a_record_the_ring_cannot_hold_is_counted_as_lost() {
    let mut storage = vec![0u64; 64];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let name = vec![b'a'; 1024];
    let dropped = store(&ring, create_record(&name)).unwrap_err();
    assert_eq!(dropped.reason, LossReason::EncodeFailed);
    assert_eq!(ring.stats().events_dropped, 1);
}

#[test]
fn a_delete_carried_out_by_another_handle_is_reported_once_by_the_stream() {
    let stream = StreamFlags::new();
    let requester = HandleFlags::new(false);
    let other = HandleFlags::new(false);
    other.note_write();
    requester.note_delete_intent(DeleteIntent::Set(DeleteMethod::DispositionEx));
    stream.mark(DeleteMethod::DispositionEx);
    // The requester closes first: the other handle keeps the file alive.
    assert_eq!(
        requester.at_cleanup(Some(&stream), FileProbe::Exists),
        CleanupReport {
            close_modified: false,
            deleted: None
        }
    );
    // The last handle closes and the file is gone: reported there, with the method.
    assert_eq!(
        other.at_cleanup(Some(&stream), FileProbe::Deleted),
        CleanupReport {
            close_modified: false,
            deleted: Some(DeleteMethod::DispositionEx)
        }
    );
    // Any later cleanup on the same stream does not report it again.
    assert_eq!(
        requester
            .at_cleanup(Some(&stream), FileProbe::Deleted)
            .deleted,
        None
    );
}

#[test]
fn a_stream_without_a_candidate_reports_no_delete() {
    let stream = StreamFlags::new();
    assert_eq!(stream.candidate(), None);
    let handle = HandleFlags::new(false);
    assert_eq!(
        handle.at_cleanup(Some(&stream), FileProbe::Deleted).deleted,
        None
    );
    stream.mark(DeleteMethod::DeleteOnClose);
    stream.mark(DeleteMethod::Disposition);
    assert_eq!(
        stream.candidate(),
        Some(DeleteMethod::Disposition),
        "the last request wins"
    );
}

#[test]
fn an_odd_length_name_loses_its_stray_byte_not_the_event() {
    assert_eq!(utf16_name(b"a\0b\0"), Name::new(b"a\0b\0"));
    assert_eq!(utf16_name(&[]), Name::new(&[]));
    let odd = utf16_name(b"a\0b\0c");
    assert_eq!(odd.bytes, b"a\0b\0");
    assert!(odd.truncated);
    // Never exactly MAX_NAME_BYTES and truncated: that would read as a cut in the middle.
    let odd_long = vec![b'a'; picket_protocol::MAX_NAME_BYTES + 1];
    let name = utf16_name(&odd_long);
    assert_eq!(name.bytes.len(), picket_protocol::MAX_NAME_BYTES - 2);
    assert!(name.truncated);
    // The record it goes into is accepted by a UTF-16 batch and decodes, flagged.
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut record = create_record(&[]);
    if let Body::FileCreate(create) = &mut record.body {
        create.name = utf16_name(b"x\0y");
    }
    store(&ring, record).unwrap();
    let mut out = vec![0u8; 4096];
    let Body::FileCreate(create) = first_record_sent(&ring, &mut out).body else {
        panic!("not a create")
    };
    assert_eq!(create.name.bytes, b"x\0");
    assert!(create.name.truncated);
}

#[test]
fn only_the_lazy_writers_end_of_file_advance_is_invisible() {
    assert!(!SetInfo::EndOfFile.is_visible_change(true));
    assert!(SetInfo::EndOfFile.is_visible_change(false));
    // The flag sits in a union other classes use differently: for them it means nothing.
    for kind in [
        SetInfo::Rename,
        SetInfo::Link,
        SetInfo::Allocation,
        SetInfo::Basic,
    ] {
        assert!(kind.is_visible_change(true), "{kind:?}");
    }
}
