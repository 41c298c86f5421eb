use super::*;
use picket_protocol::{BatchFlags, DeleteMethod, Record};
use picket_synth::{batch, created, delete, file, header, utf16};

fn event(seq: u64, name: &[u8]) -> Record<'_> {
    Record {
        header: header(seq, 1, 10, 20),
        body: created(file(seq, 0), name),
    }
}

fn loss(seq: u64, first: u64, last: u64, count: u64, reason: LossReason) -> Record<'static> {
    Record {
        header: header(seq, 1, 0, 0),
        body: Body::Loss(Loss {
            first_lost_seq: first,
            last_lost_seq: last,
            count,
            reason,
        }),
    }
}

/// Feeds batches, then flushes; returns (file record seqs, notices) in order.
fn run(decoder: &mut Decoder, batches: &[Vec<u8>]) -> Vec<Result<u64, Notice>> {
    let mut out = Vec::new();
    for bytes in batches {
        decoder.feed(bytes, |d| match d {
            Decoded::Record(r, _) => out.push(Ok(r.header.seq)),
            Decoded::Notice(n) => out.push(Err(n)),
        });
    }
    decoder.flush(&mut |d| {
        if let Decoded::Notice(n) = d {
            out.push(Err(n));
        }
    });
    out
}

fn lost(count: u64, first: u64, last: u64, cause: LossCause) -> Result<u64, Notice> {
    Err(Notice::EventsLost {
        count,
        exact: true,
        first_seq: Some(first),
        last_seq: Some(last),
        cause,
    })
}

#[test]
fn a_gap_without_a_loss_record_is_reported_once() {
    let n = utf16("a");
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n), event(2, &n)]).unwrap();
    let b2 = batch(BatchFlags::UTF16_NAMES, 0, &[event(6, &n)]).unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2]);
    assert_eq!(
        out,
        vec![Ok(1), Ok(2), Ok(6), lost(3, 3, 5, LossCause::SequenceGap)]
    );
}

#[test]
fn a_gap_explained_by_a_loss_record_in_the_same_or_next_batch_is_not_reported_twice() {
    let n = utf16("a");
    // Records 3..=5 dropped (ring full); the loss record comes after the next event.
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n), event(2, &n)]).unwrap();
    let b2 = batch(BatchFlags::UTF16_NAMES, 3, &[event(6, &n)]).unwrap();
    let b3 = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &[loss(7, 3, 5, 3, LossReason::RingFull), event(8, &n)],
    )
    .unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2.clone(), b3]);
    assert_eq!(
        out,
        vec![
            Ok(1),
            Ok(2),
            Ok(6),
            lost(3, 3, 5, LossCause::RingFull),
            Ok(8)
        ]
    );

    // Same batch.
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n), event(2, &n)]).unwrap();
    let b2 = batch(
        BatchFlags::UTF16_NAMES,
        3,
        &[event(6, &n), loss(7, 3, 5, 3, LossReason::NoClient)],
    )
    .unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2]);
    assert_eq!(
        out,
        vec![Ok(1), Ok(2), Ok(6), lost(3, 3, 5, LossCause::NoClient)]
    );
}

fn header_only(count: u64) -> Result<u64, Notice> {
    Err(Notice::EventsLost {
        count,
        exact: true,
        first_seq: None,
        last_seq: None,
        cause: LossCause::BatchHeader,
    })
}

#[test]
fn an_empty_batch_declaring_losses_reports_them() {
    let n = utf16("a");
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n)]).unwrap();
    let empty = batch(BatchFlags::UTF16_NAMES, 7, &[]).unwrap();
    let b3 = batch(BatchFlags::UTF16_NAMES, 0, &[event(2, &n)]).unwrap();
    let b4 = batch(BatchFlags::UTF16_NAMES, 0, &[event(3, &n)]).unwrap();
    // Reported once the batch after the declaring one brought no loss record for it.
    let out = run(&mut Decoder::new(), &[b1, empty.clone(), b3, b4]);
    assert_eq!(out, vec![Ok(1), Ok(2), header_only(7), Ok(3)]);
    // At the end of the stream, at once.
    let out = run(&mut Decoder::new(), &[empty]);
    assert_eq!(out, vec![header_only(7)]);
}

#[test]
fn a_header_declaration_and_the_loss_record_it_announces_count_once() {
    let n = utf16("a");
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n)]).unwrap();
    // Records 2..=4 dropped: the header says 3 at once; the loss record comes two batches
    // later, after the header-only report, and is not counted again.
    let b2 = batch(BatchFlags::UTF16_NAMES, 3, &[]).unwrap();
    let b3 = batch(BatchFlags::UTF16_NAMES, 0, &[]).unwrap();
    let b4 = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &[event(5, &n), loss(6, 2, 4, 3, LossReason::RingFull)],
    )
    .unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2, b3, b4]);
    assert_eq!(out, vec![Ok(1), header_only(3), Ok(5)]);
    // The header declares more than the records show: the difference is reported.
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n)]).unwrap();
    let b2 = batch(
        BatchFlags::UTF16_NAMES,
        5,
        &[event(4, &n), loss(5, 2, 3, 2, LossReason::RingFull)],
    )
    .unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2]);
    assert_eq!(
        out,
        vec![
            Ok(1),
            Ok(4),
            lost(2, 2, 3, LossCause::RingFull),
            header_only(3)
        ]
    );
}

#[test]
fn a_late_loss_record_does_not_recount_a_gap_already_reported() {
    let n = utf16("a");
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n)]).unwrap();
    let b2 = batch(BatchFlags::UTF16_NAMES, 0, &[event(4, &n)]).unwrap();
    let b3 = batch(BatchFlags::UTF16_NAMES, 0, &[event(5, &n)]).unwrap();
    // Arrives two batches after the gap: the gap was reported as such already.
    let b4 = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &[loss(6, 2, 3, 2, LossReason::SendFailed)],
    )
    .unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2, b3, b4]);
    assert_eq!(
        out,
        vec![Ok(1), Ok(4), Ok(5), lost(2, 2, 3, LossCause::SequenceGap)]
    );
}

#[test]
fn a_loss_record_covering_only_part_of_a_gap_leaves_the_rest_as_a_gap() {
    let n = utf16("a");
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n)]).unwrap();
    let b2 = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &[event(10, &n), loss(11, 2, 5, 4, LossReason::RingFull)],
    )
    .unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2]);
    assert_eq!(
        out,
        vec![
            Ok(1),
            Ok(10),
            lost(4, 2, 5, LossCause::RingFull),
            lost(4, 6, 9, LossCause::SequenceGap)
        ]
    );
}

#[test]
fn malformed_batches_are_reported_with_offset_and_their_gap_blamed_on_them() {
    let n = utf16("a");
    let b1 = batch(BatchFlags::UTF16_NAMES, 0, &[event(1, &n)]).unwrap();
    let mut bad = batch(BatchFlags::UTF16_NAMES, 0, &[event(2, &n), event(3, &n)]).unwrap();
    bad[0] ^= 0xFF;
    let b3 = batch(BatchFlags::UTF16_NAMES, 0, &[event(4, &n)]).unwrap();
    let mut decoder = Decoder::new();
    let out = run(&mut decoder, &[b1, bad, b3]);
    assert_eq!(out.len(), 4);
    assert_eq!(out[0], Ok(1));
    match &out[1] {
        Err(Notice::MalformedBatch {
            batch_index,
            offset,
            error,
        }) => {
            assert_eq!((*batch_index, *offset), (1, 0));
            assert!(error.contains("bad magic"), "{error}");
        }
        other => panic!("expected a malformed batch notice, got {other:?}"),
    }
    assert_eq!(out[2], Ok(4));
    assert_eq!(out[3], lost(2, 2, 3, LossCause::MalformedBatch));
    assert_eq!(decoder.stats().malformed, 1);
}

#[test]
fn overflow_without_a_range_is_reported_by_count_and_restarts_are_said() {
    let n = utf16("/x");
    let b1 = batch(
        BatchFlags::POSIX_NAMES,
        0,
        &[
            event(5, &n),
            loss(6, 0, 0, 40, LossReason::QueueOverflow),
            Record {
                header: header(7, 1, 10, 20),
                body: delete(file(1, 0), DeleteMethod::Unlink, &n),
            },
        ],
    )
    .unwrap();
    let b2 = batch(BatchFlags::POSIX_NAMES, 0, &[event(1, &n)]).unwrap();
    let out = run(&mut Decoder::new(), &[b1, b2]);
    assert_eq!(
        out,
        vec![
            Ok(5),
            Err(Notice::EventsLost {
                count: 40,
                exact: false,
                first_seq: None,
                last_seq: None,
                cause: LossCause::QueueOverflow
            }),
            Ok(7),
            Err(Notice::SourceRestarted {
                expected: 8,
                got: 1
            }),
            Ok(1),
        ]
    );
}

mod accounting {
    use super::*;
    use proptest::prelude::*;

    /// One step of a synthetic driver stream: drop `dropped` records, deliver one, and maybe
    /// report the drop with a loss record right after.
    #[derive(Clone, Debug)]
    struct Step {
        dropped: u64,
        reported: bool,
    }

    fn step() -> impl Strategy<Value = Step> {
        (prop_oneof![6 => Just(0u64), 1 => 1..5u64], any::<bool>())
            .prop_map(|(dropped, reported)| Step { dropped, reported })
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// Every lost record is counted exactly once, whichever mix of loss records and
        /// plain gaps reveals it, however the records are cut into batches.
        #[test]
        fn every_loss_is_counted_exactly_once(
            steps in proptest::collection::vec(step(), 1..60),
            cuts in proptest::collection::vec(1..8usize, 1..40),
            headers in any::<bool>(),
            header_lag in 0..3usize,
        ) {
            let name = utf16("a");
            // The stream's first record: a loss before it cannot be seen by anyone.
            let mut records = vec![event(1, &name)];
            let mut seq = 2u64;
            let mut dropped_total = 0;
            for s in &steps {
                let first = seq;
                seq += s.dropped;
                dropped_total += s.dropped;
                records.push(event(seq, &name));
                seq += 1;
                if s.dropped > 0 && s.reported {
                    records.push(loss(seq, first, first + s.dropped - 1, s.dropped, LossReason::RingFull));
                    seq += 1;
                }
            }
            // Cut into batches. With `headers`, each batch header declares (as the driver's
            // `lost_since_previous`) the drops below its last sequence number not declared
            // yet, `header_lag` batches early or late being allowed for.
            let mut chunks = Vec::new();
            let mut rest = &records[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            let delivered_seqs: std::collections::BTreeSet<u64> =
                records.iter().map(|r| r.header.seq).collect();
            let mut declared_up_to = 0u64;
            let mut declarations = Vec::new();
            for chunk in &chunks {
                let last = chunk.last().map_or(0, |r| r.header.seq);
                let dropped = (declared_up_to + 1..=last)
                    .filter(|s| !delivered_seqs.contains(s))
                    .count() as u64;
                declared_up_to = declared_up_to.max(last);
                declarations.push(if headers { dropped } else { 0 });
            }
            // Shift declarations earlier (toward the first batch) by `header_lag`.
            let shift = header_lag.min(declarations.len().saturating_sub(1));
            let mut shifted = vec![0u64; declarations.len()];
            for (i, d) in declarations.iter().enumerate() {
                shifted[i.saturating_sub(shift)] += d;
            }
            let batches: Vec<Vec<u8>> = chunks
                .iter()
                .zip(&shifted)
                .map(|(chunk, lost)| batch(BatchFlags::UTF16_NAMES, *lost, chunk).unwrap())
                .collect();
            let out = run(&mut Decoder::new(), &batches);
            let reported: u64 = out
                .iter()
                .filter_map(|o| match o {
                    Err(Notice::EventsLost { count, .. }) => Some(*count),
                    _ => None,
                })
                .sum();
            prop_assert_eq!(reported, dropped_total);
            let delivered = out.iter().filter(|o| o.is_ok()).count();
            prop_assert_eq!(delivered, steps.len() + 1);
        }
    }
}
