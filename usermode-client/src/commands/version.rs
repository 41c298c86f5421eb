//! `picket version`.

use std::process::ExitCode;

/// Prints the client version, the protocol version it speaks and the platform.
#[allow(clippy::unnecessary_wraps)]
pub fn run() -> anyhow::Result<ExitCode> {
    println!(
        "picket {} (protocol {}.{}, {}-{})",
        env!("CARGO_PKG_VERSION"),
        picket_protocol::PROTOCOL_MAJOR,
        picket_protocol::PROTOCOL_MINOR,
        std::env::consts::ARCH,
        std::env::consts::OS,
    );
    Ok(ExitCode::SUCCESS)
}
