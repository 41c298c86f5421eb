//! Which file a record is about: its 128-bit id, whether a name points at a named data
//! stream, and what the shell's probes of a deleted stream's file mean.
//!
//! The kernel shell queries (`FileInternalInformation`, `FileIdInformation`,
//! `FltParseFileNameInformation`, `FSCTL_GET_OBJECT_ID`) and this module decides, the way
//! Microsoft's `delete` minifilter sample does, so every rule is tested on Linux.

use crate::records::FileProbe;

/// `FILE_INVALID_FILE_ID` (`(LONGLONG)-1`): what `FileInternalInformation` returns for a
/// file whose id does not fit in 64 bits (`ReFS`).
pub const FILE_INVALID_FILE_ID: i64 = -1;

/// What `FileInternalInformation` told about the file's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalId {
    /// A 64-bit id (NTFS, and `ReFS` ids that fit): zero-extended to 128 bits, as
    /// `FileIdInformation` would give it.
    Known(u128),
    /// The id needs 128 bits: ask `FileIdInformation` (the `delete` sample's fallback).
    Needs128Bits,
    /// The file system has no id (the query failed): 0 on the wire.
    Unknown,
}

/// Reads `FileInternalInformation.IndexNumber`; `None` when the query failed.
#[must_use]
pub const fn internal_id(index_number: Option<i64>) -> InternalId {
    match index_number {
        None => InternalId::Unknown,
        Some(FILE_INVALID_FILE_ID) => InternalId::Needs128Bits,
        Some(index) => InternalId::Known(index.cast_unsigned() as u128),
    }
}

/// The id of `FILE_ID_INFORMATION.FileId` (`FILE_ID_128`, 16 bytes).
///
/// Read as a little-endian `u128` so that a 64-bit id in its low bytes equals the zero-extended
/// `FileInternalInformation` id; 0 (unknown) when the query failed.
#[must_use]
pub const fn file_id_128(identifier: Option<[u8; 16]>) -> u128 {
    match identifier {
        Some(bytes) => u128::from_le_bytes(bytes),
        None => 0,
    }
}

/// Whether the stream component of a parsed file name names a *named* data stream.
///
/// `stream` is `FLT_FILE_NAME_INFORMATION.Stream`, UTF-16LE bytes as Filter Manager split
/// them: `""`, `"::$DATA"`, `":name"`, `":name:$DATA"`. The default stream (no component, or an
/// empty name before the type) and a directory's index (`:$I30`) are the file itself.
#[must_use]
pub fn is_named_stream(stream: &[u8]) -> bool {
    let mut units = stream.chunks_exact(2).map(|pair| match pair {
        [low, high] => u16::from_le_bytes([*low, *high]),
        _ => 0,
    });
    if units.next() != Some(u16::from(b':')) {
        return false;
    }
    let name = units.take_while(|&unit| unit != u16::from(b':'));
    let mut len = 0usize;
    let mut is_i30 = true;
    for (index, unit) in name.enumerate() {
        len = index.saturating_add(1);
        let want = match index {
            0 => b'$',
            1 => b'i',
            2 => b'3',
            3 => b'0',
            _ => 0,
        };
        let lowered = if (0x41..=0x5a).contains(&unit) {
            unit | 0x20
        } else {
            unit
        };
        if want == 0 || lowered != u16::from(want) {
            is_i30 = false;
        }
    }
    len > 0 && !(len == 4 && is_i30)
}

/// `STATUS_FILE_DELETED`.
const STATUS_FILE_DELETED: i32 = 0xC000_0123_u32.cast_signed();
/// `STATUS_OBJECTID_NOT_FOUND`: the file exists and has no object id.
const STATUS_OBJECTID_NOT_FOUND: i32 = 0xC000_02F0_u32.cast_signed();

/// What `FSCTL_GET_OBJECT_ID` on a deleted named stream says about the file itself.
///
/// It is the `delete` sample's cheap check on NTFS: `STATUS_FILE_DELETED` — the
/// whole file went with its last stream; success or "no object id" — the file remains;
/// anything else (`ReFS` has no object ids) — unknown.
#[must_use]
pub const fn object_id_probe(status: i32) -> FileProbe {
    if status == STATUS_FILE_DELETED {
        FileProbe::Deleted
    } else if status >= 0 || status == STATUS_OBJECTID_NOT_FOUND {
        FileProbe::Exists
    } else {
        FileProbe::Unknown
    }
}

/// What a confirmed delete took away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The file (`Delete` record).
    File,
    /// One named data stream; the file remains, or could not be shown gone
    /// (`DeleteStream` record).
    Stream,
}

/// What a confirmed delete took: the file, or only a named stream.
///
/// `named_stream` is whether the handle's name has a stream component. The file when the
/// handle is on the default stream, or when the whole file is shown gone (`file_probe`, only probed
/// for named streams); otherwise only the stream. When the file's fate is unknown (`ReFS`)
/// the stream — certainly gone — is what is reported.
#[must_use]
pub const fn deleted(named_stream: bool, file_probe: FileProbe) -> Deleted {
    match (named_stream, file_probe) {
        (false, _) | (true, FileProbe::Deleted) => Deleted::File,
        (true, FileProbe::Exists | FileProbe::Unknown) => Deleted::Stream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn a_64_bit_id_is_zero_extended_and_the_invalid_one_asks_for_128_bits() {
        assert_eq!(
            internal_id(Some(0x0005_0000_0001_a2c4)),
            InternalId::Known(0x0005_0000_0001_a2c4)
        );
        assert_eq!(
            internal_id(Some(i64::MIN)),
            InternalId::Known(0x8000_0000_0000_0000)
        );
        assert_eq!(internal_id(Some(-1)), InternalId::Needs128Bits);
        assert_eq!(internal_id(None), InternalId::Unknown);
    }

    #[test]
    fn a_128_bit_id_keeps_every_byte_and_agrees_with_the_64_bit_form() {
        let mut refs = [0u8; 16];
        refs[0] = 0x0b;
        refs[1] = 0x0a;
        refs[8] = 0x2e;
        refs[9] = 0x1f;
        assert_eq!(
            file_id_128(Some(refs)),
            0x0000_0000_0000_1f2e_0000_0000_0000_0a0b
        );
        let ntfs = 0x0005_0000_0001_a2c4_u64;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&ntfs.to_le_bytes());
        assert_eq!(
            InternalId::Known(file_id_128(Some(bytes))),
            internal_id(Some(ntfs.cast_signed()))
        );
        assert_eq!(file_id_128(None), 0);
    }

    #[test]
    fn two_refs_files_get_two_ids_not_one_shared_invalid_one() {
        let a = file_id_128(Some([1; 16]));
        let b = file_id_128(Some([2; 16]));
        assert_ne!(a, b);
        assert_ne!(a, u128::from(u64::MAX));
    }

    #[test]
    fn named_streams_are_told_from_the_default_stream() {
        for named in [
            ":Zone.Identifier",
            ":Zone.Identifier:$DATA",
            ":x",
            ":$I30x",
            ":ab:",
        ] {
            assert!(is_named_stream(&utf16(named)), "{named}");
        }
        for default in [
            "",
            "::$DATA",
            ":",
            "::",
            ":$I30",
            ":$i30:$INDEX_ALLOCATION",
            "x:y",
        ] {
            assert!(!is_named_stream(&utf16(default)), "{default}");
        }
        assert!(!is_named_stream(b":"), "a stray byte is no stream");
    }

    #[test]
    fn the_object_id_probe_reads_the_delete_samples_statuses() {
        assert_eq!(object_id_probe(0), FileProbe::Exists);
        assert_eq!(
            object_id_probe(STATUS_OBJECTID_NOT_FOUND),
            FileProbe::Exists
        );
        assert_eq!(object_id_probe(STATUS_FILE_DELETED), FileProbe::Deleted);
        // STATUS_INVALID_DEVICE_REQUEST: ReFS has no object ids.
        assert_eq!(
            object_id_probe(0xC000_0010_u32.cast_signed()),
            FileProbe::Unknown
        );
    }

    #[test]
    fn a_stream_delete_is_a_file_delete_only_when_the_file_went_too() {
        assert_eq!(deleted(false, FileProbe::Unknown), Deleted::File);
        assert_eq!(deleted(true, FileProbe::Exists), Deleted::Stream);
        assert_eq!(deleted(true, FileProbe::Unknown), Deleted::Stream);
        assert_eq!(deleted(true, FileProbe::Deleted), Deleted::File);
    }
}
