//! Any bytes as a capture file, through the whole pipeline. Properties: no panic, and every
//! line written is JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_emit::Format;

// The same wiring as the mutated-capture test in `cargo test`.
#[path = "../../tests/common/replay_bytes.rs"]
mod replay_bytes;

fuzz_target!(|data: &[u8]| {
    let format = if data.len().is_multiple_of(2) {
        Format::Ocsf
    } else {
        Format::Ecs
    };
    let (text, _error) = replay_bytes::replay_bytes(data, "fuzz.pkcap", format);
    for line in text.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON object: {line}"
        );
    }
});
