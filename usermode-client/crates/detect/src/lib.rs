//! Picket's detection engine, entirely in user space: Sigma rules and correlations over file
//! events, with content updates that can never take the sensor down.
//!
//! - [`event`]: our [`picket_model::FileEvent`] seen through the Sigma engine's event trait
//!   (borrowed, no copying) and the operation → logsource category mapping.
//! - [`parse`], [`ruletest`], [`ruleset`]: rule files → validated, compiled, *tested* sets;
//!   every problem carries file, line and rule id; loading is all or nothing.
//! - [`prefilter`]: logsource routing plus one Aho-Corasick automaton per field.
//! - [`runtime`]: evaluation under a guard (a failing or slow rule is disabled, never fatal),
//!   bounded correlation state, alerts.
//! - [`detector`], [`reload`], [`store`]: the pipeline's [`picket_model::Detector`], hot
//!   reload, and the last good set kept on disk.
//! - [`entropy`]: optional content sampling after `close_modified`.
//!
//! The built-in pack lives in `rules/` (embedded; see `rules/README.md`).

mod condition;
mod counting;
pub mod detector;
pub mod entropy;
pub mod event;
pub mod parse;
pub mod policy;
pub mod prefilter;
pub mod problem;
pub mod process_rules;
pub mod reload;
pub mod ruleset;
pub mod ruletest;
pub mod runtime;
mod selftest;
mod settled;
pub mod source;
pub mod store;
#[doc(hidden)]
pub mod synth;
pub mod taxonomy;
#[doc(hidden)]
pub mod workload;

pub use detector::{DetectorOptions, SigmaDetector, StartError, StartedWith};
pub use problem::{Problem, Rejected, Severity};
pub use ruleset::RuleSet;
pub use runtime::{Canaries, Evaluator, RuntimeConfig};
pub use source::{builtin_files, read_dir, RuleFile};

/// Checks a rule directory: parse, validate, compile and run its tests. Returns every problem
/// (empty = the set would load), plus a cost warning for each rule the prefilter cannot skip.
///
/// # Errors
/// When the directory cannot be read.
pub fn check_dir(dir: &std::path::Path) -> Result<Vec<Problem>, source::ReadError> {
    let files = read_dir(dir)?;
    Ok(match RuleSet::load(files) {
        Ok(set) => {
            let mut problems = set.warnings().to_vec();
            problems.extend(cost_warnings(&set));
            problems
        }
        Err(rejected) => rejected.problems,
    })
}

/// A cost warning from [`cost_warnings`]: advice, which `rules check --strict` does not refuse.
#[must_use]
pub fn is_cost_warning(problem: &Problem) -> bool {
    problem.severity == Severity::Warning && problem.message.starts_with("cost:")
}

/// A warning for each rule without a literal witness: it is fully evaluated on every event of
/// its logsource, so it costs as much as all the others together may.
#[must_use]
pub fn cost_warnings(set: &RuleSet) -> Vec<Problem> {
    set.unwitnessed()
        .into_iter()
        .map(|i| {
            let (file, line) = set.rule_origin(i);
            Problem::warning(
                file,
                line,
                Some(&set.rule_meta(i).id),
                "cost: no literal the prefilter can index (only negations, numbers, keywords, \
                 encoded values…), so this rule is fully evaluated on every event of \
                 its logsource; add a positive contains/startswith/endswith selection to make \
                 it cheap",
            )
        })
        .collect()
}
