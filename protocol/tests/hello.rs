//! The fixed user → kernel messages: every refusal the kernel can make, and, for any bytes,
//! either a refusal or a value that re-encodes to exactly those bytes.

use picket_protocol::{ClientHello, HelloError, Verdict, VerdictReply};
use proptest::prelude::*;

fn put16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn client_hello_refusals() {
    let good = ClientHello { major: 1, minor: 7 }.encode();
    assert_eq!(
        ClientHello::decode(&good),
        Ok(ClientHello { major: 1, minor: 7 })
    );
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(
        ClientHello::decode(&long),
        Err(HelloError::WrongSize {
            expected: 16,
            actual: 17
        })
    );
    let mut bad = good;
    bad[..4].copy_from_slice(b"PKB1");
    assert_eq!(
        ClientHello::decode(&bad),
        Err(HelloError::BadMagic(u32::from_le_bytes(*b"PKB1")))
    );
    let mut bad = good;
    put16(&mut bad, 4, 24);
    assert_eq!(ClientHello::decode(&bad), Err(HelloError::BadSizeField(24)));
    let mut bad = good;
    put16(&mut bad, 6, 2);
    assert_eq!(
        ClientHello::decode(&bad),
        Err(HelloError::UnsupportedMajor(2))
    );
    let mut bad = good;
    put16(&mut bad, 10, 1);
    assert_eq!(ClientHello::decode(&bad), Err(HelloError::ReservedBitsSet));
}

#[test]
fn verdict_reply_refusals() {
    let reply = VerdictReply {
        request_seq: 99,
        verdict: Verdict::Allow,
    };
    let good = reply.encode();
    assert_eq!(VerdictReply::decode(&good), Ok(reply));
    assert_eq!(
        VerdictReply::decode(&good[..16]),
        Err(HelloError::WrongSize {
            expected: 24,
            actual: 16
        })
    );
    let mut bad = good;
    bad[..4].copy_from_slice(b"PKCH");
    assert_eq!(
        VerdictReply::decode(&bad),
        Err(HelloError::BadMagic(u32::from_le_bytes(*b"PKCH")))
    );
    let mut bad = good;
    put16(&mut bad, 4, 16);
    assert_eq!(
        VerdictReply::decode(&bad),
        Err(HelloError::BadSizeField(16))
    );
    let mut bad = good;
    put16(&mut bad, 6, 0);
    assert_eq!(
        VerdictReply::decode(&bad),
        Err(HelloError::UnsupportedMajor(0))
    );
    let mut bad = good;
    bad[15] = 0x80;
    assert_eq!(VerdictReply::decode(&bad), Err(HelloError::ReservedBitsSet));
    let mut bad = good;
    bad[8] = 0;
    assert_eq!(
        VerdictReply::decode(&bad),
        Err(HelloError::UnknownVerdict(0))
    );
}

proptest! {
    #[test]
    fn client_hellos_round_trip(minor in any::<u16>()) {
        let hello = ClientHello { major: 1, minor };
        prop_assert_eq!(ClientHello::decode(&hello.encode()), Ok(hello));
    }

    #[test]
    fn verdict_replies_round_trip(request_seq in any::<u64>(), deny in any::<bool>()) {
        let verdict = if deny { Verdict::Deny } else { Verdict::Allow };
        let reply = VerdictReply { request_seq, verdict };
        prop_assert_eq!(VerdictReply::decode(&reply.encode()), Ok(reply));
    }

    /// Anything the kernel accepts is exactly what the client encoder writes: no byte of a
    /// message is ignored.
    #[test]
    fn accepted_messages_are_canonical(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40),
            (any::<u16>(), any::<u8>(), any::<usize>()).prop_map(|(minor, flip, at)| {
                let mut bytes = ClientHello { major: 1, minor }.encode().to_vec();
                let at = at % bytes.len();
                bytes[at] ^= flip;
                bytes
            }),
            (any::<u64>(), any::<u8>(), any::<usize>()).prop_map(|(seq, flip, at)| {
                let mut bytes = VerdictReply { request_seq: seq, verdict: Verdict::Deny }.encode().to_vec();
                let at = at % bytes.len();
                bytes[at] ^= flip;
                bytes
            }),
        ],
    ) {
        if let Ok(hello) = ClientHello::decode(&bytes) {
            let encoded = hello.encode();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
        }
        if let Ok(reply) = VerdictReply::decode(&bytes) {
            let encoded = reply.encode();
            prop_assert_eq!(encoded.as_slice(), bytes.as_slice());
        }
    }
}
