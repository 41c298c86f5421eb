//! The benchmark's statistics: a median's interval that assumes nothing about how rounds
//! spread, the verdict it gives on a target, and the rounds of earlier runs to pool with this
//! one's. Plain Rust with no I/O but reading the earlier logs, so `tests/bench_stats.rs`
//! tests it (a `harness = false` benchmark runs no tests of its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A median with an interval that assumes nothing about how the values spread: the order
/// statistics whose ranks a binomial(n, 1/2) bounds (the sign test's interval).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MedianInterval {
    pub median: f64,
    pub low: f64,
    pub high: f64,
    /// The chance that the interval holds the true median: about 95 %, more when there are
    /// too few values for a narrower one (with 5 or fewer, the whole range, below 95 %).
    pub confidence: f64,
}

pub fn median_interval(mut v: Vec<f64>) -> Option<MedianInterval> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    // The interval from the (k+1)-th lowest to the (k+1)-th highest value misses the median
    // with chance 2 P(B <= k), B ~ binomial(n, 1/2): take the largest k that keeps that
    // within 5 %.
    let mut k = 0;
    let mut pmf = 0.5f64.powi(i32::try_from(n).unwrap_or(i32::MAX));
    let mut cdf = pmf;
    loop {
        let next_pmf = pmf * (n - k) as f64 / (k + 1) as f64;
        let next_cdf = cdf + next_pmf;
        if next_cdf > 0.025 || 2 * (k + 1) >= n.saturating_sub(1) {
            break;
        }
        k += 1;
        pmf = next_pmf;
        cdf = next_cdf;
    }
    Some(MedianInterval {
        median: v[n / 2],
        low: v[k],
        high: v[n - 1 - k],
        confidence: 1.0 - 2.0 * cdf,
    })
}

/// What a target's interval says: met only when all of it is within the target.
pub fn verdict(interval: &MedianInterval, target: f64) -> &'static str {
    if interval.high <= target {
        "met"
    } else if interval.low > target {
        "not met"
    } else {
        "undecided (the interval spans the target; more rounds narrow it)"
    }
}

/// How a run prints one series of per-round ratios (`what`, for `whom`): the line an earlier
/// run's log is searched for.
pub fn rounds_line(what: &str, whom: &str, ratios: &[f64]) -> String {
    let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
    format!("  ({what}, {whom}{ROUNDS_MARK}{})", listed.join(" "))
}

const ROUNDS_MARK: &str = ", each round: ";

/// Why earlier logs cannot be pooled.
#[derive(Debug, PartialEq, Eq)]
pub enum PoolError {
    Unreadable {
        log: PathBuf,
        why: String,
    },
    NoRounds {
        log: PathBuf,
    },
    BadRatio {
        log: PathBuf,
        line: usize,
        value: String,
    },
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable { log, why } => {
                write!(f, "PICKET_BENCH_POOL: cannot read {}: {why}", log.display())
            }
            Self::NoRounds { log } => write!(
                f,
                "PICKET_BENCH_POOL: {} holds no per-round ratios (\"…{}\" lines); give the \
                 saved output of this benchmark",
                log.display(),
                ROUNDS_MARK.trim()
            ),
            Self::BadRatio { log, line, value } => write!(
                f,
                "PICKET_BENCH_POOL: {} line {line}: {value:?} is not a ratio",
                log.display()
            ),
        }
    }
}

/// The per-round ratios of earlier runs, by series (`"writer time, picket watch (detection
/// on)"`), in the order of the logs given.
#[derive(Debug, Default, PartialEq)]
pub struct EarlierRounds {
    pub logs: usize,
    series: BTreeMap<String, Vec<f64>>,
}

impl EarlierRounds {
    /// Reads every log of `logs`; an unreadable log, or one without per-round ratios, is an
    /// error (pooling must not quietly drop a run).
    pub fn read(logs: &[PathBuf]) -> Result<Self, PoolError> {
        let mut pooled = Self::default();
        for log in logs {
            let text = std::fs::read_to_string(log).map_err(|e| PoolError::Unreadable {
                log: log.clone(),
                why: e.to_string(),
            })?;
            pooled.add_log(log, &text)?;
        }
        Ok(pooled)
    }

    /// Adds the per-round lines of one log's `text`: all of them, or none on an error.
    pub fn add_log(&mut self, log: &Path, text: &str) -> Result<(), PoolError> {
        let mut found: Vec<(&str, Vec<f64>)> = Vec::new();
        for (at, line) in text.lines().enumerate() {
            let Some((series, values)) = line
                .trim()
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .and_then(|l| l.split_once(ROUNDS_MARK))
            else {
                continue;
            };
            let mut ratios = Vec::new();
            for value in values.split_whitespace() {
                let ratio = value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| PoolError::BadRatio {
                        log: log.to_path_buf(),
                        line: at + 1,
                        value: value.to_owned(),
                    })?;
                ratios.push(ratio);
            }
            found.push((series, ratios));
        }
        if found.is_empty() {
            return Err(PoolError::NoRounds {
                log: log.to_path_buf(),
            });
        }
        for (series, ratios) in found {
            self.series
                .entry(series.to_owned())
                .or_default()
                .extend(ratios);
        }
        self.logs += 1;
        Ok(())
    }

    /// The earlier rounds of `what` for `whom` (none when the logs did not run it).
    pub fn of(&self, what: &str, whom: &str) -> &[f64] {
        self.series
            .get(&format!("{what}, {whom}"))
            .map_or(&[], Vec::as_slice)
    }
}
