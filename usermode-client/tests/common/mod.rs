//! Shared by the capture generator and the replay tests: how the shipped captures are built.
#![allow(dead_code)] // Each test file uses part of it.

use std::path::PathBuf;

pub mod replay_bytes;
pub mod spread_capture;

use picket_capture::{CaptureHeader, CaptureWriter, HostOs};
use picket_integration_tests::workload::{self, Action, Operation as WorkloadOp, Platform};
use picket_model::{ProcessInfo, ProcessKey, Timestamp};
use picket_protocol::{
    BatchFlags, Body, DeleteMethod, DriverHello, FileRef, Loss, LossReason, Name, Record,
    RecordHeader, SetAttributes, Stats,
};
use picket_synth::{
    batch, close_modified, created, delete, first_write, hard_link, opened, rename, truncate,
    utf16, utf16_units,
};

/// 2026-01-02T03:04:05Z in 100 ns ticks since 1601.
pub const T0: u64 = 134_117_966_450_000_000;
/// One millisecond in ticks.
pub const MS: u64 = 10_000;

pub const WIN_SCRATCH: &str = r"C:\Users\analyst\AppData\Local\Temp\picket-scratch";
pub const WIN_SCRATCH_NT: &str =
    r"\Device\HarddiskVolume3\Users\analyst\AppData\Local\Temp\picket-scratch";
pub const WIN_RUNNER: ProcessKey = ProcessKey {
    pid: 4242,
    start_key: 0x0000_0001_0000_1a2b,
};
pub const WIN_IMAGE: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
pub const WIN_CMDLINE: &str =
    r#""powershell.exe" -NoProfile -File C:\picket\tests\vm\Invoke-PicketVmTest.ps1"#;
pub const WIN_USER: &str = r"PICKET-VM\analyst";
pub const WIN_HOST: &str = "PICKET-VM";

pub const LINUX_SCRATCH: &str = "/tmp/picket-scratch";
pub const LINUX_RUNNER: ProcessKey = ProcessKey {
    pid: 31337,
    start_key: 1_234_567,
};
pub const LINUX_IMAGE: &str = "/usr/bin/python3.12";

/// `tests/captures/` at the repository root.
pub fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/captures")
}

pub fn capture_path(name: &str) -> PathBuf {
    captures_dir().join(name)
}

/// Builds one capture's bytes.
pub type Builder = fn() -> Vec<u8>;

/// The shipped captures: (file name, builder).
pub const CAPTURES: [(&str, Builder); 3] = [
    ("windows-workload.pkcap", windows_workload),
    ("linux-workload.pkcap", linux_workload),
    ("edge-cases.pkcap", edge_cases),
];

/// Owned record parts, so records can borrow names built on the fly.
struct Rec {
    header: RecordHeader,
    kind: Kind,
    file: FileRef,
    name: Vec<u8>,
    new_name: Vec<u8>,
    size: u64,
    method: DeleteMethod,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Open,
    FirstWrite,
    CloseModified,
    Rename,
    HardLink,
    Delete,
    Truncate,
    SetAttributes,
}

impl Rec {
    fn record(&self) -> Record<'_> {
        let f = self.file;
        let body = match self.kind {
            Kind::Create => created(f, &self.name),
            Kind::Open => opened(f, &self.name),
            Kind::FirstWrite => first_write(f, &self.name),
            Kind::CloseModified => close_modified(f, &self.name),
            Kind::Rename => rename(f, &self.name, &self.new_name),
            Kind::HardLink => hard_link(f, &self.name, &self.new_name),
            Kind::Delete => delete(f, self.method, &self.name),
            Kind::Truncate => truncate(f, self.size, &self.name),
            Kind::SetAttributes => Body::SetAttributes(SetAttributes {
                file: f,
                attributes: 0x20,
                name: Name::new(&self.name),
            }),
        };
        Record {
            header: self.header,
            body,
        }
    }
}

fn header(seq: u64, key: ProcessKey) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: T0 + seq * MS,
        pid: key.pid,
        tid: key.pid + 4,
        process_start_key: key.start_key,
    }
}

fn control(seq: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp: T0 + seq * MS,
        pid: 0,
        tid: 0,
        process_start_key: 0,
    }
}

fn hello() -> Body<'static> {
    Body::DriverHello(DriverHello {
        driver_version: [0, 1, 0],
        protocol_major: picket_protocol::PROTOCOL_MAJOR,
        protocol_minor: picket_protocol::PROTOCOL_MINOR,
        capabilities: 0xFF,
        ring_capacity: 4096,
        max_batch_bytes: 65_536,
        send_timeout_ms: 1000,
    })
}

/// The workload's expected events for `platform`, as the source would report them, from
/// the runner process, under `scratch`, plus what a real machine adds: plain opens (ignored
/// by the comparison) and activity outside the scratch folder.
fn workload_records(
    platform: Platform,
    first_seq: u64,
    runner: ProcessKey,
    join: &dyn Fn(&str) -> Vec<u8>,
) -> Vec<Rec> {
    let w = workload::load_default().expect("tests/data/workload.json is valid");
    let mut recs = Vec::new();
    for (seq, (index, expected)) in (first_seq..).zip(w.expected_for(platform).enumerate()) {
        let step = w
            .step(&expected.step)
            .expect("every expected event names a step");
        let is_dir = matches!(step.action, Action::Mkdir { .. } | Action::Rmdir { .. });
        let kind = match expected.operation {
            WorkloadOp::Create => Kind::Create,
            WorkloadOp::Open => Kind::Open,
            WorkloadOp::FirstWrite => Kind::FirstWrite,
            WorkloadOp::CloseModified => Kind::CloseModified,
            WorkloadOp::Rename => Kind::Rename,
            WorkloadOp::Hardlink => Kind::HardLink,
            WorkloadOp::Delete => Kind::Delete,
            WorkloadOp::Truncate => Kind::Truncate,
            WorkloadOp::SetAttributes => Kind::SetAttributes,
        };
        let size = match step.action {
            Action::Truncate { size, .. } => size,
            _ => 0,
        };
        let method = match (platform, &step.action) {
            (Platform::Linux, _) => DeleteMethod::Unlink,
            (Platform::Windows, Action::DeleteOnClose { .. }) => DeleteMethod::DeleteOnClose,
            (Platform::Windows, _) => DeleteMethod::DispositionEx,
        };
        let file = FileRef {
            handle_id: 100 + index as u64,
            file_id: 0x5000 + index as u128,
            is_directory: is_dir,
            name_normalized: true,
        };
        recs.push(Rec {
            header: header(seq, runner),
            kind,
            file,
            name: join(expected.path.as_str()),
            new_name: expected
                .new_path
                .as_ref()
                .map(|p| join(p.as_str()))
                .unwrap_or_default(),
            size,
            method,
        });
    }
    recs
}

fn win_name(rel: &str) -> Vec<u8> {
    utf16(&format!(r"{WIN_SCRATCH_NT}\{}", rel.replace('/', r"\")))
}

fn linux_name(rel: &str) -> Vec<u8> {
    format!("{LINUX_SCRATCH}/{rel}").into_bytes()
}

fn plain(header: RecordHeader, kind: Kind, name: Vec<u8>) -> Rec {
    Rec {
        header,
        kind,
        file: FileRef {
            handle_id: 7,
            file_id: 0,
            is_directory: false,
            name_normalized: false,
        },
        name,
        new_name: Vec::new(),
        size: 0,
        method: DeleteMethod::Disposition,
    }
}

fn writer(
    host_os: HostOs,
    hostname: &str,
    volumes: Vec<(String, String)>,
) -> CaptureWriter<Vec<u8>> {
    CaptureWriter::new(
        Vec::new(),
        &CaptureHeader {
            started_at: Timestamp(T0),
            host_os,
            hostname: hostname.into(),
            protocol: (
                picket_protocol::PROTOCOL_MAJOR,
                picket_protocol::PROTOCOL_MINOR,
            ),
            volumes,
        },
    )
    .expect("writing to memory")
}

fn write_batches(
    w: &mut CaptureWriter<Vec<u8>>,
    flags: BatchFlags,
    records: &[Record<'_>],
    per_batch: usize,
) {
    for (index, chunk) in records.chunks(per_batch).enumerate() {
        let bytes = batch(flags, 0, chunk).expect("records encode");
        w.write_batch(&bytes, Timestamp(T0 + (index as u64 + 1) * 100 * MS))
            .expect("writing to memory");
    }
}

fn win_volumes() -> Vec<(String, String)> {
    vec![
        (r"\Device\HarddiskVolume3".into(), "C:".into()),
        (r"\Device\HarddiskVolume4".into(), "D:".into()),
    ]
}

/// The shared workload as the minifilter reports it, with a driver hello, Defender's noise
/// and a stats record.
pub fn windows_workload() -> Vec<u8> {
    let defender = ProcessKey {
        pid: 888,
        start_key: 0x0000_0001_0000_0042,
    };
    let mut w = writer(HostOs::Windows, WIN_HOST, win_volumes());
    w.write_process(
        &ProcessInfo {
            key: WIN_RUNNER,
            image: Some(WIN_IMAGE.into()),
            command_line: Some(WIN_CMDLINE.into()),
            user: Some(WIN_USER.into()),
            uid: None,
            parent_pid: Some(4000),
            ..ProcessInfo::default()
        },
        Timestamp(T0),
    )
    .expect("writing to memory");
    let mut scratch_open = plain(header(2, defender), Kind::Open, utf16(WIN_SCRATCH_NT));
    scratch_open.file.is_directory = true;
    let mut recs = vec![scratch_open];
    recs.extend(workload_records(
        Platform::Windows,
        3,
        WIN_RUNNER,
        &win_name,
    ));
    let next = recs.last().map_or(3, |r| r.header.seq + 1);
    recs.push(plain(
        header(next, defender),
        Kind::Create,
        utf16(r"\Device\HarddiskVolume3\ProgramData\Microsoft\Windows Defender\Support\MpLog.txt"),
    ));
    let mut records = vec![Record {
        header: control(1),
        body: hello(),
    }];
    records.extend(recs.iter().map(Rec::record));
    records.push(Record {
        header: control(next + 1),
        body: Body::Stats(Stats {
            events_seen: next + 1,
            events_sent: next + 1,
            events_dropped: 0,
            batches_sent: 3,
            send_failures: 0,
            ring_high_water: 12,
            ring_capacity: 4096,
        }),
    });
    write_batches(&mut w, BatchFlags::UTF16_NAMES, &records, 6);
    w.finish().expect("writing to memory")
}

/// The shared workload as the fanotify source reports it.
pub fn linux_workload() -> Vec<u8> {
    let mut w = writer(HostOs::Linux, "picket-ci", Vec::new());
    w.write_process(
        &ProcessInfo {
            key: LINUX_RUNNER,
            image: Some(LINUX_IMAGE.into()),
            command_line: Some("python3 -m workload /tmp/picket-scratch".into()),
            user: Some("root".into()),
            uid: Some(0),
            parent_pid: Some(1),
            ..ProcessInfo::default()
        },
        Timestamp(T0),
    )
    .expect("writing to memory");
    let mut recs = vec![plain(header(1, LINUX_RUNNER), Kind::Open, linux_name("."))];
    recs.extend(workload_records(
        Platform::Linux,
        2,
        LINUX_RUNNER,
        &linux_name,
    ));
    let next = recs.last().map_or(2, |r| r.header.seq + 1);
    // link(2) raises FAN_ATTRIB on the file: ignored on Linux.
    recs.push(plain(
        header(next, LINUX_RUNNER),
        Kind::SetAttributes,
        linux_name("gamma.txt"),
    ));
    let records: Vec<Record<'_>> = recs.iter().map(Rec::record).collect();
    write_batches(&mut w, BatchFlags::POSIX_NAMES, &records, 5);
    w.finish().expect("writing to memory")
}

pub const REUSED_PID: u32 = 500;

/// Loss, gaps, a malformed batch, hostile names, an unknown volume, an unknown record kind
/// and a reused pid.
pub fn edge_cases() -> Vec<u8> {
    let old = ProcessKey {
        pid: REUSED_PID,
        start_key: 1,
    };
    let new = ProcessKey {
        pid: REUSED_PID,
        start_key: 2,
    };
    let stranger = ProcessKey {
        pid: 777,
        start_key: 9,
    };
    let mut w = writer(HostOs::Windows, WIN_HOST, win_volumes());
    for (key, image) in [(old, r"C:\Apps\old.exe"), (new, r"C:\Users\Public\new.exe")] {
        w.write_process(
            &ProcessInfo {
                key,
                image: Some(image.into()),
                ..ProcessInfo::default()
            },
            Timestamp(T0),
        )
        .expect("writing to memory");
    }
    let data = |name: &str| utf16(&format!(r"\Device\HarddiskVolume3\data\{name}"));
    let mut surrogate: Vec<u16> = r"\Device\HarddiskVolume3\data\x".encode_utf16().collect();
    surrogate.push(0xD800);
    surrogate.extend("y.txt".encode_utf16());
    let batch_a = [
        plain(header(1, old), Kind::Create, data("a.txt")),
        plain(header(2, new), Kind::Create, data("b.txt")),
        plain(header(3, stranger), Kind::Create, utf16_units(&surrogate)),
    ];
    let records: Vec<Record<'_>> = batch_a.iter().map(Rec::record).collect();
    write_batches(&mut w, BatchFlags::UTF16_NAMES, &records, 8);

    // Records 4..=6 were dropped by the driver (ring full); its loss record follows.
    let seven = plain(header(7, old), Kind::FirstWrite, data("a.txt"));
    let b = batch(
        BatchFlags::UTF16_NAMES,
        3,
        &[
            seven.record(),
            Record {
                header: control(8),
                body: Body::Loss(Loss {
                    first_lost_seq: 4,
                    last_lost_seq: 6,
                    count: 3,
                    reason: LossReason::RingFull,
                }),
            },
        ],
    )
    .expect("records encode");
    w.write_batch(&b, Timestamp(T0 + 200 * MS))
        .expect("writing to memory");

    // A batch damaged in transit: its magic is wrong. Records 9 and 10 are in it.
    let lost = [
        plain(header(9, old), Kind::CloseModified, data("a.txt")),
        plain(header(10, old), Kind::Delete, data("a.txt")),
    ];
    let mut damaged = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &lost.iter().map(Rec::record).collect::<Vec<_>>(),
    )
    .expect("records encode");
    damaged[0] ^= 0x20;
    w.write_batch(&damaged, Timestamp(T0 + 300 * MS))
        .expect("writing to memory");

    let long_name = {
        let mut r = plain(
            header(12, new),
            Kind::Create,
            utf16(r"\Device\HarddiskVolume9\usb\report.pdf"),
        );
        r.kind = Kind::Create;
        r
    };
    let renamed = Rec {
        new_name: utf16(r"\Device\HarddiskVolume4\backup\b.txt.locked"),
        kind: Kind::Rename,
        ..plain(header(14, new), Kind::Rename, data("b.txt"))
    };
    let eleven = plain(header(11, new), Kind::FirstWrite, data("b.txt"));
    let mut truncated = long_name.record();
    if let Body::FileCreate(create) = &mut truncated.body {
        create.name.truncated = true;
    }
    let unknown = Record {
        header: header(13, new),
        body: Body::Unknown {
            kind: 0x0200,
            flags: 0,
            fixed: &[0u8; 16],
            name: &[],
            new_name: &[],
        },
    };
    let d = batch(
        BatchFlags::UTF16_NAMES,
        0,
        &[eleven.record(), truncated, unknown, renamed.record()],
    )
    .expect("records encode");
    w.write_batch(&d, Timestamp(T0 + 400 * MS))
        .expect("writing to memory");

    // Records 15..=19 never arrive and no loss record explains them.
    let twenty = plain(header(20, new), Kind::CloseModified, data("b.txt"));
    let e = batch(BatchFlags::UTF16_NAMES, 0, &[twenty.record()]).expect("records encode");
    w.write_batch(&e, Timestamp(T0 + 500 * MS))
        .expect("writing to memory");
    w.finish().expect("writing to memory")
}
