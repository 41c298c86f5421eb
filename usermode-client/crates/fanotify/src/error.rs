//! What can go wrong opening or reading the fanotify source.

#![forbid(unsafe_code)]

use std::io;

use picket_model::SourceError;

/// Why the fanotify source failed.
#[derive(Debug, thiserror::Error)]
pub enum FanotifyError {
    /// The process lacks a capability the source needs.
    #[error(
        "{call} was refused: the live Linux source needs {capability} (run as root, or grant \
         the binary cap_sys_admin and cap_dac_read_search)"
    )]
    MissingPrivilege {
        /// `CAP_SYS_ADMIN` (fanotify) or `CAP_DAC_READ_SEARCH` (`open_by_handle_at`).
        capability: &'static str,
        /// The refused system call.
        call: &'static str,
    },
    /// The kernel or the file system cannot do what the source needs.
    #[error("fanotify cannot watch {path}: {reason}")]
    Unsupported {
        /// The path asked for.
        path: String,
        /// What is missing.
        reason: String,
    },
    /// Any other system call failure, with what was being done.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl FanotifyError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<FanotifyError> for SourceError {
    fn from(err: FanotifyError) -> Self {
        match err {
            FanotifyError::MissingPrivilege { .. } => Self::PermissionDenied(err.to_string()),
            FanotifyError::Unsupported { .. } => Self::Unavailable(err.to_string()),
            FanotifyError::Io { context, source } => Self::Io { context, source },
        }
    }
}
