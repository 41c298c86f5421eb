//! Shared helpers for Picket's integration tests.
