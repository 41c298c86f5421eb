//! Ring tests: behaviour, a randomised model check against a plain queue, and a
//! several-producers / one-consumer concurrency test.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use picket_protocol::LossReason;

use super::{Dropped, Ring, RingError};
use crate::sync::TestSpin;

type TestRing<'a> = Ring<'a, TestSpin>;

fn put(ring: &TestRing<'_>, bytes: &[u8]) -> Result<u64, Dropped> {
    let mut reservation = ring.reserve(bytes.len())?;
    let seq = reservation.seq();
    reservation.payload()[..bytes.len()].copy_from_slice(bytes);
    reservation.commit(bytes.len());
    Ok(seq)
}

fn take(consumer: &mut super::Consumer<'_, '_, TestSpin>) -> Option<(u64, Vec<u8>)> {
    let front = consumer.front()?;
    let out = (front.seq, front.bytes.to_vec());
    consumer.pop();
    Some(out)
}

#[test]
fn rejects_buffers_it_cannot_use() {
    let mut odd = vec![0u64; 100];
    assert_eq!(
        TestRing::new(&mut odd, 0).err(),
        Some(RingError::BadCapacity)
    );
    let mut dirty = vec![0u64; 64];
    dirty[3] = 1;
    assert_eq!(
        TestRing::new(&mut dirty, 0).err(),
        Some(RingError::NotZeroed)
    );
    // SAFETY: the buffer is zero; the length is what is being tested.
    let unchecked = unsafe { TestRing::new_zeroed(&mut odd, 0) };
    assert_eq!(unchecked.err(), Some(RingError::BadCapacity));
}

#[test]
fn records_come_out_in_order_with_their_sequence_numbers() {
    let mut storage = vec![0u64; 256];
    let ring = TestRing::new(&mut storage, 100).unwrap();
    let mut consumer = ring.consumer().unwrap();
    assert!(ring.consumer().is_none(), "one consumer only");
    assert_eq!(consumer.front(), None);
    assert_eq!(put(&ring, b"first record"), Ok(100));
    assert_eq!(put(&ring, &[7u8; 40]), Ok(101));
    assert_eq!(take(&mut consumer), Some((100, b"first record".to_vec())));
    assert_eq!(take(&mut consumer), Some((101, vec![7u8; 40])));
    assert_eq!(take(&mut consumer), None);
    let stats = ring.stats();
    assert_eq!(stats.events_seen, 2);
    assert_eq!(stats.events_dropped, 0);
    assert_eq!(stats.capacity_bytes, 256 * 8);
}

#[test]
fn a_full_ring_drops_counts_and_consumes_the_sequence_number() {
    let mut storage = vec![0u64; 64];
    let ring = TestRing::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    // Each frame: 2 framing words + 14 payload words = 16 words; 4 fill the ring.
    for expected in 0..4 {
        assert_eq!(put(&ring, &[1u8; 112]), Ok(expected));
    }
    assert_eq!(
        put(&ring, &[1u8; 112]),
        Err(Dropped {
            seq: 4,
            reason: LossReason::RingFull
        })
    );
    assert_eq!(take(&mut consumer).map(|r| r.0), Some(0));
    assert_eq!(
        put(&ring, &[2u8; 112]),
        Ok(5),
        "space freed by the consumer is reused"
    );
    let stats = ring.stats();
    assert_eq!((stats.events_seen, stats.events_dropped), (6, 1));
    assert_eq!(stats.high_water_bytes, 64 * 8);
}

#[test]
fn a_record_larger_than_half_the_ring_is_refused_as_unencodable() {
    let mut storage = vec![0u64; 64];
    let ring = TestRing::new(&mut storage, 0).unwrap();
    assert_eq!(ring.max_payload_bytes(), 30 * 8);
    assert!(ring.reserve(ring.max_payload_bytes()).is_ok());
    assert_eq!(
        ring.reserve(ring.max_payload_bytes() + 1)
            .err()
            .map(|d| d.reason),
        Some(LossReason::EncodeFailed)
    );
}

#[test]
fn frames_never_wrap_padding_is_skipped() {
    let mut storage = vec![0u64; 64];
    let ring = TestRing::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    // 3 frames of 20 words: head at 60, then a 20-word frame needs padding of 4.
    for _ in 0..3 {
        put(&ring, &[9u8; 144]).unwrap();
    }
    for _ in 0..3 {
        take(&mut consumer).unwrap();
    }
    let payload: Vec<u8> = (0..144u8).collect();
    assert_eq!(put(&ring, &payload), Ok(3));
    assert_eq!(take(&mut consumer), Some((3, payload)));
    assert_eq!(take(&mut consumer), None);
}

#[test]
fn an_abandoned_reservation_is_skipped_and_a_short_commit_is_exact() {
    let mut storage = vec![0u64; 128];
    let ring = TestRing::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    drop(ring.reserve(64).unwrap());
    let mut reservation = ring.reserve(64).unwrap();
    reservation.payload()[..3].copy_from_slice(b"abc");
    reservation.commit(3);
    let mut bogus = ring.reserve(8).unwrap();
    bogus.payload()[0] = 1;
    bogus.commit(9_000); // longer than its payload: published as a skip frame
    assert_eq!(take(&mut consumer), Some((1, b"abc".to_vec())));
    assert_eq!(take(&mut consumer), None);
}

#[test]
fn the_consumer_waits_for_the_oldest_reservation() {
    let mut storage = vec![0u64; 128];
    let ring = TestRing::new(&mut storage, 0).unwrap();
    let mut consumer = ring.consumer().unwrap();
    let mut slow = ring.reserve(8).unwrap();
    put(&ring, b"later").unwrap();
    assert_eq!(consumer.front(), None, "seq 1 must not overtake seq 0");
    slow.payload()[..5].copy_from_slice(b"early");
    slow.commit(5);
    assert_eq!(take(&mut consumer), Some((0, b"early".to_vec())));
    assert_eq!(take(&mut consumer), Some((1, b"later".to_vec())));
}

#[test]
fn drops_without_storage_and_lost_ranges_reach_the_loss_book() {
    let mut storage = vec![0u64; 64];
    let ring = TestRing::new(&mut storage, 10).unwrap();
    assert_eq!(ring.drop_event(LossReason::NoClient), 10);
    ring.note_lost(3, 5, 3, LossReason::SendFailed);
    let (reservation, loss) = ring.reserve_control(56, picket_protocol_take_next).unwrap();
    assert_eq!(
        reservation.seq(),
        11,
        "control records take the next number"
    );
    assert_eq!(
        (loss.reason, loss.count, loss.first_lost_seq),
        (LossReason::NoClient, 1, 10)
    );
    drop(reservation);
    let (_, loss) = ring.reserve_control(56, picket_protocol_take_next).unwrap();
    assert_eq!(
        (loss.reason, loss.first_lost_seq, loss.last_lost_seq),
        (LossReason::SendFailed, 3, 5)
    );
    assert!(ring
        .reserve_control(56, picket_protocol_take_next)
        .is_none());
    assert_eq!(ring.stats().events_dropped, 4);
}

fn picket_protocol_take_next(book: &mut crate::loss::LossBook) -> Option<picket_protocol::Loss> {
    book.take_next()
}

#[test]
fn a_control_record_that_does_not_fit_takes_nothing() {
    let mut storage = vec![0u64; 64];
    let ring = TestRing::new(&mut storage, 0).unwrap();
    for _ in 0..4 {
        put(&ring, &[0u8; 112]).unwrap();
    }
    ring.drop_event(LossReason::RingFull);
    assert!(ring
        .reserve_control(56, picket_protocol_take_next)
        .is_none());
    let mut consumer = ring.consumer().unwrap();
    take(&mut consumer).unwrap();
    let (reservation, loss) = ring.reserve_control(56, picket_protocol_take_next).unwrap();
    assert_eq!(
        (loss.first_lost_seq, loss.count),
        (4, 1),
        "the window survived the refusal"
    );
    assert_eq!(reservation.seq(), 5);
}

/// xorshift64*: deterministic pseudo-random numbers for the model check.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Runs random reserve/commit/abandon/pop sequences against a model: a FIFO of expected
/// records plus an exact account of the words in use (frames and padding).
#[test]
fn model_check_against_a_plain_queue() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let words = 64usize << (seed % 3);
        let mut storage = vec![0u64; words];
        let ring = TestRing::new(&mut storage, 0).unwrap();
        let mut consumer = ring.consumer().unwrap();
        let capacity = words as u64;
        // Model: queue of (seq, bytes, frame words, padding before it).
        let mut model: VecDeque<(u64, Vec<u8>, u64, u64)> = VecDeque::new();
        let (mut head, mut tail, mut seq, mut dropped) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..400 {
            if rng.next() % 3 == 0 {
                // Pop: the consumer first frees the skip frames (abandoned reservations) at
                // the front, then returns and frees the first real record, if any.
                let mut expected = None;
                while let Some((s, bytes, frame, pad)) = model.pop_front() {
                    tail += pad + frame;
                    if s != SKIP {
                        expected = Some((s, bytes));
                        break;
                    }
                }
                assert_eq!(take(&mut consumer), expected, "seed {seed}");
                continue;
            }
            let len = (rng.next() % (ring.max_payload_bytes() as u64 + 1)) as usize;
            let frame = 2 + (len as u64).div_ceil(8);
            let to_end = capacity - (head % capacity);
            let pad = if frame <= to_end { 0 } else { to_end };
            let fits = head + pad + frame - tail <= capacity;
            let abandon = len == 0 || rng.next() % 7 == 0;
            let bytes: Vec<u8> = (0..len).map(|i| (i as u64 ^ seq) as u8).collect();
            let result = ring.reserve(len);
            if fits {
                let mut reservation = result.unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
                assert_eq!(reservation.seq(), seq);
                if abandon {
                    drop(reservation);
                    model.push_back((SKIP, Vec::new(), frame, pad));
                } else {
                    reservation.payload()[..len].copy_from_slice(&bytes);
                    reservation.commit(len);
                    model.push_back((seq, bytes, frame, pad));
                }
                head += pad + frame;
            } else {
                assert_eq!(
                    result.err(),
                    Some(Dropped {
                        seq,
                        reason: LossReason::RingFull
                    }),
                    "seed {seed}"
                );
                dropped += 1;
            }
            seq += 1;
        }
        assert_eq!(ring.stats().events_dropped, dropped, "seed {seed}");
        assert_eq!(ring.stats().events_seen, seq, "seed {seed}");
        assert!(
            dropped > 0,
            "seed {seed}: the model check must exercise a full ring"
        );
    }
}

/// Marks an abandoned reservation in the model.
const SKIP: u64 = u64::MAX;

/// Several producers and one consumer on a small ring: every stored record arrives once,
/// intact, in strictly increasing sequence order, each producer's records in its own order;
/// stored + dropped = produced, and the loss book counts exactly the dropped ones.
#[test]
fn several_producers_one_consumer() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 20_000;
    let storage: &'static mut [u64] = Box::leak(vec![0u64; 1024].into_boxed_slice());
    let ring: &'static TestRing<'static> = Box::leak(Box::new(TestRing::new(storage, 1).unwrap()));
    let done = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(Mutex::new(Vec::new()));

    let consumer = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut consumer = ring.consumer().unwrap();
            let mut last_seq = 0u64;
            let mut last_index = [None::<u64>; PRODUCERS as usize];
            let mut received = 0u64;
            loop {
                let Some(front) = consumer.front() else {
                    if done.load(Ordering::Acquire) && consumer.front().is_none() {
                        break;
                    }
                    std::hint::spin_loop();
                    continue;
                };
                assert!(front.seq > last_seq, "sequence order");
                last_seq = front.seq;
                let producer = u64::from_le_bytes(front.bytes[0..8].try_into().unwrap());
                let index = u64::from_le_bytes(front.bytes[8..16].try_into().unwrap());
                let expected_len = 16 + ((producer * 31 + index) % 200) as usize;
                assert_eq!(front.bytes.len(), expected_len, "length intact");
                for (i, byte) in front.bytes[16..].iter().enumerate() {
                    assert_eq!(*byte, (i as u64 ^ index ^ producer) as u8, "payload intact");
                }
                let slot = &mut last_index[producer as usize];
                assert!(slot.is_none_or(|prev| index > prev), "per-producer order");
                *slot = Some(index);
                received += 1;
                consumer.pop();
            }
            received
        })
    };

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let dropped = Arc::clone(&dropped);
            thread::spawn(move || {
                let mut mine = Vec::new();
                for index in 0..PER_PRODUCER {
                    let len = 16 + ((producer * 31 + index) % 200) as usize;
                    match ring.reserve(len) {
                        Ok(mut reservation) => {
                            let payload = reservation.payload();
                            payload[0..8].copy_from_slice(&producer.to_le_bytes());
                            payload[8..16].copy_from_slice(&index.to_le_bytes());
                            for i in 16..len {
                                payload[i] = ((i - 16) as u64 ^ index ^ producer) as u8;
                            }
                            reservation.commit(len);
                        }
                        Err(drop) => {
                            assert_eq!(drop.reason, LossReason::RingFull);
                            mine.push(drop.seq);
                        }
                    }
                }
                dropped.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let received = consumer.join().unwrap();
    let dropped = std::mem::take(&mut *dropped.lock().unwrap());
    assert_eq!(received + dropped.len() as u64, PRODUCERS * PER_PRODUCER);
    let stats = ring.stats();
    assert_eq!(stats.events_seen, PRODUCERS * PER_PRODUCER);
    assert_eq!(stats.events_dropped, dropped.len() as u64);
    if let Some((_, loss)) = ring.reserve_control(56, picket_protocol_take_next) {
        assert_eq!(loss.count, dropped.len() as u64);
        assert_eq!(loss.first_lost_seq, *dropped.iter().min().unwrap());
        assert_eq!(loss.last_lost_seq, *dropped.iter().max().unwrap());
    } else {
        assert!(dropped.is_empty());
    }
}
