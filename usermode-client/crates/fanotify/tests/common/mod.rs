//! Drives a real [`FanotifySource`] and decodes its batches with the protocol decoder, the
//! way the client does.

#![allow(dead_code)]

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use picket_fanotify::{FanotifySource, SourceConfig};
use picket_model::{BatchSource, Pull};
use picket_protocol::{decode_batch, Body, LossReason};

/// One decoded record, simplified for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: &'static str,
    pub path: String,
    pub new_path: String,
    pub pid: u32,
    pub start_key: u64,
    pub seq: u64,
    pub dir: bool,
    pub file_id: u128,
}

/// Everything one drain produced.
#[derive(Debug, Default)]
pub struct Drained {
    pub records: Vec<Seen>,
    /// (count, reason) of loss records.
    pub losses: Vec<(u64, LossReason)>,
    /// Sum of batch headers' lost counts.
    pub header_lost: u64,
    pub hello: bool,
    pub batches: usize,
    pub stats: Vec<picket_protocol::Stats>,
    pub process_starts: usize,
    pub process_exits: usize,
}

pub fn open(dir: &Path, exclude_self: bool) -> FanotifySource {
    let mut config = SourceConfig::new(dir);
    config.exclude_self = exclude_self;
    open_with(config)
}

/// [`open_with`] the defaults for `dir` as `configure` changes them.
pub fn open_configured(dir: &Path, configure: impl FnOnce(&mut SourceConfig)) -> FanotifySource {
    let mut config = SourceConfig::new(dir);
    configure(&mut config);
    open_with(config)
}

pub fn open_with(mut config: SourceConfig) -> FanotifySource {
    config.poll_interval = Duration::from_millis(50);
    FanotifySource::open(&config)
        .expect("fanotify must work here (root, Linux >= 5.9): these tests never pass without it")
}

fn rel(path: &[u8], root: &[u8]) -> String {
    let rel = path
        .strip_prefix(root)
        .map_or(path, |r| r.strip_prefix(b"/").unwrap_or(r));
    String::from_utf8_lossy(rel).into_owned()
}

/// Pulls batches until the source has been idle `quiet` long (at most `limit`).
pub fn drain(
    source: &mut FanotifySource,
    root: &Path,
    quiet: Duration,
    limit: Duration,
) -> Drained {
    let root = std::fs::canonicalize(root).unwrap();
    let root = root.as_os_str().as_bytes();
    let mut out = Drained::default();
    let mut buf = Vec::new();
    let start = Instant::now();
    let mut last = Instant::now();
    while start.elapsed() < limit {
        match source.next_batch(&mut buf).expect("source works") {
            Pull::Batch => {
                last = Instant::now();
                out.batches += 1;
                let batch = decode_batch(&buf).expect("source batches decode");
                assert!(batch.header.flags.posix_names());
                out.header_lost += batch.header.lost_since_previous;
                for record in batch.records() {
                    let h = record.header;
                    let mut seen =
                        |kind, file: &picket_protocol::FileRef, name: &[u8], new: &[u8]| {
                            out.records.push(Seen {
                                kind,
                                path: rel(name, root),
                                new_path: rel(new, root),
                                pid: h.pid,
                                start_key: h.process_start_key,
                                seq: h.seq,
                                dir: file.is_directory,
                                file_id: file.file_id,
                            });
                        };
                    match record.body {
                        Body::FileCreate(b) => seen("create", &b.file, b.name.bytes, b""),
                        Body::FirstWrite(b) => seen("first_write", &b.file, b.name.bytes, b""),
                        Body::CloseModified(b) => {
                            seen("close_modified", &b.file, b.name.bytes, b"")
                        }
                        Body::Rename(b) => seen("rename", &b.file, b.name.bytes, b.new_name.bytes),
                        Body::HardLink(b) => {
                            seen("hardlink", &b.file, b.name.bytes, b.new_name.bytes)
                        }
                        Body::Delete(b) => seen("delete", &b.file, b.name.bytes, b""),
                        Body::DeleteStream(b) => seen("delete_stream", &b.file, b.name.bytes, b""),
                        Body::SetSize(b) => seen("truncate", &b.file, b.name.bytes, b""),
                        Body::SetAttributes(b) => {
                            seen("set_attributes", &b.file, b.name.bytes, b"")
                        }
                        Body::DriverHello(_) => out.hello = true,
                        Body::Loss(l) => out.losses.push((l.count, l.reason)),
                        Body::Stats(s) => out.stats.push(s),
                        Body::ProcessStart(_) => out.process_starts += 1,
                        Body::ProcessExit(_) => out.process_exits += 1,
                        Body::Unknown { .. } => {}
                    }
                }
            }
            Pull::Idle => {
                if last.elapsed() >= quiet {
                    break;
                }
            }
            Pull::End => break,
        }
    }
    out
}

/// (kind, path, new_path) of the records, for whole-sequence comparisons.
pub fn triples(records: &[Seen]) -> Vec<(String, String, String)> {
    records
        .iter()
        .map(|r| (r.kind.to_owned(), r.path.clone(), r.new_path.clone()))
        .collect()
}

/// Creates `files` files with distinct names in `dir` while nobody reads (the kernel cannot
/// merge their events), then reads everything they caused.
#[allow(dead_code)] // Not every test binary floods.
pub fn flood(source: &mut FanotifySource, dir: &Path, files: usize) -> Drained {
    for i in 0..files {
        std::fs::File::create(dir.join(format!("f{i}"))).unwrap();
    }
    drain(
        source,
        dir,
        Duration::from_millis(200),
        Duration::from_secs(60),
    )
}
