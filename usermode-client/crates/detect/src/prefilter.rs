//! The optimisation: per field, a few Aho-Corasick automata over every rule's literal
//! needles, so only rules that can possibly match are fully evaluated.
//!
//! For each rule we derive a *witness*: a set of clauses, each a conjunction of groups, each
//! group a disjunction of (field, needle) pairs, such that whenever the rule matches an
//! event, at least one clause has a needle of every group present (case-insensitively) in
//! its field. Needles come from `contains` / `startswith` / `endswith` / exact values (a
//! literal between wildcards) and from the literal prefixes and suffixes of `|re` patterns;
//! a `|fieldref` is a needle of its own, a [`Relation`] of two fields checked on their folded
//! values. A rule without a sound witness (negation as the only requirement, numbers,
//! keywords, encoded values…) is evaluated for every event of its route, and
//! `picket rules check` names it. The index only ever over-approximates the matching set,
//! which the equal-matches test checks against plain evaluation.
//!
//! Choosing: of an AND, the part whose witness is estimated rarest ([`estimate`], a static
//! guess from the needle's text, not measured on any event stream), joined by the next parts
//! when each is a plain list ("`Image` ends with one of these *and* `TargetFilename` ends
//! with one of those" is one clause of two groups); otherwise, when the rarest part is common
//! (a bare `\AppData\` or `.exe`), the cross product of the two rarest parts. The needles of
//! a clause's first (rarest) group trigger the check of the others, which only need one of
//! their needles seen in this event.
//!
//! Finding needles: where the value allows it a needle is anchored ([`Anchor`]): a suffix
//! (`endswith`, the tail of an exact value) is found by walking a trie of reversed needles
//! from the value's end, a prefix from its start; both stop after a few bytes on most
//! values (a compact trie each). Only the rest (`contains`, inner literals, `|re` literals)
//! goes into the automaton that reads the whole value, a DFA walked byte by byte without a
//! prefilter (with hundreds of path needles, nearly every byte of a path starts a
//! candidate). A path's walk stops after its directory, and the next path in that directory
//! (or under it) resumes from the state there: a file burst walks only its names. The
//! routes of a host index their path fields together when the union stays small (see
//! [`Prefilter::build_host`]): a file's creation, writes, rename and deletion take four
//! routes, and one scan of its path serves them all. The process's own fields (`Image`,
//! `CommandLine`, `User`) are read once per process and route, and their needles replayed
//! from a per-evaluator cache.
//!
//! Case folding follows the engine exactly. Plain Sigma values compare
//! `haystack.to_lowercase()` with the lower-cased value; values with wildcards become
//! case-insensitive regexes, which use Unicode simple case folding. Needles and non-ASCII
//! haystacks are both mapped through [`fold`] — per character, lower case, then upper case,
//! then lower case — a per-character map under which the two sides of either comparison
//! agree: it preserves substrings of the lower-cased text, and gives every member of a simple
//! case-folding orbit the same image (a test checks the latter for every Unicode scalar value
//! against the regex engine's own tables). An ASCII haystack is searched as is with an
//! ASCII-case-insensitive automaton (a non-ASCII needle's image has a non-ASCII character,
//! which no ASCII text matches).
//!
//! `|re` needles are extracted in ASCII mode (ASCII case folding, ASCII classes) and kept
//! only when every literal is ASCII. They are sound on the folded haystack too: an element
//! of the pattern that yields a literal is an ASCII character or a class of at most four
//! ASCII characters; under the engine's Unicode semantics it matches the same characters,
//! plus, when case-insensitive, the other members of their simple case-folding orbits (`K`
//! for `k`, `ſ` for `s`), which [`fold`] maps to the same image as the ASCII member. Since
//! [`fold`] works character by character, the folded haystack of a match contains the
//! (ASCII lower-cased) literal.

use std::sync::Arc;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{dfa::DFA, Anchored, MatchKind, StartKind};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaValue, StringPart,
};

use picket_model::{Field, Operation};

use crate::event::{is_text_field, SigmaEvent, CANARY_FIELD};

/// A literal that must occur in a field for a rule to match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needle {
    /// Sysmon field name.
    pub field: String,
    /// The literal, mapped through [`fold`].
    pub text: String,
    /// Came from a `|re` pattern (extracted in ASCII mode, see module docs).
    pub regex: bool,
    /// Where in the field the literal must stand.
    pub anchor: Anchor,
    /// Not a literal but a comparison with another field (`|fieldref`): `text` is that
    /// field's name, and the needle is present when the two values, folded, stand in this
    /// relation.
    pub relation: Option<Relation>,
}

impl Needle {
    fn literal(field: &str, text: String, regex: bool) -> Self {
        Self {
            field: field.to_owned(),
            text,
            regex,
            anchor: Anchor::Anywhere,
            relation: None,
        }
    }

    fn estimate(&self) -> f64 {
        match self.relation {
            None => estimate(&self.field, &self.text),
            // A static guess, like [`estimate`]: two fields rarely hold the same path.
            Some(Relation::Equals) => 1e-3,
            Some(_) => 1e-2,
        }
    }
}

/// Where a literal needle must stand in its field's folded value. Anchored needles are
/// checked by walking a trie from the value's start or end, a few bytes on most events,
/// instead of scanning the whole value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anchor {
    /// Anywhere (`contains`, a literal between wildcards, `|re` literals).
    Anywhere,
    /// A prefix (`startswith`, the head of an exact value with wildcards).
    Start,
    /// A suffix (`endswith`, the tail of an exact value with wildcards).
    End,
    /// The whole value (an exact value without wildcards).
    Whole,
}

/// How a `|fieldref` compares its field with the referenced one (under the engine's case
/// rule: lower-cased, or exact with `|cased`; either way the [`fold`] images compare alike,
/// so the relation on folded values is a sound witness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    /// Plain `|fieldref`: equal.
    Equals,
    /// `|fieldref|startswith`.
    StartsWith,
    /// `|fieldref|endswith`.
    EndsWith,
    /// `|fieldref|contains`.
    Contains,
}

impl Relation {
    /// Do `value` and `reference`, folded, stand in this relation? Allocation-free when both
    /// are ASCII (except for `Contains`); `fa` and `fb` are folding buffers.
    fn holds(self, value: &str, reference: &str, fa: &mut String, fb: &mut String) -> bool {
        if value.is_ascii() && reference.is_ascii() {
            let (a, b) = (value.as_bytes(), reference.as_bytes());
            let tail = a.len().checked_sub(b.len()).map(|at| &a[at..]);
            match self {
                Self::Equals => return a.eq_ignore_ascii_case(b),
                Self::StartsWith => {
                    return a.get(..b.len()).is_some_and(|h| h.eq_ignore_ascii_case(b))
                }
                Self::EndsWith => return tail.is_some_and(|t| t.eq_ignore_ascii_case(b)),
                Self::Contains => {}
            }
        }
        fold_into(value, fa);
        fold_into(reference, fb);
        match self {
            Self::Equals => fa == fb,
            Self::StartsWith => fa.starts_with(fb.as_str()),
            Self::EndsWith => fa.ends_with(fb.as_str()),
            Self::Contains => fa.contains(fb.as_str()),
        }
    }
}

/// A route's rules for the index: `(global index, witness)` of each (`None`: always a
/// candidate).
pub type RouteRules<'a> = [(u32, Option<&'a [Clause]>)];

/// Needles of which at least one must occur.
pub type Group = Vec<Needle>;

/// Groups that must all be satisfied (a clause of a witness): a conjunction of
/// disjunctions, so `Image` ending with one of six Office images *and* `TargetFilename`
/// ending with one of sixteen extensions is one clause of two groups, not 96 clauses.
pub type Clause = Vec<Group>;

/// At most this many clauses from a cross product (beyond that, the single part is used).
const MAX_PRODUCT: usize = 64;
/// A clause keeps at most this many groups (dropping one from a conjunction stays sound).
const MAX_CLAUSE: usize = 3;
/// A group other than a clause's first (the one whose needles trigger the check) has at
/// most this many needles: each is indexed.
const MAX_CHECKED_GROUP: usize = 64;
/// A part estimated to occur in more than this share of events is "common": it is crossed
/// with the next rarest part when that helps.
const COMMON: f64 = 0.01;
/// A part estimated to occur in at least this share of events filters too little to be
/// worth a group of a clause.
const USELESS: f64 = 0.5;

/// The witness of a rule: `None` when it has none (always a candidate).
#[must_use]
pub fn witness(rule: &SigmaRule) -> Option<Vec<Clause>> {
    let detections = &rule.detection;
    let mut all = Vec::new();
    for condition in &detections.conditions {
        all.extend(condition_witness(condition, &detections.named)?);
    }
    (!all.is_empty()).then_some(all)
}

type Named = std::collections::HashMap<String, Detection>;
type Witness = Option<Vec<Clause>>;

fn condition_witness(expr: &ConditionExpr, named: &Named) -> Witness {
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

fn detection_witness(detection: &Detection) -> Witness {
    match detection {
        Detection::AllOf(items) => best(items.iter().map(item_witness)),
        Detection::AnyOf(parts) => union(parts.iter().map(detection_witness)),
        Detection::And(parts) => best(parts.iter().map(detection_witness)),
        Detection::Keywords(_) | Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            None
        }
    }
}

fn single(needles: impl IntoIterator<Item = Needle>) -> Vec<Clause> {
    needles.into_iter().map(|n| vec![vec![n]]).collect()
}

fn item_witness(item: &DetectionItem) -> Witness {
    let field = item.field.name.as_deref()?;
    // `IsCanary: true` holds only for canary events: a witness of its own.
    if field == CANARY_FIELD
        && item.field.modifiers.is_empty()
        && matches!(item.values.as_slice(), [SigmaValue::Bool(true)])
    {
        return Some(single([Needle::literal(
            CANARY_FIELD,
            String::new(),
            false,
        )]));
    }
    if !is_text_field(field) {
        return None;
    }
    if item.field.has_modifier(Modifier::FieldRef) {
        return fieldref_witness(field, item);
    }
    if item.field.has_modifier(Modifier::Re) {
        return regex_witness(field, item);
    }
    // `|cased` compares exactly: a value found as is is found folded too.
    let plain = item.field.modifiers.iter().all(|m| {
        matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Cased
        )
    });
    if !plain || item.values.is_empty() {
        return None;
    }
    let ops = [Modifier::Contains, Modifier::StartsWith, Modifier::EndsWith]
        .map(|m| item.field.has_modifier(m));
    let op = match ops {
        [false, false, false] => Some(Op::Exact),
        [true, false, false] => Some(Op::Contains),
        [false, true, false] => Some(Op::StartsWith),
        [false, false, true] => Some(Op::EndsWith),
        // Two string operators: left unanchored.
        _ => None,
    };
    let needles = item.values.iter().map(|v| value_needle(field, v, op));
    if item.field.has_modifier(Modifier::All) {
        best(needles.map(|n| n.map(|n| single([n]))))
    } else {
        needles.collect::<Option<Vec<_>>>().map(single)
    }
}

/// `|re`: literals every match must start with, and literals every match must end with,
/// extracted by `regex-syntax`: one of each occurs in a matching value, so a value's clause
/// has a group of each (or the one that exists).
///
/// The pattern is analysed in ASCII mode (ASCII case folding and classes): on an ASCII
/// haystack that is exactly what the engine's Unicode regex does; on a non-ASCII haystack
/// the literals are searched in its [`fold`] image (see module docs for why that is sound).
fn regex_witness(field: &str, item: &DetectionItem) -> Witness {
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
            // Classes of up to 4 (case variants) are expanded; `\d` and wider end the
            // literal, so it stays long instead of being trimmed to a few common bytes.
            let seq = Extractor::new().kind(kind).limit_class(4).extract(&hir);
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
        let mut groups: Vec<Group> = candidates
            .into_iter()
            .flatten()
            .map(|texts| {
                texts
                    .into_iter()
                    .map(|text| Needle::literal(field, text, true))
                    .collect()
            })
            .collect();
        groups.sort_by(|a, b| group_estimate(a).total_cmp(&group_estimate(b)));
        groups.dedup();
        if groups.is_empty() {
            return None;
        }
        all.push(prune(groups));
    }
    Some(all)
}

/// `|fieldref`: a comparison of two text fields, one [`Relation`] needle per referenced
/// field (any of them, or all with `|all`). A missing field never matches in the engine, nor
/// here.
fn fieldref_witness(field: &str, item: &DetectionItem) -> Witness {
    let mut relation = Relation::Equals;
    for m in &item.field.modifiers {
        relation = match (m, relation) {
            (Modifier::FieldRef | Modifier::Cased | Modifier::All, r) => r,
            (Modifier::Contains, Relation::Equals) => Relation::Contains,
            (Modifier::StartsWith, Relation::Equals) => Relation::StartsWith,
            (Modifier::EndsWith, Relation::Equals) => Relation::EndsWith,
            // Anything else (or two string operators) is left to plain evaluation.
            _ => return None,
        };
    }
    if item.values.is_empty() {
        return None;
    }
    let needles = item.values.iter().map(|v| {
        let SigmaValue::String(s) = v else {
            return None;
        };
        let other = s.as_plain()?;
        is_text_field(&other).then(|| Needle {
            field: field.to_owned(),
            text: other,
            regex: false,
            anchor: Anchor::Anywhere,
            relation: Some(relation),
        })
    });
    if item.field.has_modifier(Modifier::All) {
        best(needles.map(|n| n.map(|n| single([n]))))
    } else {
        needles.collect::<Option<Vec<_>>>().map(single)
    }
}

/// The string operator of a plain (non-`|re`) item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

/// The needle of one value under `op` (`None`: unknown, left unanchored).
///
/// A value without wildcards is compared as a whole (lower-cased, which [`fold`] sees
/// through), so its needle is anchored as the operator says. A value with wildcards becomes
/// a regex; only the exact form's `^…$` is relied on (so the head or tail literal is
/// anchored), never the anchoring the engine gives the other operators.
fn value_needle(field: &str, value: &SigmaValue, op: Option<Op>) -> Option<Needle> {
    let SigmaValue::String(s) = value else {
        return None;
    };
    if s.is_plain() {
        let text = fold(&s.as_plain()?);
        if text.is_empty() {
            return None;
        }
        let anchor = match op {
            Some(Op::Exact) => Anchor::Whole,
            Some(Op::StartsWith) => Anchor::Start,
            Some(Op::EndsWith) => Anchor::End,
            Some(Op::Contains) | None => Anchor::Anywhere,
        };
        return Some(Needle {
            anchor,
            ..Needle::literal(field, text, false)
        });
    }
    let last = s.parts.len().saturating_sub(1);
    s.parts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            StringPart::Plain(text) if !text.is_empty() => Some((i, fold(text))),
            StringPart::Plain(_) | StringPart::Special(_) => None,
        })
        .min_by(|(_, a), (_, b)| estimate(field, a).total_cmp(&estimate(field, b)))
        .map(|(i, text)| {
            let anchor = match op {
                Some(Op::Exact) if i == 0 => Anchor::Start,
                Some(Op::Exact) if i == last => Anchor::End,
                _ => Anchor::Anywhere,
            };
            Needle {
                anchor,
                ..Needle::literal(field, text, false)
            }
        })
}

/// The engine-agnostic case key of a text (see module docs): per character, lower case, then
/// upper case, then lower case. ASCII maps to ASCII lower case.
#[must_use]
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    fold_into(text, &mut out);
    out
}

fn fold_into(text: &str, out: &mut String) {
    out.clear();
    let table = bmp_folds();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        let folded = table
            .get(c as usize)
            .and_then(|&f| char::from_u32(u32::from(f)))
            .filter(|&f| f != '\0');
        match folded {
            Some(f) => out.push(f),
            None => fold_char_into(c, out),
        }
    }
}

/// [`fold`] of one character, from the Unicode tables (three lookups).
fn fold_char_into(c: char, out: &mut String) {
    for lower in c.to_lowercase() {
        for upper in lower.to_uppercase() {
            out.extend(upper.to_lowercase());
        }
    }
}

/// [`fold_char_into`] of every Basic Multilingual Plane character whose image is one BMP
/// character (0 for the others, which take the slow path): the three table lookups per
/// character were the largest cost of scanning a non-ASCII path. 128 KiB, built once.
fn bmp_folds() -> &'static [u16] {
    static TABLE: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut one = String::new();
        (0..=u32::from(u16::MAX))
            .map(|code| {
                let Some(c) = char::from_u32(code) else {
                    return 0;
                };
                one.clear();
                fold_char_into(c, &mut one);
                let mut chars = one.chars();
                match (chars.next(), chars.next()) {
                    (Some(f), None) => u16::try_from(u32::from(f)).unwrap_or(0),
                    _ => 0,
                }
            })
            .collect()
    })
}

/// Path fragments so common on Windows and Linux file events that a needle made only of
/// them says little, with a rough share of events containing each (a static guess from
/// what file systems look like, deliberately not measured on the benchmark's events).
///
/// The images that write most files on any Windows machine come first (a fragment inside
/// one already counted is not counted again).
const COMMON_FRAGMENTS: &[(&str, f64)] = &[
    ("\\svchost.exe", 0.25),
    ("\\chrome.exe", 0.15),
    ("\\msedge.exe", 0.1),
    ("\\msmpeng.exe", 0.1),
    ("\\firefox.exe", 0.05),
    ("\\explorer.exe", 0.05),
    ("\\onedrive.exe", 0.05),
    ("\\searchindexer.exe", 0.03),
    ("\\outlook.exe", 0.03),
    ("\\system32\\", 0.2),
    ("c:\\", 0.95),
    ("\\users\\", 0.7),
    ("\\appdata\\", 0.6),
    ("\\local\\", 0.5),
    ("\\windows\\", 0.45),
    ("\\microsoft\\", 0.4),
    ("\\program files", 0.3),
    ("\\temp\\", 0.2),
    ("\\roaming\\", 0.15),
    ("\\programdata\\", 0.15),
    ("\\cache", 0.3),
    (".exe", 0.1),
    (".dll", 0.05),
    (".tmp", 0.05),
    (".log", 0.05),
    ("/home/", 0.3),
    ("/usr/", 0.3),
    ("/tmp/", 0.2),
    ("/etc/", 0.1),
    ("/var/", 0.2),
];

/// A guess at the share of file events of each operation (opens dominate a Windows file
/// stream; hard links are rare), like the path fragments' shares: it orders needles, and a
/// needle held by most operations' names (`e`) is too common to be a group of a clause.
/// Every operation is a common needle.
const OPERATION_SHARES: [(Operation, f64); 9] = [
    (Operation::Open, 0.45),
    (Operation::Create, 0.12),
    (Operation::FirstWrite, 0.12),
    (Operation::CloseModified, 0.12),
    (Operation::Delete, 0.08),
    (Operation::Rename, 0.04),
    (Operation::SetAttributes, 0.04),
    (Operation::Truncate, 0.02),
    (Operation::HardLink, 0.01),
];

/// Static estimate of the share of events whose `field` contains `text` (folded): the
/// product of the shares of the common fragments it contains, times a quarter for each
/// other character. Only the order matters: it picks witnesses.
///
/// Two fields are not paths and are not guessed from their text's length: `Operation` has
/// nine values, each common ([`OPERATION_SHARES`], summed over the names holding `text`),
/// and `FileExtension` is a whole extension, as common as its dotted fragment when that
/// is a known one.
#[must_use]
pub fn estimate(field: &str, text: &str) -> f64 {
    if field == CANARY_FIELD {
        return 1e-4;
    }
    if field == "Operation" {
        return operation_estimate(text);
    }
    if field == "FileExtension" {
        let dotted = format!(".{text}");
        if let Some(&(_, share)) = COMMON_FRAGMENTS.iter().find(|(f, _)| *f == dotted) {
            return share;
        }
    }
    if field == "Image" && text == ".exe" {
        return 0.95;
    }
    // A needle inside a common fragment is at least as common as the fragment.
    if let Some(&(_, share)) = COMMON_FRAGMENTS
        .iter()
        .filter(|(f, _)| f.contains(text))
        .max_by(|a, b| a.1.total_cmp(&b.1))
    {
        return share.max(0.5_f64.powi(i32::try_from(text.len()).unwrap_or(i32::MAX)));
    }
    let mut covered = vec![false; text.len()];
    let mut share = 1.0;
    for &(fragment, fragment_share) in COMMON_FRAGMENTS {
        if let Some(at) = text.find(fragment) {
            if covered[at..at + fragment.len()].iter().all(|&c| c) {
                continue;
            }
            share *= fragment_share;
            covered[at..at + fragment.len()].fill(true);
        }
    }
    let others = text
        .char_indices()
        .filter(|&(i, c)| !covered[i] && c != '\\' && c != '/')
        .count();
    share * 0.25_f64.powi(i32::try_from(others).unwrap_or(i32::MAX))
}

/// The share of events whose operation's name contains `text`: a needle no name holds is
/// never found (the rule cannot match through it), the rarest of witnesses.
fn operation_estimate(text: &str) -> f64 {
    let share: f64 = OPERATION_SHARES
        .iter()
        .filter(|(op, _)| op.as_str().contains(text))
        .map(|&(_, share)| share)
        .sum();
    share.max(1e-6)
}

fn group_estimate(group: &Group) -> f64 {
    group.iter().map(Needle::estimate).sum::<f64>().min(1.0)
}

fn clause_estimate(clause: &Clause) -> f64 {
    clause.iter().map(group_estimate).product()
}

fn witness_estimate(clauses: &[Clause]) -> f64 {
    clauses.iter().map(clause_estimate).sum::<f64>().min(1.0)
}

/// A witness made of single groups (a plain "any of these needles"), as one group.
fn flat(witness: &[Clause]) -> Option<Group> {
    let mut group = Vec::new();
    for clause in witness {
        let [only] = clause.as_slice() else {
            return None;
        };
        group.extend(only.iter().cloned());
    }
    Some(group)
}

/// AND: any one part's witness holds, and so does the conjunction of any of them; pick by
/// [`estimate`].
///
/// When the rarest part is a plain "any of these needles", it is joined by the next parts
/// of that form (up to [`MAX_CLAUSE`] groups): one clause needing a needle of each, which
/// costs one check when its first group hits and is never less selective. Otherwise, when
/// the rarest part is common, the cross product of the two rarest.
fn best(parts: impl Iterator<Item = Witness>) -> Witness {
    let mut parts: Vec<(f64, Vec<Clause>)> = parts
        .flatten()
        .filter(|w| !w.is_empty())
        .map(|w| (witness_estimate(&w), w))
        .collect();
    parts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if let Some(mut groups) = parts.first().and_then(|(_, w)| flat(w)).map(|g| vec![g]) {
        for (cost, part) in &parts[1..] {
            if groups.len() == MAX_CLAUSE || *cost >= USELESS {
                break;
            }
            if let Some(group) = flat(part).filter(|g| g.len() <= MAX_CHECKED_GROUP) {
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        }
        if groups.len() > 1 {
            return Some(vec![groups]);
        }
    }
    let mut parts = parts.into_iter();
    let (first_cost, first) = parts.next()?;
    if first_cost <= COMMON {
        return Some(first);
    }
    let Some((_, second)) = parts.next() else {
        return Some(first);
    };
    if first.len() * second.len() > MAX_PRODUCT {
        return Some(first);
    }
    let product: Vec<Clause> = first
        .iter()
        .flat_map(|a| second.iter().map(move |b| conjunction(a, b)))
        .collect();
    // The product is never less selective than either part, but each of its clauses costs a
    // check: take it only where it helps clearly.
    if witness_estimate(&product) < first_cost / 2.0 {
        Some(product)
    } else {
        Some(first)
    }
}

/// Both clauses at once: their groups, rarest first, at most [`MAX_CLAUSE`].
fn conjunction(a: &Clause, b: &Clause) -> Clause {
    let mut groups: Vec<Group> = a.iter().chain(b).cloned().collect();
    groups.sort_by(|x, y| group_estimate(x).total_cmp(&group_estimate(y)));
    let mut unique: Vec<Group> = Vec::with_capacity(groups.len());
    for group in groups {
        if !unique.contains(&group) {
            unique.push(group);
        }
    }
    unique.truncate(MAX_CLAUSE);
    prune(unique)
}

/// Drops the groups after the first that filter too little ([`USELESS`]): a bare `\`
/// (the literal before a regex class) would be found, and reported, at every separator of
/// every path. Dropping a group of a conjunction stays sound.
fn prune(mut clause: Clause) -> Clause {
    let mut first = true;
    clause.retain(|group| std::mem::take(&mut first) || group_estimate(group) < USELESS);
    clause
}

/// OR: every part must have a witness; the union holds.
fn union(parts: impl Iterator<Item = Witness>) -> Witness {
    let mut all = Vec::new();
    for part in parts {
        all.extend(part?);
    }
    (!all.is_empty()).then_some(all)
}

/// Fields that belong to the process, not the event: the same for every event of a process,
/// so their hits are cached per process (see [`Scratch`]).
fn is_process_field(field: &str) -> bool {
    matches!(field, "Image" | "CommandLine" | "User")
}

/// Distinguishes prefilters for the process cache (a rebuilt set may reuse an address).
static NEXT_PREFILTER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Process-field cache slots per scratch (direct-mapped by a hash of the process address):
/// room for the few hundred processes that write files on a busy machine.
const PROCESS_SLOTS: usize = 512;

/// A process's slot in the cache.
fn process_slot(process: &std::sync::Arc<picket_model::ProcessInfo>) -> usize {
    // Fibonacci hashing: allocation addresses share their low and high bits.
    let address = std::sync::Arc::as_ptr(process) as usize as u64;
    let hash = address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    usize::try_from(hash).unwrap_or(0) % PROCESS_SLOTS
}

/// Routes (prefilters) whose hits one cached process keeps; the first one past it clears
/// the list.
const ROUTES_PER_PROCESS: usize = 16;

/// The automata over the needles of one field on one route, or of both path fields on
/// every route of a host (see [`Prefilter::build_host`]).
#[derive(Debug)]
struct FieldIndex {
    /// Unique per build, like a prefilter's: keys the last values scanned with it, which the
    /// routes sharing it share.
    id: u64,
    /// [`Anchor::Anywhere`] needles.
    anywhere: Option<Walker<DFA>>,
    /// [`Anchor::Start`] needles.
    prefix: Option<Walker<DFA>>,
    /// [`Anchor::End`] and [`Anchor::Whole`] needles, reversed.
    suffix: Option<Walker<DFA>>,
}

/// A field as one route reads it: the index its values are scanned with, and which of the
/// index's needles are this route's needles of this field.
#[derive(Debug)]
struct RouteField {
    /// `None`: a name the event model does not have (never present).
    field: Option<Field>,
    /// [`is_process_field`].
    process: bool,
    index: Arc<FieldIndex>,
    /// The index's needle id → this route's, or [`ELSEWHERE`] for a needle of another
    /// route or field.
    local: Vec<u32>,
}

/// In [`RouteField::local`]: not a needle of this route's field.
const ELSEWHERE: u32 = u32::MAX;

impl RouteField {
    /// Passes this route's needles among `found` (the index's) to `hit`.
    fn each_local(&self, found: &[u32], mut hit: impl FnMut(u32)) {
        for &id in found {
            match self.local.get(id as usize) {
                Some(&local) if local != ELSEWHERE => hit(local),
                _ => {}
            }
        }
    }
}

/// A literal needle's identity within a field index: its field, folded text and anchor.
type LiteralKey = (String, String, Anchor);

/// `needle`'s [`LiteralKey`]; `None` for a `|fieldref` relation (never indexed).
fn literal_key(needle: &Needle) -> Option<LiteralKey> {
    needle
        .relation
        .is_none()
        .then(|| (needle.field.clone(), needle.text.clone(), needle.anchor))
}

/// Whether `field` holds a path: the fields whose index the routes of a host share.
fn is_path_field(field: &str) -> bool {
    matches!(field, "TargetFilename" | "SourceFilename")
}

/// How a [`Walker`] reads a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Way {
    /// Unanchored, every position.
    Anywhere,
    /// Anchored at the start, until no needle can follow.
    Prefix,
    /// Anchored at the end, backwards, until no needle can follow.
    Suffix,
}

impl Way {
    fn holds(self, anchor: Anchor) -> bool {
        match self {
            Self::Anywhere => anchor == Anchor::Anywhere,
            Self::Prefix => anchor == Anchor::Start,
            Self::Suffix => matches!(anchor, Anchor::End | Anchor::Whole),
        }
    }
}

/// The automata built so far for one rule set, by way and patterns: routes (host and
/// category) often index a field with the same needles, and one automaton then serves them
/// all. Besides the memory, that keeps one copy of the tables in the cache when events of
/// several routes alternate (a create, a write, a rename, a delete).
#[derive(Debug, Default)]
pub struct Automata {
    dfas: std::collections::HashMap<(Way, Vec<Vec<u8>>), Arc<DFA>>,
}

impl Automata {
    fn dfa(
        &mut self,
        way: Way,
        patterns: &[Vec<u8>],
        make: impl FnOnce(&[Vec<u8>]) -> Option<DFA>,
    ) -> Option<Arc<DFA>> {
        let key = (way, patterns.to_vec());
        if let Some(dfa) = self.dfas.get(&key) {
            return Some(Arc::clone(dfa));
        }
        let dfa = Arc::new(make(patterns)?);
        self.dfas.insert(key, Arc::clone(&dfa));
        Some(dfa)
    }
}

/// An automaton over some of a field's needles, walked byte by byte. No prefilter: with
/// hundreds of path needles nearly every byte of a path starts a candidate, and skipping
/// ahead costs more than walking.
#[derive(Debug)]
struct Walker<A> {
    /// Shared between the routes whose field has the same needles (see [`Automata`]).
    automaton: Arc<A>,
    start: StateID,
    /// Pattern id → needle id.
    needles: Vec<u32>,
    /// Pattern id → the needle must be the whole value ([`Anchor::Whole`]).
    whole: Vec<bool>,
}

/// An ASCII-case-insensitive DFA over `patterns`, without a prefilter (with hundreds of
/// path needles, nearly every byte of a path starts a candidate): one load per byte.
fn dfa(patterns: &[Vec<u8>], start: StartKind) -> Option<DFA> {
    aho_corasick::dfa::Builder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .start_kind(start)
        .prefilter(false)
        .build(patterns)
        .ok()
}

/// The automaton of anchored needles: an anchored DFA (a trie whose every state is a row
/// of byte-class transitions). The compact NFA this replaced searched each sparse state's
/// transitions for every byte walked, which made anchored walks most of a path scan's cost;
/// the DFA is one load per byte, for about 2 MiB more over SigmaHQ's 187 file rules.
fn anchored_trie(patterns: &[Vec<u8>]) -> Option<DFA> {
    dfa(patterns, StartKind::Anchored)
}

impl<A: Automaton> Walker<A> {
    /// The walker of `way` over the needles of `on_field` it takes, built by `build`; `None`
    /// when there are none, or past the builder's size limits (then `unindexed` is told).
    fn build(
        way: Way,
        on_field: &[(u32, &Needle)],
        unindexed: &mut impl FnMut(&[(u32, &Needle)]),
        build: impl FnOnce(&[Vec<u8>]) -> Option<Arc<A>>,
    ) -> Option<Self> {
        let mut needles: Vec<(u32, &Needle)> = on_field
            .iter()
            .filter(|(_, n)| way.holds(n.anchor))
            .copied()
            .collect();
        // In text order, so that the same needles on another route make the same patterns
        // (and share the automaton).
        needles.sort_by(|(_, a), (_, b)| a.text.cmp(&b.text));
        if needles.is_empty() {
            return None;
        }
        let walker = Self::new(way, &needles, build);
        if walker.is_none() {
            unindexed(&needles);
        }
        walker
    }

    fn new(
        way: Way,
        needles: &[(u32, &Needle)],
        build: impl FnOnce(&[Vec<u8>]) -> Option<Arc<A>>,
    ) -> Option<Self> {
        let patterns: Vec<Vec<u8>> = needles
            .iter()
            .map(|(_, n)| {
                let mut bytes = n.text.as_bytes().to_vec();
                if way == Way::Suffix {
                    bytes.reverse();
                }
                bytes
            })
            .collect();
        let anchored = if way == Way::Anywhere {
            Anchored::No
        } else {
            Anchored::Yes
        };
        let automaton = build(&patterns)?;
        Some(Self {
            start: automaton.start_state(anchored).ok()?,
            automaton,
            needles: needles.iter().map(|(id, _)| *id).collect(),
            whole: needles
                .iter()
                .map(|(_, n)| n.anchor == Anchor::Whole)
                .collect(),
        })
    }

    /// Reports every needle ending in `haystack`, walked from the state `from` (the start,
    /// or where the walk of the value's directory stopped); returns the state at its end.
    ///
    /// The loop is one dependent load per byte; it stays tight only if nothing else is live
    /// in it, so reporting (rare) is a cold call, and the walk is not inlined into
    /// `candidates` (there the state went through the stack on every byte).
    #[inline(never)]
    fn walk(&self, from: StateID, haystack: &[u8], found: &mut Vec<u32>) -> StateID {
        let automaton: &A = &self.automaton;
        let mut sid = from;
        for &byte in haystack {
            sid = automaton.next_state(Anchored::No, sid, byte);
            // Without a prefilter, only match states are special (an unanchored standard
            // automaton has no dead state).
            if automaton.is_special(sid) {
                self.report(sid, found);
            }
        }
        sid
    }

    #[cold]
    #[inline(never)]
    fn report(&self, sid: StateID, found: &mut Vec<u32>) {
        let automaton: &A = &self.automaton;
        if automaton.is_match(sid) {
            for i in 0..automaton.match_len(sid) {
                found.push(self.needles[automaton.match_pattern(sid, i).as_usize()]);
            }
        }
    }

    /// Reports every needle that `bytes` (a value of `len` bytes, read from one end) starts
    /// with, stopping where no needle can follow.
    fn anchored(&self, bytes: impl Iterator<Item = u8>, len: usize, found: &mut Vec<u32>) {
        let automaton: &A = &self.automaton;
        let mut sid = self.start;
        for (depth, byte) in (1..).zip(bytes) {
            sid = automaton.next_state(Anchored::Yes, sid, byte);
            if !automaton.is_special(sid) {
                continue;
            }
            if automaton.is_dead(sid) {
                return;
            }
            for i in 0..automaton.match_len(sid) {
                let pattern = automaton.match_pattern(sid, i);
                // A state's matches include the needles that end here but start later
                // (reached through failure links in an unanchored search): only those as
                // long as the walk count.
                if automaton.pattern_len(pattern) == depth && (!self.whole[pattern] || depth == len)
                {
                    found.push(self.needles[pattern.as_usize()]);
                }
            }
        }
    }
}

/// A `|fieldref` needle: `field` stands in `relation` to `other`.
#[derive(Debug)]
struct RelationCheck {
    field: Option<Field>,
    other: Option<Field>,
    relation: Relation,
    needle: u32,
}

impl RelationCheck {
    fn holds(&self, event: &SigmaEvent<'_>, fa: &mut String, fb: &mut String) -> bool {
        match (
            self.field.and_then(|f| event.text_of(f)),
            self.other.and_then(|f| event.text_of(f)),
        ) {
            (Some(value), Some(reference)) => self.relation.holds(value, reference, fa, fb),
            _ => false,
        }
    }
}

/// What a needle being present means.
#[derive(Debug, Default, Clone)]
struct Owners {
    /// Rules with a clause of this needle alone.
    rules: Vec<u32>,
    /// Clauses of two or more groups whose first (rarest) group holds this needle.
    clauses: Vec<u32>,
}

/// A clause of two or more groups.
#[derive(Debug)]
struct MultiClause {
    rule: u32,
    /// The groups after the first (whose needles trigger the check): each needs one of its
    /// needles seen in the event.
    checked: Vec<Vec<u32>>,
}

/// Candidate rules for one (host, category) route.
#[derive(Debug, Default)]
pub struct Prefilter {
    /// Unique per build (keys the process cache).
    id: u64,
    /// Rules without a witness: always evaluated.
    always: Vec<u32>,
    /// The needle `IsCanary: true`, if some rule uses it.
    canary: Option<u32>,
    fields: Vec<RouteField>,
    /// `|fieldref` needles: checked on every event.
    relations: Vec<RelationCheck>,
    /// Needle id → owners.
    owners: Vec<Owners>,
    clauses: Vec<MultiClause>,
    /// Every rule on this route (plain evaluation).
    all: Vec<u32>,
}

/// The needles found in a process's fields, per prefilter (a process's events take several
/// routes: creations, changes, deletions…). Holding the `Arc` keeps the process alive, so
/// its address cannot be reused by another process while cached.
#[derive(Debug)]
struct ProcessHits {
    process: std::sync::Arc<picket_model::ProcessInfo>,
    /// (prefilter id, needles found).
    routes: Vec<(u64, Vec<u32>)>,
}

/// Reusable per-evaluator scratch: epoch marks for rules and needles, pending clauses, a
/// folding buffer, and the needles found in the fields of recent processes.
#[derive(Debug, Default)]
pub struct Scratch {
    marks: Vec<u32>,
    seen: Vec<u32>,
    epoch: u32,
    pending: Vec<u32>,
    folded: String,
    folded_other: String,
    processes: Vec<Option<ProcessHits>>,
    /// The last value scanned per (route, event field), with what it held.
    last_scans: Vec<LastScan>,
}

/// Slots of [`Scratch::last_scans`], direct-mapped by index.
const LAST_SCAN_SLOTS: usize = 64;

/// The last values scanned with one [`FieldIndex`]: a route's field, or the paths of every
/// route of a host. A written file's events (its creation, first write, close, rename and
/// deletion) carry the same path, or the rename's new one, one after the other, and a scan
/// is a walk of up to three automata over the path: the next event takes the needles found
/// after a comparison of the two paths. Two values are kept, not one: a rename carries the
/// old path and the new, and the first write and close of a file alternate their
/// `Operation` (`first_write`, `close_modified`), which a one-value memory scanned again on
/// every event (a third of all scans on a file-writing workload). A longer memory for the
/// shared index cost more in comparisons than it saved: eight values took a tenth off the
/// built-in pack's rate on the benchmark's events, and even a general memory of two (a
/// vector with use stamps) cost 1.8 % more instructions on the live capture's replay than
/// this fixed pair.
#[derive(Debug, Default)]
struct LastScan {
    /// The index's id; 0 is no index's (they start at 1).
    key: u64,
    /// The two most recent distinct values, the most recent first; `held` of them valid.
    recent: [Scanned; 2],
    held: usize,
}

/// A value scanned and the needles found in it.
#[derive(Debug, Default)]
struct Scanned {
    text: String,
    found: Vec<u32>,
    /// Where the value's directory ends, for the next value in the same directory.
    dir: Option<DirState>,
}

/// The unanchored walk of an ASCII value, stopped after its directory (where the parse stage
/// split the path from its name): the automaton's state there and how many of the value's
/// needles had been found. A value in the same directory (or under it) resumes the walk from
/// here, and walks only the rest: the state after a prefix depends on the prefix alone, so
/// the needles found (those ending inside the directory, then those ending after it, across
/// the separator included) are the full walk's. On a file workload most events are in a
/// directory the event before was in, and the directory is most of a path.
#[derive(Clone, Copy, Debug)]
struct DirState {
    len: usize,
    sid: StateID,
    found: usize,
}

impl LastScan {
    fn slot(index: u64) -> usize {
        let mixed = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        usize::try_from(mixed).unwrap_or(0) % LAST_SCAN_SLOTS
    }

    /// The needles found in `text` by the index `key` names: remembered, or
    /// found by `scan` (which then replaces the older of the two values remembered). `scan`
    /// is given the directory walk of a remembered value in the same directory, with its
    /// needles already in the list, and returns the new value's.
    fn found(
        &mut self,
        key: u64,
        text: &str,
        scan: impl FnOnce(&str, Option<DirState>, &mut Vec<u32>) -> Option<DirState>,
    ) -> &[u32] {
        if self.key != key {
            self.key = key;
            self.held = 0;
        }
        let [newer, older] = &mut self.recent;
        if self.held >= 1 && newer.text == text {
            return &self.recent[0].found;
        }
        if self.held >= 2 && older.text == text {
            std::mem::swap(newer, older);
            return &self.recent[0].found;
        }
        // The same directory, or one under it: the walk's state after the shared part holds
        // (`scan` walks a value that is not ASCII afresh, whatever it is given). The byte
        // before the name is compared first: most values of another directory differ there.
        let same_dir = |scanned: &Scanned| {
            scanned.dir.filter(|dir| {
                let (new, old) = (text.as_bytes(), scanned.text.as_bytes());
                let last = dir.len.wrapping_sub(1);
                new.get(last).is_some_and(|b| old.get(last) == Some(b))
                    && new.get(..dir.len) == old.get(..dir.len)
            })
        };
        let from_newer = if self.held >= 1 {
            same_dir(newer)
        } else {
            None
        };
        let from_older = if from_newer.is_none() && self.held >= 2 {
            same_dir(older)
        } else {
            None
        };
        // The older value's buffers take the new one, which becomes the newer.
        std::mem::swap(newer, older);
        let resume = if let Some(dir) = from_newer {
            // Now the older: its directory's needles are copied.
            newer.found.clear();
            newer.found.extend_from_slice(&older.found[..dir.found]);
            Some(dir)
        } else if let Some(dir) = from_older {
            // The slot being taken: its directory's needles are kept.
            newer.found.truncate(dir.found);
            Some(dir)
        } else {
            newer.found.clear();
            None
        };
        newer.text.clear();
        newer.text.push_str(text);
        newer.dir = scan(text, resume, &mut newer.found);
        self.held = (self.held + 1).min(2);
        &self.recent[0].found
    }
}

/// The length of the directory part of `field`'s value in `event`, as the parse stage split
/// it (up to the name): a path field's, else `None`.
fn directory_len(event: &SigmaEvent<'_>, field: Option<Field>) -> Option<usize> {
    let event = event.event();
    let path = match field? {
        Field::TargetFilename => &event.target,
        Field::SourceFilename => event.source.as_deref()?,
        _ => return None,
    };
    path.path().len().checked_sub(path.name().len())
}

/// A union of path needles this small is shared by any routes whatever their own sizes:
/// the built-in pack's routes (17 to 39 path needles, 59 in all) keep their rate on the
/// detection benchmark's events shared (22–23× rsigma as-is either way), and scan a file's
/// path once instead of four times on a file workload.
const SMALL_UNION: usize = 128;

/// The routes that share one index of their path needles: as many as keep it small —
/// within [`SMALL_UNION`] needles, or twice each sharing route's own. A route with few
/// needles next to one with hundreds (SigmaHQ's deletions and creations) keeps its own:
/// the shared automata would make each of its scans a walk of far larger tables, which
/// cost more than the scans saved (12–15 % of the SigmaHQ benchmark's rate when all
/// routes shared).
fn sharing_routes(plans: &[RoutePlan]) -> Vec<usize> {
    let path_needles = |plan: &RoutePlan| -> std::collections::HashSet<LiteralKey> {
        plan.needles
            .iter()
            .filter(|n| is_path_field(&n.field))
            .filter_map(literal_key)
            .collect()
    };
    let mut routes: Vec<(usize, std::collections::HashSet<_>)> = plans
        .iter()
        .enumerate()
        .map(|(at, plan)| (at, path_needles(plan)))
        .filter(|(_, needles)| !needles.is_empty())
        .collect();
    // Largest first: the others join it while the union stays small for every member.
    routes.sort_by(|(a, x), (b, y)| y.len().cmp(&x.len()).then(a.cmp(b)));
    let mut union = std::collections::HashSet::new();
    let mut smallest = usize::MAX;
    let mut sharing = Vec::new();
    for (at, needles) in routes {
        let joined = union.len() + needles.difference(&union).count();
        let bound = |own: usize| SMALL_UNION.max(own.saturating_mul(2));
        if joined <= bound(needles.len()) && joined <= bound(smallest) {
            smallest = smallest.min(needles.len());
            union.extend(needles);
            sharing.push(at);
        }
    }
    sharing
}

/// A route's needles and what each means, before its fields are indexed.
#[derive(Debug, Default)]
struct RoutePlan {
    always: Vec<u32>,
    canary: Option<u32>,
    /// Needle id → needle.
    needles: Vec<Needle>,
    owners: Vec<Owners>,
    clauses: Vec<MultiClause>,
    relations: Vec<RelationCheck>,
    all: Vec<u32>,
}

impl RoutePlan {
    /// The needles of the witnesses of `rules` (`(global index, witness)`), each given an id.
    fn new(rules: &RouteRules<'_>) -> Self {
        let mut always = Vec::new();
        // (field, text, anchor, relation) → needle id.
        type Key = (String, String, Anchor, Option<Relation>);
        let mut ids: std::collections::HashMap<Key, u32> = std::collections::HashMap::new();
        let mut needles: Vec<Needle> = Vec::new();
        let mut owners: Vec<Owners> = Vec::new();
        let mut clauses = Vec::new();
        let mut id_of = |needle: &Needle, owners: &mut Vec<Owners>| {
            let key = (
                needle.field.clone(),
                needle.text.clone(),
                needle.anchor,
                needle.relation,
            );
            let id = *ids.entry(key).or_insert_with(|| {
                needles.push(needle.clone());
                owners.push(Owners::default());
                u32::try_from(needles.len() - 1).unwrap_or(u32::MAX)
            });
            id
        };
        for &(rule, witness) in rules {
            let Some(witness) = witness else {
                always.push(rule);
                continue;
            };
            for clause in witness {
                // Rarest group first (as built by `best` and `conjunction`).
                let groups: Vec<Vec<u32>> = clause
                    .iter()
                    .map(|group| {
                        let mut ids: Vec<u32> =
                            group.iter().map(|n| id_of(n, &mut owners)).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        ids
                    })
                    .collect();
                match groups.as_slice() {
                    // An empty group is never satisfied by the index: stay on the safe side.
                    [] => always.push(rule),
                    _ if groups.iter().any(Vec::is_empty) => always.push(rule),
                    [only] => {
                        for &id in only {
                            owners[id as usize].rules.push(rule);
                        }
                    }
                    [first, ..] => {
                        let index = u32::try_from(clauses.len()).unwrap_or(u32::MAX);
                        for &id in first {
                            owners[id as usize].clauses.push(index);
                        }
                        clauses.push(MultiClause {
                            rule,
                            checked: groups[1..].to_vec(),
                        });
                    }
                }
            }
        }
        for o in &mut owners {
            o.rules.sort_unstable();
            o.rules.dedup();
        }
        let canary = ids
            .get(&(
                CANARY_FIELD.to_owned(),
                String::new(),
                Anchor::Anywhere,
                None,
            ))
            .copied();
        let relations = needles
            .iter()
            .enumerate()
            .filter_map(|(id, n)| {
                Some(RelationCheck {
                    field: Field::from_name(&n.field),
                    other: Field::from_name(&n.text),
                    relation: n.relation?,
                    needle: u32::try_from(id).unwrap_or(u32::MAX),
                })
            })
            .collect();
        let mut all: Vec<u32> = rules.iter().map(|(r, _)| *r).collect();
        all.sort_unstable();
        Self {
            always,
            canary,
            needles,
            owners,
            clauses,
            relations,
            all,
        }
    }

    /// The prefilter, its fields read through `fields`.
    fn finish(mut self, fields: Vec<RouteField>) -> Prefilter {
        self.always.sort_unstable();
        self.always.dedup();
        Prefilter {
            id: NEXT_PREFILTER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            always: self.always,
            canary: self.canary,
            fields,
            relations: self.relations,
            owners: self.owners,
            clauses: self.clauses,
            all: self.all,
        }
    }
}

/// The needles one [`FieldIndex`] is built over: of one field of one route, or of the path
/// fields of every route of a host.
#[derive(Debug, Default)]
struct IndexGroup {
    /// A needle's key → the index's needle id.
    ids: std::collections::HashMap<LiteralKey, u32>,
    /// The index's needles, by id.
    needles: Vec<Needle>,
}

impl IndexGroup {
    /// Adds `plan`'s literal needles of `field`.
    fn add(&mut self, field: &str, plan: &RoutePlan) {
        for n in plan.needles.iter().filter(|n| n.field == field) {
            let Some(key) = literal_key(n) else {
                continue;
            };
            if !self.ids.contains_key(&key) {
                self.ids
                    .insert(key, u32::try_from(self.needles.len()).unwrap_or(u32::MAX));
                self.needles.push(n.clone());
            }
        }
    }

    /// `plan`'s needle id of each of the index's needles that is one of `plan`'s needles of
    /// `field`; [`ELSEWHERE`] for the others.
    fn local(&self, field: &str, plan: &RoutePlan) -> Vec<u32> {
        let mut local = vec![ELSEWHERE; self.needles.len()];
        for (id, n) in plan.needles.iter().enumerate() {
            if n.field != field {
                continue;
            }
            let at = literal_key(n).and_then(|key| self.ids.get(&key).copied());
            if let Some(slot) = at.and_then(|at| local.get_mut(at as usize)) {
                *slot = u32::try_from(id).unwrap_or(ELSEWHERE);
            }
        }
        local
    }

    /// The index over every needle added, and those of its needles it could not index.
    fn build(&self, automata: &mut Automata) -> (Arc<FieldIndex>, Vec<u32>) {
        let on_field: Vec<(u32, &Needle)> = self
            .needles
            .iter()
            .enumerate()
            .map(|(id, n)| (u32::try_from(id).unwrap_or(u32::MAX), n))
            .collect();
        let mut unindexed_ids = Vec::new();
        let mut unindexed = |chosen: &[(u32, &Needle)]| {
            unindexed_ids.extend(chosen.iter().map(|(id, _)| *id));
        };
        let anywhere = Walker::build(Way::Anywhere, &on_field, &mut unindexed, |p| {
            automata.dfa(Way::Anywhere, p, |p| dfa(p, StartKind::Unanchored))
        });
        let prefix = Walker::build(Way::Prefix, &on_field, &mut unindexed, |p| {
            automata.dfa(Way::Prefix, p, anchored_trie)
        });
        let suffix = Walker::build(Way::Suffix, &on_field, &mut unindexed, |p| {
            automata.dfa(Way::Suffix, p, anchored_trie)
        });
        let index = FieldIndex {
            id: NEXT_PREFILTER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            anywhere,
            prefix,
            suffix,
        };
        (Arc::new(index), unindexed_ids)
    }
}

impl Prefilter {
    /// Builds the index over `(global index, witness)` of the rules on this route.
    #[must_use]
    pub fn build(rules: &RouteRules<'_>) -> Self {
        Self::build_host(&[rules], &mut Automata::default())
            .pop()
            .unwrap_or_default()
    }

    /// The prefilters of the routes of one host, from each route's `(global index,
    /// witness)` pairs, taking automata already built for the other host from `automata`
    /// (and leaving its own there).
    ///
    /// The path fields (`TargetFilename`, `SourceFilename`) of every route are indexed
    /// together, in one index: a file's events take several routes (its creation, writes,
    /// rename, deletion) and a rename's new name is the next event's old one, so one scan of
    /// a path serves them all through the last values remembered per index (each route
    /// keeps only its own needles of the field it reads). Other fields keep an index per
    /// route: their values (an operation, say) alternate between routes, which would
    /// defeat a memory of the last two.
    #[must_use]
    pub fn build_host(routes: &[&RouteRules<'_>], automata: &mut Automata) -> Vec<Self> {
        let mut plans: Vec<RoutePlan> = routes.iter().map(|rules| RoutePlan::new(rules)).collect();
        let sharing = sharing_routes(&plans);
        // Which index each (route, field) reads: the host's path index, or one of its own.
        let mut groups: Vec<IndexGroup> = Vec::new();
        let mut path_group: Option<usize> = None;
        let mut reads: Vec<Vec<(String, usize)>> = Vec::with_capacity(plans.len());
        for (route, plan) in plans.iter().enumerate() {
            let mut fields: Vec<&str> = plan
                .needles
                .iter()
                .filter(|n| n.relation.is_none())
                .map(|n| n.field.as_str())
                .filter(|f| *f != CANARY_FIELD)
                .collect();
            fields.sort_unstable();
            fields.dedup();
            let mut route_reads = Vec::with_capacity(fields.len());
            for field in fields {
                let group = if is_path_field(field) && sharing.contains(&route) {
                    *path_group.get_or_insert_with(|| {
                        groups.push(IndexGroup::default());
                        groups.len() - 1
                    })
                } else {
                    groups.push(IndexGroup::default());
                    groups.len() - 1
                };
                groups[group].add(field, plan);
                route_reads.push((field.to_owned(), group));
            }
            reads.push(route_reads);
        }
        let indexes: Vec<(Arc<FieldIndex>, Vec<u32>)> =
            groups.iter().map(|group| group.build(automata)).collect();
        let mut built = Vec::with_capacity(plans.len());
        for (route, plan) in plans.iter_mut().enumerate() {
            let mut fields = Vec::new();
            for (field, group) in &reads[route] {
                let (index, unindexed) = &indexes[*group];
                let local = groups[*group].local(field, plan);
                // Past the builder's size limits: these needles' rules become
                // unconditional candidates (sound, slower).
                for &shared in unindexed {
                    let Some(&id) = local.get(shared as usize) else {
                        continue;
                    };
                    if id == ELSEWHERE {
                        continue;
                    }
                    let o = &plan.owners[id as usize];
                    plan.always.extend(&o.rules);
                    plan.always
                        .extend(o.clauses.iter().map(|&c| plan.clauses[c as usize].rule));
                }
                fields.push(RouteField {
                    process: is_process_field(field),
                    field: Field::from_name(field),
                    index: Arc::clone(index),
                    local,
                });
            }
            built.push(std::mem::take(plan).finish(fields));
        }
        built
    }

    /// Every rule on this route, ascending.
    #[must_use]
    pub fn all(&self) -> &[u32] {
        &self.all
    }

    /// Rules without a witness: evaluated on every event of this route.
    #[must_use]
    pub fn unwitnessed(&self) -> &[u32] {
        &self.always
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
        if scratch.seen.len() < self.owners.len() {
            scratch.seen.resize(self.owners.len(), 0);
        }
        scratch.epoch = scratch.epoch.wrapping_add(1);
        if scratch.epoch == 0 {
            scratch.marks.fill(0);
            scratch.seen.fill(0);
            scratch.epoch = 1;
        }
        if scratch.processes.is_empty() {
            scratch.processes.resize_with(PROCESS_SLOTS, || None);
        }
        if scratch.last_scans.is_empty() {
            scratch
                .last_scans
                .resize_with(LAST_SCAN_SLOTS, LastScan::default);
        }
        let Scratch {
            marks,
            seen,
            epoch,
            pending,
            folded,
            folded_other,
            processes,
            last_scans,
        } = scratch;
        let epoch = *epoch;
        pending.clear();
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
        let mut hit = |id: u32, out: &mut Vec<u32>, pending: &mut Vec<u32>| {
            let slot = &mut seen[id as usize];
            if *slot == epoch {
                return;
            }
            *slot = epoch;
            let owners = &self.owners[id as usize];
            for &rule in &owners.rules {
                mark(rule, out);
            }
            pending.extend_from_slice(&owners.clauses);
        };
        if event.canary() {
            if let Some(id) = self.canary {
                hit(id, out, pending);
            }
        }
        // The process's fields: replayed from the cache, or scanned once and cached.
        let process = &event.event().process;
        let slot = &mut processes[process_slot(process)];
        if !slot
            .as_ref()
            .is_some_and(|c| std::sync::Arc::ptr_eq(&c.process, process))
        {
            *slot = Some(ProcessHits {
                process: std::sync::Arc::clone(process),
                routes: Vec::new(),
            });
        }
        if let Some(cached) = slot {
            let known = cached.routes.iter().position(|(id, _)| *id == self.id);
            let index = known.unwrap_or_else(|| {
                let mut hits = Vec::new();
                let mut found = Vec::new();
                for read in self.fields.iter().filter(|f| f.process) {
                    found.clear();
                    read.index.scan(read.field, event, folded, &mut found);
                    read.each_local(&found, |id| hits.push(id));
                }
                if cached.routes.len() >= ROUTES_PER_PROCESS {
                    cached.routes.clear();
                }
                cached.routes.push((self.id, hits));
                cached.routes.len() - 1
            });
            for &id in &cached.routes[index].1 {
                hit(id, out, pending);
            }
        }
        for read in self.fields.iter().filter(|f| !f.process) {
            let Some(text) = read.field.and_then(|f| event.text_of(f)) else {
                continue;
            };
            let index = &read.index;
            let last = &mut last_scans[LastScan::slot(index.id)];
            let found = last.found(index.id, text, |text, resume, found| {
                // Where a path's directory ends, from the parse stage's split (no scan);
                // other fields are walked in one go.
                let split = directory_len(event, read.field);
                index.scan_text(text, folded, (resume, split), found)
            });
            read.each_local(found, |id| hit(id, out, pending));
        }
        for check in &self.relations {
            if check.holds(event, folded, folded_other) {
                hit(check.needle, out, pending);
            }
        }
        for &c in pending.iter() {
            let clause = &self.clauses[c as usize];
            let satisfied = |group: &Vec<u32>| group.iter().any(|&n| seen[n as usize] == epoch);
            if clause.checked.iter().all(satisfied) {
                let slot = &mut marks[clause.rule as usize];
                if *slot != epoch {
                    *slot = epoch;
                    out.push(clause.rule);
                }
            }
        }
        out.sort_unstable();
    }
}

impl FieldIndex {
    /// Reports every needle of this index present in `field` of `event`.
    fn scan(
        &self,
        field: Option<Field>,
        event: &SigmaEvent<'_>,
        folded: &mut String,
        found: &mut Vec<u32>,
    ) {
        if let Some(text) = field.and_then(|f| event.text_of(f)) {
            self.scan_text(text, folded, (None, None), found);
        }
    }

    /// Reports every needle of this field present in `text`, the field's value. With
    /// `resume` (the directory walk of a value `text` shares its directory with, whose
    /// needles `found` already holds), only the rest is walked unanchored; `split`, the
    /// length of a path's directory, is where the walk stops once more for the next value.
    /// Returns where the walk of an ASCII value can be resumed: that stop, or else the one it
    /// resumed from.
    fn scan_text(
        &self,
        text: &str,
        folded: &mut String,
        (resume, split): (Option<DirState>, Option<usize>),
        found: &mut Vec<u32>,
    ) -> Option<DirState> {
        let ascii = text.is_ascii();
        let haystack = if ascii {
            text.as_bytes()
        } else {
            fold_into(text, folded);
            folded.as_bytes()
        };
        let mut dir = None;
        if let Some(walker) = &self.anywhere {
            let resume = match resume {
                Some(at) if ascii => Some(at),
                Some(_) => {
                    // Not walked as bytes of the value: the needles given are dropped and the
                    // folded value walked from its start.
                    found.clear();
                    None
                }
                None => None,
            };
            let (from, done) = resume.map_or((walker.start, 0), |at| (at.sid, at.len));
            let rest = haystack.get(done..).unwrap_or_default();
            // A path stops once more after its directory, for the next value; anything else
            // (an operation, a name, a folded value) is walked in one go.
            let head_len = split
                .filter(|&len| ascii && len > done && len <= haystack.len())
                .map(|len| len - done);
            match head_len {
                Some(head_len) => {
                    let (head, name) = rest.split_at(head_len);
                    let sid = walker.walk(from, head, found);
                    dir = Some(DirState {
                        len: done + head_len,
                        sid,
                        found: found.len(),
                    });
                    walker.walk(sid, name, found);
                }
                None => {
                    walker.walk(from, rest, found);
                    dir = resume;
                }
            }
        }
        if let Some(walker) = &self.prefix {
            walker.anchored(haystack.iter().copied(), haystack.len(), found);
        }
        if let Some(walker) = &self.suffix {
            walker.anchored(haystack.iter().rev().copied(), haystack.len(), found);
        }
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every Unicode scalar value's simple case-folding orbit, per the regex engine's tables.
    fn orbit(c: char) -> Vec<char> {
        let mut class =
            regex_syntax::hir::ClassUnicode::new([regex_syntax::hir::ClassUnicodeRange::new(c, c)]);
        class.case_fold_simple();
        class
            .ranges()
            .iter()
            .flat_map(|r| r.start()..=r.end())
            .collect()
    }

    #[test]
    fn the_fold_table_agrees_with_the_unicode_tables() {
        for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            let mut slow = String::new();
            fold_char_into(c, &mut slow);
            assert_eq!(fold(&c.to_string()), slow, "U+{:04X}", u32::from(c));
        }
        assert_eq!(fold("ОТЧЁТ Straße ΣΥΜΒΑΣΗ"), "отчёт strasse συμβαση");
    }

    #[test]
    fn fold_agrees_with_both_comparisons_of_the_engine() {
        for c in (0..=0x10_FFFF_u32).filter_map(char::from_u32) {
            let key = fold(&c.to_string());
            // Plain values compare lower-cased text: folding must see through lower case.
            assert_eq!(
                fold(&c.to_lowercase().to_string()),
                key,
                "{c:?} (U+{:04X})",
                u32::from(c)
            );
            // Wildcard values are case-insensitive regexes: every member of the orbit
            // must fold alike.
            if !c.is_alphabetic() && c.is_ascii() {
                continue;
            }
            for other in orbit(c) {
                assert_eq!(
                    fold(&other.to_string()),
                    key,
                    "{c:?} (U+{:04X}) and {other:?} match case-insensitively but fold apart",
                    u32::from(c)
                );
            }
        }
        // The final sigma: lower-casing text is contextual there.
        assert_eq!(fold(&"ΟΔΟΣ".to_lowercase()), fold("ΟΔΟΣ"));
        assert_eq!(fold("ſtate"), "state");
    }

    fn rule(yaml: &str) -> SigmaRule {
        rsigma_parser::parse_sigma_yaml(yaml)
            .unwrap()
            .rules
            .remove(0)
    }

    /// Each clause's needles, group after group.
    fn texts(w: &[Clause]) -> Vec<Vec<(&str, &str)>> {
        w.iter()
            .map(|c| {
                c.iter()
                    .flatten()
                    .map(|n| (n.field.as_str(), n.text.as_str()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn and_needs_a_needle_of_each_part_or_needs_all() {
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|endswith: ['.exe', '.dll']\n  b:\n    Image|contains: '\\winword.exe'\n  condition: a and b\n",
        );
        let w = witness(&r).unwrap();
        // One clause: the rarest group first (its needle triggers the check), then the other.
        assert_eq!(
            texts(&w),
            [[
                ("Image", "\\winword.exe"),
                ("TargetFilename", ".exe"),
                ("TargetFilename", ".dll")
            ]]
        );
        assert_eq!((w[0].len(), w[0][0].len(), w[0][1].len()), (2, 1, 2));

        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|endswith: ['.exe', '.dll']\n  b:\n    Image|contains: 'word'\n  condition: a or b\n",
        );
        assert_eq!(witness(&r).unwrap().len(), 3);
    }

    #[test]
    fn a_common_part_is_crossed_with_the_next() {
        // `\Temp\` and `.dll` are each common; together much less so.
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|contains: '\\Temp\\'\n    TargetFilename|endswith: '.dll'\n  condition: s\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(
            texts(&w),
            [[("TargetFilename", ".dll"), ("TargetFilename", "\\temp\\")]]
        );
        // A rare part alone is enough.
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|contains: '\\AppData\\Roaming\\Zoom\\bin\\'\n    Image|endswith: '.exe'\n  condition: s\n",
        );
        assert_eq!(
            texts(&witness(&r).unwrap()),
            [[("TargetFilename", "\\appdata\\roaming\\zoom\\bin\\")]]
        );
    }

    #[test]
    fn non_ascii_needles_are_folded() {
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|contains:\n      - \"\\u0410\"\n      - \"\\u03a3\"\n  condition: s\n",
        );
        assert_eq!(
            texts(&witness(&r).unwrap()),
            [[("TargetFilename", "а")], [("TargetFilename", "σ")]]
        );
    }

    #[test]
    fn groups_that_filter_nothing_are_dropped() {
        // The regex's prefix literal is a bare backslash: found at every separator.
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: '\\\\[0-9a-f]{8}\\.txt$'\n  b:\n    TargetFilename|startswith: 'C:\\Windows\\Temp\\'\n  condition: a and b\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(
            texts(&w),
            [[
                ("TargetFilename", ".txt"),
                ("TargetFilename", "c:\\windows\\temp\\")
            ]],
            "{w:?}"
        );
    }

    #[test]
    fn estimate_orders_common_fragments_below_specific_names() {
        let f = "TargetFilename";
        assert!(estimate(f, "\\appdata\\") > estimate(f, "\\appdata\\roaming\\zoom\\"));
        assert!(estimate(f, ".exe") > estimate(f, "\\winword.exe"));
        assert!(estimate("Image", ".exe") > estimate(f, ".exe"));
        assert!(estimate(f, "\\") >= 0.5);
        assert!(estimate("Image", "\\chrome.exe") > estimate(f, ".vhd"));
    }

    #[test]
    fn operations_are_common_and_extensions_as_common_as_their_fragment() {
        // Long names, but one of nine values: commoner than any specific path literal.
        let op = estimate("Operation", "close_modified");
        assert!(op > estimate("TargetFilename", "\\ntds.dit"), "{op}");
        assert!(estimate("Operation", "open") > estimate("Operation", "delete"));
        // `e` is in most names; a name no operation has is never found.
        assert!(estimate("Operation", "e") > 0.9);
        assert!(estimate("Operation", "encrypt") < 1e-5);
        // An extension is not a path fragment shortened: `log` is as common as `.log`.
        assert!((estimate("FileExtension", "log") - 0.05).abs() < 1e-9);
        assert!(estimate("FileExtension", "docx") < estimate("FileExtension", "log"));
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
            (w[0][0][0].text.as_str(), w[0][0][0].regex),
            ("x", true),
            "suffix literal"
        );
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: '(?i)\\\\Temp\\\\[a-z]+\\.exe'\n  condition: a\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(
            (w.len(), w[0].len(), w[0][0].len(), w[0][1].len()),
            (1, 2, 1, 1),
            "a prefix group and a suffix group; case variants fold to one needle: {w:?}"
        );
        assert_eq!(
            texts(&w),
            [[("TargetFilename", "\\temp\\"), ("TargetFilename", ".exe")]]
        );
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename|re: '.*'\n  condition: a\n",
        );
        assert_eq!(witness(&r), None, "no literal, no witness");
        let r = rule(
            "title: t\nlogsource: {category: file_event}\ndetection:\n  a:\n    TargetFilename: 'C:\\Users\\\\*\\AppData\\Roaming\\\\*'\n  condition: a\n",
        );
        let w = witness(&r).unwrap();
        assert_eq!(w[0][0][0].text, "\\appdata\\roaming\\");
        assert!(!w[0][0][0].regex);
    }
}

#[cfg(test)]
mod process_cache_tests {
    use std::sync::Arc;

    use picket_model::{Details, FileEvent, Host, Operation, ProcessInfo, ProcessKey, Timestamp};

    use super::Scratch;
    use crate::event::SigmaEvent;
    use crate::ruleset::RuleSet;

    /// A Windows event of `operation` by `process` on `target` (renamed from `source`).
    fn event(
        operation: Operation,
        process: &Arc<ProcessInfo>,
        target: &str,
        source: Option<&str>,
    ) -> FileEvent {
        FileEvent {
            seq: 0,
            time: Timestamp::from_unix_nanos(0),
            host: Host::Windows,
            operation,
            process: Arc::clone(process),
            thread_id: 1,
            target: crate::ruletest::file_path(target, Host::Windows),
            source: source.map(|s| Box::new(crate::ruletest::file_path(s, Host::Windows))),
            details: Details::default(),
            entropy: None,
        }
    }

    #[test]
    fn a_repeated_path_takes_the_last_scan_and_a_new_one_is_scanned() {
        let rule = "title: t\nid: t\nlogsource: {product: windows, category: file_change}\ndetection:\n  s:\n    TargetFilename|endswith: '.locked'\n  condition: s\n";
        let rules = vec![rsigma_parser::parse_sigma_yaml(rule)
            .unwrap()
            .rules
            .remove(0)];
        let set = RuleSet::compile_untested(rules).unwrap();
        let process = Arc::new(ProcessInfo::default());
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        // A first write and a close of one file, then of another, then the first again:
        // every event's candidates are those of its own path.
        for (path, expected) in [
            (r"C:\a\b.locked", &[0][..]),
            (r"C:\a\b.locked", &[0][..]),
            (r"C:\a\b.docx", &[][..]),
            (r"C:\a\b.docx", &[][..]),
            (r"C:\a\c.locked", &[0][..]),
            (r"C:\a\b.docx", &[][..]),
        ] {
            for operation in [Operation::FirstWrite, Operation::CloseModified] {
                let event = event(operation, &process, path, None);
                set.candidates(&SigmaEvent::new(&event, false), &mut scratch, &mut out);
                assert_eq!(out, expected, "{path}, {operation:?}");
            }
        }
    }

    /// The routes of a host scan a path once between them: a file's events, on four routes
    /// and both path fields, each get exactly their own route's and field's candidates —
    /// a rename's old name is not its new name, whatever was scanned before.
    #[test]
    fn routes_sharing_a_path_scan_keep_their_own_needles() {
        let rules = [
            ("file_event", "TargetFilename|endswith: '.dat'"),
            ("file_rename", "SourceFilename|endswith: '.dat'"),
            ("file_rename", "TargetFilename|endswith: '.bak'"),
            ("file_delete", "TargetFilename|contains: '\\w\\'"),
            ("file_change", "TargetFilename|startswith: 'C:\\a\\'"),
        ];
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, (category, item))| {
                let yaml = format!(
                    "title: t{i}\nid: t{i}\nlogsource: {{product: windows, category: {category}}}\ndetection:\n  s:\n    {item}\n  condition: s\n"
                );
                rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules.remove(0)
            })
            .collect();
        let set = RuleSet::compile_untested(rules).unwrap();
        let process = Arc::new(ProcessInfo::default());
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        let (dat, bak) = (r"C:\a\w\f.dat", r"C:\a\w\f.bak");
        for (operation, target, source, expected) in [
            (Operation::Create, dat, None, &[0][..]),
            (Operation::FirstWrite, dat, None, &[4][..]),
            (Operation::CloseModified, dat, None, &[4][..]),
            (Operation::Rename, bak, Some(dat), &[1, 2][..]),
            (Operation::Delete, bak, None, &[3][..]),
            // The same two names the other way round: neither field takes the other's.
            (Operation::Rename, dat, Some(bak), &[][..]),
            (Operation::Create, bak, None, &[][..]),
            (Operation::Delete, r"C:\b\f.dat", None, &[][..]),
            (Operation::Delete, dat, None, &[3][..]),
        ] {
            let event = event(operation, &process, target, source);
            set.candidates(&SigmaEvent::new(&event, false), &mut scratch, &mut out);
            assert_eq!(out, expected, "{operation:?} {source:?} -> {target}");
        }
    }

    #[test]
    fn a_process_keeps_its_hits_for_every_route_it_takes() {
        let rule = "title: t\nid: t\nlogsource: {product: windows}\ndetection:\n  s:\n    Image|endswith: '\\x.exe'\n  condition: s\n";
        let rules = vec![rsigma_parser::parse_sigma_yaml(rule)
            .unwrap()
            .rules
            .remove(0)];
        let set = RuleSet::compile_untested(rules).unwrap();
        let processes: Vec<Arc<ProcessInfo>> = (0..200)
            .map(|pid| {
                Arc::new(ProcessInfo {
                    key: ProcessKey { pid, start_key: 1 },
                    image: Some(format!(r"C:\p{pid}\x.exe")),
                    ..ProcessInfo::default()
                })
            })
            .collect();
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        for round in 0..2 {
            for (i, process) in processes.iter().enumerate() {
                for operation in [Operation::Create, Operation::Delete, Operation::Open] {
                    let event = event(operation, process, r"C:\a\b.txt", None);
                    set.candidates(&SigmaEvent::new(&event, false), &mut scratch, &mut out);
                    assert_eq!(out, [0], "process {i}, {operation:?}, round {round}");
                }
            }
        }
        // Each process holds one entry per route it took, in its own slot (most of them:
        // slots are direct-mapped, by a hash of the address, so 200 processes in 512 slots
        // leave about 166 occupied; how many exactly depends on where the allocator put
        // them, and 150 failed once in ten parallel test runs).
        let cached: Vec<_> = scratch.processes.iter().flatten().collect();
        assert!(cached.len() > 120, "{} processes cached", cached.len());
        assert!(cached.iter().all(|c| c.routes.len() == 3));
    }
}

#[cfg(test)]
mod sharing_tests {
    use super::{sharing_routes, Clause, Needle, RoutePlan};

    /// A route whose rules look for `count` distinct names starting with `prefix`.
    fn plan(prefix: &str, count: usize) -> RoutePlan {
        let clauses: Vec<Clause> = (0..count)
            .map(|i| {
                vec![vec![Needle::literal(
                    "TargetFilename",
                    format!("\\{prefix}{i}.x"),
                    false,
                )]]
            })
            .collect();
        RoutePlan::new(&[(0, Some(&clauses))])
    }

    #[test]
    fn routes_share_a_path_index_only_while_it_stays_small() {
        // The built-in pack's shape: a few dozen needles each, 127 in all.
        let plans = [
            plan("a", 26),
            plan("b", 17),
            plan("c", 39),
            plan("d", 17),
            plan("e", 28),
        ];
        let mut sharing = sharing_routes(&plans);
        sharing.sort_unstable();
        assert_eq!(sharing, [0, 1, 2, 3, 4]);
        // SigmaHQ's: hundreds on creations, a few dozen elsewhere, none on changes.
        let plans = [
            plan("a", 790),
            plan("b", 0),
            plan("c", 22),
            plan("d", 23),
            plan("e", 78),
        ];
        assert_eq!(sharing_routes(&plans), [0]);
        // The same needles count once: two routes of the same 300 share them.
        assert_eq!(sharing_routes(&[plan("a", 300), plan("a", 300)]), [0, 1]);
        // Past the small size, a route joins one at most twice its own size.
        assert_eq!(sharing_routes(&[plan("a", 100), plan("b", 60)]), [0]);
    }
}

#[cfg(test)]
mod last_scan_tests {
    use super::LastScan;

    #[test]
    fn a_field_remembers_its_two_latest_values() {
        // The needles "found" in a value: its length, so each answer is checkable.
        let mut last = LastScan::default();
        let mut scans = Vec::new();
        let mut ask = |last: &mut LastScan, key: u64, text: &str| {
            let found = last
                .found(key, text, |text, _, found| {
                    scans.push(text.to_owned());
                    found.push(u32::try_from(text.len()).unwrap());
                    None
                })
                .to_vec();
            assert_eq!(found, [u32::try_from(text.len()).unwrap()], "{text}");
        };
        // Two values alternating (a first write and a close): each scanned once.
        for text in [
            "first_write",
            "close_modified",
            "first_write",
            "close_modified",
        ] {
            ask(&mut last, 1, text);
        }
        // A third value pushes out the older; asking for it again scans again.
        // The older value asked for becomes the newer: the one pushed out next is the other.
        for text in ["rename", "close_modified", "first_write", "close_modified"] {
            ask(&mut last, 1, text);
        }
        // Another index in the slot forgets what the last one held.
        ask(&mut last, 2, "first_write");
        ask(&mut last, 1, "first_write");
        assert_eq!(
            scans,
            [
                "first_write",
                "close_modified",
                "rename",
                "first_write",
                "first_write",
                "first_write"
            ]
        );
    }
}
