//! The WDK shell (built only with the `kernel` feature): everything that calls the kernel
//! or Filter Manager. It moves values between Filter Manager and the plain-Rust layer and
//! decides nothing itself.
//!
//! - [`flt`]: the Filter Manager bindings (the one module to swap for an upstream feature),
//! - [`pool`], [`spin`], [`ustr`]: kernel memory, the `KSPIN_LOCK`, `UNICODE_STRING`s,
//! - [`io`]: safe views of callback data, names and stream-handle contexts,
//! - [`callbacks`], [`emit`]: the I/O callbacks and how they store a record,
//! - [`process_notify`]: the process start/exit callback,
//! - [`port`], [`sender`]: the communication port and the sender thread,
//! - [`data_imports`]: the kernel variables read through the import table,
//! - [`registry`], [`state`], [`entry`]: configuration, driver state, entry and unload,
//! - [`volume`]: the `InstanceSetup` callback (which volumes are watched).

pub mod callbacks;
pub mod data_imports;
pub mod emit;
pub mod entry;
pub mod flt;
pub mod io;
pub mod pool;
pub mod port;
pub mod process_notify;
pub mod registry;
pub mod sender;
pub mod spin;
pub mod state;
pub mod ustr;
pub mod volume;
