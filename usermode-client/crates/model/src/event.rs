use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{FilePath, Host, ProcessInfo, Timestamp};

/// What happened to the file, in plain words. The snake-case names are the stable vocabulary
/// of the JSON output (`unmapped.picket.operation`) and of `tests/data/workload.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A new file was created (or superseded / overwritten into existence).
    Create,
    /// An existing file was opened.
    Open,
    /// First write through a handle (Windows) / a modification (Linux `FAN_MODIFY`).
    FirstWrite,
    /// A handle that modified the file was closed.
    CloseModified,
    /// Renamed: `source` is the old path, `target` the new one.
    Rename,
    /// New hard link: `source` is the existing path, `target` the new link.
    #[serde(rename = "hardlink")]
    HardLink,
    /// Deleted (confirmed).
    Delete,
    /// Size set: truncate or end-of-file.
    Truncate,
    /// Attributes changed.
    SetAttributes,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Self; 9] = [
        Self::Create,
        Self::Open,
        Self::FirstWrite,
        Self::CloseModified,
        Self::Rename,
        Self::HardLink,
        Self::Delete,
        Self::Truncate,
        Self::SetAttributes,
    ];

    /// The stable snake-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Open => "open",
            Self::FirstWrite => "first_write",
            Self::CloseModified => "close_modified",
            Self::Rename => "rename",
            Self::HardLink => "hardlink",
            Self::Delete => "delete",
            Self::Truncate => "truncate",
            Self::SetAttributes => "set_attributes",
        }
    }

    /// Parses the stable name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The create request, as the kernel saw it (raw Windows values; Linux fills what it can).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreateDetails {
    /// `CreateDisposition` (`FILE_SUPERSEDE` = 0 … `FILE_OVERWRITE_IF` = 5).
    pub disposition: u32,
    /// `CreateOptions`.
    pub options: u32,
    /// `DesiredAccess`.
    pub desired_access: u32,
    /// `IoStatus.Information` (`FILE_SUPERSEDED` = 0 … `FILE_DOES_NOT_EXIST` = 5).
    pub result: u32,
}

/// Operation-specific facts that are not paths or processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Details {
    /// Per-driver handle id (0 where none).
    pub handle_id: u64,
    /// File id / inode (0 where unknown).
    pub file_id: u128,
    /// For creates and opens.
    pub create: Option<CreateDetails>,
    /// For deletes: how it was requested (`disposition`, `disposition_ex`,
    /// `delete_on_close`, `unlink`).
    pub delete_method: Option<&'static str>,
    /// For deletes: only a named data stream (`file:stream`, e.g. `:Zone.Identifier`) was
    /// deleted; the file itself remains (Windows `DeleteStream` records).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named_stream: bool,
    /// For size changes: which size (`end_of_file`, `allocation`, `truncate`,
    /// `valid_data_length`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_kind: Option<&'static str>,
    /// For truncates: the new size, where known.
    pub new_size: Option<u64>,
    /// For attribute changes: the new attribute bits, where known.
    pub attributes: Option<u32>,
    /// For renames and links: the flags requested (`ReplaceIfExists`…).
    pub link_flags: Option<u32>,
}

/// One file event, fully parsed and enriched.
#[derive(Debug, PartialEq, Serialize)]
pub struct FileEvent {
    /// Per-source sequence number.
    pub seq: u64,
    /// When the kernel saw it.
    pub time: Timestamp,
    /// Where it comes from.
    pub host: Host,
    /// What happened.
    pub operation: Operation,
    /// Who did it (shared between the events of one process).
    pub process: Arc<ProcessInfo>,
    /// Thread id (0 where unknown).
    pub thread_id: u32,
    /// The file (Sysmon `TargetFilename`): for a rename or link, the new name.
    pub target: FilePath,
    /// For a rename or link, the old / existing name (Sysmon `SourceFilename`).
    pub source: Option<Box<FilePath>>,
    /// Operation-specific facts.
    pub details: Details,
    /// Shannon entropy (bits per byte, 0–8) of the file's first bytes, when content sampling
    /// is on and the file could be read.
    pub entropy: Option<f64>,
}

/// Written out so that `clone_from` reuses the boxed source path's allocation (the paths'
/// text is shared): the correlation ring overwrites its oldest kept event with every new one.
impl Clone for FileEvent {
    fn clone(&self) -> Self {
        Self {
            seq: self.seq,
            time: self.time,
            host: self.host,
            operation: self.operation,
            process: Arc::clone(&self.process),
            thread_id: self.thread_id,
            target: self.target.clone(),
            source: self.source.clone(),
            details: self.details,
            entropy: self.entropy,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        // Destructured, so a new field cannot be forgotten here.
        let Self {
            seq,
            time,
            host,
            operation,
            process,
            thread_id,
            target,
            source: from,
            details,
            entropy,
        } = source;
        self.seq = *seq;
        self.time = *time;
        self.host = *host;
        self.operation = *operation;
        self.process.clone_from(process);
        self.thread_id = *thread_id;
        self.target.clone_from(target);
        // Option and Box pass `clone_from` down to the path when both sides have one.
        self.source.clone_from(from);
        self.details = *details;
        self.entropy = *entropy;
    }
}

/// A field value, borrowed from the event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue<'a> {
    /// Text.
    Str(&'a str),
    /// Integer.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Boolean.
    Bool(bool),
}

/// A field of [`FileEvent`], by its Sysmon/Sigma name. A rule names its fields as text; the
/// name is looked up once, when the rule is loaded, and the field is read by value for every
/// event, without comparing names again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The file's path (the new path of a rename).
    TargetFilename,
    /// A rename's or link's old path.
    SourceFilename,
    /// The acting process's image.
    Image,
    /// The acting process's command line.
    CommandLine,
    /// The acting process's account.
    User,
    /// The acting process's id.
    ProcessId,
    /// The acting thread's id.
    ThreadId,
    /// The acting process's start key.
    ProcessStartKey,
    /// The operation's name.
    Operation,
    /// The file's name.
    FileName,
    /// The file's directory.
    FileDirectory,
    /// The file's extension.
    FileExtension,
    /// Whether the file is a directory.
    IsDirectory,
    /// Sampled content entropy, bits per byte.
    Entropy,
    /// The host kind (`windows`, `linux`).
    Host,
    /// The parent process's id.
    ParentProcessId,
    /// The parent process's image.
    ParentImage,
    /// The parent process's command line.
    ParentCommandLine,
}

impl Field {
    /// Every field, in the order of [`FileEvent::FIELDS`].
    pub const ALL: [Self; 18] = [
        Self::TargetFilename,
        Self::SourceFilename,
        Self::Image,
        Self::CommandLine,
        Self::User,
        Self::ProcessId,
        Self::ThreadId,
        Self::ProcessStartKey,
        Self::Operation,
        Self::FileName,
        Self::FileDirectory,
        Self::FileExtension,
        Self::IsDirectory,
        Self::Entropy,
        Self::Host,
        Self::ParentProcessId,
        Self::ParentImage,
        Self::ParentCommandLine,
    ];

    /// The Sysmon/Sigma name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::TargetFilename => "TargetFilename",
            Self::SourceFilename => "SourceFilename",
            Self::Image => "Image",
            Self::CommandLine => "CommandLine",
            Self::User => "User",
            Self::ProcessId => "ProcessId",
            Self::ThreadId => "ThreadId",
            Self::ProcessStartKey => "ProcessStartKey",
            Self::Operation => "Operation",
            Self::FileName => "FileName",
            Self::FileDirectory => "FileDirectory",
            Self::FileExtension => "FileExtension",
            Self::IsDirectory => "IsDirectory",
            Self::Entropy => "Entropy",
            Self::Host => "Host",
            Self::ParentProcessId => "ParentProcessId",
            Self::ParentImage => "ParentImage",
            Self::ParentCommandLine => "ParentCommandLine",
        }
    }

    /// The field of that name (exactly as written: Sigma field names are case-sensitive).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        // A `match`, not a search of `ALL`: conditions still look fields up by name on every
        // evaluation.
        Some(match name {
            "TargetFilename" => Self::TargetFilename,
            "SourceFilename" => Self::SourceFilename,
            "Image" => Self::Image,
            "CommandLine" => Self::CommandLine,
            "User" => Self::User,
            "ProcessId" => Self::ProcessId,
            "ThreadId" => Self::ThreadId,
            "ProcessStartKey" => Self::ProcessStartKey,
            "Operation" => Self::Operation,
            "FileName" => Self::FileName,
            "FileDirectory" => Self::FileDirectory,
            "FileExtension" => Self::FileExtension,
            "IsDirectory" => Self::IsDirectory,
            "Entropy" => Self::Entropy,
            "Host" => Self::Host,
            "ParentProcessId" => Self::ParentProcessId,
            "ParentImage" => Self::ParentImage,
            "ParentCommandLine" => Self::ParentCommandLine,
            _ => return None,
        })
    }
}

impl FileEvent {
    /// The Sysmon/Sigma field names this model answers to, for rule validation and docs
    /// (the names of [`Field::ALL`], in its order).
    pub const FIELDS: [&'static str; 18] = {
        let mut names = [""; 18];
        let mut at = 0;
        while at < names.len() {
            names[at] = Field::ALL[at].name();
            at += 1;
        }
        names
    };

    /// Looks a field up by its Sysmon/Sigma name, without copying.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        self.get(Field::from_name(name)?)
    }

    /// A field's value, borrowed; `None` when the event does not have it.
    #[must_use]
    pub fn get(&self, field: Field) -> Option<FieldValue<'_>> {
        let int = |value: u64| FieldValue::Int(i64::try_from(value).unwrap_or(i64::MAX));
        Some(match field {
            Field::TargetFilename => FieldValue::Str(self.target.path()),
            Field::SourceFilename => FieldValue::Str(self.source.as_ref()?.path()),
            Field::Image => FieldValue::Str(self.process.image.as_deref()?),
            Field::CommandLine => FieldValue::Str(self.process.command_line.as_deref()?),
            Field::User => FieldValue::Str(self.process.user.as_deref()?),
            Field::ProcessId => int(u64::from(self.process.key.pid)),
            Field::ThreadId => int(u64::from(self.thread_id)),
            Field::ProcessStartKey => int(self.process.key.start_key),
            Field::Operation => FieldValue::Str(self.operation.as_str()),
            Field::FileName => FieldValue::Str(self.target.name()),
            Field::FileDirectory => FieldValue::Str(self.target.directory()),
            Field::FileExtension => FieldValue::Str(self.target.extension()?),
            Field::IsDirectory => FieldValue::Bool(self.target.is_directory),
            Field::Entropy => FieldValue::Float(self.entropy?),
            Field::Host => FieldValue::Str(match self.host {
                Host::Windows => "windows",
                Host::Linux => "linux",
            }),
            Field::ParentProcessId => int(u64::from(self.process.parent_pid?)),
            Field::ParentImage => FieldValue::Str(self.process.parent_image.as_deref()?),
            Field::ParentCommandLine => {
                FieldValue::Str(self.process.parent_command_line.as_deref()?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessKey;

    fn event() -> FileEvent {
        FileEvent {
            seq: 7,
            time: Timestamp(0),
            host: Host::Windows,
            operation: Operation::Rename,
            process: Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 42,
                    start_key: 9,
                },
                image: Some(r"C:\Windows\System32\cmd.exe".into()),
                ..ProcessInfo::default()
            }),
            thread_id: 3,
            target: FilePath::from_text(r"C:\a\b.locked"),
            source: Some(Box::new(FilePath::from_text(r"C:\a\b.docx"))),
            details: Details::default(),
            entropy: None,
        }
    }

    #[test]
    fn answers_sysmon_field_names() {
        let e = event();
        assert_eq!(
            e.field("TargetFilename"),
            Some(FieldValue::Str(r"C:\a\b.locked"))
        );
        assert_eq!(
            e.field("SourceFilename"),
            Some(FieldValue::Str(r"C:\a\b.docx"))
        );
        assert_eq!(
            e.field("Image"),
            Some(FieldValue::Str(r"C:\Windows\System32\cmd.exe"))
        );
        assert_eq!(e.field("ProcessId"), Some(FieldValue::Int(42)));
        assert_eq!(e.field("FileExtension"), Some(FieldValue::Str("locked")));
        assert_eq!(e.field("Operation"), Some(FieldValue::Str("rename")));
        assert_eq!(e.field("CommandLine"), None, "unknown stays unknown");
        assert_eq!(e.field("NoSuchField"), None);
        for name in FileEvent::FIELDS {
            let _ = e.field(name);
        }
    }

    #[test]
    fn fields_and_their_names_agree() {
        for (field, name) in Field::ALL.into_iter().zip(FileEvent::FIELDS) {
            assert_eq!(field.name(), name);
            assert_eq!(Field::from_name(name), Some(field));
        }
        assert_eq!(
            Field::from_name("targetfilename"),
            None,
            "names are case-sensitive"
        );
        let e = event();
        for field in Field::ALL {
            assert_eq!(e.get(field), e.field(field.name()));
        }
    }

    #[test]
    fn operation_names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.as_str()), Some(op));
            assert_eq!(op.to_string(), op.as_str());
        }
        assert_eq!(Operation::from_name("hard_link"), None);
    }
}
