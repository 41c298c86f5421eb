//! An XOR keystream (xorshift64*): output indistinguishable from random bytes for content
//! tests, reversible, and no cryptography to audit.

/// A keystream from a seed.
#[derive(Clone, Debug)]
pub struct Keystream(u64);

impl Keystream {
    /// A stream from `seed` (any value).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_word(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// XORs `data` with the stream.
    pub fn apply(&mut self, data: &mut [u8]) {
        for chunk in data.chunks_mut(8) {
            let word = self.next_word().to_le_bytes();
            for (b, k) in chunk.iter_mut().zip(word) {
                *b ^= k;
            }
        }
    }

    /// `n` random-looking bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0; n];
        self.apply(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_changes_every_block() {
        let plain = b"hello hello hello hello".to_vec();
        let mut data = plain.clone();
        Keystream::new(7).apply(&mut data);
        assert_ne!(data, plain);
        Keystream::new(7).apply(&mut data);
        assert_eq!(data, plain);
    }
}
