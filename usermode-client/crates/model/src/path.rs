use serde::{Deserialize, Serialize};

/// A file path as the parse stage produced it: lossless text plus its parts.
///
/// `path` is what users and rules see (`C:\Users\a\x.docx`, `/home/a/x.docx`). `original`
/// keeps what the kernel sent (`\Device\HarddiskVolume3\Users\a\x.docx`), so nothing is lost
/// when the volume mapping is wrong or missing. Names that are not valid Unicode are escaped
/// (`\u{DC80}`-style for unpaired UTF-16 surrogates, `\xNN` for non-UTF-8 POSIX bytes) so
/// they survive a round trip and never silently turn into U+FFFD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FilePath {
    /// Full path in the host's user-facing syntax.
    pub path: String,
    /// Full path exactly as the kernel reported it (escaped the same way as `path`).
    pub original: String,
    /// Directory part of `path`, without a trailing separator.
    pub directory: String,
    /// Final component of `path`.
    pub name: String,
    /// Extension of `name` without the dot, as written (no case folding); `None` if none.
    pub extension: Option<String>,
    /// The kernel cut the name (longer than the protocol's cap).
    pub truncated: bool,
    /// The object is a directory.
    pub is_directory: bool,
}
