//! Measures of a byte slice: entropy, text-likeness, randomness, ransom-note wording.

/// Shannon entropy in bits per byte (0–8); `None` for no bytes.
#[must_use]
pub fn shannon(bytes: &[u8]) -> Option<f64> {
    if bytes.is_empty() {
        return None;
    }
    let mut counts = [0_u32; 256];
    for &b in bytes {
        counts[usize::from(b)] = counts[usize::from(b)].saturating_add(1);
    }
    #[allow(clippy::cast_precision_loss)]
    let n = bytes.len() as f64;
    Some(
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / n;
                -p * p.log2()
            })
            .sum(),
    )
}

/// Bytes that never occur in text: C0 controls other than tab, newlines, form feed and escape,
/// and DEL.
const fn is_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F)
}

/// Text: UTF-8 (a sequence cut by the sample's end is fine) or a single-byte encoding, with
/// almost no control bytes; UTF-16 with a byte order mark. Random bytes hold ~12 % control
/// bytes, so even text with every other block encrypted fails.
#[must_use]
pub fn is_text(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return true;
    }
    let controls = bytes.iter().filter(|&&b| is_control(b)).count();
    // At most 1 % control bytes (and none in a short sample).
    if controls.saturating_mul(100) > bytes.len() {
        return false;
    }
    let utf8 = match std::str::from_utf8(bytes) {
        Ok(_) => true,
        // Only a sequence cut at the very end of the sample.
        Err(e) => e.error_len().is_none(),
    };
    if utf8 {
        return true;
    }
    // Latin-1 / Windows-1252 text: mostly ASCII.
    let high = bytes.iter().filter(|&&b| b >= 0x80).count();
    high.saturating_mul(100) <= bytes.len().saturating_mul(30)
}

/// Near-maximal entropy for the sample's length: what encryption (and compression) produce.
/// The bound scales with the length because `n` bytes can show at most `log2(n)` bits each.
#[must_use]
pub fn looks_random(bytes: &[u8]) -> bool {
    if bytes.len() < 64 {
        return false;
    }
    let Some(h) = shannon(bytes) else {
        return false;
    };
    #[allow(clippy::cast_precision_loss)]
    let max = (bytes.len() as f64).log2().min(8.0);
    h >= 0.88 * max
}

/// One long base64 or hex blob (at least 256 bytes, at most 1 % other bytes, line breaks
/// allowed): how encrypted bytes look when written out as text. Prose, code, CSV and PEM
/// (whose `-----BEGIN` line is other bytes, but is short) are far from it: they hold spaces
/// and punctuation.
#[must_use]
pub fn is_encoded_blob(bytes: &[u8]) -> bool {
    if bytes.len() < 256 {
        return false;
    }
    let body: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\n' | b'\r'))
        .collect();
    let other = |ok: fn(u8) -> bool| body.iter().filter(|&&b| !ok(b)).count();
    let few = |n: usize| n.saturating_mul(100) <= body.len();
    let base64 =
        other(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    let hex = other(|b| b.is_ascii_hexdigit());
    let entropy = shannon(&body).unwrap_or(0.0);
    (few(base64) && entropy >= 5.5) || (few(hex) && entropy >= 3.8)
}

/// Words about encryption in a ransom note.
const CRYPTO_WORDS: &[&str] = &["encrypt", "decrypt", "crypt", "private key", "locked"];

/// Words about extortion in a ransom note.
const EXTORTION_WORDS: &[&str] = &[
    "bitcoin",
    "btc",
    "monero",
    "xmr",
    "wallet",
    "payment",
    "pay ",
    "ransom",
    "tor browser",
    ".onion",
    "price",
    "deadline",
    "contact us",
    "email us",
    "write to us",
    "do not rename",
    "do not modify",
    "do not try",
    "recover your",
    "restore your",
    "your files",
    "your data",
    "your network",
    "leak",
    "publish",
    "unique id",
    "personal id",
    "decryption tool",
    "decryptor",
    "hours",
];

/// How much `text` reads like a ransom note: (distinct encryption words, distinct extortion
/// words), case-insensitive.
#[must_use]
pub fn note_words(text: &[u8]) -> (u8, u8) {
    let lower: String = String::from_utf8_lossy(text).to_lowercase();
    let count = |words: &[&str]| {
        u8::try_from(words.iter().filter(|w| lower.contains(*w)).count()).unwrap_or(u8::MAX)
    };
    (count(CRYPTO_WORDS), count(EXTORTION_WORDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize) -> Vec<u8> {
        crate::testing::xorshift_bytes(n, 0x9E37_79B9_7F4A_7C15)
    }

    #[test]
    fn entropy_of_known_inputs() {
        assert_eq!(shannon(b""), None);
        assert!(shannon(b"aaaa").unwrap().abs() < 1e-9);
        assert!((shannon(b"abab").unwrap() - 1.0).abs() < 1e-9);
        let all: Vec<u8> = (0..=255).collect();
        assert!((shannon(&all).unwrap() - 8.0).abs() < 1e-9);
    }

    #[test]
    fn text_in_several_encodings_is_text_and_random_is_not() {
        assert!(is_text(b"plain ascii\nwith lines\n"));
        assert!(is_text(
            "d\u{e9}j\u{e0} vu \u{2014} \u{65e5}\u{672c}".as_bytes()
        ));
        assert!(is_text(
            b"caf\xE9 cr\xE8me br\xFBl\xE9e, na\xEFve fa\xE7ade"
        ));
        assert!(is_text(b"\xFF\xFEh\x00i\x00"));
        assert!(!is_text(&random(4096)));
        assert!(!is_text(b"ELF\x00\x01\x02\x03 binary"));
        // Every other 16-byte block of a text encrypted: no longer text.
        let text = b"The quick brown fox jumps over the lazy dog. ".repeat(100);
        let noise = random(text.len());
        let mixed: Vec<u8> = text
            .iter()
            .zip(&noise)
            .enumerate()
            .map(|(i, (&t, &r))| if (i / 16) % 2 == 0 { t } else { r })
            .collect();
        assert!(!is_text(&mixed));
    }

    #[test]
    fn randomness_scales_with_the_sample_length() {
        assert!(looks_random(&random(4096)));
        assert!(looks_random(&random(256)));
        assert!(looks_random(&random(64)));
        assert!(!looks_random(&random(63)), "too short to tell");
        assert!(!looks_random(&b"Lorem ipsum dolor sit amet. ".repeat(100)));
    }

    #[test]
    fn encoded_blobs_are_not_prose() {
        let b64: Vec<u8> = random(3000)
            .iter()
            .map(|b| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [usize::from(b % 64)]
            })
            .collect();
        assert!(is_encoded_blob(&b64));
        assert!(!is_encoded_blob(
            &b"Lorem ipsum dolor sit amet, consectetur. ".repeat(30)
        ));
        assert!(
            !is_encoded_blob(&b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n".repeat(30)),
            "low entropy"
        );
        assert!(!is_encoded_blob(b"c0ffee"), "too short");
    }

    #[test]
    fn ransom_notes_use_both_vocabularies() {
        let note = b"All your files are ENCRYPTED. To decrypt them pay 0.1 Bitcoin to the wallet below within 72 hours.";
        let (crypto, extortion) = note_words(note);
        assert!(crypto >= 2 && extortion >= 3, "{crypto} {extortion}");
        let readme = b"This library can encrypt and decrypt data with AES. See INSTALL.";
        let (crypto, extortion) = note_words(readme);
        assert!(crypto >= 1 && extortion == 0, "{crypto} {extortion}");
    }
}
