//! Shared helpers for Picket's integration tests.

pub mod workload;
