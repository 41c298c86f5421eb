//! What is wrong with a rule set, said so a rule author can find it: file, line, rule id.

use std::fmt;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The rule (or file) is skipped, the set still loads: e.g. a rule for a non-file
    /// logsource, which can never fire on our events.
    Warning,
    /// The set is refused.
    Error,
}

/// One problem found while loading or testing a rule set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as given (a path, or `builtin:NAME` for the embedded pack).
    pub file: String,
    /// 1-based line (the start of the YAML document when nothing more precise is known).
    pub line: usize,
    /// The rule id (or title when the rule has no id), if the problem belongs to one rule.
    pub rule: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// An error.
    #[must_use]
    pub fn error(file: &str, line: usize, rule: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            rule: rule.map(str::to_owned),
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// A warning.
    #[must_use]
    pub fn warning(
        file: &str,
        line: usize,
        rule: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(file, line, rule, message)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}:{}: {severity}", self.file, self.line)?;
        if let Some(rule) = &self.rule {
            write!(f, " [rule {rule}]")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A rule set was refused: every problem found (errors and warnings), errors first.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the rule set, first: {}", .problems.len(), .problems.first().map(ToString::to_string).unwrap_or_default())]
pub struct Rejected {
    /// Every problem, errors first.
    pub problems: Vec<Problem>,
}
