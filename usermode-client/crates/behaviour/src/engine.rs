//! The ransomware behaviour engine: file events and content samples in, alerts out.
//!
//! Each pattern turns into *evidence* about one file, counted for every actor the event
//! belongs to ([`crate::actor`]). An actor whose distinct files with evidence reach the
//! threshold within the window raises one HIGH alert; a note dropped next to encrypted files,
//! or a campaign four times the threshold, raises CRITICAL.
//!
//! | pattern | evidence | points |
//! |---|---|---|
//! | in-place rewrite | an existing file closed after modification now looks encrypted: random bytes where its extension or its last sample promised a format, text that is no longer text, a structured tail that turned random | 1 |
//! | rewrite + rename | a renamed file looks encrypted against its *old* name's promise | 1 |
//! | copy-encrypt-delete | a new random-looking file and the deletion of a file whose name it derives from (`x.docx` → `x.docx.enc`, `x.enc`), same directory, related actors, either order | 1 |
//! | same, unrelated names | a new random-looking file and the deletion of a user-data file in the same directory by a related actor | 0.5 |
//! | rename-only | a file renamed to an unknown extension (appended, or replacing a user-data extension), its old name not re-created right after (which is what `sed -i.bak`, editors and rsync do) | 0.75 |
//! | ransom note | a text file with encryption *and* extortion wording, the same actor dropping the same text in 3+ folders | separate HIGH |
//!
//! Partial or intermittent encryption is covered by the content tests: a head encrypted for
//! its first KiB, or text with every other block encrypted, is no longer text; a key blob
//! appended to a zip or PDF turns its structured tail random.
//!
//! What is *not* evidence, by design: new archives (gzip, zip, 7z, zstd… carry their magic
//! bytes), so `tar`/`zip`/`7z` and `gzip -r` (which replaces each file by a `.gz` with gzip's
//! magic) stay quiet; renames to backup, rotation and staging suffixes; temp files created
//! and renamed into place; files whose content matches what their name promises.

use std::collections::VecDeque;

use ahash::AHashMap as HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use picket_content::{expectation, Expectation, FileFacts, FileMemory, Sample};
use picket_model::{Alert, CorrelationContext, FileEvent, Level, Operation, Timestamp};

use crate::actor::{ActorKey, Actors, Lineage};
use crate::names;

/// One second in timestamp ticks (100 ns).
const SECOND: u64 = 10_000_000;

/// Thresholds and bounds.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Points for HIGH, per process, lineage or account.
    pub threshold: f64,
    /// Points for HIGH over the whole host (actors that could not be attributed).
    pub host_threshold: f64,
    /// Points for CRITICAL.
    pub critical_threshold: f64,
    /// Folders holding one text of the same actor's ransom note for HIGH. Three, not two: a
    /// note-like file and its copy (`git clone`, then `cp -r`, by one account) are two.
    pub note_folders: usize,
    /// How long evidence counts, in seconds (slow campaigns: one file a minute still adds up).
    pub window_secs: u64,
    /// How far apart a new encrypted file and a deletion may be, in seconds.
    pub pair_secs: u64,
    /// How long a rename waits for its old name to be re-created, in milliseconds.
    pub rename_confirm_ms: u64,
    /// Bound of every per-file table (created, pending renames, the per-file memory).
    pub max_files: usize,
    /// Bound of the deleted-file and new-encrypted-file tables waiting to be paired (scanned
    /// per folder, so kept smaller).
    pub max_pairs: usize,
    /// Bound of the actor table.
    pub max_actors: usize,
    /// Bound of the evidence kept per actor.
    pub max_evidence: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            threshold: 5.0,
            host_threshold: 8.0,
            critical_threshold: 20.0,
            note_folders: 3,
            window_secs: 900,
            pair_secs: 60,
            rename_confirm_ms: 500,
            max_files: 65_536,
            max_pairs: 8192,
            max_actors: 1024,
            max_evidence: 256,
        }
    }
}

/// Which pattern a piece of evidence belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pattern {
    /// An existing file rewritten with encrypted-looking content.
    EncryptedRewrite,
    /// A file rewritten and renamed.
    EncryptedRename,
    /// A file replaced by an encrypted copy (copy-encrypt-delete).
    Replaced,
    /// Renamed to an unknown extension, content untouched.
    RenameOnly,
}

impl Pattern {
    /// Stable name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EncryptedRewrite => "encrypted_rewrite",
            Self::EncryptedRename => "encrypted_rename",
            Self::Replaced => "copy_encrypt_delete",
            Self::RenameOnly => "rename_only",
        }
    }

    const fn phrase(self) -> &'static str {
        match self {
            Self::EncryptedRewrite => "overwritten with encrypted-looking content",
            Self::EncryptedRename => "encrypted and renamed",
            Self::Replaced => "replaced by encrypted copies and deleted",
            Self::RenameOnly => "renamed to an unknown extension",
        }
    }
}

/// What a content sample is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Closed after modification; `fresh`: first close since the engine saw it created.
    Rewrite {
        /// New file.
        fresh: bool,
    },
    /// The new name of a renamed file; `source` is the old path.
    RenameTarget {
        /// Old path.
        source: String,
    },
}

/// A content sample the engine asks for.
#[derive(Clone, Debug)]
pub struct Request {
    /// File to read.
    pub path: String,
    /// Why.
    pub purpose: Purpose,
    /// The event behind it.
    pub event: FileEvent,
    /// Its actors.
    pub actors: Actors,
}

#[derive(Clone, Debug)]
struct Evidence {
    time: Timestamp,
    identity: String,
    alias: Option<String>,
    pattern: Pattern,
    points: f64,
    pid: u32,
    parent: Option<u32>,
    /// Shared by the (up to four) actors the evidence counts for.
    event: Arc<FileEvent>,
}

#[derive(Clone, Debug)]
struct NoteSeen {
    time: Timestamp,
    directory: String,
    /// A hash of the note's first bytes: ransomware drops one note, the same text, in every
    /// folder it reaches (under one name or under random ones).
    head_hash: u64,
    event: FileEvent,
}

/// The most folders holding one note: the same first bytes in each. Note-like files of
/// different texts in several folders are a copy of a tree that discusses encryption and
/// payment (a security tool's sources, a rule set, a malware-research repository with a
/// README per family, even under one name), not a ransom campaign.
fn note_spread<'a>(notes: impl Iterator<Item = &'a NoteSeen>) -> usize {
    let mut pairs: Vec<(u64, &str)> = notes
        .map(|note| (note.head_hash, note.directory.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut best = 0;
    let mut run = 0;
    let mut previous: Option<u64> = None;
    for (hash, _) in pairs {
        run = if previous == Some(hash) { run + 1 } else { 1 };
        best = best.max(run);
        previous = Some(hash);
    }
    best
}

/// The alerts a group can raise, each at most once per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Fired {
    Files,
    Notes,
    Critical,
}

#[derive(Debug, Default)]
struct Group {
    evidence: VecDeque<Evidence>,
    notes: VecDeque<NoteSeen>,
    fired: HashMap<Fired, Timestamp>,
    last_seen: Timestamp,
}

/// A path as the fresh-file tracking knows it: a 64-bit hash keyed at random per process
/// rather than the path itself. Every created file gets an entry held for `pair_secs`, so
/// keeping the text meant two copies per file, allocated on every create and rename and
/// freed a minute later, long out of cache, with the entries spread over megabytes under
/// a burst of files. Two paths share a key with odds of about 2^-64 per pair (2^-33 with
/// the 65 536 entries at most), and the random key denies an attacker a chosen collision.
type PathKey = u64;

#[derive(Clone, Debug)]
struct Born {
    time: Timestamp,
    closed: bool,
}

#[derive(Clone, Debug)]
struct Sibling {
    time: Timestamp,
    directory: String,
    name: String,
    path: String,
    actors: Actors,
    /// Deleted: its extension promised a format (user data).
    structured: bool,
    event: FileEvent,
}

#[derive(Clone, Debug)]
struct PendingRename {
    time: Timestamp,
    source: String,
    target: String,
    actors: Actors,
    event: FileEvent,
}

/// Rule ids and titles of the alerts.
pub mod rules {
    /// HIGH: an actor's files were encrypted, replaced or renamed.
    pub const FILES: &str = "picket-behaviour-ransomware";
    /// HIGH: an actor dropped a ransom note in several folders.
    pub const NOTES: &str = "picket-behaviour-ransom-note";
    /// CRITICAL: encryption plus notes, or a large campaign.
    pub const CRITICAL: &str = "picket-behaviour-ransomware-critical";
}

/// The engine's state, every table bounded.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    lineage: Lineage,
    memory: FileMemory,
    /// Files created in the last `pair_secs`, by [`PathKey`]: renaming one is a temp-file
    /// commit, deleting one loses nothing, and its first modified close is a fresh write.
    born: HashMap<PathKey, Born>,
    born_order: VecDeque<(Timestamp, PathKey)>,
    /// The keyed hash that turns a path into its [`PathKey`].
    path_keys: ahash::RandomState,
    deleted: VecDeque<Sibling>,
    opaque_new: VecDeque<Sibling>,
    pending: VecDeque<PendingRename>,
    groups: HashMap<ActorKey, Group>,
    covered_pids: HashMap<u32, (Level, Timestamp)>,
    covered_parents: HashMap<u32, (Level, Timestamp)>,
    /// The latest time [`Engine::expire`] expired to.
    expired_to: Timestamp,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(EngineConfig::default())
    }
}

fn ticks(secs: u64) -> u64 {
    secs.saturating_mul(SECOND)
}

/// The sample a rename asks for: the new name's content, compared with what was known of
/// `source`.
fn rename_target_request(
    event: &FileEvent,
    source: &picket_model::FilePath,
    actors: Actors,
) -> Request {
    Request {
        path: event.target.path().to_owned(),
        purpose: Purpose::RenameTarget {
            source: source.path().to_owned(),
        },
        event: event.clone(),
        actors,
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, bound: usize) {
    queue.push_back(item);
    while queue.len() > bound {
        queue.pop_front();
    }
}

impl Engine {
    /// An engine with these thresholds.
    #[must_use]
    pub fn new(config: EngineConfig) -> Self {
        Self {
            memory: FileMemory::new(config.max_files),
            config,
            lineage: Lineage::default(),
            born: HashMap::new(),
            born_order: VecDeque::new(),
            path_keys: ahash::RandomState::new(),
            deleted: VecDeque::new(),
            opaque_new: VecDeque::new(),
            pending: VecDeque::new(),
            groups: HashMap::new(),
            covered_pids: HashMap::new(),
            covered_parents: HashMap::new(),
            expired_to: Timestamp(0),
        }
    }

    /// Whether [`Engine::observe`] may ask for a content sample of `event` (at most one).
    #[must_use]
    pub fn may_sample(event: &FileEvent) -> bool {
        !event.target.is_directory
            && matches!(
                event.operation,
                Operation::CloseModified | Operation::Rename
            )
    }

    /// One event: updates the state, pushes the content samples it wants to `requests` (when
    /// given: `None` when no sample could be taken now, which spares building them) and any
    /// alert to `alerts`.
    pub fn observe(
        &mut self,
        event: &FileEvent,
        requests: Option<&mut Vec<Request>>,
        alerts: &mut Vec<Alert>,
    ) {
        let now = event.time;
        self.expire(now);
        self.confirm_renames(now, false, alerts);
        if event.target.is_directory {
            return;
        }
        // Every event teaches the lineage (parents and accounts); the event's actors, and an
        // owned copy of its path, are made only where they are kept.
        self.lineage.learn_from(&event.process);
        let path = event.target.path();
        match event.operation {
            Operation::Create => {
                self.recreated(path);
                let key = self.path_key(path);
                self.born_order.push_back((now, key));
                self.born.insert(
                    key,
                    Born {
                        time: now,
                        closed: false,
                    },
                );
                while self.born_order.len() > self.config.max_files {
                    if let Some((_, old)) = self.born_order.pop_front() {
                        self.born.remove(&old);
                    }
                }
            }
            Operation::CloseModified => {
                self.recreated(path);
                let key = self.path_key(path);
                let fresh = match self.born.get_mut(&key) {
                    Some(born) if !born.closed => {
                        born.closed = true;
                        true
                    }
                    _ => false,
                };
                if let Some(requests) = requests {
                    requests.push(Request {
                        path: path.to_owned(),
                        purpose: Purpose::Rewrite { fresh },
                        event: event.clone(),
                        actors: self.lineage.actors(&event.process),
                    });
                }
            }
            Operation::Rename => {
                let Some(source) = &event.source else { return };
                let actors = self.lineage.actors(&event.process);
                self.on_rename(event, source, actors, requests, alerts);
            }
            Operation::Delete => {
                let actors = self.lineage.actors(&event.process);
                self.on_delete(event, actors, alerts);
            }
            _ => {}
        }
    }

    fn on_rename(
        &mut self,
        event: &FileEvent,
        source: &picket_model::FilePath,
        actors: Actors,
        requests: Option<&mut Vec<Request>>,
        alerts: &mut Vec<Alert>,
    ) {
        let target = &event.target;
        // A rename onto a name waiting for re-creation is the re-creation (sed, rsync).
        self.recreated(target.path());
        let temp_commit = if let Some(born) = self.born.remove(&self.path_key(source.path())) {
            let key = self.path_key(target.path());
            self.born_order.push_back((born.time, key));
            self.born.insert(key, born);
            true
        } else {
            names::is_temp_name(source.name())
        };
        if temp_commit {
            // A temp file renamed into place (editors, rsync, dpkg; or ransomware writing
            // ciphertext next to a document and renaming it over the document): what was
            // known of the *target* is what the new content is compared with.
            self.memory.remove(source.path());
            if let Some(requests) = requests {
                requests.push(rename_target_request(event, source, actors));
            }
            return;
        }
        self.memory.rename(source.path(), target.path());
        let target_ext = names::extension(target.name());
        let promises_nothing = expectation(target_ext.as_deref()) == Expectation::Anything;
        let appended = target.name().len() > source.name().len()
            && target.name().starts_with(source.name())
            && target.name() != format!("{}~", source.name());
        let swapped = matches!(
            expectation(names::extension(source.name()).as_deref()),
            Expectation::Structured(_)
        ) && names::extension(source.name()) != target_ext;
        let candidate = target.directory() == source.directory()
            && promises_nothing
            && (appended || swapped)
            && !names::is_benign_suffix(target.name());
        if candidate {
            // A new candidate: earlier ones had their chance to be re-created.
            self.confirm_renames(event.time, true, alerts);
            push_bounded(
                &mut self.pending,
                PendingRename {
                    time: event.time,
                    source: source.path().to_owned(),
                    target: target.path().to_owned(),
                    actors: actors.clone(),
                    event: event.clone(),
                },
                self.config.max_files,
            );
        }
        if let Some(requests) = requests {
            requests.push(rename_target_request(event, source, actors));
        }
    }

    fn on_delete(&mut self, event: &FileEvent, actors: Actors, alerts: &mut Vec<Alert>) {
        let target = &event.target;
        self.memory.remove(target.path());
        if self.born.remove(&self.path_key(target.path())).is_some()
            || names::is_temp_name(target.name())
        {
            return;
        }
        let structured = matches!(
            expectation(names::extension(target.name()).as_deref()),
            Expectation::Structured(_)
        );
        let deleted = Sibling {
            time: event.time,
            directory: target.directory().to_owned(),
            name: target.name().to_owned(),
            path: target.path().to_owned(),
            actors,
            structured,
            event: event.clone(),
        };
        if let Some(index) = self.find_sibling(&self.opaque_new, &deleted, false) {
            if let Some(new) = self.opaque_new.remove(index) {
                self.pair(&deleted, &new, &deleted.actors, event, alerts);
            }
            return;
        }
        push_bounded(&mut self.deleted, deleted, self.config.max_pairs);
    }

    /// The entry of `table` in `sibling`'s folder, by a related actor, whose name derives
    /// from (or, failing that, merely sits next to) `sibling`'s; `table_is_deleted` says
    /// which side `table` holds.
    fn find_sibling(
        &self,
        table: &VecDeque<Sibling>,
        sibling: &Sibling,
        table_is_deleted: bool,
    ) -> Option<usize> {
        let candidates = table
            .iter()
            .enumerate()
            .filter(|(_, s)| s.directory == sibling.directory && s.actors.related(&sibling.actors));
        let mut fallback = None;
        for (index, s) in candidates {
            let (deleted, new) = if table_is_deleted {
                (s, sibling)
            } else {
                (sibling, s)
            };
            if names::derives_from(&deleted.name, &new.name) {
                return Some(index);
            }
            if deleted.structured && fallback.is_none() {
                fallback = Some(index);
            }
        }
        fallback
    }

    fn pair(
        &mut self,
        deleted: &Sibling,
        new: &Sibling,
        actors: &Actors,
        event: &FileEvent,
        alerts: &mut Vec<Alert>,
    ) {
        let related_names = names::derives_from(&deleted.name, &new.name);
        let evidence = Evidence {
            time: event.time,
            identity: deleted.path.clone(),
            alias: Some(new.path.clone()),
            pattern: Pattern::Replaced,
            points: if related_names { 1.0 } else { 0.5 },
            pid: actors.pid,
            parent: actors.parent,
            event: Arc::new(new.event.clone()),
        };
        self.add(actors, evidence, alerts);
    }

    /// A content sample came back (`None`: refused, gone or unreadable).
    pub fn on_sample(&mut self, request: Request, sample: Option<Sample>, alerts: &mut Vec<Alert>) {
        let Some(sample) = sample else { return };
        let event = &request.event;
        let previous = self.memory.get(&request.path).map(|f| f.kind);
        self.memory
            .insert(&request.path, FileFacts { kind: sample.kind });
        match &request.purpose {
            Purpose::Rewrite { fresh } => {
                if sample.is_ransom_note() {
                    self.add_note(&request.actors, event, sample.head_hash, alerts);
                }
                if *fresh {
                    if sample.kind.is_ciphertext_like() {
                        self.on_opaque_new(&request, alerts);
                    }
                    return;
                }
                let promise = expectation(event.target.extension());
                if sample.encrypted_look(promise, previous).is_some() {
                    let evidence = Evidence {
                        time: event.time,
                        identity: request.path.clone(),
                        alias: None,
                        pattern: Pattern::EncryptedRewrite,
                        points: 1.0,
                        pid: request.actors.pid,
                        parent: request.actors.parent,
                        event: Arc::new(event.clone()),
                    };
                    self.add(&request.actors, evidence, alerts);
                }
            }
            Purpose::RenameTarget { source } => {
                let source_name = event
                    .source
                    .as_ref()
                    .map_or(String::new(), |s| s.name().to_owned());
                // The old name's promise; for a temp file renamed into place, the new name's.
                let promise = match expectation(names::extension(&source_name).as_deref()) {
                    Expectation::Anything => expectation(event.target.extension()),
                    promise => promise,
                };
                if sample.encrypted_look(promise, previous).is_some() {
                    let evidence = Evidence {
                        time: event.time,
                        identity: source.clone(),
                        alias: Some(request.path.clone()),
                        pattern: Pattern::EncryptedRename,
                        points: 1.0,
                        pid: request.actors.pid,
                        parent: request.actors.parent,
                        event: Arc::new(event.clone()),
                    };
                    self.pending.retain(|p| p.source != *source);
                    self.add(&request.actors, evidence, alerts);
                }
            }
        }
    }

    fn on_opaque_new(&mut self, request: &Request, alerts: &mut Vec<Alert>) {
        let event = &request.event;
        let new = Sibling {
            time: event.time,
            directory: event.target.directory().to_owned(),
            name: event.target.name().to_owned(),
            path: request.path.clone(),
            actors: request.actors.clone(),
            structured: false,
            event: event.clone(),
        };
        if let Some(index) = self.find_sibling(&self.deleted, &new, true) {
            if let Some(deleted) = self.deleted.remove(index) {
                self.pair(&deleted, &new, &request.actors, event, alerts);
            }
            return;
        }
        push_bounded(&mut self.opaque_new, new, self.config.max_pairs);
    }

    fn add_note(
        &mut self,
        actors: &Actors,
        event: &FileEvent,
        head_hash: u64,
        alerts: &mut Vec<Alert>,
    ) {
        let note = NoteSeen {
            time: event.time,
            directory: event.target.directory().to_owned(),
            head_hash,
            event: event.clone(),
        };
        for key in actors.keys() {
            let group = self.groups.entry(key.clone()).or_default();
            group.last_seen = event.time;
            push_bounded(&mut group.notes, note.clone(), self.config.max_evidence);
        }
        self.evaluate(actors, event.time, alerts);
    }

    fn path_key(&self, path: &str) -> PathKey {
        self.path_keys.hash_one(path)
    }

    /// A name came back into existence: renames of it were a backup, not ransomware.
    fn recreated(&mut self, path: &str) {
        self.pending.retain(|p| p.source != path);
    }

    /// Turns pending renames into evidence once their old name had time to come back (or
    /// all of them, when `all`).
    fn confirm_renames(&mut self, now: Timestamp, all: bool, alerts: &mut Vec<Alert>) {
        let confirm = self.config.rename_confirm_ms.saturating_mul(SECOND / 1000);
        while let Some(first) = self.pending.front() {
            if !all && now.0 < first.time.0.saturating_add(confirm) {
                break;
            }
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            let evidence = Evidence {
                time: p.time,
                identity: p.source.clone(),
                alias: Some(p.target.clone()),
                pattern: Pattern::RenameOnly,
                points: 0.75,
                pid: p.actors.pid,
                parent: p.actors.parent,
                event: Arc::new(p.event),
            };
            self.add(&p.actors, evidence, alerts);
        }
    }

    /// Time passes without events.
    pub fn tick(&mut self, now: Timestamp, alerts: &mut Vec<Alert>) {
        self.expire(now);
        self.confirm_renames(now, false, alerts);
    }

    /// Forgets what is older than the windows before `now`. Done once per time: the events
    /// of one read share their time (Linux stamps a read), and nothing an event of that time
    /// adds can expire before time moves on (an event stamped earlier than the stream's
    /// latest, which only a replay has, is expired then).
    fn expire(&mut self, now: Timestamp) {
        if now.0 <= self.expired_to.0 && self.groups.len() <= self.config.max_actors {
            return;
        }
        self.expired_to = self.expired_to.max(now);
        let pair = now.0.saturating_sub(ticks(self.config.pair_secs));
        while self.deleted.front().is_some_and(|d| d.time.0 < pair) {
            self.deleted.pop_front();
        }
        while self.opaque_new.front().is_some_and(|d| d.time.0 < pair) {
            self.opaque_new.pop_front();
        }
        while let Some((time, key)) = self.born_order.front() {
            if time.0 >= pair {
                break;
            }
            if self.born.get(key).is_some_and(|b| b.time == *time) {
                self.born.remove(key);
            }
            self.born_order.pop_front();
        }
        let window = now.0.saturating_sub(ticks(self.config.window_secs));
        if self.groups.len() > self.config.max_actors {
            self.groups.retain(|_, g| g.last_seen.0 >= window);
            if self.groups.len() > self.config.max_actors {
                // Still too many live actors: drop those seen longest ago.
                let mut seen: Vec<u64> = self.groups.values().map(|g| g.last_seen.0).collect();
                seen.sort_unstable();
                let cut = seen
                    .get(self.groups.len() - self.config.max_actors)
                    .copied()
                    .unwrap_or(0);
                self.groups.retain(|_, g| g.last_seen.0 >= cut);
            }
        }
        self.covered_pids.retain(|_, (_, t)| t.0 >= window);
        self.covered_parents.retain(|_, (_, t)| t.0 >= window);
    }

    fn add(&mut self, actors: &Actors, evidence: Evidence, alerts: &mut Vec<Alert>) {
        for key in actors.keys() {
            let group = self.groups.entry(key.clone()).or_default();
            group.last_seen = evidence.time;
            let seen = group.evidence.iter().any(|e| {
                let names = [Some(&e.identity), e.alias.as_ref()];
                names.contains(&Some(&evidence.identity))
                    || evidence
                        .alias
                        .as_ref()
                        .is_some_and(|a| names.contains(&Some(a)))
            });
            if !seen {
                push_bounded(
                    &mut group.evidence,
                    evidence.clone(),
                    self.config.max_evidence,
                );
            }
        }
        self.evaluate(actors, evidence.time, alerts);
    }

    fn covered(&self, e: &Evidence, level: Level) -> bool {
        self.covered_pids
            .get(&e.pid)
            .is_some_and(|(l, _)| *l >= level)
            || e.parent
                .and_then(|p| self.covered_parents.get(&p))
                .is_some_and(|(l, _)| *l >= level)
    }

    fn evaluate(&mut self, actors: &Actors, now: Timestamp, alerts: &mut Vec<Alert>) {
        let window = now.0.saturating_sub(ticks(self.config.window_secs));
        for key in actors.keys() {
            let Some(group) = self.groups.get_mut(key) else {
                continue;
            };
            while group.evidence.front().is_some_and(|e| e.time.0 < window) {
                group.evidence.pop_front();
            }
            while group.notes.front().is_some_and(|n| n.time.0 < window) {
                group.notes.pop_front();
            }
            group.fired.retain(|_, t| t.0 >= window);
            let threshold = if *key == ActorKey::Host {
                self.config.host_threshold
            } else {
                self.config.threshold
            };
            let Some(group) = self.groups.get(key) else {
                continue;
            };
            let fresh_points = |level: Level| -> f64 {
                group
                    .evidence
                    .iter()
                    .filter(|e| !self.covered(e, level))
                    .map(|e| e.points)
                    .sum()
            };
            let total: f64 = group.evidence.iter().map(|e| e.points).sum();
            let spread = note_spread(group.notes.iter());
            let mut fire = Vec::new();
            if !group.fired.contains_key(&Fired::Files) && fresh_points(Level::High) >= threshold {
                fire.push(Fired::Files);
            }
            if !group.fired.contains_key(&Fired::Notes)
                && spread >= self.config.note_folders
                && group
                    .notes
                    .iter()
                    .any(|n| !self.covered_pids.contains_key(&n.event.process.key.pid))
            {
                fire.push(Fired::Notes);
            }
            let critical = total >= self.config.critical_threshold
                || (!group.notes.is_empty() && total >= threshold);
            if !group.fired.contains_key(&Fired::Critical)
                && critical
                && fresh_points(Level::Critical) >= threshold
            {
                fire.push(Fired::Critical);
            }
            for kind in fire {
                let alert = self.alert(key, kind, now);
                self.cover(key, kind, now);
                if let Some(group) = self.groups.get_mut(key) {
                    group.fired.insert(kind, now);
                }
                alerts.push(alert);
            }
        }
    }

    fn cover(&mut self, key: &ActorKey, kind: Fired, now: Timestamp) {
        let level = if kind == Fired::Critical {
            Level::Critical
        } else {
            Level::High
        };
        let Some(group) = self.groups.get(key) else {
            return;
        };
        let mut pids: Vec<u32> = group.evidence.iter().map(|e| e.pid).collect();
        pids.extend(group.notes.iter().map(|n| n.event.process.key.pid));
        let mark = |table: &mut HashMap<u32, (Level, Timestamp)>, id: u32| {
            let entry = table.entry(id).or_insert((level, now));
            if entry.0 <= level {
                *entry = (level, now);
            }
        };
        match key {
            ActorKey::Process(pid, _) => mark(&mut self.covered_pids, *pid),
            ActorKey::Lineage(parent) => {
                mark(&mut self.covered_parents, *parent);
                for pid in pids {
                    mark(&mut self.covered_pids, pid);
                }
            }
            ActorKey::Account(_) | ActorKey::Host => {
                for pid in pids {
                    mark(&mut self.covered_pids, pid);
                }
            }
        }
    }

    fn alert(&self, key: &ActorKey, kind: Fired, now: Timestamp) -> Alert {
        let group = self.groups.get(key);
        let evidence: Vec<&Evidence> = group
            .map(|g| g.evidence.iter().collect())
            .unwrap_or_default();
        let notes: Vec<&NoteSeen> = group.map(|g| g.notes.iter().collect()).unwrap_or_default();
        let mut patterns: Vec<(Pattern, usize)> = Vec::new();
        for e in &evidence {
            match patterns.iter_mut().find(|(p, _)| *p == e.pattern) {
                Some((_, n)) => *n += 1,
                None => patterns.push((e.pattern, 1)),
            }
        }
        patterns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let spread = note_spread(notes.iter().copied());
        let files = evidence.len();
        let actor = key.describe();
        let mut description = format!("{actor}: ");
        for (i, (pattern, n)) in patterns.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(description, "{sep}{n} file(s) {}", pattern.phrase());
        }
        if !notes.is_empty() {
            let sep = if patterns.is_empty() { "" } else { "; " };
            let _ = write!(description, "{sep}a ransom note in {spread} folder(s)");
        }
        let _ = write!(
            description,
            " within {} s (content sampled in user space; grouped by {})",
            self.config.window_secs,
            match key {
                ActorKey::Process(..) => "process",
                ActorKey::Lineage(_) => "parent process: one actor across short-lived children",
                ActorKey::Account(_) => "account",
                ActorKey::Host => "host: the processes were gone before they could be attributed",
            }
        );
        let dominant = patterns.first().map(|(p, _)| *p);
        let (rule_id, title, level) = match kind {
            Fired::Files => (
                rules::FILES,
                match dominant {
                    Some(Pattern::EncryptedRewrite) => {
                        "Ransomware behaviour: files overwritten with encrypted content"
                    }
                    Some(Pattern::EncryptedRename) => {
                        "Ransomware behaviour: files encrypted and renamed"
                    }
                    Some(Pattern::Replaced) => {
                        "Ransomware behaviour: files replaced by encrypted copies"
                    }
                    _ => "Ransomware behaviour: files renamed to an unknown extension",
                },
                Level::High,
            ),
            Fired::Notes => (
                rules::NOTES,
                "Ransomware behaviour: ransom note dropped in several folders",
                Level::High,
            ),
            Fired::Critical => (
                rules::CRITICAL,
                "Ransomware behaviour: mass encryption (with ransom notes or at scale)",
                Level::Critical,
            ),
        };
        let mut events: Vec<FileEvent> = match kind {
            Fired::Notes => notes
                .iter()
                .rev()
                .take(5)
                .map(|n| n.event.clone())
                .collect(),
            _ => evidence
                .iter()
                .rev()
                .take(5)
                .map(|e| FileEvent::clone(&e.event))
                .collect(),
        };
        events.reverse();
        let mut rules_seen: Vec<String> = patterns
            .iter()
            .map(|(p, _)| p.as_str().to_owned())
            .collect();
        if !notes.is_empty() {
            rules_seen.push("ransom_note".into());
        }
        let (field, value) = key.group_field();
        Alert {
            rule_id: rule_id.to_owned(),
            title: title.to_owned(),
            level,
            tags: vec!["attack.impact".into(), "attack.t1486".into()],
            description: Some(description),
            shadow: false,
            time: now,
            events,
            processes: Vec::new(),
            correlation: Some(CorrelationContext {
                kind: "behaviour".into(),
                group: vec![(field, value)],
                count: u64::try_from(if kind == Fired::Notes { spread } else { files })
                    .unwrap_or(u64::MAX),
                window_secs: self.config.window_secs,
                rules: rules_seen,
            }),
        }
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
