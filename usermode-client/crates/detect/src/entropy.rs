//! Optional content sampling, in user space only: after a "closed after modification" event,
//! read the first few KiB of the file and compute its Shannon entropy (the `Entropy` field).
//! The kernel never ships content.

use std::io::Read;
use std::path::Path;

/// Bounds of the sampler.
#[derive(Clone, Copy, Debug)]
pub struct EntropySampler {
    /// Bytes read from the start of the file.
    pub sample_bytes: usize,
    /// Files larger than this are skipped: big files are mostly media and archives (high
    /// entropy by nature, so little signal) and skipping them keeps sampling cheap.
    pub max_file_size: u64,
}

impl Default for EntropySampler {
    fn default() -> Self {
        Self {
            sample_bytes: 4096,
            max_file_size: 64 * 1024 * 1024,
        }
    }
}

impl EntropySampler {
    /// Entropy (bits per byte, 0–8) of the file's first bytes; `None` when the file is gone,
    /// locked, not a regular file, empty or too large.
    #[must_use]
    pub fn sample(&self, path: &Path) -> Option<f64> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // A FIFO or device renamed into place must not block the pipeline.
            options.custom_flags(libc_nonblock());
        }
        let file = options.open(path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 || meta.len() > self.max_file_size {
            return None;
        }
        let mut buf = Vec::with_capacity(self.sample_bytes);
        file.take(self.sample_bytes as u64)
            .read_to_end(&mut buf)
            .ok()?;
        shannon(&buf)
    }
}

#[cfg(unix)]
const fn libc_nonblock() -> i32 {
    // O_NONBLOCK on Linux (all architectures we build for) and the BSDs differ; Linux: 0o4000.
    #[cfg(target_os = "linux")]
    {
        0o4000
    }
    #[cfg(not(target_os = "linux"))]
    {
        0x0004
    }
}

/// Shannon entropy in bits per byte; `None` for no bytes. One implementation for the whole
/// client: the content signals' (`picket_content::measure::shannon`).
pub use picket_content::measure::shannon;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_files_within_bounds_only() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("a.txt");
        std::fs::write(&text, "hello hello hello hello".repeat(100)).unwrap();
        let random = dir.path().join("b.bin");
        let bytes: Vec<u8> = (0..8192_u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&random, &bytes).unwrap();
        let sampler = EntropySampler::default();
        let low = sampler.sample(&text).unwrap();
        let high = sampler.sample(&random).unwrap();
        assert!(low < 4.0 && high > 7.0, "{low} {high}");
        assert_eq!(sampler.sample(&dir.path().join("missing")), None);
        assert_eq!(sampler.sample(dir.path()), None, "directories are skipped");
        let small = EntropySampler {
            max_file_size: 10,
            ..EntropySampler::default()
        };
        assert_eq!(small.sample(&text), None, "large files are skipped");
    }
}
