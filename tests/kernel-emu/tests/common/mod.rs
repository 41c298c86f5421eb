//! Helpers shared by the emulated-kernel tests.
// Each test file is its own crate and uses a subset of these.
#![allow(dead_code)]

use picket_kernel_emu::verifier::Violation;
use picket_kernel_emu::Harness;

/// A harness with the driver image loaded and an empty Parameters key, not yet started.
pub fn harness() -> Harness {
    Harness::new(Some(&[])).unwrap_or_else(|e| panic!("{e}"))
}

/// The value, or a panic naming the Verifier violation.
pub fn ok<T>(r: Result<T, Violation>) -> T {
    r.unwrap_or_else(|v| panic!("{v}"))
}

/// Asserts that the Verifier's final checks (leaks, unreleased names, …) found nothing.
pub fn clean(h: &Harness) {
    let problems = h.final_checks();
    assert!(
        problems.is_empty(),
        "Verifier: {}",
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
