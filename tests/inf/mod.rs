//! Reading and checking Picket's INF (`inf/picket_driver.inx`) on any host.
//!
//! `decode` handles the encodings Windows accepts, `parse` the INF syntax, `lint` the rules
//! for a minifilter primitive driver. `tests/inf_lint.rs` runs them on the real file.

pub mod decode;
pub mod lint;
pub mod parse;

use std::path::{Path, PathBuf};

pub use decode::{decode, encode_utf16le_bom, DecodeError, Encoding};
pub use lint::{lint, Problem};
pub use parse::{Inf, ParseError};

/// Why an INF could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum InfError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// The INF template in the repository.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../inf/picket_driver.inx")
}

/// Decodes, parses and lints INF bytes.
pub fn lint_bytes(bytes: &[u8]) -> Result<Vec<Problem>, InfError> {
    let (_, text) = decode(bytes)?;
    Ok(lint(&Inf::parse(&text)?))
}

/// Reads and lints an INF file.
pub fn lint_file(path: &Path) -> Result<Vec<Problem>, InfError> {
    let bytes = std::fs::read(path).map_err(|source| InfError::Io {
        path: path.to_owned(),
        source,
    })?;
    lint_bytes(&bytes)
}
