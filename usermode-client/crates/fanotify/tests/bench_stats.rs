//! The overhead benchmark's statistics and pooling (`benches/overhead/stats.rs`), tested here
//! because a `harness = false` benchmark runs no tests of its own.

#[path = "../benches/overhead/stats.rs"]
mod stats;

use std::path::{Path, PathBuf};

use stats::{median_interval, rounds_line, verdict, EarlierRounds, PoolError};

#[test]
fn the_interval_is_the_sign_tests_order_statistics() {
    // 20 values 1..=20: the sign test's 95 % interval runs from the 6th to the 15th lowest
    // (P(B <= 5) = 0.0207 for B ~ binomial(20, 1/2)), at 95.9 % confidence.
    let values: Vec<f64> = (1..=20).rev().map(f64::from).collect();
    let i = median_interval(values).unwrap();
    assert_eq!((i.median, i.low, i.high), (11.0, 6.0, 15.0));
    assert!((i.confidence - 0.9586).abs() < 1e-4, "{}", i.confidence);
    // 40 values: the 14th to the 27th (P(B <= 13) = 0.0192).
    let i = median_interval((1..=40).map(f64::from).collect()).unwrap();
    assert_eq!((i.low, i.high), (14.0, 27.0));
    // Too few values for 95 %: the whole range.
    let i = median_interval(vec![3.0, 1.0, 2.0]).unwrap();
    assert_eq!((i.low, i.high), (1.0, 3.0));
    assert!(i.confidence < 0.95);
    assert_eq!(median_interval(Vec::new()), None);
}

#[test]
fn a_target_is_met_only_when_the_whole_interval_is_within_it() {
    let at = |low, high| stats::MedianInterval {
        median: f64::midpoint(low, high),
        low,
        high,
        confidence: 0.96,
    };
    assert_eq!(verdict(&at(1.2, 1.45), 1.5), "met");
    assert_eq!(verdict(&at(1.2, 1.5), 1.5), "met");
    assert_eq!(verdict(&at(1.51, 1.6), 1.5), "not met");
    assert!(verdict(&at(1.41, 1.54), 1.5).starts_with("undecided"));
}

fn log(lines: &[String]) -> String {
    let mut text = "workload: 1 writer(s) at once\nmode writer s slowdown\n".to_owned();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("  writer time vs the bare reader's, picket: +1.0% [-2.0%, +3.0%]\n");
    text
}

#[test]
fn earlier_rounds_are_read_back_from_the_lines_a_run_prints() {
    let writer = [1.027, 1.052, 0.967];
    let cpu = [1.542, 1.47];
    let first = log(&[
        rounds_line("writer time", "picket watch (detection on)", &writer),
        rounds_line("sensor CPU", "picket watch (detection on)", &cpu),
    ]);
    let second = log(&[rounds_line(
        "writer time",
        "picket watch (detection on)",
        &[1.2],
    )]);
    let mut earlier = EarlierRounds::default();
    earlier.add_log(Path::new("a.log"), &first).unwrap();
    earlier.add_log(Path::new("b.log"), &second).unwrap();
    assert_eq!(earlier.logs, 2);
    assert_eq!(
        earlier.of("writer time", "picket watch (detection on)"),
        &[1.027, 1.052, 0.967, 1.2]
    );
    assert_eq!(
        earlier.of("sensor CPU", "picket watch (detection on)"),
        &cpu
    );
    assert!(earlier
        .of("writer time", "a second bare reader (noise control)")
        .is_empty());
}

#[test]
fn a_log_that_cannot_be_pooled_is_an_error_naming_it() {
    let mut earlier = EarlierRounds::default();
    let none = earlier.add_log(Path::new("empty.log"), "nothing here\n");
    assert_eq!(
        none,
        Err(PoolError::NoRounds {
            log: PathBuf::from("empty.log")
        })
    );
    let bad = log(&["  (writer time, picket, each round: 1.0 x1.2 1.1)".to_owned()]);
    let err = earlier.add_log(Path::new("bad.log"), &bad).unwrap_err();
    assert_eq!(
        err,
        PoolError::BadRatio {
            log: PathBuf::from("bad.log"),
            line: 3,
            value: "x1.2".to_owned()
        }
    );
    assert!(err.to_string().contains("bad.log line 3"), "{err}");
    let missing = EarlierRounds::read(&[PathBuf::from("/nonexistent/run.log")]).unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/run.log"),
        "{missing}"
    );
    assert_eq!(earlier.logs, 0);
    assert!(
        earlier.of("writer time", "picket").is_empty(),
        "nothing of a log with an error is kept"
    );
}
