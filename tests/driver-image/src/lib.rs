//! Checks of the built driver image, `picket_driver.sys` (see `tests/image.rs`):
//!
//! - [`pe`]: headers, checksum, sections and imports read from the image bytes, and the
//!   rules they must meet;
//! - [`allow`]: the import allow-list, read from the `.def` files the import libraries are
//!   generated from (`driver/defs`), and the INF's minimum build;
//! - [`stack`]: each function's fixed frame from the unwind data, the call graph from the
//!   code, and the deepest path from every entry point;
//! - [`names`]: function names from the PDB, for the figures;
//! - [`locate`]: where the image is, and whether its absence is a skip or a failure.

pub mod allow;
pub mod locate;
pub mod names;
pub mod pe;
pub mod stack;
