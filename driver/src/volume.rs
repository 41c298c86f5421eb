//! Which volumes Picket attaches to (`InstanceSetup`).
//!
//! The kernel shell gathers the facts
//! (the callback's device and file-system types, `FltIsVolumeSnapshot`,
//! `FltIsVolumeWritable`, `FILE_DAX_VOLUME` from `FileFsAttributeInformation`) and
//! [`VolumeFacts::decide`] answers. `docs/ARCHITECTURE.md` §2.9 explains each choice.

/// `FLT_FILESYSTEM_TYPE` values the decision names (`fltUserStructures.h`).
pub mod fs_type {
    /// `FLT_FSTYPE_UNKNOWN`
    pub const UNKNOWN: u32 = 0;
    /// `FLT_FSTYPE_RAW`: a volume no file system recognised.
    pub const RAW: u32 = 1;
    /// `FLT_FSTYPE_NTFS`
    pub const NTFS: u32 = 2;
    /// `FLT_FSTYPE_MUP`: the UNC provider every SMB/WebDAV/NFS redirector sits under.
    pub const MUP: u32 = 13;
    /// `FLT_FSTYPE_FS_REC`: the file-system recognizer, not a file system.
    pub const FS_REC: u32 = 19;
    /// `FLT_FSTYPE_NPFS`: named pipes.
    pub const NPFS: u32 = 25;
    /// `FLT_FSTYPE_MSFS`: mailslots.
    pub const MSFS: u32 = 26;
    /// `FLT_FSTYPE_REFS`
    pub const REFS: u32 = 28;
}

/// `FILE_DEVICE_NETWORK_FILE_SYSTEM`: the volume's device type for a redirector.
pub const FILE_DEVICE_NETWORK_FILE_SYSTEM: u32 = 0x0000_0014;
/// `FILE_DAX_VOLUME` in `FILE_FS_ATTRIBUTE_INFORMATION.FileSystemAttributes`.
pub const FILE_DAX_VOLUME: u32 = 0x2000_0000;

/// What the shell learned about a volume Filter Manager offers. `None`: the query failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VolumeFacts {
    /// `VolumeDeviceType` (`FILE_DEVICE_*_FILE_SYSTEM`).
    pub device_type: u32,
    /// `VolumeFilesystemType` (`FLT_FSTYPE_*`).
    pub fs_type: u32,
    /// `FltIsVolumeSnapshot`: a volume shadow copy.
    pub snapshot: Option<bool>,
    /// `FltIsVolumeWritable`.
    pub writable: Option<bool>,
    /// `FileSystemAttributes` of `FileFsAttributeInformation`.
    pub fs_attributes: Option<u32>,
}

/// Why a volume is not watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAttached {
    /// No file system on it (`RAW`) or the recognizer: only volume opens, never files.
    NoFileSystem,
    /// Named pipes or mailslots: not files.
    PipesOrMailslots,
    /// A DAX (persistent-memory) volume: writes through mapped views never reach a filter,
    /// so "modified" could not be told; Filter Manager also refuses filters that do not
    /// register `FLTFL_REGISTRATION_SUPPORT_DAX_VOLUME`.
    Dax,
    /// A volume shadow copy: immutable, and read end to end by every backup — a flood of
    /// opens with nothing to detect in them.
    Snapshot,
}

/// Whether a volume is network-backed (SMB, `WebDAV`, NFS, RDP drive redirection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A local volume, writable or not.
    Local {
        /// Read-only (a CD/DVD, a mounted ISO or VHD, write-protected media): only opens
        /// can happen, and they are still reported.
        read_only: bool,
    },
    /// A network volume: each reported create costs the queries' round trips to the server.
    Network,
}

impl VolumeFacts {
    /// Attach (and how the volume is reached) or not (and why).
    ///
    /// # Errors
    /// [`NotAttached`] with the reason the volume is left alone.
    pub const fn decide(&self) -> Result<Attach, NotAttached> {
        match self.fs_type {
            fs_type::RAW | fs_type::FS_REC => return Err(NotAttached::NoFileSystem),
            fs_type::NPFS | fs_type::MSFS => return Err(NotAttached::PipesOrMailslots),
            _ => {}
        }
        if let Some(attributes) = self.fs_attributes {
            if attributes & FILE_DAX_VOLUME != 0 {
                return Err(NotAttached::Dax);
            }
        }
        if matches!(self.snapshot, Some(true)) {
            return Err(NotAttached::Snapshot);
        }
        if self.device_type == FILE_DEVICE_NETWORK_FILE_SYSTEM || self.fs_type == fs_type::MUP {
            return Ok(Attach::Network);
        }
        Ok(Attach::Local {
            read_only: matches!(self.writable, Some(false)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_DEVICE_DISK_FILE_SYSTEM: u32 = 0x08;
    const FILE_DEVICE_CD_ROM_FILE_SYSTEM: u32 = 0x03;

    fn local(fs_type: u32) -> VolumeFacts {
        VolumeFacts {
            device_type: FILE_DEVICE_DISK_FILE_SYSTEM,
            fs_type,
            snapshot: Some(false),
            writable: Some(true),
            fs_attributes: Some(0x0000_00ff),
        }
    }

    #[test]
    fn ordinary_local_volumes_are_watched() {
        // NTFS, FAT, exFAT, ReFS, CSVFS, and a file system Filter Manager does not name.
        for fs in [
            fs_type::NTFS,
            3,
            22,
            fs_type::REFS,
            27,
            fs_type::UNKNOWN,
            99,
        ] {
            assert_eq!(
                local(fs).decide(),
                Ok(Attach::Local { read_only: false }),
                "{fs}"
            );
        }
    }

    #[test]
    fn read_only_media_are_watched_and_said_to_be_read_only() {
        let iso = VolumeFacts {
            device_type: FILE_DEVICE_CD_ROM_FILE_SYSTEM,
            fs_type: 5, // UDFS
            writable: Some(false),
            ..local(5)
        };
        assert_eq!(iso.decide(), Ok(Attach::Local { read_only: true }));
        let unknown = VolumeFacts {
            writable: None,
            ..local(fs_type::NTFS)
        };
        assert_eq!(unknown.decide(), Ok(Attach::Local { read_only: false }));
    }

    #[test]
    fn network_volumes_are_watched_as_network() {
        let smb = VolumeFacts {
            device_type: FILE_DEVICE_NETWORK_FILE_SYSTEM,
            fs_type: fs_type::MUP,
            snapshot: None,
            writable: None,
            fs_attributes: None,
        };
        assert_eq!(smb.decide(), Ok(Attach::Network));
        let webdav = VolumeFacts {
            device_type: FILE_DEVICE_NETWORK_FILE_SYSTEM,
            fs_type: 7,
            ..smb
        };
        assert_eq!(webdav.decide(), Ok(Attach::Network));
    }

    #[test]
    fn volumes_without_files_or_with_invisible_writes_are_left_alone() {
        assert_eq!(local(fs_type::RAW).decide(), Err(NotAttached::NoFileSystem));
        assert_eq!(
            local(fs_type::FS_REC).decide(),
            Err(NotAttached::NoFileSystem)
        );
        assert_eq!(
            local(fs_type::NPFS).decide(),
            Err(NotAttached::PipesOrMailslots)
        );
        assert_eq!(
            local(fs_type::MSFS).decide(),
            Err(NotAttached::PipesOrMailslots)
        );
        let dax = VolumeFacts {
            fs_attributes: Some(FILE_DAX_VOLUME | 0xff),
            ..local(fs_type::NTFS)
        };
        assert_eq!(dax.decide(), Err(NotAttached::Dax));
        let shadow = VolumeFacts {
            snapshot: Some(true),
            writable: Some(false),
            ..local(fs_type::NTFS)
        };
        assert_eq!(shadow.decide(), Err(NotAttached::Snapshot));
    }

    #[test]
    fn a_failed_query_never_keeps_a_volume_unwatched() {
        let blind = VolumeFacts {
            snapshot: None,
            writable: None,
            fs_attributes: None,
            ..local(fs_type::NTFS)
        };
        assert_eq!(blind.decide(), Ok(Attach::Local { read_only: false }));
    }
}
