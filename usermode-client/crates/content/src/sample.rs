//! One bounded read of a file: its head and, for files larger than the head, its tail.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::kind::{self, Expectation, Kind};
use crate::measure;

/// Bounds of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleLimits {
    /// Bytes read from the start (and, for larger files, from the end).
    pub window: usize,
    /// Files larger than this are not read (big media and disk images: costly, little signal).
    pub max_file_size: u64,
}

impl Default for SampleLimits {
    fn default() -> Self {
        Self {
            window: 4096,
            max_file_size: 256 * 1024 * 1024,
        }
    }
}

/// What a sample showed.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// File size when read.
    pub size: u64,
    /// Kind of the head.
    pub kind: Kind,
    /// Entropy of the head, bits per byte.
    pub head_entropy: f64,
    /// The first 512 bytes look random (partial encryption of the start).
    pub start_random: bool,
    /// More than half of the head's bytes are 0x80 or above (text transformed byte by byte).
    pub mostly_high: bool,
    /// What the file's last bytes show (for a file no larger than the head: the head).
    pub tail: Option<Tail>,
    /// Ransom-note words in a text head: (encryption words, extortion words).
    pub note_words: (u8, u8),
    /// FNV-1a of the head, to recognise the same note dropped in many folders.
    pub head_hash: u64,
}

/// What a file's last bytes show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tail {
    /// Random-looking.
    pub random: bool,
    /// Text.
    pub text: bool,
    /// Holds a PDF's `%%EOF`.
    pub pdf_end: bool,
    /// Holds a zip's end-of-central-directory record.
    pub zip_end: bool,
}

impl Tail {
    /// Measures the last bytes of a file.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        Self {
            random: measure::looks_random(bytes),
            text: measure::is_text(bytes),
            pdf_end: contains(b"%%EOF"),
            zip_end: contains(b"PK\x05\x06"),
        }
    }
}

/// Why no sample.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// Open, stat, seek or read failed (gone, renamed, locked, no permission).
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
    /// Not a regular file (a FIFO or device must never block the reader).
    #[error("not a regular file")]
    NotRegular,
    /// Larger than the limit.
    #[error("larger than the sampling limit")]
    TooLarge,
}

/// Why a sample says the content was replaced by encrypted-looking bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptedLook {
    /// The first bytes are random-looking with no magic.
    OpaqueHead,
    /// A text file's first bytes are no longer text (partly encrypted).
    TextBroken,
    /// A format known by its magic bytes starts with random bytes (its first KiB
    /// encrypted).
    HeaderLost,
    /// The head is intact but the end of a format that ends in structure (a PDF's `%%EOF`,
    /// a zip's central directory, text) is gone: the end encrypted, or a key blob appended.
    TailBroken,
}

impl Sample {
    /// Whether this content breaks what `expected` (from the extension, or from what was
    /// known of the file before) promised, and how. `Anything` only flags random bytes
    /// where a structured kind was known before (`previous`).
    #[must_use]
    pub fn encrypted_look(
        &self,
        expected: Expectation,
        previous: Option<Kind>,
    ) -> Option<EncryptedLook> {
        let promised = match (expected, previous) {
            (_, Some(kind)) if !kind.is_ciphertext_like() && kind != Kind::Empty => Some(kind),
            (Expectation::Structured(kind), _) => Some(kind),
            _ => None,
        }?;
        if self.kind.is_ciphertext_like() && !promised.is_ciphertext_like() {
            return Some(EncryptedLook::OpaqueHead);
        }
        // Text turned binary: random bytes mixed in, or every byte transformed (a bit flip or
        // XOR with a constant keeps the entropy of text but moves it to the high half).
        if promised == Kind::Text
            && self.kind == Kind::Binary
            && (self.head_entropy >= 5.5 || self.mostly_high)
        {
            return Some(EncryptedLook::TextBroken);
        }
        // A format that always starts with its magic now starts with none, and is not a
        // preallocated run of zeros being filled in.
        if promised.has_magic()
            && self.kind == Kind::Binary
            && (self.start_random || self.head_entropy >= 3.0)
        {
            return Some(EncryptedLook::HeaderLost);
        }
        let tail_broken = self.tail.is_some_and(|tail| match promised {
            Kind::Text => !tail.text,
            Kind::Pdf => !tail.pdf_end,
            Kind::Zip => !tail.zip_end,
            _ => false,
        });
        if promised.has_structured_tail() && self.kind == promised && tail_broken {
            return Some(EncryptedLook::TailBroken);
        }
        None
    }

    /// Reads like a ransom note: text with encryption and extortion words.
    #[must_use]
    pub fn is_ransom_note(&self) -> bool {
        let (crypto, extortion) = self.note_words;
        self.kind == Kind::Text && crypto >= 1 && extortion >= 2
    }
}

/// Reads at most two windows of `path` and measures them. Opens non-blocking so a FIFO
/// renamed into place cannot stall the reader.
///
/// # Errors
/// When the file cannot be read, is not regular, or is larger than the limit.
pub fn read_sample(path: &Path, limits: SampleLimits) -> Result<Sample, SampleError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK | O_NOATIME-free: atime updates are harmless and NOATIME needs ownership.
        options.custom_flags(0o4000);
    }
    let mut file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(SampleError::NotRegular);
    }
    if meta.len() > limits.max_file_size {
        return Err(SampleError::TooLarge);
    }
    let mut head = Vec::with_capacity(limits.window);
    (&mut file)
        .take(limits.window as u64)
        .read_to_end(&mut head)?;
    let window = limits.window as u64;
    let tail = if meta.len() > window {
        let start = meta.len().saturating_sub(window).max(window);
        file.seek(SeekFrom::Start(start))?;
        let mut tail = Vec::with_capacity(limits.window);
        file.take(window).read_to_end(&mut tail)?;
        // A short tail is read together with the end of the head.
        let mut joined = head
            .get(head.len().saturating_sub(512)..)
            .unwrap_or(&[])
            .to_vec();
        joined.extend_from_slice(&tail);
        Some(Tail::of(if tail.len() >= 512 { &tail } else { &joined }))
    } else {
        Some(Tail::of(&head))
    };
    Ok(measure_head(&head, meta.len(), tail))
}

/// The measures of a head already in memory (used by [`read_sample`] and by tests).
#[must_use]
pub fn measure_head(head: &[u8], size: u64, tail: Option<Tail>) -> Sample {
    let kind = kind::identify(head);
    let note_words = if kind == Kind::Text {
        measure::note_words(head)
    } else {
        (0, 0)
    };
    Sample {
        size,
        kind,
        head_entropy: measure::shannon(head).unwrap_or(0.0),
        start_random: measure::looks_random(head.get(..512).unwrap_or(head)),
        mostly_high: head
            .iter()
            .filter(|&&b| b >= 0x80)
            .count()
            .saturating_mul(2)
            > head.len(),
        tail,
        note_words,
        head_hash: fnv1a(head),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::expectation;

    fn random(n: usize) -> Vec<u8> {
        crate::testing::xorshift_bytes(n, 0x1234_5678_9ABC_DEF1)
    }

    #[test]
    fn reads_head_and_tail_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("a.txt");
        std::fs::write(&text, b"hello world, plain text\n".repeat(1000)).unwrap();
        let s = read_sample(&text, SampleLimits::default()).unwrap();
        assert_eq!(s.kind, Kind::Text);
        assert!(s.tail.unwrap().text);
        assert_eq!(s.encrypted_look(expectation(Some("txt")), None), None);

        let enc = dir.path().join("a.txt.locked");
        std::fs::write(&enc, random(20_000)).unwrap();
        let s = read_sample(&enc, SampleLimits::default()).unwrap();
        assert_eq!(s.kind, Kind::Opaque);
        assert!(s.tail.unwrap().random);
        assert_eq!(
            s.encrypted_look(expectation(Some("locked")), Some(Kind::Text)),
            Some(EncryptedLook::OpaqueHead)
        );
        assert_eq!(
            s.encrypted_look(expectation(Some("locked")), None),
            None,
            "an unknown extension promises nothing"
        );

        assert!(matches!(
            read_sample(&dir.path().join("gone"), SampleLimits::default()),
            Err(SampleError::Io(_))
        ));
        assert!(matches!(
            read_sample(dir.path(), SampleLimits::default()),
            Err(SampleError::NotRegular)
        ));
        let small = SampleLimits {
            max_file_size: 10,
            ..SampleLimits::default()
        };
        assert!(matches!(
            read_sample(&text, small),
            Err(SampleError::TooLarge)
        ));
    }

    #[test]
    fn compressed_archives_keep_their_promise_and_encrypted_documents_do_not() {
        let mut gz = b"\x1F\x8B\x08\x00\x00\x00\x00\x00".to_vec();
        gz.extend(random(4000));
        let gz = measure_head(&gz, 4008, None);
        assert_eq!(gz.encrypted_look(expectation(Some("gz")), None), None);
        let opaque = measure_head(&random(4096), 9000, Some(Tail::of(&random(4096))));
        assert_eq!(
            opaque.encrypted_look(expectation(Some("docx")), None),
            Some(EncryptedLook::OpaqueHead)
        );
        // Header kept, end encrypted (or a key blob appended): the zip's directory is gone.
        let mut zip = b"PK\x03\x04\x14\x00\x00\x00".to_vec();
        zip.extend(random(4000));
        let mut end = b"name.xml".repeat(50);
        end.extend(b"PK\x05\x06\x00\x00\x00\x00\x01\x00\x01\x00");
        let intact = measure_head(&zip, 90_000, Some(Tail::of(&end)));
        assert_eq!(intact.encrypted_look(expectation(Some("xlsx")), None), None);
        let broken = measure_head(&zip, 90_000, Some(Tail::of(&random(4096))));
        assert_eq!(
            broken.encrypted_look(expectation(Some("xlsx")), None),
            Some(EncryptedLook::TailBroken)
        );
        // Pictures end in compressed data: a random tail is normal.
        let mut jpg = b"\xFF\xD8\xFF\xE0".to_vec();
        jpg.extend(random(4000));
        let jpg = measure_head(&jpg, 90_000, Some(Tail::of(&random(4096))));
        assert_eq!(jpg.encrypted_look(expectation(Some("jpg")), None), None);
    }

    #[test]
    fn partly_encrypted_text_is_caught() {
        let text = b"name,amount,date\nann,12,2024-01-01\n".repeat(120);
        let noise = random(text.len());
        let mixed: Vec<u8> = text
            .iter()
            .zip(&noise)
            .enumerate()
            .map(|(i, (&t, &r))| if (i / 64) % 2 == 1 { r } else { t })
            .collect();
        let s = measure_head(&mixed[..4096], 4096, None);
        assert_eq!(
            s.encrypted_look(expectation(Some("csv")), None),
            Some(EncryptedLook::TextBroken)
        );
    }

    #[test]
    fn a_document_whose_first_kib_is_encrypted_lost_its_header() {
        let mut pdf = random(1024);
        pdf.extend(b"1 0 obj << /Type /Catalog >> endobj\n".repeat(120));
        let s = measure_head(&pdf[..4096], 4096, None);
        assert_eq!(s.kind, Kind::Binary);
        assert_eq!(
            s.encrypted_look(expectation(Some("pdf")), None),
            Some(EncryptedLook::HeaderLost)
        );
        let mut intact = b"%PDF-1.4\n".to_vec();
        intact.extend(&pdf[1024..]);
        let s = measure_head(&intact[..4096], 4096, None);
        assert_eq!(s.encrypted_look(expectation(Some("pdf")), None), None);
    }

    #[test]
    fn bit_flipped_text_and_documents_are_caught_and_zero_fill_is_not() {
        let text: Vec<u8> = b"meeting notes: budget review on monday\n"
            .repeat(120)
            .iter()
            .map(|b| !b)
            .collect();
        let s = measure_head(&text[..4096], 4096, None);
        assert_eq!(
            s.encrypted_look(expectation(Some("txt")), None),
            Some(EncryptedLook::TextBroken)
        );
        let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".repeat(100);
        pdf.iter_mut().for_each(|b| *b = !*b);
        let s = measure_head(&pdf[..4096], 4096, None);
        assert_eq!(
            s.encrypted_look(expectation(Some("pdf")), None),
            Some(EncryptedLook::HeaderLost)
        );
        let zeros = measure_head(&[0_u8; 4096], 1 << 20, None);
        assert_eq!(zeros.encrypted_look(expectation(Some("mp4")), None), None);
    }

    #[test]
    fn notes_are_recognised_by_their_words() {
        let note = measure_head(
            b"Your files have been encrypted! To decrypt, pay 1 BTC. Contact us via Tor Browser.",
            80,
            None,
        );
        assert!(note.is_ransom_note());
        let readme = measure_head(b"Install with make. Licensed under MIT.", 40, None);
        assert!(!readme.is_ransom_note());
    }
}
