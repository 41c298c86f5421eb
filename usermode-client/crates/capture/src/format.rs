//! The capture file layout. All integers little-endian.
//!
//! ```text
//! file header
//!   0  magic          [u8; 8]  89 'P' 'K' 'C' 'A' 'P' '\r' '\n'
//!   8  version        u16      1
//!  10  reserved       u16      0
//!  12  header_len     u32      bytes of the whole header, magic included
//!  16  started_at     u64      100 ns since 1601-01-01 UTC
//!  24  host_os        u16      0 unknown, 1 Windows, 2 Linux
//!  26  protocol_major u16      protocol version of the recording client
//!  28  protocol_minor u16
//!  30  volume_count   u16
//!  32  hostname       u16 length + UTF-8 bytes
//!      volumes        volume_count × (u16 length + UTF-8 NT device name,
//!                                     u16 length + UTF-8 DOS drive)
//!      (a newer version may append fields: readers skip to header_len)
//! frames, until end of file
//!   0  kind           u16      1 batch, 2 process (unknown kinds are skipped by length)
//!   2  flags          u16      0
//!   4  len            u32      payload bytes (at most MAX_FRAME_LEN)
//!   8  received_at    u64      100 ns since 1601-01-01 UTC, when the client got it
//!  16  payload        [u8; len]
//! batch payload: one protocol batch exactly as the source delivered it
//! process payload: pid u32, flags u32 (bit 0 uid present, bit 1 parent present),
//!   start_key u64, uid u32, parent_pid u32, then image, command line, user, each
//!   u32 length (0xFFFFFFFF = unknown) + UTF-8 bytes
//! ```
//! The volume map travels with the capture because the replaying machine's volumes are not
//! the recording machine's; the process frames because its processes are not either.

use picket_model::{ProcessInfo, ProcessKey, Timestamp};

/// First bytes of every capture file (the PNG trick: a high byte and CR LF catch text-mode
/// transfers).
pub const MAGIC: [u8; 8] = *b"\x89PKCAP\r\n";
/// Format version this build writes and reads.
pub const VERSION: u16 = 1;
/// Fixed part of the header.
pub const FIXED_HEADER_LEN: usize = 32;
/// Largest header accepted.
pub const MAX_HEADER_LEN: u32 = 1 << 20;
/// Frame header length.
pub const FRAME_HEADER_LEN: usize = 16;
/// Largest frame accepted (protocol batches are at most 64 KiB; this leaves room).
pub const MAX_FRAME_LEN: u32 = 16 << 20;

/// Which kind of machine recorded the capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostOs {
    /// Not said.
    #[default]
    Unknown,
    /// Windows (the minifilter).
    Windows,
    /// Linux (fanotify).
    Linux,
}

impl HostOs {
    const fn raw(self) -> u16 {
        match self {
            Self::Unknown => 0,
            Self::Windows => 1,
            Self::Linux => 2,
        }
    }

    const fn from_raw(raw: u16) -> Self {
        match raw {
            1 => Self::Windows,
            2 => Self::Linux,
            _ => Self::Unknown,
        }
    }

    /// The OS this program runs on.
    #[must_use]
    pub const fn current() -> Self {
        if cfg!(windows) {
            Self::Windows
        } else if cfg!(target_os = "linux") {
            Self::Linux
        } else {
            Self::Unknown
        }
    }
}

/// What a capture says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureHeader {
    /// When recording started.
    pub started_at: Timestamp,
    /// Recording machine's OS.
    pub host_os: HostOs,
    /// Recording machine's name.
    pub hostname: String,
    /// Protocol version of the recording client (major, minor).
    pub protocol: (u16, u16),
    /// NT device name → DOS drive, as the recording machine had them.
    pub volumes: Vec<(String, String)>,
}

/// Frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// One protocol batch.
    Batch,
    /// What the recorder knew about a process.
    Process,
    /// A kind this version does not know (skipped).
    Other(u16),
}

impl FrameKind {
    /// Raw tag.
    #[must_use]
    pub const fn raw(self) -> u16 {
        match self {
            Self::Batch => 1,
            Self::Process => 2,
            Self::Other(raw) => raw,
        }
    }

    /// From a raw tag.
    #[must_use]
    pub const fn from_raw(raw: u16) -> Self {
        match raw {
            1 => Self::Batch,
            2 => Self::Process,
            other => Self::Other(other),
        }
    }
}

fn put_str16(out: &mut Vec<u8>, text: &str) {
    // Longer strings are cut at a char boundary: a hostname or device name never is.
    let mut end = text.len().min(usize::from(u16::MAX));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let len = u16::try_from(end).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes().get(..end).unwrap_or_default());
}

/// Encodes a header.
#[must_use]
pub fn encode_header(header: &CaptureHeader) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // header_len, patched below
    out.extend_from_slice(&header.started_at.0.to_le_bytes());
    out.extend_from_slice(&header.host_os.raw().to_le_bytes());
    out.extend_from_slice(&header.protocol.0.to_le_bytes());
    out.extend_from_slice(&header.protocol.1.to_le_bytes());
    let count = u16::try_from(header.volumes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    put_str16(&mut out, &header.hostname);
    for (nt, dos) in header.volumes.iter().take(usize::from(count)) {
        put_str16(&mut out, nt);
        put_str16(&mut out, dos);
    }
    let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[12..16].copy_from_slice(&len.to_le_bytes());
    out
}

/// A little-endian cursor over a byte slice that reports where it ran out.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub(crate) const fn position(&self) -> usize {
        self.at
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str16(&mut self) -> Option<Result<String, std::str::Utf8Error>> {
        let len = usize::from(self.u16()?);
        Some(std::str::from_utf8(self.take(len)?).map(str::to_owned))
    }
}

/// Decodes the header body (everything after the first 16 bytes, up to `header_len`).
///
/// # Errors
/// A reason and the offset (from the file start) of the field at fault.
pub(crate) fn decode_header_body(body: &[u8]) -> Result<CaptureHeader, (u64, String)> {
    let base = 16u64;
    let mut c = Cursor::new(body);
    let at = |c: &Cursor<'_>| base + c.position() as u64;
    let short = |c: &Cursor<'_>| (at(c), "header ends inside a field".to_owned());
    let started_at = Timestamp(c.u64().ok_or_else(|| short(&c))?);
    let host_os = HostOs::from_raw(c.u16().ok_or_else(|| short(&c))?);
    let major = c.u16().ok_or_else(|| short(&c))?;
    let minor = c.u16().ok_or_else(|| short(&c))?;
    let count = c.u16().ok_or_else(|| short(&c))?;
    let string = |c: &mut Cursor<'_>, what: &str| {
        let start = at(c);
        match c.str16() {
            None => Err(short(c)),
            Some(Err(_)) => Err((start, format!("{what} is not UTF-8"))),
            Some(Ok(text)) => Ok(text),
        }
    };
    let hostname = string(&mut c, "hostname")?;
    let mut volumes = Vec::with_capacity(usize::from(count).min(64));
    for _ in 0..count {
        let nt = string(&mut c, "volume device name")?;
        let dos = string(&mut c, "volume drive")?;
        volumes.push((nt, dos));
    }
    Ok(CaptureHeader {
        started_at,
        host_os,
        hostname,
        protocol: (major, minor),
        volumes,
    })
}

const PROCESS_HAS_UID: u32 = 1;
const PROCESS_HAS_PARENT: u32 = 2;
const NO_STRING: u32 = u32::MAX;

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        // Capped so the length can never collide with the "unknown" marker.
        Some(text) => {
            let len = text.len().min(1 << 20);
            let mut end = len;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            out.extend_from_slice(&u32::try_from(end).unwrap_or(0).to_le_bytes());
            out.extend_from_slice(text.as_bytes().get(..end).unwrap_or_default());
        }
        None => out.extend_from_slice(&NO_STRING.to_le_bytes()),
    }
}

/// Encodes a process frame payload.
#[must_use]
pub fn encode_process(info: &ProcessInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    let mut flags = 0;
    if info.uid.is_some() {
        flags |= PROCESS_HAS_UID;
    }
    if info.parent_pid.is_some() {
        flags |= PROCESS_HAS_PARENT;
    }
    out.extend_from_slice(&info.key.pid.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&info.key.start_key.to_le_bytes());
    out.extend_from_slice(&info.uid.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&info.parent_pid.unwrap_or(0).to_le_bytes());
    put_opt_str(&mut out, info.image.as_deref());
    put_opt_str(&mut out, info.command_line.as_deref());
    put_opt_str(&mut out, info.user.as_deref());
    out
}

/// Decodes a process frame payload.
///
/// # Errors
/// What is wrong.
pub fn decode_process(payload: &[u8]) -> Result<ProcessInfo, &'static str> {
    let mut c = Cursor::new(payload);
    let short = "payload ends inside a field";
    let pid = c.u32().ok_or(short)?;
    let flags = c.u32().ok_or(short)?;
    if flags & !(PROCESS_HAS_UID | PROCESS_HAS_PARENT) != 0 {
        return Err("reserved flag bits set");
    }
    let start_key = c.u64().ok_or(short)?;
    let uid = c.u32().ok_or(short)?;
    let parent = c.u32().ok_or(short)?;
    let string = |c: &mut Cursor<'_>| -> Result<Option<String>, &'static str> {
        let len = c.u32().ok_or(short)?;
        if len == NO_STRING {
            return Ok(None);
        }
        let bytes = c
            .take(usize::try_from(len).map_err(|_| short)?)
            .ok_or(short)?;
        std::str::from_utf8(bytes)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| "string is not UTF-8")
    };
    let image = string(&mut c)?;
    let command_line = string(&mut c)?;
    let user = string(&mut c)?;
    if c.position() != payload.len() {
        return Err("bytes after the last field");
    }
    Ok(ProcessInfo {
        key: ProcessKey { pid, start_key },
        image,
        command_line,
        user,
        uid: (flags & PROCESS_HAS_UID != 0).then_some(uid),
        parent_pid: (flags & PROCESS_HAS_PARENT != 0).then_some(parent),
        // Lineage beyond the parent pid travels in the stream's process records.
        ..ProcessInfo::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let header = CaptureHeader {
            started_at: Timestamp(133_000_000_000_000_000),
            host_os: HostOs::Windows,
            hostname: "WIN-TEST".into(),
            protocol: (1, 0),
            volumes: vec![(r"\Device\HarddiskVolume3".into(), "C:".into())],
        };
        let bytes = encode_header(&header);
        assert_eq!(&bytes[..8], &MAGIC);
        let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        assert_eq!(len, bytes.len());
        assert_eq!(decode_header_body(&bytes[16..]).unwrap(), header);
    }

    #[test]
    fn process_round_trips_and_rejects_garbage() {
        let info = ProcessInfo {
            key: ProcessKey {
                pid: 10,
                start_key: 20,
            },
            image: Some("/usr/bin/cp".into()),
            command_line: None,
            user: Some("root".into()),
            uid: Some(0),
            parent_pid: None,
            ..ProcessInfo::default()
        };
        let bytes = encode_process(&info);
        assert_eq!(decode_process(&bytes), Ok(info));
        assert!(decode_process(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode_process(&extra), Err("bytes after the last field"));
    }
}
