//! The optimisation: one Aho-Corasick automaton per field over every rule's literal needles,
//! so only rules that can possibly match are fully evaluated.
//!
//! For each rule we derive a *witness*: a set of (field, needle) pairs such that whenever the
//! rule matches an event, at least one needle occurs (case-insensitively) in its field.
//! Needles come from `contains`/`startswith`/`endswith`/exact values (the longest literal
//! between wildcards) and from the literal prefixes or suffixes of `|re` patterns. A rule
//! without a sound witness (negation as the only requirement, numbers, keywords, cased or
//! encoded values, field references…) is evaluated for every event. The index only ever over-approximates the
//! matching set, which the equal-matches test checks against plain evaluation.
//!
//! Case folding follows the engine exactly. Plain Sigma values compare
//! `haystack.to_lowercase()`; values with wildcards become case-insensitive regexes, which use
//! Unicode simple case folding. Needles are kept only when their lower-case form is ASCII. An
//! ASCII haystack is searched with an ASCII-case-insensitive automaton (identical to both). A
//! non-ASCII haystack is *folded* once — lower-cased, then the two non-ASCII characters whose
//! simple case folding is an ASCII letter but whose lower case is not (`ſ` → `s`; the Kelvin
//! sign already lower-cases to `k`) are mapped — and searched: every match of either kind
//! still contains its needle there (a test checks the character list against the regex
//! engine). `|re` needles are extracted in ASCII mode, so on a non-ASCII haystack their rules
//! are taken as candidates outright.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaValue, StringPart,
};

use crate::event::{is_text_field, SigmaEvent, CANARY_FIELD};

/// A literal that must occur in a field for a rule to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needle {
    /// Sysmon field name.
    pub field: String,
    /// Lower-case ASCII text.
    pub text: String,
    /// Came from a `|re` pattern: sound on ASCII haystacks only (see module docs).
    pub regex: bool,
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
    // `IsCanary: true` holds only for canary events: a witness of its own.
    if field == CANARY_FIELD
        && item.field.modifiers.is_empty()
        && matches!(item.values.as_slice(), [SigmaValue::Bool(true)])
    {
        return Some(vec![Needle {
            field: CANARY_FIELD.to_owned(),
            text: String::new(),
            regex: false,
        }]);
    }
    if !is_text_field(field) {
        return None;
    }
    if item.field.has_modifier(Modifier::Re) {
        return regex_witness(field, item);
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

/// `|re`: literals every match must start (or end) with, extracted by `regex-syntax`.
///
/// The pattern is analysed in ASCII mode (ASCII case folding and classes): on an ASCII
/// haystack that is exactly what the engine's Unicode regex does, so the literals are sound
/// there; on a non-ASCII haystack the rule is taken as a candidate outright.
fn regex_witness(field: &str, item: &DetectionItem) -> Option<Vec<Needle>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};

    let only_flags = item.field.modifiers.iter().all(|m| {
        matches!(
            m,
            Modifier::Re | Modifier::IgnoreCase | Modifier::Multiline | Modifier::DotAll
        )
    });
    if !only_flags || item.values.is_empty() {
        return None;
    }
    let mut all = Vec::new();
    for value in &item.values {
        let SigmaValue::String(pattern) = value else {
            return None;
        };
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .case_insensitive(item.field.has_modifier(Modifier::IgnoreCase))
            .multi_line(item.field.has_modifier(Modifier::Multiline))
            .dot_matches_new_line(item.field.has_modifier(Modifier::DotAll))
            .build()
            .parse(&pattern.original)
            .ok()?;
        let candidates = [ExtractKind::Prefix, ExtractKind::Suffix].map(|kind| {
            let seq = Extractor::new().kind(kind).extract(&hir);
            let literals = seq.literals()?;
            let mut texts: Vec<String> = literals
                .iter()
                .map(|l| {
                    let bytes = l.as_bytes();
                    (!bytes.is_empty() && bytes.is_ascii())
                        .then(|| String::from_utf8_lossy(bytes).to_ascii_lowercase())
                })
                .collect::<Option<_>>()?;
            texts.sort();
            texts.dedup();
            (!texts.is_empty() && texts.len() <= 64).then_some(texts)
        });
        let texts = candidates
            .into_iter()
            .flatten()
            .max_by_key(|t| t.iter().map(String::len).min().unwrap_or(0))?;
        all.extend(texts.into_iter().map(|text| Needle {
            field: field.to_owned(),
            text,
            regex: true,
        }));
    }
    Some(all)
}

fn value_needle(field: &str, value: &SigmaValue) -> Option<Needle> {
    let SigmaValue::String(s) = value else {
        return None;
    };
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
        regex: false,
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

/// While building: a field, its (needle, rule) pairs, and its rules with `|re` needles.
type FieldNeedles = (String, Vec<(String, u32)>, Vec<u32>);

/// One field's automaton.
#[derive(Debug)]
struct FieldIndex {
    field: String,
    automaton: AhoCorasick,
    /// Pattern id → rules (global indices) that own the needle.
    owners: Vec<Vec<u32>>,
    /// Rules with a `|re` needle on this field.
    regex: Vec<u32>,
}

/// Candidate rules for one (host, category) route.
#[derive(Debug, Default)]
pub struct Prefilter {
    /// Rules without a witness: always evaluated.
    always: Vec<u32>,
    /// Rules whose witness includes `IsCanary: true`: candidates for canary events.
    canary: Vec<u32>,
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
        let mut canary = Vec::new();
        let mut by_field: Vec<FieldNeedles> = Vec::new();
        for &(rule, witness) in rules {
            let Some(needles) = witness else {
                always.push(rule);
                continue;
            };
            for needle in needles {
                if needle.field == CANARY_FIELD {
                    canary.push(rule);
                    continue;
                }
                let slot = match by_field.iter().position(|(f, _, _)| *f == needle.field) {
                    Some(i) => i,
                    None => {
                        by_field.push((needle.field.clone(), Vec::new(), Vec::new()));
                        by_field.len() - 1
                    }
                };
                by_field[slot].1.push((needle.text.clone(), rule));
                if needle.regex {
                    by_field[slot].2.push(rule);
                }
            }
        }
        let fields = by_field
            .into_iter()
            .filter_map(|(field, mut needles, mut regex)| {
                needles.sort();
                needles.dedup();
                regex.sort_unstable();
                regex.dedup();
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
                // A DFA: more memory (a few MiB at most for thousands of needles), fastest scan.
                let automaton = AhoCorasickBuilder::new()
                    .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .ok()?;
                Some(FieldIndex {
                    field,
                    automaton,
                    owners,
                    regex,
                })
            })
            .collect();
        let mut all: Vec<u32> = rules.iter().map(|(r, _)| *r).collect();
        all.sort_unstable();
        canary.dedup();
        Self {
            always,
            canary,
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
        if event.canary() {
            for &rule in &self.canary {
                mark(rule, out);
            }
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
                let folded = fold(text);
                for hit in index.automaton.find_overlapping_iter(&folded) {
                    for &rule in &index.owners[hit.pattern().as_usize()] {
                        mark(rule, out);
                    }
                }
                for &rule in &index.regex {
                    mark(rule, out);
                }
            }
        }
        out.sort_unstable();
    }
}

/// Non-ASCII characters that simple case folding maps to an ASCII letter while `to_lowercase`
/// does not (checked against the regex engine in the tests).
const FOLD_TO_ASCII: &[(char, char)] = &[('\u{17F}', 's')];

/// Lower case plus [`FOLD_TO_ASCII`]: a haystack form containing every needle that either
/// comparison of the engine can match.
fn fold(text: &str) -> String {
    let mut out = text.to_lowercase();
    for &(from, to) in FOLD_TO_ASCII {
        if out.contains(from) {
            out = out.replace(from, &to.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_covers_every_char_case_folding_to_ascii() {
        // Every non-ASCII char a case-insensitive regex matches with an ASCII letter must
        // fold to that letter (the Kelvin sign lower-cases to `k` already).
        let letters = regex_syntax::ParserBuilder::new()
            .case_insensitive(true)
            .build()
            .parse("[a-z]")
            .unwrap();
        let regex_syntax::hir::HirKind::Class(regex_syntax::hir::Class::Unicode(class)) =
            letters.kind()
        else {
            panic!("expected a Unicode class");
        };
        for range in class.ranges() {
            for c in range.start()..=range.end() {
                if c.is_ascii() {
                    continue;
                }
                let folded = fold(&c.to_string());
                assert!(
                    folded.len() == 1 && folded.is_ascii(),
                    "{c:?} (U+{:04X}) matches an ASCII letter case-insensitively but folds to {folded:?}",
                    u32::from(c)
                );
            }
        }
    }

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
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: '.*x'\n  condition: a\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(
            (w[0].text.as_str(), w[0].regex),
            ("x", true),
            "suffix literal"
        );
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: '(?i)\\\\Temp\\\\[a-z]+\\.exe'\n  condition: a\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(
            w[0].text, "\\temp\\",
            "case variants fold to one needle: {w:?}"
        );
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: '.*'\n  condition: a\n",
        );
        assert_eq!(witness(&r), None, "no literal, no witness");
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename: 'C:\\Users\\\\*\\AppData\\Roaming\\\\*'\n  condition: a\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(w[0].text, "\\appdata\\roaming\\");
        assert!(!w[0].regex);
    }
}
