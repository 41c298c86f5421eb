//! Decoy files placed on request (`picket watch --canary-auto DIR`): names that sort first
//! and last (ransomware usually walks a folder in directory or name order), in the folder and
//! in a subfolder, with believable content of the type their name promises, so an encryptor
//! treats them as documents. Any touch raises the canary rule.
//!
//! They are left in place when the sensor stops, so a restart reuses them (and a user who
//! opens one gets a clear explanation inside).

use std::path::{Path, PathBuf};

/// Names of the decoys, relative to the folder.
pub const DECOYS: &[&str] = &[
    "!0000-picket-canary.docx.txt",
    "!0000-picket-canary.csv",
    "zzzz-picket-canary.txt",
    "~picket-canary/!0000-picket-canary.md",
    "~picket-canary/zzzz-picket-canary.csv",
];

const BODY: &str = "This file is a Picket canary (decoy). Nothing should open, change, rename or \
delete it: Picket raises an alert when something does.\n\
Account,Amount,Date\nACME Corp,12000,2024-03-01\nGlobex,8400,2024-03-02\n";

/// Creates the decoys under `dir` (those already there are kept as they are) and returns
/// their paths, absolute.
///
/// # Errors
/// When `dir` is not a folder or a decoy cannot be written.
pub fn place(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let dir = std::path::absolute(dir)?;
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a folder", dir.display()),
        ));
    }
    let mut placed = Vec::with_capacity(DECOYS.len());
    for name in DECOYS {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !path.exists() {
            std::fs::write(&path, BODY)?;
        }
        placed.push(path);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_decoys_once_and_refuses_a_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let placed = place(dir.path()).unwrap();
        assert_eq!(placed.len(), DECOYS.len());
        assert!(placed.iter().all(|p| p.is_file() && p.is_absolute()));
        std::fs::write(&placed[0], "changed").unwrap();
        let again = place(dir.path()).unwrap();
        assert_eq!(again, placed);
        assert_eq!(std::fs::read_to_string(&placed[0]).unwrap(), "changed");
        assert!(place(&dir.path().join("missing")).is_err());
    }
}
