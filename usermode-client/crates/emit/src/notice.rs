//! Notice lines: `{"picket_notice": "<kind>", "time": <ms>, ...the notice's fields}`.
//!
//! Kinds: `events_lost` (`count`, `first_seq`, `last_seq`, `cause`; when the source cannot
//! say how many, as on a Linux queue overflow, `count` is `null` and `count_at_least` gives
//! the lower bound, so no consumer mistakes it for an exact figure), `malformed_batch`
//! (`batch_index`, `offset`, `error`), `source_restarted` (`expected`, `got`),
//! `driver_hello`, `driver_stats`. They carry no `class_uid`, so an OCSF consumer never
//! mistakes them for events.

use std::io::Write;

use picket_model::{Notice, Timestamp};

/// Writes one notice as a JSON object (no newline).
///
/// # Errors
/// When writing fails.
pub fn write<W: Write>(out: &mut W, notice: &Notice, now: Timestamp) -> std::io::Result<()> {
    // Notices are rare: a JSON tree is fine here.
    let mut fields = match serde_json::to_value(notice)? {
        serde_json::Value::Object(fields) => fields,
        other => {
            let mut fields = serde_json::Map::new();
            fields.insert("value".into(), other);
            fields
        }
    };
    let kind = fields.remove("notice").unwrap_or_default();
    if let Some(exact) = fields.remove("exact") {
        if exact == serde_json::Value::Bool(false) {
            let at_least = fields
                .insert("count".into(), serde_json::Value::Null)
                .unwrap_or_default();
            fields.insert("count_at_least".into(), at_least);
        }
    }
    let mut line = serde_json::Map::new();
    line.insert("picket_notice".into(), kind);
    line.insert("time".into(), now.unix_millis().into());
    line.extend(fields);
    serde_json::to_writer(out, &line)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::LossCause;

    #[test]
    fn a_loss_is_a_line_without_class_uid() {
        let mut out = Vec::new();
        let notice = Notice::EventsLost {
            count: 3,
            exact: true,
            first_seq: Some(10),
            last_seq: Some(12),
            cause: LossCause::RingFull,
        };
        write(&mut out, &notice, Timestamp::from_unix_nanos(5_000_000)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "picket_notice": "events_lost", "time": 5, "count": 3,
                "first_seq": 10, "last_seq": 12, "cause": "ring_full"
            })
        );
    }

    #[test]
    fn a_loss_of_unknown_size_has_no_exact_count() {
        let mut out = Vec::new();
        let notice = Notice::EventsLost {
            count: 1,
            exact: false,
            first_seq: None,
            last_seq: None,
            cause: LossCause::QueueOverflow,
        };
        write(&mut out, &notice, Timestamp::from_unix_nanos(5_000_000)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "picket_notice": "events_lost", "time": 5, "count": null, "count_at_least": 1,
                "first_seq": null, "last_seq": null, "cause": "queue_overflow"
            })
        );
    }
}
