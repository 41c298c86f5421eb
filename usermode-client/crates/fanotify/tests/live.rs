//! The source on a real fanotify group: real file operations in a temporary folder, and the
//! exact records they must produce. These need root (CI runs as root); without fanotify they
//! fail at `open`, loudly. fanotify is Linux's: elsewhere this file holds no test.

#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{drain, flood, open, triples, Seen};
use picket_fanotify::FanotifySource;
use picket_protocol::LossReason;

const QUIET: Duration = Duration::from_millis(40);
const LIMIT: Duration = Duration::from_secs(10);

fn t(kind: &str, path: &str, new_path: &str) -> (String, String, String) {
    (kind.to_owned(), path.to_owned(), new_path.to_owned())
}

/// Runs each step, then reads what it caused before the next one: a reader that keeps up,
/// as the client does. (Unread events about one object are merged by the kernel.)
fn run_steps(source: &mut FanotifySource, root: &Path, steps: &[&dyn Fn()]) -> Vec<Seen> {
    let mut seen = Vec::new();
    for step in steps {
        step();
        seen.extend(drain(source, root, QUIET, LIMIT).records);
    }
    seen
}

/// The records of a new file written once and closed.
fn created_and_written(name: &str) -> Vec<(String, String, String)> {
    vec![
        t("create", name, ""),
        t("first_write", name, ""),
        t("close_modified", name, ""),
    ]
}

fn write_new(path: &Path, size: usize) {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap();
    f.write_all(&vec![7u8; size]).unwrap();
}

#[test]
fn reports_each_operation_with_its_paths_process_and_order() {
    let caps = workload_under(picket_fanotify::Features::default());
    assert!(caps.rename_event && caps.target_fid && caps.object_fid && caps.pidfd);
}

/// As on a Linux 5.9 kernel: no pidfd, no object or target handles, no `FAN_RENAME` (so
/// renames come as `MOVED_FROM`/`MOVED_TO` halves): the same records.
#[test]
fn the_fallbacks_for_older_kernels_give_the_same_records() {
    let caps = workload_under(picket_fanotify::Features {
        pidfd: false,
        object_fid: false,
        target_fid: false,
        rename_event: false,
    });
    assert!(!caps.rename_event && !caps.target_fid && !caps.object_fid && !caps.pidfd);
}

/// As on Linux 5.15/5.16: pidfd and object handles, but no `FAN_RENAME` or target handles.
#[test]
fn rename_halves_are_paired_with_object_handles() {
    let caps = workload_under(picket_fanotify::Features {
        target_fid: false,
        rename_event: false,
        ..picket_fanotify::Features::default()
    });
    assert!(!caps.rename_event && caps.object_fid);
}

/// Runs the shared workload's steps with a source limited to `features` and checks every
/// record.
fn workload_under(features: picket_fanotify::Features) -> picket_fanotify::Capabilities {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = common::open_configured(d, |config| {
        config.exclude_self = false;
        config.features = features;
    });
    let caps = source.capabilities();
    let first = drain(&mut source, d, QUIET, LIMIT);
    assert!(first.hello, "the stream opens with a hello record");

    let seen = run_steps(
        &mut source,
        d,
        &[
            &|| fs::create_dir(d.join("sub")).unwrap(),
            &|| write_new(&d.join("alpha.txt"), 4096),
            &|| {
                let mut f = OpenOptions::new()
                    .append(true)
                    .open(d.join("alpha.txt"))
                    .unwrap();
                f.write_all(&[1; 1024]).unwrap();
            },
            &|| fs::rename(d.join("alpha.txt"), d.join("sub/beta.txt")).unwrap(),
            &|| fs::hard_link(d.join("sub/beta.txt"), d.join("gamma.txt")).unwrap(),
            &|| {
                OpenOptions::new()
                    .write(true)
                    .open(d.join("gamma.txt"))
                    .unwrap()
                    .set_len(1000)
                    .unwrap();
            },
            &|| fs::remove_file(d.join("gamma.txt")).unwrap(),
            &|| {
                let open = File::open(d.join("sub/beta.txt")).unwrap();
                fs::remove_file(d.join("sub/beta.txt")).unwrap();
                drop(open);
            },
            &|| fs::remove_dir(d.join("sub")).unwrap(),
        ],
    );
    // link(2) and unlink(2) also raise a name-less FAN_ATTRIB (link count): not reported.
    let files = seen.clone();
    assert_eq!(
        triples(&files),
        vec![
            t("create", "sub", ""),
            t("create", "alpha.txt", ""),
            t("first_write", "alpha.txt", ""),
            t("close_modified", "alpha.txt", ""),
            t("first_write", "alpha.txt", ""),
            t("close_modified", "alpha.txt", ""),
            t("rename", "alpha.txt", "sub/beta.txt"),
            t("create", "gamma.txt", ""),
            t("first_write", "gamma.txt", ""),
            t("close_modified", "gamma.txt", ""),
            t("delete", "gamma.txt", ""),
            t("delete", "sub/beta.txt", ""),
            t("delete", "sub", ""),
        ]
    );
    let me = std::process::id();
    let my_key = picket_fanotify::process::read_start_key(me);
    assert_ne!(my_key, 0);
    for s in &seen {
        assert_eq!(s.pid, me, "{s:?}");
        assert_eq!(s.start_key, my_key, "{s:?}");
    }
    assert!(
        files[0].dir && files[12].dir,
        "mkdir and rmdir are directory records"
    );
    assert!(files[1..12].iter().all(|s| !s.dir));
    if caps.object_fid {
        // One inode throughout: alpha, beta and its link gamma. Entry events (create,
        // rename, delete) carry it only with target handles.
        let ids: Vec<u128> = files[1..12]
            .iter()
            .map(|s| s.file_id)
            .filter(|&id| id != 0)
            .collect();
        assert!(
            !ids.is_empty() && ids.iter().all(|&id| id == ids[0]),
            "{ids:?}"
        );
        if caps.target_fid {
            assert_eq!(ids.len(), 11);
        }
        assert!(source.counters().translated.link_count_changes >= 3);
    }
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq));
    caps
}

#[test]
fn excludes_the_readers_own_events_but_not_a_childs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = open(d, true);
    drain(&mut source, d, QUIET, LIMIT);
    write_new(&d.join("mine.txt"), 10);
    let status = Command::new("sh")
        .arg("-c")
        .arg("echo hello > child.txt")
        .current_dir(d)
        .spawn()
        .unwrap();
    let child_pid = status.id();
    let mut status = status;
    assert!(status.wait().unwrap().success());
    let seen = drain(&mut source, d, QUIET, LIMIT).records;
    assert_eq!(triples(&seen), created_and_written("child.txt"));
    assert!(seen.iter().all(|s| s.pid == child_pid));
    if source.capabilities().pidfd {
        // The shell had exited (and was reaped) before its events were read: the kernel
        // says so with FAN_EPIDFD, and the key is unknown rather than read from whatever
        // process holds that pid now.
        assert!(seen.iter().all(|s| s.start_key == 0), "{seen:?}");
    }
    assert!(source.counters().translated.own_events >= 1);
}

/// With process tracking the group asks for no pidfds (they were two thirds of a bare
/// reader's CPU per event): the tracker saw the child fork and exit, so the child's events,
/// read after it was gone, take its start key from the tracker's table — the key it had,
/// not 0. (Which pids are in doubt, and when `/proc` is trusted for them, is `PidChurn`'s,
/// tested in `process`: a reused pid cannot be made to order here.)
#[test]
fn with_process_tracking_an_exited_childs_events_keep_its_start_key_without_pidfds() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = common::open_configured(d, |config| config.processes = true);
    assert!(
        !source.capabilities().pidfd,
        "the tracker stands in for pidfds"
    );
    drain(&mut source, d, QUIET, LIMIT);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read go; echo hello > child.txt")
        .current_dir(d)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let key = picket_fanotify::process::read_start_key(child_pid);
    assert_ne!(key, 0);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(child.wait().unwrap().success());
    let seen: Vec<Seen> = drain(&mut source, d, QUIET, LIMIT)
        .records
        .into_iter()
        .filter(|s| s.pid == child_pid)
        .collect();
    assert_eq!(triples(&seen), created_and_written("child.txt"));
    assert!(
        seen.iter().all(|s| s.start_key == key),
        "{seen:?}, key {key}"
    );
}

#[test]
fn ignores_events_outside_the_watched_tree() {
    let watched = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut source = open(watched.path(), false);
    drain(&mut source, watched.path(), QUIET, LIMIT);
    write_new(&other.path().join("elsewhere.txt"), 1);
    fs::create_dir(watched.path().join("inside")).unwrap();
    let seen = drain(&mut source, watched.path(), QUIET, LIMIT).records;
    assert_eq!(triples(&seen), vec![t("create", "inside", "")]);
    assert!(source.counters().translated.out_of_scope >= 1);
}

#[test]
fn follows_renamed_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = open(d, false);
    drain(&mut source, d, QUIET, LIMIT);
    let seen = run_steps(
        &mut source,
        d,
        &[
            &|| fs::create_dir_all(d.join("a/b")).unwrap(),
            &|| fs::rename(d.join("a"), d.join("z")).unwrap(),
            &|| write_new(&d.join("z/b/f"), 1),
            &|| fs::rename(d.join("z/b/f"), d.join("z/g")).unwrap(),
            &|| fs::set_permissions(d.join("z/g"), fs::Permissions::from_mode(0o600)).unwrap(),
        ],
    );
    assert_eq!(
        triples(&seen),
        vec![
            t("create", "a", ""),
            t("create", "a/b", ""),
            t("rename", "a", "z"),
            t("create", "z/b/f", ""),
            t("first_write", "z/b/f", ""),
            t("close_modified", "z/b/f", ""),
            t("rename", "z/b/f", "z/g"),
            t("set_attributes", "z/g", ""),
        ]
    );
    assert!(seen[2].dir, "a directory rename says so");
}

#[test]
fn a_queue_overflow_becomes_a_loss_record() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = open(d, false);
    drain(&mut source, d, QUIET, LIMIT);
    let limit = usize::try_from(source.capabilities().queue_limit).unwrap();
    assert!(limit > 0, "the queue limit is known");
    // Nobody reads while this runs: the queue must overflow. Distinct names, so the
    // kernel cannot merge the events.
    let files = limit + limit / 4;
    let out = flood(&mut source, d, files);
    assert!(
        out.losses.contains(&(1, LossReason::QueueOverflow)),
        "losses: {:?}",
        out.losses
    );
    assert_eq!(
        out.header_lost,
        out.losses.len() as u64,
        "the batch headers carry the loss"
    );
    let creates = out.records.iter().filter(|s| s.kind == "create").count();
    assert!(creates < files, "{creates} creates seen of {files}");
    assert!(creates > 0);
    assert!(source.counters().translated.overflows >= 1);
}

#[test]
fn periodic_stats_records_report_the_counters() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = common::open_configured(d, |config| {
        config.exclude_self = false;
        config.stats_interval = Duration::from_millis(100);
    });
    drain(&mut source, d, QUIET, LIMIT);
    write_new(&d.join("a"), 1);
    let out = drain(&mut source, d, Duration::from_millis(400), LIMIT);
    let last = out
        .stats
        .last()
        .expect("a stats record within 400 ms of quiet");
    assert!(last.events_seen >= 1);
    assert!(
        last.events_sent >= 4,
        "hello + create + first_write + close_modified"
    );
    assert_eq!(last.events_dropped, 0);
    assert_eq!(last.ring_capacity, source.capabilities().queue_limit);
}

#[test]
fn hard_links_can_be_reported_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = common::open_configured(d, |config| {
        config.exclude_self = false;
        config.report_hard_links = true;
    });
    drain(&mut source, d, QUIET, LIMIT);
    let seen = run_steps(
        &mut source,
        d,
        &[
            &|| write_new(&d.join("a.txt"), 1),
            &|| fs::rename(d.join("a.txt"), d.join("b.txt")).unwrap(),
            &|| fs::hard_link(d.join("b.txt"), d.join("c.txt")).unwrap(),
        ],
    );
    assert_eq!(
        triples(&seen),
        vec![
            t("create", "a.txt", ""),
            t("first_write", "a.txt", ""),
            t("close_modified", "a.txt", ""),
            t("rename", "a.txt", "b.txt"),
            t("hardlink", "b.txt", "c.txt"),
        ]
    );
}

/// Every event's pidfd is closed as its event is read: after thousands of events
/// the reader holds no more descriptors than before (a few more at most, opened meanwhile
/// by tests running beside this one).
#[test]
fn no_event_descriptor_outlives_its_read() {
    let open_descriptors = || fs::read_dir("/proc/self/fd").unwrap().count();
    let dir = tempfile::tempdir().unwrap();
    let mut source = open(dir.path(), false);
    let before = open_descriptors();
    let out = flood(&mut source, dir.path(), 3000);
    assert!(out.records.len() >= 3000, "{} records", out.records.len());
    let after = open_descriptors();
    assert!(
        after < before + 100,
        "{before} descriptors open before 3000 events, {after} after"
    );
}

/// A tmpfs of its own, mounted on a temp dir for as long as it lives: a test of a whole
/// file system's mark that must see no other program's (or test's) events.
struct PrivateTmpfs(tempfile::TempDir);

impl PrivateTmpfs {
    fn mount() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "picket-live-test"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(mounted, "mount a private tmpfs (these tests run as root)");
        Self(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for PrivateTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// The group says how many events its queue holds (what the pace asks once reads come back
/// full): as many as a read then finds. On a tmpfs of its own: the group's mark covers the
/// whole file system, and on a shared one other tests' files queued events between the
/// count and the read.
#[test]
fn the_group_counts_its_queued_events() {
    let tmp = PrivateTmpfs::mount();
    let d = tmp.path();
    let group =
        picket_fanotify::group::Group::open(d, picket_fanotify::Features::default()).unwrap();
    assert_eq!(group.queued_events().unwrap(), 0);
    for i in 0..300 {
        write_new(&d.join(format!("f{i}")), 10);
    }
    let queued = group.queued_events().unwrap();
    assert!(queued >= 300, "at least a create per file: {queued}");
    let mut buf = vec![0u8; 1 << 20];
    let mut read = 0;
    while group.wait(0).unwrap() {
        let n = group.read(&mut buf).unwrap();
        for event in picket_fanotify::parse::events(&buf[..n]) {
            picket_fanotify::group::release_descriptors(&event.unwrap());
            read += 1;
        }
    }
    assert_eq!(read, queued);
    assert_eq!(group.queued_events().unwrap(), 0);
}
