//! Capture files: a session's raw protocol batches, byte for byte, with when each arrived.
//!
//! `picket record` writes them with [`CaptureWriter`]; `picket replay` reads them with
//! [`ReplaySource`], a [`picket_model::BatchSource`] like the live sources, so the whole
//! pipeline runs on a capture exactly as it ran live. The layout is in [`format`].

pub mod format;
mod reader;
mod source;
mod writer;

pub use format::{CaptureHeader, FrameKind, HostOs};
pub use reader::{CaptureReader, Frame};
pub use source::{Pace, ReplaySource};
pub use writer::CaptureWriter;

/// What is wrong with a capture file. Every variant names the byte offset at fault.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Reading or writing failed.
    #[error("at byte {offset}")]
    Io {
        /// Where.
        offset: u64,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not a capture file.
    #[error(
        "not a Picket capture file (magic {found:02X?}, expected {:02X?})",
        format::MAGIC
    )]
    BadMagic {
        /// The first bytes found.
        found: [u8; 8],
    },
    /// A format version this build cannot read.
    #[error("capture format version {0} is not supported (this build reads {v})", v = format::VERSION)]
    UnsupportedVersion(u16),
    /// The header is inconsistent.
    #[error("at byte {offset}: bad capture header: {reason}")]
    BadHeader {
        /// Where.
        offset: u64,
        /// What.
        reason: String,
    },
    /// The file ends inside a structure (e.g. the recorder was killed mid-write).
    #[error("at byte {offset}: capture truncated: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// Where the structure starts.
        offset: u64,
        /// Which structure.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes there were.
        available: u64,
    },
    /// A frame declares an impossible length.
    #[error("at byte {offset}: frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLong {
        /// Where the frame starts.
        offset: u64,
        /// Declared length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A process frame is malformed.
    #[error("at byte {offset}: bad process frame: {reason}")]
    BadProcessFrame {
        /// Where the frame starts.
        offset: u64,
        /// What.
        reason: &'static str,
    },
}
