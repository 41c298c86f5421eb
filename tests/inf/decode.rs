//! Turns the bytes of an INF file into text the way Windows reads them.
//!
//! Windows accepts an INF as UTF-16LE with a byte-order mark, or as 8-bit text in the system
//! code page. Only ASCII means the same thing in every code page, so 8-bit text must be ASCII
//! (a UTF-8 BOM is tolerated: the WDK tools accept it). UTF-16 without a BOM, or big-endian,
//! is read by nobody correctly, so it is an error here rather than a silent misreading.

/// How an INF file was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-16LE with the `FF FE` byte-order mark (what Microsoft's samples use).
    Utf16LeBom,
    /// UTF-8 with the `EF BB BF` byte-order mark.
    Utf8Bom,
    /// 7-bit ASCII without a byte-order mark.
    Ascii,
}

/// Why bytes are not a readable INF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("UTF-16 big-endian (BOM FE FF) is not an INF encoding; use UTF-16LE with a BOM")]
    Utf16BigEndian,
    #[error("UTF-16LE text has an odd number of bytes ({0})")]
    OddUtf16Length(usize),
    #[error("UTF-16LE text is not valid UTF-16 at code unit {0}")]
    BadUtf16(usize),
    #[error("UTF-8 text after the BOM is not valid UTF-8 at byte {0}")]
    BadUtf8(usize),
    #[error("byte {offset} is NUL: this looks like UTF-16 without a byte-order mark")]
    Utf16WithoutBom { offset: usize },
    #[error(
        "byte {offset} (0x{byte:02x}) is not ASCII: a file without a BOM is read in the \
         system code page, so non-ASCII text needs UTF-16LE with a BOM"
    )]
    NonAscii { offset: usize, byte: u8 },
}

/// Decodes INF bytes, reporting which encoding they used.
pub fn decode(bytes: &[u8]) -> Result<(Encoding, String), DecodeError> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return decode_utf16le(rest).map(|text| (Encoding::Utf16LeBom, text));
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(DecodeError::Utf16BigEndian);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return std::str::from_utf8(rest)
            .map(|text| (Encoding::Utf8Bom, text.to_owned()))
            .map_err(|e| DecodeError::BadUtf8(e.valid_up_to() + 3));
    }
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(DecodeError::Utf16WithoutBom { offset });
    }
    if let Some(offset) = bytes.iter().position(|b| !b.is_ascii()) {
        return Err(DecodeError::NonAscii {
            offset,
            byte: bytes[offset],
        });
    }
    // All bytes are ASCII, hence valid UTF-8.
    Ok((Encoding::Ascii, String::from_utf8_lossy(bytes).into_owned()))
}

fn decode_utf16le(bytes: &[u8]) -> Result<String, DecodeError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::OddUtf16Length(bytes.len() + 2));
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let mut text = String::with_capacity(units.len());
    for (index, c) in char::decode_utf16(units.iter().copied()).enumerate() {
        text.push(c.map_err(|_| DecodeError::BadUtf16(index))?);
    }
    Ok(text)
}

/// Encodes text as UTF-16LE with a BOM, the way Microsoft's sample INFs are stored.
pub fn encode_utf16le_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_accepted_encoding() {
        let text = "[Version]\r\nSignature = \"$WINDOWS NT$\"\r\n";
        assert_eq!(
            decode(text.as_bytes()).unwrap(),
            (Encoding::Ascii, text.to_owned())
        );
        let mut utf8 = vec![0xEF, 0xBB, 0xBF];
        utf8.extend_from_slice("; caf\u{e9}\n".as_bytes());
        assert_eq!(
            decode(&utf8).unwrap(),
            (Encoding::Utf8Bom, "; caf\u{e9}\n".to_owned())
        );
        let wide = encode_utf16le_bom("; \u{65e5}\u{672c}\n[Strings]\n");
        assert_eq!(
            decode(&wide).unwrap(),
            (
                Encoding::Utf16LeBom,
                "; \u{65e5}\u{672c}\n[Strings]\n".to_owned()
            )
        );
    }

    #[test]
    fn refuses_what_windows_would_misread() {
        let wide = encode_utf16le_bom("[Version]");
        assert_eq!(
            decode(&wide[2..]),
            Err(DecodeError::Utf16WithoutBom { offset: 1 })
        );
        let mut big = vec![0xFE, 0xFF];
        big.extend("[V]".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode(&big), Err(DecodeError::Utf16BigEndian));
        assert_eq!(
            decode("caf\u{e9}".as_bytes()),
            Err(DecodeError::NonAscii {
                offset: 3,
                byte: 0xC3
            })
        );
        assert_eq!(
            decode(&wide[..wide.len() - 1]),
            Err(DecodeError::OddUtf16Length(19))
        );
        // A lone high surrogate.
        assert_eq!(
            decode(&[0xFF, 0xFE, 0x00, 0xD8]),
            Err(DecodeError::BadUtf16(0))
        );
        assert_eq!(
            decode(&[0xEF, 0xBB, 0xBF, b'a', 0xFF]),
            Err(DecodeError::BadUtf8(4))
        );
    }
}
