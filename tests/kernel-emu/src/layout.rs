//! Byte offsets of the WDK structures the fake kernel reads from or builds in guest memory
//! (x64). Hand-written from `fltKernel.h`, `wdm.h` and `ntifs.h` of the WDK 10.0.22621 headers,
//! and checked against those headers by `tests/layout.rs`, which compiles one
//! `_Static_assert(offsetof(...) == ...)` per constant with clang for
//! `x86_64-pc-windows-msvc` (so a wrong constant fails the build of that check, not a guess at
//! run time). Hand-written rather than bindgen-generated: the driver's bindings need the kit
//! and wdk-build at build time, and this crate must build wherever the `.sys` runs.

/// One checked constant: the C expression (`offsetof`/`sizeof`) and the value used here.
pub struct Checked {
    /// C expression evaluated against the headers.
    pub c: &'static str,
    /// Value the Rust code uses.
    pub value: u64,
}

macro_rules! layout {
    ($( $(#[$doc:meta])* $name:ident = $value:expr => $c:expr; )*) => {
        $( $(#[$doc])* pub const $name: u64 = $value; )*
        /// Every constant with the C expression it must equal.
        pub const CHECKED: &[Checked] = &[ $( Checked { c: $c, value: $value } ),* ];
    };
}

layout! {
    /// `UNICODE_STRING.Length`.
    US_LENGTH = 0 => "offsetof(UNICODE_STRING, Length)";
    /// `UNICODE_STRING.MaximumLength`.
    US_MAX = 2 => "offsetof(UNICODE_STRING, MaximumLength)";
    /// `UNICODE_STRING.Buffer`.
    US_BUFFER = 8 => "offsetof(UNICODE_STRING, Buffer)";
    /// `sizeof(UNICODE_STRING)`.
    US_SIZE = 16 => "sizeof(UNICODE_STRING)";

    /// `OBJECT_ATTRIBUTES.RootDirectory`.
    OA_ROOT = 8 => "offsetof(OBJECT_ATTRIBUTES, RootDirectory)";
    /// `OBJECT_ATTRIBUTES.ObjectName`.
    OA_NAME = 0x10 => "offsetof(OBJECT_ATTRIBUTES, ObjectName)";

    /// `KEY_VALUE_PARTIAL_INFORMATION.Type`.
    KVPI_TYPE = 4 => "offsetof(KEY_VALUE_PARTIAL_INFORMATION, Type)";
    /// `KEY_VALUE_PARTIAL_INFORMATION.DataLength`.
    KVPI_LENGTH = 8 => "offsetof(KEY_VALUE_PARTIAL_INFORMATION, DataLength)";
    /// `KEY_VALUE_PARTIAL_INFORMATION.Data`.
    KVPI_DATA = 12 => "offsetof(KEY_VALUE_PARTIAL_INFORMATION, Data)";

    /// `FLT_REGISTRATION.Size`.
    REG_SIZE_FIELD = 0 => "offsetof(FLT_REGISTRATION, Size)";
    /// `FLT_REGISTRATION.Version`.
    REG_VERSION = 2 => "offsetof(FLT_REGISTRATION, Version)";
    /// `FLT_REGISTRATION.ContextRegistration`.
    REG_CONTEXTS = 8 => "offsetof(FLT_REGISTRATION, ContextRegistration)";
    /// `FLT_REGISTRATION.OperationRegistration`.
    REG_OPERATIONS = 0x10 => "offsetof(FLT_REGISTRATION, OperationRegistration)";
    /// `FLT_REGISTRATION.FilterUnloadCallback`.
    REG_UNLOAD = 0x18 => "offsetof(FLT_REGISTRATION, FilterUnloadCallback)";
    /// `FLT_REGISTRATION.InstanceSetupCallback`.
    REG_INSTANCE_SETUP = 0x20 => "offsetof(FLT_REGISTRATION, InstanceSetupCallback)";
    /// `FLT_REGISTRATION.InstanceQueryTeardownCallback`.
    REG_QUERY_TEARDOWN = 0x28 => "offsetof(FLT_REGISTRATION, InstanceQueryTeardownCallback)";
    /// `sizeof(FLT_REGISTRATION)`.
    REG_SIZE = 0x70 => "sizeof(FLT_REGISTRATION)";

    /// `FLT_OPERATION_REGISTRATION.Flags`.
    OPREG_FLAGS = 4 => "offsetof(FLT_OPERATION_REGISTRATION, Flags)";
    /// `FLT_OPERATION_REGISTRATION.PreOperation`.
    OPREG_PRE = 8 => "offsetof(FLT_OPERATION_REGISTRATION, PreOperation)";
    /// `FLT_OPERATION_REGISTRATION.PostOperation`.
    OPREG_POST = 0x10 => "offsetof(FLT_OPERATION_REGISTRATION, PostOperation)";
    /// `sizeof(FLT_OPERATION_REGISTRATION)`.
    OPREG_SIZE = 0x20 => "sizeof(FLT_OPERATION_REGISTRATION)";

    /// `FLT_CONTEXT_REGISTRATION.ContextCleanupCallback`.
    CTXREG_CLEANUP = 8 => "offsetof(FLT_CONTEXT_REGISTRATION, ContextCleanupCallback)";
    /// `FLT_CONTEXT_REGISTRATION.Size`.
    CTXREG_SIZE_FIELD = 0x10 => "offsetof(FLT_CONTEXT_REGISTRATION, Size)";
    /// `FLT_CONTEXT_REGISTRATION.PoolTag`.
    CTXREG_TAG = 0x18 => "offsetof(FLT_CONTEXT_REGISTRATION, PoolTag)";
    /// `sizeof(FLT_CONTEXT_REGISTRATION)`.
    CTXREG_SIZE = 0x38 => "sizeof(FLT_CONTEXT_REGISTRATION)";

    /// `FLT_CALLBACK_DATA.Flags`.
    CD_FLAGS = 0 => "offsetof(FLT_CALLBACK_DATA, Flags)";
    /// `FLT_CALLBACK_DATA.Thread`.
    CD_THREAD = 8 => "offsetof(FLT_CALLBACK_DATA, Thread)";
    /// `FLT_CALLBACK_DATA.Iopb`.
    CD_IOPB = 0x10 => "offsetof(FLT_CALLBACK_DATA, Iopb)";
    /// `FLT_CALLBACK_DATA.IoStatus` (`Status` first, then `Information`).
    CD_STATUS = 0x18 => "offsetof(FLT_CALLBACK_DATA, IoStatus)";
    /// `FLT_CALLBACK_DATA.IoStatus.Information`.
    CD_INFORMATION = 0x20 => "offsetof(FLT_CALLBACK_DATA, IoStatus.Information)";
    /// `FLT_CALLBACK_DATA.RequestorMode`.
    CD_REQUESTOR_MODE = 0x50 => "offsetof(FLT_CALLBACK_DATA, RequestorMode)";
    /// `sizeof(FLT_CALLBACK_DATA)`.
    CD_SIZE = 0x58 => "sizeof(FLT_CALLBACK_DATA)";

    /// `FLT_IO_PARAMETER_BLOCK.IrpFlags`.
    IOPB_IRP_FLAGS = 0 => "offsetof(FLT_IO_PARAMETER_BLOCK, IrpFlags)";
    /// `FLT_IO_PARAMETER_BLOCK.MajorFunction`.
    IOPB_MAJOR = 4 => "offsetof(FLT_IO_PARAMETER_BLOCK, MajorFunction)";
    /// `FLT_IO_PARAMETER_BLOCK.OperationFlags`.
    IOPB_OPERATION_FLAGS = 6 => "offsetof(FLT_IO_PARAMETER_BLOCK, OperationFlags)";
    /// `FLT_IO_PARAMETER_BLOCK.TargetFileObject`.
    IOPB_FILE_OBJECT = 8 => "offsetof(FLT_IO_PARAMETER_BLOCK, TargetFileObject)";
    /// `FLT_IO_PARAMETER_BLOCK.TargetInstance`.
    IOPB_INSTANCE = 0x10 => "offsetof(FLT_IO_PARAMETER_BLOCK, TargetInstance)";
    /// `FLT_IO_PARAMETER_BLOCK.Parameters`.
    IOPB_PARAMETERS = 0x18 => "offsetof(FLT_IO_PARAMETER_BLOCK, Parameters)";
    /// `sizeof(FLT_IO_PARAMETER_BLOCK)`.
    IOPB_SIZE = 0x48 => "sizeof(FLT_IO_PARAMETER_BLOCK)";

    /// `FLT_PARAMETERS.Create.SecurityContext`.
    P_CREATE_SECURITY = 0 => "offsetof(FLT_PARAMETERS, Create.SecurityContext)";
    /// `FLT_PARAMETERS.Create.Options`.
    P_CREATE_OPTIONS = 8 => "offsetof(FLT_PARAMETERS, Create.Options)";
    /// `FLT_PARAMETERS.Write.Length`.
    P_WRITE_LENGTH = 0 => "offsetof(FLT_PARAMETERS, Write.Length)";
    /// `FLT_PARAMETERS.Write.ByteOffset`.
    P_WRITE_OFFSET = 0x10 => "offsetof(FLT_PARAMETERS, Write.ByteOffset)";
    /// `FLT_PARAMETERS.SetFileInformation.Length`.
    P_SETINFO_LENGTH = 0 => "offsetof(FLT_PARAMETERS, SetFileInformation.Length)";
    /// `FLT_PARAMETERS.SetFileInformation.FileInformationClass`.
    P_SETINFO_CLASS = 8 => "offsetof(FLT_PARAMETERS, SetFileInformation.FileInformationClass)";
    /// `FLT_PARAMETERS.SetFileInformation.ReplaceIfExists` (and `AdvanceOnly` after it).
    P_SETINFO_REPLACE = 0x18 => "offsetof(FLT_PARAMETERS, SetFileInformation.ReplaceIfExists)";
    /// `FLT_PARAMETERS.SetFileInformation.InfoBuffer`.
    P_SETINFO_BUFFER = 0x20 => "offsetof(FLT_PARAMETERS, SetFileInformation.InfoBuffer)";

    /// `IO_SECURITY_CONTEXT.DesiredAccess`.
    SC_DESIRED_ACCESS = 0x10 => "offsetof(IO_SECURITY_CONTEXT, DesiredAccess)";
    /// `sizeof(IO_SECURITY_CONTEXT)`.
    SC_SIZE = 0x18 => "sizeof(IO_SECURITY_CONTEXT)";

    /// `FLT_RELATED_OBJECTS.Size`.
    RO_SIZE_FIELD = 0 => "offsetof(FLT_RELATED_OBJECTS, Size)";
    /// `FLT_RELATED_OBJECTS.Filter`.
    RO_FILTER = 8 => "offsetof(FLT_RELATED_OBJECTS, Filter)";
    /// `FLT_RELATED_OBJECTS.Volume`.
    RO_VOLUME = 0x10 => "offsetof(FLT_RELATED_OBJECTS, Volume)";
    /// `FLT_RELATED_OBJECTS.Instance`.
    RO_INSTANCE = 0x18 => "offsetof(FLT_RELATED_OBJECTS, Instance)";
    /// `FLT_RELATED_OBJECTS.FileObject`.
    RO_FILE_OBJECT = 0x20 => "offsetof(FLT_RELATED_OBJECTS, FileObject)";
    /// `sizeof(FLT_RELATED_OBJECTS)`.
    RO_SIZE = 0x30 => "sizeof(FLT_RELATED_OBJECTS)";

    /// `FILE_OBJECT.Type`.
    FO_TYPE = 0 => "offsetof(FILE_OBJECT, Type)";
    /// `FILE_OBJECT.Size`.
    FO_SIZE_FIELD = 2 => "offsetof(FILE_OBJECT, Size)";
    /// `FILE_OBJECT.Flags`.
    FO_FLAGS = 0x50 => "offsetof(FILE_OBJECT, Flags)";
    /// `FILE_OBJECT.FileName`.
    FO_FILE_NAME = 0x58 => "offsetof(FILE_OBJECT, FileName)";
    /// `sizeof(FILE_OBJECT)`.
    FO_SIZE = 0xd8 => "sizeof(FILE_OBJECT)";

    /// `FLT_FILE_NAME_INFORMATION.Size`.
    FNI_SIZE_FIELD = 0 => "offsetof(FLT_FILE_NAME_INFORMATION, Size)";
    /// `FLT_FILE_NAME_INFORMATION.Format`.
    FNI_FORMAT = 4 => "offsetof(FLT_FILE_NAME_INFORMATION, Format)";
    /// `FLT_FILE_NAME_INFORMATION.Name`.
    FNI_NAME = 8 => "offsetof(FLT_FILE_NAME_INFORMATION, Name)";
    /// `FLT_FILE_NAME_INFORMATION.Volume`.
    FNI_VOLUME = 0x18 => "offsetof(FLT_FILE_NAME_INFORMATION, Volume)";
    /// `FLT_FILE_NAME_INFORMATION.NamesParsed`.
    FNI_PARSED = 2 => "offsetof(FLT_FILE_NAME_INFORMATION, NamesParsed)";
    /// `FLT_FILE_NAME_INFORMATION.Share`.
    FNI_SHARE = 0x28 => "offsetof(FLT_FILE_NAME_INFORMATION, Share)";
    /// `FLT_FILE_NAME_INFORMATION.Extension`.
    FNI_EXTENSION = 0x38 => "offsetof(FLT_FILE_NAME_INFORMATION, Extension)";
    /// `FLT_FILE_NAME_INFORMATION.Stream`.
    FNI_STREAM = 0x48 => "offsetof(FLT_FILE_NAME_INFORMATION, Stream)";
    /// `FLT_FILE_NAME_INFORMATION.FinalComponent`.
    FNI_FINAL = 0x58 => "offsetof(FLT_FILE_NAME_INFORMATION, FinalComponent)";
    /// `FLT_FILE_NAME_INFORMATION.ParentDir`.
    FNI_PARENT = 0x68 => "offsetof(FLT_FILE_NAME_INFORMATION, ParentDir)";
    /// `sizeof(FLT_FILE_NAME_INFORMATION)`.
    FNI_SIZE = 0x78 => "sizeof(FLT_FILE_NAME_INFORMATION)";

    /// `FILE_RENAME_INFORMATION.RootDirectory`.
    RENAME_ROOT = 8 => "offsetof(FILE_RENAME_INFORMATION, RootDirectory)";
    /// `FILE_RENAME_INFORMATION.FileNameLength`.
    RENAME_NAME_LENGTH = 0x10 => "offsetof(FILE_RENAME_INFORMATION, FileNameLength)";
    /// `FILE_RENAME_INFORMATION.FileName`.
    RENAME_NAME = 0x14 => "offsetof(FILE_RENAME_INFORMATION, FileName)";
    /// `FILE_BASIC_INFORMATION.FileAttributes`.
    BASIC_ATTRIBUTES = 0x20 => "offsetof(FILE_BASIC_INFORMATION, FileAttributes)";
    /// `sizeof(FILE_BASIC_INFORMATION)`.
    BASIC_SIZE = 0x28 => "sizeof(FILE_BASIC_INFORMATION)";
    /// `sizeof(FILE_INTERNAL_INFORMATION)`.
    INTERNAL_SIZE = 8 => "sizeof(FILE_INTERNAL_INFORMATION)";
    /// `FILE_STANDARD_INFORMATION.NumberOfLinks`.
    STANDARD_LINKS = 0x10 => "offsetof(FILE_STANDARD_INFORMATION, NumberOfLinks)";
    /// `FILE_STANDARD_INFORMATION.Directory`.
    STANDARD_DIRECTORY = 0x15 => "offsetof(FILE_STANDARD_INFORMATION, Directory)";
    /// `FILE_ID_INFORMATION.FileId`.
    ID_FILE_ID = 8 => "offsetof(FILE_ID_INFORMATION, FileId)";
    /// `sizeof(FILE_ID_INFORMATION)`.
    ID_SIZE = 24 => "sizeof(FILE_ID_INFORMATION)";
    /// `FILE_FS_ATTRIBUTE_INFORMATION.FileSystemNameLength`.
    FSA_NAME_LENGTH = 8 => "offsetof(FILE_FS_ATTRIBUTE_INFORMATION, FileSystemNameLength)";
    /// `FILE_FS_ATTRIBUTE_INFORMATION.FileSystemName`.
    FSA_NAME = 12 => "offsetof(FILE_FS_ATTRIBUTE_INFORMATION, FileSystemName)";
    /// `sizeof(FILE_STANDARD_INFORMATION)`.
    STANDARD_SIZE = 0x18 => "sizeof(FILE_STANDARD_INFORMATION)";

    /// `PS_CREATE_NOTIFY_INFO.Size`.
    PCNI_SIZE_FIELD = 0 => "offsetof(PS_CREATE_NOTIFY_INFO, Size)";
    /// `PS_CREATE_NOTIFY_INFO.Flags` (bit 0 `FileOpenNameAvailable`, bit 1
    /// `IsSubsystemProcess`).
    PCNI_FLAGS = 8 => "offsetof(PS_CREATE_NOTIFY_INFO, Flags)";
    /// `PS_CREATE_NOTIFY_INFO.ParentProcessId`.
    PCNI_PARENT = 0x10 => "offsetof(PS_CREATE_NOTIFY_INFO, ParentProcessId)";
    /// `PS_CREATE_NOTIFY_INFO.CreatingThreadId` (a `CLIENT_ID`).
    PCNI_CREATING = 0x18 => "offsetof(PS_CREATE_NOTIFY_INFO, CreatingThreadId)";
    /// `PS_CREATE_NOTIFY_INFO.FileObject`.
    PCNI_FILE_OBJECT = 0x28 => "offsetof(PS_CREATE_NOTIFY_INFO, FileObject)";
    /// `PS_CREATE_NOTIFY_INFO.ImageFileName`.
    PCNI_IMAGE = 0x30 => "offsetof(PS_CREATE_NOTIFY_INFO, ImageFileName)";
    /// `PS_CREATE_NOTIFY_INFO.CommandLine`.
    PCNI_COMMAND_LINE = 0x38 => "offsetof(PS_CREATE_NOTIFY_INFO, CommandLine)";
    /// `PS_CREATE_NOTIFY_INFO.CreationStatus`.
    PCNI_CREATION_STATUS = 0x40 => "offsetof(PS_CREATE_NOTIFY_INFO, CreationStatus)";
    /// `sizeof(PS_CREATE_NOTIFY_INFO)`.
    PCNI_SIZE = 0x48 => "sizeof(PS_CREATE_NOTIFY_INFO)";
    /// `CLIENT_ID.UniqueProcess`.
    CID_PROCESS = 0 => "offsetof(CLIENT_ID, UniqueProcess)";
    /// `CLIENT_ID.UniqueThread`.
    CID_THREAD = 8 => "offsetof(CLIENT_ID, UniqueThread)";
}
