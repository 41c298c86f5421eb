//! Process start and exit records (protocol 1.1).
//!
//! Built from what the process-notify callback (`PsSetCreateProcessNotifyRoutineEx`) is
//! given. Plain Rust: the kernel shell hands in
//! integers and the bytes of the `UNICODE_STRING`s in `PS_CREATE_NOTIFY_INFO`, and this
//! module builds the record. Image and command line are copied as bytes, never parsed:
//! cut at `MAX_NAME_BYTES` by the encoder and flagged, an odd length (a malformed string)
//! cut to whole UTF-16 units and flagged.

use picket_protocol::{Body, ProcessExit, ProcessStart, Record, RecordHeader};

use crate::records::utf16_name;

/// What `PS_CREATE_NOTIFY_INFO` and the new `EPROCESS` say about a process start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Created<'a> {
    /// The new process's id.
    pub pid: u32,
    /// Its start key (`PsGetProcessStartKey`).
    pub start_key: u64,
    /// `ParentProcessId`.
    pub parent_pid: u32,
    /// The parent's start key, 0 when the parent could not be looked up.
    pub parent_start_key: u64,
    /// `CreatingThreadId.UniqueProcess`.
    pub creating_pid: u32,
    /// `CreatingThreadId.UniqueThread`.
    pub creating_tid: u32,
    /// The new process's session.
    pub session_id: u32,
    /// `ImageFileName` bytes (empty when absent).
    pub image: &'a [u8],
    /// `CommandLine` bytes (empty when absent).
    pub command_line: &'a [u8],
}

/// The `ProcessStart` record for `created`, stamped `timestamp`.
#[must_use]
pub const fn start_record<'a>(created: &Created<'a>, timestamp: u64) -> Record<'a> {
    Record {
        header: RecordHeader {
            seq: 0,
            timestamp,
            pid: created.pid,
            tid: 0,
            process_start_key: created.start_key,
        },
        body: Body::ProcessStart(ProcessStart {
            parent_pid: created.parent_pid,
            parent_start_key: created.parent_start_key,
            creating_pid: created.creating_pid,
            creating_tid: created.creating_tid,
            session_id: created.session_id,
            user_id: None,
            forked: false,
            image: utf16_name(created.image),
            command_line: utf16_name(created.command_line),
        }),
    }
}

/// The `ProcessExit` record of process `pid` (`start_key`) with `exit_status`.
#[must_use]
pub const fn exit_record(
    pid: u32,
    start_key: u64,
    exit_status: u32,
    timestamp: u64,
) -> Record<'static> {
    Record {
        header: RecordHeader {
            seq: 0,
            timestamp,
            pid,
            tid: 0,
            process_start_key: start_key,
        },
        body: Body::ProcessExit(ProcessExit { exit_status }),
    }
}

/// A `HANDLE` that holds a process or thread id, as the id.
///
/// (`ProcessId`, `ParentProcessId`, `CLIENT_ID` members.) Ids are multiples of 4 below 2^32 on Windows; anything
/// larger is reported as `u32::MAX` rather than truncated into another id.
#[must_use]
pub fn id_of(handle: usize) -> u32 {
    u32::try_from(handle).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{decode_batch, BatchFlags, BatchWriter, MAX_NAME_BYTES};

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn round_trip(record: &Record<'_>) -> Vec<u8> {
        let mut out = vec![0u8; 16 * 1024];
        let mut writer = BatchWriter::new(&mut out, BatchFlags::UTF16_NAMES, 0).unwrap();
        writer.push(record).unwrap();
        let len = writer.finish();
        out.truncate(len);
        out
    }

    #[test]
    fn a_start_carries_lineage_and_the_strings_as_bytes() {
        let image = utf16(r"\??\C:\Windows\System32\cmd.exe");
        let command_line = utf16(r#""cmd.exe" /c whoami"#);
        let created = Created {
            pid: 5120,
            start_key: 77,
            parent_pid: 4312,
            parent_start_key: 66,
            creating_pid: 4312,
            creating_tid: 7720,
            session_id: 1,
            image: &image,
            command_line: &command_line,
        };
        let bytes = round_trip(&start_record(&created, 9));
        let batch = decode_batch(&bytes).unwrap();
        let record = batch.records().next().unwrap();
        assert_eq!(record.header.pid, 5120);
        assert_eq!(record.header.process_start_key, 77);
        let Body::ProcessStart(start) = record.body else {
            panic!("{record:?}")
        };
        assert_eq!(start.parent_pid, 4312);
        assert_eq!(start.parent_start_key, 66);
        assert_eq!(start.creating_tid, 7720);
        assert_eq!(start.session_id, 1);
        assert_eq!(start.image.bytes, image.as_slice());
        assert_eq!(start.command_line.bytes, command_line.as_slice());
        assert!(!start.image.truncated && !start.command_line.truncated);
    }

    #[test]
    fn a_long_command_line_is_cut_and_flagged_and_an_odd_one_kept_whole_units() {
        let long = utf16(&"x".repeat(MAX_NAME_BYTES));
        let odd = [0x41u8, 0, 0x42];
        let created = Created {
            image: &odd,
            command_line: &long,
            ..Created::default()
        };
        let bytes = round_trip(&start_record(&created, 0));
        let batch = decode_batch(&bytes).unwrap();
        let Body::ProcessStart(start) = batch.records().next().unwrap().body else {
            panic!("not a start")
        };
        assert_eq!(start.command_line.bytes.len(), MAX_NAME_BYTES);
        assert!(start.command_line.truncated);
        assert_eq!(start.image.bytes, &[0x41, 0]);
        assert!(start.image.truncated);
    }

    #[test]
    fn an_exit_carries_the_status_bit_pattern_and_ids_never_wrap() {
        let bytes = round_trip(&exit_record(8, 3, 0xC000_013A, 1));
        let record = decode_batch(&bytes).unwrap().records().next().unwrap();
        assert_eq!(
            record.body,
            Body::ProcessExit(ProcessExit {
                exit_status: 0xC000_013A
            })
        );
        assert_eq!(id_of(4312), 4312);
        assert_eq!(id_of(usize::MAX), u32::MAX);
    }
}
