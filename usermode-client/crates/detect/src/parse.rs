//! Rule files → parsed Sigma documents, each remembered with its file and line so every
//! problem can be pointed at.
//!
//! Files are split into YAML documents here (not inside the Sigma parser) because the parser
//! reports errors as bare strings; parsing document by document tells us which document, so
//! which line and which rule id, each error belongs to.

use rsigma_parser::{CorrelationRule, SigmaRule};

use crate::problem::Problem;
use crate::source::RuleFile;

/// Where a rule came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// File display name.
    pub file: String,
    /// 1-based line where the rule's YAML document starts.
    pub line: usize,
    /// The document's text (to find lines of fields in later problems).
    pub text: String,
}

impl Origin {
    /// The line of the first occurrence of `needle` in the document, or its first line.
    #[must_use]
    pub fn line_of(&self, needle: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map_or(self.line, |i| self.line + i)
    }

    /// An error about rule `rule`, at the line of `needle` in this document.
    pub(crate) fn error_at(&self, needle: &str, rule: &str, message: impl Into<String>) -> Problem {
        Problem::error(&self.file, self.line_of(needle), Some(rule), message)
    }

    /// A warning about rule `rule`, at the line of `needle` in this document.
    pub(crate) fn warning_at(
        &self,
        needle: &str,
        rule: &str,
        message: impl Into<String>,
    ) -> Problem {
        Problem::warning(&self.file, self.line_of(needle), Some(rule), message)
    }
}

/// A parsed detection rule.
#[derive(Clone, Debug)]
pub struct ParsedRule {
    /// The rule.
    pub rule: SigmaRule,
    /// Where it came from.
    pub origin: Origin,
}

/// A parsed correlation rule.
#[derive(Clone, Debug)]
pub struct ParsedCorrelation {
    /// The rule.
    pub rule: CorrelationRule,
    /// Where it came from.
    pub origin: Origin,
}

/// Everything the Sigma files of a set hold.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Detection rules.
    pub rules: Vec<ParsedRule>,
    /// Correlation rules.
    pub correlations: Vec<ParsedCorrelation>,
}

/// Parses every Sigma file (test files are skipped: see [`crate::ruletest`]).
pub fn parse_files(files: &[RuleFile], problems: &mut Vec<Problem>) -> Parsed {
    let mut parsed = Parsed::default();
    for file in files.iter().filter(|f| !f.is_test_file()) {
        parse_file(file, &mut parsed, problems);
    }
    parsed
}

fn parse_file(file: &RuleFile, parsed: &mut Parsed, problems: &mut Vec<Problem>) {
    // Sigma's `action: global/repeat` documents modify the documents after them, so such a
    // file must be parsed whole; its errors can then only be pinned to the file.
    let whole = file.text.lines().any(|l| l.starts_with("action:"));
    let documents = if whole {
        vec![(1, file.text.clone())]
    } else {
        split_documents(&file.text)
    };
    for (line, text) in documents {
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        if let crate::policy::DocumentKind::NotARule(reason) = crate::policy::document_kind(&text) {
            problems.push(Problem::warning(&file.name, line, None, reason));
            continue;
        }
        let origin = Origin {
            file: file.name.clone(),
            line,
            text,
        };
        parse_document(origin, parsed, problems);
    }
}

fn parse_document(origin: Origin, parsed: &mut Parsed, problems: &mut Vec<Problem>) {
    let label = document_label(&origin.text);
    // A rule that cannot run on our events is skipped even when it does not parse.
    let refuse = |problems: &mut Vec<Problem>, line: usize, message: String| {
        match crate::policy::foreign_logsource(&origin.text) {
            Some(reason) => problems.push(Problem::warning(
                &origin.file,
                origin.line_of("logsource"),
                label.as_deref(),
                format!("{reason}; the rule can never fire; skipped (it does not parse either: {message})"),
            )),
            None => problems.push(Problem::error(&origin.file, line, label.as_deref(), message)),
        }
    };
    let collection = match rsigma_parser::parse_sigma_yaml(&origin.text) {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            refuse(
                problems,
                error_line(&origin, &message),
                shift_yaml_lines(&message, origin.line),
            );
            return;
        }
    };
    for error in &collection.errors {
        refuse(
            problems,
            error_line(&origin, error),
            shift_yaml_lines(error, origin.line),
        );
    }
    if !collection.errors.is_empty() {
        return;
    }
    for filter in &collection.filters {
        problems.push(Problem::error(
            &origin.file,
            origin.line,
            filter.id.as_deref().or(Some(&filter.title)),
            "Sigma filter documents are not supported: put the exclusion in the rule's condition",
        ));
    }
    for rule in collection.rules {
        parsed.rules.push(ParsedRule {
            rule,
            origin: origin.clone(),
        });
    }
    for rule in collection.correlations {
        parsed.correlations.push(ParsedCorrelation {
            rule,
            origin: origin.clone(),
        });
    }
}

/// Splits YAML text at `---` lines; returns (1-based first line, text) per document.
#[must_use]
pub fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut start = 1;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let rest = line.strip_prefix("---");
        if rest.is_some_and(|r| r.trim().is_empty() || r.trim_start().starts_with('#')) {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs
}

/// The id (or title) of a document, read leniently so broken documents still get a label.
fn document_label(text: &str) -> Option<String> {
    let value: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
    let get = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    get("id").or_else(|| get("title"))
}

/// The file line an error of the document is about: a condition that does not parse is at
/// the `condition:` line (the condition parser numbers lines of the condition text itself),
/// a YAML error at its own line.
fn error_line(origin: &Origin, message: &str) -> usize {
    if message.starts_with("Condition parse error") || message.contains("condition") {
        origin.line_of("condition:")
    } else {
        yaml_line(message, origin.line)
    }
}

/// YAML errors say "at line N column M" relative to the document: the file line is
/// `N + first - 1`.
fn yaml_line(message: &str, first: usize) -> usize {
    parse_line_number(message).map_or(first, |n| n + first - 1)
}

fn parse_line_number(message: &str) -> Option<usize> {
    let at = message.find("line ")?;
    let digits: String = message[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn shift_yaml_lines(message: &str, first: usize) -> String {
    match (message.find("line "), parse_line_number(message)) {
        (Some(at), Some(n)) if first > 1 => {
            let digits = n.to_string().len();
            format!(
                "{}line {}{}",
                &message[..at],
                n + first - 1,
                &message[at + 5 + digits..]
            )
        }
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_with_their_first_lines() {
        let docs = split_documents("a: 1\n---\nb: 2\nc: 3\n--- # next\nd: 4\n");
        assert_eq!(
            docs,
            vec![
                (1, "a: 1\n".to_owned()),
                (3, "b: 2\nc: 3\n".to_owned()),
                (6, "d: 4\n".to_owned())
            ]
        );
    }

    #[test]
    fn yaml_lines_are_shifted_to_file_lines() {
        assert_eq!(yaml_line("bad at line 3 column 2", 10), 12);
        assert_eq!(
            shift_yaml_lines("bad at line 3 column 2", 10),
            "bad at line 12 column 2"
        );
        assert_eq!(yaml_line("no position", 7), 7);
    }
}
