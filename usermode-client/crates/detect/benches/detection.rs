//! Detection benchmark: ≥ 250 Sigma file rules of real shapes over a large event stream,
//! single-threaded, printing events/s per core for
//! - `engine as-is`: rsigma 0.23's `Engine::evaluate_with_logsource` (its own witness index),
//! - `plain`: every rule whose logsource accepts the event, fully evaluated,
//! - `optimised`: our logsource routing + per-field Aho-Corasick prefilter,
//! - `runtime`: the optimised path inside the guarded runtime that builds alerts (what the
//!   pipeline pays per event, correlations included).
//!
//! Events come from a pool that stays cache-resident (default 16384 events), evaluated over
//! and over: in the pipeline, detection runs on an event right after parsing built it, so its
//! strings are hot. The optimised path is also measured over one cold pass of a large array
//! (every event a cache miss), to show what memory latency alone costs.
//!
//! Run: `cargo bench -p picket-detect --bench detection` (release). Environment:
//! `PICKET_BENCH_RULES` (default 300), `PICKET_BENCH_POOL` (default 16384),
//! `PICKET_BENCH_ROUNDS` (default 32), `PICKET_BENCH_COLD` (default 400000),
//! `PICKET_BENCH_RULES_DIR` (real Sigma content instead of the synthetic rules).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
#[cfg(not(unix))]
use std::time::Instant;

use picket_detect::event::{product, Category, SigmaEvent};
use picket_detect::prefilter::Scratch;
use picket_detect::{synth, Canaries, Evaluator, RuleSet, RuntimeConfig};
use picket_model::FileEvent;
use rsigma_parser::LogSource;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time consumed by this thread: "per core" figures must not depend on what else the
/// machine runs (wall time is used where thread CPU time is unavailable).
#[derive(Clone, Copy)]
struct CpuClock(Duration);

impl CpuClock {
    #[cfg(unix)]
    fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always
        // supported on Linux and the BSDs.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
        assert_eq!(rc, 0, "clock_gettime");
        Self(Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        ))
    }

    #[cfg(not(unix))]
    fn now() -> Self {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        Self(START.get_or_init(Instant::now).elapsed())
    }

    fn elapsed(self) -> Duration {
        Self::now().0.saturating_sub(self.0)
    }
}

/// Best of three runs, each `rounds` passes over `events`: (elapsed per pass, matches per pass).
fn measure(
    events: &[FileEvent],
    rounds: usize,
    mut pass: impl FnMut(&FileEvent) -> usize,
) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut matches = 0;
    for _ in 0..3 {
        let start = CpuClock::now();
        let mut m = 0;
        for _ in 0..rounds {
            for event in events {
                m += pass(black_box(event));
            }
        }
        best = best.min(start.elapsed() / u32::try_from(rounds.max(1)).unwrap_or(1));
        matches = m / rounds.max(1);
    }
    (best, matches)
}

fn report(
    name: &str,
    events: usize,
    (elapsed, matches): (Duration, usize),
    baseline: Option<f64>,
) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let rate = events as f64 / elapsed.as_secs_f64();
    let speedup = baseline.map_or(String::new(), |b| format!("  ({:.1}x plain)", rate / b));
    println!(
        "{name:<17} {:>12.0} events/s/core (CPU time)  {:>8.1} ns/event  {matches:>7} matches{speedup}",
        rate,
        elapsed.as_secs_f64() * 1e9 / events as f64
    );
    rate
}

/// The file rules of a directory of real Sigma content (e.g. a SigmaHQ checkout's
/// `rules/windows/file` and `rules/linux/file_event`), without tests.
fn real_rules(dir: &std::path::Path) -> Vec<rsigma_parser::SigmaRule> {
    picket_detect::read_dir(dir)
        .expect("rule directory")
        .iter()
        .filter(|f| !f.is_test_file())
        .filter_map(|f| rsigma_parser::parse_sigma_yaml(&f.text).ok())
        .flat_map(|c| c.rules)
        .filter(|r| {
            r.id.is_some()
                && r.logsource.service.is_none()
                && r.logsource
                    .category
                    .as_deref()
                    .is_none_or(|c| Category::from_name(c).is_some())
        })
        .collect()
}

fn main() {
    let rule_count = env("PICKET_BENCH_RULES", 300);
    let pool = env("PICKET_BENCH_POOL", 16_384);
    let rounds = env("PICKET_BENCH_ROUNDS", 32);
    let cold_count = env("PICKET_BENCH_COLD", 400_000);
    let rules = match std::env::var_os("PICKET_BENCH_RULES_DIR") {
        Some(dir) => real_rules(std::path::Path::new(&dir)),
        None => synth::rules(rule_count, 0x5eed),
    };
    let rule_count = rules.len();
    let events = synth::events(pool, rule_count, 0xfeed);
    let event_count = pool;
    let set = RuleSet::compile_untested(rules.clone()).expect("synthetic rules compile");
    let mut engine = rsigma_eval::Engine::new();
    for rule in &rules {
        engine.add_rule(rule).expect("rule compiles");
    }
    let mut builtin = Evaluator::new(
        Arc::new(RuleSet::builtin().expect("built-in pack")),
        Canaries::default(),
        RuntimeConfig::default(),
    );
    println!(
        "picket-detect benchmark: {rule_count} rules, {pool}-event pool x {rounds} rounds, 1 thread"
    );

    let logsources: Vec<LogSource> = events
        .iter()
        .map(|e| LogSource {
            category: Some(Category::of(e.operation).as_str().to_owned()),
            product: Some(product(e.host).to_owned()),
            ..LogSource::default()
        })
        .collect();
    let only_optimised = std::env::var_os("PICKET_BENCH_ONLY_OPTIMISED").is_some();
    let (sample, sample_rounds) = if only_optimised {
        (&events[..1], 1)
    } else {
        // The slow paths need fewer rounds for a stable figure.
        (&events[..], (rounds / 8).max(1))
    };
    let mut i = 0;
    let as_is = measure(sample, sample_rounds, |e| {
        let n = engine
            .evaluate_with_logsource(
                &SigmaEvent::new(e, false),
                &logsources[i % logsources.len()],
            )
            .len();
        i += 1;
        n
    });
    let plain = measure(sample, sample_rounds, |e| {
        set.matches_plain(&SigmaEvent::new(e, false)).len()
    });
    let mut scratch = Scratch::default();
    let mut candidates = Vec::new();
    // The optimised path (prefilter, then only the candidate rules), warm and cold.
    let mut optimised_pass = |e: &FileEvent| {
        let view = SigmaEvent::new(e, false);
        set.candidates(&view, &mut scratch, &mut candidates);
        candidates
            .iter()
            .filter(|&&c| set.evaluate_rule(c as usize, &view).is_some())
            .count()
    };
    let optimised = measure(&events, rounds, &mut optimised_pass);
    let cold_events = synth::events(cold_count, rule_count, 0xc01d);
    let cold = measure(&cold_events, 1, &mut optimised_pass);
    drop(cold_events);
    let mut candidate_total = 0_usize;
    for e in &events {
        set.candidates(&SigmaEvent::new(e, false), &mut scratch, &mut candidates);
        candidate_total += candidates.len();
    }
    #[allow(clippy::cast_precision_loss)]
    let per_event = candidate_total as f64 / events.len() as f64;
    println!("optimised path: {per_event:.2} candidate rules fully evaluated per event");
    if only_optimised {
        report("optimised", event_count, optimised, None);
        report("optimised, cold", cold_count, cold, None);
        return;
    }
    let mut evaluator =
        Evaluator::new(Arc::new(set), Canaries::default(), RuntimeConfig::default());
    let mut alerts = Vec::new();
    let runtime = measure(&events, rounds, |e| {
        alerts.clear();
        evaluator.process(e, &mut alerts);
        alerts.len()
    });
    let builtin_run = measure(&events, rounds, |e| {
        alerts.clear();
        builtin.process(e, &mut alerts);
        alerts.len()
    });

    let base = report("plain", event_count, plain, None);
    report("engine as-is", event_count, as_is, Some(base));
    report("optimised", event_count, optimised, Some(base));
    report("optimised, cold", cold_count, cold, Some(base));
    report("runtime+alerts", event_count, runtime, Some(base));
    report("built-in pack", event_count, builtin_run, Some(base));
    assert_eq!(plain.1, optimised.1, "match counts differ");
    assert_eq!(plain.1, as_is.1, "match counts differ");
}
