//! Changes to a file's contents that are not `IRP_MJ_WRITE`s.
//!
//! The kernel shell registers an
//! `IRP_MJ_FILE_SYSTEM_CONTROL` callback that only asks [`fsctl_modifies`] and, on success,
//! marks the handle modified (so its cleanup reports "closed after modification").

/// `CTL_CODE(DeviceType, Function, Method, Access)` of `devioctl.h`.
#[must_use]
pub const fn ctl_code(device: u32, function: u32, method: u32, access: u32) -> u32 {
    (device << 16) | (access << 14) | (function << 2) | method
}

const FILE_DEVICE_FILE_SYSTEM: u32 = 0x0000_0009;
const METHOD_BUFFERED: u32 = 0;
const METHOD_NEITHER: u32 = 3;
const FILE_ANY_ACCESS: u32 = 0;
const FILE_WRITE_DATA: u32 = 2;

/// `FSCTL_SET_ZERO_DATA`: zeroes a range (and deallocates it in a sparse file).
pub const FSCTL_SET_ZERO_DATA: u32 = ctl_code(
    FILE_DEVICE_FILE_SYSTEM,
    50,
    METHOD_BUFFERED,
    FILE_WRITE_DATA,
);
/// `FSCTL_WRITE_RAW_ENCRYPTED`: writes ciphertext straight into an EFS file (backup
/// restore).
pub const FSCTL_WRITE_RAW_ENCRYPTED: u32 =
    ctl_code(FILE_DEVICE_FILE_SYSTEM, 55, METHOD_NEITHER, FILE_ANY_ACCESS);
/// `FSCTL_OFFLOAD_WRITE`: an offloaded (ODX) copy writes the target's contents from a token.
pub const FSCTL_OFFLOAD_WRITE: u32 = ctl_code(
    FILE_DEVICE_FILE_SYSTEM,
    154,
    METHOD_BUFFERED,
    FILE_WRITE_DATA,
);
/// `FSCTL_DUPLICATE_EXTENTS_TO_FILE`: block cloning (`ReFS`, Dev Drive) — the target's
/// range now shares the source's clusters.
pub const FSCTL_DUPLICATE_EXTENTS_TO_FILE: u32 = ctl_code(
    FILE_DEVICE_FILE_SYSTEM,
    209,
    METHOD_BUFFERED,
    FILE_WRITE_DATA,
);
/// `FSCTL_DUPLICATE_EXTENTS_TO_FILE_EX`: the same, with flags.
pub const FSCTL_DUPLICATE_EXTENTS_TO_FILE_EX: u32 = ctl_code(
    FILE_DEVICE_FILE_SYSTEM,
    250,
    METHOD_BUFFERED,
    FILE_WRITE_DATA,
);
/// `FSCTL_GET_OBJECT_ID`: not a modification; the shell's whole-file probe after a stream
/// delete (see `identity::object_id_probe`).
pub const FSCTL_GET_OBJECT_ID: u32 = ctl_code(
    FILE_DEVICE_FILE_SYSTEM,
    39,
    METHOD_BUFFERED,
    FILE_ANY_ACCESS,
);

/// `IRP_MN_USER_FS_REQUEST`: a program's `DeviceIoControl` on a file handle.
pub const IRP_MN_USER_FS_REQUEST: u8 = 0x00;
/// `IRP_MN_KERNEL_CALL`: the same request issued from kernel mode (e.g. the SMB server on
/// behalf of a remote client).
pub const IRP_MN_KERNEL_CALL: u8 = 0x04;

/// Whether a file-system control request changes the contents of its file.
///
/// `minor` is the request's minor function, `code` its FSCTL code. The file is the one the
/// request is sent to (for block cloning: the *target* handle, which is
/// the one the request is sent on).
#[must_use]
pub const fn fsctl_modifies(minor: u8, code: u32) -> bool {
    matches!(minor, IRP_MN_USER_FS_REQUEST | IRP_MN_KERNEL_CALL)
        && matches!(
            code,
            FSCTL_SET_ZERO_DATA
                | FSCTL_WRITE_RAW_ENCRYPTED
                | FSCTL_OFFLOAD_WRITE
                | FSCTL_DUPLICATE_EXTENTS_TO_FILE
                | FSCTL_DUPLICATE_EXTENTS_TO_FILE_EX
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_are_the_ones_windows_headers_define() {
        // Values as `ntifs.h` (WDK 10.0.22621) expands them.
        assert_eq!(FSCTL_SET_ZERO_DATA, 0x0009_80c8);
        assert_eq!(FSCTL_WRITE_RAW_ENCRYPTED, 0x0009_00df);
        assert_eq!(FSCTL_OFFLOAD_WRITE, 0x0009_8268);
        assert_eq!(FSCTL_DUPLICATE_EXTENTS_TO_FILE, 0x0009_8344);
        assert_eq!(FSCTL_DUPLICATE_EXTENTS_TO_FILE_EX, 0x0009_83e8);
        assert_eq!(FSCTL_GET_OBJECT_ID, 0x0009_009c);
    }

    #[test]
    fn content_changing_requests_mark_the_handle() {
        for code in [
            FSCTL_SET_ZERO_DATA,
            FSCTL_WRITE_RAW_ENCRYPTED,
            FSCTL_OFFLOAD_WRITE,
            FSCTL_DUPLICATE_EXTENTS_TO_FILE,
            FSCTL_DUPLICATE_EXTENTS_TO_FILE_EX,
        ] {
            assert!(fsctl_modifies(IRP_MN_USER_FS_REQUEST, code), "{code:#x}");
            assert!(fsctl_modifies(IRP_MN_KERNEL_CALL, code), "{code:#x}");
        }
    }

    #[test]
    fn other_requests_and_other_minors_do_not() {
        // FSCTL_GET_OBJECT_ID, FSCTL_SET_SPARSE, FSCTL_GET_REPARSE_POINT.
        for code in [FSCTL_GET_OBJECT_ID, 0x0009_00c4, 0x0009_00a8] {
            assert!(!fsctl_modifies(IRP_MN_USER_FS_REQUEST, code), "{code:#x}");
        }
        // IRP_MN_MOUNT_VOLUME (1) carries no FSCTL code of a file.
        assert!(!fsctl_modifies(0x01, FSCTL_SET_ZERO_DATA));
    }
}
