//! Record → [`ParsedEvent`].

use picket_model::{
    CreateDetails, Details, FilePath, Host, Operation, PathParts, ProcessKey, Timestamp,
};
use picket_protocol::{
    Body, DeleteMethod, FileRef, Name, Record, SizeKind, MAX_NAME_BYTES, NAME_CUT_HEAD_BYTES,
};

use crate::memo::{PathKey, PathMemo};
use crate::path::{split_posix, split_windows};
use crate::text::{posix_plain, posix_to_text, utf16_to_text};
use crate::{create_operation, VolumeMap};

/// A file event after parsing, before enrichment: the process is only its key.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedEvent {
    /// Per-source sequence number.
    pub seq: u64,
    /// When the kernel saw it.
    pub time: Timestamp,
    /// Windows (UTF-16 names) or Linux (POSIX names).
    pub host: Host,
    /// What happened.
    pub operation: Operation,
    /// Which process did it.
    pub process: ProcessKey,
    /// Thread id (0 where unknown).
    pub thread_id: u32,
    /// The file; for a rename or link, the new name.
    pub target: FilePath,
    /// For a rename or link, the old / existing name.
    pub source: Option<FilePath>,
    /// Operation-specific facts.
    pub details: Details,
}

/// The parse stage. Holds the volume map (Windows names) and how names were cut.
#[derive(Debug)]
pub struct Parser {
    volumes: Option<VolumeMap>,
    /// The batch being parsed is protocol 1.1 or later: a truncated name of exactly
    /// `MAX_NAME_BYTES` was cut in the middle (see [`Parser::set_protocol_minor`]).
    middle_cut: bool,
    /// The last path built, for the next record of the same name.
    last: PathMemo,
    /// Where a name's text is built before the path copies it.
    text: String,
}

const fn delete_method_name(method: DeleteMethod) -> &'static str {
    match method {
        DeleteMethod::Disposition => "disposition",
        DeleteMethod::DispositionEx => "disposition_ex",
        DeleteMethod::DeleteOnClose => "delete_on_close",
        DeleteMethod::Unlink => "unlink",
        DeleteMethod::Other(_) => "other",
    }
}

const fn size_kind_name(kind: SizeKind) -> &'static str {
    match kind {
        SizeKind::EndOfFile => "end_of_file",
        SizeKind::Allocation => "allocation",
        SizeKind::Truncate => "truncate",
        SizeKind::ValidDataLength => "valid_data_length",
        SizeKind::Other(_) => "other",
    }
}

/// `FILE_INVALID_FILE_ID` ((LONGLONG)-1) zero-extended: what a 1.0 driver sent for a ReFS
/// file whose id needs 128 bits. It names no file (every such file had it), so it is
/// treated as "unknown" rather than shown as one shared id.
const INVALID_64_BIT_FILE_ID: u128 = u64::MAX as u128;

/// The file id the model carries: 0 (unknown) for the invalid id of a Windows record.
const fn known_file_id(file_id: u128, posix: bool) -> u128 {
    if !posix && file_id == INVALID_64_BIT_FILE_ID {
        0
    } else {
        file_id
    }
}

impl Default for Parser {
    fn default() -> Self {
        Self::without_volumes()
    }
}

/// The parts of `path` as the host's splitter finds them; a directory has no extension.
fn path_parts(path: &str, posix: bool, is_directory: bool) -> PathParts<'_> {
    let mut parts = if posix {
        split_posix(path)
    } else {
        split_windows(path)
    };
    if is_directory {
        parts.extension = None;
    }
    parts
}

impl Parser {
    /// A parser that maps NT device paths with `volumes`.
    #[must_use]
    pub const fn new(volumes: VolumeMap) -> Self {
        Self {
            volumes: Some(volumes),
            middle_cut: true,
            last: PathMemo::new(),
            text: String::new(),
        }
    }

    /// A parser without a volume map: device paths stay as the kernel sent them (Linux
    /// paths never need one).
    #[must_use]
    pub const fn without_volumes() -> Self {
        Self {
            volumes: None,
            middle_cut: true,
            last: PathMemo::new(),
            text: String::new(),
        }
    }

    /// The volume map, to refresh it when idle.
    pub fn volumes_mut(&mut self) -> Option<&mut VolumeMap> {
        self.volumes.as_mut()
    }

    /// The protocol minor of the batch about to be parsed: from 1.1 a name longer than
    /// `MAX_NAME_BYTES` is cut in the middle (its final component whole), and the text shows
    /// the cut as `…`; 1.0 cut names at the end.
    pub fn set_protocol_minor(&mut self, minor: u16) {
        self.middle_cut = minor >= 1;
    }

    /// Whether `name` was cut in the middle (see [`Parser::set_protocol_minor`]).
    const fn cut_in_middle(&self, name: &Name<'_>) -> bool {
        self.middle_cut && name.truncated && name.bytes.len() == MAX_NAME_BYTES
    }

    /// Appends `name` as text; a name cut in the middle gets a visible `…` at the cut.
    fn name_text(&self, name: &Name<'_>, posix: bool, out: &mut String) {
        let to_text = if posix { posix_to_text } else { utf16_to_text };
        let cut = self.cut_in_middle(name);
        match name.bytes.split_at_checked(NAME_CUT_HEAD_BYTES) {
            Some((head, tail)) if cut => {
                to_text(head, out);
                out.push('\u{2026}');
                to_text(tail, out);
            }
            _ => to_text(name.bytes, out),
        }
    }

    /// What the path built from `name` depends on besides its bytes.
    fn path_key(&self, name: &Name<'_>, file: &FileRef, posix: bool) -> PathKey {
        PathKey {
            posix,
            truncated: name.truncated,
            is_directory: file.is_directory,
            middle_cut: self.middle_cut,
            volumes: self.volumes.as_ref().map_or(0, VolumeMap::generation),
        }
    }

    /// The path of `name`: the last one again when `name` is the same.
    fn path(&mut self, name: &Name<'_>, file: &FileRef, posix: bool) -> FilePath {
        if let Some(path) = self.last.get(name.bytes, self.path_key(name, file, posix)) {
            return path;
        }
        let (path, translated) = self.build_path(name, file, posix);
        // A name on a volume the map did not know is not kept: the next record of it asks
        // the map again, which reloads when a volume may have been mounted.
        if translated {
            // Taken after the translation, which may have reloaded the map.
            let key = self.path_key(name, file, posix);
            self.last.keep(name.bytes, key, &path);
        }
        path
    }

    /// The path of `name`, and whether its volume (if it names one) was translated.
    fn build_path(&mut self, name: &Name<'_>, file: &FileRef, posix: bool) -> (FilePath, bool) {
        let (mut path, translated) = self.path_text(name, posix, file.is_directory);
        path.truncated = name.truncated;
        path.is_directory = file.is_directory;
        (path, translated)
    }

    /// [`Parser::build_path`] before the path's flags are set.
    fn path_text(&mut self, name: &Name<'_>, posix: bool, is_directory: bool) -> (FilePath, bool) {
        // A POSIX name that is its own text, not cut, needs no buffer: it is copied once,
        // into the path's shared text (nothing to map; Linux paths have no volumes).
        if posix && !self.cut_in_middle(name) {
            if let Some(text) = posix_plain(name.bytes) {
                let path = FilePath::copied(text, None, |p| path_parts(p, true, is_directory));
                return (path, true);
            }
        }
        // Built in the parser's own buffer, then copied once into the path's shared text.
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        self.name_text(name, posix, &mut text);
        let (mapped, translated) = match self.volumes.as_mut() {
            Some(map) if !posix => {
                let mapped = map.translate(&text);
                let translated = mapped.is_some();
                (mapped, translated)
            }
            _ => (None, true),
        };
        // What users see, and what the kernel sent when that differs.
        let (shown, original) = match &mapped {
            Some(mapped) => (mapped.as_str(), Some(text.as_str())),
            None => (text.as_str(), None),
        };
        let path = FilePath::copied(shown, original, |p| path_parts(p, posix, is_directory));
        self.text = text;
        (path, translated)
    }

    /// Parses a file record; `None` for control and unknown records (the decode stage
    /// handles those). `posix` is the batch's `POSIX_NAMES` flag.
    pub fn parse(&mut self, record: &Record<'_>, posix: bool) -> Option<ParsedEvent> {
        let file = *record.body.file()?;
        let mut details = Details {
            handle_id: file.handle_id,
            file_id: known_file_id(file.file_id, posix),
            ..Details::default()
        };
        let (operation, name, new_name) = match &record.body {
            Body::FileCreate(b) => {
                details.create = Some(CreateDetails {
                    disposition: b.disposition.raw(),
                    options: b.create_options,
                    desired_access: b.desired_access,
                    result: b.result.raw(),
                });
                (create_operation(b.disposition, b.result), b.name, None)
            }
            Body::FirstWrite(b) => (Operation::FirstWrite, b.name, None),
            Body::CloseModified(b) => (Operation::CloseModified, b.name, None),
            Body::Rename(b) => {
                details.link_flags = Some(b.flags);
                (Operation::Rename, b.name, Some(b.new_name))
            }
            Body::HardLink(b) => {
                details.link_flags = Some(b.flags);
                (Operation::HardLink, b.name, Some(b.new_name))
            }
            Body::Delete(b) => {
                details.delete_method = Some(delete_method_name(b.method));
                (Operation::Delete, b.name, None)
            }
            Body::DeleteStream(b) => {
                details.delete_method = Some(delete_method_name(b.method));
                details.named_stream = true;
                (Operation::Delete, b.name, None)
            }
            Body::SetSize(b) => {
                details.size_kind = Some(size_kind_name(b.kind));
                let unknown = b.kind == SizeKind::Truncate && b.new_size == 0;
                details.new_size = (!unknown).then_some(b.new_size);
                (Operation::Truncate, b.name, None)
            }
            Body::SetAttributes(b) => {
                details.attributes = (b.attributes != 0).then_some(b.attributes);
                (Operation::SetAttributes, b.name, None)
            }
            Body::ProcessStart(_)
            | Body::ProcessExit(_)
            | Body::DriverHello(_)
            | Body::Stats(_)
            | Body::Loss(_)
            | Body::Unknown { .. } => return None,
        };
        let first = self.path(&name, &file, posix);
        let (target, source) = match new_name {
            Some(new_name) => (self.path(&new_name, &file, posix), Some(first)),
            None => (first, None),
        };
        Some(ParsedEvent {
            seq: record.header.seq,
            time: Timestamp(record.header.timestamp),
            host: if posix { Host::Linux } else { Host::Windows },
            operation,
            process: ProcessKey {
                pid: record.header.pid,
                start_key: record.header.process_start_key,
            },
            thread_id: record.header.tid,
            target,
            source,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{
        CreateDisposition, CreateResult, FileCreate, LinkChange, RecordHeader, Stats,
    };

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn header() -> RecordHeader {
        RecordHeader {
            seq: 5,
            timestamp: 133_000_000_000_000_000,
            pid: 4242,
            tid: 7,
            process_start_key: 99,
        }
    }

    #[test]
    fn parses_a_windows_rename_with_dos_paths_and_originals() {
        let old = utf16(r"\Device\HarddiskVolume3\Users\a\doc.docx");
        let new = utf16(r"\Device\HarddiskVolume3\Users\a\doc.docx.locked");
        let record = Record {
            header: header(),
            body: Body::Rename(LinkChange {
                file: FileRef {
                    file_id: 77,
                    ..FileRef::default()
                },
                flags: 1,
                name: Name::new(&old),
                new_name: Name {
                    bytes: &new,
                    truncated: true,
                },
            }),
        };
        let mut parser = Parser::new(VolumeMap::fixed(vec![(
            r"\Device\HarddiskVolume3".into(),
            "C:".into(),
        )]));
        let event = parser.parse(&record, false).unwrap();
        assert_eq!(event.operation, Operation::Rename);
        assert_eq!(event.host, Host::Windows);
        assert_eq!(
            event.process,
            ProcessKey {
                pid: 4242,
                start_key: 99
            }
        );
        assert_eq!(event.target.path(), r"C:\Users\a\doc.docx.locked");
        assert_eq!(
            event.target.original(),
            r"\Device\HarddiskVolume3\Users\a\doc.docx.locked"
        );
        assert_eq!(event.target.directory(), r"C:\Users\a");
        assert_eq!(event.target.name(), "doc.docx.locked");
        assert_eq!(event.target.extension(), Some("locked"));
        assert!(event.target.truncated);
        let source = event.source.unwrap();
        assert_eq!(source.path(), r"C:\Users\a\doc.docx");
        assert!(!source.truncated);
        assert_eq!(event.details.link_flags, Some(1));
        assert_eq!(event.details.file_id, 77);
    }

    #[test]
    fn a_stream_delete_is_a_delete_flagged_named_stream_with_its_full_name() {
        use picket_protocol::Delete;
        let name = utf16(r"\Device\HarddiskVolume3\Users\a\setup.exe:Zone.Identifier");
        let delete = Delete {
            file: FileRef {
                file_id: 0x1f2e_0000_0000_0000_0a0b,
                ..FileRef::default()
            },
            method: DeleteMethod::Disposition,
            name: Name::new(&name),
        };
        let mut parser = Parser::without_volumes();
        let stream = Record {
            header: header(),
            body: Body::DeleteStream(delete),
        };
        let event = parser.parse(&stream, false).unwrap();
        assert_eq!(event.operation, Operation::Delete);
        assert!(event.details.named_stream);
        assert_eq!(event.details.delete_method, Some("disposition"));
        assert_eq!(event.target.name(), "setup.exe:Zone.Identifier");
        assert_eq!(event.details.file_id, 0x1f2e_0000_0000_0000_0a0b);
        let file = Record {
            header: header(),
            body: Body::Delete(delete),
        };
        assert!(!parser.parse(&file, false).unwrap().details.named_stream);
    }

    #[test]
    fn the_invalid_64_bit_file_id_of_a_windows_record_is_unknown_not_shared() {
        let name = utf16(r"\Device\HarddiskVolume3\a.txt");
        let op = |file_id: u128| Record {
            header: header(),
            body: Body::FirstWrite(picket_protocol::FileOp {
                file: FileRef {
                    file_id,
                    ..FileRef::default()
                },
                name: Name::new(&name),
            }),
        };
        let mut parser = Parser::without_volumes();
        let windows = |p: &mut Parser, id| p.parse(&op(id), false).unwrap().details.file_id;
        assert_eq!(windows(&mut parser, u128::from(u64::MAX)), 0);
        assert_eq!(
            windows(&mut parser, u128::from(u64::MAX) + 1),
            u128::from(u64::MAX) + 1
        );
        assert_eq!(windows(&mut parser, 42), 42);
        let linux = parser.parse(&op(u128::from(u64::MAX)), true).unwrap();
        assert_eq!(
            linux.details.file_id,
            u128::from(u64::MAX),
            "an inode is kept as is"
        );
    }

    #[test]
    fn a_valid_data_length_change_names_its_size_kind() {
        let name = utf16(r"\Device\HarddiskVolume3\a.vhd");
        let record = Record {
            header: header(),
            body: Body::SetSize(picket_protocol::SetSize {
                file: FileRef::default(),
                new_size: 1 << 24,
                kind: SizeKind::ValidDataLength,
                name: Name::new(&name),
            }),
        };
        let event = Parser::without_volumes().parse(&record, false).unwrap();
        assert_eq!(event.operation, Operation::Truncate);
        assert_eq!(event.details.size_kind, Some("valid_data_length"));
        assert_eq!(event.details.new_size, Some(1 << 24));
    }

    #[test]
    fn posix_names_are_kept_and_unknown_volumes_fall_back_to_the_nt_path() {
        let name = b"/tmp/x\xff.bin";
        let record = Record {
            header: header(),
            body: Body::FileCreate(FileCreate {
                file: FileRef {
                    is_directory: true,
                    ..FileRef::default()
                },
                disposition: CreateDisposition::Create,
                create_options: 0,
                desired_access: 0,
                result: CreateResult::Created,
                name: Name::new(name),
            }),
        };
        let event = Parser::without_volumes().parse(&record, true).unwrap();
        assert_eq!(event.host, Host::Linux);
        assert_eq!(event.operation, Operation::Create);
        assert_eq!(event.target.path(), r"/tmp/x\xFF.bin");
        assert_eq!(
            event.target.extension(),
            None,
            "directories have no extension"
        );
        assert!(event.target.is_directory);

        let nt = utf16(r"\Device\HarddiskVolume7\x.txt");
        let record = Record {
            header: header(),
            body: Body::FirstWrite(picket_protocol::FileOp {
                file: FileRef::default(),
                name: Name::new(&nt),
            }),
        };
        let mut parser = Parser::new(VolumeMap::fixed(Vec::new()));
        let event = parser.parse(&record, false).unwrap();
        assert_eq!(event.target.path(), r"\Device\HarddiskVolume7\x.txt");
        assert_eq!(event.target.path(), event.target.original());
    }

    /// A `FirstWrite` of `name`, as the kernel sent its bytes.
    fn write_record<'a>(name: &'a [u8], file: FileRef) -> Record<'a> {
        Record {
            header: header(),
            body: Body::FirstWrite(picket_protocol::FileOp {
                file,
                name: Name::new(name),
            }),
        }
    }

    #[test]
    fn a_name_parsed_again_gives_the_same_path_as_a_fresh_parser() {
        let names: [&[u8]; 4] = [
            b"/home/a/x.tar.gz",
            b"/home/a/x.tar.gz",
            b"/home/a/y",
            b"/x",
        ];
        let mut kept = Parser::without_volumes();
        for name in names {
            for is_directory in [false, true, true, false] {
                let file = FileRef {
                    is_directory,
                    ..FileRef::default()
                };
                let record = write_record(name, file);
                let again = kept.parse(&record, true).unwrap();
                let fresh = Parser::without_volumes().parse(&record, true).unwrap();
                assert_eq!(again, fresh, "{name:?} directory {is_directory}");
            }
        }
        let mut truncated = write_record(b"/home/a/x.tar.gz", FileRef::default());
        if let Body::FirstWrite(op) = &mut truncated.body {
            op.name.truncated = true;
        }
        assert!(kept.parse(&truncated, true).unwrap().target.truncated);
        let windows = utf16(r"C:\x.txt");
        let event = kept.parse(&write_record(&windows, FileRef::default()), false);
        assert_eq!(event.unwrap().target.path(), r"C:\x.txt");
    }

    /// A mapping whose volume 9 appears on the second load and moves from `E:` to `F:` on
    /// the third.
    struct Remounting(u32);

    impl crate::VolumeSource for Remounting {
        fn load(&mut self) -> Vec<(String, String)> {
            self.0 += 1;
            match self.0 {
                1 => Vec::new(),
                2 => vec![(r"\Device\HarddiskVolume9".into(), "E:".into())],
                _ => vec![(r"\Device\HarddiskVolume9".into(), "F:".into())],
            }
        }
    }

    #[test]
    fn a_name_parsed_again_follows_the_volume_map() {
        use std::time::Duration;
        let name = utf16(r"\Device\HarddiskVolume9\usb.txt");
        let record = write_record(&name, FileRef::default());
        let map = VolumeMap::new(Box::new(Remounting(0)))
            .with_refresh(Duration::from_secs(3600), Duration::ZERO);
        let mut parser = Parser::new(map);
        let path = |p: &mut Parser| p.parse(&record, false).unwrap().target.path().to_owned();
        assert_eq!(path(&mut parser), r"\Device\HarddiskVolume9\usb.txt");
        assert_eq!(
            path(&mut parser),
            r"\Device\HarddiskVolume9\usb.txt",
            "the map is not asked again before its retry interval"
        );
        parser.volumes_mut().unwrap().tick();
        assert_eq!(path(&mut parser), r"E:\usb.txt", "the volume was mounted");
        assert_eq!(path(&mut parser), r"E:\usb.txt");
        parser.volumes_mut().unwrap().tick();
        assert_eq!(path(&mut parser), r"F:\usb.txt", "the volume moved");
    }

    #[test]
    fn an_unknown_volume_is_asked_about_again_on_the_next_record() {
        use std::time::Duration;
        let name = utf16(r"\Device\HarddiskVolume9\usb.txt");
        let record = write_record(&name, FileRef::default());
        let map = VolumeMap::new(Box::new(Remounting(0)))
            .with_refresh(Duration::ZERO, Duration::from_secs(3600));
        let mut parser = Parser::new(map);
        // The miss reloads at once (retry interval zero): the second load knows volume 9.
        assert_eq!(
            parser.parse(&record, false).unwrap().target.path(),
            r"E:\usb.txt"
        );
        let mut parser = Parser::new(
            VolumeMap::new(Box::new(Remounting(0)))
                .with_refresh(Duration::from_millis(30), Duration::from_secs(3600)),
        );
        let first = parser.parse(&record, false).unwrap();
        assert_eq!(first.target.path(), r"\Device\HarddiskVolume9\usb.txt");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            parser.parse(&record, false).unwrap().target.path(),
            r"E:\usb.txt",
            "the untranslated name was not kept"
        );
    }

    #[test]
    fn control_records_are_not_file_events() {
        let record = Record {
            header: header(),
            body: Body::Stats(Stats::default()),
        };
        assert_eq!(Parser::without_volumes().parse(&record, false), None);
    }
}

#[cfg(test)]
mod long_name_tests {
    use super::*;
    use picket_protocol::{decode_batch, BatchFlags, BatchWriter, FileOp, RecordHeader};

    /// Encodes `name` (longer than the cap) into a batch and parses it back.
    fn round_trip(name: &[u8], posix: bool, minor: u16) -> FilePath {
        let record = Record {
            header: RecordHeader {
                seq: 1,
                ..RecordHeader::default()
            },
            body: Body::FirstWrite(FileOp {
                file: FileRef::default(),
                name: Name::new(name),
            }),
        };
        let flags = if posix {
            BatchFlags::POSIX_NAMES
        } else {
            BatchFlags::UTF16_NAMES
        };
        let mut out = vec![0u8; 16 * 1024];
        let mut writer = BatchWriter::new(&mut out, flags, 0).unwrap();
        writer.push(&record).unwrap();
        let len = writer.finish();
        let batch = decode_batch(&out[..len]).unwrap();
        let decoded = batch.records().next().unwrap();
        let mut parser = Parser::without_volumes();
        parser.set_protocol_minor(minor);
        parser.parse(&decoded, posix).unwrap().target
    }

    #[test]
    fn a_deep_path_cannot_hide_the_extension() {
        let deep = "/deep-folder.pdf".repeat(300);
        let path = format!("/home/a{deep}/invoice.pdf.exe");
        let target = round_trip(path.as_bytes(), true, PROTOCOL_MINOR_NOW);
        assert!(target.truncated);
        assert_eq!(target.name(), "invoice.pdf.exe");
        assert_eq!(target.extension(), Some("exe"));
        assert!(target.path().starts_with("/home/a/deep-folder.pdf"));
        assert!(target.path().contains('\u{2026}'), "the cut is visible");
        assert!(target.path().ends_with("/invoice.pdf.exe"));

        let deep = r"\deep".repeat(500);
        let path = format!(r"\Device\HarddiskVolume3\Users{deep}\report.docx.locked");
        let utf16: Vec<u8> = path.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let target = round_trip(&utf16, false, PROTOCOL_MINOR_NOW);
        assert_eq!(target.name(), "report.docx.locked");
        assert_eq!(target.extension(), Some("locked"));
    }

    const PROTOCOL_MINOR_NOW: u16 = picket_protocol::PROTOCOL_MINOR;
}
