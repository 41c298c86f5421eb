//! What one OCSF file-activity line costs: `serde_json` over the borrowed structs (the
//! reference form) against the direct writer the emitter uses, on the same events in the
//! same run, in CPU time per event. Events: Windows-shaped paths (backslashes to escape),
//! with and without details.
//!
//! Run: `cargo bench -p picket-emit --bench ocsf_line`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
#[cfg(not(unix))]
use std::time::Instant;

use picket_emit::ocsf::{line, FileActivity};
use picket_emit::HostInfo;
use picket_model::{
    CreateDetails, Details, FileEvent, FilePath, Host, Operation, ProcessInfo, ProcessKey,
    Timestamp,
};

#[allow(clippy::field_reassign_with_default)] // Robust to fields added to the model.
fn events(n: usize) -> Vec<FileEvent> {
    let mut process = ProcessInfo::default();
    process.key = ProcessKey {
        pid: 4242,
        start_key: 133_000_000_000,
    };
    process.image = Some(r"C:\Program Files\Google\Chrome\Application\chrome.exe".into());
    process.command_line =
        Some(r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=utility"#.into());
    process.user = Some(r"CONTOSO\alice.martin".into());
    let process = Arc::new(process);
    (0..n)
        .map(|i| {
            let dir = format!(
                r"C:\Users\alice.martin\AppData\Local\Google\Chrome\User Data\Default\Cache\Cache_Data\{}",
                i % 17
            );
            let name = format!("f_{i:06x}.tmp");
            let path = format!(r"{dir}\{name}");
            let original = format!(r"\Device\HarddiskVolume3{}", &path[2..]);
            let target = FilePath::from_text(&path).with_original(original);
            FileEvent {
                seq: i as u64,
                time: Timestamp::from_unix_nanos(1_780_000_000_000_000_000 + i as u64 * 1000),
                host: Host::Windows,
                operation: Operation::ALL[i % Operation::ALL.len()],
                process: Arc::clone(&process),
                thread_id: 7,
                target,
                source: None,
                details: Details {
                    handle_id: i as u64,
                    file_id: 0x1234_5678,
                    create: (i % 2 == 0).then_some(CreateDetails {
                        disposition: 3,
                        options: 0x60,
                        desired_access: 0x12_019f,
                        result: 2,
                    }),
                    ..Details::default()
                },
                entropy: None,
            }
        })
        .collect()
}

fn cpu_now() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
        assert_eq!(rc, 0);
        Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(unix))]
    {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// Best of five passes: CPU time per event, bytes written per pass.
fn measure(events: &[FileEvent], mut write: impl FnMut(&FileEvent, &mut Vec<u8>)) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut bytes = 0;
    let mut line = Vec::with_capacity(4096);
    for _ in 0..5 {
        let start = cpu_now();
        bytes = 0;
        for event in events {
            line.clear();
            write(black_box(event), &mut line);
            bytes += black_box(&line).len();
        }
        #[allow(clippy::cast_precision_loss)]
        let per = (cpu_now() - start).as_secs_f64() * 1e9 / events.len() as f64;
        best = best.min(per);
    }
    (best, bytes)
}

fn main() {
    let events = events(100_000);
    let host = HostInfo {
        hostname: Some("ws-01".into()),
    };
    let (serde, serde_bytes) = measure(&events, |e, out| {
        serde_json::to_writer(out, &FileActivity::new(e, &host)).unwrap();
    });
    let mut writer = line::LineWriter::new(&host);
    let (direct, direct_bytes) = measure(&events, |e, out| writer.file_activity(out, e));
    assert_eq!(serde_bytes, direct_bytes, "the two forms differ");
    println!(
        "OCSF file activity line, {} events, 1 thread, CPU time:",
        events.len()
    );
    println!("serde_json structs  {serde:>8.0} ns/event");
    println!(
        "direct writer       {direct:>8.0} ns/event  ({:.2}x faster than serde_json)",
        serde / direct
    );
}
