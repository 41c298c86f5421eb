//! [`OutputGuard`]: the writer between the emitter and the output file, so that a full disk
//! (or any write error) never stops the sensor and never leaves a half line.
//!
//! - Lines are buffered (64 KiB) and written whole: only complete lines (up to the last
//!   `\n`) ever reach the output. A write of at least that much, of whole lines, with
//!   nothing held before it (how the [`crate::Emitter`] hands its lines over) goes out
//!   from the caller's bytes, without a copy into the buffer; what of it fails is held as
//!   if it had been buffered. When a write fails after part of the buffer went out, the
//!   output is cut back ([`RollBack`]) to the end of the last whole line written, so a
//!   reader never sees a partial JSON line.
//! - On failure the guard says so at once on stderr, keeps the unwritten lines (up to
//!   [`HOLD_LIMIT`]) and retries with back-off (100 ms doubling to 5 s) on later writes and
//!   flushes. Lines that do not fit are dropped and counted by kind (event, alert, notice);
//!   once dropping has started every later line is dropped until the output is writable
//!   again, so the output stays in order.
//! - When a retry succeeds the held lines are written, then an `output_gap` notice line
//!   (`{"picket_notice":"output_gap", "lines", "events", "alerts", "notices", "bytes",
//!   "first_dropped", "last_dropped", "error"}`, times in ms since the Unix epoch) marks
//!   where lines are missing, and stderr says it too.
//! - When the guard is dropped with lines it could not write, stderr says how many.
//! - A reader that went away (`EPIPE`, e.g. `| head`) is not ridden out: `write` and `flush`
//!   return `BrokenPipe`, which ends the run cleanly.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_model::Timestamp;

/// Bytes buffered before a write goes out. Measured on the live sensor (overhead benchmark,
/// 2026-12-05, 52 same-round pairs over three runs): 64 KiB took 2.1 % [0.1, 5.8] less CPU
/// per event than 16 KiB, which wrote four times as often (a write per 13 lines); 256 KiB was
/// no better than 64 KiB (+3.9 % [-3.6, +11.3], 20 pairs). Callgrind's simulated cache had
/// favoured 16 KiB (the buffer stays in the first-level cache); the hardware did not bear
/// that out.
pub const BUFFER: usize = 64 * 1024;
/// Bytes of complete lines held while the output cannot be written.
pub const HOLD_LIMIT: usize = 1 << 20;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// An output that can be cut back to a length after a failed write (a regular file).
pub trait RollBack: Write {
    /// The current write position (where the next byte goes).
    ///
    /// # Errors
    /// When the output has no position (a pipe).
    fn position(&mut self) -> io::Result<u64>;
    /// Truncates the output to `len` bytes and moves the write position there.
    ///
    /// # Errors
    /// When the output cannot be truncated (a pipe): a partial line may then remain.
    fn roll_back(&mut self, len: u64) -> io::Result<()>;
}

impl RollBack for std::fs::File {
    fn position(&mut self) -> io::Result<u64> {
        io::Seek::stream_position(self)
    }

    fn roll_back(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        io::Seek::seek(self, io::SeekFrom::Start(len)).map(drop)
    }
}

/// Any writer without a length to cut back to (stdout to a pipe or terminal).
#[derive(Debug)]
pub struct NoRollBack<W>(pub W);

impl<W: Write> Write for NoRollBack<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> RollBack for NoRollBack<W> {
    fn position(&mut self) -> io::Result<u64> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    fn roll_back(&mut self, _len: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Lines that could not be written, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gap {
    /// Lines dropped.
    pub lines: u64,
    /// Of which event lines.
    pub events: u64,
    /// Of which alert lines.
    pub alerts: u64,
    /// Of which notice lines.
    pub notices: u64,
    /// Bytes dropped.
    pub bytes: u64,
}

impl Gap {
    fn add(&mut self, line: &[u8]) {
        self.lines += 1;
        self.bytes += line.len() as u64;
        match classify(line) {
            LineKind::Notice => self.notices += 1,
            LineKind::Alert => self.alerts += 1,
            LineKind::Event => self.events += 1,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} lines ({} events, {} alerts, {} notices, {} bytes)",
            self.lines, self.events, self.alerts, self.notices, self.bytes
        )
    }
}

enum LineKind {
    Event,
    Alert,
    Notice,
}

/// What a line is, from its text (only dropped lines are looked at: rare, so a scan is fine).
fn classify(line: &[u8]) -> LineKind {
    let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
    if line.starts_with(b"{\"picket_notice\"") {
        LineKind::Notice
    } else if has(b"\"class_uid\":2004") || has(b"\"kind\":\"alert\"") {
        LineKind::Alert
    } else {
        LineKind::Event
    }
}

/// Totals shared with whoever started the run, readable after the guard is gone.
#[derive(Debug, Default)]
pub struct GuardReport {
    dropped_lines: AtomicU64,
    failures: AtomicU64,
}

impl GuardReport {
    /// Lines never written (dropped while the output failed, or unwritten at the end).
    pub fn dropped_lines(&self) -> u64 {
        self.dropped_lines.load(Ordering::Relaxed)
    }

    /// Episodes during which the output could not be written.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Blocked {
    error: String,
    since: Instant,
    next_retry: Instant,
    delay: Duration,
    /// Lines are being dropped (the hold buffer was full): every later line is dropped too.
    dropping: bool,
    first_dropped: Option<Timestamp>,
    last_dropped: Option<Timestamp>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct OutputGuard<W: RollBack> {
    inner: W,
    label: String,
    buf: Vec<u8>,
    /// Where the last complete line written ends (absolute), when the output has positions.
    committed: Option<u64>,
    blocked: Option<Blocked>,
    gap: Gap,
    report: Arc<GuardReport>,
    /// Say things on stderr (off in unit tests).
    stderr: bool,
    /// The reader went away (`| head`): not a failure to ride out, the end of the output.
    closed: bool,
}

impl<W: RollBack> OutputGuard<W> {
    /// Guards `inner`; `label` names it in messages.
    pub fn new(mut inner: W, label: impl Into<String>) -> Self {
        let committed = inner.position().ok();
        Self {
            inner,
            label: label.into(),
            // Room for a full buffer and a line of up to `BUFFER` bytes that fills it: event
            // lines never grow it (a long alert line may, once).
            buf: Vec::with_capacity(2 * BUFFER),
            committed,
            blocked: None,
            gap: Gap::default(),
            report: Arc::new(GuardReport::default()),
            stderr: true,
            closed: false,
        }
    }

    /// No messages on stderr (for tests).
    #[must_use]
    pub fn quiet(mut self) -> Self {
        self.stderr = false;
        self
    }

    /// The shared totals.
    pub fn report(&self) -> Arc<GuardReport> {
        Arc::clone(&self.report)
    }

    /// Lines dropped in the current episode, not yet reported in the output.
    pub const fn gap(&self) -> Gap {
        self.gap
    }

    /// Whether the output is failing now.
    pub const fn is_blocked(&self) -> bool {
        self.blocked.is_some()
    }

    /// The guarded output.
    pub const fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Writes the complete lines of the buffer; on failure enters (or stays in) the blocked
    /// state. Never returns the write error: the guard keeps going.
    fn write_lines(&mut self) {
        let end = match self.buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => return,
        };
        let (done, result) = write_out(&mut self.inner, &self.buf[..end]);
        let whole = last_line_end(&self.buf[..done]);
        if let Some(kept) = self.settle(done, whole, result) {
            // What could not be cut back is out: never write it twice.
            self.buf.drain(..kept);
            if self.blocked.is_some() && kept == end {
                self.resume();
            }
        }
    }

    /// Whole lines written from the caller's bytes, nothing held before them: no copy into
    /// the buffer. What does not go out is held, as a buffered write's would be.
    fn write_through(&mut self, data: &[u8]) {
        let (done, result) = write_out(&mut self.inner, data);
        let whole = last_line_end(&data[..done]);
        if let Some(kept) = self.settle(done, whole, result) {
            self.buf.extend_from_slice(&data[kept..]);
        }
    }

    /// Accounts for a write of whole lines of which `done` bytes went out (the last whole
    /// line among them ending at `whole`), ending with `result`: on failure the output is cut
    /// back to its last whole line, if it can be, and the guard is blocked. Returns how many
    /// of the bytes are out for good, `None` once the reader has gone.
    fn settle(&mut self, done: usize, whole: usize, result: io::Result<()>) -> Option<usize> {
        match result {
            Ok(()) => {
                self.committed = self.committed.map(|c| c + done as u64);
                Some(done)
            }
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                None
            }
            Err(error) => {
                // Keep the whole lines that went out; cut the partial one back.
                let kept = if done == whole {
                    done
                } else if let Some(c) = self.committed {
                    match self.inner.roll_back(c + whole as u64) {
                        Ok(()) => whole,
                        Err(_) => done,
                    }
                } else {
                    done
                };
                self.committed = self.committed.map(|c| c + kept as u64);
                self.fail(&error);
                Some(kept)
            }
        }
    }

    fn fail(&mut self, error: &io::Error) {
        let now = Instant::now();
        match &mut self.blocked {
            Some(b) => {
                b.delay = (b.delay * 2).min(MAX_RETRY);
                b.next_retry = now + b.delay;
            }
            None => {
                self.report.failures.fetch_add(1, Ordering::Relaxed);
                if self.stderr {
                    eprintln!(
                        "picket: cannot write to {}: {error}; still sensing: holding up to {} KiB \
                         of output and retrying; lines beyond that are counted and reported",
                        self.label,
                        HOLD_LIMIT / 1024
                    );
                }
                self.blocked = Some(Blocked {
                    error: error.to_string(),
                    since: now,
                    next_retry: now + FIRST_RETRY,
                    delay: FIRST_RETRY,
                    dropping: false,
                    first_dropped: None,
                    last_dropped: None,
                });
            }
        }
    }

    /// The output took the held lines: report the gap in it and on stderr.
    fn resume(&mut self) {
        let Some(blocked) = self.blocked.take() else {
            return;
        };
        let gap = std::mem::take(&mut self.gap);
        if self.stderr {
            eprintln!(
                "picket: {} is writable again after {:.1} s; {} were not written",
                self.label,
                blocked.since.elapsed().as_secs_f64(),
                gap.describe()
            );
        }
        if gap.lines == 0 {
            return;
        }
        let ms = |t: Option<Timestamp>| t.map(Timestamp::unix_millis);
        let notice = serde_json::json!({
            "picket_notice": "output_gap",
            "time": Timestamp::now().unix_millis(),
            "lines": gap.lines,
            "events": gap.events,
            "alerts": gap.alerts,
            "notices": gap.notices,
            "bytes": gap.bytes,
            "first_dropped": ms(blocked.first_dropped),
            "last_dropped": ms(blocked.last_dropped),
            "error": blocked.error,
        });
        let mut line = notice.to_string().into_bytes();
        line.push(b'\n');
        // Before whatever partial line is buffered (none from the emitter: it writes whole
        // lines), after everything written so far.
        self.buf.splice(0..0, line);
        self.write_lines();
    }

    fn retry_due(&self) -> bool {
        self.blocked
            .as_ref()
            .is_some_and(|b| Instant::now() >= b.next_retry)
    }

    fn drop_line(&mut self, line: &[u8]) {
        let now = Timestamp::now();
        if let Some(b) = &mut self.blocked {
            b.dropping = true;
            b.first_dropped.get_or_insert(now);
            b.last_dropped = Some(now);
        }
        for piece in line.split_inclusive(|&b| b == b'\n') {
            self.gap.add(piece);
            self.report.dropped_lines.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One last attempt, whatever the back-off; what is still unwritten is counted.
    fn finish(&mut self) {
        if self.closed {
            return;
        }
        self.write_lines();
        let _ = self.inner.flush();
        if self.blocked.is_some() {
            let held = std::mem::take(&mut self.buf);
            for line in held.split_inclusive(|&b| b == b'\n') {
                self.gap.add(line);
                self.report.dropped_lines.fetch_add(1, Ordering::Relaxed);
            }
            if self.stderr {
                eprintln!(
                    "picket: {} could not be written to the end: {} were not written",
                    self.label,
                    self.gap.describe()
                );
            }
        }
    }
}

/// Writes `bytes` to `out` until all are out or a write fails (an interrupted one is
/// retried): how many went out, and the error.
fn write_out(out: &mut impl Write, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < bytes.len() {
        match out.write(&bytes[done..]) {
            Ok(0) => return (done, Err(io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, Ok(()))
}

/// Where the last whole line of `bytes` ends (0 when there is none).
fn last_line_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

impl<W: RollBack> Write for OutputGuard<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if self.retry_due() {
            self.write_lines();
        }
        match &self.blocked {
            Some(b) if b.dropping || self.buf.len() + data.len() > HOLD_LIMIT => {
                self.drop_line(data);
            }
            Some(_) => self.buf.extend_from_slice(data),
            // A buffer's worth of whole lines (the emitter hands its lines over so) with
            // nothing held: written from where they are, without a copy into the buffer.
            None if self.buf.is_empty() && data.len() >= BUFFER && data.ends_with(b"\n") => {
                self.write_through(data);
            }
            None => {
                self.buf.extend_from_slice(data);
                if self.buf.len() >= BUFFER {
                    self.write_lines();
                }
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.blocked.is_none() || self.retry_due() {
            self.write_lines();
        }
        if self.blocked.is_none() {
            // A failing flush of the inner writer (nothing buffered there for a file) is
            // treated like a failed write.
            match self.inner.flush() {
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
                Err(error) => self.fail(&error),
                Ok(()) => {}
            }
        }
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(())
    }
}

impl<W: RollBack> Drop for OutputGuard<W> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests;
