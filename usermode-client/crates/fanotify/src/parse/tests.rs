//! The parser on hand-made buffers: well-formed events of every shape the source uses, and
//! malformed ones, each of which must give an error at the right offset and never panic.

use super::*;

const FAN_MODIFY: u64 = 0x2;
const FAN_CREATE: u64 = 0x100;
const FAN_RENAME: u64 = 0x1000_0000;
const FAN_Q_OVERFLOW: u64 = 0x4000;

fn pad4(mut v: Vec<u8>) -> Vec<u8> {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

fn handle_record(info_type: u8, handle_type: i32, handle: &[u8], name: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&[7, 0, 0, 0, 9, 0, 0, 0]); // fsid
    body.extend_from_slice(&u32::try_from(handle.len()).unwrap().to_ne_bytes());
    body.extend_from_slice(&handle_type.to_ne_bytes());
    body.extend_from_slice(handle);
    if let Some(name) = name {
        body.extend_from_slice(name);
        body.push(0);
    }
    let mut rec = vec![info_type, 0, 0, 0];
    rec.extend_from_slice(&body);
    let mut rec = pad4(rec);
    let len = u16::try_from(rec.len()).unwrap().to_ne_bytes();
    rec[2..4].copy_from_slice(&len);
    rec
}

fn pidfd_record(fd: i32) -> Vec<u8> {
    let mut rec = vec![info_type::PIDFD, 0, 8, 0];
    rec.extend_from_slice(&fd.to_ne_bytes());
    rec
}

fn event(mask: u64, pid: i32, infos: &[Vec<u8>]) -> Vec<u8> {
    let info_len: usize = infos.iter().map(Vec::len).sum();
    let mut ev = Vec::new();
    ev.extend_from_slice(
        &u32::try_from(METADATA_LEN + info_len)
            .unwrap()
            .to_ne_bytes(),
    );
    ev.push(METADATA_VERSION);
    ev.push(0);
    ev.extend_from_slice(&u16::try_from(METADATA_LEN).unwrap().to_ne_bytes());
    ev.extend_from_slice(&mask.to_ne_bytes());
    ev.extend_from_slice(&(-1i32).to_ne_bytes());
    ev.extend_from_slice(&pid.to_ne_bytes());
    for info in infos {
        ev.extend_from_slice(info);
    }
    ev
}

fn ino32_handle(ino: u32) -> Vec<u8> {
    let mut h = ino.to_ne_bytes().to_vec();
    h.extend_from_slice(&77u32.to_ne_bytes()); // generation
    h
}

fn create_event() -> Vec<u8> {
    event(
        FAN_CREATE,
        4242,
        &[
            handle_record(
                info_type::DFID_NAME,
                1,
                &ino32_handle(2),
                Some(b"alpha.txt"),
            ),
            handle_record(info_type::FID, 1, &ino32_handle(12), None),
            pidfd_record(31),
        ],
    )
}

fn only(buf: &[u8]) -> Result<RawEvent<'_>, ParseError> {
    let mut all: Vec<_> = events(buf).collect();
    assert_eq!(all.len(), 1, "one event expected");
    all.remove(0)
}

fn first_error(buf: &[u8]) -> ParseError {
    events(buf)
        .find_map(Result::err)
        .expect("the buffer is malformed")
}

#[test]
fn reads_a_create_with_entry_object_and_pidfd() {
    let buf = create_event();
    let ev = only(&buf).unwrap();
    assert_eq!(ev.mask, FAN_CREATE);
    assert_eq!(ev.pid, 4242);
    assert_eq!(ev.fd, -1);
    assert_eq!(ev.pidfd, Some(31));
    let entry = ev.entry.unwrap();
    assert_eq!(entry.name, b"alpha.txt");
    assert_eq!(entry.dir.handle_type, 1);
    assert_eq!(entry.dir.bytes, ino32_handle(2).as_slice());
    assert_eq!(entry.dir.fsid, [7, 0, 0, 0, 9, 0, 0, 0]);
    assert_eq!(entry.dir.inode(), 2);
    assert_eq!(ev.object.unwrap().inode(), 12);
    assert!(ev.dir.is_none() && ev.old_entry.is_none() && ev.new_entry.is_none());
}

#[test]
fn reads_a_rename_with_both_entries() {
    let buf = event(
        FAN_RENAME,
        1,
        &[
            handle_record(info_type::OLD_DFID_NAME, 1, &ino32_handle(2), Some(b"a")),
            handle_record(info_type::NEW_DFID_NAME, 1, &ino32_handle(3), Some(b"bee")),
            handle_record(info_type::FID, 1, &ino32_handle(12), None),
        ],
    );
    let ev = only(&buf).unwrap();
    assert_eq!(ev.old_entry.unwrap().name, b"a");
    assert_eq!(ev.new_entry.unwrap().name, b"bee");
    assert_eq!(ev.new_entry.unwrap().dir.inode(), 3);
}

#[test]
fn reads_consecutive_events_and_an_overflow() {
    let mut buf = create_event();
    let modify = event(
        FAN_MODIFY,
        7,
        &[handle_record(
            info_type::DFID_NAME,
            1,
            &ino32_handle(2),
            Some(b"x"),
        )],
    );
    buf.extend_from_slice(&modify);
    buf.extend_from_slice(&event(FAN_Q_OVERFLOW, 0, &[]));
    let all: Vec<_> = events(&buf).map(Result::unwrap).collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].mask, FAN_MODIFY);
    assert_eq!(all[1].offset, create_event().len());
    assert_eq!(all[2].mask, FAN_Q_OVERFLOW);
    assert!(all[2].entry.is_none());
}

/// Parsing in place gives the iterator's events, each with nothing left of the one before:
/// a rename's entries and pidfd are gone from the overflow that follows it, and an error
/// ends the read as it ends the iterator.
#[test]
fn parsing_in_place_gives_the_iterators_events() {
    let mut buf = create_event();
    buf.extend_from_slice(&event(
        FAN_RENAME,
        1,
        &[
            handle_record(info_type::OLD_DFID_NAME, 1, &ino32_handle(2), Some(b"a")),
            handle_record(info_type::NEW_DFID_NAME, 1, &ino32_handle(3), Some(b"bee")),
            pidfd_record(9),
        ],
    ));
    buf.extend_from_slice(&event(FAN_Q_OVERFLOW, 0, &[]));
    buf.extend_from_slice(&[1, 2, 3]);
    let by_iterator: Vec<Result<RawEvent<'_>, ParseError>> = events(&buf).collect();
    let mut in_place = Vec::new();
    let mut parsing = events(&buf);
    let mut event = RawEvent::default();
    while let Some(parsed) = parsing.next_into(&mut event) {
        in_place.push(parsed.map(|()| event));
    }
    assert_eq!(in_place, by_iterator);
    assert_eq!(in_place.len(), 4);
    assert!(in_place[3].is_err());
}

#[test]
fn skips_an_unknown_info_type_by_length() {
    let unknown = vec![99, 0, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let buf = event(
        FAN_MODIFY,
        1,
        &[
            unknown,
            handle_record(info_type::DFID_NAME, 1, &ino32_handle(2), Some(b"n")),
        ],
    );
    assert_eq!(only(&buf).unwrap().entry.unwrap().name, b"n");
}

#[test]
fn decodes_inodes_only_from_handle_types_that_carry_them() {
    let h64 = 0x1_0000_0005u64.to_ne_bytes();
    let fh = |handle_type, bytes| FileHandle {
        fsid: [0; 8],
        handle_type,
        bytes,
    };
    assert_eq!(fh(0x81, &h64).inode(), 0x1_0000_0005);
    assert_eq!(
        fh(1, &[5, 0][..]).inode(),
        0,
        "short handle: unknown, not garbage"
    );
    assert_eq!(fh(0x4d, &h64).inode(), 0, "opaque type");
}

#[test]
fn empty_buffer_has_no_events() {
    assert_eq!(events(&[]).count(), 0);
}

#[test]
fn short_header_is_an_error() {
    let buf = create_event();
    let err = first_error(&buf[..10]);
    assert_eq!(err.offset, 0);
    assert_eq!(err.kind, ParseErrorKind::ShortMetadata { available: 10 });
}

#[test]
fn wrong_version_is_an_error() {
    let mut buf = create_event();
    buf[4] = 2;
    assert_eq!(
        first_error(&buf).kind,
        ParseErrorKind::UnsupportedVersion(2)
    );
}

#[test]
fn metadata_len_below_header_or_past_event_is_an_error() {
    for bad in [0u16, 23, 4000] {
        let mut buf = create_event();
        buf[6..8].copy_from_slice(&bad.to_ne_bytes());
        assert!(matches!(
            first_error(&buf).kind,
            ParseErrorKind::BadMetadataLength { metadata_len, .. } if metadata_len == bad
        ));
    }
}

#[test]
fn event_past_the_read_is_an_error_at_its_start() {
    let mut buf = create_event();
    let second_at = buf.len();
    buf.extend_from_slice(&create_event());
    buf.truncate(buf.len() - 4);
    let results: Vec<_> = events(&buf).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let err = results[1].unwrap_err();
    assert_eq!(err.offset, second_at);
    assert!(matches!(err.kind, ParseErrorKind::EventPastEnd { .. }));
}

#[test]
fn zero_length_info_record_is_an_error_not_a_loop() {
    let mut buf = event(FAN_MODIFY, 1, &[vec![info_type::FID, 0, 0, 0]]);
    let err = first_error(&buf);
    assert_eq!(err.offset, METADATA_LEN);
    assert_eq!(
        err.kind,
        ParseErrorKind::BadInfoLength {
            info_type: info_type::FID,
            len: 0
        }
    );
    // A record claiming more than the event holds.
    buf[METADATA_LEN + 2] = 200;
    assert!(matches!(
        first_error(&buf).kind,
        ParseErrorKind::BadInfoLength { len: 200, .. }
    ));
}

#[test]
fn truncated_info_header_is_an_error() {
    let buf = event(FAN_MODIFY, 1, &[vec![info_type::FID, 0]]);
    assert_eq!(first_error(&buf).kind, ParseErrorKind::ShortInfoHeader);
}

#[test]
fn handle_longer_than_its_record_is_an_error() {
    let mut rec = handle_record(info_type::FID, 1, &ino32_handle(5), None);
    rec[12..16].copy_from_slice(&64u32.to_ne_bytes());
    let buf = event(FAN_MODIFY, 1, &[rec]);
    assert_eq!(
        first_error(&buf).kind,
        ParseErrorKind::HandleTooLong {
            handle_bytes: 64,
            room: 8
        }
    );
}

#[test]
fn file_handle_record_shorter_than_its_fixed_part_is_an_error() {
    let buf = event(FAN_MODIFY, 1, &[vec![info_type::DFID, 0, 8, 0, 0, 0, 0, 0]]);
    assert_eq!(
        first_error(&buf).kind,
        ParseErrorKind::ShortFileHandle {
            info_type: info_type::DFID
        }
    );
}

#[test]
fn name_without_nul_is_an_error() {
    let mut rec = handle_record(info_type::DFID_NAME, 1, &ino32_handle(2), None);
    rec.extend_from_slice(b"abcd"); // name with no terminator, 4-aligned
    let len = u16::try_from(rec.len()).unwrap().to_ne_bytes();
    rec[2..4].copy_from_slice(&len);
    let buf = event(FAN_CREATE, 1, &[rec]);
    assert_eq!(first_error(&buf).kind, ParseErrorKind::NameNotTerminated);
}

#[test]
fn duplicate_records_are_an_error() {
    let rec = handle_record(info_type::DFID_NAME, 1, &ino32_handle(2), Some(b"a"));
    let buf = event(FAN_CREATE, 1, &[rec.clone(), rec]);
    assert_eq!(
        first_error(&buf).kind,
        ParseErrorKind::DuplicateInfo {
            info_type: info_type::DFID_NAME
        }
    );
}

#[test]
fn pidfd_record_of_the_wrong_size_is_an_error() {
    let buf = event(FAN_CREATE, 1, &[vec![info_type::PIDFD, 0, 4, 0]]);
    assert_eq!(
        first_error(&buf).kind,
        ParseErrorKind::BadFixedRecord {
            info_type: info_type::PIDFD
        }
    );
}

#[test]
fn iteration_stops_after_the_first_error() {
    let mut buf = create_event();
    buf[4] = 9;
    buf.extend_from_slice(&create_event());
    let results: Vec<_> = events(&buf).collect();
    assert_eq!(results.len(), 1);
    assert!(results[0].is_err());
}

#[test]
fn every_prefix_and_every_byte_mutation_gives_events_or_an_error() {
    let mut buf = create_event();
    buf.extend_from_slice(&event(
        FAN_RENAME,
        3,
        &[
            handle_record(info_type::OLD_DFID_NAME, 1, &ino32_handle(2), Some(b"a")),
            handle_record(info_type::NEW_DFID_NAME, 1, &ino32_handle(3), Some(b"b")),
        ],
    ));
    for cut in 0..=buf.len() {
        let prefix = &buf[..cut];
        for ev in events(prefix).flatten() {
            assert!(ev.offset + METADATA_LEN <= cut);
        }
    }
    for at in 0..buf.len() {
        for value in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut mutated = buf.clone();
            mutated[at] = value;
            // Every name and handle handed out lies inside the buffer by construction
            // (they are subslices); what matters is that nothing panics.
            let n = events(&mutated).count();
            assert!(n <= 2 + mutated.len() / METADATA_LEN);
        }
    }
}
