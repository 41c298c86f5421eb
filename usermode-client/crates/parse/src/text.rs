//! Lossless conversion of kernel names to text.
//!
//! Names are not guaranteed to be valid Unicode: Windows names are UTF-16 that may contain
//! unpaired surrogates, Linux names are arbitrary bytes. Replacing the bad parts with U+FFFD
//! would make two different files look alike (and let an attacker hide one), so they are
//! escaped instead, reversibly:
//!
//! - an unpaired UTF-16 surrogate becomes `\u{DXXX}` (four upper-case hex digits);
//! - a byte that is not part of valid UTF-8 becomes `\xNN` (two upper-case hex digits);
//! - a literal backslash that would otherwise read as one of those escapes (or as the escaped
//!   backslash itself, `\u{005C}` / `\x5C`) is written `\u{005C}` (UTF-16) or `\x5C` (bytes).
//!
//! Everything else, including every ordinary path separator, is copied as is, so valid names
//! read exactly as the user wrote them. [`unescape_utf16`] and [`unescape_posix`] invert the
//! conversion (tests prove the round trip on arbitrary input).

use std::fmt::Write as _;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(unit: u32) -> Option<u32> {
    match unit {
        0x30..=0x39 => Some(unit - 0x30),
        0x41..=0x46 => Some(unit - 0x41 + 10),
        _ => None,
    }
}

/// Parses `u{XXXX}` at the start of `rest` (the code units after a backslash), in the exact
/// form [`utf16_to_text`] writes: XXXX is a surrogate (D800–DFFF) or 005C.
fn parse_utf16_escape(mut rest: impl Iterator<Item = u16>) -> Option<u16> {
    let mut expect = |want: u8| (rest.next()? == u16::from(want)).then_some(());
    expect(b'u')?;
    expect(b'{')?;
    let mut value = 0u32;
    for _ in 0..4 {
        value = value * 16 + hex_value(u32::from(rest.next()?))?;
    }
    (rest.next()? == u16::from(b'}')).then_some(())?;
    let value = u16::try_from(value).ok()?;
    ((0xD800..=0xDFFF).contains(&value) || value == 0x5C).then_some(value)
}

/// The code unit an escape stands for, when `rest` (the text right after a backslash) starts
/// with one as [`utf16_to_text`] writes it: `u{DXXX}` (a lone surrogate) or `u{005C}` (a
/// literal backslash).
#[must_use]
pub fn utf16_escape_after_backslash(rest: &str) -> Option<u16> {
    parse_utf16_escape(rest.bytes().take(7).map(u16::from))
}

/// UTF-16LE code units of `bytes` from unit `from` on (a trailing odd byte is ignored).
fn units_from(bytes: &[u8], from: usize) -> impl Iterator<Item = u16> + '_ {
    bytes
        .get(from.saturating_mul(2)..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
}

fn push_unit_escape(out: &mut String, unit: u16) {
    let _ = write!(out, "\\u{{{unit:04X}}}");
}

/// Appends UTF-16LE `bytes` to `out` as lossless text (see the module docs). An odd trailing
/// byte (the decoder rejects those, so it cannot happen for a validated record) is escaped as
/// `\xNN` rather than dropped.
pub fn utf16_to_text(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() / 2);
    let odd = bytes.chunks_exact(2).remainder().first().copied();
    let mut units = units_from(bytes, 0).enumerate().peekable();
    while let Some((index, unit)) = units.next() {
        if unit < 0x80 {
            // ASCII: the common case, one push; only a backslash needs a look-ahead.
            if unit == u16::from(b'\\')
                && parse_utf16_escape(units_from(bytes, index + 1)).is_some()
            {
                push_unit_escape(out, 0x5C);
            } else {
                out.push(char::from(u8::try_from(unit).unwrap_or(b'?')));
            }
            continue;
        }
        if (0xD800..0xDC00).contains(&unit) {
            if let Some(&(_, low)) = units.peek() {
                let high = u32::from(unit - 0xD800);
                let pair = (0xDC00..0xE000)
                    .contains(&low)
                    .then(|| char::from_u32(0x10000 + (high << 10) + u32::from(low - 0xDC00)));
                if let Some(Some(ch)) = pair {
                    units.next();
                    out.push(ch);
                    continue;
                }
            }
            push_unit_escape(out, unit);
        } else if (0xDC00..0xE000).contains(&unit) {
            push_unit_escape(out, unit);
        } else {
            // Not a surrogate: always a valid scalar value.
            match char::from_u32(u32::from(unit)) {
                Some(ch) => out.push(ch),
                None => push_unit_escape(out, unit),
            }
        }
    }
    if let Some(byte) = odd {
        push_byte_escape(out, byte);
    }
}

/// UTF-16LE bytes as a new lossless string.
#[must_use]
pub fn utf16_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    utf16_to_text(bytes, &mut out);
    out
}

/// Inverts [`utf16_to_text`]: the UTF-16 code units the text stands for.
#[must_use]
pub fn unescape_utf16(text: &str) -> Vec<u16> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out = Vec::with_capacity(units.len());
    let mut index = 0;
    while let Some(&unit) = units.get(index) {
        if unit == u16::from(b'\\') {
            let rest = units.get(index + 1..).unwrap_or_default().iter().copied();
            if let Some(value) = parse_utf16_escape(rest) {
                out.push(value);
                index += 8;
                continue;
            }
        }
        out.push(unit);
        index += 1;
    }
    out
}

fn push_byte_escape(out: &mut String, byte: u8) {
    out.push('\\');
    out.push('x');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xF)]));
}

/// Parses `xNN` at the start of `rest` in the exact form [`posix_to_text`] writes.
fn parse_byte_escape(rest: &[u8]) -> Option<u8> {
    let [b'x', hi, lo, ..] = *rest else {
        return None;
    };
    let value = hex_value(u32::from(hi))? * 16 + hex_value(u32::from(lo))?;
    u8::try_from(value).ok()
}

/// POSIX name bytes that are their own lossless text, borrowed: UTF-8 without a backslash
/// (nearly every name). `None` when the text needs escapes ([`posix_to_text`] writes it).
#[must_use]
pub fn posix_plain(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    (!has_backslash(bytes)).then_some(text)
}

/// Whether `bytes` hold a backslash, tested eight bytes at a time: names are a few dozen
/// bytes, and `memchr`'s byte loop for short slices cost as much as the UTF-8 check.
fn has_backslash(bytes: &[u8]) -> bool {
    const LANES: u64 = 0x0101_0101_0101_0101;
    // A backslash becomes a zero byte; `(y - 1) & !y` sets bit 7 of some byte exactly
    // when `y` has a zero byte (the classic test: exact for "any", not for "which").
    let any_backslash = |word: u64| {
        let y = word ^ (LANES * u64::from(b'\\'));
        y.wrapping_sub(LANES) & !y & (LANES * 0x80) != 0
    };
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    if let Some(head) = last.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    chunks
        .filter_map(|c| <[u8; 8]>::try_from(c).ok())
        .chain(std::iter::once(last))
        .any(|c| any_backslash(u64::from_le_bytes(c)))
}

/// Appends POSIX name bytes to `out` as lossless text (see the module docs).
pub fn posix_to_text(mut bytes: &[u8], out: &mut String) {
    // The common case: UTF-8 without a backslash is its own text, with no escape search.
    if let Some(all) = posix_plain(bytes) {
        out.push_str(all);
        return;
    }
    out.reserve(bytes.len());
    loop {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(all) => (all, &[][..]),
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                // `valid_up_to` guarantees this prefix is UTF-8: the fallback never runs.
                (std::str::from_utf8(valid).unwrap_or_default(), rest)
            }
        };
        push_posix_valid(valid, out);
        let Some((&bad, tail)) = rest.split_first() else {
            break;
        };
        push_byte_escape(out, bad);
        bytes = tail;
    }
}

/// Copies valid UTF-8, escaping the backslashes that would read as an escape.
fn push_posix_valid(valid: &str, out: &mut String) {
    let mut start = 0;
    for (at, _) in valid.match_indices('\\') {
        let rest = valid.as_bytes().get(at + 1..).unwrap_or_default();
        if parse_byte_escape(rest).is_some() {
            out.push_str(valid.get(start..at).unwrap_or_default());
            push_byte_escape(out, b'\\');
            start = at + 1;
        }
    }
    out.push_str(valid.get(start..).unwrap_or_default());
}

/// POSIX bytes as a new lossless string.
#[must_use]
pub fn posix_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    posix_to_text(bytes, &mut out);
    out
}

/// Inverts [`posix_to_text`]: the bytes the text stands for.
#[must_use]
pub fn unescape_posix(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'\\' {
            if let Some(value) = bytes.get(index + 1..).and_then(parse_byte_escape) {
                out.push(value);
                index += 4;
                continue;
            }
        }
        out.push(byte);
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn le(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn valid_names_read_as_written() {
        let units: Vec<u16> = r"\Device\HarddiskVolume3\Users\Zoë\😀.txt"
            .encode_utf16()
            .collect();
        assert_eq!(
            utf16_text(&le(&units)),
            r"\Device\HarddiskVolume3\Users\Zoë\😀.txt"
        );
        assert_eq!(posix_text("/home/zoë/😀".as_bytes()), "/home/zoë/😀");
    }

    #[test]
    fn unpaired_surrogates_are_escaped_not_replaced() {
        let units = [u16::from(b'a'), 0xD800, u16::from(b'b'), 0xDC01];
        let text = utf16_text(&le(&units));
        assert_eq!(text, r"a\u{D800}b\u{DC01}");
        assert!(!text.contains('\u{FFFD}'));
        assert_eq!(unescape_utf16(&text), units);
    }

    #[test]
    fn a_literal_escape_lookalike_is_itself_escaped() {
        let literal: Vec<u16> = r"C:\u{D800}\x".encode_utf16().collect();
        let text = utf16_text(&le(&literal));
        assert_eq!(text, r"C:\u{005C}u{D800}\x");
        assert_eq!(unescape_utf16(&text), literal);
        assert_ne!(
            text,
            utf16_text(&le(&[u16::from(b'C'), u16::from(b':'), 0xD800]))
        );
    }

    #[test]
    fn invalid_utf8_bytes_are_escaped() {
        let bytes = b"/tmp/\xff\xfe-\\x41.txt";
        let text = posix_text(bytes);
        assert_eq!(text, r"/tmp/\xFF\xFE-\x5Cx41.txt");
        assert_eq!(unescape_posix(&text), bytes);
    }

    proptest! {
        #[test]
        fn utf16_round_trips(units in proptest::collection::vec(any::<u16>(), 0..64)) {
            let text = utf16_text(&le(&units));
            prop_assert!(!text.contains(char::REPLACEMENT_CHARACTER) || units.contains(&0xFFFD));
            prop_assert_eq!(unescape_utf16(&text), units);
        }

        #[test]
        fn utf16_round_trips_escape_heavy_text(
            parts in proptest::collection::vec(
                prop_oneof![Just(r"\".to_owned()), Just("u{D800}".to_owned()),
                            Just("u{005C}".to_owned()), Just("x".to_owned())], 0..12),
            lone in proptest::collection::vec(0xD800u16..0xE000, 0..3),
        ) {
            let mut units: Vec<u16> = parts.concat().encode_utf16().collect();
            units.extend(lone);
            prop_assert_eq!(unescape_utf16(&utf16_text(&le(&units))), units);
        }

        /// The word test finds a backslash wherever the byte test does, at every offset and
        /// length, among bytes one bit away from it (`[`, `]`, `|`, `L`, 0xDC) and zeros.
        #[test]
        fn the_backslash_word_test_agrees_with_the_byte_test(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'\\'), Just(b'['), Just(b']'), Just(b'|'), Just(b'L'),
                            Just(0xDCu8), Just(0u8), any::<u8>()], 0..40),
        ) {
            prop_assert_eq!(has_backslash(&bytes), bytes.contains(&b'\\'));
            let plain = std::str::from_utf8(&bytes).is_ok() && !bytes.contains(&b'\\');
            prop_assert_eq!(posix_plain(&bytes).is_some(), plain);
        }

        #[test]
        fn posix_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(unescape_posix(&posix_text(&bytes)), bytes);
        }

        #[test]
        fn posix_round_trips_escape_heavy_text(
            parts in proptest::collection::vec(
                prop_oneof![Just(b"\\".to_vec()), Just(b"x5C".to_vec()), Just(b"xFF".to_vec()),
                            Just(vec![0xFFu8]), Just(b"x".to_vec())], 0..12),
        ) {
            let bytes = parts.concat();
            prop_assert_eq!(unescape_posix(&posix_text(&bytes)), bytes);
        }
    }
}
