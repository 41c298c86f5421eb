//! The one definition of what crosses Picket's Filter Manager communication port.
//!
//! The driver encodes records into caller-provided buffers with [`encode_record`] and
//! [`BatchWriter`]; it never allocates and never panics. User mode decodes whole batches with
//! [`decode_batch`], a total function: for any bytes it returns validated, borrowed views or a
//! [`DecodeError`] naming what is wrong and at which offset. The few fixed-size messages that go
//! from user mode into the kernel ([`ClientHello`], [`VerdictReply`]) are defined here too, so the
//! kernel only ever checks a size, a magic and a version.
//!
//! The byte layout is documented field by field in `docs/PROTOCOL.md`.
#![no_std]
#![forbid(unsafe_code)]
// A panic in the kernel is a blue screen: the encoder and decoder must have no panic path.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::undocumented_unsafe_blocks
    )
)]
#![warn(clippy::pedantic, missing_docs)]
#![allow(clippy::module_name_repetitions)]

#[cfg(any(feature = "std", test))]
extern crate std;

mod bytes;
mod constants;
mod decode;
mod encode;
mod hello;
mod layout;
mod record;
mod sequence;

pub use constants::*;
pub use decode::{
    decode_batch, decode_batch_into, Batch, BatchHeader, DecodeError, DecodeErrorKind, Records,
};
pub use encode::{encode_record, encoded_len, BatchProgress, BatchWriter, EncodeError};
pub use hello::{ClientHello, HelloError, Verdict, VerdictReply};
pub use record::{
    BatchFlags, Body, CreateDisposition, CreateResult, Delete, DeleteMethod, DriverHello,
    FileCreate, FileOp, FileRef, LinkChange, Loss, LossReason, Name, ProcessExit, ProcessStart,
    Record, RecordFlags, RecordHeader, RecordKind, SetAttributes, SetSize, SizeKind, Stats,
};
pub use sequence::{Gap, SequenceCheck, SequenceTracker};
