//! The whole pipeline (capture framing → decode → parse → enrich → emit) on mutated
//! captures: it must never panic, every line it writes must be JSON, and a broken file must
//! end in an error that names the file — in normal `cargo test`, on top of the cargo-fuzz
//! target in `usermode-client/fuzz`.

mod common;

use picket_emit::Format;
use proptest::prelude::*;

use common::replay_bytes::replay_bytes;

/// Runs the pipeline on `bytes`; returns the output and the error it ended in, if any.
fn replay(bytes: &[u8], format: Format) -> (String, Option<String>) {
    replay_bytes(bytes, "mutated.pkcap", format)
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, value: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<usize>(), prop_oneof![Just(0u8), Just(0xFF), Just(0x7F), any::<u8>()])
            .prop_map(|(at, value)| Mutation::Set { at, value }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..24))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (any::<usize>(), 1..128usize).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let n = bytes.len().max(1);
    match mutation {
        Mutation::Flip { at, mask } => {
            if let Some(b) = bytes.get_mut(at % n) {
                *b ^= mask;
            }
        }
        Mutation::Set { at, value } => {
            if let Some(b) = bytes.get_mut(at % n) {
                *b = *value;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % n),
        Mutation::Insert { at, bytes: extra } => {
            let at = at % n;
            bytes.splice(at..at, extra.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = at % n;
            let end = (at + len).min(bytes.len());
            bytes.drain(at..end);
        }
        Mutation::Duplicate { at, len } => {
            let at = at % n;
            let end = (at + len).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(end..end, copy);
        }
    }
}

fn check(bytes: &[u8], format: Format) -> Result<(), TestCaseError> {
    let (out, error) = replay(bytes, format);
    for line in out.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {line}")))?;
        prop_assert!(
            value.get("class_uid").is_some()
                || value.get("event").is_some()
                || value.get("picket_notice").is_some(),
            "neither an event nor a notice: {line}"
        );
    }
    if let Some(error) = error {
        prop_assert!(
            error.contains("mutated.pkcap"),
            "error without the file name: {error}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 384,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_captures_never_panic_and_write_only_json(
        which in 0..common::CAPTURES.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
        ecs in any::<bool>(),
    ) {
        let mut bytes = std::fs::read(common::capture_path(common::CAPTURES[which].0)).unwrap();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check(&bytes, if ecs { Format::Ecs } else { Format::Ocsf })?;
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let shipped = std::fs::read(common::capture_path("edge-cases.pkcap")).unwrap();
        let header_len = u32::from_le_bytes(shipped[12..16].try_into().unwrap()) as usize;
        let mut bytes = shipped[..header_len].to_vec();
        bytes.extend(tail);
        check(&bytes, Format::Ocsf)?;
    }
}

#[test]
fn an_intact_capture_replays_without_error() {
    for (name, _) in common::CAPTURES {
        let bytes = std::fs::read(common::capture_path(name)).unwrap();
        let (out, error) = replay(&bytes, Format::Ocsf);
        assert_eq!(error, None, "{name}");
        assert!(out.lines().count() > 5, "{name}");
    }
}
