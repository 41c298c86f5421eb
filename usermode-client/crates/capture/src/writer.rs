//! Writing capture files.

use std::io::Write;

use picket_model::{ProcessInfo, Timestamp};

use crate::format::{encode_header, encode_process, CaptureHeader, FrameKind, MAX_FRAME_LEN};
use crate::CaptureError;

/// Writes a capture: the header at creation, then one frame per call.
#[derive(Debug)]
pub struct CaptureWriter<W: Write> {
    out: W,
    offset: u64,
    batches: u64,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the header.
    ///
    /// # Errors
    /// When writing fails.
    pub fn new(mut out: W, header: &CaptureHeader) -> Result<Self, CaptureError> {
        let bytes = encode_header(header);
        out.write_all(&bytes)
            .map_err(|source| CaptureError::Io { offset: 0, source })?;
        Ok(Self {
            out,
            offset: bytes.len() as u64,
            batches: 0,
        })
    }

    fn frame(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
        received_at: Timestamp,
    ) -> Result<(), CaptureError> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|len| *len <= MAX_FRAME_LEN)
            .ok_or(CaptureError::FrameTooLong {
                offset: self.offset,
                len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                max: MAX_FRAME_LEN,
            })?;
        let mut head = [0u8; 16];
        head[0..2].copy_from_slice(&kind.raw().to_le_bytes());
        head[4..8].copy_from_slice(&len.to_le_bytes());
        head[8..16].copy_from_slice(&received_at.0.to_le_bytes());
        let offset = self.offset;
        self.out
            .write_all(&head)
            .and_then(|()| self.out.write_all(payload))
            .map_err(|source| CaptureError::Io { offset, source })?;
        self.offset += 16 + u64::from(len);
        Ok(())
    }

    /// Appends one batch, exactly as received.
    ///
    /// # Errors
    /// When writing fails or the batch is over [`MAX_FRAME_LEN`].
    pub fn write_batch(
        &mut self,
        batch: &[u8],
        received_at: Timestamp,
    ) -> Result<(), CaptureError> {
        self.frame(FrameKind::Batch, batch, received_at)?;
        self.batches += 1;
        Ok(())
    }

    /// Appends what is known about a process (before the first batch that names it).
    ///
    /// # Errors
    /// When writing fails.
    pub fn write_process(
        &mut self,
        info: &ProcessInfo,
        received_at: Timestamp,
    ) -> Result<(), CaptureError> {
        self.frame(FrameKind::Process, &encode_process(info), received_at)
    }

    /// Bytes written so far.
    #[must_use]
    pub const fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Batches written so far.
    #[must_use]
    pub const fn batches_written(&self) -> u64 {
        self.batches
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(mut self) -> Result<W, CaptureError> {
        let offset = self.offset;
        self.out
            .flush()
            .map_err(|source| CaptureError::Io { offset, source })?;
        Ok(self.out)
    }
}
