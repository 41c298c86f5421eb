//! The records that cross the port, as typed values. The same types are the encoder's input
//! and the decoder's output, so a round trip is an equality.

/// Kind tag of a record (the `kind` field of the record header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum RecordKind {
    /// A successful create or open (post-create).
    FileCreate = 0x0001,
    /// First write through a handle.
    FirstWrite = 0x0002,
    /// A handle closed (cleanup) after it modified the file.
    CloseModified = 0x0003,
    /// Rename, with the source and destination names.
    Rename = 0x0004,
    /// New hard link, with the existing and the new name.
    HardLink = 0x0005,
    /// Delete, confirmed by the file system.
    Delete = 0x0006,
    /// Truncate / set end-of-file / set allocation size.
    SetSize = 0x0007,
    /// File attributes changed.
    SetAttributes = 0x0008,
    /// A named data stream (`file:stream`) deleted, confirmed; the file itself remains
    /// (minor 1). A client of minor 0 skips it by length instead of taking it for a file
    /// delete.
    DeleteStream = 0x0009,
    /// A process started (minor 1): image and command line as bytes.
    ProcessStart = 0x0020,
    /// A process ended (minor 1): its exit status.
    ProcessExit = 0x0021,
    /// Reserved for verdict requests (prevention, a later minor version).
    VerdictRequest = 0x0030,
    /// First record after a client connects: who is talking.
    DriverHello = 0x0100,
    /// Periodic counters.
    Stats = 0x0101,
    /// Records that were captured but never sent.
    Loss = 0x0102,
}

impl RecordKind {
    /// The kind for a raw tag this version knows, reserved kinds included.
    #[must_use]
    pub const fn from_raw(raw: u16) -> Option<Self> {
        Some(match raw {
            0x0001 => Self::FileCreate,
            0x0002 => Self::FirstWrite,
            0x0003 => Self::CloseModified,
            0x0004 => Self::Rename,
            0x0005 => Self::HardLink,
            0x0006 => Self::Delete,
            0x0007 => Self::SetSize,
            0x0008 => Self::SetAttributes,
            0x0009 => Self::DeleteStream,
            0x0020 => Self::ProcessStart,
            0x0021 => Self::ProcessExit,
            0x0030 => Self::VerdictRequest,
            0x0100 => Self::DriverHello,
            0x0101 => Self::Stats,
            0x0102 => Self::Loss,
            _ => return None,
        })
    }

    /// Whether this version decodes the kind's body (reserved kinds are skipped as unknown).
    #[must_use]
    pub const fn is_implemented(self) -> bool {
        !matches!(self, Self::VerdictRequest)
    }
}

/// Batch-level flags (the `flags` field of the batch header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BatchFlags(u16);

impl BatchFlags {
    /// Names are raw UTF-16LE, as Windows gives them (the driver's encoding).
    pub const UTF16_NAMES: Self = Self(0);
    /// Names are raw POSIX path bytes (the Linux fanotify source's encoding).
    pub const POSIX_NAMES: Self = Self(1);
    /// Every bit this version defines.
    pub const KNOWN: u16 = 1;

    /// Flags from raw bits; `None` when a reserved bit is set.
    #[must_use]
    pub const fn from_bits(bits: u16) -> Option<Self> {
        if bits & !Self::KNOWN == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }

    /// Raw bits.
    #[must_use]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether names are POSIX bytes rather than UTF-16LE.
    #[must_use]
    pub const fn posix_names(self) -> bool {
        self.0 & Self::POSIX_NAMES.0 != 0
    }
}

/// Record-level flags (the `flags` field of the record header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordFlags(u16);

impl RecordFlags {
    /// The first name was cut to [`crate::MAX_NAME_BYTES`].
    pub const NAME_TRUNCATED: u16 = 1 << 0;
    /// The second (new) name was cut to [`crate::MAX_NAME_BYTES`].
    pub const NEW_NAME_TRUNCATED: u16 = 1 << 1;
    /// The names are normalized (otherwise: the name the file was opened with).
    pub const NAME_NORMALIZED: u16 = 1 << 2;
    /// The object is a directory.
    pub const DIRECTORY: u16 = 1 << 3;
    /// `ProcessStart`: the `user_id` field is set (Linux uid).
    pub const USER_ID: u16 = 1 << 4;
    /// `ProcessStart`: a copy of its parent that has executed no image of its own (Linux
    /// `fork` without `exec`); image and command line are the parent's.
    pub const FORKED: u16 = 1 << 5;
    /// Every bit this version defines.
    pub const KNOWN: u16 = 0b11_1111;

    /// Flags from raw bits (any bits; validity depends on the kind).
    #[must_use]
    pub const fn from_bits(bits: u16) -> Self {
        Self(bits)
    }

    /// Raw bits.
    #[must_use]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether all of `mask` is set.
    #[must_use]
    pub const fn contains(self, mask: u16) -> bool {
        self.0 & mask == mask
    }
}

/// The fields every record starts with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// Per-driver sequence number, assigned at capture time; records dropped later keep
    /// theirs, so a gap is a loss.
    pub seq: u64,
    /// 100 ns intervals since 1601-01-01 UTC (`KeQuerySystemTimePrecise`).
    pub timestamp: u64,
    /// Process id of the requestor (0 for control records).
    pub pid: u32,
    /// Thread id of the requestor (0 where unknown).
    pub tid: u32,
    /// Boot-unique process start key (`PsGetProcessStartKey`; on Linux the process start
    /// time): with `pid` it names a process even after the pid is reused. 0 = unknown.
    pub process_start_key: u64,
}

/// A name exactly as the kernel got it: UTF-16LE bytes, or POSIX bytes for the Linux source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Name<'a> {
    /// The raw bytes.
    pub bytes: &'a [u8],
    /// The name was longer than [`crate::MAX_NAME_BYTES`] and was cut.
    pub truncated: bool,
}

impl<'a> Name<'a> {
    /// A complete (not truncated) name.
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            truncated: false,
        }
    }
}

/// Which file a record is about, without any kernel address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileRef {
    /// Per-driver counter naming the handle (stream-handle context), 0 where none.
    pub handle_id: u64,
    /// The file system's file id (128-bit on `ReFS`, 64-bit zero-extended on NTFS; inode on
    /// Linux), 0 where unknown.
    pub file_id: u128,
    /// The object is a directory.
    pub is_directory: bool,
    /// The name is normalized (otherwise it is the name the file was opened with).
    pub name_normalized: bool,
}

/// Defines a `u32`-backed enum whose unknown values survive a round trip.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this version has no name for, kept as is.
            Other(u32),
        }

        impl $name {
            /// The value for a raw number.
            #[must_use]
            pub const fn from_raw(raw: u32) -> Self {
                match raw {
                    $($value => Self::$variant,)*
                    other => Self::Other(other),
                }
            }

            /// The raw number.
            #[must_use]
            pub const fn raw(self) -> u32 {
                match self {
                    $(Self::$variant => $value,)*
                    Self::Other(other) => other,
                }
            }
        }
    };
}

open_enum! {
    /// `CreateDisposition` of the create request (`FILE_SUPERSEDE`…`FILE_OVERWRITE_IF`).
    CreateDisposition {
        /// `FILE_SUPERSEDE`
        Supersede = 0,
        /// `FILE_OPEN`
        Open = 1,
        /// `FILE_CREATE`
        Create = 2,
        /// `FILE_OPEN_IF`
        OpenIf = 3,
        /// `FILE_OVERWRITE`
        Overwrite = 4,
        /// `FILE_OVERWRITE_IF`
        OverwriteIf = 5,
    }
}

open_enum! {
    /// What the create did (`IoStatus.Information`: `FILE_SUPERSEDED`…`FILE_DOES_NOT_EXIST`).
    CreateResult {
        /// `FILE_SUPERSEDED`
        Superseded = 0,
        /// `FILE_OPENED`
        Opened = 1,
        /// `FILE_CREATED`
        Created = 2,
        /// `FILE_OVERWRITTEN`
        Overwritten = 3,
        /// `FILE_EXISTS`
        Exists = 4,
        /// `FILE_DOES_NOT_EXIST`
        DoesNotExist = 5,
    }
}

open_enum! {
    /// How a delete was requested.
    DeleteMethod {
        /// `FileDispositionInformation`
        Disposition = 1,
        /// `FileDispositionInformationEx`
        DispositionEx = 2,
        /// `FILE_DELETE_ON_CLOSE` at create
        DeleteOnClose = 3,
        /// POSIX `unlink`/`rmdir` (Linux source)
        Unlink = 4,
    }
}

open_enum! {
    /// Which size was set.
    SizeKind {
        /// `FileEndOfFileInformation` (truncate or extend)
        EndOfFile = 1,
        /// `FileAllocationInformation`
        Allocation = 2,
        /// A truncate seen without the new size (Linux source: `O_TRUNC`/`truncate`)
        Truncate = 3,
        /// `FileValidDataLengthInformation` (`SetFileValidData`): the valid data length moved
        /// up without the bytes in between being written (minor 1)
        ValidDataLength = 4,
    }
}

open_enum! {
    /// Why records were lost.
    LossReason {
        /// The ring was full.
        RingFull = 1,
        /// No client was connected.
        NoClient = 2,
        /// `FltSendMessage` failed or timed out.
        SendFailed = 3,
        /// The record could not be built (e.g. out of its slot).
        EncodeFailed = 4,
        /// The kernel queue overflowed (Linux `FAN_Q_OVERFLOW`); the range is unknown.
        QueueOverflow = 5,
    }
}

/// A successful create or open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileCreate<'a> {
    /// The file.
    pub file: FileRef,
    /// Requested disposition.
    pub disposition: CreateDisposition,
    /// `CreateOptions` as requested (low 24 bits of the create options).
    pub create_options: u32,
    /// `DesiredAccess` as requested.
    pub desired_access: u32,
    /// What the file system did.
    pub result: CreateResult,
    /// The file's name.
    pub name: Name<'a>,
}

/// An event about one file and handle, with no further fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileOp<'a> {
    /// The file.
    pub file: FileRef,
    /// The file's name.
    pub name: Name<'a>,
}

/// Rename or hard link: a second name for the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkChange<'a> {
    /// The file.
    pub file: FileRef,
    /// `ReplaceIfExists` / `FILE_RENAME_INFORMATION_EX` flags as requested.
    pub flags: u32,
    /// The existing name (rename source).
    pub name: Name<'a>,
    /// The new name (rename destination, new link).
    pub new_name: Name<'a>,
}

/// A confirmed delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Delete<'a> {
    /// The file.
    pub file: FileRef,
    /// How the delete was requested.
    pub method: DeleteMethod,
    /// The deleted name.
    pub name: Name<'a>,
}

/// Truncate or set end-of-file / allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SetSize<'a> {
    /// The file.
    pub file: FileRef,
    /// The new size in bytes (0 for [`SizeKind::Truncate`] when unknown).
    pub new_size: u64,
    /// Which size.
    pub kind: SizeKind,
    /// The file's name.
    pub name: Name<'a>,
}

/// File attributes changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SetAttributes<'a> {
    /// The file.
    pub file: FileRef,
    /// New `FILE_ATTRIBUTE_*` bits (0 where the source does not know them).
    pub attributes: u32,
    /// The file's name.
    pub name: Name<'a>,
}

/// A process started. The record header's `pid` and `process_start_key` name the new
/// process; `tid` is 0. Image and command line are bytes exactly as the kernel holds them
/// (UTF-16LE from `PS_CREATE_NOTIFY_INFO` on Windows, POSIX bytes on Linux), cut to
/// [`crate::MAX_NAME_BYTES`] and flagged when longer; the kernel never parses them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProcessStart<'a> {
    /// Parent process id (Windows: `ParentProcessId`; Linux: the parent at fork).
    pub parent_pid: u32,
    /// Start key of the parent, 0 when unknown.
    pub parent_start_key: u64,
    /// Process that asked for the creation (Windows `CreatingThreadId.UniqueProcess`, which
    /// may differ from the parent), 0 when unknown.
    pub creating_pid: u32,
    /// Thread that asked for the creation, 0 when unknown.
    pub creating_tid: u32,
    /// Terminal-services session id (Windows), 0 on Linux.
    pub session_id: u32,
    /// Numeric user id where the host has one (Linux uid).
    pub user_id: Option<u32>,
    /// A `fork` without `exec` (Linux): image and command line are the parent's.
    pub forked: bool,
    /// The image file name (Windows `ImageFileName`, Linux `/proc/<pid>/exe`).
    pub image: Name<'a>,
    /// The command line (Windows `CommandLine`, Linux `/proc/<pid>/cmdline`, NUL-separated).
    pub command_line: Name<'a>,
}

/// A process ended. The record header's `pid` and `process_start_key` name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProcessExit {
    /// Exit status (Windows `NTSTATUS` from `PsGetProcessExitStatus`; Linux the wait status
    /// as `waitpid` gives it).
    pub exit_status: u32,
}

/// The driver introduces itself (first record after a client connects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DriverHello {
    /// Driver version: major, minor, patch.
    pub driver_version: [u16; 3],
    /// Protocol major version the driver speaks.
    pub protocol_major: u16,
    /// Protocol minor version the driver speaks.
    pub protocol_minor: u16,
    /// `CAP_*` bits.
    pub capabilities: u64,
    /// Ring capacity in records.
    pub ring_capacity: u32,
    /// Largest batch the driver sends, in bytes.
    pub max_batch_bytes: u32,
    /// Send timeout in milliseconds.
    pub send_timeout_ms: u32,
}

impl DriverHello {
    /// Reports successful creates and opens.
    pub const CAP_CREATE: u64 = 1 << 0;
    /// Reports the first write through each handle.
    pub const CAP_FIRST_WRITE: u64 = 1 << 1;
    /// Reports close after modification.
    pub const CAP_CLOSE_MODIFIED: u64 = 1 << 2;
    /// Reports renames and hard links.
    pub const CAP_RENAME_LINK: u64 = 1 << 3;
    /// Reports confirmed deletes.
    pub const CAP_DELETE: u64 = 1 << 4;
    /// Reports size and attribute changes.
    pub const CAP_SET_INFO: u64 = 1 << 5;
    /// Fills `FileRef::file_id`.
    pub const CAP_FILE_IDS: u64 = 1 << 6;
    /// Fills `FileRef::handle_id`.
    pub const CAP_HANDLE_IDS: u64 = 1 << 7;
    /// Tells named-stream deletes ([`Body::DeleteStream`]) apart from file deletes (minor 1).
    pub const CAP_STREAM_DELETES: u64 = 1 << 8;
    /// Reports process starts and exits (`ProcessStart`, `ProcessExit`; minor 1).
    pub const CAP_PROCESSES: u64 = 1 << 9;
}

/// Periodic counters from the driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    /// Events captured (sequence numbers handed out).
    pub events_seen: u64,
    /// Events delivered to the client.
    pub events_sent: u64,
    /// Events dropped (ring full, no client, send failure).
    pub events_dropped: u64,
    /// Batches delivered.
    pub batches_sent: u64,
    /// `FltSendMessage` calls that failed or timed out.
    pub send_failures: u64,
    /// Highest ring occupancy since the last stats record.
    pub ring_high_water: u32,
    /// Ring capacity.
    pub ring_capacity: u32,
}

/// Records that were captured but never sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loss {
    /// First lost sequence number (0 with `count` when the range is unknown).
    pub first_lost_seq: u64,
    /// Last lost sequence number.
    pub last_lost_seq: u64,
    /// How many records were lost in that range.
    pub count: u64,
    /// Why.
    pub reason: LossReason,
}

impl Default for Loss {
    fn default() -> Self {
        Self {
            first_lost_seq: 0,
            last_lost_seq: 0,
            count: 0,
            reason: LossReason::RingFull,
        }
    }
}

/// The kind-specific part of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Body<'a> {
    /// See [`FileCreate`].
    FileCreate(FileCreate<'a>),
    /// First write through a handle.
    FirstWrite(FileOp<'a>),
    /// Handle closed after modification.
    CloseModified(FileOp<'a>),
    /// Rename.
    Rename(LinkChange<'a>),
    /// Hard link.
    HardLink(LinkChange<'a>),
    /// See [`Delete`].
    Delete(Delete<'a>),
    /// A named data stream deleted; `name` is the stream's full name (`…\\file:stream`).
    DeleteStream(Delete<'a>),
    /// See [`SetSize`].
    SetSize(SetSize<'a>),
    /// See [`SetAttributes`].
    SetAttributes(SetAttributes<'a>),
    /// See [`ProcessStart`].
    ProcessStart(ProcessStart<'a>),
    /// See [`ProcessExit`].
    ProcessExit(ProcessExit),
    /// See [`DriverHello`].
    DriverHello(DriverHello),
    /// See [`Stats`].
    Stats(Stats),
    /// See [`Loss`].
    Loss(Loss),
    /// A kind this version does not decode (newer minor, or reserved). Skipped by length.
    Unknown {
        /// Raw kind tag.
        kind: u16,
        /// Raw record flags.
        flags: u16,
        /// The fixed part, uninterpreted.
        fixed: &'a [u8],
        /// First name bytes.
        name: &'a [u8],
        /// Second name bytes.
        new_name: &'a [u8],
    },
}

impl Body<'_> {
    /// The raw kind tag.
    #[must_use]
    pub const fn kind_raw(&self) -> u16 {
        match self {
            Self::FileCreate(_) => RecordKind::FileCreate as u16,
            Self::FirstWrite(_) => RecordKind::FirstWrite as u16,
            Self::CloseModified(_) => RecordKind::CloseModified as u16,
            Self::Rename(_) => RecordKind::Rename as u16,
            Self::HardLink(_) => RecordKind::HardLink as u16,
            Self::Delete(_) => RecordKind::Delete as u16,
            Self::DeleteStream(_) => RecordKind::DeleteStream as u16,
            Self::SetSize(_) => RecordKind::SetSize as u16,
            Self::SetAttributes(_) => RecordKind::SetAttributes as u16,
            Self::ProcessStart(_) => RecordKind::ProcessStart as u16,
            Self::ProcessExit(_) => RecordKind::ProcessExit as u16,
            Self::DriverHello(_) => RecordKind::DriverHello as u16,
            Self::Stats(_) => RecordKind::Stats as u16,
            Self::Loss(_) => RecordKind::Loss as u16,
            Self::Unknown { kind, .. } => *kind,
        }
    }

    /// The file the record is about, for file records.
    #[must_use]
    pub const fn file(&self) -> Option<&FileRef> {
        match self {
            Self::FileCreate(b) => Some(&b.file),
            Self::FirstWrite(b) | Self::CloseModified(b) => Some(&b.file),
            Self::Rename(b) | Self::HardLink(b) => Some(&b.file),
            Self::Delete(b) | Self::DeleteStream(b) => Some(&b.file),
            Self::SetSize(b) => Some(&b.file),
            Self::SetAttributes(b) => Some(&b.file),
            Self::ProcessStart(_)
            | Self::ProcessExit(_)
            | Self::DriverHello(_)
            | Self::Stats(_)
            | Self::Loss(_)
            | Self::Unknown { .. } => None,
        }
    }
}

/// One record: the common header and the kind's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record<'a> {
    /// Common fields.
    pub header: RecordHeader,
    /// Kind-specific fields and names.
    pub body: Body<'a>,
}
