//! The parse stage: turns a decoded protocol record into a [`ParsedEvent`] — names as
//! lossless text, NT device paths as DOS paths (the original kept), path parts, and the
//! operation in plain words. No I/O happens here except through a [`VolumeSource`].

mod event;
mod memo;
mod operation;
mod path;
mod process;
pub mod text;
mod volume;

pub use event::{ParsedEvent, Parser};
pub use operation::create_operation;
pub use path::{split_posix, split_windows, PathParts};
pub use process::{command_line_text, ParsedProcess};
pub use volume::{StaticVolumes, VolumeMap, VolumeSource};
