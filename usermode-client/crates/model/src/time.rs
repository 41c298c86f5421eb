use serde::{Deserialize, Serialize};

/// 100 ns intervals since 1601-01-01 UTC: the kernel's clock, kept as it came.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// 100 ns intervals between 1601-01-01 and 1970-01-01.
    pub const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;

    /// From a Unix time in nanoseconds.
    #[must_use]
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(Self::UNIX_EPOCH_TICKS.saturating_add(nanos / 100))
    }

    /// The current wall-clock time.
    #[must_use]
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_unix_nanos(u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Milliseconds since the Unix epoch (OCSF `time`); 0 for times before 1970.
    #[must_use]
    pub const fn unix_millis(self) -> u64 {
        self.0.saturating_sub(Self::UNIX_EPOCH_TICKS) / 10_000
    }

    /// Nanoseconds since the Unix epoch; 0 for times before 1970.
    #[must_use]
    pub const fn unix_nanos(self) -> u64 {
        self.0
            .saturating_sub(Self::UNIX_EPOCH_TICKS)
            .saturating_mul(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_between_the_windows_and_unix_epochs() {
        let t = Timestamp::from_unix_nanos(1_700_000_000_123_456_700);
        assert_eq!(t.unix_millis(), 1_700_000_000_123);
        assert_eq!(t.unix_nanos(), 1_700_000_000_123_456_700);
        assert_eq!(Timestamp(5).unix_millis(), 0);
        assert!(Timestamp::now().unix_millis() > 1_700_000_000_000);
    }
}
