//! The group's kernel queue: larger than the kernel's default, and the system's limit left
//! as it was. Alone in its test binary: other tests creating groups at the same time would
//! see the limit while it is raised. Needs root, as `live.rs`.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::time::Duration;

use common::{drain, flood, open};

const QUIET: Duration = Duration::from_millis(40);
const LIMIT: Duration = Duration::from_secs(10);

/// The group gets [`picket_fanotify::group::QUEUE_EVENTS`] of queue even where the system's
/// limit is the kernel's default, and the system's limit is left as it was.
#[test]
fn the_group_holds_more_than_the_default_queue() {
    let before = fs::read_to_string("/proc/sys/fs/fanotify/max_queued_events").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut source = open(d, false);
    drain(&mut source, d, QUIET, LIMIT);
    let after = fs::read_to_string("/proc/sys/fs/fanotify/max_queued_events").unwrap();
    assert_eq!(before, after, "the system's limit is put back");
    let limit = source.capabilities().queue_limit;
    let system: u32 = before.trim().parse().unwrap();
    assert_eq!(limit, system.max(picket_fanotify::group::QUEUE_EVENTS));
    // Twice the kernel's default, unread: a group with the default would overflow.
    let files = 2 * 16_384;
    let out = flood(&mut source, d, files);
    assert!(out.losses.is_empty(), "losses: {:?}", out.losses);
    let creates = out.records.iter().filter(|s| s.kind == "create").count();
    assert_eq!(creates, files);
}
