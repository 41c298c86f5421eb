//! Splitting a full path into directory, name and extension.

/// The parts of a full path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathParts<'a> {
    /// Everything before the last separator, without it — except at the root, which keeps
    /// its separator (`C:\`, `/`) so the directory is always a usable path.
    pub directory: &'a str,
    /// The last component.
    pub name: &'a str,
    /// The extension of `name` without the dot, if it has one (`a.tar.gz` → `gz`; none for
    /// `.bashrc`, `a.` or a name without a dot).
    pub extension: Option<&'a str>,
}

fn extension(name: &str) -> Option<&str> {
    let dot = name.rfind('.')?;
    let ext = name.get(dot + 1..)?;
    (dot > 0 && !ext.is_empty()).then_some(ext)
}

/// Splits a Windows path (`\` separators; `/` is accepted too, as Win32 does).
#[must_use]
pub fn split_windows(path: &str) -> PathParts<'_> {
    let trimmed = path.trim_end_matches(['\\', '/']);
    let trimmed = if trimmed.is_empty() { path } else { trimmed };
    match trimmed.rfind(['\\', '/']) {
        Some(at) => {
            let name = trimmed.get(at + 1..).unwrap_or_default();
            let before = trimmed.get(..at).unwrap_or_default();
            // `C:\x` → `C:\`; `\\server\share\x` stays `\\server\share`.
            let directory = if before.len() == 2 && before.ends_with(':') || before.is_empty() {
                trimmed.get(..=at).unwrap_or_default()
            } else {
                before
            };
            PathParts {
                directory,
                name,
                extension: extension(name),
            }
        }
        None => PathParts {
            directory: "",
            name: trimmed,
            extension: extension(trimmed),
        },
    }
}

/// Splits a POSIX path.
#[must_use]
pub fn split_posix(path: &str) -> PathParts<'_> {
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { path } else { trimmed };
    match trimmed.rfind('/') {
        Some(at) => {
            let name = trimmed.get(at + 1..).unwrap_or_default();
            let directory = if at == 0 {
                "/"
            } else {
                trimmed.get(..at).unwrap_or_default()
            };
            PathParts {
                directory,
                name,
                extension: extension(name),
            }
        }
        None => PathParts {
            directory: "",
            name: trimmed,
            extension: extension(trimmed),
        },
    }
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
