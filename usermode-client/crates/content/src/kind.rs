//! What a sample is, from its first bytes, and what a file name's extension promises.

use crate::measure;

/// The type of a file's content as its first bytes show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `%PDF`
    Pdf,
    /// `PK\x03\x04` and friends: zip, and the formats built on it (docx, xlsx, pptx, odt, jar).
    Zip,
    /// OLE compound file: legacy Office (doc, xls, ppt), msi.
    OleCompound,
    /// `{\rtf`
    Rtf,
    /// gzip, bzip2, xz, zstd, lz4, 7z, rar, compress: a known compressed or archive format.
    Compressed,
    /// A known picture format (png, jpeg, gif, bmp, tiff, webp, ico).
    Image,
    /// A known audio or video format (ISO media, mp3, ogg, flac, riff, mkv).
    Media,
    /// An executable or object file (ELF, PE, Mach-O, wasm, class).
    Executable,
    /// SQLite and other databases with a header.
    Database,
    /// An encrypted container that says so (OpenPGP, age, LUKS, KeePass): the user chose it.
    DeclaredEncrypted,
    /// Text (UTF-8, or UTF-16 with a byte order mark).
    Text,
    /// Binary with structure (low or medium entropy) and no magic we know.
    Binary,
    /// Random-looking bytes with no magic: what encryption produces.
    Opaque,
    /// Text that is one long base64 or hex blob: encrypted bytes written out as text.
    Encoded,
    /// No bytes.
    Empty,
}

impl Kind {
    /// A short stable name for output.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Zip => "zip",
            Self::OleCompound => "ole",
            Self::Rtf => "rtf",
            Self::Compressed => "compressed",
            Self::Image => "image",
            Self::Media => "media",
            Self::Executable => "executable",
            Self::Database => "database",
            Self::DeclaredEncrypted => "declared_encrypted",
            Self::Text => "text",
            Self::Binary => "binary",
            Self::Opaque => "opaque",
            Self::Encoded => "encoded",
            Self::Empty => "empty",
        }
    }

    /// Ciphertext-like content: random bytes, or random bytes written out as base64/hex.
    #[must_use]
    pub const fn is_ciphertext_like(self) -> bool {
        matches!(self, Self::Opaque | Self::Encoded)
    }

    /// Kinds whose last bytes are structure or text (a zip's central directory, a PDF's
    /// trailer, text): random-looking last bytes mean the file was damaged or encrypted.
    #[must_use]
    pub const fn has_structured_tail(self) -> bool {
        matches!(self, Self::Pdf | Self::Zip | Self::Rtf | Self::Text)
    }

    /// Kinds recognised by magic bytes at the start: a file promised as one of these whose
    /// start is random bytes has lost its header.
    #[must_use]
    pub const fn has_magic(self) -> bool {
        matches!(
            self,
            Self::Pdf
                | Self::Zip
                | Self::OleCompound
                | Self::Rtf
                | Self::Compressed
                | Self::Image
                | Self::Media
                | Self::Executable
                | Self::Database
        )
    }
}

/// (offset, magic, kind). Checked in order; the first match wins.
const MAGIC: &[(usize, &[u8], Kind)] = &[
    (0, b"%PDF", Kind::Pdf),
    (0, b"PK\x03\x04", Kind::Zip),
    (0, b"PK\x05\x06", Kind::Zip),
    (0, b"PK\x07\x08", Kind::Zip),
    (0, b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", Kind::OleCompound),
    (0, b"{\\rtf", Kind::Rtf),
    (0, b"\x1F\x8B", Kind::Compressed),
    (0, b"BZh", Kind::Compressed),
    (0, b"\xFD7zXZ\x00", Kind::Compressed),
    (0, b"\x28\xB5\x2F\xFD", Kind::Compressed),
    (0, b"\x04\x22\x4D\x18", Kind::Compressed),
    (0, b"7z\xBC\xAF\x27\x1C", Kind::Compressed),
    (0, b"Rar!\x1A\x07", Kind::Compressed),
    (0, b"\x1F\x9D", Kind::Compressed),
    (0, b"\x1F\xA0", Kind::Compressed),
    (0, b"MSCF", Kind::Compressed),
    (0, b"PACK", Kind::Compressed),
    (257, b"ustar", Kind::Compressed),
    (0, b"\x89PNG\r\n\x1A\n", Kind::Image),
    (0, b"\xFF\xD8\xFF", Kind::Image),
    (0, b"GIF87a", Kind::Image),
    (0, b"GIF89a", Kind::Image),
    (0, b"BM", Kind::Image),
    (0, b"II*\x00", Kind::Image),
    (0, b"MM\x00*", Kind::Image),
    (0, b"\x00\x00\x01\x00", Kind::Image),
    (8, b"WEBP", Kind::Image),
    (4, b"ftyp", Kind::Media),
    (0, b"ID3", Kind::Media),
    (0, b"\xFF\xFB", Kind::Media),
    (0, b"\xFF\xF3", Kind::Media),
    (0, b"OggS", Kind::Media),
    (0, b"fLaC", Kind::Media),
    (0, b"RIFF", Kind::Media),
    (0, b"\x1A\x45\xDF\xA3", Kind::Media),
    (0, b"\x7FELF", Kind::Executable),
    (0, b"MZ", Kind::Executable),
    (0, b"\xCF\xFA\xED\xFE", Kind::Executable),
    (0, b"\xCA\xFE\xBA\xBE", Kind::Executable),
    (0, b"\x00asm", Kind::Executable),
    (0, b"!<arch>\n", Kind::Executable),
    (0, b"SQLite format 3\x00", Kind::Database),
    (0, b"-----BEGIN PGP", Kind::DeclaredEncrypted),
    (0, b"age-encryption.org/", Kind::DeclaredEncrypted),
    (0, b"LUKS\xBA\xBE", Kind::DeclaredEncrypted),
    (0, b"\x03\xD9\xA2\x9A", Kind::DeclaredEncrypted),
    (0, b"Salted__", Kind::DeclaredEncrypted),
];

/// The kind of content whose first bytes are `head`.
#[must_use]
pub fn identify(head: &[u8]) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    for &(offset, magic, kind) in MAGIC {
        if head.get(offset..offset.saturating_add(magic.len())) == Some(magic) {
            return kind;
        }
    }
    if let [0xFF, second, ..] = head {
        if second & 0xE0 == 0xE0 {
            // MPEG audio frame sync (mp3 without an ID3 tag).
            return Kind::Media;
        }
    }
    if is_zlib(head) {
        return Kind::Compressed;
    }
    if measure::is_text(head) {
        if measure::is_encoded_blob(head) {
            Kind::Encoded
        } else {
            Kind::Text
        }
    } else if measure::looks_random(head) {
        Kind::Opaque
    } else {
        Kind::Binary
    }
}

/// A zlib stream (git objects, raw deflate containers): CMF 0x78 and a header whose check
/// bits make the 16-bit big-endian value a multiple of 31.
fn is_zlib(head: &[u8]) -> bool {
    match head {
        [0x78, flg, ..] => (0x7800_u16 | u16::from(*flg)).is_multiple_of(31),
        _ => false,
    }
}

/// What a file name's extension promises about its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// A format with magic bytes or text: random-looking content breaks the promise.
    Structured(Kind),
    /// Formats where random-looking content is normal or that we do not know.
    Anything,
}

/// The promise of an extension (case-insensitive, without the dot).
#[must_use]
pub fn expectation(extension: Option<&str>) -> Expectation {
    let Some(ext) = extension else {
        return Expectation::Anything;
    };
    let ext = ext.to_ascii_lowercase();
    let kind = match ext.as_str() {
        "pdf" => Kind::Pdf,
        "docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "pptm" | "odt" | "ods" | "odp" | "odg"
        | "epub" | "jar" | "apk" | "zip" | "vsdx" => Kind::Zip,
        "doc" | "xls" | "ppt" | "msg" | "msi" | "vsd" => Kind::OleCompound,
        "rtf" => Kind::Rtf,
        "gz" | "tgz" | "bz2" | "xz" | "zst" | "7z" | "rar" | "cab" | "tar" | "lz4" => {
            Kind::Compressed
        }
        "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif" | "tiff" | "webp" | "ico" => Kind::Image,
        "mp4" | "m4a" | "m4v" | "mp3" | "ogg" | "oga" | "flac" | "wav" | "avi" | "mkv" | "webm" => {
            Kind::Media
        }
        "exe" | "dll" | "so" | "o" | "a" | "elf" | "wasm" | "class" | "sys" => Kind::Executable,
        "sqlite" | "sqlite3" | "db3" => Kind::Database,
        "txt" | "text" | "md" | "markdown" | "rst" | "csv" | "tsv" | "log" | "json" | "xml"
        | "html" | "htm" | "xhtml" | "css" | "js" | "py" | "rb" | "pl" | "sh" | "bash" | "c"
        | "h" | "cc" | "cpp" | "hpp" | "cs" | "java" | "go" | "rs" | "php" | "sql" | "yml"
        | "yaml" | "toml" | "ini" | "cfg" | "conf" | "tex" | "bib" | "svg" | "eml" | "ics"
        | "vcf" | "srt" | "properties" | "bat" | "ps1" | "vbs" | "lua" | "kt" | "swift" | "r"
        | "scala" | "diff" | "patch" => Kind::Text,
        _ => return Expectation::Anything,
    };
    Expectation::Structured(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn identifies_magic_text_and_random_bytes() {
        assert_eq!(identify(b"%PDF-1.7\n%\xE2\xE3"), Kind::Pdf);
        assert_eq!(identify(b"PK\x03\x04\x14\x00"), Kind::Zip);
        assert_eq!(identify(b"\x1F\x8B\x08\x00"), Kind::Compressed);
        assert_eq!(identify(b"\x89PNG\r\n\x1A\n...."), Kind::Image);
        assert_eq!(identify(b"\x7FELF\x02\x01"), Kind::Executable);
        assert_eq!(identify(b"Salted__12345678"), Kind::DeclaredEncrypted);
        assert_eq!(
            identify(b"\x78\x9C\x4B\xCA"),
            Kind::Compressed,
            "zlib (git objects)"
        );
        assert_eq!(identify("caf\u{e9} au lait\n".as_bytes()), Kind::Text);
        assert_eq!(identify(&random(4096, 7)), Kind::Opaque);
        assert_eq!(identify(&[0_u8; 300]), Kind::Binary);
        let b64: String = random(3000, 9)
            .chunks(3)
            .map(|c| {
                const A: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
                (0..4)
                    .map(|i| A[((n >> (18 - 6 * i)) & 63) as usize] as char)
                    .collect::<String>()
            })
            .collect();
        assert_eq!(identify(b64.as_bytes()), Kind::Encoded);
        let hex: String = random(2000, 5).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(identify(hex.as_bytes()), Kind::Encoded);
        assert_eq!(identify(b""), Kind::Empty);
        let mut tar = vec![0_u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(identify(&tar), Kind::Compressed);
    }

    #[test]
    fn extensions_promise_structure_or_nothing() {
        assert_eq!(
            expectation(Some("DOCX")),
            Expectation::Structured(Kind::Zip)
        );
        assert_eq!(
            expectation(Some("txt")),
            Expectation::Structured(Kind::Text)
        );
        assert_eq!(expectation(Some("locked")), Expectation::Anything);
        assert_eq!(expectation(Some("bin")), Expectation::Anything);
        assert_eq!(expectation(None), Expectation::Anything);
    }
}
