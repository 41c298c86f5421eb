use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// The parts of a full path, as slices of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathParts<'a> {
    /// Everything before the last separator, without it — except at the root, which keeps
    /// its separator (`C:\`, `/`) so the directory is always a usable path.
    pub directory: &'a str,
    /// The last component.
    pub name: &'a str,
    /// The extension of `name` without the dot, if it has one.
    pub extension: Option<&'a str>,
}

/// A file path as the parse stage produced it: lossless text plus its parts.
///
/// `path` is what users and rules see (`C:\Users\a\x.docx`, `/home/a/x.docx`). `original`
/// keeps what the kernel sent (`\Device\HarddiskVolume3\Users\a\x.docx`), so nothing is lost
/// when the volume mapping is wrong or missing. Names that are not valid Unicode are escaped
/// (`\u{DC80}`-style for unpaired UTF-16 surrogates, `\xNN` for non-UTF-8 POSIX bytes) so
/// they survive a round trip and never silently turn into U+FFFD.
///
/// The directory, name and extension are spans of `path`, and `original` is stored only
/// when it differs from `path` (never on Linux): one allocation per path built instead of
/// five. The spans are 32-bit: every event holds two paths and moves through the pipeline by
/// value, so 32 bytes less per path is a sixth of an event's size.
///
/// The text is shared, not owned: a copy of a path is a reference count, not an allocation
/// and a copy of the text. Paths are copied on every event — the parse stage hands out its
/// last path again for the next record of the same file, the output and detection keep
/// the last file they saw, detection keeps events as evidence — and copies compare by
/// address before their text.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FilePath {
    path: SharedText,
    original: Option<SharedText>,
    directory: Span,
    name: Span,
    extension: Option<Span>,
    /// The kernel cut the name (longer than the protocol's cap).
    pub truncated: bool,
    /// The object is a directory.
    pub is_directory: bool,
}

/// Text shared by the copies of a path. Equal when it is the same text (a copy's, told by
/// address) or the same characters; hashed by its characters.
#[derive(Clone, Default, Eq)]
struct SharedText(Arc<str>);

impl SharedText {
    fn new(text: &str) -> Self {
        Self(Arc::from(text))
    }
}

impl PartialEq for SharedText {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl std::hash::Hash for SharedText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl std::ops::Deref for SharedText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl FilePath {
    /// `path`, split into its parts by `split` (which returns slices of its argument, as
    /// `picket_parse`'s splitters do), with what the kernel sent if that differs.
    pub fn new(
        path: String,
        original: Option<String>,
        split: impl FnOnce(&str) -> PathParts<'_>,
    ) -> Self {
        Self::copied(&path, original.as_deref(), split)
    }

    /// [`FilePath::new`] from borrowed text (copied once, into the shared text): for a
    /// caller that builds paths in a buffer of its own.
    pub fn copied(
        path: &str,
        original: Option<&str>,
        split: impl FnOnce(&str) -> PathParts<'_>,
    ) -> Self {
        let parts = split(path);
        let directory = span_in(path, parts.directory);
        let name = span_in(path, parts.name);
        let extension = parts.extension.map(|e| span_in(path, e));
        Self {
            path: SharedText::new(path),
            original: original.filter(|o| *o != path).map(SharedText::new),
            directory,
            name,
            extension,
            truncated: false,
            is_directory: false,
        }
    }

    /// `path` split at its last `/` or `\`, the extension after the name's last dot (none
    /// for `.bashrc` or `a.`): for paths written by hand — tests, synthetic workloads. The
    /// parse stage splits what the kernel sent with `picket_parse`'s lossless splitters,
    /// which also keep a root's separator in its directory (`/` for `/x`, where this gives
    /// an empty directory).
    #[must_use]
    pub fn from_text(path: &str) -> Self {
        Self::from_text_at(path, &['/', '\\'])
    }

    /// [`FilePath::from_text`], splitting at the last of `separators` only (one host's).
    #[must_use]
    pub fn from_text_at(path: &str, separators: &[char]) -> Self {
        Self::copied(path, None, |path| {
            let (directory, name) = path
                .rsplit_once(separators)
                .unwrap_or((path.get(..0).unwrap_or_default(), path));
            let extension = name
                .rsplit_once('.')
                .filter(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
                .map(|(_, ext)| ext);
            PathParts {
                directory,
                name,
                extension,
            }
        })
    }

    /// The same path, with what the kernel sent recorded as `original`.
    #[must_use]
    pub fn with_original(mut self, original: String) -> Self {
        self.original = Some(original)
            .filter(|o| **o != *self.path)
            .map(|o| SharedText::new(&o));
        self
    }

    /// Full path in the host's user-facing syntax.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Full path exactly as the kernel reported it (escaped the same way as `path`).
    #[must_use]
    pub fn original(&self) -> &str {
        self.original.as_deref().unwrap_or(&self.path)
    }

    /// Whether the kernel's original differs from `path` (otherwise [`Self::original`] is
    /// `path` itself).
    #[must_use]
    pub const fn original_differs(&self) -> bool {
        self.original.is_some()
    }

    /// Directory part of `path`, without a trailing separator (except at the root).
    #[must_use]
    pub fn directory(&self) -> &str {
        self.part(self.directory)
    }

    /// Final component of `path`.
    #[must_use]
    pub fn name(&self) -> &str {
        self.part(self.name)
    }

    /// Extension of `name` without the dot, as written (no case folding); `None` if none.
    #[must_use]
    pub fn extension(&self) -> Option<&str> {
        self.extension.map(|s| self.part(s))
    }

    fn part(&self, span: Span) -> &str {
        self.path
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }
}

/// A byte range of a path. The empty span is the only representation of an empty part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Span {
    start: u32,
    end: u32,
}

/// Where `part` lies in `whole`. A part that is not a slice of `whole` (a splitter's bug),
/// or that ends past 4 GiB (no kernel sends such a path), becomes an empty span rather
/// than a wrong one.
fn span_in(whole: &str, part: &str) -> Span {
    // Every empty part is the same span, wherever the splitter took it from: equal paths
    // compare and hash equal.
    if part.is_empty() {
        return Span::default();
    }
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    let end = start.wrapping_add(part.len());
    // Inside `whole`, `part` is those very bytes: bounds and char boundaries are the proof.
    if end <= whole.len() && whole.is_char_boundary(start) && whole.is_char_boundary(end) {
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(start), Ok(end)) => Span { start, end },
            _ => Span::default(),
        }
    } else {
        debug_assert!(false, "{part:?} is not a slice of {whole:?}");
        Span::default()
    }
}

impl fmt::Debug for FilePath {
    /// The parts' text, not their ranges: what a failed assertion should show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilePath")
            .field("path", &self.path())
            .field("original", &self.original())
            .field("directory", &self.directory())
            .field("name", &self.name())
            .field("extension", &self.extension())
            .field("truncated", &self.truncated)
            .field("is_directory", &self.is_directory)
            .finish()
    }
}

impl Serialize for FilePath {
    /// The same shape as when every part was its own string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("FilePath", 7)?;
        s.serialize_field("path", self.path())?;
        s.serialize_field("original", self.original())?;
        s.serialize_field("directory", self.directory())?;
        s.serialize_field("name", self.name())?;
        s.serialize_field("extension", &self.extension())?;
        s.serialize_field("truncated", &self.truncated)?;
        s.serialize_field("is_directory", &self.is_directory)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(path: &str) -> PathParts<'_> {
        let (directory, name) = path.rsplit_once('/').unwrap_or(("", path));
        PathParts {
            directory,
            name,
            extension: name.rsplit_once('.').map(|(_, e)| e),
        }
    }

    #[test]
    fn clone_from_makes_an_equal_path_whatever_it_overwrites() {
        let mut plain = FilePath::new("/a/b.txt".to_owned(), None, split);
        plain.truncated = true;
        let mut mapped = FilePath::new(
            "C:/Users/someone/report.final.docx".to_owned(),
            Some("/Device/HarddiskVolume3/Users/someone/report.final.docx".to_owned()),
            split,
        );
        mapped.is_directory = true;
        for (from, to) in [(&plain, &mapped), (&mapped, &plain), (&plain, &plain)] {
            let mut target = to.clone();
            target.clone_from(from);
            assert_eq!(&target, from);
            assert_eq!(
                (target.directory(), target.name(), target.extension()),
                (from.directory(), from.name(), from.extension())
            );
        }
    }

    #[test]
    fn a_copy_shares_the_text() {
        let p = FilePath::copied("/a/b.txt", Some("/dev/x/a/b.txt"), split);
        let q = p.clone();
        assert_eq!(q, p);
        assert!(
            std::ptr::eq(p.path(), q.path()),
            "the text, not a copy of it"
        );
        assert!(std::ptr::eq(p.original(), q.original()));
        let mut r = FilePath::from_text("/other");
        r.clone_from(&p);
        assert!(std::ptr::eq(p.path(), r.path()));
        assert_eq!(r.name(), "b.txt");
    }

    #[test]
    fn parts_are_ranges_of_the_path() {
        let p = FilePath::new("/home/a/x.tar.gz".into(), None, split);
        assert_eq!(
            (
                p.path(),
                p.original(),
                p.directory(),
                p.name(),
                p.extension()
            ),
            (
                "/home/a/x.tar.gz",
                "/home/a/x.tar.gz",
                "/home/a",
                "x.tar.gz",
                Some("gz")
            )
        );
        let q = p.clone();
        assert_eq!(q, p);
        assert_eq!(q.name(), "x.tar.gz");
    }

    #[test]
    fn original_is_kept_only_when_it_differs() {
        let same = FilePath::new("/a/b".into(), Some("/a/b".into()), split);
        assert_eq!(same, FilePath::new("/a/b".into(), None, split));
        let mapped = FilePath::new(
            r"C:/x".into(),
            Some(r"\Device\HarddiskVolume3\x".into()),
            split,
        );
        assert_eq!(mapped.original(), r"\Device\HarddiskVolume3\x");
        assert_eq!(mapped.path(), "C:/x");
    }

    #[test]
    fn a_part_outside_the_path_is_empty_not_wrong() {
        let p = FilePath::new("/a/b".into(), None, |_| PathParts {
            directory: "",
            name: "",
            extension: None,
        });
        assert_eq!((p.directory(), p.name(), p.extension()), ("", "", None));
    }

    #[test]
    fn empty_parts_are_equal_wherever_they_come_from() {
        let sliced = FilePath::new("x".into(), None, |p| PathParts {
            directory: p.get(..0).unwrap(),
            name: p,
            extension: None,
        });
        let literal = FilePath::new("x".into(), None, |p| PathParts {
            directory: "",
            name: p,
            extension: None,
        });
        assert_eq!(sliced, literal);
        assert_eq!(format!("{sliced:?}"), format!("{literal:?}"));
        assert!(format!("{sliced:?}").contains(r#"name: "x""#));
    }

    #[test]
    fn serializes_every_part_by_name() {
        let p = FilePath::new("/a/b.txt".into(), None, split);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"path": "/a/b.txt", "original": "/a/b.txt", "directory": "/a",
                "name": "b.txt", "extension": "txt", "truncated": false, "is_directory": false})
        );
    }
}
