//! What file names say: backup and temp suffixes that tools append on purpose, extensions of
//! user data, and whether a new name derives from an old one.

/// Suffixes that tools append on purpose: backups (`sed -i.bak`, `perl -pi.orig`, editors'
/// `~`), package managers' staging names, downloads in progress, log rotation numbers,
/// compression, and workflow markers (`.done`). A rename to one of these is not ransomware's
/// "new extension".
const BENIGN_SUFFIXES: &[&str] = &[
    "bak",
    "orig",
    "old",
    "backup",
    "bk",
    "bkp",
    "sav",
    "save",
    "prev",
    "previous",
    "new",
    "tmp",
    "temp",
    "swp",
    "swo",
    "swx",
    "part",
    "partial",
    "crdownload",
    "download",
    "dpkg-new",
    "dpkg-old",
    "dpkg-dist",
    "dpkg-tmp",
    "dpkg-bak",
    "rpmnew",
    "rpmsave",
    "rpmorig",
    "ucf-old",
    "ucf-dist",
    "ucf-new",
    "lock",
    "gz",
    "bz2",
    "xz",
    "zst",
    "lz4",
    "z",
    "zip",
    "7z",
    "tar",
    "tgz",
    "rej",
    "patch",
    "diff",
    "done",
    "processed",
    "sent",
    "failed",
    "ok",
    "complete",
    "completed",
    "ready",
    "imported",
    "archived",
    "uploaded",
    "disabled",
    "off",
    "dist",
    "default",
    "example",
    "sample",
    "copy",
    "cache",
];

/// The extension of a file name (after the last dot), if any, lower-cased.
#[must_use]
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// A suffix tools add on purpose (see [`BENIGN_SUFFIXES`]), a rotation number (`.1`,
/// `.2024-01-31`), or an editor's `~` / `#…#`.
#[must_use]
pub fn is_benign_suffix(name: &str) -> bool {
    if name.ends_with('~') || (name.starts_with('#') && name.ends_with('#')) {
        return true;
    }
    let Some(ext) = extension(name) else {
        return false;
    };
    BENIGN_SUFFIXES.contains(&ext.as_str())
        || ext
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Temp-file names tools write before renaming into place: dot-files (`.x.AbC123` rsync,
/// `.x.swp` vim), `sedXXXXXX`, `~$x.docx`, `x.tmp`.
#[must_use]
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with("~$")
        || ((name.starts_with("sed") || name.starts_with("tmp"))
            && !name.contains('.')
            && name.len() <= 12)
        || is_benign_suffix(name)
}

/// `new` is `old` with something appended (`a.docx` → `a.docx.locked`,
/// `a.docx` → `a.docx_[id].crypt`), or shares its stem with a different extension
/// (`a.docx` → `a.crypt`).
#[must_use]
pub fn derives_from(old: &str, new: &str) -> bool {
    if old == new || old.is_empty() {
        return false;
    }
    if new.len() > old.len() && new.starts_with(old) {
        return true;
    }
    let stem = |n: &str| n.split('.').next().unwrap_or(n).to_owned();
    let (old_stem, new_stem) = (stem(old), stem(new));
    !old_stem.is_empty() && old_stem == new_stem && old.contains('.') && new.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benign_suffixes_and_rotation_numbers() {
        for name in [
            "a.txt.bak",
            "a.txt.orig",
            "a.txt~",
            "#a.txt#",
            "app.log.1",
            "app.log.2024-01-31",
            "x.dpkg-new",
            "a.txt.gz",
            "job.csv.done",
        ] {
            assert!(is_benign_suffix(name), "{name}");
        }
        for name in ["a.txt.locked", "a.docx.enc", "a.pdf.WNCRY", "a", "a.x7k2p"] {
            assert!(!is_benign_suffix(name), "{name}");
        }
    }

    #[test]
    fn temp_names() {
        for name in [
            ".a.txt.AbC123",
            "sedXyZ12",
            "~$report.docx",
            "x.tmp",
            ".a.swp",
        ] {
            assert!(is_temp_name(name), "{name}");
        }
        assert!(!is_temp_name("report.docx"));
        assert!(!is_temp_name("sediment.pdf"));
    }

    #[test]
    fn derived_names() {
        assert!(derives_from("a.docx", "a.docx.locked"));
        assert!(derives_from("a.docx", "a.docx_id-1234.crypt"));
        assert!(derives_from("a.docx", "a.crypt"));
        assert!(derives_from("data", "data.enc"));
        assert!(!derives_from("a.docx", "a.docx"));
        assert!(!derives_from("a.docx", "b.docx.locked"));
        assert!(!derives_from("a", "b.enc"));
        assert_eq!(extension("A.DOCX").as_deref(), Some("docx"));
        assert_eq!(extension(".bashrc"), None);
        assert_eq!(extension("noext"), None);
    }
}
