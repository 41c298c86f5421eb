//! The OCSF File System Activity line written straight from the event: the sensor's hottest
//! output path (one line per file event). Byte for byte what serialising [`FileActivity`]
//! with `serde_json` gives (a test checks it on varied events), without building the
//! intermediate structs and their formatted `String`s: constant keys and names are written as
//! pre-escaped bytes, and strings are escaped in one pass that copies the runs between
//! escapes.

use std::io::Write as _;

use picket_model::{FileEvent, FilePath, Host, Level};

use super::{activity, disposition_name, image_name, result_name, severity, OCSF_VERSION};
use crate::HostInfo;

/// Bytes JSON must escape: `"`, `\` and the control characters.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// A JSON string, escaped exactly as `serde_json` escapes it, in one pass that copies the
/// runs between escapes.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn opt_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// An unsigned integer in decimal (what `serde_json` writes), without `fmt`.
fn number(out: &mut Vec<u8>, n: impl Into<u64>) {
    let mut n: u64 = n.into();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        digits[at] = b'0' + digit;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn user(out: &mut Vec<u8>, event: &FileEvent) {
    let p = &event.process;
    out.extend_from_slice(b"{\"name\":");
    opt_string(out, p.user.as_deref());
    if let Some(uid) = p.uid {
        out.extend_from_slice(b",\"uid\":\"");
        number(out, uid);
        out.push(b'"');
    }
    out.push(b'}');
}

fn file(out: &mut Vec<u8>, path: &FilePath, file_id: u128) {
    out.extend_from_slice(b"{\"path\":");
    string(out, &path.path);
    out.extend_from_slice(b",\"name\":");
    string(out, &path.name);
    out.extend_from_slice(b",\"parent_folder\":");
    string(out, &path.directory);
    if let Some(ext) = &path.extension {
        out.extend_from_slice(b",\"ext\":");
        string(out, ext);
    }
    out.extend_from_slice(if path.is_directory {
        b",\"type_id\":2,\"type\":\"Folder\""
    } else {
        b",\"type_id\":1,\"type\":\"Regular File\""
    });
    if file_id != 0 {
        let _ = write!(out, ",\"uid\":\"{file_id:x}\"");
    }
    out.push(b'}');
}

/// Appends the line (without its newline) for `event`.
pub fn file_activity(out: &mut Vec<u8>, event: &FileEvent, host: &HostInfo) {
    let d = &event.details;
    let (subject, result) = match &event.source {
        Some(source) => (source, Some(&event.target)),
        None => (&event.target, None),
    };
    let (activity_id, activity_name) = activity(event.operation);
    let (severity_id, severity_name) = severity(Level::Informational);
    out.extend_from_slice(
        b"{\"class_uid\":1001,\"class_name\":\"File System Activity\",\"category_uid\":1,\"category_name\":\"System Activity\",\"activity_id\":",
    );
    number(out, activity_id);
    out.extend_from_slice(b",\"activity_name\":");
    string(out, activity_name);
    out.extend_from_slice(b",\"type_uid\":");
    number(out, 100_100 + u32::from(activity_id));
    out.extend_from_slice(b",\"severity_id\":");
    number(out, severity_id);
    out.extend_from_slice(b",\"severity\":");
    string(out, severity_name);
    out.extend_from_slice(b",\"time\":");
    number(out, event.time.unix_millis());
    out.extend_from_slice(b",\"metadata\":{\"version\":");
    string(out, OCSF_VERSION);
    out.extend_from_slice(
        b",\"product\":{\"name\":\"Picket\",\"vendor_name\":\"Picket\",\"version\":",
    );
    string(out, env!("CARGO_PKG_VERSION"));
    out.extend_from_slice(b"},\"sequence\":");
    number(out, event.seq);
    out.extend_from_slice(b"},\"device\":{\"hostname\":");
    opt_string(out, host.hostname.as_deref());
    out.extend_from_slice(match event.host {
        Host::Windows => b",\"os\":{\"type\":\"windows\",\"type_id\":100,\"name\":\"Windows\"}}",
        Host::Linux => b",\"os\":{\"type\":\"linux\",\"type_id\":200,\"name\":\"Linux\"}}",
    });
    let p = &event.process;
    out.extend_from_slice(b",\"actor\":{\"process\":{\"pid\":");
    number(out, p.key.pid);
    out.extend_from_slice(b",\"uid\":\"");
    number(out, p.key.pid);
    out.push(b'-');
    number(out, p.key.start_key);
    out.push(b'"');
    if event.thread_id != 0 {
        out.extend_from_slice(b",\"tid\":");
        number(out, event.thread_id);
    }
    out.extend_from_slice(b",\"file\":{\"path\":");
    opt_string(out, p.image.as_deref());
    out.extend_from_slice(b",\"name\":");
    opt_string(out, p.image.as_deref().map(image_name));
    out.extend_from_slice(b",\"type_id\":1},\"cmd_line\":");
    opt_string(out, p.command_line.as_deref());
    out.extend_from_slice(b",\"user\":");
    user(out, event);
    if let Some(pid) = p.parent_pid {
        out.extend_from_slice(b",\"parent_process\":{\"pid\":");
        number(out, pid);
        if let Some(key) = p.parent_start_key {
            out.extend_from_slice(b",\"uid\":\"");
            number(out, pid);
            out.push(b'-');
            number(out, key);
            out.push(b'"');
        }
        if let Some(image) = p.parent_image.as_deref() {
            out.extend_from_slice(b",\"file\":{\"path\":");
            string(out, image);
            out.extend_from_slice(b",\"name\":");
            string(out, image_name(image));
            out.extend_from_slice(b",\"type_id\":1}");
        }
        if let Some(cmd_line) = p.parent_command_line.as_deref() {
            out.extend_from_slice(b",\"cmd_line\":");
            string(out, cmd_line);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"},\"user\":");
    user(out, event);
    out.extend_from_slice(b"},\"file\":");
    file(out, subject, d.file_id);
    if let Some(result) = result {
        out.extend_from_slice(b",\"file_result\":");
        file(out, result, d.file_id);
    }
    out.extend_from_slice(b",\"unmapped\":{\"picket\":{\"operation\":");
    string(out, event.operation.as_str());
    out.extend_from_slice(b",\"original_path\":");
    string(out, &subject.original);
    if let Some(result) = result {
        out.extend_from_slice(b",\"original_new_path\":");
        string(out, &result.original);
    }
    out.extend_from_slice(b",\"process_start_key\":");
    number(out, p.key.start_key);
    if d.handle_id != 0 {
        out.extend_from_slice(b",\"handle_id\":");
        number(out, d.handle_id);
    }
    if let Some(c) = d.create {
        out.extend_from_slice(b",\"create\":{\"disposition\":");
        string(out, disposition_name(c.disposition));
        out.extend_from_slice(b",\"result\":");
        string(out, result_name(c.result));
        out.extend_from_slice(b",\"options\":");
        number(out, c.options);
        out.extend_from_slice(b",\"desired_access\":");
        number(out, c.desired_access);
        out.push(b'}');
    }
    if let Some(method) = d.delete_method {
        out.extend_from_slice(b",\"delete_method\":");
        string(out, method);
    }
    if d.named_stream {
        out.extend_from_slice(b",\"named_stream\":true");
    }
    if let Some(size) = d.new_size {
        out.extend_from_slice(b",\"new_size\":");
        number(out, size);
    }
    if let Some(kind) = d.size_kind {
        out.extend_from_slice(b",\"size_kind\":");
        string(out, kind);
    }
    if let Some(attributes) = d.attributes {
        out.extend_from_slice(b",\"attributes\":");
        number(out, attributes);
    }
    if let Some(flags) = d.link_flags {
        out.extend_from_slice(b",\"link_flags\":");
        number(out, flags);
    }
    if subject.truncated {
        out.extend_from_slice(b",\"path_truncated\":true");
    }
    if result.is_some_and(|r| r.truncated) {
        out.extend_from_slice(b",\"new_path_truncated\":true");
    }
    if let Some(entropy) = event.entropy {
        out.extend_from_slice(b",\"entropy\":");
        let _ = serde_json::to_writer(&mut *out, &entropy);
    }
    out.extend_from_slice(b"}}}");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use picket_model::{CreateDetails, Details, Operation, ProcessInfo, ProcessKey, Timestamp};

    use super::*;
    use crate::ocsf::FileActivity;

    fn path(p: &str) -> FilePath {
        let (directory, name) = p.rsplit_once(['\\', '/']).unwrap_or(("", p));
        FilePath {
            path: p.into(),
            original: format!(r"\Device\HarddiskVolume3{p}"),
            directory: directory.into(),
            name: name.into(),
            extension: name.rsplit_once('.').map(|(_, e)| e.to_owned()),
            ..FilePath::default()
        }
    }

    #[allow(clippy::field_reassign_with_default)] // Robust to fields added to the model.
    fn events() -> Vec<FileEvent> {
        let names = [
            r"C:\Users\José\AppData\Local\Temp\a.tmp",
            "/home/bob/notes.txt",
            "C:\\odd \"quoted\"\\tab\there\\nl\nx\u{1}\u{8}\u{c}\r\u{1f}\u{7f}.bin",
            r"C:\Users\Дмитрий\Documents\Отчёт.docx",
            "plain",
        ];
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for (k, operation) in Operation::ALL.into_iter().enumerate() {
                let rich = (i + k) % 2 == 0;
                let mut info = ProcessInfo::default();
                info.key = ProcessKey {
                    pid: 40 + u32::try_from(k).unwrap(),
                    start_key: 9_000_000_000 + k as u64,
                };
                info.image = rich.then(|| r"C:\Windows\System32\cmd.exe".to_owned());
                info.command_line = rich.then(|| "cmd /c \"echo\\x\"".to_owned());
                info.user = rich.then(|| r"CORP\José".to_owned());
                info.uid = (!rich).then_some(1000);
                info.parent_pid = (rich || k % 3 == 0).then_some(4);
                info.parent_start_key = (rich && k % 2 == 0).then_some(17);
                info.parent_image = rich.then(|| "/usr/bin/ba\"sh".to_owned());
                info.parent_command_line = (k % 4 == 0).then(|| "bash -c 'x\ty'".to_owned());
                let process = Arc::new(info);
                let source =
                    matches!(operation, Operation::Rename | Operation::HardLink).then(|| {
                        FilePath {
                            truncated: rich,
                            ..path(&format!("{name}.old"))
                        }
                    });
                out.push(FileEvent {
                    seq: (i * 100 + k) as u64,
                    time: Timestamp::from_unix_nanos(1_700_000_000_123_456_789 + k as u64),
                    host: if name.starts_with('/') {
                        Host::Linux
                    } else {
                        Host::Windows
                    },
                    operation,
                    process,
                    thread_id: u32::try_from(k % 3).unwrap(),
                    target: FilePath {
                        truncated: !rich && k == 1,
                        is_directory: k == 2,
                        ..path(name)
                    },
                    source,
                    details: Details {
                        handle_id: if rich { 77 } else { 0 },
                        file_id: if rich { 0xdead_beef_u128 << 70 } else { 0 },
                        create: rich.then_some(CreateDetails {
                            disposition: 2,
                            options: 0x40,
                            desired_access: 0x12_0116,
                            result: 2,
                        }),
                        delete_method: rich.then_some("disposition_ex"),
                        named_stream: rich && k % 3 == 1,
                        new_size: rich.then_some(4096),
                        size_kind: (k % 2 == 1).then_some("valid_data_length"),
                        attributes: rich.then_some(0x20),
                        link_flags: rich.then_some(1),
                    },
                    entropy: rich.then_some(7.25 + k as f64 / 3.0),
                });
            }
        }
        out
    }

    #[test]
    fn writes_exactly_what_serde_writes() {
        for hostname in [None, Some("ws-01 \"lab\"".to_owned())] {
            let host = HostInfo { hostname };
            for event in events() {
                let mut fast = Vec::new();
                file_activity(&mut fast, &event, &host);
                let serde = serde_json::to_vec(&FileActivity::new(&event, &host)).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&serde),
                    "{event:?}"
                );
            }
        }
    }
}
