//! Picket's own ransomware simulator (written for this project, no third-party code) and the
//! benign workloads that look like it. Used by the end-to-end tests (`tests/e2e_ransom.rs`)
//! and the `ransom-bench` benchmark. It only ever touches the folder it is given, and its
//! "encryption" is an XOR keystream: enough to look like ciphertext to any content test.
//!
//! - [`corpus`]: a folder tree of realistic user files (text, CSV, PDF, Office zip, PNG, JPEG).
//! - [`cipher`]: the keystream.
//! - [`family`]: the simulator families.
//! - [`benign`]: benign look-alikes whose file patterns Picket must not call ransomware.
//! - [`progress`]: a log of when each file was lost, for the benchmark.

pub mod benign;
pub mod cipher;
pub mod corpus;
pub mod family;
pub mod progress;
