use picket_protocol::{
    decode_batch, Body, DriverHello, FileOp, FileRef, LossReason, Name, Record, RecordHeader,
    BATCH_HEADER_LEN,
};

use super::*;
use crate::records::store;
use crate::ring::Ring;
use crate::sync::TestSpin;

fn event(name: &[u8]) -> Record<'_> {
    Record {
        header: RecordHeader {
            seq: 0,
            timestamp: 1,
            pid: 10,
            tid: 11,
            process_start_key: 12,
        },
        body: Body::FirstWrite(FileOp {
            file: FileRef {
                handle_id: 3,
                ..FileRef::default()
            },
            name: Name::new(name),
        }),
    }
}

/// Decodes a batch into `(lost_since_previous, [(seq, body)])`.
fn decode(bytes: &[u8]) -> (u64, Vec<(u64, Body<'_>)>) {
    let batch = decode_batch(bytes).unwrap();
    (
        batch.header.lost_since_previous,
        batch.records().map(|r| (r.header.seq, r.body)).collect(),
    )
}

#[test]
fn nothing_to_send_builds_nothing() {
    let mut storage = vec![0u64; 1024];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut out = vec![0u8; 4096];
    assert_eq!(
        Sender::default().build(&ring, &mut consumer, 0, &mut out),
        None
    );
}

#[test]
fn records_are_split_across_batches_in_sequence_order() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let name = [b'n', 0].repeat(50);
    for _ in 0..10 {
        store(&ring, event(&name)).unwrap();
    }
    let mut sender = Sender::default();
    // Room for the header and exactly four of these records.
    let record_len = picket_protocol::encoded_len(&event(&name)).unwrap();
    let mut out = vec![0u8; BATCH_HEADER_LEN + 4 * record_len];
    let mut seen = Vec::new();
    while let Some(built) = sender.build(&ring, &mut consumer, 0, &mut out) {
        let (lost, records) = decode(&out[..built.len]);
        assert_eq!(lost, 0);
        assert!(records.len() <= 4);
        assert_eq!(built.records, records.len() as u64);
        assert_eq!(
            (built.first_seq, built.last_seq),
            (records[0].0, records.last().unwrap().0)
        );
        seen.extend(records.iter().map(|r| r.0));
        sender.delivered(&built);
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    assert_eq!((sender.events_sent, sender.batches_sent), (10, 3));
}

#[test]
fn a_failed_send_is_reported_as_a_loss_in_the_next_batch() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut sender = Sender::default();
    let mut out = vec![0u8; 8192];
    for _ in 0..3 {
        store(&ring, event(b"ab")).unwrap();
    }
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    sender.failed(&ring, &built);
    assert_eq!(store_losses(&ring, 5), 1);
    store(&ring, event(b"cd")).unwrap();
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    let (lost, records) = decode(&out[..built.len]);
    assert_eq!(lost, 3, "the header counts the three lost records");
    let Body::Loss(loss) = records[0].1 else {
        panic!("loss record first: {records:?}")
    };
    assert_eq!(
        (
            loss.first_lost_seq,
            loss.last_lost_seq,
            loss.count,
            loss.reason
        ),
        (0, 2, 3, LossReason::SendFailed)
    );
    assert_eq!(
        records[0].0, 3,
        "the loss record takes the next sequence number"
    );
    assert_eq!(records[1].0, 4);
    sender.delivered(&built);
    store(&ring, event(b"ef")).unwrap();
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    assert_eq!(decode(&out[..built.len]).0, 0, "reported once, not again");
    assert_eq!(sender.send_failures, 1);
}

#[test]
fn records_from_before_the_client_are_discarded_and_counted() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    store(&ring, event(b"o1")).unwrap();
    store(&ring, event(b"o2")).unwrap();
    let hello = DriverHello {
        ring_capacity: 32768,
        ..DriverHello::default()
    };
    let hello_seq = store_hello(&ring, 9, hello).unwrap();
    assert_eq!(hello_seq, 2);
    store(&ring, event(b"n\0")).unwrap();
    let mut out = vec![0u8; 8192];
    let mut sender = Sender::default();
    let built = sender
        .build(&ring, &mut consumer, hello_seq, &mut out)
        .unwrap();
    let (lost, records) = decode(&out[..built.len]);
    assert_eq!(lost, 2);
    assert_eq!(
        records[0],
        (2, Body::DriverHello(hello)),
        "the hello comes first"
    );
    assert_eq!(records[1].0, 3);
    assert_eq!(records.len(), 2);
    let stats = sender.stats(&ring);
    assert_eq!(stats.events_dropped, 2);
    assert_eq!(
        stats.events_seen, 4,
        "every sequence number handed out, the hello's too"
    );
}

#[test]
fn without_a_client_everything_is_discarded_and_reported_later() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    store(&ring, event(b"x\0")).unwrap();
    ring.drop_event(LossReason::NoClient);
    discard_all(&ring, &mut consumer);
    assert_eq!(consumer.front(), None);
    let hello_seq = store_hello(&ring, 1, DriverHello::default()).unwrap();
    assert_eq!(store_losses(&ring, 1), 1);
    let mut out = vec![0u8; 8192];
    let mut sender = Sender::default();
    let built = sender
        .build(&ring, &mut consumer, hello_seq, &mut out)
        .unwrap();
    let (lost, records) = decode(&out[..built.len]);
    assert_eq!(lost, 2);
    let Body::Loss(loss) = records[1].1 else {
        panic!("{records:?}")
    };
    assert_eq!(
        (loss.first_lost_seq, loss.last_lost_seq, loss.count),
        (0, 1, 2)
    );
    assert_eq!(loss.reason, LossReason::NoClient);
}

#[test]
fn stats_records_carry_the_counters() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut sender = Sender::default();
    store(&ring, event(b"x\0")).unwrap();
    let mut out = vec![0u8; 8192];
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    sender.delivered(&built);
    store_stats(&ring, 7, sender.stats(&ring)).unwrap();
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    let (_, records) = decode(&out[..built.len]);
    let Body::Stats(stats) = records[0].1 else {
        panic!("{records:?}")
    };
    assert_eq!(
        (stats.events_seen, stats.events_sent, stats.batches_sent),
        (1, 1, 1)
    );
    assert_eq!(stats.ring_capacity, 4096 * 8);
    assert!(stats.ring_high_water > 0);
}

#[test]
fn a_record_the_batch_refuses_is_counted_not_sent() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    // An odd-length name cannot be UTF-16: the batch writer refuses it.
    store(&ring, event(b"odd")).unwrap();
    store(&ring, event(b"ok")).unwrap();
    let mut out = vec![0u8; 8192];
    let mut sender = Sender::default();
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    let (lost, records) = decode(&out[..built.len]);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].0, 1);
    assert_eq!(lost, 0, "the header was started before the refusal");
    assert_eq!(ring.stats().events_dropped, 1);
    sender.delivered(&built);
    store(&ring, event(b"ok")).unwrap();
    let built = sender.build(&ring, &mut consumer, 0, &mut out).unwrap();
    assert_eq!(decode(&out[..built.len]).0, 1, "reported by the next batch");
}

#[test]
fn a_record_too_big_for_any_batch_is_counted_and_does_not_wedge_the_ring() {
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let big = [b'n', 0].repeat(600);
    store(&ring, event(&big)).unwrap();
    store(&ring, event(b"o\0k\0")).unwrap();
    // Room for the header and a small record, not for the 1200-byte name.
    let mut out = vec![0u8; 512];
    let mut sender = Sender::default();
    let built = sender
        .build(&ring, &mut consumer, 0, &mut out)
        .expect("the small record behind the big one is sent");
    let (_, records) = decode(&out[..built.len]);
    assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), [1]);
    assert_eq!(ring.stats().events_dropped, 1, "the big one is counted");
    assert_eq!(sender.build(&ring, &mut consumer, 0, &mut out), None);
}

#[test]
fn the_hello_of_a_client_being_connected_survives_the_no_client_discard() {
    use crate::connection::ClientSlot;
    use picket_protocol::ClientHello;
    let mut storage = vec![0u64; 4096];
    let ring = Ring::<TestSpin>::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let slot = ClientSlot::new();
    let mut sender = Sender::default();
    // No client: the sender's round throws the ring's contents away (counted).
    store(&ring, event(b"a\0")).unwrap();
    discard_while(&ring, &mut consumer, |_| slot.is_vacant());
    assert_eq!(ring.stats().events_dropped, 1);
    // A connect claims the slot, then stores the hello; a record stored in between is
    // older than the hello. The sender's no-client round runs before `complete`.
    slot.begin(&ClientHello::default().encode()).unwrap();
    store(&ring, event(b"b\0")).unwrap();
    let hello = store_hello(&ring, 5, DriverHello::default()).unwrap();
    discard_while(&ring, &mut consumer, |_| slot.is_vacant());
    assert_eq!(
        ring.stats().events_dropped,
        1,
        "nothing thrown away while connecting"
    );
    assert!(slot.complete(hello));
    let mut out = vec![0u8; 4096];
    let built = sender
        .build(&ring, &mut consumer, slot.first_seq(), &mut out)
        .unwrap();
    let batch = decode_batch(&out[..built.len]).unwrap();
    let first = batch.records().next().unwrap();
    assert_eq!(first.header.seq, hello);
    assert!(matches!(first.body, Body::DriverHello(_)));
    assert_eq!(
        ring.stats().events_dropped,
        2,
        "the record older than the hello is counted"
    );
}

/// End to end under concurrency: producers overflow a small ring while the sender builds
/// batches with loss records; decoding every batch, each sequence number handed out is
/// either delivered or covered by a loss record's range, the loss counts add up exactly,
/// and the batch headers' `lost_since_previous` add up to the same total.
#[test]
fn every_sequence_number_is_delivered_or_reported_lost() {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let storage: &'static mut [u64] = Box::leak(vec![0u64; 2048].into_boxed_slice());
    let ring: &'static Ring<'static, TestSpin> =
        Box::leak(Box::new(Ring::new(storage, 1).unwrap()));
    let done = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                for i in 0..5_000u32 {
                    let name = [b'f', 0].repeat(1 + (i % 40) as usize);
                    let _ = store(ring, event(&name));
                }
            })
        })
        .collect();
    let sender_thread = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut consumer = ring.consumer().unwrap();
            let mut sender = Sender::default();
            let mut out = vec![0u8; 4096];
            let mut delivered = BTreeSet::new();
            let mut losses = Vec::new();
            let mut header_lost = 0u64;
            let mut quiet_rounds = 0;
            loop {
                let finished = done.load(Ordering::Acquire);
                store_losses(ring, 1);
                let mut any = false;
                while let Some(built) = sender.build(ring, &mut consumer, 0, &mut out) {
                    any = true;
                    let batch = decode_batch(&out[..built.len]).unwrap();
                    header_lost += batch.header.lost_since_previous;
                    for record in batch.records() {
                        assert!(delivered.insert(record.header.seq), "delivered twice");
                        if let Body::Loss(loss) = record.body {
                            losses.push(loss);
                        }
                    }
                    sender.delivered(&built);
                }
                if finished && !any {
                    quiet_rounds += 1;
                    // Two empty rounds after the producers stopped: every loss window has
                    // been turned into a record and sent.
                    if quiet_rounds == 2 {
                        break;
                    }
                }
            }
            (delivered, losses, header_lost)
        })
    };
    for producer in producers {
        producer.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let (delivered, losses, header_lost) = sender_thread.join().unwrap();
    let stats = ring.stats();
    let lost: u64 = losses.iter().map(|l| l.count).sum();
    assert!(lost > 0, "the small ring must have overflowed");
    assert_eq!(
        lost, stats.events_dropped,
        "loss records account for every drop"
    );
    assert_eq!(
        delivered.len() as u64 + lost,
        stats.events_seen,
        "nothing vanished"
    );
    let last = *delivered.iter().next_back().unwrap();
    for seq in 1..=last {
        if !delivered.contains(&seq) {
            assert!(
                losses
                    .iter()
                    .any(|l| l.first_lost_seq <= seq && seq <= l.last_lost_seq),
                "gap at {seq} not covered by a loss record"
            );
        }
    }
    // Every loss record was counted in some batch header, before or with it.
    assert_eq!(header_lost, lost);
}
