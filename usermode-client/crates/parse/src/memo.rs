//! The last path the parse stage built, handed out again when the next name is the same.
//!
//! A file's records come in runs with one name: created, first written, closed modified,
//! renamed away (the old name again). Building a path costs its text conversion, its split
//! and, for a Windows name, its volume translation; comparing the kernel's bytes with the
//! last name's costs a fraction of that, and the path handed out shares the kept one's text.

use picket_model::FilePath;

/// Everything besides the name's bytes that the built path depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathKey {
    /// POSIX bytes rather than UTF-16.
    pub posix: bool,
    /// The kernel cut the name.
    pub truncated: bool,
    /// The object is a directory (which has no extension).
    pub is_directory: bool,
    /// A cut name was cut in the middle (protocol 1.1 and later).
    pub middle_cut: bool,
    /// The volume map's generation: a changed map may translate the name differently.
    pub volumes: u64,
}

/// One name and the path built from it.
#[derive(Debug)]
pub struct PathMemo {
    bytes: Vec<u8>,
    key: PathKey,
    /// `None` until a path is kept.
    path: Option<FilePath>,
}

impl PathMemo {
    /// Nothing kept.
    pub const fn new() -> Self {
        Self {
            bytes: Vec::new(),
            key: PathKey {
                posix: false,
                truncated: false,
                is_directory: false,
                middle_cut: false,
                volumes: 0,
            },
            path: None,
        }
    }

    /// The kept path, if it was built from `bytes` under `key`.
    pub fn get(&self, bytes: &[u8], key: PathKey) -> Option<FilePath> {
        let path = self.path.as_ref()?;
        (self.key == key && self.bytes == bytes).then(|| path.clone())
    }

    /// Keeps `path`, built from `bytes` under `key`, in place of the last one (the bytes into
    /// the kept allocation; the path's text is shared, not copied).
    pub fn keep(&mut self, bytes: &[u8], key: PathKey, path: &FilePath) {
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.key = key;
        self.path = Some(path.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_comes_back_only_for_the_same_bytes_under_the_same_key() {
        let mut memo = PathMemo::new();
        let key = PathKey {
            posix: true,
            ..PathKey::default()
        };
        assert_eq!(memo.get(b"", key), None, "nothing is kept at first");
        let path = FilePath::from_text("/tmp/a.txt");
        memo.keep(b"/tmp/a.txt", key, &path);
        assert_eq!(memo.get(b"/tmp/a.txt", key), Some(path.clone()));
        assert_eq!(memo.get(b"/tmp/a.txT", key), None);
        assert_eq!(memo.get(b"/tmp/a.tx", key), None);
        for other in [
            PathKey {
                posix: false,
                ..key
            },
            PathKey {
                truncated: true,
                ..key
            },
            PathKey {
                is_directory: true,
                ..key
            },
            PathKey {
                middle_cut: true,
                ..key
            },
            PathKey { volumes: 1, ..key },
        ] {
            assert_eq!(memo.get(b"/tmp/a.txt", other), None, "{other:?}");
        }
        let next = FilePath::from_text("/tmp/b.txt");
        memo.keep(b"/tmp/b.txt", key, &next);
        assert_eq!(memo.get(b"/tmp/a.txt", key), None, "one path is kept");
        assert_eq!(memo.get(b"/tmp/b.txt", key), Some(next));
    }
}
