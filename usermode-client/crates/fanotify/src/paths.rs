//! Full paths from fanotify's directory file handles.
//!
//! fanotify names an entry by (directory handle, name). The directory's path comes from
//! reopening the handle (`open_by_handle_at` on a mount descriptor) and asking the kernel
//! for the descriptor's path; that costs three system calls, so paths are cached by handle.
//! The cache learns a new directory's path when its creation is reported (the child handle
//! comes with `FAN_REPORT_TARGET_FID`), which also keeps names for directories that are gone
//! by the time their events are read; it follows directory renames (every cached path under
//! the old name is rewritten). It is bounded: when full it is
//! emptied and refilled on demand.

#![forbid(unsafe_code)]

use ahash::AHashMap as HashMap;
use std::os::fd::{AsFd, OwnedFd};

use crate::parse::{DirEntry, FileHandle};
use crate::sys;

/// Turns a file handle into the object's current path.
pub trait Resolve {
    /// The path of the object the handle names, now; `None` when it cannot be reopened
    /// (deleted and gone, or a handle from another file system).
    fn resolve(&mut self, handle: &FileHandle<'_>) -> Option<Vec<u8>>;
}

/// [`Resolve`] through `open_by_handle_at` on a descriptor of the watched file system.
#[derive(Debug)]
pub struct MountResolver {
    mount: OwnedFd,
}

impl MountResolver {
    /// Resolves handles of the file system `mount` is on.
    #[must_use]
    pub fn new(mount: OwnedFd) -> Self {
        Self { mount }
    }
}

/// What the kernel appends to the path of an unlinked object.
const DELETED_SUFFIX: &[u8] = b" (deleted)";

impl Resolve for MountResolver {
    fn resolve(&mut self, handle: &FileHandle<'_>) -> Option<Vec<u8>> {
        let fd = sys::open_by_handle(self.mount.as_fd(), handle.handle_type, handle.bytes).ok()?;
        let mut path = sys::fd_path(fd.as_fd()).ok()?;
        // An unlinked directory still answers with its last path: that is where its entries
        // were, which is what an event about them needs.
        if path.ends_with(DELETED_SUFFIX) {
            path.truncate(path.len() - DELETED_SUFFIX.len());
        }
        // Only absolute paths are paths on this file system (not "anon_inode:..." etc.).
        path.starts_with(b"/").then_some(path)
    }
}

/// A handle as a map key: type and bytes (the fsid is the same for every handle of the one
/// file system the group watches).
///
/// Held in place up to [`INLINE_KEY`] bytes: a file's first write and its create (with hard
/// links reported) each keep a key, and an allocation per written file cost more than the
/// look-ups. Handles of the common Linux file systems fit with the type's 4 bytes (ext4,
/// tmpfs and xfs give 8–16 bytes, btrfs 20; only a handle with its parent's, which fanotify
/// does not ask for, is longer); longer keys, and keys of files known only by their path, are
/// boxed.
#[derive(Clone)]
pub struct HandleKey(KeyBytes);

/// Bytes a [`HandleKey`] holds without allocating.
pub const INLINE_KEY: usize = 28;

#[derive(Clone)]
enum KeyBytes {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Boxed(Box<[u8]>),
}

impl HandleKey {
    /// The key's bytes (what [`HandleKey::write`] wrote).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            KeyBytes::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            KeyBytes::Boxed(bytes) => bytes,
        }
    }
}

/// Equal, hashed and shown as its bytes: a key is looked up by the bytes
/// [`HandleKey::write`] builds in a reused buffer, so a look-up allocates nothing (`Borrow`
/// asks that the key and its bytes hash alike).
impl PartialEq for HandleKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for HandleKey {}

impl std::hash::Hash for HandleKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl std::fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HandleKey").field(&self.as_bytes()).finish()
    }
}

impl std::borrow::Borrow<[u8]> for HandleKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl HandleKey {
    /// The key of `handle`.
    #[must_use]
    pub fn of(handle: &FileHandle<'_>) -> Self {
        let mut key = Vec::with_capacity(4 + handle.bytes.len());
        Self::write(handle, &mut key);
        Self::from_bytes(&key)
    }

    /// The bytes of `handle`'s key, into `out` (replacing what it held).
    pub fn write(handle: &FileHandle<'_>, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&handle.handle_type.to_ne_bytes());
        out.extend_from_slice(handle.bytes);
    }

    /// The bytes of [`HandleKey::of_path`]'s key, into `out` (replacing what it held).
    pub fn write_path(path: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&(-1i32).to_ne_bytes());
        out.extend_from_slice(path);
    }

    /// The key whose bytes are `bytes` (as written by [`HandleKey::write`]).
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut inline = [0; INLINE_KEY];
        match (inline.get_mut(..bytes.len()), u8::try_from(bytes.len())) {
            (Some(room), Ok(len)) => {
                room.copy_from_slice(bytes);
                Self(KeyBytes::Inline { len, bytes: inline })
            }
            _ => Self(KeyBytes::Boxed(bytes.into())),
        }
    }

    /// A key for a file known only by its path (no handle reported); the `-1` type prefix
    /// is no valid handle type, so it never collides with a handle's key.
    #[must_use]
    pub fn of_path(path: &[u8]) -> Self {
        let mut key = Vec::with_capacity(4 + path.len());
        Self::write_path(path, &mut key);
        Self::from_bytes(&key)
    }
}

/// Directory handle → path, bounded, kept in step with directory renames and deletes.
#[derive(Debug)]
pub struct DirCache {
    paths: HashMap<HandleKey, Vec<u8>>,
    capacity: usize,
    resolved: u64,
    /// The key being looked up (reused: a look-up allocates nothing).
    key: Vec<u8>,
    /// The directory found last, its key and path, while `last_valid`: events come in runs
    /// in one directory, and comparing the key is cheaper than hashing it. Forgotten when
    /// a path is inserted or changed.
    last_key: Vec<u8>,
    last_path: Vec<u8>,
    last_valid: bool,
}

impl DirCache {
    /// An empty cache holding at most `capacity` directories.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            paths: HashMap::new(),
            capacity: capacity.max(1),
            resolved: 0,
            key: Vec::new(),
            last_key: Vec::new(),
            last_path: Vec::new(),
            last_valid: false,
        }
    }

    /// Cached directories.
    #[must_use]
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// How many times a handle had to be reopened (cache misses that resolved).
    #[must_use]
    pub const fn resolved(&self) -> u64 {
        self.resolved
    }

    /// The full path of an entry: its directory's path and its name (`.` or an empty name
    /// is the directory itself).
    pub fn entry_path(
        &mut self,
        entry: &DirEntry<'_>,
        resolver: &mut dyn Resolve,
    ) -> Option<Vec<u8>> {
        self.with_dir(&entry.dir, resolver, |dir| join(dir, entry.name))
    }

    /// [`DirCache::entry_path`], appended to `path` (a buffer kept by the caller: nothing
    /// is allocated on a cache hit); `false` when the directory cannot be found.
    pub fn entry_path_into(
        &mut self,
        entry: &DirEntry<'_>,
        resolver: &mut dyn Resolve,
        path: &mut Vec<u8>,
    ) -> bool {
        self.with_dir(&entry.dir, resolver, |dir| join_into(dir, entry.name, path))
            .is_some()
    }

    /// The path of directory `dir`, from the cache or through `resolver`, appended to
    /// `path`; `false` when it cannot be found.
    pub fn dir_path_into(
        &mut self,
        dir: &FileHandle<'_>,
        resolver: &mut dyn Resolve,
        path: &mut Vec<u8>,
    ) -> bool {
        self.with_dir(dir, resolver, |dir| path.extend_from_slice(dir))
            .is_some()
    }

    /// `f` of directory `dir`'s path, from the cache (borrowed, no copy) or through
    /// `resolver`.
    fn with_dir<T>(
        &mut self,
        dir: &FileHandle<'_>,
        resolver: &mut dyn Resolve,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Option<T> {
        HandleKey::write(dir, &mut self.key);
        if self.last_valid && self.last_key == self.key {
            return Some(f(&self.last_path));
        }
        if let Some(path) = self.paths.get(self.key.as_slice()) {
            self.last_key.clone_from(&self.key);
            self.last_path.clone_from(path);
            self.last_valid = true;
            return Some(f(path));
        }
        let path = resolver.resolve(dir)?;
        self.resolved = self.resolved.saturating_add(1);
        let out = f(&path);
        self.insert_key(HandleKey::from_bytes(&self.key), path);
        Some(out)
    }

    /// Records that directory `handle` is at `path` (a directory was created or moved).
    pub fn insert(&mut self, handle: &FileHandle<'_>, path: Vec<u8>) {
        self.insert_key(HandleKey::of(handle), path);
    }

    fn insert_key(&mut self, key: HandleKey, path: Vec<u8>) {
        self.last_valid = false;
        if self.paths.len() >= self.capacity && !self.paths.contains_key(&key) {
            self.paths.clear();
        }
        self.paths.insert(key, path);
    }

    /// A directory moved from `old` to `new`: every cached path at or under `old` now lies
    /// under `new`.
    pub fn rename_tree(&mut self, old: &[u8], new: &[u8]) {
        self.last_valid = false;
        for path in self.paths.values_mut() {
            if let Some(rest) = under(path, old) {
                let mut moved = new.to_vec();
                moved.extend_from_slice(rest);
                *path = moved;
            }
        }
    }

    /// Forgets everything (after events were lost, the cache may be stale).
    pub fn clear(&mut self) {
        self.last_valid = false;
        self.paths.clear();
    }
}

/// `dir` + `/` + `name`; `.` or an empty name is `dir` itself.
#[must_use]
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    // At its size at once: growing from empty costs more than the allocation.
    let mut path = Vec::with_capacity(dir.len() + 1 + name.len());
    join_into(dir, name, &mut path);
    path
}

/// [`join`], appended to `path` (room for all of it reserved at once).
pub fn join_into(dir: &[u8], name: &[u8], path: &mut Vec<u8>) {
    if name.is_empty() || name == b"." {
        path.extend_from_slice(dir);
        return;
    }
    path.reserve(dir.len() + 1 + name.len());
    path.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
}

/// If `path` is `root` or lies under it, what follows `root` (empty, or starting with `/`).
#[must_use]
pub fn under<'p>(path: &'p [u8], root: &[u8]) -> Option<&'p [u8]> {
    let rest = path.strip_prefix(root)?;
    if rest.is_empty() || rest.starts_with(b"/") || root.ends_with(b"/") {
        Some(rest)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves handles from a table and counts calls.
    #[derive(Default)]
    struct Table {
        paths: HashMap<Vec<u8>, Vec<u8>>,
        calls: usize,
    }

    impl Resolve for Table {
        fn resolve(&mut self, handle: &FileHandle<'_>) -> Option<Vec<u8>> {
            self.calls += 1;
            self.paths.get(handle.bytes).cloned()
        }
    }

    fn fh(bytes: &[u8]) -> FileHandle<'_> {
        FileHandle {
            fsid: [0; 8],
            handle_type: 1,
            bytes,
        }
    }

    #[test]
    fn keys_held_in_place_or_boxed_are_found_by_their_bytes() {
        // One byte under, at and over what is held in place, and a path's key.
        let handles: Vec<Vec<u8>> = [INLINE_KEY - 5, INLINE_KEY - 4, INLINE_KEY - 3, 200]
            .iter()
            .map(|&n| (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect())
            .collect();
        let mut set = ahash::AHashSet::new();
        let mut written = Vec::new();
        for bytes in &handles {
            let key = HandleKey::of(&fh(bytes));
            HandleKey::write(&fh(bytes), &mut written);
            assert_eq!(key.as_bytes(), written.as_slice());
            assert!(set.insert(key.clone()));
            assert!(set.contains(written.as_slice()), "{} bytes", bytes.len());
            assert_eq!(HandleKey::from_bytes(&written), key);
        }
        let by_path = HandleKey::of_path(b"/w/some/long/path/to/a/file/known/by/name");
        HandleKey::write_path(b"/w/some/long/path/to/a/file/known/by/name", &mut written);
        assert!(set.insert(by_path));
        assert!(set.contains(written.as_slice()));
        // Keys differing in their last byte, or in length only, stay apart (the handles
        // above are prefixes of one another).
        for bytes in &handles {
            let mut longer = bytes.clone();
            longer.push(0xff);
            assert!(!set.contains(HandleKey::of(&fh(&longer)).as_bytes()));
            let mut changed = bytes.clone();
            *changed.last_mut().unwrap() ^= 0x80;
            assert!(!set.contains(HandleKey::of(&fh(&changed)).as_bytes()));
        }
        assert_eq!(set.len(), handles.len() + 1);
    }

    #[test]
    fn joins_names_and_treats_dot_as_the_directory() {
        assert_eq!(join(b"/a", b"b"), b"/a/b");
        assert_eq!(join(b"/", b"b"), b"/b");
        assert_eq!(join(b"/a", b"."), b"/a");
        assert_eq!(join(b"/a", b""), b"/a");
    }

    #[test]
    fn under_matches_whole_components_only() {
        assert_eq!(under(b"/a/b", b"/a"), Some(&b"/b"[..]));
        assert_eq!(under(b"/a", b"/a"), Some(&b""[..]));
        assert_eq!(under(b"/ab", b"/a"), None);
        assert_eq!(under(b"/x/y", b"/"), Some(&b"x/y"[..]));
    }

    fn dir_path(cache: &mut DirCache, handle: &'static [u8], table: &mut Table) -> Option<Vec<u8>> {
        let mut path = Vec::new();
        cache
            .dir_path_into(&fh(handle), table, &mut path)
            .then_some(path)
    }

    /// The directory found last is served again without a look-up, and never after its
    /// path changed: renamed, inserted anew, or the cache cleared.
    #[test]
    fn the_last_directory_is_served_again_until_its_path_changes() {
        let mut table = Table::default();
        table.paths.insert(b"a".to_vec(), b"/w/resolved".to_vec());
        let mut cache = DirCache::new(8);
        cache.insert(&fh(b"a"), b"/w/a".to_vec());
        cache.insert(&fh(b"b"), b"/w/b".to_vec());
        for _ in 0..2 {
            assert_eq!(dir_path(&mut cache, b"a", &mut table).unwrap(), b"/w/a");
        }
        assert_eq!(dir_path(&mut cache, b"b", &mut table).unwrap(), b"/w/b");
        assert_eq!(dir_path(&mut cache, b"a", &mut table).unwrap(), b"/w/a");
        cache.rename_tree(b"/w/a", b"/w/z");
        assert_eq!(dir_path(&mut cache, b"a", &mut table).unwrap(), b"/w/z");
        cache.insert(&fh(b"a"), b"/w/q".to_vec());
        assert_eq!(dir_path(&mut cache, b"a", &mut table).unwrap(), b"/w/q");
        cache.clear();
        assert_eq!(
            dir_path(&mut cache, b"a", &mut table).unwrap(),
            b"/w/resolved"
        );
        assert_eq!(table.calls, 1);
    }

    #[test]
    fn resolves_once_then_serves_from_the_cache() {
        let mut table = Table::default();
        table.paths.insert(b"d1".to_vec(), b"/w/d1".to_vec());
        let mut cache = DirCache::new(8);
        let entry = DirEntry {
            dir: fh(b"d1"),
            name: b"f",
        };
        assert_eq!(cache.entry_path(&entry, &mut table).unwrap(), b"/w/d1/f");
        assert_eq!(cache.entry_path(&entry, &mut table).unwrap(), b"/w/d1/f");
        assert_eq!(table.calls, 1);
        assert_eq!(cache.resolved(), 1);
        assert_eq!(dir_path(&mut cache, b"gone", &mut table), None);
    }

    #[test]
    fn follows_a_directory_rename() {
        let mut table = Table::default();
        let mut cache = DirCache::new(8);
        cache.insert(&fh(b"a"), b"/w/a".to_vec());
        cache.insert(&fh(b"b"), b"/w/a/b".to_vec());
        cache.insert(&fh(b"c"), b"/w/ab".to_vec());
        cache.rename_tree(b"/w/a", b"/w/z");
        assert_eq!(dir_path(&mut cache, b"a", &mut table).unwrap(), b"/w/z");
        assert_eq!(dir_path(&mut cache, b"b", &mut table).unwrap(), b"/w/z/b");
        assert_eq!(dir_path(&mut cache, b"c", &mut table).unwrap(), b"/w/ab");
        assert_eq!(table.calls, 0);
    }

    #[test]
    fn stays_within_its_capacity() {
        let mut cache = DirCache::new(2);
        cache.insert(&fh(b"1"), b"/1".to_vec());
        cache.insert(&fh(b"2"), b"/2".to_vec());
        cache.insert(&fh(b"3"), b"/3".to_vec());
        assert!(cache.len() <= 2);
        cache.clear();
        assert!(cache.is_empty());
    }
}
