//! Detection benchmark: real Sigma file rules over realistic Windows file events,
//! single-threaded, printing events/s per core for
//! - `engine as-is`: rsigma 0.23's `Engine::evaluate_with_logsource` (its own witness index),
//! - `plain`: every rule whose logsource accepts the event, fully evaluated,
//! - `optimised`: our logsource routing + per-field Aho-Corasick prefilter,
//! - `runtime`: the optimised path inside the guarded runtime that builds alerts (what the
//!   pipeline pays per event, correlations included).
//!
//! The three are also measured on the pool's creations alone (`…, create`; the ratios of that
//! line are to the baselines on the same events): `file_event` carries most rules and
//! needles, so that figure does not depend on the workload's guessed operation mix.
//!
//! Events come from a pool that stays cache-resident (default 16384 events), evaluated over
//! and over: in the pipeline, detection runs on an event right after parsing built it, so its
//! strings are hot. The optimised path is also measured over one cold pass of a large array
//! (every event a cache miss), to show what memory latency alone costs.
//!
//! Rules: by default SigmaHQ's `rules/windows/file`, pinned in `benches/sigmahq/` (Detection
//! Rule License 1.1, see its README); `PICKET_BENCH_SIGMAHQ=/path/to/sigma` reads
//! `rules/windows/file` from a SigmaHQ checkout instead (the benchmark stops with a clear
//! message when that folder is absent); `PICKET_BENCH_RULES_DIR` reads any rule folder;
//! `PICKET_BENCH_SYNTHETIC=1` runs the older synthetic rules and events (`synth`).
//! Events: [`picket_detect::workload`], realistic Windows file events (seeded).
//! It prints the candidate rules fully evaluated per event and the rules that take the
//! largest share of those evaluations (all events, then creations only), then every figure as a ratio to plain evaluation and
//! to rsigma as-is, measured in the same run.
//!
//! Run: `cargo bench -p picket-detect --bench detection` (release). Environment:
//! `PICKET_BENCH_RULES` (synthetic rules, default 300), `PICKET_BENCH_POOL` (default 16384),
//! `PICKET_BENCH_ROUNDS` (default 32), `PICKET_BENCH_COLD` (default 400000).

/// The allocator of the `picket` binary on Linux (see its `main.rs`), for every path measured
/// here alike: the figures are those of the program users run.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
#[cfg(not(unix))]
use std::time::Instant;

use picket_detect::event::{product, Category, SigmaEvent};
use picket_detect::prefilter::Scratch;
use picket_detect::{synth, workload, Canaries, Evaluator, RuleSet, RuntimeConfig};
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
    baseline: Option<(f64, f64)>,
) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let rate = events as f64 / elapsed.as_secs_f64();
    let speedup = baseline.map_or(String::new(), |(plain, as_is)| {
        format!(
            "  ({:.2}x plain, {:.2}x rsigma as-is)",
            rate / plain,
            rate / as_is
        )
    });
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

/// The rule folder and workload chosen by the environment (see the module docs).
fn rules_and_events(
    pool: usize,
    cold_count: usize,
) -> (
    String,
    Vec<rsigma_parser::SigmaRule>,
    Vec<FileEvent>,
    Vec<FileEvent>,
) {
    if std::env::var_os("PICKET_BENCH_SYNTHETIC").is_some() {
        let rules = synth::rules(env("PICKET_BENCH_RULES", 300), 0x5eed);
        let n = rules.len();
        return (
            "synthetic rules, synthetic events".into(),
            rules,
            synth::events(pool, n, 0xfeed),
            synth::events(cold_count, n, 0xc01d),
        );
    }
    let dir = if let Some(dir) = std::env::var_os("PICKET_BENCH_RULES_DIR") {
        std::path::PathBuf::from(dir)
    } else if let Some(root) = std::env::var_os("PICKET_BENCH_SIGMAHQ") {
        let dir = std::path::Path::new(&root).join("rules/windows/file");
        if !dir.is_dir() {
            eprintln!(
                "PICKET_BENCH_SIGMAHQ={}: no rules/windows/file there; point it at the root of a \
                 SigmaHQ/sigma checkout (git clone https://github.com/SigmaHQ/sigma), or unset it \
                 to use the pinned copy in benches/sigmahq",
                std::path::Path::new(&root).display()
            );
            std::process::exit(2);
        }
        dir
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sigmahq/rules/windows/file")
    };
    (
        format!("{}, realistic Windows events", dir.display()),
        real_rules(&dir),
        workload::events(pool, 0xfeed),
        workload::events(cold_count, 0xc01d),
    )
}

/// Candidates per event and the `top` rules taking the largest share of full evaluations.
fn candidate_report(set: &RuleSet, events: &[FileEvent], what: &str, top_count: usize) {
    let mut scratch = Scratch::default();
    let mut candidates = Vec::new();
    let mut per_rule = vec![0_usize; set.rule_count()];
    let mut total = 0_usize;
    for e in events {
        set.candidates(&SigmaEvent::new(e, false), &mut scratch, &mut candidates);
        total += candidates.len();
        for &c in &candidates {
            per_rule[c as usize] += 1;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let per_event = total as f64 / events.len() as f64;
    println!("optimised path{what}: {per_event:.2} candidate rules fully evaluated per event");
    let mut top: Vec<(usize, usize)> = per_rule.into_iter().enumerate().collect();
    top.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    println!("top rules by share of full evaluations (% of events they run on):");
    for &(i, n) in top.iter().take(top_count).filter(|(_, n)| *n > 0) {
        #[allow(clippy::cast_precision_loss)]
        let (share, on) = (
            100.0 * n as f64 / total.max(1) as f64,
            100.0 * n as f64 / events.len() as f64,
        );
        println!(
            "  {share:5.1}% of evaluations  {on:5.1}% of events  {}",
            set.rule_meta(i).title
        );
    }
}

fn main() {
    let pool = env("PICKET_BENCH_POOL", 16_384);
    let rounds = env("PICKET_BENCH_ROUNDS", 32);
    let cold_count = env("PICKET_BENCH_COLD", 400_000);
    let (what, rules, events, cold_events) = rules_and_events(pool, cold_count);
    let rule_count = rules.len();
    let event_count = pool;
    println!("workload: {what}");
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

    let only_optimised = std::env::var_os("PICKET_BENCH_ONLY_OPTIMISED").is_some();
    // The costliest route alone: creations (`file_event`) carry most rules and needles, so
    // the figure does not hang on the workload's guessed operation mix.
    let creates: Vec<FileEvent> = events
        .iter()
        .filter(|e| Category::of(e.operation) == Category::FileEvent)
        .cloned()
        .collect();
    // The slow paths need fewer rounds for a stable figure.
    let sample_rounds = (rounds / 8).max(1);
    let (as_is, plain) = if only_optimised {
        baselines(&engine, &set, &events[..1], 1)
    } else {
        baselines(&engine, &set, &events, sample_rounds)
    };
    let (as_is_creates, plain_creates) = if only_optimised {
        baselines(&engine, &set, &creates[..1], 1)
    } else {
        baselines(&engine, &set, &creates, sample_rounds)
    };
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
    let optimised_creates = measure(&creates, rounds, &mut optimised_pass);
    let cold = measure(&cold_events, 1, &mut optimised_pass);
    drop(cold_events);
    candidate_report(&set, &events, "", 8);
    candidate_report(&set, &creates, ", creates only", 3);
    if only_optimised {
        report("optimised", event_count, optimised, None);
        report("optimised, create", creates.len(), optimised_creates, None);
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

    let plain_rate = report("plain", event_count, plain, None);
    let as_is_rate = report("rsigma as-is", event_count, as_is, None);
    let base = Some((plain_rate, as_is_rate));
    report("optimised", event_count, optimised, base);
    report("optimised, cold", cold_count, cold, base);
    report("runtime+alerts", event_count, runtime, base);
    report("built-in pack", event_count, builtin_run, base);
    println!(
        "creations only ({} events), against baselines on the same events:",
        creates.len()
    );
    let plain_rate = report("plain, create", creates.len(), plain_creates, None);
    let as_is_rate = report("as-is, create", creates.len(), as_is_creates, None);
    let base = Some((plain_rate, as_is_rate));
    report("optimised, create", creates.len(), optimised_creates, base);
    ransomware_run(env("PICKET_BENCH_RANSOM", 20_000));
    assert_eq!(plain.1, optimised.1, "match counts differ");
    assert_eq!(plain.1, as_is.1, "match counts differ");
    assert_eq!(plain_creates.1, optimised_creates.1, "match counts differ");
    assert_eq!(plain_creates.1, as_is_creates.1, "match counts differ");
}

/// The built-in pack over a ransomware run amid ordinary traffic (`workload::ransomware_run`):
/// its correlations at their busiest, with the counts kept by Picket and with all of them in
/// rsigma's engine (`RuntimeConfig::native_counts` off), in the same run. Best of three, each
/// on a fresh evaluator (the stream's windows must start empty), one pass each.
fn ransomware_run(n: usize) {
    let events = workload::ransomware_run(n, 11);
    let set = Arc::new(RuleSet::builtin().expect("built-in pack"));
    let run = |native_counts: bool| {
        let mut best = (Duration::MAX, 0);
        for _ in 0..3 {
            let mut evaluator = Evaluator::new(
                Arc::clone(&set),
                Canaries::default(),
                RuntimeConfig {
                    native_counts,
                    ..RuntimeConfig::default()
                },
            );
            let mut alerts = Vec::new();
            let start = CpuClock::now();
            for event in &events {
                evaluator.process(black_box(event), &mut alerts);
            }
            best = best.min((start.elapsed(), alerts.len()));
        }
        best
    };
    let engine = run(false);
    let native = run(true);
    println!("ransomware run ({n} events, half of them one locker's), built-in pack:");
    let engine_rate = report("counts in rsigma", n, engine, None);
    let native_rate = report("counts in Picket", n, native, None);
    println!(
        "  Picket's counts: {:.2}x the rate with rsigma's engine counting",
        native_rate / engine_rate
    );
    assert_eq!(engine.1, native.1, "alert counts differ");
}

/// rsigma as-is (given each event's logsource) and plain evaluation over `events`.
fn baselines(
    engine: &rsigma_eval::Engine,
    set: &RuleSet,
    events: &[FileEvent],
    rounds: usize,
) -> ((Duration, usize), (Duration, usize)) {
    let logsources: Vec<LogSource> = events
        .iter()
        .map(|e| LogSource {
            category: Some(Category::of(e.operation).as_str().to_owned()),
            product: Some(product(e.host).to_owned()),
            ..LogSource::default()
        })
        .collect();
    let mut i = 0;
    let as_is = measure(events, rounds, |e| {
        let n = engine
            .evaluate_with_logsource(
                &SigmaEvent::new(e, false),
                &logsources[i % logsources.len()],
            )
            .len();
        i += 1;
        n
    });
    let plain = measure(events, rounds, |e| {
        set.matches_plain(&SigmaEvent::new(e, false)).len()
    });
    (as_is, plain)
}
