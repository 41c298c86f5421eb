//! Shared helpers for Picket's integration tests.

pub mod inf;
pub mod workload;
