//! The last good rule set, kept on disk so a restart after a bad update starts from rules
//! that passed their tests, not from the broken ones.

use std::path::{Path, PathBuf};

use crate::source::RuleFile;

/// Directory under the state dir that holds the last good set.
pub const LAST_GOOD: &str = "rules-last-good";

/// Writes `files` as the last good set under `state_dir`, atomically (a complete new copy is
/// renamed into place; a crash leaves the previous copy or the new one, never half of each).
///
/// # Errors
/// I/O errors.
pub fn save_last_good(state_dir: &Path, files: &[RuleFile]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(state_dir)?;
    let target = state_dir.join(LAST_GOOD);
    let staging = state_dir.join(format!("{LAST_GOOD}.tmp-{}", std::process::id()));
    let old = state_dir.join(format!("{LAST_GOOD}.old-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    for file in files {
        let path = staging.join(&file.relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &file.text)?;
    }
    std::fs::create_dir_all(&staging)?;
    if target.exists() {
        std::fs::rename(&target, &old)?;
    }
    std::fs::rename(&staging, &target)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(target)
}

/// Where the last good set is, if one was saved.
#[must_use]
pub fn last_good_dir(state_dir: &Path) -> Option<PathBuf> {
    let dir = state_dir.join(LAST_GOOD);
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| RuleFile {
            name: name.into(),
            relative: name.into(),
            text: text.into(),
            unreadable: None,
        };
        assert_eq!(last_good_dir(dir.path()), None);
        save_last_good(dir.path(), &[file("a.yml", "1"), file("sub/b.yml", "2")]).unwrap();
        save_last_good(dir.path(), &[file("c.yml", "3")]).unwrap();
        let saved = last_good_dir(dir.path()).unwrap();
        let files = crate::source::read_dir(&saved).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].text, "3");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no leftovers"
        );
    }
}
