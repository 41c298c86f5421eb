//! `InstanceSetup`: gathers what the decision needs about a volume and lets
//! [`crate::volume::VolumeFacts::decide`] answer. IRQL: `PASSIVE_LEVEL`.

use wdk_sys::{
    _FSINFOCLASS::FileFsAttributeInformation, FILE_FS_ATTRIBUTE_INFORMATION, FS_INFORMATION_CLASS,
    IO_STATUS_BLOCK, NTSTATUS, STATUS_SUCCESS,
};

use super::flt::{
    nt_success, size_u32, FltIsVolumeSnapshot, FltIsVolumeWritable, FltQueryVolumeInformation,
    _FLT_FILESYSTEM_TYPE, FLT_FILESYSTEM_TYPE, FLT_INSTANCE_SETUP_FLAGS, PCFLT_RELATED_OBJECTS,
    STATUS_BUFFER_OVERFLOW, STATUS_FLT_DO_NOT_ATTACH,
};
use crate::volume::{fs_type, VolumeFacts, FILE_DAX_VOLUME, FILE_DEVICE_NETWORK_FILE_SYSTEM};

// The plain-Rust constants are the header's values.
const _: () = assert!(fs_type::RAW == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_RAW.cast_unsigned());
const _: () = assert!(fs_type::NTFS == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_NTFS.cast_unsigned());
const _: () = assert!(fs_type::MUP == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_MUP.cast_unsigned());
const _: () = assert!(fs_type::FS_REC == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_FS_REC.cast_unsigned());
const _: () = assert!(fs_type::NPFS == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_NPFS.cast_unsigned());
const _: () = assert!(fs_type::MSFS == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_MSFS.cast_unsigned());
const _: () = assert!(fs_type::REFS == _FLT_FILESYSTEM_TYPE::FLT_FSTYPE_REFS.cast_unsigned());
const _: () = assert!(FILE_DEVICE_NETWORK_FILE_SYSTEM == wdk_sys::FILE_DEVICE_NETWORK_FILE_SYSTEM);
const _: () = assert!(FILE_DAX_VOLUME == wdk_sys::FILE_DAX_VOLUME);

/// `FILE_FS_ATTRIBUTE_INFORMATION` with room for a short file-system name; a longer name
/// only costs `STATUS_BUFFER_OVERFLOW`, with the attributes still filled.
#[repr(C)]
#[derive(Default)]
struct FsAttributes {
    info: FILE_FS_ATTRIBUTE_INFORMATION,
    _name: [u16; 32],
}

/// A `BOOLEAN` answer of a Filter Manager volume query, `None` when the query failed.
///
/// # Safety
/// `query` is `FltIsVolumeSnapshot` or `FltIsVolumeWritable`; `volume` the volume of the
/// running `InstanceSetup`.
unsafe fn volume_boolean(
    query: unsafe extern "C" fn(wdk_sys::PVOID, wdk_sys::PBOOLEAN) -> NTSTATUS,
    volume: wdk_sys::PVOID,
) -> Option<bool> {
    let mut answer: wdk_sys::BOOLEAN = 0;
    // SAFETY: the caller's guarantee; `answer` is a valid out-pointer.
    let status = unsafe { query(volume, &raw mut answer) };
    nt_success(status).then_some(answer != 0)
}

/// The file-system attribute bits of the instance's volume, `None` when the query failed.
fn fs_attributes(objects: &super::flt::FLT_RELATED_OBJECTS) -> Option<u32> {
    let mut buffer = FsAttributes::default();
    let mut iosb = IO_STATUS_BLOCK::default();
    // SAFETY: the instance being set up; `iosb` and `buffer` are locals of the size passed.
    let status = unsafe {
        FltQueryVolumeInformation(
            objects.Instance,
            &raw mut iosb,
            core::ptr::addr_of_mut!(buffer).cast(),
            size_u32::<FsAttributes>(),
            FileFsAttributeInformation as FS_INFORMATION_CLASS,
        )
    };
    (nt_success(status) || status == STATUS_BUFFER_OVERFLOW)
        .then_some(buffer.info.FileSystemAttributes)
}

/// Instance setup: attach to the volume or not (`docs/ARCHITECTURE.md` §2.9). IRQL:
/// `PASSIVE_LEVEL`. Decides nothing itself: the facts go to `VolumeFacts::decide`.
pub unsafe extern "C" fn instance_setup(
    objects: PCFLT_RELATED_OBJECTS,
    _flags: FLT_INSTANCE_SETUP_FLAGS,
    device_type: u32,
    filesystem_type: FLT_FILESYSTEM_TYPE,
) -> NTSTATUS {
    // SAFETY: Filter Manager passes valid related objects for the callback's duration.
    let Some(objects) = (unsafe { objects.as_ref() }) else {
        return STATUS_SUCCESS;
    };
    let volume = objects.Volume.cast();
    let facts = VolumeFacts {
        device_type,
        fs_type: filesystem_type.cast_unsigned(),
        // SAFETY: `FltIsVolumeSnapshot` on the volume being set up.
        snapshot: unsafe { volume_boolean(FltIsVolumeSnapshot, volume) },
        // SAFETY: `FltIsVolumeWritable` on the volume being set up.
        writable: unsafe { volume_boolean(FltIsVolumeWritable, volume) },
        fs_attributes: fs_attributes(objects),
    };
    match facts.decide() {
        Ok(_) => STATUS_SUCCESS,
        Err(_) => STATUS_FLT_DO_NOT_ATTACH,
    }
}
