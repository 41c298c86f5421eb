//! Running a candidate set's rule tests before it may go live.

use std::sync::Arc;

use crate::problem::Problem;
use crate::ruleset::RuleSet;
use crate::ruletest::{Expect, TestCase};
use crate::runtime::{Canaries, Evaluator, RuntimeConfig};

/// Runs every test of `set` (on a fresh evaluator each); returns the failures.
pub(crate) fn run(set: RuleSet) -> (RuleSet, Vec<Problem>) {
    let set = Arc::new(set);
    let failures: Vec<Problem> = set
        .tests
        .iter()
        .filter_map(|test| run_one(&set, test).err())
        .collect();
    let set = Arc::try_unwrap(set).unwrap_or_else(|_| unreachable!("evaluators are dropped"));
    (set, failures)
}

/// Which events of a test made its rule match or fire (0-based).
fn hits(set: &Arc<RuleSet>, test: &TestCase) -> (Vec<usize>, Vec<String>) {
    let mut evaluator = Evaluator::new(
        Arc::clone(set),
        Canaries::new(test.canaries.iter().cloned()),
        RuntimeConfig::default(),
    );
    let mut alerts = Vec::new();
    let mut hit = Vec::new();
    for (n, event) in test.build_events().iter().enumerate() {
        alerts.clear();
        evaluator.process(event, &mut alerts);
        let matched = evaluator
            .last_matched()
            .iter()
            .any(|&i| set.rule_meta(i).id == test.rule)
            || evaluator.last_fired().contains(&test.rule);
        if matched {
            hit.push(n);
        }
    }
    (hit, evaluator.take_reports())
}

fn run_one(set: &Arc<RuleSet>, test: &TestCase) -> Result<(), Problem> {
    let (hit, reports) = hits(set, test);
    let fail = |message: String| {
        Problem::error(
            &test.file,
            test.line,
            Some(&test.rule),
            format!("test '{}' failed: {message}", test.name),
        )
    };
    if !reports.is_empty() {
        return Err(fail(reports.join("; ")));
    }
    match (test.expect, hit.first()) {
        (Expect::Match, None) => Err(fail("expected a match, the rule never matched".into())),
        (Expect::NoMatch, Some(n)) => Err(fail(format!(
            "expected no match, the rule matched event #{} of the test",
            n + 1
        ))),
        _ => Ok(()),
    }
}
