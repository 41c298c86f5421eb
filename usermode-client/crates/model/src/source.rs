/// What [`BatchSource::next_batch`] produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// The buffer now holds exactly one protocol batch.
    Batch,
    /// Nothing arrived within the source's poll interval; call again (lets the caller check
    /// for Ctrl-C, flush output and print progress).
    Idle,
    /// The stream ended (end of a capture file, port closed for good).
    End,
}

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An I/O error, with what was being done.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The caller lacks a privilege the source needs.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The source does not exist here (driver not loaded, fanotify missing…).
    #[error("not available: {0}")]
    Unavailable(String),
    /// The peer speaks something we cannot use.
    #[error("incompatible: {0}")]
    Incompatible(String),
    /// Input data is malformed (a capture file's framing).
    #[error("malformed input: {0}")]
    Malformed(String),
}

/// The seam between where batches come from and the pipeline: the Windows port, a capture
/// file, or the Linux fanotify source all yield protocol batches as bytes.
pub trait BatchSource {
    /// Fills `buf` with the next batch (replacing its contents).
    ///
    /// # Errors
    /// A [`SourceError`] when the source failed; the caller decides whether to retry.
    fn next_batch(&mut self, buf: &mut Vec<u8>) -> Result<Pull, SourceError>;
}

impl<S: BatchSource + ?Sized> BatchSource for Box<S> {
    fn next_batch(&mut self, buf: &mut Vec<u8>) -> Result<Pull, SourceError> {
        (**self).next_batch(buf)
    }
}
