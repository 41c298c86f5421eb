//! Builds protocol batches the way the driver (or the fanotify source) would, for tests,
//! the shipped captures, the benchmark and the fuzz seeds. Everything goes through
//! `picket-protocol`'s encoder, so what is built here is what a real source sends.

use picket_protocol::{
    BatchFlags, BatchWriter, Body, CreateDisposition, CreateResult, Delete, DeleteMethod,
    EncodeError, FileCreate, FileOp, FileRef, LinkChange, Name, Record, RecordHeader, SetSize,
    SizeKind, MAX_BATCH_LEN,
};

/// UTF-16LE bytes of `text`, as Windows names travel.
#[must_use]
pub fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// UTF-16LE bytes of raw code units (to build names with unpaired surrogates).
#[must_use]
pub fn utf16_units(units: &[u16]) -> Vec<u8> {
    units.iter().flat_map(|u| u.to_le_bytes()).collect()
}

/// Encodes one batch from `records`.
///
/// # Errors
/// When a record cannot be encoded or the batch exceeds [`MAX_BATCH_LEN`].
pub fn batch(flags: BatchFlags, lost: u64, records: &[Record<'_>]) -> Result<Vec<u8>, EncodeError> {
    let mut buf = vec![0u8; MAX_BATCH_LEN];
    let mut writer = BatchWriter::new(&mut buf, flags, lost)?;
    for record in records {
        writer.push(record)?;
    }
    let len = writer.finish();
    buf.truncate(len);
    Ok(buf)
}

/// A record header.
#[must_use]
pub const fn header(seq: u64, timestamp: u64, pid: u32, start_key: u64) -> RecordHeader {
    RecordHeader {
        seq,
        timestamp,
        pid,
        tid: pid + 1,
        process_start_key: start_key,
    }
}

/// A file reference with a handle id and a file id.
#[must_use]
pub const fn file(handle_id: u64, file_id: u128) -> FileRef {
    FileRef {
        handle_id,
        file_id,
        is_directory: false,
        name_normalized: true,
    }
}

/// A successful create (`FILE_CREATE` → `FILE_CREATED`).
#[must_use]
pub const fn created<'a>(file: FileRef, name: &'a [u8]) -> Body<'a> {
    Body::FileCreate(FileCreate {
        file,
        disposition: CreateDisposition::Create,
        create_options: 0x0000_0060,
        desired_access: 0x0012_019F,
        result: CreateResult::Created,
        name: Name::new(name),
    })
}

/// An open of an existing file.
#[must_use]
pub const fn opened<'a>(file: FileRef, name: &'a [u8]) -> Body<'a> {
    Body::FileCreate(FileCreate {
        file,
        disposition: CreateDisposition::Open,
        create_options: 0x0000_0060,
        desired_access: 0x0012_0089,
        result: CreateResult::Opened,
        name: Name::new(name),
    })
}

/// First write through a handle.
#[must_use]
pub const fn first_write<'a>(file: FileRef, name: &'a [u8]) -> Body<'a> {
    Body::FirstWrite(FileOp {
        file,
        name: Name::new(name),
    })
}

/// Handle closed after modification.
#[must_use]
pub const fn close_modified<'a>(file: FileRef, name: &'a [u8]) -> Body<'a> {
    Body::CloseModified(FileOp {
        file,
        name: Name::new(name),
    })
}

/// Rename `from` → `to`.
#[must_use]
pub const fn rename<'a>(file: FileRef, from: &'a [u8], to: &'a [u8]) -> Body<'a> {
    Body::Rename(LinkChange {
        file,
        flags: 0,
        name: Name::new(from),
        new_name: Name::new(to),
    })
}

/// New hard link `to` for `existing`.
#[must_use]
pub const fn hard_link<'a>(file: FileRef, existing: &'a [u8], to: &'a [u8]) -> Body<'a> {
    Body::HardLink(LinkChange {
        file,
        flags: 0,
        name: Name::new(existing),
        new_name: Name::new(to),
    })
}

/// A confirmed delete.
#[must_use]
pub const fn delete<'a>(file: FileRef, method: DeleteMethod, name: &'a [u8]) -> Body<'a> {
    Body::Delete(Delete {
        file,
        method,
        name: Name::new(name),
    })
}

/// Set end-of-file.
#[must_use]
pub const fn truncate<'a>(file: FileRef, new_size: u64, name: &'a [u8]) -> Body<'a> {
    Body::SetSize(SetSize {
        file,
        new_size,
        kind: SizeKind::EndOfFile,
        name: Name::new(name),
    })
}

/// A stream of realistic Windows file batches for benchmarks: `events` records spread over
/// batches of at most `MAX_BATCH_LEN`, a few dozen processes, paths of typical length.
/// Calls `emit` with each finished batch; nothing is held beyond one batch.
///
/// # Errors
/// When encoding fails (it does not for these records).
pub fn workload_stream(events: u64, mut emit: impl FnMut(&[u8])) -> Result<(), EncodeError> {
    let mut buf = vec![0u8; MAX_BATCH_LEN];
    let names: Vec<Vec<u8>> = (0..512)
        .map(|i| {
            utf16(&format!(
                r"\Device\HarddiskVolume3\Users\analyst\Documents\Project {}\report-{i:04}.docx",
                i % 17
            ))
        })
        .collect();
    let renamed: Vec<Vec<u8>> = (0..512)
        .map(|i| {
            utf16(&format!(
                r"\Device\HarddiskVolume3\Users\analyst\Documents\Project {}\report-{i:04}.docx.bak",
                i % 17
            ))
        })
        .collect();
    let mut seq = 1u64;
    let mut writer = BatchWriter::new(&mut buf, BatchFlags::UTF16_NAMES, 0)?;
    while seq <= events {
        let i = usize::try_from(seq % 512).unwrap_or(0);
        let pid = 1000 + u32::try_from(seq % 37).unwrap_or(0) * 4;
        let f = file(seq, u128::from(seq % 4096));
        let (name, new) = (&names[i], &renamed[i]);
        let body = match seq % 8 {
            0 => created(f, name),
            1 | 2 => opened(f, name),
            3 => first_write(f, name),
            4 => close_modified(f, name),
            5 => rename(f, name, new),
            6 => delete(f, DeleteMethod::Disposition, name),
            _ => truncate(f, 4096, name),
        };
        let record = Record {
            header: header(
                seq,
                133_500_000_000_000_000 + seq * 1000,
                pid,
                u64::from(pid) * 7,
            ),
            body,
        };
        match writer.push(&record) {
            Ok(()) => seq += 1,
            Err(EncodeError::BufferTooSmall { .. }) if !writer.is_empty() => {
                let len = writer.finish();
                emit(&buf[..len]);
                writer = BatchWriter::new(&mut buf, BatchFlags::UTF16_NAMES, 0)?;
            }
            Err(other) => return Err(other),
        }
    }
    if !writer.is_empty() {
        let len = writer.finish();
        emit(&buf[..len]);
    }
    Ok(())
}
