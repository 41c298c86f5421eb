//! The simulator families: the shapes ransomware takes on a file system.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::cipher::Keystream;
use crate::corpus;
use crate::progress;

/// One simulator family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Every file overwritten in place with ciphertext, no rename.
    InPlace,
    /// Overwritten in place, then renamed with a new extension appended.
    EncryptRename,
    /// Ciphertext written to `name.enc`, the original deleted.
    CopyDelete,
    /// Ciphertext written to a random name, the original deleted.
    CopyDeleteAnon,
    /// A shell loop running one encryptor process and one `rm` per file.
    LoopEncryptor,
    /// A shell loop running one `mv f f.encrypted` per file: content untouched.
    LoopMv,
    /// Partial encryption: the first KiB only, or every other 512-byte block with the
    /// header kept.
    Intermittent,
    /// One child process per folder, each encrypting and renaming its folder.
    Folder,
    /// In place, one file every `delay`.
    Slow,
    /// Ransom notes in every folder, nothing encrypted.
    Notes,
    /// Every byte inverted in place (XOR 0xFF), no rename: "encryption" that keeps the
    /// entropy of the original.
    BitFlip,
}

impl Family {
    /// Every family, in the benchmark's order.
    pub const ALL: [Self; 11] = [
        Self::InPlace,
        Self::EncryptRename,
        Self::CopyDelete,
        Self::CopyDeleteAnon,
        Self::LoopEncryptor,
        Self::LoopMv,
        Self::Intermittent,
        Self::Folder,
        Self::Slow,
        Self::BitFlip,
        Self::Notes,
    ];

    /// Command-line name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::InPlace => "in-place",
            Self::EncryptRename => "encrypt-rename",
            Self::CopyDelete => "copy-encrypt-delete",
            Self::CopyDeleteAnon => "copy-encrypt-delete-random-name",
            Self::LoopEncryptor => "loop-encryptor-per-file",
            Self::LoopMv => "loop-mv-rename-only",
            Self::Intermittent => "intermittent",
            Self::Folder => "folder-at-a-time",
            Self::Slow => "slow-rate",
            Self::Notes => "note-drop-only",
            Self::BitFlip => "bit-flip-in-place",
        }
    }

    /// Parses a command-line name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How to run a family.
#[derive(Clone, Debug)]
pub struct Options {
    /// Progress log (one line per file lost).
    pub log: Option<PathBuf>,
    /// Pause after each file.
    pub delay: Duration,
    /// This program, for the families that start child processes.
    pub exe: PathBuf,
}

/// The note every family that drops one writes.
pub const NOTE_NAME: &str = "!!!_HOW_TO_RESTORE_FILES_!!!.txt";
const NOTE: &str = "Attention! All your documents, photos and databases were encrypted by the \
Picket simulator.\nTo get them back you would be told to pay in Bitcoin and to contact the \
operators through Tor Browser within 72 hours.\nThis is a test: nothing was taken, the key is \
a fixed seed.\n";

fn seed_of(path: &Path) -> u64 {
    path.to_string_lossy()
        .bytes()
        .fold(0xCBF2_9CE4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
        })
}

/// Overwrites `path` in place (same inode, no truncation) with its ciphertext.
fn encrypt_in_place(path: &Path) -> std::io::Result<()> {
    let mut data = std::fs::read(path)?;
    Keystream::new(seed_of(path)).apply(&mut data);
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(&data)?;
    file.sync_data()
}

/// Encrypts parts only: the first KiB (`first_kib`), or every other 512-byte block from the
/// second one (the header stays readable).
fn encrypt_partly(path: &Path, first_kib: bool) -> std::io::Result<()> {
    let data = std::fs::read(path)?;
    let mut ks = Keystream::new(seed_of(path));
    let mut file = OpenOptions::new().write(true).open(path)?;
    for (i, block) in data.chunks(512).enumerate() {
        let encrypt = if first_kib { i < 2 } else { i % 2 == 1 };
        if encrypt {
            let mut block = block.to_vec();
            ks.apply(&mut block);
            file.seek(SeekFrom::Start((i * 512) as u64))?;
            file.write_all(&block)?;
        }
    }
    file.sync_data()
}

/// Writes the ciphertext of `path` to `out` (a new file).
///
/// # Errors
/// When either file cannot be read or written.
pub fn encrypt_copy(path: &Path, out: &Path) -> std::io::Result<()> {
    let mut data = std::fs::read(path)?;
    Keystream::new(seed_of(path)).apply(&mut data);
    std::fs::write(out, data)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn shell(script: &str) -> anyhow::Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .context("run sh")?;
    if !status.success() {
        bail!("shell loop failed: {status}");
    }
    Ok(())
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// Encrypts and renames every file of one folder (the `folder` family's child).
///
/// # Errors
/// When a file cannot be read or written.
pub fn encrypt_dir(dir: &Path, log: Option<&Path>) -> anyhow::Result<usize> {
    let files = corpus::walk(dir);
    for file in &files {
        encrypt_in_place(file)?;
        std::fs::rename(file, with_suffix(file, ".fldrlock"))?;
        progress::record(log)?;
    }
    Ok(files.len())
}

/// Runs `family` over the files under `root`. Returns how many files were lost (notes
/// written, for the note family).
///
/// # Errors
/// When a file cannot be read or written, or a child process fails.
pub fn run(family: Family, root: &Path, options: &Options) -> anyhow::Result<usize> {
    let log = options.log.as_deref();
    let files = corpus::walk(root);
    let pause = || {
        if !options.delay.is_zero() {
            std::thread::sleep(options.delay);
        }
    };
    match family {
        Family::InPlace | Family::Slow => {
            for file in &files {
                encrypt_in_place(file)?;
                progress::record(log)?;
                pause();
            }
        }
        Family::EncryptRename => {
            for file in &files {
                encrypt_in_place(file)?;
                std::fs::rename(file, with_suffix(file, ".pkcrypt"))?;
                progress::record(log)?;
                pause();
            }
        }
        Family::CopyDelete => {
            for file in &files {
                encrypt_copy(file, &with_suffix(file, ".enc"))?;
                std::fs::remove_file(file)?;
                progress::record(log)?;
                pause();
            }
        }
        Family::CopyDeleteAnon => {
            for (i, file) in files.iter().enumerate() {
                let dir = file.parent().unwrap_or(root);
                let name = format!("{:016x}.lck", seed_of(file) ^ i as u64);
                encrypt_copy(file, &dir.join(name))?;
                std::fs::remove_file(file)?;
                progress::record(log)?;
                pause();
            }
        }
        Family::BitFlip => {
            for file in &files {
                let data: Vec<u8> = std::fs::read(file)?.iter().map(|b| !b).collect();
                let mut out = OpenOptions::new().write(true).open(file)?;
                out.write_all(&data)?;
                out.sync_data()?;
                progress::record(log)?;
                pause();
            }
        }
        Family::Intermittent => {
            for (i, file) in files.iter().enumerate() {
                encrypt_partly(file, i % 2 == 0)?;
                progress::record(log)?;
                pause();
            }
        }
        Family::LoopEncryptor => {
            let log_arg = log.map_or(String::new(), |l| format!(" --log {}", quote(l)));
            shell(&format!(
                "find {root} -type f | sort | while read -r f; do {exe} encrypt-one \"$f\" --suffix .enc{log_arg} && rm -f \"$f\"; done",
                root = quote(root),
                exe = quote(&options.exe),
            ))?;
        }
        Family::LoopMv => {
            let log_cmd = log.map_or(String::new(), |l| format!(" && date +%s%N >> {}", quote(l)));
            shell(&format!(
                "find {root} -type f | sort | while read -r f; do mv \"$f\" \"$f.encrypted\"{log_cmd}; done",
                root = quote(root),
            ))?;
        }
        Family::Folder => {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            dirs.sort();
            for dir in dirs {
                let mut child = Command::new(&options.exe);
                child.arg("encrypt-dir").arg(&dir);
                if let Some(log) = log {
                    child.arg("--log").arg(log);
                }
                let status = child.status().context("start the folder encryptor")?;
                if !status.success() {
                    bail!("folder encryptor failed on {}: {status}", dir.display());
                }
            }
        }
        Family::Notes => {
            let mut dirs = vec![root.to_path_buf()];
            dirs.extend(
                std::fs::read_dir(root)?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir()),
            );
            dirs.sort();
            for dir in &dirs {
                std::fs::write(dir.join(NOTE_NAME), NOTE)?;
                progress::record(log)?;
                pause();
            }
            return Ok(dirs.len());
        }
    }
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            log: None,
            delay: Duration::ZERO,
            exe: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn families_change_what_they_claim() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a");
        let files = corpus::seed(&root, 3).unwrap();
        let before = std::fs::read(&files[0]).unwrap();
        assert_eq!(run(Family::InPlace, &root, &options()).unwrap(), 12);
        let after = std::fs::read(&files[0]).unwrap();
        assert_eq!(before.len(), after.len());
        assert_ne!(before, after);

        let root = tmp.path().join("b");
        let files = corpus::seed(&root, 3).unwrap();
        run(Family::CopyDelete, &root, &options()).unwrap();
        assert!(!files[0].exists());
        assert!(with_suffix(&files[0], ".enc").is_file());

        let root = tmp.path().join("c");
        corpus::seed(&root, 2).unwrap();
        assert_eq!(run(Family::Notes, &root, &options()).unwrap(), 5);
        assert!(root.join("Finance").join(NOTE_NAME).is_file());

        let root = tmp.path().join("d");
        let files = corpus::seed(&root, 2).unwrap();
        let before = std::fs::read(&files[1]).unwrap();
        run(Family::Intermittent, &root, &options()).unwrap();
        let after = std::fs::read(&files[1]).unwrap();
        assert_eq!(before[..512], after[..512], "header kept");
        assert_ne!(before[512..1024], after[512..1024]);
    }

    #[test]
    fn names_round_trip() {
        for f in Family::ALL {
            assert_eq!(Family::from_name(f.name()), Some(f));
        }
    }
}
