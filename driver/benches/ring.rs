//! Throughput of the event ring and the batcher, with the user-mode lock (the kernel's
//! `KSPIN_LOCK` path cannot run here). Prints records/s for 1–4 producers feeding one
//! consumer that builds real batches, so a regression in the hot path shows as a number.
//!
//! Run: `cargo bench -p picket-driver --bench ring`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use picket_driver::batch::Sender;
use picket_driver::records::store;
use picket_driver::ring::Ring;
use picket_driver::sync::TestSpin;
use picket_protocol::{Body, FileOp, FileRef, Name, Record, RecordHeader, MAX_BATCH_LEN};

const PER_PRODUCER: u64 = 500_000;

fn record(name: &[u8]) -> Record<'_> {
    Record {
        header: RecordHeader {
            seq: 0,
            timestamp: 1,
            pid: 4242,
            tid: 77,
            process_start_key: 9,
        },
        body: Body::FirstWrite(FileOp {
            file: FileRef {
                handle_id: 1,
                file_id: 2,
                ..FileRef::default()
            },
            name: Name::new(name),
        }),
    }
}

fn run(producers: u64) -> (f64, u64, u64) {
    let storage: &'static mut [u64] = Box::leak(vec![0u64; 1 << 19].into_boxed_slice()); // 4 MiB
    let ring: &'static Ring<'static, TestSpin> =
        Box::leak(Box::new(Ring::new(storage, 1).unwrap()));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut consumer = ring.consumer().unwrap();
            let mut sender = Sender::default();
            let mut out = vec![0u8; MAX_BATCH_LEN];
            loop {
                match sender.build(ring, &mut consumer, 0, &mut out) {
                    Some(built) => sender.delivered(&built),
                    None if done.load(Ordering::Acquire) => {
                        if sender.build(ring, &mut consumer, 0, &mut out).is_none() {
                            break;
                        }
                    }
                    None => std::hint::spin_loop(),
                }
            }
            sender.events_sent
        })
    };
    // A typical NT path: \Device\HarddiskVolume3\Users\alice\Documents\report-2024.docx
    let name: Vec<u8> = "\\Device\\HarddiskVolume3\\Users\\alice\\Documents\\report-2024.docx"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let start = Instant::now();
    let handles: Vec<_> = (0..producers)
        .map(|_| {
            let name = name.clone();
            thread::spawn(move || {
                for _ in 0..PER_PRODUCER {
                    let _ = store(ring, record(&name));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let sent = consumer.join().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let dropped = ring.stats().events_dropped;
    ((producers * PER_PRODUCER) as f64 / elapsed, sent, dropped)
}

/// Single thread, no contention: time `store` (reserve + encode + publish) and the
/// consumer's batch building separately, filling and draining the ring in turns.
fn phases(name: &[u8]) -> (f64, f64) {
    let storage: &'static mut [u64] = Box::leak(vec![0u64; 1 << 19].into_boxed_slice());
    let ring: &'static Ring<'static, TestSpin> =
        Box::leak(Box::new(Ring::new(storage, 1).unwrap()));
    let mut consumer = ring.consumer().unwrap();
    let mut sender = Sender::default();
    let mut out = vec![0u8; MAX_BATCH_LEN];
    let (mut captured, mut capture_time) = (0u64, 0f64);
    let (mut drained, mut drain_time) = (0u64, 0f64);
    while captured < 4 * PER_PRODUCER {
        let start = Instant::now();
        while store(ring, record(name)).is_ok() {
            captured += 1;
        }
        capture_time += start.elapsed().as_secs_f64();
        let start = Instant::now();
        while let Some(built) = sender.build(ring, &mut consumer, 0, &mut out) {
            drained += built.records;
            sender.delivered(&built);
        }
        drain_time += start.elapsed().as_secs_f64();
    }
    (captured as f64 / capture_time, drained as f64 / drain_time)
}

fn main() {
    let name: Vec<u8> = "\\Device\\HarddiskVolume3\\Users\\alice\\Documents\\report-2024.docx"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let (capture, drain) = phases(&name);
    println!(
        "ring, one thread, {}-byte records:",
        picket_protocol::encoded_len(&record(&name)).unwrap()
    );
    println!(
        "  capture (reserve + encode + publish): {:>6.2} M records/s",
        capture / 1e6
    );
    println!(
        "  drain into 64 KiB batches:            {:>6.2} M records/s",
        drain / 1e6
    );
    // Producers that never pause overload any consumer: this part shows the overload path
    // (drops counted, never blocking) and its cost; on a machine with few cores the
    // consumer thread is also starved of CPU, so the delivered share varies run to run.
    println!("ring, P producers flooding + 1 consumer ({PER_PRODUCER} records each, 4 MiB ring, {} CPUs):",
        thread::available_parallelism().map_or(1, usize::from));
    for producers in 1..=4 {
        let (rate, sent, dropped) = run(producers);
        println!(
            "  P={producers}: {:>6.2} M records/s offered, {sent} delivered, {dropped} dropped as RingFull ({:.1}%)",
            rate / 1e6,
            dropped as f64 * 100.0 / (producers * PER_PRODUCER) as f64
        );
    }
}
