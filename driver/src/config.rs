//! The driver's configuration: registry values with safe defaults and bounds.
//!
//! Read from `HKLM\SYSTEM\CurrentControlSet\Services\Picket\Parameters` at `DriverEntry`.
//! A value that is missing, of the wrong type or out of range falls back to its default
//! (never clamped: an out-of-range value is a configuration mistake, and the default is the
//! known-good one).

use picket_protocol::{BATCH_HEADER_LEN, MAX_BATCH_LEN, MAX_RECORD_LEN};

/// A registry `REG_DWORD` setting with its bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Value name under the `Parameters` key.
    pub name: &'static str,
    /// Used when the value is missing or out of range.
    pub default: u32,
    /// Smallest accepted value.
    pub min: u32,
    /// Largest accepted value.
    pub max: u32,
}

impl Setting {
    /// The value to use given what the registry held (`None`: missing or not a `REG_DWORD`).
    #[must_use]
    pub const fn resolve(&self, raw: Option<u32>) -> u32 {
        match raw {
            Some(value) if value >= self.min && value <= self.max => value,
            _ => self.default,
        }
    }
}

/// Bytes of non-paged memory for the event ring. Rounded down to a power of two.
pub const RING_CAPACITY: Setting = Setting {
    name: "RingCapacity",
    default: 4 * 1024 * 1024,
    min: 256 * 1024,
    max: 64 * 1024 * 1024,
};

/// Largest batch (one `FltSendMessage` payload) in bytes. At least one maximal record must
/// fit; at most the protocol's [`MAX_BATCH_LEN`], which the client's buffers are sized for.
pub const MAX_BATCH_BYTES: Setting = Setting {
    name: "MaxBatchBytes",
    default: 64 * 1024,
    #[allow(clippy::cast_possible_truncation)] // compile-time constants far below u32::MAX
    min: (BATCH_HEADER_LEN + MAX_RECORD_LEN) as u32,
    #[allow(clippy::cast_possible_truncation)]
    max: MAX_BATCH_LEN as u32,
};

/// How long the sender waits for the client to take one batch, in milliseconds. A finite
/// timeout keeps a hung client from stalling the sender; I/O never waits on it at all.
pub const SEND_TIMEOUT_MS: Setting = Setting {
    name: "SendTimeoutMs",
    default: 1000,
    min: 10,
    max: 30_000,
};

const _: () = assert!(MAX_BATCH_BYTES.min <= MAX_BATCH_BYTES.default);
const _: () = assert!(MAX_BATCH_BYTES.default <= MAX_BATCH_BYTES.max);
const _: () = assert!(RING_CAPACITY.min.is_power_of_two());
const _: () = assert!(RING_CAPACITY.default.is_power_of_two());

/// The resolved configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Ring size in bytes: a power of two within [`RING_CAPACITY`]'s bounds.
    pub ring_capacity: u32,
    /// Largest batch in bytes.
    pub max_batch_bytes: u32,
    /// Send timeout in milliseconds.
    pub send_timeout_ms: u32,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self::from_raw(None, None, None)
    }
}

impl DriverConfig {
    /// Resolves the three registry values (`None` for a missing or mistyped one).
    #[must_use]
    pub const fn from_raw(
        ring_capacity: Option<u32>,
        max_batch_bytes: Option<u32>,
        send_timeout_ms: Option<u32>,
    ) -> Self {
        Self {
            ring_capacity: round_down_pow2(RING_CAPACITY.resolve(ring_capacity)),
            max_batch_bytes: MAX_BATCH_BYTES.resolve(max_batch_bytes),
            send_timeout_ms: SEND_TIMEOUT_MS.resolve(send_timeout_ms),
        }
    }

    /// Ring size in 64-bit words.
    #[must_use]
    pub const fn ring_words(&self) -> usize {
        (self.ring_capacity / 8) as usize
    }

    /// The send timeout as an NT relative time (negative, in 100 ns units).
    #[must_use]
    pub const fn send_timeout_relative_100ns(&self) -> i64 {
        // At most 30_000 ms * 10_000 = 3e8: saturation never happens, it only proves it.
        #[allow(clippy::cast_lossless)] // `i64::from` is not `const`
        (self.send_timeout_ms as i64)
            .saturating_mul(10_000)
            .saturating_neg()
    }
}

/// Largest power of two not above `value` (`value` is at least 1 here: it passed bounds).
const fn round_down_pow2(value: u32) -> u32 {
    match value.checked_ilog2() {
        Some(log) => 1 << log,
        None => RING_CAPACITY.default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_take_the_defaults() {
        let config = DriverConfig::from_raw(None, None, None);
        assert_eq!(config.ring_capacity, 4 * 1024 * 1024);
        assert_eq!(config.max_batch_bytes, 64 * 1024);
        assert_eq!(config.send_timeout_ms, 1000);
        assert_eq!(config, DriverConfig::default());
    }

    #[test]
    fn in_range_values_are_taken() {
        let config = DriverConfig::from_raw(Some(1 << 20), Some(32 * 1024), Some(250));
        assert_eq!(config.ring_capacity, 1 << 20);
        assert_eq!(config.max_batch_bytes, 32 * 1024);
        assert_eq!(config.send_timeout_ms, 250);
        assert_eq!(config.ring_words(), (1 << 20) / 8);
        assert_eq!(config.send_timeout_relative_100ns(), -2_500_000);
    }

    #[test]
    fn out_of_range_values_fall_back_to_the_default_not_to_the_bound() {
        let low = DriverConfig::from_raw(Some(0), Some(100), Some(0));
        let high = DriverConfig::from_raw(Some(u32::MAX), Some(u32::MAX), Some(u32::MAX));
        for config in [low, high] {
            assert_eq!(config, DriverConfig::default());
        }
    }

    #[test]
    fn bounds_are_inclusive() {
        let config = DriverConfig::from_raw(
            Some(RING_CAPACITY.max),
            Some(MAX_BATCH_BYTES.min),
            Some(SEND_TIMEOUT_MS.max),
        );
        assert_eq!(config.ring_capacity, RING_CAPACITY.max);
        assert_eq!(config.max_batch_bytes, MAX_BATCH_BYTES.min);
        assert_eq!(config.send_timeout_ms, SEND_TIMEOUT_MS.max);
    }

    #[test]
    fn ring_capacity_rounds_down_to_a_power_of_two() {
        let config = DriverConfig::from_raw(Some(3 * 1024 * 1024), None, None);
        assert_eq!(config.ring_capacity, 2 * 1024 * 1024);
    }

    #[test]
    fn a_batch_always_holds_one_maximal_record() {
        let smallest = DriverConfig::from_raw(None, Some(MAX_BATCH_BYTES.min), None);
        assert!(smallest.max_batch_bytes as usize >= BATCH_HEADER_LEN + MAX_RECORD_LEN);
    }
}
