//! Benign workloads whose file patterns look like ransomware's: rewrites, renames to new
//! suffixes, new high-entropy files next to deleted originals. Real tools where they are
//! installed everywhere Picket's CI runs (sed, perl, git, tar, gzip, zip, make, cc); the
//! patterns of tools that may be missing (an editor's swap file, rsync's temp files, dpkg's
//! staging names, log rotation) are reproduced step by step.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};

use crate::corpus;

/// One benign workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Benign {
    /// `sed -i.bak` over 300 text files.
    SedBackup,
    /// `perl -pi.orig` over 100 files.
    PerlBackup,
    /// An editor saving with a swap file and a `~` backup.
    Editor,
    /// rsync's pattern: `.name.XXXXXX` written, renamed into place (new and updated files).
    Rsync,
    /// `git commit` and `git checkout` back and forth over 100 files.
    Git,
    /// `tar czf` then `tar xzf`.
    Tar,
    /// `zip -r`, `unzip`, `unzip -o` over existing files, and `zip -m` (which deletes the
    /// originals it compressed).
    Zip,
    /// `gzip -r` (every file replaced by a `.gz`) and `gunzip -r`.
    GzipRecursive,
    /// `make -j2` of 20 C files, `make clean`, and again.
    Build,
    /// dpkg's pattern: `x.dpkg-new` written and renamed over `x`, a `.dpkg-old` backup.
    PackageManager,
    /// logrotate with compression: `.1` → `.2.gz`, `app.log` → `.1`, a new `app.log`.
    LogRotation,
    /// `cp -r` of a malware-research tree: a README per ransomware family, each telling of
    /// encryption, bitcoin and deadlines in its own words, and a detection rule beside it.
    CopyResearchTree,
}

impl Benign {
    /// Every workload.
    pub const ALL: [Self; 12] = [
        Self::SedBackup,
        Self::PerlBackup,
        Self::Editor,
        Self::Rsync,
        Self::Git,
        Self::Tar,
        Self::Zip,
        Self::GzipRecursive,
        Self::Build,
        Self::PackageManager,
        Self::LogRotation,
        Self::CopyResearchTree,
    ];

    /// Command-line name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::SedBackup => "sed-i-bak",
            Self::PerlBackup => "perl-pi-orig",
            Self::Editor => "editor-swap-backup",
            Self::Rsync => "rsync-temp-rename",
            Self::Git => "git-checkout",
            Self::Tar => "tar-create-extract",
            Self::Zip => "zip-unzip-move",
            Self::GzipRecursive => "gzip-r",
            Self::Build => "make-build",
            Self::PackageManager => "package-manager",
            Self::LogRotation => "log-rotation",
            Self::CopyResearchTree => "cp-r-research-tree",
        }
    }

    /// Parses a command-line name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

fn sh(dir: &Path, script: &str) -> anyhow::Result<()> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .with_context(|| format!("run `{script}`"))?;
    if !out.status.success() {
        bail!(
            "`{script}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn text_files(dir: &Path, n: usize, ext: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for i in 0..n {
        std::fs::write(
            dir.join(format!("file{i:03}.{ext}")),
            corpus::content("txt", i as u64 + 1),
        )?;
    }
    Ok(())
}

/// Runs `workload` inside `root` (created if needed).
///
/// # Errors
/// When a tool is missing or fails, or a file cannot be written.
pub fn run(workload: Benign, root: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(root)?;
    match workload {
        Benign::SedBackup => {
            text_files(root, 300, "txt")?;
            sh(root, "sed -i.bak s/a/b/ *.txt")?;
        }
        Benign::PerlBackup => {
            text_files(root, 100, "conf")?;
            sh(root, "perl -pi.orig -e 's/e/E/g' *.conf")?;
        }
        Benign::Editor => {
            text_files(root, 50, "md")?;
            for i in 0..50 {
                let file = root.join(format!("file{i:03}.md"));
                let swap = root.join(format!(".file{i:03}.md.swp"));
                let backup = root.join(format!("file{i:03}.md~"));
                std::fs::write(&swap, b"b0VIM 9.0\x00\x00\x00\x00\x10\x00\x00")?;
                std::fs::rename(&file, &backup)?;
                std::fs::write(&file, corpus::content("md", i + 500))?;
                std::fs::remove_file(&backup)?;
                std::fs::remove_file(&swap)?;
            }
        }
        Benign::Rsync => {
            let src = root.join("src");
            corpus::seed(&src, 15)?;
            let dst = root.join("dst");
            for round in 0..2_u64 {
                for file in corpus::walk(&src) {
                    let rel = file.strip_prefix(&src)?;
                    let target = dst.join(rel);
                    let dir = target.parent().context("parent")?;
                    std::fs::create_dir_all(dir)?;
                    let name = target.file_name().context("name")?.to_string_lossy();
                    let temp = dir.join(format!(".{name}.a{round}B3x9"));
                    std::fs::copy(&file, &temp)?;
                    std::fs::rename(&temp, &target)?;
                }
            }
        }
        Benign::Git => {
            text_files(root, 100, "rs")?;
            let git = "git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main";
            sh(
                root,
                &format!(
                    "{git} init -q . && {git} add -A && {git} commit -qm one && \
                     {git} checkout -qb two && sed -i s/e/E/g *.rs && {git} commit -qam two && \
                     {git} checkout -q main && {git} checkout -q two && {git} checkout -q main"
                ),
            )?;
        }
        Benign::Tar => {
            corpus::seed(&root.join("data"), 15)?;
            sh(
                root,
                "tar czf data.tgz data && mkdir -p out && tar xzf data.tgz -C out && tar xzf data.tgz -C out",
            )?;
        }
        Benign::Zip => {
            corpus::seed(&root.join("data"), 15)?;
            sh(
                root,
                "zip -qr data.zip data && mkdir -p out && unzip -q data.zip -d out && \
                 unzip -qo data.zip -d out && zip -qrm moved.zip out",
            )?;
        }
        Benign::GzipRecursive => {
            corpus::seed(&root.join("data"), 15)?;
            sh(root, "gzip -r data && gunzip -r data")?;
        }
        Benign::Build => {
            let mut objects = Vec::new();
            for i in 0..20 {
                std::fs::write(
                    root.join(format!("m{i}.c")),
                    format!("int f{i}(int x) {{ return x * {i} + 1; }}\n"),
                )?;
                objects.push(format!("m{i}.o"));
            }
            std::fs::write(
                root.join("main.c"),
                "int f0(int);\nint main(void) { return f0(1) - 1; }\n",
            )?;
            std::fs::write(
                root.join("Makefile"),
                format!(
                    "app: main.o {o}\n\tcc -o app main.o {o}\n%.o: %.c\n\tcc -O1 -c $< -o $@\nclean:\n\trm -f app *.o\n",
                    o = objects.join(" ")
                ),
            )?;
            sh(root, "make -s -j2 && make -s clean && make -s -j2")?;
        }
        Benign::PackageManager => {
            let dir = root.join("usr/share/pkg");
            std::fs::create_dir_all(&dir)?;
            for round in 0..2_u64 {
                for i in 0..40_u64 {
                    let target = dir.join(format!("lib{i}.so"));
                    let new = dir.join(format!("lib{i}.so.dpkg-new"));
                    let mut body = b"\x7FELF\x02\x01\x01\x00".to_vec();
                    body.extend(corpus::content("bin", i + round * 100));
                    std::fs::write(&new, body)?;
                    if target.exists() {
                        std::fs::rename(&target, dir.join(format!("lib{i}.so.dpkg-old")))?;
                    }
                    std::fs::rename(&new, &target)?;
                    let _ = std::fs::remove_file(dir.join(format!("lib{i}.so.dpkg-old")));
                    let doc = dir.join(format!("changelog{i}.gz"));
                    std::fs::write(dir.join(format!("changelog{i}")), corpus::content("txt", i))?;
                    let _ = std::fs::remove_file(&doc);
                    sh(&dir, &format!("gzip -f changelog{i}"))?;
                }
            }
        }
        Benign::LogRotation => {
            let dir = root.join("log");
            std::fs::create_dir_all(&dir)?;
            for round in 0..6_u64 {
                std::fs::write(dir.join("app.log"), corpus::content("txt", round + 7))?;
                sh(
                    &dir,
                    "for n in 4 3 2; do [ -f app.log.$n.gz ] && mv app.log.$n.gz app.log.$((n+1)).gz; done; \
                     [ -f app.log.1 ] && gzip -f app.log.1 && mv app.log.1.gz app.log.2.gz; \
                     mv app.log app.log.1; : > app.log",
                )?;
            }
        }
        Benign::CopyResearchTree => {
            research_tree(&root.join("src"))?;
            sh(root, "cp -r src copy")?;
        }
    }
    Ok(())
}

/// Ransomware families a research tree describes, one folder each.
const FAMILIES: [&str; 8] = [
    "lockbit", "conti", "ryuk", "revil", "blackcat", "akira", "play", "royal",
];

/// A folder per family: its README in words of its own (what ransom notes say, quoted) and
/// a rule that names the note's strings.
fn research_tree(dir: &Path) -> anyhow::Result<()> {
    for (i, family) in FAMILIES.iter().enumerate() {
        let folder = dir.join(family);
        std::fs::create_dir_all(&folder)?;
        std::fs::write(
            folder.join("README.md"),
            format!(
                "# {family}\n\nSample {i}. {family} encrypts files with a per-victim key and \
                 drops a note: victims must pay in bitcoin to a wallet within {h} hours, or \
                 the stolen data is published on its leak site. The decryptor is sent after \
                 payment. See rule.yml for the note's strings.\n",
                h = 24 + i * 24
            ),
        )?;
        std::fs::write(
            folder.join("rule.yml"),
            format!(
                "title: {family} ransom note\ndetection:\n  keywords:\n    - 'your files are \
                 encrypted'\n    - 'bitcoin'\n    - 'decrypt'\n  condition: keywords\n"
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in Benign::ALL {
            assert_eq!(Benign::from_name(b.name()), Some(b));
        }
    }

    #[test]
    fn the_simulated_patterns_run() {
        let tmp = tempfile::tempdir().unwrap();
        for b in [Benign::Editor, Benign::Rsync, Benign::LogRotation] {
            let dir = tmp.path().join(b.name());
            run(b, &dir).unwrap();
        }
        assert!(tmp.path().join("log-rotation/log/app.log.3.gz").is_file());
        assert!(tmp
            .path()
            .join("rsync-temp-rename/dst/Finance/finance-000.txt")
            .is_file());
    }
}
