//! The captures shipped in `tests/captures/` are generated here from records encoded with
//! `picket-protocol` (and the shared workload in `tests/data/workload.json`). This test
//! rebuilds them and compares byte for byte, so any change to the wire format, the capture
//! format or the workload shows up as a failure. After an intended change, regenerate with:
//!
//! ```text
//! PICKET_BLESS=1 cargo test -p picket --test captures
//! ```

mod common;

#[test]
fn shipped_captures_match_their_generator() {
    let bless = std::env::var_os("PICKET_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, build) in common::CAPTURES {
        let path = common::capture_path(name);
        let bytes = build();
        if bless {
            std::fs::create_dir_all(common::captures_dir()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        match std::fs::read(&path) {
            Ok(shipped) if shipped == bytes => {}
            Ok(_) => stale.push(format!("{name} differs from its generator")),
            Err(error) => stale.push(format!("{name}: {error}")),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nregenerate with: PICKET_BLESS=1 cargo test -p picket --test captures",
        stale.join("\n")
    );
}
