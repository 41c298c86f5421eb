//! The import allow-list: `driver/defs/*.def`, the files the import libraries are built from.
//!
//! One export per line, `Name [DATA] ; min-build N [never-imported | link-only …]`. The
//! library a file describes is its `LIBRARY` line. `never-imported` marks a name that the link
//! must resolve but that the image must not import (`KeBugCheckEx`, reachable only from the
//! panic handler); `link-only` a name a dependency references that the image may or may not
//! end up importing (`memcmp` from `core`). Every other name must be imported: the list
//! stays exactly what the driver uses.

use std::path::Path;

/// One allowed export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The exporting module as the image names it (`ntoskrnl.exe`, `FLTMGR.SYS`).
    pub library: String,
    /// The export's name.
    pub name: String,
    /// A variable (`DATA`), reachable only through `__imp_<name>`.
    pub data: bool,
    /// The first Windows build that exports it.
    pub min_build: u32,
    /// The link needs it; the image must not import it.
    pub never_imported: bool,
    /// The link needs it; the image need not import it.
    pub link_only: bool,
    /// `file:line`, for messages.
    pub source: String,
}

/// A `.def` line or file that does not follow the format.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line breaks the format.
    #[error("{at}: {problem}")]
    Format {
        /// `file:line`.
        at: String,
        /// What is wrong.
        problem: String,
    },
    /// No `.def` file in the directory.
    #[error("no .def file in {0}")]
    Empty(String),
}

/// The whole allow-list.
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    /// Every entry of every file.
    pub entries: Vec<Entry>,
}

impl AllowList {
    /// Reads every `*.def` in `dir`.
    ///
    /// # Errors
    /// [`Error`] when a file cannot be read or breaks the format.
    pub fn read_dir(dir: &Path) -> Result<Self, Error> {
        let read_err = |source| Error::Read {
            path: dir.display().to_string(),
            source,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "def"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Empty(dir.display().to_string()));
        }
        let mut list = Self::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Read {
                path: file.display().to_string(),
                source,
            })?;
            let name = file
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            list.entries.extend(parse_def(&name, &text)?);
        }
        Ok(list)
    }

    /// The entry for `name` exported by `library` (module names compare case-insensitively,
    /// as the loader compares them).
    #[must_use]
    pub fn find(&self, library: &str, name: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.name == name && e.library.eq_ignore_ascii_case(library))
    }

    /// The libraries named by the files.
    #[must_use]
    pub fn libraries(&self) -> Vec<&str> {
        let mut libs: Vec<&str> = self.entries.iter().map(|e| e.library.as_str()).collect();
        libs.sort_unstable();
        libs.dedup();
        libs
    }
}

/// Parses one `.def` file (`file` names it in messages).
///
/// # Errors
/// [`Error::Format`] for a line without `min-build`, an unknown keyword, an export before
/// `LIBRARY`/`EXPORTS`, or a name listed twice.
pub fn parse_def(file: &str, text: &str) -> Result<Vec<Entry>, Error> {
    let mut library: Option<String> = None;
    let mut in_exports = false;
    let mut entries: Vec<Entry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let at = format!("{file}:{}", index + 1);
        let bad = |problem: &str| Error::Format {
            at: at.clone(),
            problem: problem.to_owned(),
        };
        let (code, comment) = raw.split_once(';').unwrap_or((raw, ""));
        let mut words = code.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        if first.eq_ignore_ascii_case("LIBRARY") {
            library = Some(
                words
                    .next()
                    .ok_or_else(|| bad("LIBRARY without a name"))?
                    .to_owned(),
            );
            continue;
        }
        if first.eq_ignore_ascii_case("EXPORTS") {
            in_exports = true;
            continue;
        }
        let library = match (&library, in_exports) {
            (Some(l), true) => l.clone(),
            _ => return Err(bad("an export before LIBRARY and EXPORTS")),
        };
        let data = match words.next() {
            None => false,
            Some("DATA") => true,
            Some(other) => return Err(bad(&format!("unknown keyword {other:?} (only DATA)"))),
        };
        if words.next().is_some() {
            return Err(bad("more than `Name [DATA]` before the comment"));
        }
        let mut notes = comment.split_whitespace();
        let min_build = loop {
            match notes.next() {
                Some("min-build") => {
                    break notes
                        .next()
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(|| bad("`min-build` without a build number"))?
                }
                Some(_) => {}
                None => return Err(bad(&format!("{first}: no `; min-build N` comment"))),
            }
        };
        if entries.iter().any(|e| e.name == first) {
            return Err(bad(&format!("{first} is listed twice")));
        }
        entries.push(Entry {
            library,
            name: first.to_owned(),
            data,
            min_build,
            never_imported: comment.split_whitespace().any(|w| w == "never-imported"),
            link_only: comment.split_whitespace().any(|w| w == "link-only"),
            source: at,
        });
    }
    Ok(entries)
}

/// The oldest build the INF installs on: the smallest `N` of its
/// `[DefaultInstall.NT$ARCH$.10.0...N]` sections.
#[must_use]
pub fn inf_min_build(inf: &str) -> Option<u32> {
    inf.lines()
        .filter_map(|line| {
            let section = line
                .trim()
                .strip_prefix("[DefaultInstall.")?
                .strip_suffix(']')?;
            let (_, build) = section.rsplit_once("...")?;
            build.parse::<u32>().ok()
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_data_builds_and_never_imported() {
        let def = "; comment\nLIBRARY ntoskrnl.exe\nEXPORTS\n  A ; min-build 3790\n  B DATA ; min-build 7600\n  C ; min-build 3790 never-imported (why)\n";
        let entries = parse_def("n.def", def).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            (
                entries[0].name.as_str(),
                entries[0].data,
                entries[0].min_build
            ),
            ("A", false, 3790)
        );
        assert!(entries[1].data);
        assert!(entries[2].never_imported && !entries[0].never_imported);
        assert_eq!(entries[1].source, "n.def:5");
        assert_eq!(entries[0].library, "ntoskrnl.exe");
    }

    #[test]
    fn an_entry_without_its_minimum_build_is_refused() {
        let err = parse_def("n.def", "LIBRARY x.sys\nEXPORTS\n  A\n").unwrap_err();
        assert!(
            err.to_string().contains("n.def:3") && err.to_string().contains("min-build"),
            "{err}"
        );
        let err = parse_def(
            "n.def",
            "LIBRARY x.sys\nEXPORTS\n  A CONSTANT ; min-build 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("CONSTANT"), "{err}");
        let err = parse_def("n.def", "A ; min-build 1\n").unwrap_err();
        assert!(err.to_string().contains("before LIBRARY"), "{err}");
        let twice = "LIBRARY x.sys\nEXPORTS\n  A ; min-build 1\n  A ; min-build 1\n";
        assert!(parse_def("n.def", twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    #[test]
    fn the_inf_floor_is_its_oldest_decorated_section() {
        let inf = "[DefaultInstall.NT$ARCH$.10.0...25952]\n[DefaultInstall.NT$ARCH$.10.0...25952.Services]\n[DefaultInstall.NT$ARCH$.10.0...19041]\n";
        assert_eq!(inf_min_build(inf), Some(19041));
        assert_eq!(inf_min_build("[Version]\n"), None);
    }
}
