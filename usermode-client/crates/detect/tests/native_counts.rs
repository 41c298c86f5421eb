//! Counts kept by Picket (`RuntimeConfig::native_counts`) fire exactly when rsigma's engine
//! would: the same rule sets run both ways over the same event streams, and every event's
//! alerts and firings are compared.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use picket_detect::ruleset::RuleSet;
use picket_detect::ruletest::file_path;
use picket_detect::runtime::{Canaries, Evaluator, RuntimeConfig};
use picket_detect::source::RuleFile;
use picket_detect::workload;
use picket_model::{
    Alert, Details, FileEvent, Host, Operation, ProcessInfo, ProcessKey, Timestamp,
};

/// The detection rules the counts below are built on: writes, and renames to `.locked`.
const BASE: &str = "title: written
id: t-written
logsource: {category: file_change}
detection: {s: {Operation: close_modified}, condition: s}
level: informational
---
title: renamed
id: t-renamed
logsource: {category: file_rename}
detection: {s: {TargetFilename|endswith: '.locked'}, condition: s}
level: informational
---
";

/// Counts over one detection rule, chained into `temporal` and `event_count` parents, with
/// a range condition and a second group-by field (after [`BASE`]).
const CHAIN: &str = "title: many writes
id: t-many
correlation: {type: event_count, rules: [t-written], group-by: [ProcessId], timespan: 3s, condition: {gte: 4}, generate: false}
level: low
---
title: some writes of one kind
id: t-range
correlation: {type: event_count, rules: [t-written], group-by: [ProcessId, FileExtension], timespan: 2s, condition: {gt: 1, lte: 3}, generate: false}
level: low
---
title: renames
id: t-renames
correlation: {type: event_count, rules: [t-renamed], group-by: [ProcessId], timespan: 5s, condition: {gte: 2}, generate: false}
level: low
---
title: writes then renames
id: t-chain
correlation: {type: temporal, rules: [t-many, t-renames], group-by: [ProcessId], timespan: 10s}
level: high
---
title: kinds written in bursts
id: t-range-parent
correlation: {type: event_count, rules: [t-range], group-by: [ProcessId], timespan: 10s, condition: {gte: 2}}
level: medium
";

/// `value_count`s over the same rules: one over two rules whose field only one of them has
/// (renames have a source, writes none), one with a range, one over two fields joined, and
/// parents of each kind counted here or by rsigma (after [`BASE`]).
const VALUES: &str = "title: sources
id: t-sources
correlation: {type: value_count, rules: [t-written, t-renamed], group-by: [ProcessId], timespan: 4s, condition: {field: SourceFilename, gte: 3}, generate: false}
level: low
---
title: some kinds
id: t-kinds
correlation: {type: value_count, rules: [t-written], group-by: [ProcessId], timespan: 3s, condition: {field: FileExtension, gt: 1, lte: 2}, generate: false}
level: low
---
title: names and folders
id: t-pairs
correlation: {type: value_count, rules: [t-written], group-by: [ProcessId, FileExtension], timespan: 5s, condition: {field: [FileName, FileDirectory], gte: 4}, generate: false}
level: low
---
title: sources then kinds
id: t-values-chain
correlation: {type: temporal, rules: [t-sources, t-kinds], group-by: [ProcessId], timespan: 10s}
level: high
---
title: pairs in bursts
id: t-pairs-parent
correlation: {type: event_count, rules: [t-pairs], group-by: [ProcessId], timespan: 300s, condition: {gte: 2}}
level: medium
";

/// The same, plus a `temporal` correlation (not a count) over the written rule: the counts
/// over it must then be left to rsigma.
const SHARED: &str = "---
title: a file written
id: t-any-write
correlation: {type: temporal, rules: [t-written], group-by: [ProcessId], timespan: 5s}
level: medium
";

fn set(text: &str) -> Arc<RuleSet> {
    let file = RuleFile {
        name: "test.yml".into(),
        relative: PathBuf::from("test.yml"),
        text: text.to_owned(),
        unreadable: None,
    };
    Arc::new(RuleSet::compile(vec![file]).expect("the test rules compile"))
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A stream of writes, renames, notes and other events by a few processes, in bursts and
/// pauses that open, fill and close windows (times in ms, or on a grid of `grid` ms so that
/// times meet window and suppression bounds exactly; sometimes out of order).
fn stream(seed: u64, len: u64, grid: u64) -> Vec<FileEvent> {
    let mut rng = Rng(seed | 1);
    let mut ms: u64 = 1_700_000_000_000;
    let processes: Vec<Arc<ProcessInfo>> = (1..=5)
        .map(|pid| {
            Arc::new(ProcessInfo {
                key: ProcessKey { pid, start_key: 1 },
                image: Some(r"C:\x\e.exe".into()),
                ..ProcessInfo::default()
            })
        })
        .collect();
    let exts = ["docx", "txt", "xlsx"];
    (0..len)
        .map(|seq| {
            ms += match rng.below(20) {
                0 => 20_000 + rng.below(60_000),
                1..=3 => rng.below(3_000),
                _ => rng.below(300),
            };
            let time = if rng.below(25) == 0 {
                ms.saturating_sub(1_500)
            } else {
                ms
            };
            let time = time - time % grid;
            let process = Arc::clone(&processes[usize::try_from(rng.below(5)).unwrap()]);
            let dir = rng.below(4);
            let ext = exts[usize::try_from(rng.below(3)).unwrap()];
            let name = format!(r"C:\d{dir}\f{}.{ext}", rng.below(50));
            let (operation, target, source) = match rng.below(10) {
                0..=5 => (Operation::CloseModified, name, None),
                6 | 7 => (Operation::Rename, format!("{name}.locked"), Some(name)),
                8 => (Operation::Create, format!(r"C:\d{dir}\README.txt"), None),
                _ => (Operation::Delete, name, None),
            };
            // Half the rewrites look encrypted (content sampling's field).
            let entropy =
                (operation == Operation::CloseModified && rng.below(2) == 0).then_some(7.9);
            FileEvent {
                seq,
                time: Timestamp::from_unix_nanos(time * 1_000_000),
                host: Host::Windows,
                operation,
                process,
                thread_id: 1,
                target: file_path(&target, Host::Windows),
                source: source.map(|s| Box::new(file_path(&s, Host::Windows))),
                details: Details::default(),
                entropy,
            }
        })
        .collect()
}

/// What is compared of an alert.
fn summary(alert: &Alert) -> String {
    let correlation = alert.correlation.as_ref().map(|c| {
        format!(
            "{} {:?} count {} window {}",
            c.kind, c.group, c.count, c.window_secs
        )
    });
    let events: Vec<u64> = alert.events.iter().map(|e| e.seq).collect();
    format!(
        "{} {:?} {:?} {correlation:?} events {events:?}",
        alert.rule_id, alert.level, alert.time
    )
}

/// Runs `set` over `events` both ways; returns what the native run counted itself.
fn compare(set: &Arc<RuleSet>, events: &[FileEvent], config: &RuntimeConfig) -> Vec<String> {
    let (counted, firings) = compare_with_idle(set, events, config, &[]);
    assert!(firings > 0, "the stream makes correlations fire");
    counted
}

/// Which correlations fired over `events` (native counts on), each once.
fn fired_over(
    set: &Arc<RuleSet>,
    events: &[FileEvent],
    config: &RuntimeConfig,
) -> BTreeSet<String> {
    let mut evaluator = Evaluator::new(Arc::clone(set), Canaries::default(), config.clone());
    let mut fired = BTreeSet::new();
    for event in events {
        evaluator.process(event, &mut Vec::new());
        fired.extend(evaluator.last_fired().iter().cloned());
    }
    fired
}

/// [`compare`], with the evaluators told the stream is idle after the events whose sequence
/// numbers are in `idle_after`; also returns how many firings there were.
fn compare_with_idle(
    set: &Arc<RuleSet>,
    events: &[FileEvent],
    config: &RuntimeConfig,
    idle_after: &[u64],
) -> (Vec<String>, usize) {
    let native_config = RuntimeConfig {
        native_counts: true,
        ..config.clone()
    };
    let rsigma_config = RuntimeConfig {
        native_counts: false,
        ..config.clone()
    };
    let mut native = Evaluator::new(Arc::clone(set), Canaries::default(), native_config);
    let mut rsigma = Evaluator::new(Arc::clone(set), Canaries::default(), rsigma_config);
    assert!(rsigma.native_counts().is_empty());
    let mut firings = 0;
    for event in events {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        native.process(event, &mut a);
        rsigma.process(event, &mut b);
        let mut a: Vec<String> = a.iter().map(summary).collect();
        let mut b: Vec<String> = b.iter().map(summary).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "alerts of event {}", event.seq);
        let mut fa = native.last_fired().to_vec();
        let mut fb = rsigma.last_fired().to_vec();
        fa.sort();
        fb.sort();
        assert_eq!(fa, fb, "firings on event {}", event.seq);
        firings += fa.len();
        if idle_after.contains(&event.seq) {
            native.idle(Timestamp(0));
            rsigma.idle(Timestamp(0));
        }
    }
    let counted = native
        .native_counts()
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    (counted, firings)
}

#[test]
fn chained_counts_fire_as_rsigma_fires_them() {
    let chain = set(&format!("{BASE}{CHAIN}"));
    for seed in 1..=12 {
        let counted = compare(&chain, &stream(seed, 3_000, 1), &RuntimeConfig::default());
        assert_eq!(counted, ["t-many", "t-range", "t-renames"]);
    }
}

#[test]
fn value_counts_fire_as_rsigma_fires_them() {
    let values = set(&format!("{BASE}{VALUES}"));
    let mut fired = BTreeSet::new();
    for seed in 1..=12 {
        let events = stream(seed, 3_000, 1);
        let counted = compare(&values, &events, &RuntimeConfig::default());
        assert_eq!(counted, ["t-sources", "t-kinds", "t-pairs"]);
        fired.extend(fired_over(&values, &events, &RuntimeConfig::default()));
    }
    // Every count and both parents fired: the comparison is not of silence.
    for id in [
        "t-sources",
        "t-kinds",
        "t-pairs",
        "t-values-chain",
        "t-pairs-parent",
    ] {
        assert!(fired.contains(id), "{id} fired: {fired:?}");
    }
    let small = RuntimeConfig {
        suppress_secs: 1,
        max_group_entries: 3,
        ..RuntimeConfig::default()
    };
    for seed in 30..=35 {
        compare(&values, &stream(seed, 3_000, 1), &small);
        compare(&values, &stream(seed, 3_000, 250), &small);
    }
}

/// A value seen again while older entries of it leave the window is still counted once,
/// and a value whose last entry left is no longer counted. Kinds within 3 s: docx; docx, txt
/// (2: fires); at 3 400 ms the first docx leaves but two others hold it, so docx, txt, xlsx
/// (3); at 3 600 ms the txt leaves (2); then txt alone, then txt and pdf.
#[test]
fn distinct_values_come_and_go_with_their_entries() {
    let values = set(&format!("{BASE}{VALUES}"));
    let events: Vec<FileEvent> = [
        (0, r"C:\a\x.docx"),
        (500, r"C:\a\x.txt"),
        (1_000, r"C:\a\y.docx"),
        (2_900, r"C:\a\z.docx"),
        (3_400, r"C:\a\w.xlsx"),
        (3_600, r"C:\a\v.xlsx"),
        (7_000, r"C:\a\u.txt"),
        (7_100, r"C:\a\t.txt"),
        (7_200, r"C:\a\s.pdf"),
    ]
    .iter()
    .enumerate()
    .map(|(seq, &(ms, path))| at(seq as u64, ms, 1, Operation::CloseModified, path))
    .collect();
    let (counted, _) = compare_with_idle(&values, &events, &RuntimeConfig::default(), &[]);
    assert_eq!(counted, ["t-sources", "t-kinds", "t-pairs"]);
    // The comparison with rsigma is the assertion; this, that the stream made it fire.
    assert!(fired_over(&values, &events, &RuntimeConfig::default()).contains("t-kinds"));
}

#[test]
fn counts_sharing_a_rule_with_other_correlations_stay_with_rsigma() {
    let shared = set(&format!("{BASE}{CHAIN}{SHARED}"));
    let counted = compare(&shared, &stream(7, 2_000, 1), &RuntimeConfig::default());
    assert_eq!(counted, ["t-renames"]);
}

#[test]
fn the_builtin_pack_fires_as_with_rsigma_alone() {
    let builtin = Arc::new(RuleSet::builtin().expect("the built-in pack loads"));
    let mut fired = BTreeSet::new();
    for seed in 1..=6 {
        let mut events = stream(seed, 3_000, 1);
        // A locker amid ordinary traffic, after the stream (its clock is later).
        events.extend(workload::ransomware_run(2_000, seed));
        fired.extend(fired_over(&builtin, &events, &RuntimeConfig::default()));
        let counted = compare(&builtin, &events, &RuntimeConfig::default());
        // Every count of the pack, those that alert themselves (the note spread, a shadow
        // alert, and the entropy burst) included.
        assert_eq!(
            counted,
            [
                "picket-ransom-mass-rewrite",
                "picket-ransom-mass-rename",
                "picket-ransom-note-spread",
                "picket-ransom-entropy-burst"
            ]
        );
    }
    // Each count fired, and the chains above them: the comparison is not of silence.
    for id in [
        "picket-ransom-mass-rewrite",
        "picket-ransom-mass-rename",
        "picket-ransom-note-spread",
        "picket-ransom-entropy-burst",
        "picket-ransom-encrypt-rename",
        "picket-ransom-behaviour",
    ] {
        assert!(fired.contains(id), "{id} fired: {fired:?}");
    }
}

#[test]
fn short_suppression_and_small_caps_change_nothing_either() {
    let chain = set(&format!("{BASE}{CHAIN}"));
    let config = RuntimeConfig {
        suppress_secs: 1,
        max_group_entries: 3,
        ..RuntimeConfig::default()
    };
    for seed in 20..=25 {
        compare(&chain, &stream(seed, 3_000, 1), &config);
        compare(&chain, &stream(seed, 3_000, 250), &config);
    }
}

/// One event at `ms` after the start by process `pid`.
fn at(seq: u64, ms: u64, pid: u32, operation: Operation, path: &str) -> FileEvent {
    FileEvent {
        seq,
        time: Timestamp::from_unix_nanos((1_700_000_000_000 + ms) * 1_000_000),
        host: Host::Windows,
        operation,
        process: Arc::new(ProcessInfo {
            key: ProcessKey { pid, start_key: 1 },
            image: Some(r"C:\x\e.exe".into()),
            ..ProcessInfo::default()
        }),
        thread_id: 1,
        target: file_path(path, Host::Windows),
        source: None,
        details: Details::default(),
        entropy: None,
    }
}

const WRITTEN: &str = "title: written
id: t-written
logsource: {category: file_change}
detection: {s: {Operation: close_modified}, condition: s}
level: informational
---
title: docx
id: t-docx
logsource: {category: file_change}
detection: {s: {TargetFilename|endswith: '.docx'}, condition: s}
level: informational
";

/// `WRITTEN`, a count `t-many` over `rules` (`gte: threshold`, 10 s) and `parent` on top.
fn count_under(rules: &str, threshold: u32, parent: &str) -> Arc<RuleSet> {
    set(&format!(
        "{WRITTEN}---
title: many
id: t-many
correlation: {{type: event_count, rules: [{rules}], group-by: [ProcessId], timespan: 10s, condition: {{gte: {threshold}}}, generate: false}}
level: low
---
{parent}"
    ))
}

/// A count `t-parent` of `t-many`'s firings (`gte: 2` in `timespan`), kept quiet by `t-top`.
fn quiet_parent(timespan: &str) -> String {
    format!(
        "title: parent
id: t-parent
correlation: {{type: event_count, rules: [t-many], group-by: [ProcessId], timespan: {timespan}, condition: {{gte: 2}}, generate: false}}
level: high
---
title: top
id: t-top
correlation: {{type: event_count, rules: [t-parent], group-by: [ProcessId], timespan: {timespan}, condition: {{gte: 1}}}}
level: high
"
    )
}

/// Cases found in review where a count kept here behaved otherwise than rsigma's: each is
/// now either left to rsigma or the same, and each is run both ways.
#[test]
fn reviewed_corner_cases_fire_as_rsigma_fires_them() {
    let config = RuntimeConfig::default();
    let two = [
        at(0, 0, 1, Operation::CloseModified, r"C:\a\x.docx"),
        at(1, 1, 1, Operation::CloseModified, r"C:\a\y.docx"),
    ];
    // A parent that alerts does not make the count quiet: the count alerts too, from here.
    let loud_parent = count_under(
        "t-written",
        2,
        "title: parent
id: t-parent
correlation: {type: event_count, rules: [t-many], group-by: [ProcessId], timespan: 60s, condition: {gte: 1}, generate: true}
level: high
",
    );
    let (counted, firings) = compare_with_idle(&loud_parent, &two, &config, &[]);
    assert_eq!(counted, ["t-many"]);
    assert!(firings > 0);
    // A `value_count` parent reads the event's field when fed, nothing when chained.
    let value_parent = count_under(
        "t-written",
        1,
        "title: vc parent
id: t-vc
correlation: {type: value_count, rules: [t-many], group-by: [ProcessId], timespan: 60s, condition: {field: TargetFilename, gte: 1}, generate: false}
level: high
---
title: top
id: t-top
correlation: {type: event_count, rules: [t-vc], group-by: [ProcessId], timespan: 60s, condition: {gte: 1}}
level: high
",
    );
    let (counted, _) = compare_with_idle(&value_parent, &two, &config, &[]);
    assert!(counted.is_empty());
    // Two rules of one count on one event, and no suppression: left to rsigma.
    let both = count_under("t-written, t-docx", 1, &quiet_parent("60s"));
    let unsuppressed = RuntimeConfig {
        suppress_secs: 0,
        ..RuntimeConfig::default()
    };
    let (counted, _) = compare_with_idle(&both, &two, &unsuppressed, &[]);
    assert!(counted.is_empty());
    // With suppression it is counted here, and handed to rsigma once per event.
    let mut burst: Vec<FileEvent> = (0..6)
        .map(|i| at(i, i * 3_000, 1, Operation::CloseModified, r"C:\a\x.docx"))
        .collect();
    burst.push(at(6, 80_000, 1, Operation::CloseModified, r"C:\a\z.docx"));
    let (counted, firings) = compare_with_idle(&both, &burst, &config, &[]);
    assert_eq!(counted, ["t-many"]);
    assert!(firings > 0);
    // A parent whose condition is fewer than all its rules depends on the order of updates.
    let some_of = count_under(
        "t-docx",
        1,
        "title: x
id: t-x
correlation: {type: value_count, rules: [t-written], group-by: [ProcessId], timespan: 200s, condition: {field: TargetFilename, gte: 1}, generate: false}
level: low
---
title: p
id: t-p
correlation: {type: temporal, rules: [t-x, t-many], group-by: [ProcessId], timespan: 120s, condition: {gte: 1}}
level: high
",
    );
    let apart = [
        at(0, 0, 1, Operation::CloseModified, r"C:\a\x.txt"),
        at(1, 61_000, 1, Operation::CloseModified, r"C:\a\y.docx"),
    ];
    let (counted, _) = compare_with_idle(&some_of, &apart, &config, &[]);
    assert!(counted.is_empty());
    // An event older than the idle clock, after its group's suppression was forgotten.
    let late = count_under("t-written", 1, &quiet_parent("300s"));
    let out_of_order = [
        at(0, 0, 1, Operation::CloseModified, r"C:\a\x.docx"),
        at(1, 61_000, 2, Operation::Open, r"C:\a\other.txt"),
        at(2, 30_000, 1, Operation::CloseModified, r"C:\a\y.docx"),
    ];
    let (counted, firings) = compare_with_idle(&late, &out_of_order, &config, &[1]);
    assert_eq!(counted, ["t-many"]);
    assert!(firings > 0);
    // Twelve correlations above a count: rsigma's ten chaining steps would reach one more.
    let mut deep = format!(
        "{WRITTEN}---
title: p0
id: t-p0
correlation: {{type: event_count, rules: [t-written], group-by: [ProcessId], timespan: 10s, condition: {{gte: 1}}, generate: false}}
level: low
"
    );
    for i in 1..=12 {
        let generate = if i == 12 { "true" } else { "false" };
        deep.push_str(&format!(
            "---
title: p{i}
id: t-p{i}
correlation: {{type: event_count, rules: [t-p{}], group-by: [ProcessId], timespan: 10s, condition: {{gte: 1}}, generate: {generate}}}
level: low
",
            i - 1
        ));
    }
    let (counted, firings) = compare_with_idle(&set(&deep), &two, &config, &[]);
    assert!(counted.is_empty() && firings > 0, "{counted:?}");
    // A reference that names two detection rules (one's id is the other's name): the rule
    // set wires only one of them to the correlation, so the count is left to rsigma.
    let clash = set("title: written
id: t-written
logsource: {category: file_change}
detection: {s: {Operation: close_modified}, condition: s}
level: informational
---
title: docx, named like the other's id
id: t-docx
name: t-written
logsource: {category: file_change}
detection: {s: {TargetFilename|endswith: '.docx'}, condition: s}
level: informational
---
title: many
id: t-many
correlation: {type: event_count, rules: [t-written], group-by: [ProcessId], timespan: 10s, condition: {gte: 1}}
level: low
");
    let (counted, firings) = compare_with_idle(&clash, &two, &config, &[]);
    assert!(counted.is_empty() && firings > 0, "{counted:?}");
    // A suppression too long for rsigma's `i64` clock is read alike by both.
    let forever = RuntimeConfig {
        suppress_secs: u64::MAX,
        ..RuntimeConfig::default()
    };
    let (counted, _) = compare_with_idle(&both, &burst, &forever, &[]);
    assert_eq!(counted, ["t-many"]);
    // A state budget of nothing does not panic.
    let none = RuntimeConfig {
        max_state_entries: 0,
        ..RuntimeConfig::default()
    };
    let _ = Evaluator::new(late, Canaries::default(), none);
}

/// Deciding which counts to keep looks at each correlation once: a rule set shaped as a wide
/// lattice (each of 8 correlations per level built on all 8 below, 11 levels) loads, and its
/// counts, under a stack taller than rsigma's chaining reaches, stay with rsigma.
#[test]
fn a_wide_lattice_of_correlations_is_decided_quickly() {
    let mut text = String::from(WRITTEN);
    for level in 0..=10 {
        for k in 0..8 {
            let rules = if level == 0 {
                "t-written".to_owned()
            } else {
                (0..8)
                    .map(|j| format!("t-l{}-{j}", level - 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let generate = if level == 10 { "true" } else { "false" };
            text.push_str(&format!(
                "---
title: l{level} {k}
id: t-l{level}-{k}
correlation: {{type: event_count, rules: [{rules}], group-by: [ProcessId], timespan: 10s, condition: {{gte: 1}}, generate: {generate}}}
level: low
"
            ));
        }
    }
    // A walk per path would not finish: 8 parents a level, 10 levels.
    let evaluator = Evaluator::new(set(&text), Canaries::default(), RuntimeConfig::default());
    assert!(evaluator.native_counts().is_empty());
}
