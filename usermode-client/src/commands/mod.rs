//! One module per subcommand; each only wires library crates together.

pub mod demo;
pub mod interrupt;
pub mod live;
pub mod options;
pub mod record;
pub mod replay;
pub mod rules;
pub mod session;
pub mod stats;
pub mod version;
pub mod watch;

/// Diagnostics go to stderr through `tracing`; `--log` wins over `RUST_LOG`, default `warn`
/// plus the one-line "rules reloaded" message (target `picket_reload`).
pub fn init_tracing(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn,picket_reload=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
