//! Where rule text comes from: the embedded pack, or a directory on disk.

use std::path::{Path, PathBuf};

/// One YAML file of a rule set, held in memory so the set can be validated, swapped in and
/// saved as "last good" from exactly the bytes that were tested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFile {
    /// Display name: the path on disk, or `builtin:NAME`.
    pub name: String,
    /// Path relative to the set's root (what "last good" writes back).
    pub relative: PathBuf,
    /// The text.
    pub text: String,
    /// Why the file could not be taken as text (not UTF-8), reported as one problem of
    /// this file while the rest of the set is still checked.
    pub unreadable: Option<String>,
}

impl RuleFile {
    /// Rule tests live beside the rules in `NAME.tests.yml`.
    #[must_use]
    pub fn is_test_file(&self) -> bool {
        let name = self.relative.to_string_lossy();
        name.ends_with(".tests.yml") || name.ends_with(".tests.yaml")
    }
}

/// A directory could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}", .path.display())]
pub struct ReadError {
    /// What could not be read.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../rules/", $name)))),*]
    };
}

/// The built-in pack, embedded at build time (see `rules/README.md`).
const BUILTIN: &[(&str, &str)] = builtin!(
    "ransomware.yml",
    "ransomware.tests.yml",
    "canary.yml",
    "canary.tests.yml",
    "persistence.yml",
    "persistence.tests.yml",
    "credentials.yml",
    "credentials.tests.yml",
    "dropped-executables.yml",
    "dropped-executables.tests.yml",
);

/// The built-in pack.
#[must_use]
pub fn builtin_files() -> Vec<RuleFile> {
    BUILTIN
        .iter()
        .map(|(name, text)| RuleFile {
            name: format!("builtin:{name}"),
            relative: PathBuf::from(name),
            text: (*text).to_owned(),
            unreadable: None,
        })
        .collect()
}

/// Every `*.yml` / `*.yaml` file under `dir` (recursively, sorted, hidden entries skipped).
///
/// # Errors
/// When the directory or a file cannot be read. A file that is not UTF-8 is read (empty,
/// with [`RuleFile::unreadable`] saying why): loading reports it as a problem of that file
/// and checks the rest.
pub fn read_dir(dir: &Path) -> Result<Vec<RuleFile>, ReadError> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(files)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<RuleFile>) -> Result<(), ReadError> {
    let error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(error(dir))? {
        let path = entry.map_err(error(dir))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        let is_yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"));
        if !is_yaml {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(error(&path))?;
        let (text, unreadable) = match String::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(e) => (
                String::new(),
                Some(format!(
                    "not UTF-8 (invalid byte at offset {}): Sigma rules are UTF-8 YAML",
                    e.utf8_error().valid_up_to()
                )),
            ),
        };
        out.push(RuleFile {
            name: path.display().to_string(),
            relative: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
            text,
            unreadable,
        });
    }
    Ok(())
}

/// A cheap fingerprint of a directory's rule files (names, sizes, modification times): the
/// file-change watcher reloads when it changes.
#[must_use]
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    fingerprint_walk(dir, &mut out);
    out.sort();
    out
}

fn fingerprint_walk(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            fingerprint_walk(&path, out);
        } else {
            out.push((path, meta.len(), meta.modified().ok()));
        }
    }
}
