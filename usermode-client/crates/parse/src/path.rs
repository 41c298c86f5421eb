//! Splitting a full path into directory, name and extension.

use crate::text::utf16_escape_after_backslash;

pub use picket_model::PathParts;

/// `name` in `directory` (both slices of the path), its extension found the same way for
/// every path kind.
fn parts<'a>(directory: &'a str, name: &'a str) -> PathParts<'a> {
    PathParts {
        directory,
        name,
        extension: extension(name),
    }
}

/// The last `byte` (ASCII, so a char boundary) in `text`. Names are short: a plain loop
/// beats the general searcher's set-up.
fn last_ascii(text: &str, byte: u8) -> Option<usize> {
    text.as_bytes().iter().rposition(|&b| b == byte)
}

fn extension(name: &str) -> Option<&str> {
    let dot = last_ascii(name, b'.')?;
    let ext = name.get(dot + 1..)?;
    (dot > 0 && !ext.is_empty()).then_some(ext)
}

/// Where the last separator of a lossless Windows path is: (start, length). A backslash
/// that opens a surrogate escape (`\u{D800}`) is part of a name, not a separator; an escaped
/// backslash (`\u{005C}`, eight bytes) is one.
fn last_windows_separator(path: &str) -> Option<(usize, usize)> {
    let bytes = path.as_bytes();
    let mut last = None;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'/' => last = Some((at, 1)),
            b'\\' => match path.get(at + 1..).and_then(utf16_escape_after_backslash) {
                Some(0x5C) => {
                    last = Some((at, 8));
                    at += 8;
                    continue;
                }
                Some(_) => {
                    at += 8;
                    continue;
                }
                None => last = Some((at, 1)),
            },
            _ => {}
        }
        at += 1;
    }
    last
}

/// Splits a Windows path (`\` separators; `/` is accepted too, as Win32 does). Escapes
/// written by [`crate::text::utf16_to_text`] are understood: a lone surrogate's `\u{D800}`
/// stays inside its name.
#[must_use]
pub fn split_windows(path: &str) -> PathParts<'_> {
    let mut trimmed = path;
    while let Some((at, len)) = last_windows_separator(trimmed) {
        if at + len != trimmed.len() || at == 0 {
            break;
        }
        trimmed = trimmed.get(..at).unwrap_or_default();
    }
    let trimmed = if trimmed.is_empty() { path } else { trimmed };
    let Some((at, len)) = last_windows_separator(trimmed) else {
        return parts(trimmed.get(..0).unwrap_or_default(), trimmed);
    };
    let name = trimmed.get(at + len..).unwrap_or_default();
    let before = trimmed.get(..at).unwrap_or_default();
    // `C:\x` → `C:\`; `\\server\share\x` stays `\\server\share`.
    let directory = if before.len() == 2 && before.ends_with(':') || before.is_empty() {
        trimmed.get(..at + len).unwrap_or_default()
    } else {
        before
    };
    parts(directory, name)
}

/// Splits a POSIX path.
#[must_use]
pub fn split_posix(path: &str) -> PathParts<'_> {
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { path } else { trimmed };
    let Some(at) = last_ascii(trimmed, b'/') else {
        return parts(trimmed.get(..0).unwrap_or_default(), trimmed);
    };
    let name = trimmed.get(at + 1..).unwrap_or_default();
    // The root keeps its separator: `/x` is in `/`, a slice of the path like every part.
    let directory = trimmed.get(..at.max(1)).unwrap_or_default();
    parts(directory, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths() {
        let p = split_windows(r"C:\Users\a\report.final.docx");
        assert_eq!(p.directory, r"C:\Users\a");
        assert_eq!(p.name, "report.final.docx");
        assert_eq!(p.extension, Some("docx"));
        let root = split_windows(r"C:\pagefile.sys");
        assert_eq!((root.directory, root.name), (r"C:\", "pagefile.sys"));
        let unc = split_windows(r"\\srv\share\x.txt");
        assert_eq!(unc.directory, r"\\srv\share");
        let nt = split_windows(r"\Device\HarddiskVolume3\dir\");
        assert_eq!((nt.directory, nt.name), (r"\Device\HarddiskVolume3", "dir"));
        assert_eq!(split_windows(r"C:\a\.gitignore").extension, None);
        assert_eq!(split_windows(r"C:\a\trailing.").extension, None);
        // Escapes from the lossless text conversion.
        let lone = split_windows(r"C:\data\x\u{D800}y.txt");
        assert_eq!((lone.directory, lone.name), (r"C:\data", r"x\u{D800}y.txt"));
        let dir_named_like_an_escape = split_windows(r"C:\d\u{005C}u{D800}");
        assert_eq!(
            (
                dir_named_like_an_escape.directory,
                dir_named_like_an_escape.name
            ),
            (r"C:\d", "u{D800}")
        );
    }

    #[test]
    fn posix_paths() {
        let p = split_posix("/home/a/x.tar.gz");
        assert_eq!(
            (p.directory, p.name, p.extension),
            ("/home/a", "x.tar.gz", Some("gz"))
        );
        let root = split_posix("/etc");
        assert_eq!((root.directory, root.name), ("/", "etc"));
        assert_eq!(split_posix("/home/a/.bashrc").extension, None);
        assert_eq!(split_posix("relative").directory, "");
        assert_eq!(split_posix("/").directory, "/");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::text::utf16_text;
    use proptest::prelude::*;

    fn le(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    proptest! {
        /// Whatever a file name holds (lone surrogates, backslash-u look-alikes), once
        /// converted it is split off as a whole: never cut at an escape's backslash.
        #[test]
        fn the_name_of_a_converted_path_is_the_converted_name(
            name in proptest::collection::vec(
                prop_oneof![
                    Just(u16::from(b'u')), Just(u16::from(b'{')), Just(u16::from(b'}')),
                    Just(u16::from(b'D')), Just(u16::from(b'8')), Just(u16::from(b'0')),
                    Just(u16::from(b'5')), Just(u16::from(b'C')), Just(u16::from(b'.')),
                    0xD800u16..0xE000, 0x20u16..0x7F,
                ]
                .prop_filter("no separators inside a name", |u| *u != u16::from(b'\\') && *u != u16::from(b'/')),
                1..16,
            ),
        ) {
            let mut full: Vec<u16> = r"C:\dir\".encode_utf16().collect();
            full.extend(&name);
            let text = utf16_text(&le(&full));
            let parts = split_windows(&text);
            prop_assert_eq!(parts.name, utf16_text(&le(&name)));
            prop_assert_eq!(parts.directory, r"C:\dir");
        }
    }
}
