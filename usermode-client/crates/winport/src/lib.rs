//! The Windows side of the client, kept thin: every decision that needs no Windows call
//! (error classification, back-off, message framing, multi-string parsing) is plain Rust in
//! [`logic`], unit-tested on any host. The modules that call Windows — the communication
//! port source, the DOS device map and the process inspector — compile on Windows, and on
//! any host with the `windows-typecheck` feature so Linux CI type-checks them:
//!
//! ```text
//! cargo check -p picket-winport --features windows-typecheck
//! cargo clippy -p picket-winport --features windows-typecheck -- -D warnings
//! ```

pub mod logic;

#[cfg(any(windows, feature = "windows-typecheck"))]
mod handle;
#[cfg(any(windows, feature = "windows-typecheck"))]
mod port;
#[cfg(any(windows, feature = "windows-typecheck"))]
mod process;
#[cfg(any(windows, feature = "windows-typecheck"))]
mod volumes;

pub use logic::{Backoff, ConnectFailure, PortError};
#[cfg(any(windows, feature = "windows-typecheck"))]
pub use port::PortSource;
#[cfg(any(windows, feature = "windows-typecheck"))]
pub use process::WindowsInspector;
#[cfg(any(windows, feature = "windows-typecheck"))]
pub use volumes::DosDevices;
