//! The mapping on hand-built events, with a table standing in for `open_by_handle_at`:
//! merged masks, coalesced writes, rename halves, overflow, exclusion and scope.

use std::collections::{HashMap, VecDeque};

use super::*;
use crate::parse::DirEntry;

#[derive(Default)]
struct Table(HashMap<Vec<u8>, Vec<u8>>);

impl Resolve for Table {
    fn resolve(&mut self, handle: &FileHandle<'_>) -> Option<Vec<u8>> {
        self.0.get(handle.bytes).cloned()
    }
}

fn fh(bytes: &'static [u8]) -> FileHandle<'static> {
    FileHandle {
        fsid: [0; 8],
        handle_type: 1,
        bytes,
    }
}

fn entry(dir: &'static [u8], name: &'static [u8]) -> DirEntry<'static> {
    DirEntry { dir: fh(dir), name }
}

fn ev(
    mask: u64,
    dir: &'static [u8],
    name: &'static [u8],
    object: &'static [u8],
) -> RawEvent<'static> {
    RawEvent {
        mask,
        fd: -1,
        pid: 10,
        entry: Some(entry(dir, name)),
        object: Some(fh(object)),
        ..RawEvent::default()
    }
}

/// A `FAN_RENAME` of `object` from `(directory, name)` to another.
fn rename_ev(
    old: (&'static [u8], &'static [u8]),
    new: (&'static [u8], &'static [u8]),
    object: &'static [u8],
) -> RawEvent<'static> {
    RawEvent {
        mask: mask::RENAME,
        pid: 10,
        old_entry: Some(entry(old.0, old.1)),
        new_entry: Some(entry(new.0, new.1)),
        object: Some(fh(object)),
        ..RawEvent::default()
    }
}

const ACTOR: Actor = Actor {
    pid: 10,
    start_key: 99,
    timestamp: 5,
};

struct Fixture {
    tr: Translator,
    table: Table,
    out: VecDeque<Pending>,
}

impl Fixture {
    fn new() -> Self {
        let mut table = Table::default();
        table.0.insert(b"root".to_vec(), b"/w".to_vec());
        table.0.insert(b"outside".to_vec(), b"/elsewhere".to_vec());
        Self {
            tr: Translator::new(b"/w".to_vec(), Some(666), Limits::default()),
            table,
            out: VecDeque::new(),
        }
    }

    fn feed(&mut self, event: &RawEvent<'_>) {
        self.feed_as(event, ACTOR);
    }

    fn feed_as(&mut self, event: &RawEvent<'_>, actor: Actor) {
        self.tr
            .translate(event, actor, &mut self.table, &mut self.out);
    }

    fn take(&mut self) -> Vec<(PendingBody, String, String)> {
        self.out
            .drain(..)
            .map(|p| {
                (
                    p.body,
                    String::from_utf8(p.name).unwrap(),
                    String::from_utf8(p.new_name).unwrap(),
                )
            })
            .collect()
    }
}

fn rec(body: PendingBody, name: &str, new_name: &str) -> (PendingBody, String, String) {
    (body, name.to_owned(), new_name.to_owned())
}

#[test]
fn a_merged_create_write_close_is_replayed_in_order() {
    let mut f = Fixture::new();
    f.feed(&ev(
        mask::CREATE | mask::MODIFY | mask::CLOSE_WRITE,
        b"root",
        b"a",
        b"ia",
    ));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/a", ""),
            rec(PendingBody::FirstWrite, "/w/a", ""),
            rec(PendingBody::CloseModified, "/w/a", ""),
        ]
    );
}

#[test]
fn writes_are_folded_until_the_close_and_a_clean_close_says_nothing() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::CLOSE_WRITE, b"root", b"a", b"ia"));
    assert!(
        f.take().is_empty(),
        "closing without writing is not a modification"
    );
    for _ in 0..3 {
        f.feed(&ev(mask::MODIFY, b"root", b"a", b"ia"));
    }
    f.feed(&ev(mask::CLOSE_WRITE, b"root", b"a", b"ia"));
    f.feed(&ev(mask::MODIFY, b"root", b"a", b"ia"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::FirstWrite, "/w/a", ""),
            rec(PendingBody::CloseModified, "/w/a", ""),
            rec(PendingBody::FirstWrite, "/w/a", ""),
        ]
    );
    assert_eq!(f.tr.counters().coalesced_writes, 2);
}

#[test]
fn records_carry_the_actor_and_increasing_sequence_numbers() {
    let mut f = Fixture::new();
    f.tr.hello(DriverHello::default(), 1, &mut f.out);
    f.feed(&ev(mask::CREATE, b"root", b"a", b"ia"));
    f.feed(&ev(mask::DELETE, b"root", b"a", b"ia"));
    let seqs: Vec<u64> = f.out.iter().map(|p| p.header.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let last = f.out.back().unwrap();
    assert_eq!(
        (
            last.header.pid,
            last.header.process_start_key,
            last.header.timestamp,
            last.header.tid
        ),
        (10, 99, 5, 0)
    );
    assert!(matches!(last.record().body, Body::Delete(d) if d.method == DeleteMethod::Unlink));
    assert_eq!(last.file.file_id, 0, "opaque test handle: inode unknown");
}

#[test]
fn a_rename_event_carries_both_full_paths() {
    let mut f = Fixture::new();
    f.table.0.insert(b"sub".to_vec(), b"/w/sub".to_vec());
    let rename = rename_ev((b"root", b"a"), (b"sub", b"b"), b"ia");
    f.feed(&rename);
    assert_eq!(f.take(), vec![rec(PendingBody::Rename, "/w/a", "/w/sub/b")]);
}

#[test]
fn a_new_directory_is_remembered_and_followed_through_renames() {
    let mut f = Fixture::new();
    // mkdir /w/d: the child handle "d" is learnt from the event, never resolved.
    f.feed(&ev(mask::CREATE | mask::ONDIR, b"root", b"d", b"d"));
    let rename = RawEvent {
        mask: mask::RENAME | mask::ONDIR,
        pid: 10,
        old_entry: Some(entry(b"root", b"d")),
        new_entry: Some(entry(b"root", b"e")),
        object: Some(fh(b"d")),
        ..RawEvent::default()
    };
    f.feed(&rename);
    f.feed(&ev(mask::CREATE, b"d", b"x", b"ix"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/d", ""),
            rec(PendingBody::Rename, "/w/d", "/w/e"),
            rec(PendingBody::Create, "/w/e/x", ""),
        ]
    );
}

#[test]
fn rename_halves_are_paired_and_a_lone_half_is_still_reported() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::MOVED_FROM, b"root", b"a", b"ia"));
    f.feed(&ev(mask::MOVED_TO, b"root", b"b", b"ia"));
    f.feed(&ev(mask::MOVED_FROM, b"root", b"c", b"ic"));
    f.feed(&ev(mask::CREATE, b"root", b"n", b"in"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Rename, "/w/a", "/w/b"),
            rec(PendingBody::Create, "/w/n", ""),
        ]
    );
    // The half of `c` waits until it is older than the patience, then goes out alone.
    f.tr.expire_moves(ACTOR.timestamp + MOVE_PATIENCE_TICKS, &mut f.out);
    assert!(f.take().is_empty());
    f.tr.expire_moves(ACTOR.timestamp + MOVE_PATIENCE_TICKS + 1, &mut f.out);
    assert_eq!(f.take(), vec![rec(PendingBody::Rename, "/w/c", "")]);
}

const OTHER: Actor = Actor {
    pid: 20,
    start_key: 77,
    timestamp: 5,
};

#[test]
fn other_events_between_rename_halves_do_not_split_them() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::MOVED_FROM, b"root", b"a", b"ia"));
    // Another process, and another thread of the same process, between the halves.
    f.feed_as(&ev(mask::CREATE, b"root", b"x", b"ix"), OTHER);
    f.feed_as(&ev(mask::MOVED_FROM, b"root", b"p", b"ip"), OTHER);
    f.feed(&ev(mask::CREATE, b"outside", b"y", b"iy"));
    f.feed(&ev(mask::MOVED_FROM, b"root", b"t", b"it"));
    f.feed(&ev(mask::MOVED_TO, b"root", b"b", b"ia"));
    f.feed_as(&ev(mask::MOVED_TO, b"root", b"q", b"ip"), OTHER);
    f.feed(&ev(mask::MOVED_TO, b"root", b"u", b"it"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/x", ""),
            rec(PendingBody::Rename, "/w/a", "/w/b"),
            rec(PendingBody::Rename, "/w/p", "/w/q"),
            rec(PendingBody::Rename, "/w/t", "/w/u"),
        ]
    );
}

#[test]
fn a_moved_to_about_another_object_is_lone_and_the_waiting_half_stays() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::MOVED_FROM, b"root", b"a", b"ia"));
    f.feed(&ev(mask::MOVED_TO, b"root", b"b", b"ib"));
    assert_eq!(f.take(), vec![rec(PendingBody::Rename, "", "/w/b")]);
    f.feed(&ev(mask::MOVED_TO, b"root", b"c", b"ia"));
    assert_eq!(f.take(), vec![rec(PendingBody::Rename, "/w/a", "/w/c")]);
}

#[test]
fn without_object_handles_a_process_oldest_half_is_paired() {
    let mut f = Fixture::new();
    let mut from = ev(mask::MOVED_FROM, b"root", b"a", b"ia");
    from.object = None;
    f.feed(&from);
    let mut to = ev(mask::MOVED_TO, b"root", b"b", b"ia");
    to.object = None;
    f.feed_as(&to, OTHER);
    f.feed(&to);
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Rename, "", "/w/b"),
            rec(PendingBody::Rename, "/w/a", "/w/b"),
        ]
    );
}

#[test]
fn waiting_halves_are_bounded_and_flushed_when_the_queue_is_quiet() {
    let mut f = Fixture::new();
    let names: Vec<&'static [u8]> = (0..=MAX_PENDING_MOVES)
        .map(|i| &*Box::leak(format!("m{i}").into_bytes().into_boxed_slice()))
        .collect();
    for name in &names {
        f.feed(&ev(mask::MOVED_FROM, b"root", name, name));
    }
    // One more than the bound: the oldest is reported without its new name.
    assert_eq!(f.take(), vec![rec(PendingBody::Rename, "/w/m0", "")]);
    f.tr.flush_moves(&mut f.out);
    let flushed = f.take();
    assert_eq!(flushed.len(), MAX_PENDING_MOVES);
    assert_eq!(flushed[0], rec(PendingBody::Rename, "/w/m1", ""));
    assert_eq!(
        flushed[MAX_PENDING_MOVES - 1],
        rec(PendingBody::Rename, &format!("/w/m{MAX_PENDING_MOVES}"), "")
    );
    f.tr.flush_moves(&mut f.out);
    assert!(f.take().is_empty());
}

#[test]
fn an_overflow_is_a_loss_record_and_empties_the_caches() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::MODIFY, b"root", b"a", b"ia"));
    f.take();
    f.feed(&RawEvent {
        mask: mask::Q_OVERFLOW,
        ..RawEvent::default()
    });
    let out = f.take();
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].0,
        PendingBody::Loss(Loss {
            first_lost_seq: 0,
            last_lost_seq: 0,
            count: 1,
            reason: LossReason::QueueOverflow
        })
    );
    // The write state was dropped: the next write is a first write again.
    f.feed(&ev(mask::MODIFY, b"root", b"a", b"ia"));
    assert_eq!(f.take(), vec![rec(PendingBody::FirstWrite, "/w/a", "")]);
    assert_eq!(f.tr.counters().overflows, 1);
}

#[test]
fn own_events_outside_scope_and_unresolvable_ones_are_dropped_and_counted() {
    let mut f = Fixture::new();
    f.feed_as(
        &ev(mask::CREATE, b"root", b"a", b"ia"),
        Actor { pid: 666, ..ACTOR },
    );
    f.feed(&ev(mask::CREATE, b"outside", b"a", b"ia"));
    f.feed(&ev(mask::CREATE, b"gone", b"a", b"ia"));
    assert!(f.take().is_empty());
    let c = f.tr.counters();
    assert_eq!(
        (c.own_events, c.out_of_scope, c.unresolved, c.events),
        (1, 1, 1, 3)
    );
}

#[test]
fn a_link_count_change_without_a_name_is_not_an_attribute_change() {
    let mut f = Fixture::new();
    f.table.0.insert(b"ia".to_vec(), b"/w/a".to_vec());
    f.feed(&RawEvent {
        mask: mask::ATTRIB,
        pid: 10,
        object: Some(fh(b"ia")),
        ..RawEvent::default()
    });
    assert!(f.take().is_empty());
    assert_eq!(f.tr.counters().link_count_changes, 1);
    // A named attribute change (chmod, chown, utimes) is one.
    f.feed(&ev(mask::ATTRIB, b"root", b"a", b"ia"));
    assert_eq!(f.take(), vec![rec(PendingBody::SetAttributes, "/w/a", "")]);
}

#[test]
fn the_scope_matches_whole_path_components() {
    let mut f = Fixture::new();
    f.table.0.insert(b"wx".to_vec(), b"/wx".to_vec());
    f.feed(&ev(mask::CREATE, b"wx", b"a", b"ia"));
    assert!(f.take().is_empty(), "/wx is not under /w");
}

#[test]
fn hard_links_are_creates_unless_asked_for() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::CREATE, b"root", b"a", b"ia"));
    f.feed(&ev(mask::CREATE, b"root", b"b", b"ia"));
    let kinds: Vec<_> = f.take().into_iter().map(|r| r.0).collect();
    assert_eq!(kinds, vec![PendingBody::Create, PendingBody::Create]);
}

#[test]
fn a_second_name_for_a_known_file_is_a_hard_link_from_its_latest_name() {
    let mut f = Fixture::new();
    f.tr = Translator::new(b"/w".to_vec(), None, Limits::default()).with_hard_links(true);
    f.feed(&ev(mask::CREATE, b"root", b"a", b"ia"));
    let rename = rename_ev((b"root", b"a"), (b"root", b"b"), b"ia");
    f.feed(&rename);
    f.feed(&ev(mask::CREATE, b"root", b"c", b"ia"));
    // A file never seen before is a create, even if it has other names.
    f.feed(&ev(mask::CREATE, b"root", b"x", b"ix"));
    // Directories have no hard links.
    f.feed(&ev(mask::CREATE | mask::ONDIR, b"root", b"d", b"ia"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/a", ""),
            rec(PendingBody::Rename, "/w/a", "/w/b"),
            rec(PendingBody::HardLink, "/w/b", "/w/c"),
            rec(PendingBody::Create, "/w/x", ""),
            rec(PendingBody::Create, "/w/d", ""),
        ]
    );
}

/// What is and is not ordered (see the crate documentation, "Order"): the kernel merges a
/// queued event with a later one of the same process about the same directory entry, so
/// `mkdir sub/deeper; touch sub/a.txt; rmdir sub/deeper`, read at once, comes as two events
/// (CREATE|DELETE of `deeper`, then CREATE of `a.txt`). The records follow the queue: the
/// merged event at the first one's place, its parts in causal order (create before delete),
/// so the delete, the last action, comes out before `a.txt`'s create. Events about one entry
/// stay in causal order; events about different entries keep the order of their first event.
#[test]
fn merged_events_keep_the_queue_order_of_their_first_part() {
    let mut f = Fixture::new();
    f.feed(&ev(mask::CREATE | mask::ONDIR, b"root", b"sub", b"sub"));
    f.feed(&ev(
        mask::CREATE | mask::DELETE | mask::ONDIR,
        b"sub",
        b"deeper",
        b"deeper",
    ));
    f.feed(&ev(mask::CREATE, b"sub", b"a.txt", b"ia"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/sub", ""),
            rec(PendingBody::Create, "/w/sub/deeper", ""),
            rec(PendingBody::Delete, "/w/sub/deeper", ""),
            rec(PendingBody::Create, "/w/sub/a.txt", ""),
        ]
    );
}

#[test]
fn every_record_of_a_merged_event_is_named_and_the_file_is_clean_after_its_delete() {
    let mut f = Fixture::new();
    f.feed(&ev(
        mask::CREATE | mask::MODIFY | mask::ATTRIB | mask::CLOSE_WRITE | mask::DELETE,
        b"root",
        b"a",
        b"ia",
    ));
    f.feed(&ev(mask::MODIFY, b"root", b"b", b"ib"));
    // A coalesced write in a merged event makes no record: the others are still named.
    f.feed(&ev(
        mask::MODIFY | mask::ATTRIB | mask::CLOSE_WRITE,
        b"root",
        b"b",
        b"ib",
    ));
    f.feed(&ev(mask::CLOSE_WRITE, b"root", b"a", b"ia"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/a", ""),
            rec(PendingBody::FirstWrite, "/w/a", ""),
            rec(PendingBody::SetAttributes, "/w/a", ""),
            rec(PendingBody::CloseModified, "/w/a", ""),
            rec(PendingBody::Delete, "/w/a", ""),
            rec(PendingBody::FirstWrite, "/w/b", ""),
            rec(PendingBody::SetAttributes, "/w/b", ""),
            rec(PendingBody::CloseModified, "/w/b", ""),
        ]
    );
    assert_eq!(f.tr.counters().coalesced_writes, 1);
}

#[test]
fn a_merged_event_on_a_known_file_links_then_writes_the_new_name() {
    let mut f = Fixture::new();
    f.tr = Translator::new(b"/w".to_vec(), None, Limits::default()).with_hard_links(true);
    f.feed(&ev(mask::CREATE, b"root", b"a", b"ia"));
    f.feed(&ev(
        mask::CREATE | mask::MODIFY | mask::CLOSE_WRITE,
        b"root",
        b"c",
        b"ia",
    ));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/a", ""),
            rec(PendingBody::HardLink, "/w/a", "/w/c"),
            rec(PendingBody::FirstWrite, "/w/c", ""),
            rec(PendingBody::CloseModified, "/w/c", ""),
        ]
    );
}

#[test]
fn the_name_map_is_bounded_and_emptied_only_for_a_new_file() {
    let mut f = Fixture::new();
    let limits = Limits {
        known_files: 2,
        ..Limits::default()
    };
    f.tr = Translator::new(b"/w".to_vec(), None, limits).with_hard_links(true);
    f.feed(&ev(mask::CREATE, b"root", b"a", b"ia"));
    f.feed(&ev(mask::CREATE, b"root", b"x", b"ix"));
    // The map is full, but these files are known: nothing is forgotten.
    f.feed(&ev(mask::CREATE, b"root", b"b", b"ia"));
    f.feed(&ev(mask::CREATE, b"root", b"y", b"ix"));
    // A renamed file's new name is remembered within the bound too: a third file empties
    // the full map first, so `ia` and `ix` are forgotten.
    let rename = rename_ev((b"root", b"z0"), (b"root", b"z"), b"iz");
    f.feed(&rename);
    f.feed(&ev(mask::CREATE, b"root", b"c", b"ia"));
    f.feed(&ev(mask::CREATE, b"root", b"w", b"iz"));
    // Deleting a name that is not the latest forgets nothing; deleting the latest does.
    f.feed(&ev(mask::DELETE, b"root", b"z0", b"iz"));
    f.feed(&ev(mask::CREATE, b"root", b"v", b"iz"));
    f.feed(&ev(mask::DELETE, b"root", b"v", b"iz"));
    f.feed(&ev(mask::CREATE, b"root", b"u", b"iz"));
    assert_eq!(
        f.take(),
        vec![
            rec(PendingBody::Create, "/w/a", ""),
            rec(PendingBody::Create, "/w/x", ""),
            rec(PendingBody::HardLink, "/w/a", "/w/b"),
            rec(PendingBody::HardLink, "/w/x", "/w/y"),
            rec(PendingBody::Rename, "/w/z0", "/w/z"),
            rec(PendingBody::Create, "/w/c", ""),
            rec(PendingBody::HardLink, "/w/z", "/w/w"),
            rec(PendingBody::Delete, "/w/z0", ""),
            rec(PendingBody::HardLink, "/w/w", "/w/v"),
            rec(PendingBody::Delete, "/w/v", ""),
            rec(PendingBody::Create, "/w/u", ""),
        ]
    );
}
