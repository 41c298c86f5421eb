//! Test helpers (built for this crate's tests and with the `test-util` feature).

/// `n` pseudo-random bytes from a xorshift64 generator started at `state` (must not be 0): the
/// same `state` gives the same bytes, so tests are reproducible; the output is near 8 bits of
/// entropy per byte, as encrypted data is.
#[must_use]
pub fn xorshift_bytes(n: usize, state: u64) -> Vec<u8> {
    let mut x = state;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}
