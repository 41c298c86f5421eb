//! Windows capture headers, and a synthetic capture whose batches were received over a span of time, for tests that need a
//! replay to take a while (`--pace real`).

use std::path::Path;
use std::time::Duration;

use picket_capture::{CaptureHeader, CaptureWriter, HostOs};
use picket_model::Timestamp;

/// When the capture starts, in 100 ns ticks since 1601.
const START: u64 = 133_500_000_000_000_000;

/// The header of a capture recorded on Windows host `H` (volume 3 is `C:`) at `started_at`,
/// in this build's protocol version.
pub fn windows_header(started_at: Timestamp) -> CaptureHeader {
    CaptureHeader {
        started_at,
        host_os: HostOs::Windows,
        hostname: "H".into(),
        protocol: (
            picket_protocol::PROTOCOL_MAJOR,
            picket_protocol::PROTOCOL_MINOR,
        ),
        volumes: vec![(r"\Device\HarddiskVolume3".into(), "C:".into())],
    }
}

/// Writes to `path` a capture of `events` synthetic records whose batches were received
/// evenly over `span`.
///
/// # Panics
/// When generating or writing the capture fails.
pub fn spread_capture(path: &Path, events: u64, span: Duration) {
    let mut batches = Vec::new();
    picket_synth::workload_stream(events, |b| batches.push(b.to_vec())).unwrap();
    let mut w = CaptureWriter::new(Vec::new(), &windows_header(Timestamp(START))).unwrap();
    let step = span.as_nanos() as u64 / 100 / batches.len() as u64;
    for (i, b) in batches.iter().enumerate() {
        w.write_batch(b, Timestamp(START + i as u64 * step))
            .unwrap();
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}
