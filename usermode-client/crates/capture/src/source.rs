//! [`ReplaySource`]: a capture file as a [`BatchSource`].

use std::io::Read;
use std::time::{Duration, Instant};

use picket_model::{BatchSource, ProcessInfo, Pull, SourceError, Timestamp};

use crate::format::{decode_process, FrameKind};
use crate::{CaptureError, CaptureHeader, CaptureReader};

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the pipeline takes batches.
    Max,
    /// At the recorded pace, times a factor (1.0 = as recorded, 2.0 = twice as fast).
    Recorded(f64),
}

/// Longest single sleep, so the caller sees `Idle` and can check for Ctrl-C.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Receives the process frames, in file order, before the batches that follow them.
pub type ProcessSink = Box<dyn FnMut(ProcessInfo)>;

/// Replays a capture's batches, byte for byte.
pub struct ReplaySource<R: Read> {
    reader: CaptureReader<R>,
    label: String,
    pace: Pace,
    processes: Option<ProcessSink>,
    pending: Option<(Vec<u8>, Timestamp)>,
    clock: Option<(Instant, Timestamp)>,
    unknown_frames: u64,
}

impl<R: Read> std::fmt::Debug for ReplaySource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplaySource")
            .field("label", &self.label)
            .field("pace", &self.pace)
            .field("offset", &self.reader.offset())
            .finish_non_exhaustive()
    }
}

impl<R: Read> ReplaySource<R> {
    /// Opens a capture; `label` (the file name) prefixes every error.
    ///
    /// # Errors
    /// When the header is bad.
    pub fn new(input: R, label: impl Into<String>, pace: Pace) -> Result<Self, SourceError> {
        let label = label.into();
        let reader = CaptureReader::new(input).map_err(|e| source_error(&label, e))?;
        Ok(Self {
            reader,
            label,
            pace,
            processes: None,
            pending: None,
            clock: None,
            unknown_frames: 0,
        })
    }

    /// Where to send the process frames.
    #[must_use]
    pub fn with_process_sink(mut self, sink: ProcessSink) -> Self {
        self.processes = Some(sink);
        self
    }

    /// The capture's header.
    #[must_use]
    pub const fn header(&self) -> &CaptureHeader {
        self.reader.header()
    }

    /// Frames of kinds this build does not know, skipped so far.
    #[must_use]
    pub const fn unknown_frames(&self) -> u64 {
        self.unknown_frames
    }

    /// Whether the batch received at `at` is due; sleeps up to [`MAX_SLEEP`] towards it.
    fn due(&mut self, at: Timestamp) -> bool {
        let Pace::Recorded(speed) = self.pace else {
            return true;
        };
        let (start, first) = *self.clock.get_or_insert((Instant::now(), at));
        let ticks = at.0.saturating_sub(first.0);
        let offset = Duration::from_nanos(ticks.saturating_mul(100));
        let offset = if speed > 0.0 && speed.is_finite() {
            offset.div_f64(speed)
        } else {
            offset
        };
        // A recorded gap too large for the clock is not worth waiting for.
        let Some(target) = start.checked_add(offset) else {
            return true;
        };
        let now = Instant::now();
        if now >= target {
            return true;
        }
        std::thread::sleep((target - now).min(MAX_SLEEP));
        Instant::now() >= target
    }
}

fn source_error(label: &str, error: CaptureError) -> SourceError {
    match error {
        CaptureError::Io { offset, source } => SourceError::Io {
            context: format!("{label}: at byte {offset}"),
            source,
        },
        other => SourceError::Malformed(format!("{label}: {other}")),
    }
}

impl<R: Read> BatchSource for ReplaySource<R> {
    fn next_batch(&mut self, buf: &mut Vec<u8>) -> Result<Pull, SourceError> {
        if let Some((bytes, at)) = self.pending.take() {
            if self.due(at) {
                *buf = bytes;
                return Ok(Pull::Batch);
            }
            self.pending = Some((bytes, at));
            return Ok(Pull::Idle);
        }
        loop {
            let Some(frame) = self
                .reader
                .next_frame(buf)
                .map_err(|e| source_error(&self.label, e))?
            else {
                return Ok(Pull::End);
            };
            match frame.kind {
                FrameKind::Batch => {
                    if self.due(frame.received_at) {
                        return Ok(Pull::Batch);
                    }
                    self.pending = Some((std::mem::take(buf), frame.received_at));
                    return Ok(Pull::Idle);
                }
                FrameKind::Process => {
                    let info = decode_process(buf).map_err(|reason| {
                        source_error(
                            &self.label,
                            CaptureError::BadProcessFrame {
                                offset: frame.offset,
                                reason,
                            },
                        )
                    })?;
                    if let Some(sink) = self.processes.as_mut() {
                        sink(info);
                    }
                }
                FrameKind::Other(kind) => {
                    self.unknown_frames += 1;
                    tracing::debug!(kind, offset = frame.offset, "skipping unknown frame kind");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaptureWriter, HostOs};
    use picket_model::ProcessKey;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn capture() -> Vec<u8> {
        let mut w = CaptureWriter::new(
            Vec::new(),
            &CaptureHeader {
                host_os: HostOs::Windows,
                ..CaptureHeader::default()
            },
        )
        .unwrap();
        let info = ProcessInfo {
            key: ProcessKey {
                pid: 1,
                start_key: 2,
            },
            image: Some("x.exe".into()),
            ..ProcessInfo::default()
        };
        w.write_process(&info, Timestamp(0)).unwrap();
        w.write_batch(b"a", Timestamp(0)).unwrap();
        // 50 ms later in the recording.
        w.write_batch(b"b", Timestamp(500_000)).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn yields_batches_and_hands_processes_to_the_sink() {
        let bytes = capture();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sink_seen = seen.clone();
        let mut source = ReplaySource::new(&bytes[..], "t.pkcap", Pace::Max)
            .unwrap()
            .with_process_sink(Box::new(move |info| sink_seen.borrow_mut().push(info)));
        let mut buf = Vec::new();
        assert_eq!(source.next_batch(&mut buf).unwrap(), Pull::Batch);
        assert_eq!(buf, b"a");
        assert_eq!(seen.borrow().len(), 1, "the process frame came first");
        assert_eq!(source.next_batch(&mut buf).unwrap(), Pull::Batch);
        assert_eq!(buf, b"b");
        assert_eq!(source.next_batch(&mut buf).unwrap(), Pull::End);
    }

    #[test]
    fn recorded_pace_waits_for_the_recorded_gap() {
        let bytes = capture();
        let mut source = ReplaySource::new(&bytes[..], "t", Pace::Recorded(1.0)).unwrap();
        let start = Instant::now();
        let mut buf = Vec::new();
        let mut batches = 0;
        while batches < 2 {
            match source.next_batch(&mut buf).unwrap() {
                Pull::Batch => batches += 1,
                Pull::Idle => {}
                Pull::End => panic!("ended early"),
            }
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn errors_name_the_file() {
        let mut bytes = capture();
        bytes.truncate(bytes.len() - 1);
        let mut source = ReplaySource::new(&bytes[..], "cap.pkcap", Pace::Max).unwrap();
        let mut buf = Vec::new();
        source.next_batch(&mut buf).unwrap();
        let err = source.next_batch(&mut buf).unwrap_err().to_string();
        assert!(
            err.contains("cap.pkcap") && err.contains("truncated"),
            "{err}"
        );
    }
}
