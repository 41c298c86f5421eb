//! Minor 1 is additive: a 1.1 decoder reads what a 1.0 driver sent, and a 1.0 client reads
//! what a 1.1 driver sends without taking a named-stream delete for a file delete.

#[allow(dead_code)]
mod common;

use std::path::Path;

use common::hex;
use picket_protocol::{decode_batch, Body, RecordKind, SizeKind, PROTOCOL_MINOR};

fn golden(stem: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{stem}.hex"));
    hex::parse(&std::fs::read_to_string(&path).expect("golden vector"))
}

/// The same bytes as a 1.0 driver would have sent them (minor 0 in the batch header).
fn as_minor_0(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes[6..8].copy_from_slice(&0u16.to_le_bytes());
    bytes
}

#[test]
fn the_encoder_writes_minor_1() {
    assert_eq!(PROTOCOL_MINOR, 1);
    let bytes = golden("delete");
    assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]), 1);
}

#[test]
fn batches_of_minor_0_still_decode_to_the_same_records() {
    for stem in [
        "file_create",
        "delete",
        "set_size",
        "rename",
        "driver_hello",
    ] {
        let current = golden(stem);
        let old = as_minor_0(current.clone());
        let new_batch = decode_batch(&current).expect("minor 1 decodes");
        let old_batch = decode_batch(&old).expect("minor 0 decodes");
        assert_eq!(old_batch.header.minor, 0, "{stem}");
        let new: Vec<_> = new_batch.records().collect();
        let old: Vec<_> = old_batch.records().collect();
        assert_eq!(new, old, "{stem}");
    }
}

#[test]
fn a_stream_delete_is_its_own_kind_with_the_delete_layout() {
    let stream = golden("delete_stream");
    let batch = decode_batch(&stream).expect("decodes");
    let records: Vec<_> = batch.records().collect();
    let [record] = records.as_slice() else {
        panic!("one record, got {records:?}");
    };
    let Body::DeleteStream(delete) = record.body else {
        panic!("a DeleteStream, got {:?}", record.body);
    };
    let name = String::from_utf16(
        &delete
            .name
            .bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect::<Vec<_>>(),
    )
    .expect("UTF-16");
    assert!(name.ends_with("setup.exe:Zone.Identifier"), "{name}");
    // Record kind at offset 40 + 4, fixed length at 40 + 40: the Delete layout (32 bytes).
    assert_eq!(
        u16::from_le_bytes([stream[44], stream[45]]),
        RecordKind::DeleteStream as u16
    );
    assert_eq!(u16::from_le_bytes([stream[80], stream[81]]), 32);
}

/// A 1.0 client knew kinds 0x0001–0x0008 only: kind 0x0009 is, to it, a kind of a newer
/// minor, which its decoder returns as `Unknown` (skipped by length). The current decoder
/// does the same for any kind it does not know; the stream delete is never read as a file
/// delete by either.
#[test]
fn an_unknown_kind_in_the_place_of_the_stream_delete_is_skipped_not_misread() {
    let mut bytes = golden("delete_stream");
    bytes[44..46].copy_from_slice(&0x0077u16.to_le_bytes());
    let batch = decode_batch(&bytes).expect("decodes");
    let records: Vec<_> = batch.records().collect();
    assert!(
        matches!(records[0].body, Body::Unknown { kind: 0x0077, .. }),
        "{:?}",
        records[0].body
    );
}

#[test]
fn valid_data_length_is_a_size_kind_and_a_minor_0_client_keeps_it_as_other() {
    let bytes = golden("valid_data_length");
    let batch = decode_batch(&bytes).expect("decodes");
    let records: Vec<_> = batch.records().collect();
    let Body::SetSize(size) = records[0].body else {
        panic!("a SetSize, got {:?}", records[0].body);
    };
    assert_eq!(size.kind, SizeKind::ValidDataLength);
    assert_eq!(size.kind.raw(), 4);
    assert_eq!(size.new_size, 16 << 20);
}

#[test]
fn a_refs_file_id_keeps_all_128_bits() {
    let bytes = golden("refs_file_id");
    let batch = decode_batch(&bytes).expect("decodes");
    let records: Vec<_> = batch.records().collect();
    let file = records[0].body.file().expect("a file record");
    assert!(file.file_id > u128::from(u64::MAX), "{:#x}", file.file_id);
}
