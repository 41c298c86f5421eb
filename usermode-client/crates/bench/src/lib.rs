//! Measurement helpers for the pipeline benchmark (`cargo bench -p picket-bench`): the
//! calling thread's CPU time (so figures are per core even on a busy machine) and the
//! process's peak resident set.

use std::time::Duration;

/// CPU time the calling thread has used (Linux: `/proc/thread-self/schedstat`); `None`
/// elsewhere, and callers fall back to wall time.
#[must_use]
pub fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// CPU time all threads of this process have used (`utime + stime` in
/// `/proc/self/stat`, clock ticks of 10 ms).
#[must_use]
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_ascii_whitespace();
    // `rest` starts at field 3; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Peak resident set size in bytes (`VmHWM` in `/proc/self/status`).
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A stopwatch on the thread's CPU time, or wall time where that is unavailable.
#[derive(Clone, Copy, Debug)]
pub struct CpuClock {
    cpu: Option<Duration>,
    wall: std::time::Instant,
}

impl CpuClock {
    /// Starts now.
    #[must_use]
    pub fn start() -> Self {
        Self {
            cpu: thread_cpu_time(),
            wall: std::time::Instant::now(),
        }
    }

    /// Time since start.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.wall.elapsed(),
        }
    }

    /// Whether CPU time (rather than wall time) is measured.
    #[must_use]
    pub const fn is_cpu_time(&self) -> bool {
        self.cpu.is_some()
    }
}

/// `1234567.8` → `1.23 M`.
#[must_use]
pub fn si(value: f64) -> String {
    if value >= 1e9 {
        format!("{:.2} G", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0} ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_this_process() {
        assert!(peak_rss_bytes().unwrap() > 0);
        assert!(process_cpu_time().is_some());
        let clock = CpuClock::start();
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(clock.elapsed() > Duration::ZERO);
        assert_eq!(si(2_500_000.0), "2.50 M");
    }
}
