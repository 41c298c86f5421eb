//! When each file was lost: one line per file, Unix time in nanoseconds, appended and
//! flushed as it happens so the benchmark can count files lost before the first alert.

use std::io::Write as _;
use std::path::Path;

/// Unix time now, in nanoseconds.
#[must_use]
pub fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Appends one line to the progress log, if any.
///
/// # Errors
/// When the log cannot be written.
pub fn record(log: Option<&Path>) -> std::io::Result<()> {
    let Some(log) = log else { return Ok(()) };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    writeln!(file, "{}", now_nanos())
}

/// The times in a progress log.
#[must_use]
pub fn read(log: &Path) -> Vec<u128> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}
