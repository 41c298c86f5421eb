//! The optimisation: one Aho-Corasick automaton per field over every rule's literal needles,
//! so only rules that can possibly match are fully evaluated.
//!
//! For each rule we derive a *witness*: a set of (field, needle) pairs such that whenever the
//! rule matches an event, at least one needle occurs (case-insensitively) in its field. A rule
//! without a sound witness (negation as the only requirement, regex, numbers, keywords, cased
//! or encoded values…) is evaluated for every event. The index only ever over-approximates the
//! matching set, which the equal-matches test checks against plain evaluation.
//!
//! Case folding follows the engine exactly: Sigma compares `haystack.to_lowercase()`. Needles
//! are kept only when their lower-case form is ASCII; an ASCII haystack is then searched with
//! an ASCII-case-insensitive automaton (identical to searching its lower-case form). A
//! non-ASCII haystack is lower-cased once and searched; rules whose needle came from a value
//! with wildcards (compiled to a case-insensitive regex, which folds case differently from
//! `to_lowercase` for a few characters such as `ſ`) are then taken as candidates outright.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaValue, StringPart,
};

use crate::event::{is_text_field, SigmaEvent};

/// A literal that must occur in a field for a rule to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needle {
    /// Sysmon field name.
    pub field: String,
    /// Lower-case ASCII text.
    pub text: String,
    /// Came from a value with wildcards (see module docs).
    pub wild: bool,
}

/// The witness of a rule: `None` when it has none (always a candidate).
#[must_use]
pub fn witness(rule: &SigmaRule) -> Option<Vec<Needle>> {
    let detections = &rule.detection;
    let mut all = Vec::new();
    for condition in &detections.conditions {
        all.extend(condition_witness(condition, &detections.named)?);
    }
    (!all.is_empty()).then_some(all)
}

type Named = std::collections::HashMap<String, Detection>;

fn condition_witness(expr: &ConditionExpr, named: &Named) -> Option<Vec<Needle>> {
    match expr {
        ConditionExpr::Identifier(name) => detection_witness(named.get(name)?),
        ConditionExpr::And(parts) => best(parts.iter().map(|p| condition_witness(p, named))),
        ConditionExpr::Or(parts) => union(parts.iter().map(|p| condition_witness(p, named))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let mut names: Vec<&String> = named
                .keys()
                .filter(|name| match pattern {
                    SelectorPattern::Them => !name.starts_with('_'),
                    SelectorPattern::Pattern(p) => rsigma_parser::detection_name_matches(p, name),
                })
                .collect();
            names.sort();
            if names.is_empty() {
                return None;
            }
            let parts = names.into_iter().map(|n| detection_witness(&named[n]));
            match quantifier {
                Quantifier::All => best(parts),
                Quantifier::Any | Quantifier::Count(1..) => union(parts),
                Quantifier::Count(0) => None,
            }
        }
    }
}

fn detection_witness(detection: &Detection) -> Option<Vec<Needle>> {
    match detection {
        Detection::AllOf(items) => best(items.iter().map(item_witness)),
        Detection::AnyOf(parts) => union(parts.iter().map(detection_witness)),
        Detection::And(parts) => best(parts.iter().map(detection_witness)),
        Detection::Keywords(_) | Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            None
        }
    }
}

fn item_witness(item: &DetectionItem) -> Option<Vec<Needle>> {
    let field = item.field.name.as_deref()?;
    if !is_text_field(field) {
        return None;
    }
    let plain = item.field.modifiers.iter().all(|m| {
        matches!(
            m,
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::All
        )
    });
    if !plain || item.values.is_empty() {
        return None;
    }
    let needles = item.values.iter().map(|v| value_needle(field, v));
    if item.field.has_modifier(Modifier::All) {
        best(needles.map(|n| n.map(|n| vec![n])))
    } else {
        needles.collect::<Option<Vec<_>>>()
    }
}

fn value_needle(field: &str, value: &SigmaValue) -> Option<Needle> {
    let SigmaValue::String(s) = value else {
        return None;
    };
    let wild = s.parts.iter().any(|p| matches!(p, StringPart::Special(_)));
    let longest = s
        .parts
        .iter()
        .filter_map(|p| match p {
            StringPart::Plain(text) => Some(text.as_str()),
            StringPart::Special(_) => None,
        })
        .max_by_key(|t| t.len())?;
    let text = longest.to_lowercase();
    (!text.is_empty() && text.is_ascii()).then(|| Needle {
        field: field.to_owned(),
        text,
        wild,
    })
}

/// AND: any one part's witness holds; pick the most selective (longest shortest needle).
fn best(parts: impl Iterator<Item = Option<Vec<Needle>>>) -> Option<Vec<Needle>> {
    parts
        .flatten()
        .filter(|w| !w.is_empty())
        .max_by_key(|w| w.iter().map(|n| n.text.len()).min().unwrap_or(0))
}

/// OR: every part must have a witness; the union holds.
fn union(parts: impl Iterator<Item = Option<Vec<Needle>>>) -> Option<Vec<Needle>> {
    let mut all = Vec::new();
    for part in parts {
        all.extend(part?);
    }
    (!all.is_empty()).then_some(all)
}

/// One field's automaton.
#[derive(Debug)]
struct FieldIndex {
    field: String,
    automaton: AhoCorasick,
    /// Pattern id → rules (global indices) that own the needle.
    owners: Vec<Vec<u32>>,
    /// Rules with a wildcard-derived needle on this field.
    wild: Vec<u32>,
}

/// Candidate rules for one (host, category) route.
#[derive(Debug, Default)]
pub struct Prefilter {
    /// Rules without a witness: always evaluated.
    always: Vec<u32>,
    fields: Vec<FieldIndex>,
    /// Every rule on this route (plain evaluation).
    all: Vec<u32>,
}

/// Reusable per-evaluator scratch: marks for deduplication, a lower-casing buffer.
#[derive(Debug, Default)]
pub struct Scratch {
    marks: Vec<u32>,
    epoch: u32,
}

impl Prefilter {
    /// Builds the index over `(global index, witness)` of the rules on this route.
    ///
    /// # Panics
    /// Never in practice: the automaton is built from at most a few hundred thousand short
    /// literals (the builder only fails past its size limits).
    #[must_use]
    pub fn build(rules: &[(u32, Option<&[Needle]>)]) -> Self {
        let mut always = Vec::new();
        let mut by_field: Vec<(String, Vec<(String, u32)>, Vec<u32>)> = Vec::new();
        for &(rule, witness) in rules {
            let Some(needles) = witness else {
                always.push(rule);
                continue;
            };
            for needle in needles {
                let slot = match by_field.iter().position(|(f, _, _)| *f == needle.field) {
                    Some(i) => i,
                    None => {
                        by_field.push((needle.field.clone(), Vec::new(), Vec::new()));
                        by_field.len() - 1
                    }
                };
                by_field[slot].1.push((needle.text.clone(), rule));
                if needle.wild {
                    by_field[slot].2.push(rule);
                }
            }
        }
        let fields = by_field
            .into_iter()
            .filter_map(|(field, mut needles, mut wild)| {
                needles.sort();
                needles.dedup();
                wild.sort_unstable();
                wild.dedup();
                let mut patterns: Vec<String> = Vec::new();
                let mut owners: Vec<Vec<u32>> = Vec::new();
                for (text, rule) in needles {
                    if patterns.last() != Some(&text) {
                        patterns.push(text);
                        owners.push(Vec::new());
                    }
                    if let Some(last) = owners.last_mut() {
                        last.push(rule);
                    }
                }
                let automaton = AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .ok()?;
                Some(FieldIndex {
                    field,
                    automaton,
                    owners,
                    wild,
                })
            })
            .collect();
        let mut all: Vec<u32> = rules.iter().map(|(r, _)| *r).collect();
        all.sort_unstable();
        Self {
            always,
            fields,
            all,
        }
    }

    /// Every rule on this route, ascending.
    #[must_use]
    pub fn all(&self) -> &[u32] {
        &self.all
    }

    /// Candidate rules for `event` (ascending global indices) into `out`.
    pub fn candidates(
        &self,
        event: &SigmaEvent<'_>,
        rule_count: usize,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        if scratch.marks.len() < rule_count {
            scratch.marks.resize(rule_count, 0);
        }
        scratch.epoch = scratch.epoch.wrapping_add(1);
        if scratch.epoch == 0 {
            scratch.marks.fill(0);
            scratch.epoch = 1;
        }
        let epoch = scratch.epoch;
        let marks = &mut scratch.marks;
        let mut mark = |rule: u32, out: &mut Vec<u32>| {
            let slot = &mut marks[rule as usize];
            if *slot != epoch {
                *slot = epoch;
                out.push(rule);
            }
        };
        for &rule in &self.always {
            mark(rule, out);
        }
        for index in &self.fields {
            let Some(text) = event.text(&index.field) else {
                continue;
            };
            if text.is_ascii() {
                for hit in index.automaton.find_overlapping_iter(text) {
                    for &rule in &index.owners[hit.pattern().as_usize()] {
                        mark(rule, out);
                    }
                }
            } else {
                let lower = text.to_lowercase();
                for hit in index.automaton.find_overlapping_iter(&lower) {
                    for &rule in &index.owners[hit.pattern().as_usize()] {
                        mark(rule, out);
                    }
                }
                for &rule in &index.wild {
                    mark(rule, out);
                }
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> SigmaRule {
        rsigma_parser::parse_sigma_yaml(yaml)
            .unwrap()
            .rules
            .remove(0)
    }

    #[test]
    fn and_picks_one_part_or_needs_all() {
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|endswith: ['.exe', '.dll']\n  b:\n    Image|contains: '\\winword.exe'\n  condition: a and b\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(w.len(), 1, "the longer needle wins: {w:?}");
        assert_eq!(w[0].field, "Image");
        assert_eq!(w[0].text, "\\winword.exe");

        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|endswith: ['.exe', '.dll']\n  b:\n    Image|contains: 'word'\n  condition: a or b\n",
        );
        assert_eq!(witness(&r).unwrap().len(), 3);
    }

    #[test]
    fn negation_regex_and_wildcards() {
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|endswith: '.exe'\n  condition: not a\n",
        );
        assert_eq!(witness(&r), None);
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: 'x.*'\n  condition: a\n",
        );
        assert_eq!(witness(&r), None);
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename: 'C:\\Users\\\\*\\AppData\\Roaming\\\\*'\n  condition: a\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(w[0].text, "\\appdata\\roaming\\");
        assert!(w[0].wild);
    }
}
