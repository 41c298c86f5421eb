//! Loss declared only by a batch header (`lost_since_previous`, PROTOCOL.md §9) is counted
//! by `replay` and `stats`, through the real binary.

use std::process::Command;

mod common;

use common::spread_capture::windows_header;
use picket_capture::CaptureWriter;
use picket_model::Timestamp;
use picket_protocol::{BatchFlags, Record};
use picket_synth::{batch, created, file, header, utf16};

fn capture_with_an_empty_batch_declaring_seven_lost(path: &std::path::Path) {
    let mut w = CaptureWriter::new(
        Vec::new(),
        &windows_header(Timestamp(134_117_966_450_000_000)),
    )
    .unwrap();
    let name = utf16(r"\Device\HarddiskVolume3\a.txt");
    let first = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &[Record {
            header: header(1, 134_117_966_450_000_000, 4, 8),
            body: created(file(1, 0), &name),
        }],
    )
    .unwrap();
    let empty = batch(BatchFlags::UTF16_NAMES, 7, &[]).unwrap();
    for (i, b) in [first, empty].iter().enumerate() {
        w.write_batch(b, Timestamp(134_117_966_450_000_000 + i as u64))
            .unwrap();
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}

#[test]
fn an_empty_batch_declaring_losses_is_counted_by_replay_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("declared.pkcap");
    capture_with_an_empty_batch_declaring_seven_lost(&path);
    let picket = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_picket"))
            .args(args)
            .arg(&path)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let replay = picket(&["replay", "--no-detect"]);
    assert!(replay.status.success());
    let stdout = String::from_utf8(replay.stdout).unwrap();
    let lost: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["picket_notice"] == "events_lost")
        .collect();
    assert_eq!(lost.len(), 1, "{stdout}");
    assert_eq!(lost[0]["count"], 7);
    assert_eq!(lost[0]["cause"], "batch_header");
    let stderr = String::from_utf8(replay.stderr).unwrap();
    assert!(stderr.contains(" 7 lost"), "{stderr}");

    let stats = picket(&["stats"]);
    assert!(stats.status.success());
    let text = String::from_utf8(stats.stdout).unwrap();
    assert!(text.contains("lost         7 events"), "{text}");
}
