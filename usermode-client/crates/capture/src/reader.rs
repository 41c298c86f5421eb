//! Reading capture files: streaming, one frame at a time, every error with its offset.

use std::io::{ErrorKind, Read};

use picket_model::Timestamp;

use crate::format::{
    decode_header_body, CaptureHeader, FrameKind, FRAME_HEADER_LEN, MAGIC, MAX_FRAME_LEN,
    MAX_HEADER_LEN, VERSION,
};
use crate::CaptureError;

/// One frame: its kind, when it was received, where it starts. The payload is in the
/// caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// What the payload is.
    pub kind: FrameKind,
    /// When the recording client received it.
    pub received_at: Timestamp,
    /// Offset of the frame header in the file.
    pub offset: u64,
}

/// Reads a capture frame by frame; memory use is one frame, whatever the file size.
#[derive(Debug)]
pub struct CaptureReader<R: Read> {
    input: R,
    header: CaptureHeader,
    offset: u64,
}

/// Reads exactly `buf.len()` bytes; `Ok(n)` with `n < len` at end of file.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> CaptureReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// Not a capture, another version, a truncated or inconsistent header.
    pub fn new(mut input: R) -> Result<Self, CaptureError> {
        let mut fixed = [0u8; 16];
        let got = read_full(&mut input, &mut fixed)
            .map_err(|source| CaptureError::Io { offset: 0, source })?;
        let magic: [u8; 8] = fixed[..8].try_into().unwrap_or_default();
        if got >= 8 && magic != MAGIC || got < 8 && fixed[..got] != MAGIC[..got] {
            return Err(CaptureError::BadMagic { found: magic });
        }
        if got < 16 {
            return Err(CaptureError::Truncated {
                offset: 0,
                what: "file header",
                needed: 16,
                available: got as u64,
            });
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Err(CaptureError::UnsupportedVersion(version));
        }
        let header_len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
        if !(32..=MAX_HEADER_LEN).contains(&header_len) {
            return Err(CaptureError::BadHeader {
                offset: 12,
                reason: format!("header length {header_len} outside 32..={MAX_HEADER_LEN}"),
            });
        }
        let mut body = vec![0u8; header_len as usize - 16];
        let got = read_full(&mut input, &mut body)
            .map_err(|source| CaptureError::Io { offset: 16, source })?;
        if got < body.len() {
            return Err(CaptureError::Truncated {
                offset: 0,
                what: "file header",
                needed: u64::from(header_len),
                available: 16 + got as u64,
            });
        }
        let header = decode_header_body(&body)
            .map_err(|(offset, reason)| CaptureError::BadHeader { offset, reason })?;
        Ok(Self {
            input,
            header,
            offset: u64::from(header_len),
        })
    }

    /// The file header.
    #[must_use]
    pub const fn header(&self) -> &CaptureHeader {
        &self.header
    }

    /// Offset of the next frame.
    #[must_use]
    pub const fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next frame's payload into `buf` (replacing its contents). `Ok(None)` at a
    /// clean end of file.
    ///
    /// # Errors
    /// A truncated frame, an impossible length, or an I/O error, with the frame's offset.
    pub fn next_frame(&mut self, buf: &mut Vec<u8>) -> Result<Option<Frame>, CaptureError> {
        let offset = self.offset;
        let mut head = [0u8; FRAME_HEADER_LEN];
        let got = read_full(&mut self.input, &mut head)
            .map_err(|source| CaptureError::Io { offset, source })?;
        if got == 0 {
            return Ok(None);
        }
        if got < FRAME_HEADER_LEN {
            return Err(CaptureError::Truncated {
                offset,
                what: "frame header",
                needed: FRAME_HEADER_LEN as u64,
                available: got as u64,
            });
        }
        let kind = FrameKind::from_raw(u16::from_le_bytes([head[0], head[1]]));
        let flags = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let received_at = Timestamp(u64::from_le_bytes(
            head[8..16].try_into().unwrap_or_default(),
        ));
        if len > MAX_FRAME_LEN {
            return Err(CaptureError::FrameTooLong {
                offset,
                len,
                max: MAX_FRAME_LEN,
            });
        }
        if flags != 0 {
            return Err(CaptureError::BadHeader {
                offset: offset + 2,
                reason: format!("frame flags {flags:#06x} are reserved"),
            });
        }
        buf.clear();
        buf.resize(len as usize, 0);
        let got = read_full(&mut self.input, buf)
            .map_err(|source| CaptureError::Io { offset, source })?;
        if got < buf.len() {
            buf.truncate(got);
            return Err(CaptureError::Truncated {
                offset,
                what: "frame payload",
                needed: u64::from(len),
                available: got as u64,
            });
        }
        self.offset += FRAME_HEADER_LEN as u64 + u64::from(len);
        Ok(Some(Frame {
            kind,
            received_at,
            offset,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaptureWriter, HostOs};

    fn capture() -> Vec<u8> {
        let header = CaptureHeader {
            host_os: HostOs::Linux,
            hostname: "h".into(),
            protocol: (1, 0),
            ..CaptureHeader::default()
        };
        let mut w = CaptureWriter::new(Vec::new(), &header).unwrap();
        w.write_batch(b"first", Timestamp(1)).unwrap();
        w.write_batch(b"", Timestamp(2)).unwrap();
        w.write_batch(b"third!", Timestamp(3)).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn frames_come_back_byte_for_byte() {
        let bytes = capture();
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().hostname, "h");
        let mut buf = Vec::new();
        let mut seen = Vec::new();
        while let Some(frame) = r.next_frame(&mut buf).unwrap() {
            assert_eq!(frame.kind, FrameKind::Batch);
            seen.push((buf.clone(), frame.received_at));
        }
        assert_eq!(
            seen,
            vec![
                (b"first".to_vec(), Timestamp(1)),
                (Vec::new(), Timestamp(2)),
                (b"third!".to_vec(), Timestamp(3)),
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error_naming_the_offset() {
        let bytes = capture();
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        for cut in 0..bytes.len() {
            let result = CaptureReader::new(&bytes[..cut]).and_then(|mut r| {
                let mut buf = Vec::new();
                while r.next_frame(&mut buf)?.is_some() {}
                Ok(())
            });
            let frame_boundaries = [header_len, header_len + 21, header_len + 37];
            if frame_boundaries.contains(&cut) {
                assert!(
                    result.is_ok(),
                    "cut at a frame boundary {cut} is a clean end"
                );
            } else {
                let error = result.expect_err("a cut inside a structure is an error");
                assert!(error.to_string().contains("at byte") || cut < 16, "{error}");
            }
        }
    }

    #[test]
    fn rejects_other_files_and_versions() {
        let err = CaptureReader::new(&b"{\"json\": true}xxxxxxxxxxxxxxxxxxxxxxxx"[..]).unwrap_err();
        assert!(matches!(err, CaptureError::BadMagic { .. }), "{err}");
        let mut bytes = capture();
        bytes[8] = 9;
        assert!(matches!(
            CaptureReader::new(&bytes[..]).unwrap_err(),
            CaptureError::UnsupportedVersion(9)
        ));
        let mut bytes = capture();
        let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        bytes[len + 4..len + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        let err = r.next_frame(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, CaptureError::FrameTooLong { offset, .. } if offset == len as u64));
    }
}
