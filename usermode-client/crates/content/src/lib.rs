//! Content signals for behaviour detection, computed in user space from a bounded sample of a
//! file (never the whole file, never in the kernel).
//!
//! - [`kind`]: what a sample is (magic bytes, text, opaque random-looking data) and what a
//!   file's extension promises it should be.
//! - [`measure`]: entropy, text-likeness and ransom-note wording of a byte slice.
//! - [`sample`]: one bounded read of a file: its first 4 KiB and, for larger files, its last
//!   4 KiB.
//! - [`sampler`]: the reads done on a worker thread behind a bounded queue and a rate limit,
//!   so the pipeline never waits for a disk.
//! - [`memory`]: a bounded per-file memory of what was last seen of each file.
//!
//! Why these signals: CryptoDrop (Scaife et al., ICDCS 2016) showed that a file-type change,
//! an entropy jump and deletions, computed outside the I/O path, catch ransomware families
//! early. Encrypted output has no magic bytes, is not text, and is near 8 bits per byte;
//! compressed archives are also near 8 bits per byte but carry their format's magic, which is
//! how "compressing into a new archive" is told apart from "replacing documents with random
//! bytes".

pub mod kind;
pub mod measure;
pub mod memory;
pub mod sample;
pub mod sampler;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use kind::{expectation, Expectation, Kind};
pub use memory::{FileFacts, FileMemory};
pub use sample::{read_sample, EncryptedLook, Sample, SampleError, SampleLimits, Tail};
pub use sampler::{Done, Sampler, SamplerConfig, SamplerStats, Submit};
