//! The human-readable forms on stderr: one line per alert, progress, the summary.

use std::time::Duration;

use picket_model::{Alert, Level};

use crate::EmitCounts;

const fn level_name(level: Level) -> &'static str {
    match level {
        Level::Informational => "info",
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High => "high",
        Level::Critical => "critical",
    }
}

/// `ALERT [high] Ransomware-like renames (rule picket-ransom-001) pid 4242 C:\x\evil.exe -> C:\Users\a\doc.locked`
#[must_use]
pub fn alert_line(alert: &Alert) -> String {
    let mut line = format!(
        "ALERT{} [{}] {} (rule {})",
        if alert.shadow { " (shadow)" } else { "" },
        level_name(alert.level),
        alert.title,
        alert.rule_id
    );
    if let Some(event) = alert.events.last() {
        let image = event.process.image.as_deref().unwrap_or("?");
        line.push_str(&format!(
            " pid {} {image} {} {}",
            event.process.key.pid, event.operation, event.target.path
        ));
    }
    if let Some(c) = &alert.correlation {
        line.push_str(&format!(" [{} {} in {}s]", c.kind, c.count, c.window_secs));
    }
    line
}

/// Events per second, guarding against a zero duration.
#[must_use]
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// `picket: 1200 events (3400/s), 0 lost, 2 alerts, 0 malformed batches, 1.3 s`
#[must_use]
pub fn summary_line(counts: &EmitCounts, elapsed: Duration) -> String {
    format!(
        "{} events ({:.0}/s), {} lost, {} alerts, {} malformed batches, {} notices, {:.1} s",
        counts.events,
        rate(counts.events, elapsed),
        counts.lost,
        counts.alerts,
        counts.malformed,
        counts.notices,
        elapsed.as_secs_f64()
    )
}
