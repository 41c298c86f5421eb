//! The golden-vector text format: hex bytes, `#` comments to the end of the line.
//!
//! ```text
//! # Batch header (40 bytes)
//! 50 4b 42 31                                       # @0     magic "PKB1"
//! ```
//!
//! Whitespace between bytes is free; every non-comment token is exactly two hex digits.
//! The generator writes one field per line with its absolute offset (`@N`), so a format change
//! shows up in a diff as the field that moved.

use std::fmt::Write as _;

/// The bytes of a golden file; panics with the line number on a malformed token.
pub fn parse(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let data = line.split('#').next().unwrap_or_default();
        for token in data.split_whitespace() {
            assert!(
                token.len() == 2,
                "line {}: `{token}` is not one hex byte",
                number + 1
            );
            let byte = u8::from_str_radix(token, 16)
                .unwrap_or_else(|_| panic!("line {}: `{token}` is not hex", number + 1));
            bytes.push(byte);
        }
    }
    bytes
}

/// Builds the annotated text, one field or chunk per line.
#[derive(Default)]
pub struct Annotated {
    text: String,
}

/// Column where comments start, so the hex lines up.
const COMMENT_COLUMN: usize = 50;

impl Annotated {
    /// A comment line of its own.
    pub fn comment(&mut self, text: &str) {
        if text.is_empty() {
            self.text.push_str("#\n");
        } else {
            let _ = writeln!(self.text, "# {text}");
        }
    }

    /// A blank line between sections.
    pub fn blank(&mut self) {
        self.text.push('\n');
    }

    /// One line of bytes with its offset and a description.
    pub fn bytes(&mut self, offset: usize, bytes: &[u8], what: &str) {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let hex = hex.join(" ");
        let _ = writeln!(
            self.text,
            "{hex:<width$}# @{offset:<5} {what}",
            width = COMMENT_COLUMN
        );
    }

    /// A long region in lines of 16 bytes, each described by `describe(chunk)`.
    pub fn chunks(
        &mut self,
        offset: usize,
        bytes: &[u8],
        label: &str,
        describe: impl Fn(&[u8]) -> String,
    ) {
        for (index, chunk) in bytes.chunks(16).enumerate() {
            let start = index * 16;
            let end = start + chunk.len();
            let what = format!("{label}[{start}..{end}] {}", describe(chunk));
            self.bytes(offset + start, chunk, what.trim_end());
        }
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

/// Printable rendering of UTF-16LE bytes for a comment (non-printables escaped).
pub fn utf16_text(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|pair| u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]))
        .collect();
    let text: String = char::decode_utf16(units)
        .map(|unit| unit.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    quote(&text)
}

/// Printable rendering of raw POSIX bytes for a comment.
pub fn posix_text(bytes: &[u8]) -> String {
    let mut text = String::from("\"");
    for &byte in bytes {
        if byte.is_ascii_graphic() || byte == b' ' {
            if byte == b'"' || byte == b'\\' {
                text.push('\\');
            }
            text.push(char::from(byte));
        } else {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text.push('"');
    text
}

fn quote(text: &str) -> String {
    format!("{:?}", text)
}
