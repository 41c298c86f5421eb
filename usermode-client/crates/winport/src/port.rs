//! The minifilter's communication port as a [`BatchSource`].
//!
//! Several `FilterGetMessage` reads are kept outstanding on an I/O completion port, so the
//! driver's sender thread always finds a waiting buffer even while the client is busy with
//! the previous batch (Microsoft's scanner sample does the same). The port handle is
//! asynchronous (no `FLT_PORT_FLAG_SYNC_HANDLE`). When the driver goes away (unloaded,
//! crashed), reads fail; the source then reconnects with exponential back-off and the
//! pipeline reports the sequence restart or the loss the driver counted meanwhile.

use std::ptr::{addr_of, null, null_mut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use picket_model::{BatchSource, Pull, SourceError};
use picket_protocol::{ClientHello, MAX_BATCH_LEN, PORT_NAME};
use windows_sys::Win32::Foundation::{ERROR_IO_PENDING, WAIT_TIMEOUT};
use windows_sys::Win32::Storage::InstallableFileSystems::{
    FilterConnectCommunicationPort, FilterGetMessage, FILTER_MESSAGE_HEADER,
};
use windows_sys::Win32::System::IO::{
    CancelIoEx, CreateIoCompletionPort, GetQueuedCompletionStatus, OVERLAPPED,
};

use crate::handle::OwnedHandle;
use crate::logic::{
    completion_count, hresult_error, hresult_from_win32, wide, Backoff, CompletionCount,
    ConnectFailure, PortError, MESSAGE_HEADER_LEN,
};

/// Reads kept outstanding.
const READS: usize = 4;
/// How long one wait for a completion lasts before the source reports `Idle`.
const POLL: Duration = Duration::from_millis(200);
/// Bytes per read buffer: Filter Manager's header and the largest batch.
const BUFFER_LEN: usize = MESSAGE_HEADER_LEN + MAX_BATCH_LEN;

/// One outstanding read. Boxed, so its address is stable while the kernel owns it.
#[repr(C)]
struct Read {
    overlapped: OVERLAPPED,
    /// `u64` storage keeps `FILTER_MESSAGE_HEADER` 8-byte aligned.
    buffer: Vec<u64>,
}

impl Read {
    fn new() -> Box<Self> {
        Box::new(Self {
            overlapped: OVERLAPPED::default(),
            buffer: vec![0u64; BUFFER_LEN.div_ceil(8)],
        })
    }

    /// Copies the batch of a completed read of `transferred` bytes into `out`.
    fn payload_into(&self, transferred: usize, out: &mut Vec<u8>) -> Option<()> {
        let len = self.buffer.len() * 8;
        // The bounds of `logic::message_payload`, without materialising the whole buffer.
        if transferred < MESSAGE_HEADER_LEN || transferred > len {
            return None;
        }
        out.clear();
        out.extend(
            self.buffer
                .iter()
                .flat_map(|w| w.to_ne_bytes())
                .take(transferred)
                .skip(MESSAGE_HEADER_LEN),
        );
        Some(())
    }

    /// The first `len` bytes of the buffer (Filter Manager's header, then the batch's).
    fn prefix(&self, len: usize) -> Vec<u8> {
        self.buffer
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .take(len)
            .collect()
    }
}

fn call_error(call: &'static str) -> PortError {
    PortError::Call {
        call,
        source: std::io::Error::last_os_error(),
    }
}

/// A live connection: port, completion port, reads.
struct Connection {
    port: OwnedHandle,
    iocp: OwnedHandle,
    // Boxed on purpose: the kernel holds each OVERLAPPED's address while its read is
    // pending, so it must not move even if the vector ever did.
    #[allow(clippy::vec_box)]
    reads: Vec<Box<Read>>,
    in_flight: usize,
    /// Whether the first message's byte count has been logged (once per connection).
    first_logged: bool,
}

impl Connection {
    fn open() -> Result<Self, PortError> {
        let name = wide(PORT_NAME);
        let hello = ClientHello::default().encode();
        let hello_len = u16::try_from(hello.len()).unwrap_or(u16::MAX);
        let mut raw = null_mut();
        // SAFETY: `name` is NUL-terminated, `hello` is `hello_len` bytes, `raw` is a valid
        // out pointer; all outlive the call. No security attributes.
        let hr = unsafe {
            FilterConnectCommunicationPort(
                name.as_ptr(),
                0,
                hello.as_ptr().cast(),
                hello_len,
                null(),
                &raw mut raw,
            )
        };
        if hr < 0 {
            return Err(PortError::Connect(ConnectFailure::from_hresult(hr), hr));
        }
        let port =
            OwnedHandle::new(raw).ok_or_else(|| call_error("FilterConnectCommunicationPort"))?;
        // SAFETY: `port` is an open handle we own; a null existing port creates a new one.
        let iocp = unsafe { CreateIoCompletionPort(port.raw(), null_mut(), 0, 1) };
        let iocp = OwnedHandle::new(iocp).ok_or_else(|| call_error("CreateIoCompletionPort"))?;
        let mut connection = Self {
            port,
            iocp,
            reads: (0..READS).map(|_| Read::new()).collect(),
            in_flight: 0,
            first_logged: false,
        };
        for index in 0..READS {
            connection.issue(index)?;
        }
        tracing::info!(port = PORT_NAME, reads = READS, "connected to the driver");
        Ok(connection)
    }

    /// Starts read `index`.
    fn issue(&mut self, index: usize) -> Result<(), PortError> {
        let port = self.port.raw();
        let Some(read) = self.reads.get_mut(index) else {
            return Ok(());
        };
        read.overlapped = OVERLAPPED::default();
        let size = u32::try_from(read.buffer.len() * 8).unwrap_or(u32::MAX);
        let message = read.buffer.as_mut_ptr().cast::<FILTER_MESSAGE_HEADER>();
        // SAFETY: the buffer (8-byte aligned, `size` bytes) and the OVERLAPPED live in a box
        // that is neither moved nor freed until this read completes or is cancelled and
        // drained (`Drop`).
        let hr = unsafe { FilterGetMessage(port, message, size, &raw mut read.overlapped) };
        if hr >= 0 || hr == hresult_from_win32(ERROR_IO_PENDING) {
            self.in_flight += 1;
            Ok(())
        } else {
            Err(PortError::Call {
                call: "FilterGetMessage",
                source: hresult_error(hr),
            })
        }
    }

    /// Says once what the completion count of the first message covers: the payload
    /// framing assumes it includes `FILTER_MESSAGE_HEADER`, as the scanner sample does.
    fn log_first_count(&self, index: usize, transferred: usize) {
        let Some(read) = self.reads.get(index) else {
            return;
        };
        let count = completion_count(&read.prefix(MESSAGE_HEADER_LEN + 40), transferred);
        if count == CompletionCount::IncludesHeader {
            tracing::info!(
                transferred,
                header = MESSAGE_HEADER_LEN,
                "first message: the completion count includes FILTER_MESSAGE_HEADER"
            );
        } else {
            tracing::warn!(
                transferred,
                header = MESSAGE_HEADER_LEN,
                ?count,
                "first message: the completion count does not cover header + batch; batches will fail to decode"
            );
        }
    }

    /// Waits up to `timeout` for a batch; `Ok(false)` on timeout.
    fn wait(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> Result<bool, PortError> {
        let (mut bytes, mut key, mut overlapped) = (0u32, 0usize, null_mut::<OVERLAPPED>());
        let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: the out pointers are valid locals; `iocp` is open.
        let ok = unsafe {
            GetQueuedCompletionStatus(
                self.iocp.raw(),
                &raw mut bytes,
                &raw mut key,
                &raw mut overlapped,
                millis,
            )
        };
        if overlapped.is_null() {
            let error = std::io::Error::last_os_error();
            return if error.raw_os_error() == i32::try_from(WAIT_TIMEOUT).ok() {
                Ok(false)
            } else {
                Err(PortError::Call {
                    call: "GetQueuedCompletionStatus",
                    source: error,
                })
            };
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(index) = self
            .reads
            .iter()
            .position(|r| addr_of!(r.overlapped) == overlapped.cast_const())
        else {
            return Ok(false);
        };
        if ok == 0 {
            // The read failed: the driver closed the port (unload) or went away.
            return Err(call_error("FilterGetMessage"));
        }
        let bytes = usize::try_from(bytes).unwrap_or(0);
        if !self.first_logged {
            self.first_logged = true;
            self.log_first_count(index, bytes);
        }
        self.reads
            .get(index)
            .and_then(|read| read.payload_into(bytes, buf))
            .ok_or_else(|| PortError::Call {
                call: "FilterGetMessage",
                source: std::io::Error::other(format!("impossible message length {bytes}")),
            })?;
        self.issue(index)?;
        Ok(true)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: `port` is open; a null OVERLAPPED cancels every read this process has on it.
        unsafe { CancelIoEx(self.port.raw(), null()) };
        // The kernel may write into a buffer until its cancelled read completes: wait for
        // each, and if one never does, leak the buffers rather than free memory in use.
        let mut waits = 0;
        while self.in_flight > 0 && waits < READS * 2 {
            waits += 1;
            let (mut bytes, mut key, mut overlapped) = (0u32, 0usize, null_mut::<OVERLAPPED>());
            // SAFETY: the out pointers are valid locals; `iocp` is open.
            unsafe {
                GetQueuedCompletionStatus(
                    self.iocp.raw(),
                    &raw mut bytes,
                    &raw mut key,
                    &raw mut overlapped,
                    1000,
                )
            };
            if !overlapped.is_null() {
                self.in_flight -= 1;
            }
        }
        if self.in_flight > 0 {
            tracing::warn!(
                reads = self.in_flight,
                "reads not drained at close; leaking their buffers"
            );
            std::mem::forget(std::mem::take(&mut self.reads));
        }
    }
}

/// Batches from the Picket minifilter.
pub struct PortSource {
    connection: Option<Connection>,
    stop: &'static AtomicBool,
    backoff: Backoff,
    retry_at: Instant,
}

impl std::fmt::Debug for PortSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortSource")
            .field("connected", &self.connection.is_some())
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl PortSource {
    /// Connects to the driver's port. `stop` (set on Ctrl-C) ends reconnection attempts.
    ///
    /// # Errors
    /// Driver not loaded, not elevated, protocol version refused, port busy — each with what
    /// to do about it.
    pub fn connect(stop: &'static AtomicBool) -> Result<Self, PortError> {
        Ok(Self {
            connection: Some(Connection::open()?),
            stop,
            backoff: Backoff::default(),
            retry_at: Instant::now(),
        })
    }

    fn reconnect(&mut self) -> Result<Pull, SourceError> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(Pull::End);
        }
        let now = Instant::now();
        if now < self.retry_at {
            std::thread::sleep((self.retry_at - now).min(POLL));
            return Ok(Pull::Idle);
        }
        match Connection::open() {
            Ok(connection) => {
                self.connection = Some(connection);
                self.backoff.reset();
                tracing::warn!("reconnected to the driver");
                Ok(Pull::Idle)
            }
            Err(PortError::Connect(failure, hr)) if failure.is_transient() => {
                let delay = self.backoff.next_delay();
                tracing::info!(?failure, hr, ?delay, "driver not reachable; retrying");
                self.retry_at = Instant::now() + delay;
                Ok(Pull::Idle)
            }
            Err(other) => Err(other.into()),
        }
    }
}

impl BatchSource for PortSource {
    fn next_batch(&mut self, buf: &mut Vec<u8>) -> Result<Pull, SourceError> {
        let Some(connection) = self.connection.as_mut() else {
            return self.reconnect();
        };
        match connection.wait(buf, POLL) {
            Ok(true) => Ok(Pull::Batch),
            Ok(false) => Ok(Pull::Idle),
            Err(error) => {
                tracing::warn!(%error, "lost the driver's port; reconnecting with back-off");
                self.connection = None;
                self.retry_at = Instant::now() + self.backoff.next_delay();
                Ok(Pull::Idle)
            }
        }
    }
}
