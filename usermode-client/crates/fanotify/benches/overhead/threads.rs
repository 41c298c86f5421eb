//! Where a sensor's CPU goes, thread by thread: the scheduler's run time of each thread
//! (`/proc/PID/task/TID/schedstat`, nanoseconds; clock ticks of 10 ms are too coarse for the
//! bare reader's ~0.1 s per run, and are the fallback only on kernels without schedstat) and
//! its user and system shares (`stat`, clock ticks). The total says how much a sensor costs; the split says which thread and
//! whether the kernel or the sensor's own code pays it (the bare reader's time is nearly all
//! system time: reading events, creating and closing their pidfds).

use std::collections::BTreeMap;
use std::fs;

/// One thread's (or one name's: threads sharing a name are summed) CPU, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ThreadCpu {
    /// Run time (schedstat; user + system where the kernel has no schedstat).
    pub run: f64,
    /// User time (clock ticks).
    pub user: f64,
    /// System time (clock ticks).
    pub system: f64,
}

/// Every thread of `pid` now, by thread name.
pub fn sample(pid: u32, ticks_per_second: f64) -> BTreeMap<String, ThreadCpu> {
    let mut threads = BTreeMap::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(name) = fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let (user, system) = fs::read_to_string(dir.join("stat"))
            .ok()
            .map_or((0, 0), |stat| user_system_ticks(&stat));
        let (user, system) = (
            user as f64 / ticks_per_second,
            system as f64 / ticks_per_second,
        );
        let run = fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(user + system, |ns| ns as f64 / 1e9);
        let entry: &mut ThreadCpu = threads.entry(name.trim().to_owned()).or_default();
        entry.run += run;
        entry.user += user;
        entry.system += system;
    }
    threads
}

/// `utime` and `stime` of a `stat` line (fields 14 and 15; the name in parentheses may hold
/// spaces, so fields are counted after its closing parenthesis).
pub fn user_system_ticks(stat: &str) -> (u64, u64) {
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || {
        fields
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let user = next();
    (user, next())
}

/// The run time of every thread.
pub fn total(threads: &BTreeMap<String, ThreadCpu>) -> f64 {
    threads.values().map(|t| t.run).sum()
}

/// What each thread used between two samples (a thread started in between counts from 0).
pub fn since(
    before: &BTreeMap<String, ThreadCpu>,
    after: &BTreeMap<String, ThreadCpu>,
) -> BTreeMap<String, ThreadCpu> {
    after
        .iter()
        .map(|(name, now)| {
            let then = before.get(name).copied().unwrap_or_default();
            let used = ThreadCpu {
                run: (now.run - then.run).max(0.0),
                user: (now.user - then.user).max(0.0),
                system: (now.system - then.system).max(0.0),
            };
            (name.clone(), used)
        })
        .collect()
}

/// The median of each thread's figures over runs, in µs per event, busiest thread first;
/// threads that used under 0.01 µs per event are left out.
pub fn medians_per_event(
    runs: &[&BTreeMap<String, ThreadCpu>],
    events: f64,
) -> Vec<(String, ThreadCpu)> {
    let mut names: Vec<&String> = runs.iter().flat_map(|r| r.keys()).collect();
    names.sort();
    names.dedup();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let mut out: Vec<(String, ThreadCpu)> = names
        .into_iter()
        .map(|name| {
            let of = |f: fn(&ThreadCpu) -> f64| {
                median(
                    runs.iter()
                        .map(|r| r.get(name).map_or(0.0, f) * 1e6 / events)
                        .collect(),
                )
            };
            let cpu = ThreadCpu {
                run: of(|t| t.run),
                user: of(|t| t.user),
                system: of(|t| t.system),
            };
            (name.clone(), cpu)
        })
        .filter(|(_, cpu)| cpu.run >= 0.01)
        .collect();
    out.sort_by(|a, b| b.1.run.total_cmp(&a.1.run));
    out
}
