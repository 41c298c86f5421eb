//! The human-readable forms on stderr: one line per alert, progress, the summary.

use std::fmt::Write as _;
use std::time::Duration;

use picket_model::{Alert, ContentSampling, Level};

use crate::EmitCounts;

const fn level_name(level: Level) -> &'static str {
    match level {
        Level::Informational => "INFO",
        Level::Low => "LOW",
        Level::Medium => "MEDIUM",
        Level::High => "HIGH",
        Level::Critical => "CRITICAL",
    }
}

/// Control characters (a Linux file name may hold a newline) must not break the line.
fn clean(text: &str, out: &mut String) {
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// `ALERT HIGH [shadow] Title (rule id): pid 42 C:\x\evil.exe -> C:\Users\a\doc.lock [value_count 12 in 30s; ProcessId=42]`
#[must_use]
pub fn alert_line(alert: &Alert) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("ALERT ");
    out.push_str(level_name(alert.level));
    if alert.shadow {
        out.push_str(" [shadow]");
    }
    out.push(' ');
    clean(&alert.title, &mut out);
    out.push_str(" (");
    clean(&alert.rule_id, &mut out);
    out.push(')');
    if let Some(event) = alert.events.last() {
        let _ = write!(out, ": pid {} ", event.process.key.pid);
        clean(event.process.image.as_deref().unwrap_or("?"), &mut out);
        let _ = write!(out, " {} ", event.operation);
        if let Some(source) = &event.source {
            clean(source.path(), &mut out);
            out.push_str(" -> ");
        }
        clean(event.target.path(), &mut out);
    }
    if let Some(c) = &alert.correlation {
        let _ = write!(out, " [{} {} in {}s", c.kind, c.count, c.window_secs);
        for (field, value) in &c.group {
            out.push_str("; ");
            clean(field, &mut out);
            out.push('=');
            clean(value, &mut out);
        }
        out.push(']');
    }
    out
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

/// How many events were lost, for humans: `3 lost`, or `at least 1 lost (count unknown)`
/// when some loss had no exact count (a kernel queue overflow).
#[must_use]
pub fn lost_phrase(lost: u64, inexact: bool) -> String {
    if inexact {
        format!("at least {lost} lost (count unknown: the kernel queue overflowed)")
    } else {
        format!("{lost} lost")
    }
}

/// `picket: 1200 events (3400/s), 0 lost, 2 alerts, 0 malformed batches, 1.3 s`
#[must_use]
pub fn summary_line(counts: &EmitCounts, elapsed: Duration) -> String {
    format!(
        "{} events ({:.0}/s), {}, {} alerts, {} malformed batches, {} notices, {:.1} s",
        counts.events,
        rate(counts.events, elapsed),
        lost_phrase(counts.lost, counts.lost_inexact),
        counts.alerts,
        counts.malformed,
        counts.notices,
        elapsed.as_secs_f64()
    )
}

/// `content samples: 120 read, 3 unreadable, 40 dropped (file renamed or deleted first), …`:
/// the parts other than `read` only when not zero.
#[must_use]
pub fn sampling_phrase(s: &ContentSampling) -> String {
    let mut phrase = format!("content samples: {} read", s.read);
    for (count, what) in [
        (
            s.unreadable,
            "unreadable (gone, not a regular file, too large or denied)",
        ),
        (s.dropped, "dropped (file renamed or deleted first)"),
        (s.skipped_rate, "skipped (rate limit spent)"),
        (s.skipped_queue, "skipped (reader behind)"),
        (s.waiting, "not read at exit"),
    ] {
        if count > 0 {
            let _ = write!(phrase, ", {count} {what}");
        }
    }
    phrase
}

#[cfg(test)]
mod sampling_phrase_tests {
    use super::*;

    #[test]
    fn names_every_count_that_is_not_zero() {
        let all = ContentSampling {
            read: 7,
            unreadable: 1,
            dropped: 2,
            skipped_rate: 3,
            skipped_queue: 4,
            waiting: 5,
        };
        assert_eq!(
            sampling_phrase(&all),
            "content samples: 7 read, 1 unreadable (gone, not a regular file, too large or \
             denied), 2 dropped (file renamed or deleted first), 3 skipped (rate limit spent), 4 \
             skipped (reader behind), 5 not read at exit"
        );
        assert_eq!(
            sampling_phrase(&ContentSampling::default()),
            "content samples: 0 read"
        );
    }
}

#[cfg(test)]
mod alert_line_tests {
    use std::sync::Arc;

    use picket_model::{
        CorrelationContext, Details, FileEvent, FilePath, Host, Operation, ProcessInfo, ProcessKey,
        Timestamp,
    };

    use super::*;

    fn path(path: &str) -> FilePath {
        FilePath::from_text(path)
    }

    #[test]
    fn carries_the_essentials_and_never_a_newline() {
        let event = FileEvent {
            seq: 1,
            time: Timestamp(0),
            host: Host::Linux,
            operation: Operation::Rename,
            process: Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 42,
                    start_key: 1,
                },
                image: Some("/tmp/x".into()),
                ..ProcessInfo::default()
            }),
            thread_id: 0,
            target: path("/home/a/doc\n.lock"),
            source: Some(Box::new(path("/home/a/doc"))),
            details: Details::default(),
            entropy: None,
        };
        let alert = Alert {
            rule_id: "r-1".into(),
            title: "Mass rename".into(),
            level: Level::High,
            tags: vec![],
            description: None,
            shadow: true,
            time: Timestamp(0),
            events: vec![event],
            correlation: Some(CorrelationContext {
                kind: "value_count".into(),
                group: vec![("ProcessId".into(), "42".into())],
                count: 12,
                window_secs: 30,
                rules: vec![],
            }),
            processes: Vec::new(),
        };
        assert_eq!(
            alert_line(&alert),
            "ALERT HIGH [shadow] Mass rename (r-1): pid 42 /tmp/x rename /home/a/doc -> /home/a/doc\\n.lock [value_count 12 in 30s; ProcessId=42]"
        );
    }
}
