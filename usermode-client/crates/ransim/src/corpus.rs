//! A tree of user files: several folders, each with a mix of text, CSV, Markdown, JSON, PDF,
//! Office (zip) documents, PNG and JPEG pictures, 6–40 KiB, content of the type each name
//! promises.

use std::path::{Path, PathBuf};

use crate::cipher::Keystream;

/// Folder names.
pub const FOLDERS: &[&str] = &["Documents", "Pictures", "Finance", "Projects"];

const EXTENSIONS: &[&str] = &[
    "txt", "pdf", "docx", "csv", "png", "xlsx", "md", "jpg", "json", "pptx",
];

const WORDS: &[&str] = &[
    "budget", "meeting", "report", "quarter", "client", "invoice", "review", "plan", "team",
    "project", "draft", "summary", "total", "schedule", "contract", "notes", "market", "sales",
];

fn prose(seed: u64, len: usize) -> Vec<u8> {
    let mut ks = Keystream::new(seed);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let pick = ks.bytes(1)[0] as usize % WORDS.len();
        out.extend_from_slice(WORDS[pick].as_bytes());
        out.push(if out.len() % 70 < 8 { b'\n' } else { b' ' });
    }
    out
}

/// The content of a file with this extension.
#[must_use]
pub fn content(ext: &str, seed: u64) -> Vec<u8> {
    let size = 6 * 1024 + (seed as usize * 7919) % (34 * 1024);
    let mut ks = Keystream::new(seed ^ 0xABCD);
    match ext {
        "pdf" => {
            let mut out =
                b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
            out.extend(b"2 0 obj << /Length 900 /Filter /FlateDecode >> stream\n");
            out.extend(ks.bytes(size / 2));
            out.extend(b"\nendstream endobj\n");
            out.extend(prose(seed, size / 2));
            out.extend(b"\nxref\n0 3\ntrailer << /Root 1 0 R >>\nstartxref\n1234\n%%EOF\n");
            out
        }
        "docx" | "xlsx" | "pptx" => {
            let mut out = b"PK\x03\x04\x14\x00\x06\x00\x08\x00".to_vec();
            out.extend(b"[Content_Types].xml");
            out.extend(ks.bytes(size));
            for part in ["word/document.xml", "docProps/core.xml", "_rels/.rels"] {
                out.extend(b"PK\x01\x02\x14\x00\x14\x00\x06\x00\x08\x00");
                out.extend(part.as_bytes());
            }
            out.extend(b"PK\x05\x06\x00\x00\x00\x00\x03\x00\x03\x00\x10\x01\x00\x00\x00\x00\x00\x00\x00\x00");
            out
        }
        "png" => {
            let mut out = b"\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00".to_vec();
            out.extend(b"\x00\x00\x10\x00IDAT");
            out.extend(ks.bytes(size));
            out.extend(b"\x00\x00\x00\x00IEND\xAE\x42\x60\x82");
            out
        }
        "jpg" => {
            let mut out =
                b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
            out.extend(ks.bytes(size));
            out.extend(b"\xFF\xD9");
            out
        }
        "csv" => {
            let mut out = b"date,client,amount,status\n".to_vec();
            let mut i = 0_u64;
            while out.len() < size {
                out.extend(
                    format!(
                        "2024-{:02}-{:02},client{},{}.{:02},paid\n",
                        i % 12 + 1,
                        i % 28 + 1,
                        (seed + i) % 97,
                        (seed * i) % 100_000,
                        i % 100
                    )
                    .as_bytes(),
                );
                i += 1;
            }
            out
        }
        "json" => {
            let mut out = b"{\"items\": [".to_vec();
            let mut i = 0_u64;
            while out.len() < size {
                out.extend(format!("{{\"id\": {i}, \"name\": \"item{}\"}}, ", seed + i).as_bytes());
                i += 1;
            }
            out.extend(b"{}]}\n");
            out
        }
        _ => prose(seed, size),
    }
}

/// Creates `per_folder` files in each of [`FOLDERS`] under `root`; returns them in creation
/// order.
///
/// # Errors
/// When a folder or file cannot be written.
pub fn seed(root: &Path, per_folder: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut n = 0_u64;
    for folder in FOLDERS {
        let dir = root.join(folder);
        std::fs::create_dir_all(&dir)?;
        for i in 0..per_folder {
            let ext = EXTENSIONS[i % EXTENSIONS.len()];
            let path = dir.join(format!("{}-{i:03}.{ext}", folder.to_lowercase()));
            n += 1;
            std::fs::write(&path, content(ext, n))?;
            files.push(path);
        }
    }
    Ok(files)
}

/// The regular files under `root`, sorted (what an encryptor walks).
#[must_use]
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
