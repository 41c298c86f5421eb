//! The Windows side of the client, kept thin: every decision that needs no Windows call
//! (error classification, back-off, message framing, multi-string parsing) is plain Rust in
//! [`logic`], unit-tested on any host. The modules that call Windows — the communication
//! port source, the DOS device map and the process inspector — compile on Windows only;
//! Linux CI checks them for the real target (the C steps of other crates: `.ci/run`):
//!
//! ```text
//! cargo clippy -p picket-winport --all-targets --target x86_64-pc-windows-msvc -- -D warnings
//! ```

pub mod logic;

#[cfg(windows)]
mod handle;
#[cfg(windows)]
mod port;
#[cfg(windows)]
mod process;
#[cfg(windows)]
mod volumes;

pub use logic::{Backoff, ConnectFailure, PortError};
#[cfg(windows)]
pub use port::PortSource;
#[cfg(windows)]
pub use process::WindowsInspector;
#[cfg(windows)]
pub use volumes::DosDevices;
