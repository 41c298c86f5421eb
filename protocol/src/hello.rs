//! The fixed-size messages user mode sends into the kernel. The kernel checks a size, a
//! magic and a version, and copies the few fields out: nothing else is read.

use crate::bytes::{read_u16, read_u32, read_u64, write_u16, write_u32, write_u64};
use crate::layout::{client_hello as ch, verdict_reply as vr};
use crate::{CLIENT_HELLO_MAGIC, PROTOCOL_MAJOR, PROTOCOL_MINOR, VERDICT_REPLY_MAGIC};

const _: () = assert!(ClientHello::SIZE_FIELD as usize == ClientHello::LEN);
const _: () = assert!(VerdictReply::SIZE_FIELD as usize == VerdictReply::LEN);

/// Why the kernel refused a message from user mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloError {
    /// The message is not exactly the expected size.
    WrongSize {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The magic is wrong.
    BadMagic(u32),
    /// The `size` field disagrees with the structure.
    BadSizeField(u16),
    /// The client speaks another major version.
    UnsupportedMajor(u16),
    /// A reserved field is not zero.
    ReservedBitsSet,
    /// The verdict is not one this version defines.
    UnknownVerdict(u32),
}

impl core::fmt::Display for HelloError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::WrongSize { expected, actual } => {
                write!(f, "message of {actual} bytes, expected {expected}")
            }
            Self::BadMagic(magic) => write!(f, "bad magic {magic:#010x}"),
            Self::BadSizeField(size) => write!(f, "size field {size} is wrong"),
            Self::UnsupportedMajor(major) => write!(
                f,
                "client speaks protocol {major}, driver speaks {PROTOCOL_MAJOR}"
            ),
            Self::ReservedBitsSet => f.write_str("reserved field not zero"),
            Self::UnknownVerdict(verdict) => write!(f, "unknown verdict {verdict}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HelloError {}

/// Checks the exact length of a user-mode message and returns it as a fixed array.
#[inline]
fn exact<const N: usize>(bytes: &[u8]) -> Result<[u8; N], HelloError> {
    <[u8; N]>::try_from(bytes).map_err(|_| HelloError::WrongSize {
        expected: N,
        actual: bytes.len(),
    })
}

/// The connection context a client passes to `FilterConnectCommunicationPort`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// Protocol major version the client speaks.
    pub major: u16,
    /// Protocol minor version the client speaks.
    pub minor: u16,
}

impl Default for ClientHello {
    fn default() -> Self {
        Self {
            major: PROTOCOL_MAJOR,
            minor: PROTOCOL_MINOR,
        }
    }
}

impl ClientHello {
    /// Size on the wire.
    pub const LEN: usize = ch::LEN;
    const SIZE_FIELD: u16 = 16;

    /// The bytes to pass as the connection context.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    #[must_use]
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        // Offsets are constants inside the array: these writes cannot miss.
        let _ = write_u32(&mut out, ch::MAGIC, CLIENT_HELLO_MAGIC)
            .and_then(|()| write_u16(&mut out, ch::SIZE, Self::SIZE_FIELD))
            .and_then(|()| write_u16(&mut out, ch::MAJOR, self.major))
            .and_then(|()| write_u16(&mut out, ch::MINOR, self.minor));
        out
    }

    /// Checks a connection context as the driver's connect callback receives it.
    ///
    /// # Errors
    /// A [`HelloError`] for a wrong size, magic, size field, major version or reserved bits.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn decode(bytes: &[u8]) -> Result<Self, HelloError> {
        let bytes: [u8; Self::LEN] = exact(bytes)?;
        let field16 = |at| read_u16(&bytes, at).unwrap_or(u16::MAX);
        let magic = read_u32(&bytes, ch::MAGIC).unwrap_or(0);
        if magic != CLIENT_HELLO_MAGIC {
            return Err(HelloError::BadMagic(magic));
        }
        let size = field16(ch::SIZE);
        if usize::from(size) != Self::LEN {
            return Err(HelloError::BadSizeField(size));
        }
        let major = field16(ch::MAJOR);
        if major != PROTOCOL_MAJOR {
            return Err(HelloError::UnsupportedMajor(major));
        }
        if field16(ch::FLAGS) != 0 || read_u32(&bytes, ch::RESERVED) != Some(0) {
            return Err(HelloError::ReservedBitsSet);
        }
        Ok(Self {
            major,
            minor: field16(ch::MINOR),
        })
    }
}

/// A verdict on a request (reserved for prevention: no driver sends requests yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the operation proceed.
    Allow,
    /// Fail the operation with access denied.
    Deny,
}

impl Verdict {
    const fn raw(self) -> u32 {
        match self {
            Self::Allow => 1,
            Self::Deny => 2,
        }
    }
}

/// User mode's answer to a verdict request, sent with `FilterReplyMessage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictReply {
    /// Sequence number of the request answered.
    pub request_seq: u64,
    /// The answer.
    pub verdict: Verdict,
}

impl VerdictReply {
    /// Size on the wire.
    pub const LEN: usize = vr::LEN;
    const SIZE_FIELD: u16 = 24;

    /// The bytes to send.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    #[must_use]
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        // Offsets are constants inside the array: these writes cannot miss.
        let _ = write_u32(&mut out, vr::MAGIC, VERDICT_REPLY_MAGIC)
            .and_then(|()| write_u16(&mut out, vr::SIZE, Self::SIZE_FIELD))
            .and_then(|()| write_u16(&mut out, vr::MAJOR, PROTOCOL_MAJOR))
            .and_then(|()| write_u32(&mut out, vr::VERDICT, self.verdict.raw()))
            .and_then(|()| write_u64(&mut out, vr::REQUEST_SEQ, self.request_seq));
        out
    }

    /// Checks a reply as the kernel receives it.
    ///
    /// # Errors
    /// A [`HelloError`] for a wrong size, magic, version, verdict or reserved bits.
    #[cfg_attr(feature = "prove-no-panic", no_panic::no_panic)]
    pub fn decode(bytes: &[u8]) -> Result<Self, HelloError> {
        let bytes: [u8; Self::LEN] = exact(bytes)?;
        let magic = read_u32(&bytes, vr::MAGIC).unwrap_or(0);
        if magic != VERDICT_REPLY_MAGIC {
            return Err(HelloError::BadMagic(magic));
        }
        let size = read_u16(&bytes, vr::SIZE).unwrap_or(u16::MAX);
        if usize::from(size) != Self::LEN {
            return Err(HelloError::BadSizeField(size));
        }
        let major = read_u16(&bytes, vr::MAJOR).unwrap_or(u16::MAX);
        if major != PROTOCOL_MAJOR {
            return Err(HelloError::UnsupportedMajor(major));
        }
        if read_u32(&bytes, vr::RESERVED) != Some(0) {
            return Err(HelloError::ReservedBitsSet);
        }
        let verdict = match read_u32(&bytes, vr::VERDICT).unwrap_or(0) {
            1 => Verdict::Allow,
            2 => Verdict::Deny,
            other => return Err(HelloError::UnknownVerdict(other)),
        };
        Ok(Self {
            request_seq: read_u64(&bytes, vr::REQUEST_SEQ).unwrap_or(0),
            verdict,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_round_trips_and_rejects_every_malformation() {
        let bytes = ClientHello::default().encode();
        assert_eq!(ClientHello::decode(&bytes), Ok(ClientHello::default()));
        assert_eq!(
            ClientHello::decode(&bytes[..15]),
            Err(HelloError::WrongSize {
                expected: 16,
                actual: 15
            })
        );
        let mut bad = bytes;
        bad[0] ^= 1;
        assert!(matches!(
            ClientHello::decode(&bad),
            Err(HelloError::BadMagic(_))
        ));
        let mut bad = bytes;
        bad[6] = 2;
        assert_eq!(
            ClientHello::decode(&bad),
            Err(HelloError::UnsupportedMajor(2))
        );
        let mut bad = bytes;
        bad[4] = 17;
        assert_eq!(ClientHello::decode(&bad), Err(HelloError::BadSizeField(17)));
        let mut bad = bytes;
        bad[13] = 1;
        assert_eq!(ClientHello::decode(&bad), Err(HelloError::ReservedBitsSet));
    }

    #[test]
    fn verdict_reply_round_trips_and_rejects_unknown_verdicts() {
        let reply = VerdictReply {
            request_seq: 42,
            verdict: Verdict::Deny,
        };
        let bytes = reply.encode();
        assert_eq!(VerdictReply::decode(&bytes), Ok(reply));
        let mut bad = bytes;
        bad[8] = 9;
        assert_eq!(
            VerdictReply::decode(&bad),
            Err(HelloError::UnknownVerdict(9))
        );
    }
}
