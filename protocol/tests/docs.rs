//! `docs/PROTOCOL.md` is the spec C and Python authors implement from: this test holds it to
//! the code. For every layout table in it, the rows must tile the structure without gaps or
//! overlaps, and a message encoded with distinctive values must hold each documented field's
//! value at the documented offset (reserved fields zero).

use std::collections::HashMap;

use picket_protocol::{
    decode_batch, encode_record, BatchFlags, BatchWriter, Body, ClientHello, CreateDisposition,
    CreateResult, Delete, DeleteMethod, DriverHello, FileCreate, FileOp, FileRef, LinkChange, Loss,
    LossReason, Name, ProcessExit, ProcessStart, Record, RecordHeader, RecordKind, SetAttributes,
    SetSize, SizeKind, Stats, Verdict, VerdictReply, BATCH_HEADER_LEN, BATCH_MAGIC,
    CLIENT_HELLO_MAGIC, MAX_BATCH_LEN, MAX_FIXED_LEN, MAX_NAME_BYTES, MAX_RECORD_LEN,
    PROTOCOL_MAJOR, PROTOCOL_MINOR, RECORD_ALIGN, RECORD_HEADER_LEN, VERDICT_REPLY_MAGIC,
};

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    std::fs::read_to_string(path).expect("docs/PROTOCOL.md")
}

/// One row of a layout table: offset, size in bytes, field name (backticks removed).
#[derive(Debug)]
struct Row {
    offset: usize,
    size: usize,
    field: String,
}

fn size_of(ty: &str) -> usize {
    match ty {
        "u16" => 2,
        "u32" => 4,
        "u64" => 8,
        "u128" => 16,
        "—" => 0,
        other => other
            .strip_suffix(" bytes")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unknown type `{other}`")),
    }
}

/// The layout table under the first heading containing `heading`, and the structure length
/// the heading states ("(40 bytes", "(fixed part 40 bytes").
fn table(doc: &str, heading: &str) -> (Vec<Row>, usize) {
    let start = doc
        .lines()
        .position(|line| line.starts_with('#') && line.contains(heading))
        .unwrap_or_else(|| panic!("no heading with `{heading}`"));
    let title = doc.lines().nth(start).expect("heading");
    let declared = title
        .split('(')
        .nth(1)
        .and_then(|inside| {
            inside
                .split_whitespace()
                .find_map(|word| word.parse::<usize>().ok())
        })
        .unwrap_or_else(|| panic!("`{title}` states no length"));
    let mut rows = Vec::new();
    for line in doc.lines().skip(start + 1) {
        if line.starts_with('#') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(offset) = cells[1].parse::<usize>() else {
            continue;
        };
        rows.push(Row {
            offset,
            size: size_of(cells[2]),
            field: cells[3].replace('`', ""),
        });
    }
    assert!(!rows.is_empty(), "no rows under `{heading}`");
    (rows, declared)
}

/// Rows must follow each other without gap or overlap and end at the stated length.
fn assert_tiles(heading: &str, rows: &[Row], declared: usize) {
    let mut end = 0;
    for row in rows.iter().filter(|row| row.size > 0) {
        assert_eq!(
            row.offset, end,
            "{heading}: `{}` does not start where the previous field ends",
            row.field
        );
        end = row.offset + row.size;
    }
    assert_eq!(
        end, declared,
        "{heading}: fields end at {end}, the heading says {declared}"
    );
}

fn le(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .rev()
        .fold(0, |acc, &b| (acc << 8) | u128::from(b))
}

/// Checks every documented field of `bytes` against `values`; reserved fields must be zero.
fn assert_fields(heading: &str, bytes: &[u8], values: &HashMap<&str, u128>) {
    let doc = doc();
    let (rows, declared) = table(&doc, heading);
    assert_tiles(heading, &rows, declared);
    for row in rows.iter().filter(|row| row.size > 0) {
        let field = &bytes[row.offset..row.offset + row.size];
        let value = le(field);
        if row.field == "reserved" {
            assert_eq!(
                value, 0,
                "{heading}: reserved at {} is not zero",
                row.offset
            );
        } else if row.field == "file reference" {
            assert_fields("4.1 File reference", field, values);
        } else {
            let want = values
                .get(row.field.as_str())
                .unwrap_or_else(|| panic!("{heading}: no sample value for `{}`", row.field));
            assert_eq!(
                value, *want,
                "{heading}: `{}` at offset {}",
                row.field, row.offset
            );
        }
    }
}

const FILE: FileRef = FileRef {
    handle_id: 0x1111_2222_3333_4444,
    file_id: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
    is_directory: true,
    name_normalized: true,
};

fn file_values() -> HashMap<&'static str, u128> {
    HashMap::from([
        ("handle_id", 0x1111_2222_3333_4444),
        ("file_id", FILE.file_id),
    ])
}

fn header() -> RecordHeader {
    RecordHeader {
        seq: 0x0a0b_0c0d_0e0f_1011,
        timestamp: 0x01da_d1f7_86d4_2bb0,
        pid: 0x1234_5678,
        tid: 0x9abc_def0,
        process_start_key: 0x7766_5544_3322_1100,
    }
}

/// The fixed part of `body` as the encoder writes it.
fn fixed_part(body: Body<'_>) -> Vec<u8> {
    let record = Record {
        header: header(),
        body,
    };
    let mut out = vec![0u8; 4096];
    let len = encode_record(&record, &mut out).expect("fits");
    let fixed_len = usize::from(u16::from_le_bytes([out[40], out[41]]));
    assert!(48 + fixed_len <= len);
    out[48..48 + fixed_len].to_vec()
}

#[test]
fn the_constants_table_matches_the_crate() {
    let doc = doc();
    let numbers = [
        ("PROTOCOL_MAJOR", usize::from(PROTOCOL_MAJOR)),
        ("PROTOCOL_MINOR", usize::from(PROTOCOL_MINOR)),
        ("BATCH_HEADER_LEN", BATCH_HEADER_LEN),
        ("RECORD_HEADER_LEN", RECORD_HEADER_LEN),
        ("RECORD_ALIGN", RECORD_ALIGN),
        ("MAX_NAME_BYTES", MAX_NAME_BYTES),
        ("MAX_FIXED_LEN", MAX_FIXED_LEN),
        ("MAX_RECORD_LEN", MAX_RECORD_LEN),
        ("MAX_BATCH_LEN", MAX_BATCH_LEN),
    ];
    for (name, value) in numbers {
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("{name} is not in the constants table"));
        let cell = row.split('|').nth(2).expect("value cell").trim();
        // "48 + 64 + 2 × 2048 = 4208": the value is the last number.
        let documented: usize = cell
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|word| !word.is_empty())
            .and_then(|word| word.parse().ok())
            .expect("a number");
        assert_eq!(documented, value, "{name}");
    }
    for (name, magic) in [
        ("BATCH_MAGIC", BATCH_MAGIC),
        ("CLIENT_HELLO_MAGIC", CLIENT_HELLO_MAGIC),
        ("VERDICT_REPLY_MAGIC", VERDICT_REPLY_MAGIC),
    ] {
        let bytes: Vec<String> = magic
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("{name} is not in the constants table"));
        assert!(
            row.contains(&format!("`{}`", bytes.join(" "))),
            "{name}: {row}"
        );
    }
    assert!(doc.contains(&format!("**`{}`**", picket_protocol::PORT_NAME)));
}

#[test]
fn the_kind_table_matches_the_crate_and_the_encoder() {
    let doc = doc();
    let mut seen = 0;
    for line in doc.lines().filter(|line| line.starts_with("| `0x")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let tag = u16::from_str_radix(cells[1].trim_matches('`').trim_start_matches("0x"), 16)
            .expect("hex tag");
        let name = cells[2].trim_matches('`');
        let kind = RecordKind::from_raw(tag).unwrap_or_else(|| panic!("{tag:#06x} unknown"));
        assert_eq!(format!("{kind:?}"), name, "{tag:#06x}");
        if kind.is_implemented() {
            let documented: usize = cells[3].parse().expect("fixed length");
            let body = sample_body(kind);
            assert_eq!(
                fixed_part(body).len(),
                documented,
                "{name}: fixed part length"
            );
        } else {
            assert_eq!(cells[3], "—", "{name} is reserved");
        }
        seen += 1;
    }
    let known = (0..=u16::MAX)
        .filter(|&tag| RecordKind::from_raw(tag).is_some())
        .count();
    assert_eq!(seen, known, "every kind the crate knows has a row");
}

fn sample_body(kind: RecordKind) -> Body<'static> {
    let name = Name::new(b"n\0");
    match kind {
        RecordKind::FileCreate => Body::FileCreate(FileCreate {
            file: FILE,
            disposition: CreateDisposition::from_raw(0xa1a2_a3a4),
            create_options: 0xb1b2_b3b4,
            desired_access: 0xc1c2_c3c4,
            result: CreateResult::from_raw(0xd1d2_d3d4),
            name,
        }),
        RecordKind::FirstWrite => Body::FirstWrite(FileOp { file: FILE, name }),
        RecordKind::CloseModified => Body::CloseModified(FileOp { file: FILE, name }),
        RecordKind::Rename | RecordKind::HardLink => {
            let change = LinkChange {
                file: FILE,
                flags: 0xe1e2_e3e4,
                name,
                new_name: name,
            };
            if kind == RecordKind::Rename {
                Body::Rename(change)
            } else {
                Body::HardLink(change)
            }
        }
        RecordKind::Delete => Body::Delete(Delete {
            file: FILE,
            method: DeleteMethod::from_raw(0xf1f2_f3f4),
            name,
        }),
        RecordKind::DeleteStream => Body::DeleteStream(Delete {
            file: FILE,
            method: DeleteMethod::from_raw(0xf1f2_f3f4),
            name,
        }),
        RecordKind::SetSize => Body::SetSize(SetSize {
            file: FILE,
            new_size: 0x5152_5354_5556_5758,
            kind: SizeKind::from_raw(0x6162_6364),
            name,
        }),
        RecordKind::SetAttributes => Body::SetAttributes(SetAttributes {
            file: FILE,
            attributes: 0x7172_7374,
            name,
        }),
        RecordKind::DriverHello => Body::DriverHello(DriverHello {
            driver_version: [0x0102, 0x0304, 0x0506],
            protocol_major: 0x0708,
            protocol_minor: 0x090a,
            capabilities: 0x1112_1314_1516_1718,
            ring_capacity: 0x2122_2324,
            max_batch_bytes: 0x3132_3334,
            send_timeout_ms: 0x4142_4344,
        }),
        RecordKind::Stats => Body::Stats(Stats {
            events_seen: 0x0101_0101_0101_0101,
            events_sent: 0x0202_0202_0202_0202,
            events_dropped: 0x0303_0303_0303_0303,
            batches_sent: 0x0404_0404_0404_0404,
            send_failures: 0x0505_0505_0505_0505,
            ring_high_water: 0x0606_0606,
            ring_capacity: 0x0707_0707,
        }),
        RecordKind::Loss => Body::Loss(Loss {
            first_lost_seq: 0x1010_1010_1010_1010,
            last_lost_seq: 0x2020_2020_2020_2020,
            count: 0x3030_3030_3030_3030,
            reason: LossReason::from_raw(0x4040_4040),
        }),
        RecordKind::ProcessStart => Body::ProcessStart(ProcessStart {
            parent_pid: 0x8182_8384,
            parent_start_key: 0x9192_9394_9596_9798,
            creating_pid: 0xa5a6_a7a8,
            creating_tid: 0xb5b6_b7b8,
            session_id: 0xc5c6_c7c8,
            user_id: Some(0xd5d6_d7d8),
            forked: true,
            image: name,
            command_line: name,
        }),
        RecordKind::ProcessExit => Body::ProcessExit(ProcessExit {
            exit_status: 0xe5e6_e7e8,
        }),
        RecordKind::VerdictRequest => unreachable!("reserved kinds have no body"),
    }
}

#[test]
fn every_fixed_part_table_matches_the_encoder() {
    let mut values = file_values();
    values.extend([
        ("create_disposition", 0xa1a2_a3a4),
        ("create_options", 0xb1b2_b3b4),
        ("desired_access", 0xc1c2_c3c4),
        ("create_result", 0xd1d2_d3d4),
        ("link_flags", 0xe1e2_e3e4),
        ("delete_method", 0xf1f2_f3f4),
        ("new_size", 0x5152_5354_5556_5758),
        ("size_kind", 0x6162_6364),
        ("attributes", 0x7172_7374),
        ("driver_version[0]", 0x0102),
        ("driver_version[1]", 0x0304),
        ("driver_version[2]", 0x0506),
        ("protocol_major", 0x0708),
        ("protocol_minor", 0x090a),
        ("capabilities", 0x1112_1314_1516_1718),
        ("ring_capacity", 0x2122_2324),
        ("max_batch_bytes", 0x3132_3334),
        ("send_timeout_ms", 0x4142_4344),
        ("events_seen", 0x0101_0101_0101_0101),
        ("events_sent", 0x0202_0202_0202_0202),
        ("events_dropped", 0x0303_0303_0303_0303),
        ("batches_sent", 0x0404_0404_0404_0404),
        ("send_failures", 0x0505_0505_0505_0505),
        ("ring_high_water", 0x0606_0606),
        ("first_lost_seq", 0x1010_1010_1010_1010),
        ("last_lost_seq", 0x2020_2020_2020_2020),
        ("count", 0x3030_3030_3030_3030),
        ("reason", 0x4040_4040),
        ("parent_pid", 0x8182_8384),
        ("parent_start_key", 0x9192_9394_9596_9798),
        ("creating_pid", 0xa5a6_a7a8),
        ("creating_tid", 0xb5b6_b7b8),
        ("session_id", 0xc5c6_c7c8),
        ("user_id", 0xd5d6_d7d8),
        ("exit_status", 0xe5e6_e7e8),
    ]);
    let stats = |values: &HashMap<&'static str, u128>| {
        let mut values = values.clone();
        values.insert("ring_capacity", 0x0707_0707);
        values
    };
    let sections = [
        ("`FileCreate` (fixed part", RecordKind::FileCreate),
        ("`FirstWrite`, `CloseModified`", RecordKind::FirstWrite),
        ("`FirstWrite`, `CloseModified`", RecordKind::CloseModified),
        ("`Rename`, `HardLink`", RecordKind::Rename),
        ("`Rename`, `HardLink`", RecordKind::HardLink),
        ("`Delete` (fixed part", RecordKind::Delete),
        ("`Delete` (fixed part", RecordKind::DeleteStream),
        ("`SetSize` (fixed part", RecordKind::SetSize),
        ("`SetAttributes` (fixed part", RecordKind::SetAttributes),
        ("`DriverHello` (fixed part", RecordKind::DriverHello),
        ("`Stats` (fixed part", RecordKind::Stats),
        ("`Loss` (fixed part", RecordKind::Loss),
        ("`ProcessStart` (fixed part", RecordKind::ProcessStart),
        ("`ProcessExit` (fixed part", RecordKind::ProcessExit),
    ];
    for (heading, kind) in sections {
        let fixed = fixed_part(sample_body(kind));
        let values = if kind == RecordKind::Stats {
            stats(&values)
        } else {
            values.clone()
        };
        assert_fields(heading, &fixed, &values);
    }
}

#[test]
fn the_header_tables_match_the_encoder() {
    let record = Record {
        header: header(),
        body: Body::FirstWrite(FileOp {
            file: FILE,
            name: Name {
                bytes: b"a\0b\0c\0",
                truncated: true,
            },
        }),
    };
    let mut out = vec![0u8; 1024];
    let mut writer =
        BatchWriter::new(&mut out, BatchFlags::POSIX_NAMES, 0x1122_3344_5566_7788).expect("fits");
    writer.push(&record).expect("fits");
    let len = writer.finish();
    let bytes = &out[..len];
    decode_batch(bytes).expect("valid");
    let h = header();
    let batch_values = HashMap::from([
        ("magic", u128::from(BATCH_MAGIC)),
        ("major", 1),
        ("minor", u128::from(PROTOCOL_MINOR)),
        ("header_len", 40),
        ("flags", 1),
        ("record_count", 1),
        ("total_len", len as u128),
        ("first_seq", u128::from(h.seq)),
        ("lost_since_previous", 0x1122_3344_5566_7788),
    ]);
    assert_fields("Batch header (40 bytes", bytes, &batch_values);
    let record_values = HashMap::from([
        ("len", (len - 40) as u128),
        ("kind", 0x0002),
        // NAME_TRUNCATED | NAME_NORMALIZED | DIRECTORY
        ("flags", 0b1101),
        ("seq", u128::from(h.seq)),
        ("timestamp", u128::from(h.timestamp)),
        ("pid", u128::from(h.pid)),
        ("tid", u128::from(h.tid)),
        ("process_start_key", u128::from(h.process_start_key)),
        ("fixed_len", 24),
        ("name_len", 6),
        ("new_name_len", 0),
    ]);
    assert_fields("Record header (48 bytes)", &bytes[40..], &record_values);
}

#[test]
fn the_user_to_kernel_tables_match_the_encoder() {
    let hello = ClientHello {
        major: PROTOCOL_MAJOR,
        minor: 0x0203,
    };
    let values = HashMap::from([
        ("magic", u128::from(CLIENT_HELLO_MAGIC)),
        ("size", 16),
        ("major", 1),
        ("minor", 0x0203),
        ("flags", 0),
    ]);
    assert_fields("Client hello (16 bytes)", &hello.encode(), &values);
    let reply = VerdictReply {
        request_seq: 0x0102_0304_0506_0708,
        verdict: Verdict::Deny,
    };
    let values = HashMap::from([
        ("magic", u128::from(VERDICT_REPLY_MAGIC)),
        ("size", 24),
        ("major", 1),
        ("verdict", 2),
        ("request_seq", 0x0102_0304_0506_0708),
    ]);
    assert_fields("Verdict reply (24 bytes)", &reply.encode(), &values);
}
