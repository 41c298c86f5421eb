//! Plain-Rust decisions of the Windows source, tested on every host.

use std::time::Duration;

/// `HRESULT_FROM_WIN32`.
#[must_use]
pub const fn hresult_from_win32(code: u32) -> i32 {
    if code == 0 {
        0
    } else {
        ((code & 0xFFFF) | 0x8007_0000) as i32
    }
}

/// The Win32 error inside a `FACILITY_WIN32` failure `HRESULT` (`0x8007xxxx`, what
/// `HRESULT_FROM_WIN32` makes), `None` for any other `HRESULT`.
#[must_use]
pub const fn win32_from_hresult(hr: i32) -> Option<u32> {
    let bits = hr as u32;
    if bits & 0xFFFF_0000 == 0x8007_0000 {
        Some(bits & 0xFFFF)
    } else {
        None
    }
}

/// An `HRESULT` as an [`std::io::Error`]: a `FACILITY_WIN32` code becomes its Win32 error (so
/// the message is the system's text for it and `raw_os_error` the Win32 code); any other keeps
/// the `HRESULT`, in hex, in its message. (`from_raw_os_error(hr)` would say "Unknown error
/// -2147…".)
#[must_use]
pub fn hresult_error(hr: i32) -> std::io::Error {
    match win32_from_hresult(hr) {
        // Win32 codes are 16 bits here: the cast cannot wrap.
        Some(code) => std::io::Error::from_raw_os_error(code as i32),
        None => std::io::Error::other(format!("HRESULT {:#010x}", hr as u32)),
    }
}

/// `HRESULT_FROM_NT`.
#[must_use]
pub const fn hresult_from_nt(status: u32) -> i32 {
    (status | 0x1000_0000) as i32
}

const ERROR_FILE_NOT_FOUND: u32 = 2;
const ERROR_PATH_NOT_FOUND: u32 = 3;
const ERROR_ACCESS_DENIED: u32 = 5;
const ERROR_INVALID_PARAMETER: u32 = 87;
const ERROR_REVISION_MISMATCH: u32 = 1306;
const ERROR_CONNECTION_COUNT_LIMIT: u32 = 1238;
const STATUS_REVISION_MISMATCH: u32 = 0xC000_0059;
const STATUS_OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
const STATUS_CONNECTION_COUNT_LIMIT: u32 = 0xC000_0246;

/// Why `FilterConnectCommunicationPort` failed, in the user's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// No such port: the driver is not loaded.
    PortMissing,
    /// Not elevated (the port admits administrators and SYSTEM only).
    AccessDenied,
    /// The driver speaks another protocol major version (or refused our hello).
    VersionMismatch,
    /// Another client is connected (the port takes one).
    Busy,
    /// Anything else.
    Other(i32),
}

impl ConnectFailure {
    /// Classifies an `HRESULT` from `FilterConnectCommunicationPort`. Filter Manager turns
    /// the driver's NTSTATUS into a Win32 error, but both spellings are accepted.
    #[must_use]
    pub const fn from_hresult(hr: i32) -> Self {
        match hr {
            x if x == hresult_from_win32(ERROR_FILE_NOT_FOUND)
                || x == hresult_from_win32(ERROR_PATH_NOT_FOUND)
                || x == hresult_from_nt(STATUS_OBJECT_NAME_NOT_FOUND) =>
            {
                Self::PortMissing
            }
            x if x == hresult_from_win32(ERROR_ACCESS_DENIED) => Self::AccessDenied,
            x if x == hresult_from_win32(ERROR_REVISION_MISMATCH)
                || x == hresult_from_nt(STATUS_REVISION_MISMATCH)
                || x == hresult_from_win32(ERROR_INVALID_PARAMETER) =>
            {
                Self::VersionMismatch
            }
            x if x == hresult_from_win32(ERROR_CONNECTION_COUNT_LIMIT)
                || x == hresult_from_nt(STATUS_CONNECTION_COUNT_LIMIT) =>
            {
                Self::Busy
            }
            other => Self::Other(other),
        }
    }

    /// Whether waiting and retrying can help (the driver may be reloaded, the other client
    /// may exit); a permission or version problem will not go away by itself.
    #[must_use]
    pub const fn is_transient(self) -> bool {
        matches!(self, Self::PortMissing | Self::Busy | Self::Other(_))
    }
}

/// Errors of the Windows source, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// See [`ConnectFailure`].
    #[error("{}", connect_message(*.0, *.1))]
    Connect(ConnectFailure, i32),
    /// A Windows call failed.
    #[error("{call} failed: {source}")]
    Call {
        /// Which call.
        call: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn connect_message(failure: ConnectFailure, hr: i32) -> String {
    let port = picket_protocol::PORT_NAME;
    match failure {
        ConnectFailure::PortMissing => format!(
            "the Picket driver is not loaded (no port {port}, HRESULT {hr:#010x}): load it with `fltmc load picket`"
        ),
        ConnectFailure::AccessDenied => format!(
            "access to {port} denied (HRESULT {hr:#010x}): run picket from an elevated (administrator) prompt"
        ),
        ConnectFailure::VersionMismatch => format!(
            "the driver refused this client's protocol version {}.{} (HRESULT {hr:#010x}): install a driver and client of the same release",
            picket_protocol::PROTOCOL_MAJOR,
            picket_protocol::PROTOCOL_MINOR
        ),
        ConnectFailure::Busy => format!(
            "another client is connected to {port} (HRESULT {hr:#010x}): the driver accepts one at a time"
        ),
        ConnectFailure::Other(_) => {
            format!("cannot connect to {port}: HRESULT {hr:#010x}")
        }
    }
}

impl From<PortError> for picket_model::SourceError {
    fn from(error: PortError) -> Self {
        let text = error.to_string();
        match error {
            PortError::Connect(ConnectFailure::AccessDenied, _) => Self::PermissionDenied(text),
            PortError::Connect(ConnectFailure::VersionMismatch, _) => Self::Incompatible(text),
            PortError::Connect(..) => Self::Unavailable(text),
            PortError::Call { call, source } => Self::Io {
                context: call.to_owned(),
                source,
            },
        }
    }
}

/// Exponential back-off between reconnect attempts: 250 ms doubling to 30 s, reset on
/// success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::MIN }
    }
}

impl Backoff {
    /// First delay.
    pub const MIN: Duration = Duration::from_millis(250);
    /// Longest delay.
    pub const MAX: Duration = Duration::from_secs(30);

    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    /// After a successful connection.
    pub fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

/// `sizeof(FILTER_MESSAGE_HEADER)`: `ReplyLength` (u32), padding, `MessageId` (u64).
pub const MESSAGE_HEADER_LEN: usize = 16;

/// The batch inside a completed `FilterGetMessage` buffer of which `transferred` bytes were
/// filled (Filter Manager's header included). `None` when the count is impossible.
#[must_use]
pub fn message_payload(buffer: &[u8], transferred: usize) -> Option<&[u8]> {
    buffer.get(MESSAGE_HEADER_LEN..transferred)
}

/// What a completed read's byte count covers, judged from the batch's own length field
/// (`total_len`, bytes 16..20 of the batch header, little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionCount {
    /// Filter Manager's header plus the batch: what [`message_payload`] assumes.
    IncludesHeader,
    /// The batch alone: the payload would lose its last [`MESSAGE_HEADER_LEN`] bytes.
    ExcludesHeader,
    /// Neither (no batch header, or a length that matches neither reading).
    Unrecognised,
}

/// Classifies the byte count `transferred` of a completed `FilterGetMessage` whose buffer
/// starts with `message` (header included; only its first 40 bytes are read).
#[must_use]
pub fn completion_count(message: &[u8], transferred: usize) -> CompletionCount {
    const TOTAL_LEN_AT: usize = MESSAGE_HEADER_LEN + 16;
    let total = message
        .get(TOTAL_LEN_AT..TOTAL_LEN_AT + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok());
    match total {
        Some(total) if transferred == MESSAGE_HEADER_LEN + total => CompletionCount::IncludesHeader,
        Some(total) if transferred == total => CompletionCount::ExcludesHeader,
        _ => CompletionCount::Unrecognised,
    }
}

/// The first string of a `REG_MULTI_SZ`-style buffer (`QueryDosDevice` output).
#[must_use]
pub fn first_multi_sz(units: &[u16]) -> String {
    let end = units.iter().position(|u| *u == 0).unwrap_or(units.len());
    picket_parse::text::utf16_text(
        &units
            .get(..end)
            .unwrap_or_default()
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// `text` as a NUL-terminated UTF-16 string for Windows calls.
#[must_use]
pub fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A `FILETIME` (100 ns since 1601) from its halves.
#[must_use]
pub const fn filetime(low: u32, high: u32) -> u64 {
    ((high as u64) << 32) | low as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_connect_failures_with_actionable_messages() {
        let missing = hresult_from_win32(2);
        assert_eq!(missing, 0x8007_0002_u32 as i32);
        assert_eq!(
            ConnectFailure::from_hresult(missing),
            ConnectFailure::PortMissing
        );
        let denied = 0x8007_0005_u32 as i32;
        assert_eq!(
            ConnectFailure::from_hresult(denied),
            ConnectFailure::AccessDenied
        );
        assert_eq!(
            ConnectFailure::from_hresult(hresult_from_win32(1306)),
            ConnectFailure::VersionMismatch
        );
        assert_eq!(
            ConnectFailure::from_hresult(hresult_from_nt(0xC000_0059)),
            ConnectFailure::VersionMismatch
        );
        assert_eq!(
            ConnectFailure::from_hresult(hresult_from_win32(1238)),
            ConnectFailure::Busy
        );
        assert!(ConnectFailure::PortMissing.is_transient());
        assert!(!ConnectFailure::AccessDenied.is_transient());
        let text = PortError::Connect(ConnectFailure::PortMissing, missing).to_string();
        assert!(text.contains("fltmc load"), "{text}");
        let text = PortError::Connect(ConnectFailure::AccessDenied, denied).to_string();
        assert!(text.contains("elevated"), "{text}");
        let source: picket_model::SourceError =
            PortError::Connect(ConnectFailure::AccessDenied, denied).into();
        assert!(matches!(
            source,
            picket_model::SourceError::PermissionDenied(_)
        ));
    }

    #[test]
    fn hresults_unwrap_to_win32_errors_or_keep_their_value() {
        // ERROR_INVALID_FUNCTION (1) as an HRESULT, as FilterGetMessage returns it.
        let error = hresult_error(hresult_from_win32(1));
        assert_eq!(error.raw_os_error(), Some(1));
        let error = hresult_error(0x8007_0241_u32 as i32);
        assert_eq!(error.raw_os_error(), Some(0x241));
        assert_eq!(win32_from_hresult(hresult_from_win32(1238)), Some(1238));
        // Not FACILITY_WIN32: an NTSTATUS-derived HRESULT and E_FAIL keep their value.
        let nt = hresult_from_nt(0xC000_0059);
        assert_eq!(win32_from_hresult(nt), None);
        let error = hresult_error(nt);
        assert_eq!(error.raw_os_error(), None);
        assert_eq!(error.to_string(), "HRESULT 0xd0000059");
        let e_fail = hresult_error(0x8000_4005_u32 as i32);
        assert_eq!(e_fail.to_string(), "HRESULT 0x80004005");
        // A success or warning code is not a Win32 error either.
        assert_eq!(win32_from_hresult(0x0007_0001), None);
    }

    #[test]
    fn completion_counts_are_judged_by_the_batch_length() {
        let mut message = vec![0u8; MESSAGE_HEADER_LEN + 40];
        message[MESSAGE_HEADER_LEN + 16..MESSAGE_HEADER_LEN + 20]
            .copy_from_slice(&40u32.to_le_bytes());
        assert_eq!(
            completion_count(&message, MESSAGE_HEADER_LEN + 40),
            CompletionCount::IncludesHeader
        );
        assert_eq!(
            completion_count(&message, 40),
            CompletionCount::ExcludesHeader
        );
        assert_eq!(
            completion_count(&message, 41),
            CompletionCount::Unrecognised
        );
        assert_eq!(
            completion_count(&message[..MESSAGE_HEADER_LEN + 19], 56),
            CompletionCount::Unrecognised
        );
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert_eq!(*delays.last().unwrap(), Backoff::MAX);
        b.reset();
        assert_eq!(b.next_delay(), Backoff::MIN);
    }

    #[test]
    fn message_framing_and_strings() {
        let buffer = [0u8; 64];
        assert_eq!(message_payload(&buffer, 16).map(<[u8]>::len), Some(0));
        assert_eq!(message_payload(&buffer, 56).map(<[u8]>::len), Some(40));
        assert_eq!(message_payload(&buffer, 8), None);
        assert_eq!(message_payload(&buffer, 65), None);
        let units: Vec<u16> = "\\Device\\HarddiskVolume3\0\\Other\0\0"
            .encode_utf16()
            .collect();
        assert_eq!(first_multi_sz(&units), r"\Device\HarddiskVolume3");
        assert_eq!(wide("C:"), vec![67, 58, 0]);
        assert_eq!(filetime(1, 1), (1 << 32) | 1);
    }
}
