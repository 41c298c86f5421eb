//! Links every function that carries `#[cfg_attr(feature = "prove-no-panic", no_panic)]`.
//!
//! `no_panic` turns a reachable panic path into an undefined symbol, so the proof is the
//! *link* of this test binary. Run it optimised, where the optimiser removes every path it
//! can prove dead:
//!
//! ```text
//! cargo test -p picket-protocol --profile no-panic-proof --features prove-no-panic --test no_panic
//! ```
//!
//! Without the feature (the debug `cargo test --workspace`) the same calls still run as an
//! ordinary smoke test. The inputs come through `std::hint::black_box` so the optimiser
//! cannot specialise the functions to constants and prove a weaker property than "for any
//! input".

use std::hint::black_box;

use picket_protocol::{
    decode_batch, encode_record, encoded_len, BatchFlags, BatchWriter, Body, ClientHello,
    CreateDisposition, CreateResult, FileCreate, FileRef, Name, Record, RecordHeader,
    SequenceCheck, SequenceTracker, Verdict, VerdictReply, MAX_BATCH_LEN,
};

fn sample_record(name: &[u8]) -> Record<'_> {
    Record {
        header: RecordHeader {
            seq: 7,
            timestamp: 133_000_000_000_000_000,
            pid: 4242,
            tid: 4243,
            process_start_key: 99,
        },
        body: Body::FileCreate(FileCreate {
            file: FileRef {
                handle_id: 1,
                file_id: 2,
                is_directory: false,
                name_normalized: true,
            },
            disposition: CreateDisposition::OpenIf,
            create_options: 0x20,
            desired_access: 0x0012_0116,
            result: CreateResult::Created,
            name: Name::new(name),
        }),
    }
}

#[test]
fn every_annotated_function_is_linked_and_runs() {
    let name: Vec<u8> = "C:\\x".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let record = black_box(sample_record(&name));

    // Encoder.
    let mut slot = vec![0u8; 4096];
    let len = encode_record(black_box(&record), black_box(&mut slot)).expect("fits");
    assert_eq!(Some(len), encoded_len(&record));
    let encoded = slot[..len].to_vec();

    let mut out = vec![0u8; MAX_BATCH_LEN];
    let mut writer =
        BatchWriter::new(black_box(&mut out), black_box(BatchFlags::UTF16_NAMES), 3).expect("fits");
    let before = writer.remaining();
    writer.push(black_box(&record)).expect("fits");
    assert_eq!(writer.remaining(), before - len);
    let progress = black_box(writer.pause());
    let mut writer = BatchWriter::resume(black_box(&mut out), progress).expect("fits");
    let mut next = encoded.clone();
    next[8..16].copy_from_slice(&8u64.to_le_bytes());
    writer.push_encoded(black_box(&next)).expect("fits");
    let total = writer.finish();

    // Decoder.
    let batch = decode_batch(black_box(&out[..total])).expect("valid");
    assert_eq!(batch.header.lost_since_previous, 3);
    let seqs: Vec<u64> = batch.records().map(|r| r.header.seq).collect();
    assert_eq!(seqs, [7, 8]);
    assert!(decode_batch(black_box(&out[..total - 8])).is_err());

    // User → kernel messages.
    let hello = ClientHello::default();
    assert_eq!(ClientHello::decode(black_box(&hello.encode())), Ok(hello));
    let reply = VerdictReply {
        request_seq: 5,
        verdict: Verdict::Allow,
    };
    assert_eq!(VerdictReply::decode(black_box(&reply.encode())), Ok(reply));

    // Gap tracking.
    let mut tracker = SequenceTracker::new();
    assert_eq!(tracker.observe(black_box(7)), SequenceCheck::InOrder);
    assert!(matches!(
        tracker.observe(black_box(9)),
        SequenceCheck::Gap(_)
    ));
}
