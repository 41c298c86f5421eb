//! fanotify events → protocol records: the mapping documented in the crate docs, in one place.
//!
//! The translator keeps the little state the mapping needs: the directory path cache, the
//! set of files modified since their last close (so a burst of `FAN_MODIFY` becomes one
//! `FirstWrite`, and `FAN_CLOSE_WRITE` becomes `CloseModified` only after a modification, as
//! on Windows), the first half of a rename on kernels without `FAN_RENAME`, and the sequence
//! counter. Every piece of state is bounded.

#![forbid(unsafe_code)]

use std::collections::VecDeque;

use ahash::{AHashMap as HashMap, AHashSet as HashSet};

use picket_protocol::{
    Body, CreateDisposition, CreateResult, Delete, DeleteMethod, DriverHello, FileCreate, FileOp,
    FileRef, LinkChange, Loss, LossReason, Name, ProcessExit, ProcessStart, Record, RecordHeader,
    SetAttributes, Stats,
};

use crate::mask;
use crate::parse::{FileHandle, RawEvent};
use crate::paths::{under, DirCache, HandleKey, Resolve};

/// `FILE_DIRECTORY_FILE`: the create options bit Windows sets for a directory, so a Linux
/// `mkdir` reads like a Windows one.
const FILE_DIRECTORY_FILE: u32 = 0x1;

/// Records `path` as the latest name of the file under `key`; returns its previous name
/// when that differs (the new name is then a hard link to it). A known file's entry is
/// updated in place; a new one is added, after emptying the map when it holds `bound`
/// files already.
fn remember_name(
    names: &mut HashMap<HandleKey, Vec<u8>>,
    bound: usize,
    key: &[u8],
    path: &[u8],
    wanted: OldName,
) -> Option<Vec<u8>> {
    if let Some(known) = names.get_mut(key) {
        let existing =
            (wanted == OldName::Wanted && known.as_slice() != path).then(|| known.clone());
        known.clear();
        known.extend_from_slice(path);
        return existing;
    }
    if names.len() >= bound {
        names.clear();
    }
    names.insert(HandleKey::from_bytes(key), path.to_vec());
    None
}

/// Whether [`remember_name`] is to return the name a file had before (a create's, which
/// may be a hard link's) or not (a rename's, whose old name the event carries): a copy
/// made for nothing cost an allocation per rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OldName {
    Wanted,
    Unwanted,
}

/// The kind-specific part of a record the translator makes (its names travel beside it, in
/// [`Made`] or [`Pending`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PendingBody {
    /// `FAN_CREATE`.
    Create,
    /// First `FAN_MODIFY` since the last close.
    FirstWrite,
    /// `FAN_CLOSE_WRITE` after a modification.
    CloseModified,
    /// `FAN_RENAME` or a `MOVED_FROM`/`MOVED_TO` pair.
    Rename,
    /// `FAN_CREATE` of a new name for a file already known under another name (only with
    /// [`Translator::with_hard_links`]).
    HardLink,
    /// `FAN_DELETE`.
    Delete,
    /// `FAN_ATTRIB`.
    SetAttributes,
    /// The source introduces itself.
    Hello(DriverHello),
    /// Periodic counters.
    Stats(Stats),
    /// Events were lost.
    Loss(Loss),
    /// A process started (see [`crate::procconn`]): name = image, new name = command line.
    ProcessStart {
        /// Parent pid.
        parent_pid: u32,
        /// Parent start key.
        parent_start_key: u64,
        /// Effective uid.
        uid: Option<u32>,
        /// A fork without exec.
        forked: bool,
    },
    /// A process ended, with its wait status.
    ProcessExit(u32),
}

/// A record the translator made, owned: what a [`Sink`] that keeps records holds (the
/// translator's tests); the source's outbox encodes [`Made`] records at once instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Common fields.
    pub header: RecordHeader,
    /// What kind.
    pub body: PendingBody,
    /// The file.
    pub file: FileRef,
    /// Its path (rename: the old path).
    pub name: Vec<u8>,
    /// Rename: the new path.
    pub new_name: Vec<u8>,
}

impl Pending {
    /// The protocol record, borrowing the names.
    #[must_use]
    pub fn record(&self) -> Record<'_> {
        self.made().record()
    }

    /// The record as the translator made it, borrowed.
    #[must_use]
    pub fn made(&self) -> Made<'_> {
        Made {
            header: self.header,
            body: &self.body,
            file: self.file,
            name: &self.name,
            new_name: &self.new_name,
        }
    }
}

/// A record as the translator makes it, its names borrowed for the moment it is handed to
/// a [`Sink`].
#[derive(Clone, Copy, Debug)]
pub struct Made<'a> {
    /// Common fields.
    pub header: RecordHeader,
    /// What kind.
    pub body: &'a PendingBody,
    /// The file.
    pub file: FileRef,
    /// Its path (rename: the old path).
    pub name: &'a [u8],
    /// Rename: the new path.
    pub new_name: &'a [u8],
}

impl<'a> Made<'a> {
    /// The protocol record, borrowing the names.
    #[must_use]
    pub fn record(&self) -> Record<'a> {
        let file = self.file;
        let name = Name::new(self.name);
        let body = match self.body {
            PendingBody::Create => Body::FileCreate(FileCreate {
                file,
                disposition: CreateDisposition::Create,
                create_options: if file.is_directory {
                    FILE_DIRECTORY_FILE
                } else {
                    0
                },
                desired_access: 0,
                result: CreateResult::Created,
                name,
            }),
            PendingBody::FirstWrite => Body::FirstWrite(FileOp { file, name }),
            PendingBody::CloseModified => Body::CloseModified(FileOp { file, name }),
            PendingBody::Rename => Body::Rename(LinkChange {
                file,
                flags: 0,
                name,
                new_name: Name::new(self.new_name),
            }),
            PendingBody::HardLink => Body::HardLink(LinkChange {
                file,
                flags: 0,
                name,
                new_name: Name::new(self.new_name),
            }),
            PendingBody::Delete => Body::Delete(Delete {
                file,
                method: DeleteMethod::Unlink,
                name,
            }),
            PendingBody::SetAttributes => Body::SetAttributes(SetAttributes {
                file,
                attributes: 0,
                name,
            }),
            PendingBody::Hello(hello) => Body::DriverHello(*hello),
            PendingBody::Stats(stats) => Body::Stats(*stats),
            PendingBody::Loss(loss) => Body::Loss(*loss),
            PendingBody::ProcessStart {
                parent_pid,
                parent_start_key,
                uid,
                forked,
            } => Body::ProcessStart(ProcessStart {
                parent_pid: *parent_pid,
                parent_start_key: *parent_start_key,
                creating_pid: *parent_pid,
                creating_tid: 0,
                session_id: 0,
                user_id: *uid,
                forked: *forked,
                image: name,
                command_line: Name::new(self.new_name),
            }),
            PendingBody::ProcessExit(status) => Body::ProcessExit(ProcessExit {
                exit_status: *status,
            }),
        };
        Record {
            header: self.header,
            body,
        }
    }

    /// An owned copy.
    #[must_use]
    pub fn to_pending(&self) -> Pending {
        Pending {
            header: self.header,
            body: self.body.clone(),
            file: self.file,
            name: self.name.to_vec(),
            new_name: self.new_name.to_vec(),
        }
    }
}

/// Where the translator's records go, one at a time as it makes them. The source's outbox
/// encodes each at once, straight from the translator's buffers (an owned record per event
/// cost its names' allocations and copies, and moves through a queue); a queue of
/// [`Pending`] copies keeps them (tests).
pub trait Sink {
    /// Takes `record`, whose names are borrowed for the call only.
    fn put(&mut self, record: Made<'_>);
}

impl Sink for VecDeque<Pending> {
    fn put(&mut self, record: Made<'_>) {
        self.push_back(record.to_pending());
    }
}

/// Who did it and when, for the records of one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    /// Thread group id.
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22, 0 when unknown.
    pub start_key: u64,
    /// When the event was read (fanotify carries no time), 100 ns since 1601.
    pub timestamp: u64,
}

/// Counters of what the translator did with events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// fanotify events translated (overflow events included).
    pub events: u64,
    /// Records produced (hello and loss included).
    pub records: u64,
    /// `FAN_Q_OVERFLOW` events.
    pub overflows: u64,
    /// Events caused by this process, dropped.
    pub own_events: u64,
    /// Events outside the watched tree, dropped.
    pub out_of_scope: u64,
    /// Events whose path could not be found (directory gone before the event was read and
    /// never seen created), dropped and counted.
    pub unresolved: u64,
    /// `FAN_MODIFY` events folded into an earlier `FirstWrite`.
    pub coalesced_writes: u64,
    /// Name-less `FAN_ATTRIB` events (a link count changed by `link`/`unlink`, whose
    /// create or delete is reported already), dropped.
    pub link_count_changes: u64,
}

/// Bounds of the translator's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Directories whose path is cached.
    pub dir_cache: usize,
    /// Files remembered as modified-and-not-yet-closed.
    pub dirty_files: usize,
    /// Files whose last name is remembered (hard link detection only).
    pub known_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            dir_cache: 16 * 1024,
            dirty_files: 64 * 1024,
            known_files: 64 * 1024,
        }
    }
}

/// `MOVED_FROM`s waiting for their `MOVED_TO` at most (one per thread that is renaming at
/// the same moment): beyond it the oldest is reported without its new name.
const MAX_PENDING_MOVES: usize = 64;

/// How long a `MOVED_FROM` waits for its `MOVED_TO` (100 ns ticks: 50 ms). The renaming
/// task queues the second half within the same `rename` call, so only a task preempted
/// between the two halves makes it wait at all.
pub const MOVE_PATIENCE_TICKS: u64 = 500_000;

/// A `MOVED_FROM` waiting for its `MOVED_TO`.
#[derive(Clone, Debug)]
struct MoveHalf {
    actor: Actor,
    object: Option<HandleKey>,
    path: Vec<u8>,
    file: FileRef,
}

/// Turns parsed events into records, handed to a [`Sink`] as they are made.
#[derive(Debug)]
pub struct Translator {
    scope: Vec<u8>,
    exclude_pid: Option<u32>,
    dirs: DirCache,
    dirty: HashSet<HandleKey>,
    limits: Limits,
    /// The kernel queues a rename's two halves back to back from the renaming task, but
    /// other tasks' events on the same file system (other threads of the same process
    /// too) can come between them: first halves wait here, oldest first.
    moves: VecDeque<MoveHalf>,
    next_seq: u64,
    counters: Counters,
    /// File handle → its last known name, when hard links are reported.
    names: Option<HashMap<HandleKey, Vec<u8>>>,
    /// The key being looked up in `dirty` or `names` (reused: look-ups allocate nothing).
    key: Vec<u8>,
    /// The path of the event being translated (reused: joining allocates nothing).
    path: Vec<u8>,
    /// A rename's old and new paths (reused likewise).
    rename_paths: (Vec<u8>, Vec<u8>),
}

impl Translator {
    /// Reports events at or under `scope` (an absolute path), ignoring those of
    /// `exclude_pid`.
    #[must_use]
    pub fn new(scope: Vec<u8>, exclude_pid: Option<u32>, limits: Limits) -> Self {
        Self {
            scope,
            exclude_pid,
            dirs: DirCache::new(limits.dir_cache),
            dirty: HashSet::new(),
            limits,
            moves: VecDeque::new(),
            next_seq: 1,
            counters: Counters::default(),
            names: None,
            key: Vec::new(),
            path: Vec::new(),
            rename_paths: (Vec::new(), Vec::new()),
        }
    }

    /// Reports the `FAN_CREATE` of a new name for a file already seen under another name
    /// as a `HardLink` (existing name = the last name this translator saw for the file's
    /// handle, new name = the created one) instead of a `FileCreate`. A file handle names
    /// one inode for its whole life, and a fresh inode's handle is never one seen before,
    /// so this is never wrong; it misses links to files not seen since the source started
    /// (their existing name is nowhere in the event), which stay `FileCreate`.
    #[must_use]
    pub fn with_hard_links(mut self, on: bool) -> Self {
        self.names = on.then(HashMap::new);
        self
    }

    /// Keeps the file handle → last name map in step; returns the existing name when this
    /// event creates a second name for a known file.
    fn track_names(&mut self, event: &RawEvent<'_>, bits: u64, path: &[u8]) -> Option<Vec<u8>> {
        let names = self.names.as_mut()?;
        if bits & mask::ONDIR != 0 {
            return None;
        }
        // The key in the reused buffer: only a new name allocates (the key and the path
        // it keeps), not every event of a known file.
        HandleKey::write(event.object.as_ref()?, &mut self.key);
        let key = self.key.as_slice();
        let mut existing = None;
        if bits & mask::CREATE != 0 {
            existing = remember_name(names, self.limits.known_files, key, path, OldName::Wanted);
        }
        if bits & mask::DELETE != 0 && names.get(key).is_some_and(|p| p.as_slice() == path) {
            names.remove(key);
        }
        existing
    }

    /// What happened so far.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// The full path of a directory entry (through the directory cache): the program a
    /// `FAN_OPEN_EXEC` event names.
    pub fn entry_path(
        &mut self,
        entry: &crate::parse::DirEntry<'_>,
        resolver: &mut dyn Resolve,
    ) -> Option<Vec<u8>> {
        self.dirs.entry_path(entry, resolver)
    }

    /// Directory handles reopened so far (path cache misses).
    #[must_use]
    pub const fn dirs_resolved(&self) -> u64 {
        self.dirs.resolved()
    }

    fn seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    fn push(
        &mut self,
        out: &mut dyn Sink,
        actor: Actor,
        body: PendingBody,
        file: FileRef,
        name: &[u8],
        new_name: &[u8],
    ) {
        let header = RecordHeader {
            seq: self.seq(),
            timestamp: actor.timestamp,
            pid: actor.pid,
            tid: 0,
            process_start_key: actor.start_key,
        };
        self.counters.records = self.counters.records.saturating_add(1);
        out.put(Made {
            header,
            body: &body,
            file,
            name,
            new_name,
        });
    }

    /// A control record (hello, stats, loss): no process, no file, no names.
    fn control(&mut self, body: PendingBody, timestamp: u64, out: &mut dyn Sink) {
        let actor = Actor {
            timestamp,
            ..Actor::default()
        };
        self.push(out, actor, body, FileRef::default(), &[], &[]);
    }

    /// A periodic counters record.
    pub fn stats(&mut self, stats: Stats, timestamp: u64, out: &mut dyn Sink) {
        self.control(PendingBody::Stats(stats), timestamp, out);
    }

    /// A process record decided by [`crate::procconn::ProcessTable`].
    pub fn process(
        &mut self,
        decision: crate::procconn::Decision,
        timestamp: u64,
        out: &mut dyn Sink,
    ) {
        use crate::procconn::Decision;
        let (actor, body, image, command_line) = match decision {
            Decision::Start(start) => (
                Actor {
                    pid: start.pid,
                    start_key: start.start_key,
                    timestamp,
                },
                PendingBody::ProcessStart {
                    parent_pid: start.parent_pid,
                    parent_start_key: start.parent_start_key,
                    uid: start.uid,
                    forked: start.forked,
                },
                start.image,
                start.command_line,
            ),
            Decision::Exit {
                pid,
                start_key,
                status,
            } => (
                Actor {
                    pid,
                    start_key,
                    timestamp,
                },
                PendingBody::ProcessExit(status),
                Vec::new(),
                Vec::new(),
            ),
        };
        self.push(out, actor, body, FileRef::default(), &image, &command_line);
    }

    /// The hello record that opens the stream.
    pub fn hello(&mut self, hello: DriverHello, timestamp: u64, out: &mut dyn Sink) {
        self.control(PendingBody::Hello(hello), timestamp, out);
    }

    /// A loss the kernel reported (`FAN_Q_OVERFLOW`): it says neither how many events nor
    /// which, so the record says "at least one" (`count` 1, range 0..0). Every cache may now be
    /// stale (a directory rename may be among the lost events), so all are dropped.
    pub fn overflow(&mut self, timestamp: u64, out: &mut dyn Sink) {
        self.counters.overflows = self.counters.overflows.saturating_add(1);
        let loss = Loss {
            first_lost_seq: 0,
            last_lost_seq: 0,
            count: 1,
            reason: LossReason::QueueOverflow,
        };
        self.loss(loss, timestamp, out);
    }

    /// Events were lost (`loss` says why and how many at least): a loss record, and every
    /// cache dropped, since a directory rename may be among the lost events.
    pub fn loss(&mut self, loss: Loss, timestamp: u64, out: &mut dyn Sink) {
        self.flush_moves(out);
        self.dirs.clear();
        self.dirty.clear();
        self.control(PendingBody::Loss(loss), timestamp, out);
    }

    fn in_scope(&self, path: &[u8]) -> bool {
        under(path, &self.scope).is_some()
    }

    /// Translates one event. `actor` describes the process (already looked up).
    pub fn translate(
        &mut self,
        event: &RawEvent<'_>,
        actor: Actor,
        resolver: &mut dyn Resolve,
        out: &mut dyn Sink,
    ) {
        self.counters.events = self.counters.events.saturating_add(1);
        if event.mask & mask::Q_OVERFLOW != 0 {
            self.overflow(actor.timestamp, out);
            return;
        }
        let own = self.exclude_pid == Some(actor.pid);
        if own {
            self.counters.own_events = self.counters.own_events.saturating_add(1);
        }
        let is_dir = event.mask & mask::ONDIR != 0;
        let file = FileRef {
            handle_id: 0,
            file_id: event.object.as_ref().map_or(0, FileHandle::inode),
            is_directory: is_dir,
            name_normalized: true,
        };

        if event.mask & mask::RENAME != 0 {
            self.rename(event, actor, file, own, resolver, out);
        }
        if event.mask & (mask::MOVED_FROM | mask::MOVED_TO) != 0 {
            self.move_half(event, actor, file, own, resolver, out);
        }
        let mut bits = event.mask;
        if bits & mask::ATTRIB != 0 && event.entry.is_none() && event.dir.is_none() {
            // Only the inode's own handle: the kernel raised this from `link`/`unlink`
            // (`fsnotify_link_count`), with no name. The entry event beside it says what
            // happened; resolving the inode would cost a system call per unlink and name an
            // arbitrary one of its links, or nothing once it is gone.
            self.counters.link_count_changes = self.counters.link_count_changes.saturating_add(1);
            bits &= !mask::ATTRIB;
        }
        let simple = mask::CREATE | mask::MODIFY | mask::ATTRIB | mask::CLOSE_WRITE | mask::DELETE;
        if bits & simple == 0 {
            return;
        }
        // The path is built in a buffer kept for the next event: the records take it by
        // reference, and the outbox copies it once, into the batch.
        let mut path = std::mem::take(&mut self.path);
        path.clear();
        if self.event_path(event, resolver, &mut path) {
            self.translate_at(event, actor, (file, bits, own), &path, out);
        } else {
            self.counters.unresolved = self.counters.unresolved.saturating_add(1);
        }
        self.path = path;
    }

    /// [`Translator::translate`] once the event's path is known.
    fn translate_at(
        &mut self,
        event: &RawEvent<'_>,
        actor: Actor,
        (file, bits, own): (FileRef, u64, bool),
        path: &[u8],
        out: &mut dyn Sink,
    ) {
        self.maintain_dirs(event, path);
        let link_from = self.track_names(event, bits, path);
        if own {
            return;
        }
        if !self.in_scope(path) {
            self.counters.out_of_scope = self.counters.out_of_scope.saturating_add(1);
            return;
        }
        // The key in a reused buffer: looking up and removing allocate nothing.
        let mut dirty_key = std::mem::take(&mut self.key);
        match &event.object {
            Some(object) => HandleKey::write(object, &mut dirty_key),
            None => HandleKey::write_path(path, &mut dirty_key),
        }
        // Merged events keep no order: replay the bits in the order one process can cause
        // them (create, write, attribute change, close, delete).
        let create = bits & mask::CREATE != 0;
        let first_write = bits & mask::MODIFY != 0 && self.first_write(&dirty_key);
        let attributes = bits & mask::ATTRIB != 0;
        let close = bits & mask::CLOSE_WRITE != 0 && self.dirty.remove(dirty_key.as_slice());
        let delete = bits & mask::DELETE != 0;
        if delete {
            self.dirty.remove(dirty_key.as_slice());
        }
        self.key = dirty_key;
        if create {
            match &link_from {
                Some(existing) => {
                    self.push(out, actor, PendingBody::HardLink, file, existing, path);
                }
                None => self.push(out, actor, PendingBody::Create, file, path, &[]),
            }
        }
        // One `if` each rather than a table: a `PendingBody` is as large as its largest
        // variant, and this runs for every event.
        if first_write {
            self.push(out, actor, PendingBody::FirstWrite, file, path, &[]);
        }
        if attributes {
            self.push(out, actor, PendingBody::SetAttributes, file, path, &[]);
        }
        if close {
            self.push(out, actor, PendingBody::CloseModified, file, path, &[]);
        }
        if delete {
            self.push(out, actor, PendingBody::Delete, file, path, &[]);
        }
    }

    /// Whether a write to the file under `key` is its first since it was last closed
    /// (it is then marked written); later ones are coalesced and counted.
    fn first_write(&mut self, key: &[u8]) -> bool {
        if self.dirty.contains(key) {
            self.counters.coalesced_writes = self.counters.coalesced_writes.saturating_add(1);
            return false;
        }
        if self.dirty.len() >= self.limits.dirty_files {
            // Forgetting costs at most one extra FirstWrite or a missed CloseModified per
            // file still open for writing.
            self.dirty.clear();
        }
        self.dirty.insert(HandleKey::from_bytes(key));
        true
    }

    /// The path an event is about: its directory entry, else the parent directory alone
    /// (events on a directory itself), else the object itself (an event that carries only
    /// the object's handle). Appended to `path`; `false` when it cannot be found.
    fn event_path(
        &mut self,
        event: &RawEvent<'_>,
        resolver: &mut dyn Resolve,
        path: &mut Vec<u8>,
    ) -> bool {
        if let Some(entry) = &event.entry {
            return self.dirs.entry_path_into(entry, resolver, path);
        }
        if let Some(dir) = &event.dir {
            return self.dirs.dir_path_into(dir, resolver, path);
        }
        let Some(found) = event.object.as_ref().and_then(|o| resolver.resolve(o)) else {
            return false;
        };
        path.extend_from_slice(&found);
        true
    }

    /// Remembers a new directory's path under its handle. Deleted directories are not
    /// forgotten: the kernel merges a directory's queued create and delete into the create's
    /// place in the queue, so events about its entries may still follow; a handle names one
    /// directory for its whole life (the generation makes it unique), so the entry is never
    /// wrong, and the cache's bound evicts it eventually.
    fn maintain_dirs(&mut self, event: &RawEvent<'_>, path: &[u8]) {
        if event.mask & mask::ONDIR != 0 && event.mask & mask::CREATE != 0 {
            if let Some(child) = &event.object {
                self.dirs.insert(child, path.to_vec());
            }
        }
    }

    fn rename(
        &mut self,
        event: &RawEvent<'_>,
        actor: Actor,
        file: FileRef,
        own: bool,
        resolver: &mut dyn Resolve,
        out: &mut dyn Sink,
    ) {
        let (Some(old), Some(new)) = (&event.old_entry, &event.new_entry) else {
            self.counters.unresolved = self.counters.unresolved.saturating_add(1);
            return;
        };
        // Both paths are built in buffers kept for the next rename: the record borrows
        // them, and the outbox copies them once, into the batch.
        let (mut old_path, mut new_path) = std::mem::take(&mut self.rename_paths);
        old_path.clear();
        new_path.clear();
        if self.dirs.entry_path_into(old, resolver, &mut old_path)
            && self.dirs.entry_path_into(new, resolver, &mut new_path)
        {
            self.finish_rename(
                event.object.as_ref(),
                actor,
                file,
                own,
                (&old_path, &new_path),
                out,
            );
        } else {
            self.counters.unresolved = self.counters.unresolved.saturating_add(1);
        }
        self.rename_paths = (old_path, new_path);
    }

    fn finish_rename(
        &mut self,
        object: Option<&FileHandle<'_>>,
        actor: Actor,
        file: FileRef,
        own: bool,
        (old_path, new_path): (&[u8], &[u8]),
        out: &mut dyn Sink,
    ) {
        if !file.is_directory {
            if let (Some(names), Some(object)) = (self.names.as_mut(), object) {
                HandleKey::write(object, &mut self.key);
                let bound = self.limits.known_files;
                remember_name(names, bound, &self.key, new_path, OldName::Unwanted);
            }
        }
        if file.is_directory {
            self.dirs.rename_tree(old_path, new_path);
            if let Some(child) = object {
                self.dirs.insert(child, new_path.to_vec());
            }
        }
        if own {
            return;
        }
        if !self.in_scope(old_path) && !self.in_scope(new_path) {
            self.counters.out_of_scope = self.counters.out_of_scope.saturating_add(1);
            return;
        }
        self.push(out, actor, PendingBody::Rename, file, old_path, new_path);
    }

    /// Pairs `MOVED_FROM` with the `MOVED_TO` that follows it (kernels without `FAN_RENAME`):
    /// the kernel queues the two halves of one rename back to back, from the same process,
    /// about the same object — though other tasks' events may come between them, and the
    /// renamer may be preempted between the two.
    fn move_half(
        &mut self,
        event: &RawEvent<'_>,
        actor: Actor,
        file: FileRef,
        own: bool,
        resolver: &mut dyn Resolve,
        out: &mut dyn Sink,
    ) {
        let Some(path) = event
            .entry
            .as_ref()
            .and_then(|e| self.dirs.entry_path(e, resolver))
        else {
            self.counters.unresolved = self.counters.unresolved.saturating_add(1);
            return;
        };
        let object = event.object.as_ref().map(HandleKey::of);
        if event.mask & mask::MOVED_FROM != 0 {
            if self.moves.len() >= MAX_PENDING_MOVES {
                if let Some(oldest) = self.moves.pop_front() {
                    self.report_lone_from(oldest, out);
                }
            }
            self.moves.push_back(MoveHalf {
                actor,
                object,
                path,
                file,
            });
            return;
        }
        // Threads of one process share its pid: with object handles the object tells
        // their renames apart; without them, the oldest half of that process is the guess.
        let from = self
            .moves
            .iter()
            .position(|m| {
                m.actor.pid == actor.pid
                    && (m.object.is_none() || object.is_none() || m.object == object)
            })
            .and_then(|at| self.moves.remove(at));
        // A lone MOVED_TO (no half of its own waits): the name appeared; where it came from
        // is unknown.
        let (from_file, from_path) = from.map_or((file, Vec::new()), |m| (m.file, m.path));
        self.finish_rename(
            event.object.as_ref(),
            actor,
            from_file,
            own,
            (&from_path, &path),
            out,
        );
    }

    /// Reports every `MOVED_FROM` whose `MOVED_TO` has not come, after a loss or once the
    /// kernel's queue stayed empty for a poll interval. Moving out of the watched file
    /// system cannot happen with a file system mark, so such a half is a defensive case:
    /// it is reported as a rename with no new name rather than dropped.
    pub fn flush_moves(&mut self, out: &mut dyn Sink) {
        while let Some(from) = self.moves.pop_front() {
            self.report_lone_from(from, out);
        }
    }

    /// Reports the `MOVED_FROM`s that waited longer than [`MOVE_PATIENCE_TICKS`] by `now`
    /// (a timestamp like the actors'): called after a read that emptied the queue.
    pub fn expire_moves(&mut self, now: u64, out: &mut dyn Sink) {
        while self
            .moves
            .front()
            .is_some_and(|m| now.saturating_sub(m.actor.timestamp) > MOVE_PATIENCE_TICKS)
        {
            if let Some(from) = self.moves.pop_front() {
                self.report_lone_from(from, out);
            }
        }
    }

    fn report_lone_from(&mut self, from: MoveHalf, out: &mut dyn Sink) {
        if self.exclude_pid != Some(from.actor.pid) && self.in_scope(&from.path) {
            self.push(
                out,
                from.actor,
                PendingBody::Rename,
                from.file,
                &from.path,
                &[],
            );
        }
    }
}

#[cfg(test)]
mod tests;
