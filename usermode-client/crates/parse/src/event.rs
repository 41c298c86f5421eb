//! Record → [`ParsedEvent`].

use picket_model::{CreateDetails, Details, FilePath, Host, Operation, ProcessKey, Timestamp};
use picket_protocol::{Body, DeleteMethod, FileRef, Name, Record, SizeKind};

use crate::path::{split_posix, split_windows};
use crate::text::{posix_to_text, utf16_to_text};
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

/// The parse stage. Holds the volume map (Windows names) and nothing else.
#[derive(Debug, Default)]
pub struct Parser {
    volumes: Option<VolumeMap>,
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

impl Parser {
    /// A parser that maps NT device paths with `volumes`.
    #[must_use]
    pub const fn new(volumes: VolumeMap) -> Self {
        Self {
            volumes: Some(volumes),
        }
    }

    /// A parser without a volume map: device paths stay as the kernel sent them (Linux
    /// paths never need one).
    #[must_use]
    pub const fn without_volumes() -> Self {
        Self { volumes: None }
    }

    /// The volume map, to refresh it when idle.
    pub fn volumes_mut(&mut self) -> Option<&mut VolumeMap> {
        self.volumes.as_mut()
    }

    fn path(&mut self, name: &Name<'_>, file: &FileRef, posix: bool) -> FilePath {
        let mut original = String::new();
        let path = if posix {
            posix_to_text(name.bytes, &mut original);
            original.clone()
        } else {
            utf16_to_text(name.bytes, &mut original);
            self.volumes
                .as_mut()
                .and_then(|map| map.translate(&original))
                .unwrap_or_else(|| original.clone())
        };
        let parts = if posix {
            split_posix(&path)
        } else {
            split_windows(&path)
        };
        let directory = parts.directory.to_owned();
        let file_name = parts.name.to_owned();
        let extension = (!file.is_directory)
            .then_some(parts.extension)
            .flatten()
            .map(str::to_owned);
        FilePath {
            path,
            original,
            directory,
            name: file_name,
            extension,
            truncated: name.truncated,
            is_directory: file.is_directory,
        }
    }

    /// Parses a file record; `None` for control and unknown records (the decode stage
    /// handles those). `posix` is the batch's `POSIX_NAMES` flag.
    pub fn parse(&mut self, record: &Record<'_>, posix: bool) -> Option<ParsedEvent> {
        let file = *record.body.file()?;
        let mut details = Details {
            handle_id: file.handle_id,
            file_id: file.file_id,
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
            Body::SetSize(b) => {
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
        assert_eq!(event.target.path, r"C:\Users\a\doc.docx.locked");
        assert_eq!(
            event.target.original,
            r"\Device\HarddiskVolume3\Users\a\doc.docx.locked"
        );
        assert_eq!(event.target.directory, r"C:\Users\a");
        assert_eq!(event.target.name, "doc.docx.locked");
        assert_eq!(event.target.extension.as_deref(), Some("locked"));
        assert!(event.target.truncated);
        let source = event.source.unwrap();
        assert_eq!(source.path, r"C:\Users\a\doc.docx");
        assert!(!source.truncated);
        assert_eq!(event.details.link_flags, Some(1));
        assert_eq!(event.details.file_id, 77);
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
        assert_eq!(event.target.path, r"/tmp/x\xFF.bin");
        assert_eq!(
            event.target.extension, None,
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
        assert_eq!(event.target.path, r"\Device\HarddiskVolume7\x.txt");
        assert_eq!(event.target.path, event.target.original);
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
