//! Problems found in real-world rule directories, each said once and where it is: a non-UTF-8
//! file, a condition that does not parse, a negative threshold, untested rules.

mod common;

use std::path::Path;

use common::RULE;
use picket_detect::{check_dir, Problem, Severity};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn errors(problems: &[Problem]) -> Vec<&Problem> {
    problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect()
}

#[test]
fn a_non_utf8_file_is_one_problem_and_the_rest_is_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "latin1.yml", b"title: caf\xe9\n");
    write(
        dir.path(),
        "broken.yml",
        b"title: x\nid: broken\ndetection: [\n",
    );
    let problems = check_dir(dir.path()).unwrap();
    let errors = errors(&problems);
    assert_eq!(errors.len(), 2, "{problems:#?}");
    let latin1: Vec<_> = errors
        .iter()
        .filter(|p| p.file.ends_with("latin1.yml"))
        .collect();
    assert_eq!(latin1.len(), 1);
    assert!(latin1[0].message.contains("not UTF-8"), "{}", latin1[0]);
    assert!(errors.iter().any(|p| p.file.ends_with("broken.yml")));
}

#[test]
fn a_condition_that_does_not_parse_points_at_the_condition_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "cond.yml",
        RULE.replace("condition: selection", "condition: selection and and")
            .as_bytes(),
    );
    let problems = check_dir(dir.path()).unwrap();
    let errors = errors(&problems);
    assert_eq!(errors.len(), 1, "{problems:#?}");
    assert_eq!(errors[0].line, 8, "{}", errors[0]);
}

#[test]
fn a_negative_threshold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "corr.yml",
        format!(
            "{RULE}---\ntitle: many\nid: test-many\ncorrelation:\n  type: event_count\n  rules:\n    - test-payload\n  group-by:\n    - ProcessId\n  timespan: 60s\n  condition:\n    gte: -1\nlevel: high\n"
        )
        .as_bytes(),
    );
    let problems = check_dir(dir.path()).unwrap();
    let errors = errors(&problems);
    assert!(
        errors
            .iter()
            .any(|p| p.message.contains("gte: -1") && p.line == 20),
        "{problems:#?}"
    );
}

#[test]
fn the_no_test_warning_reads_well() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "r.yml", RULE.as_bytes());
    let problems = check_dir(dir.path()).unwrap();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .message
            .contains("the rule has neither a positive nor a negative test"),
        "{}",
        problems[0]
    );
}

#[test]
fn a_foreign_rule_that_does_not_parse_is_skipped_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "r.yml", RULE.as_bytes());
    write(
        dir.path(),
        "legacy.yml",
        b"title: brute force\nid: legacy\nlogsource:\n  category: authentication\ndetection:\n  s:\n    action: failure\n  condition: s | count(category) by dst_ip > 30\n",
    );
    write(
        dir.path(),
        "not-a-rule.yml",
        b"exclusions:\n  a: 1\n  a: 2\n",
    );
    let problems = check_dir(dir.path()).unwrap();
    assert!(errors(&problems).is_empty(), "{problems:#?}");
    let legacy = problems
        .iter()
        .find(|p| p.file.ends_with("legacy.yml"))
        .unwrap();
    assert!(legacy.message.contains("authentication"), "{legacy}");
    assert!(problems
        .iter()
        .any(|p| p.file.ends_with("not-a-rule.yml") && p.message.contains("not a Sigma rule")));
}
