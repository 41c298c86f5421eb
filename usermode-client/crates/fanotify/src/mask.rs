//! The `FAN_*` event bits this source asks for and reads, named once.

#![forbid(unsafe_code)]

/// File modified (`write`, `truncate`, `fallocate`…).
pub const MODIFY: u64 = libc::FAN_MODIFY;
/// Metadata changed (mode, owner, times, link count).
pub const ATTRIB: u64 = libc::FAN_ATTRIB;
/// A writable descriptor was closed.
pub const CLOSE_WRITE: u64 = libc::FAN_CLOSE_WRITE;
/// Rename, old half (kernels without `FAN_RENAME`).
pub const MOVED_FROM: u64 = libc::FAN_MOVED_FROM;
/// Rename, new half (kernels without `FAN_RENAME`).
pub const MOVED_TO: u64 = libc::FAN_MOVED_TO;
/// A directory entry was created (file, directory, hard link, symlink, node).
pub const CREATE: u64 = libc::FAN_CREATE;
/// A directory entry was removed.
pub const DELETE: u64 = libc::FAN_DELETE;
/// The queue overflowed: events were dropped.
pub const Q_OVERFLOW: u64 = libc::FAN_Q_OVERFLOW;
/// Rename with both names in one event (Linux 5.17+).
pub const RENAME: u64 = libc::FAN_RENAME;
/// The object is a directory (also: report directory events).
pub const ONDIR: u64 = libc::FAN_ONDIR;
/// A file was opened to be executed (`execve`'s program, `#!` and ELF interpreters).
pub const OPEN_EXEC: u64 = libc::FAN_OPEN_EXEC;
