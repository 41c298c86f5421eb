//! Writes a valid message as annotated hex, field by field.
//!
//! The field table here is written from `docs/PROTOCOL.md`, independently of the crate's
//! private `layout` module: if the two disagree, the walk below stops lining up with the
//! bytes and the generated golden file (reviewed in the diff) shows it.

use super::hex::{posix_text, utf16_text, Annotated};
use picket_protocol::{
    CreateDisposition, CreateResult, DeleteMethod, LossReason, RecordKind, SizeKind,
};

/// How a field's value is shown in its comment.
#[derive(Clone, Copy)]
enum Show {
    Dec,
    Hex,
    Disposition,
    CreateResult,
    DeleteMethod,
    SizeKind,
    LossReason,
    Reserved,
}

/// One field of a fixed part: name, offset inside the fixed part, size, rendering.
type Field = (&'static str, usize, usize, Show);

const FILE: [Field; 2] = [
    ("handle_id", 0, 8, Show::Dec),
    ("file_id", 8, 16, Show::Hex),
];

fn fixed_fields(kind: u16) -> Option<Vec<Field>> {
    let file = |rest: &[Field]| FILE.iter().chain(rest).copied().collect();
    Some(match RecordKind::from_raw(kind)? {
        RecordKind::FileCreate => file(&[
            ("create_disposition", 24, 4, Show::Disposition),
            ("create_options", 28, 4, Show::Hex),
            ("desired_access", 32, 4, Show::Hex),
            ("create_result", 36, 4, Show::CreateResult),
        ]),
        RecordKind::FirstWrite | RecordKind::CloseModified => file(&[]),
        RecordKind::Rename | RecordKind::HardLink => file(&[
            ("link_flags", 24, 4, Show::Hex),
            ("reserved", 28, 4, Show::Reserved),
        ]),
        RecordKind::Delete | RecordKind::DeleteStream => file(&[
            ("delete_method", 24, 4, Show::DeleteMethod),
            ("reserved", 28, 4, Show::Reserved),
        ]),
        RecordKind::SetSize => file(&[
            ("new_size", 24, 8, Show::Dec),
            ("size_kind", 32, 4, Show::SizeKind),
            ("reserved", 36, 4, Show::Reserved),
        ]),
        RecordKind::SetAttributes => file(&[
            ("attributes", 24, 4, Show::Hex),
            ("reserved", 28, 4, Show::Reserved),
        ]),
        RecordKind::DriverHello => vec![
            ("driver_version_major", 0, 2, Show::Dec),
            ("driver_version_minor", 2, 2, Show::Dec),
            ("driver_version_patch", 4, 2, Show::Dec),
            ("reserved", 6, 2, Show::Reserved),
            ("protocol_major", 8, 2, Show::Dec),
            ("protocol_minor", 10, 2, Show::Dec),
            ("reserved", 12, 4, Show::Reserved),
            ("capabilities", 16, 8, Show::Hex),
            ("ring_capacity", 24, 4, Show::Dec),
            ("max_batch_bytes", 28, 4, Show::Dec),
            ("send_timeout_ms", 32, 4, Show::Dec),
            ("reserved", 36, 4, Show::Reserved),
        ],
        RecordKind::Stats => vec![
            ("events_seen", 0, 8, Show::Dec),
            ("events_sent", 8, 8, Show::Dec),
            ("events_dropped", 16, 8, Show::Dec),
            ("batches_sent", 24, 8, Show::Dec),
            ("send_failures", 32, 8, Show::Dec),
            ("ring_high_water", 40, 4, Show::Dec),
            ("ring_capacity", 44, 4, Show::Dec),
        ],
        RecordKind::Loss => vec![
            ("first_lost_seq", 0, 8, Show::Dec),
            ("last_lost_seq", 8, 8, Show::Dec),
            ("count", 16, 8, Show::Dec),
            ("reason", 24, 4, Show::LossReason),
            ("reserved", 28, 4, Show::Reserved),
        ],
        RecordKind::ProcessStart => vec![
            ("parent_pid", 0, 4, Show::Dec),
            ("session_id", 4, 4, Show::Dec),
            ("parent_start_key", 8, 8, Show::Hex),
            ("creating_pid", 16, 4, Show::Dec),
            ("creating_tid", 20, 4, Show::Dec),
            ("user_id", 24, 4, Show::Dec),
            ("reserved", 28, 4, Show::Reserved),
        ],
        RecordKind::ProcessExit => vec![
            ("exit_status", 0, 4, Show::Hex),
            ("reserved", 4, 4, Show::Reserved),
        ],
        RecordKind::VerdictRequest => return None,
    })
}

fn kind_name(kind: u16) -> String {
    match RecordKind::from_raw(kind) {
        Some(known) if known.is_implemented() => format!("{known:?}"),
        Some(reserved) => format!("{reserved:?} (reserved: skipped as unknown)"),
        None => "unknown kind (skipped by length)".to_owned(),
    }
}

fn le(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .rev()
        .fold(0u128, |acc, &byte| (acc << 8) | u128::from(byte))
}

fn show(value: u128, size: usize, how: Show) -> String {
    // Every enum field is a u32, so the cast is exact.
    let raw = u32::try_from(value).unwrap_or(u32::MAX);
    match how {
        Show::Dec => value.to_string(),
        Show::Hex => format!("{value:#0width$x}", width = size * 2 + 2),
        Show::Disposition => format!("{raw} {:?}", CreateDisposition::from_raw(raw)),
        Show::CreateResult => format!("{raw} {:?}", CreateResult::from_raw(raw)),
        Show::DeleteMethod => format!("{raw} {:?}", DeleteMethod::from_raw(raw)),
        Show::SizeKind => format!("{raw} {:?}", SizeKind::from_raw(raw)),
        Show::LossReason => format!("{raw} {:?}", LossReason::from_raw(raw)),
        Show::Reserved => "(must be zero)".to_owned(),
    }
}

fn record_flag_names(bits: u16) -> String {
    let names = [
        (1u16, "NAME_TRUNCATED"),
        (2, "NEW_NAME_TRUNCATED"),
        (4, "NAME_NORMALIZED"),
        (8, "DIRECTORY"),
        (16, "USER_ID"),
        (32, "FORKED"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.join(" | ")
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Annotates a batch the decoder accepted. `title` lines go on top.
pub fn batch(title: &[&str], bytes: &[u8]) -> String {
    let mut out = Annotated::default();
    for line in title {
        out.comment(line);
    }
    out.blank();
    let header_len = usize::from(u16_at(bytes, 8));
    let flags = u16_at(bytes, 10);
    let posix = flags & 1 != 0;
    let count = u32_at(bytes, 12);
    out.comment(&format!("Batch header ({header_len} bytes)"));
    out.bytes(0, &bytes[0..4], "magic \"PKB1\"");
    out.bytes(4, &bytes[4..6], &format!("major {}", u16_at(bytes, 4)));
    out.bytes(6, &bytes[6..8], &format!("minor {}", u16_at(bytes, 6)));
    out.bytes(8, &bytes[8..10], &format!("header_len {header_len}"));
    let names = if posix {
        "POSIX_NAMES: names are raw POSIX bytes"
    } else {
        "names are UTF-16LE"
    };
    out.bytes(10, &bytes[10..12], &format!("flags {flags:#06x} ({names})"));
    out.bytes(12, &bytes[12..16], &format!("record_count {count}"));
    out.bytes(
        16,
        &bytes[16..20],
        &format!("total_len {}", u32_at(bytes, 16)),
    );
    out.bytes(20, &bytes[20..24], "reserved (must be zero)");
    out.bytes(
        24,
        &bytes[24..32],
        &format!("first_seq {}", le(&bytes[24..32])),
    );
    out.bytes(
        32,
        &bytes[32..40],
        &format!("lost_since_previous {}", le(&bytes[32..40])),
    );
    if header_len > 40 {
        out.chunks(40, &bytes[40..header_len], "header extension", |_| {
            "(newer minor: skipped via header_len)".to_owned()
        });
    }
    let mut offset = header_len;
    for index in 0..count {
        out.blank();
        offset = record(&mut out, bytes, offset, index, posix);
    }
    assert_eq!(offset, bytes.len(), "the walk must consume the whole batch");
    out.finish()
}

/// Annotates the record at `start`; returns the next record's offset.
fn record(out: &mut Annotated, bytes: &[u8], start: usize, index: u32, posix: bool) -> usize {
    let at = |field: usize| start + field;
    let len = u32_at(bytes, start) as usize;
    let kind = u16_at(bytes, at(4));
    let flags = u16_at(bytes, at(6));
    let fixed_len = usize::from(u16_at(bytes, at(40)));
    let name_len = usize::from(u16_at(bytes, at(42)));
    let new_name_len = usize::from(u16_at(bytes, at(44)));
    out.comment(&format!(
        "Record {index} at @{start}: {} ({kind:#06x}), {len} bytes",
        kind_name(kind)
    ));
    let field = |out: &mut Annotated, offset: usize, size: usize, what: String| {
        out.bytes(at(offset), &bytes[at(offset)..at(offset + size)], &what);
    };
    field(out, 0, 4, format!("len {len}"));
    field(out, 4, 2, format!("kind {kind:#06x}"));
    let flag_names = if fixed_fields(kind).is_some() {
        record_flag_names(flags)
    } else {
        "(unknown kind: uninterpreted)".to_owned()
    };
    field(out, 6, 2, format!("flags {flags:#06x} {flag_names}"));
    let value = |offset: usize, size: usize| le(&bytes[at(offset)..at(offset + size)]);
    field(out, 8, 8, format!("seq {}", value(8, 8)));
    field(
        out,
        16,
        8,
        format!("timestamp {} (100 ns since 1601)", value(16, 8)),
    );
    field(out, 24, 4, format!("pid {}", value(24, 4)));
    field(out, 28, 4, format!("tid {}", value(28, 4)));
    field(out, 32, 8, format!("process_start_key {}", value(32, 8)));
    field(out, 40, 2, format!("fixed_len {fixed_len}"));
    field(out, 42, 2, format!("name_len {name_len}"));
    field(out, 44, 2, format!("new_name_len {new_name_len}"));
    field(out, 46, 2, "reserved (must be zero)".to_owned());

    let fixed_start = at(48);
    let fixed = &bytes[fixed_start..fixed_start + fixed_len];
    match fixed_fields(kind) {
        Some(fields) => {
            out.comment(&format!("fixed part ({fixed_len} bytes)"));
            let mut known_end = 0;
            for (name, offset, size, how) in fields {
                let what = format!(
                    "+{offset:<3} {name} {}",
                    show(le(&fixed[offset..offset + size]), size, how)
                );
                out.bytes(fixed_start + offset, &fixed[offset..offset + size], &what);
                known_end = known_end.max(offset + size);
            }
            if fixed_len > known_end {
                out.chunks(
                    fixed_start + known_end,
                    &fixed[known_end..],
                    "fixed extension",
                    |_| "(newer minor: skipped via fixed_len)".to_owned(),
                );
            }
        }
        None if fixed_len > 0 => {
            out.comment(&format!("fixed part ({fixed_len} bytes, uninterpreted)"));
            out.chunks(fixed_start, fixed, "fixed", |_| String::new());
        }
        None => out.comment("fixed part (empty)"),
    }
    let render = |chunk: &[u8]| {
        if posix {
            posix_text(chunk)
        } else {
            utf16_text(chunk)
        }
    };
    let name_start = fixed_start + fixed_len;
    let mut end = name_start;
    for (label, len) in [("name", name_len), ("new_name", new_name_len)] {
        if len == 0 {
            continue;
        }
        let region = &bytes[end..end + len];
        out.comment(&format!(
            "{label} ({len} bytes): {}",
            summary(&render(region))
        ));
        out.chunks(end, region, label, render);
        end += len;
    }
    let record_end = start + len;
    if record_end > end {
        out.comment(&format!(
            "padding to a multiple of 8 ({} bytes, zero)",
            record_end - end
        ));
        out.bytes(end, &bytes[end..record_end], "padding");
    }
    record_end
}

/// A long rendered name shortened for its one-line summary (the chunk lines show it all).
fn summary(text: &str) -> String {
    const KEEP: usize = 72;
    if text.chars().count() <= KEEP {
        return text.to_owned();
    }
    let head: String = text.chars().take(KEEP).collect();
    format!("{head}... (continues below)")
}

/// Annotates a client hello.
pub fn client_hello(title: &[&str], bytes: &[u8]) -> String {
    let mut out = Annotated::default();
    for line in title {
        out.comment(line);
    }
    out.blank();
    out.comment("ClientHello (16 bytes, user -> kernel, connection context)");
    out.bytes(0, &bytes[0..4], "magic \"PKCH\"");
    out.bytes(4, &bytes[4..6], &format!("size {}", u16_at(bytes, 4)));
    out.bytes(6, &bytes[6..8], &format!("major {}", u16_at(bytes, 6)));
    out.bytes(8, &bytes[8..10], &format!("minor {}", u16_at(bytes, 8)));
    out.bytes(10, &bytes[10..12], "flags (must be zero)");
    out.bytes(12, &bytes[12..16], "reserved (must be zero)");
    out.finish()
}

/// Annotates a verdict reply.
pub fn verdict_reply(title: &[&str], bytes: &[u8]) -> String {
    let mut out = Annotated::default();
    for line in title {
        out.comment(line);
    }
    out.blank();
    out.comment("VerdictReply (24 bytes, user -> kernel, FilterReplyMessage)");
    out.bytes(0, &bytes[0..4], "magic \"PKVR\"");
    out.bytes(4, &bytes[4..6], &format!("size {}", u16_at(bytes, 4)));
    out.bytes(6, &bytes[6..8], &format!("major {}", u16_at(bytes, 6)));
    let verdict = u32_at(bytes, 8);
    let name = match verdict {
        1 => "Allow",
        2 => "Deny",
        _ => "?",
    };
    out.bytes(8, &bytes[8..12], &format!("verdict {verdict} {name}"));
    out.bytes(12, &bytes[12..16], "reserved (must be zero)");
    out.bytes(
        16,
        &bytes[16..24],
        &format!("request_seq {}", le(&bytes[16..24])),
    );
    out.finish()
}
