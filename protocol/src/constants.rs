//! Sizes, magics and versions of the wire format.

/// Major version: a client refuses a batch of another major version.
pub const PROTOCOL_MAJOR: u16 = 1;
/// Minor version: additions only (new record kinds, fields appended to a kind's fixed part,
/// a longer batch header). A client of an older minor skips what it does not know by length.
pub const PROTOCOL_MINOR: u16 = 1;

/// `"PKB1"` read as a little-endian `u32`: the first four bytes of every batch.
pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"PKB1");
/// `"PKCH"`: the first four bytes of the client hello (user → kernel connection context).
pub const CLIENT_HELLO_MAGIC: u32 = u32::from_le_bytes(*b"PKCH");
/// `"PKVR"`: the first four bytes of a verdict reply (user → kernel, reserved for prevention).
pub const VERDICT_REPLY_MAGIC: u32 = u32::from_le_bytes(*b"PKVR");

/// Length of the batch header written by this version.
pub const BATCH_HEADER_LEN: usize = 40;
/// Length of the common record header.
pub const RECORD_HEADER_LEN: usize = 48;
/// Records start, and end, on this alignment inside a batch.
pub const RECORD_ALIGN: usize = 8;

/// Longest name carried in a record, in bytes (1024 UTF-16 code units). Longer names are cut
/// to this length and flagged truncated; never dropped.
pub const MAX_NAME_BYTES: usize = 2048;
/// Longest fixed part of any record kind this version writes.
pub const MAX_FIXED_LEN: usize = 64;
/// Longest record this version writes: header, largest fixed part, two names, padding.
pub const MAX_RECORD_LEN: usize = RECORD_HEADER_LEN + MAX_FIXED_LEN + 2 * MAX_NAME_BYTES;
/// Longest batch the driver sends in one `FltSendMessage`; the client's receive buffers are
/// this large (plus Filter Manager's message header).
pub const MAX_BATCH_LEN: usize = 64 * 1024;

/// Name of the Filter Manager communication port.
pub const PORT_NAME: &str = "\\PicketPort";
/// Batch header length as written in the header's `header_len` field.
pub(crate) const BATCH_HEADER_LEN_U16: u16 = 40;
const _: () = assert!(BATCH_HEADER_LEN_U16 as usize == BATCH_HEADER_LEN);

/// [`PORT_NAME`] as UTF-16 code units, without a terminator, for `UNICODE_STRING`s.
pub const PORT_NAME_UTF16: [u16; 11] = utf16_ascii(PORT_NAME);

/// Encodes an ASCII string as UTF-16 at compile time.
// Only ever evaluated in a `const` item: an index out of bounds would fail the build, so no
// panic path exists at run time.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn utf16_ascii<const N: usize>(text: &str) -> [u16; N] {
    let bytes = text.as_bytes();
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N && i < bytes.len() {
        out[i] = bytes[i] as u16;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_name_utf16_matches_the_text() {
        let decoded = std::string::String::from_utf16(&PORT_NAME_UTF16).unwrap();
        assert_eq!(decoded, PORT_NAME);
    }

    #[test]
    fn magics_read_as_their_ascii_tags() {
        assert_eq!(&BATCH_MAGIC.to_le_bytes(), b"PKB1");
        assert_eq!(&CLIENT_HELLO_MAGIC.to_le_bytes(), b"PKCH");
    }
}
