//! A rule's condition resolved once, at load time, and decided here exactly as rsigma decides
//! it, without two of rsigma's costs per evaluation.
//!
//! - rsigma finds each named selection in a `HashMap<String, _>` with the standard
//!   (SipHash) hasher at every evaluation; here the name is looked up once and the condition
//!   holds the selection itself.
//! - rsigma lowercases the event's value into a new `String` for every case-insensitive
//!   comparison that is not part of a pre-lowered group (a lone `Operation: close_modified`
//!   allocates on every event it is asked about). For an ASCII value, where Unicode and
//!   ASCII lowercasing agree, the comparison here lowers byte by byte, or into a buffer on
//!   the stack, and allocates nothing.
//!
//! Everything else — regexes, numbers, field references, quantified selectors, array
//! scopes, non-ASCII values — is rsigma's own code, called on the same value. The
//! `agrees_with_rsigma` tests check the two paths against each other on arbitrary values,
//! and the engine's equal-matches tests compare whole rule sets with rsigma's evaluation.

use std::collections::HashMap;

use rsigma_eval::matcher::{CompiledMatcher, GroupMode};
use rsigma_eval::{CompiledDetection, CompiledDetectionItem, Event, EventValue};
use rsigma_parser::ConditionExpr;

/// A condition with its named selections resolved.
#[derive(Debug)]
pub(crate) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// A named selection decided here.
    Selection(CompiledDetection),
    /// Left to rsigma: a quantified selector (`1 of selection_*`), a selection over arrays,
    /// or a name the rule does not define (rsigma's answer for that is `false`).
    Rsigma(ConditionExpr),
}

impl Condition {
    /// `expr` with each name found in `detections`.
    pub(crate) fn resolve(
        expr: &ConditionExpr,
        detections: &HashMap<String, CompiledDetection>,
    ) -> Self {
        match expr {
            ConditionExpr::And(parts) => {
                Self::And(parts.iter().map(|p| Self::resolve(p, detections)).collect())
            }
            ConditionExpr::Or(parts) => {
                Self::Or(parts.iter().map(|p| Self::resolve(p, detections)).collect())
            }
            ConditionExpr::Not(inner) => Self::Not(Box::new(Self::resolve(inner, detections))),
            ConditionExpr::Identifier(name) => match detections.get(name) {
                Some(detection) if decided_here(detection) => Self::Selection(detection.clone()),
                _ => Self::Rsigma(expr.clone()),
            },
            ConditionExpr::Selector { .. } => Self::Rsigma(expr.clone()),
        }
    }

    /// Whether the condition holds for `event`; `and`, `or` and `not` short-circuit as
    /// rsigma's do. `detections` and `selections` (rsigma's scratch list of matched names,
    /// not read) serve the parts left to rsigma.
    pub(crate) fn holds(
        &self,
        detections: &HashMap<String, CompiledDetection>,
        event: &impl Event,
        selections: &mut Vec<String>,
    ) -> bool {
        match self {
            Self::And(parts) => parts.iter().all(|p| p.holds(detections, event, selections)),
            Self::Or(parts) => parts.iter().any(|p| p.holds(detections, event, selections)),
            Self::Not(inner) => !inner.holds(detections, event, selections),
            Self::Selection(detection) => detection_holds(detection, event),
            Self::Rsigma(expr) => {
                selections.clear();
                rsigma_eval::compiler::eval_condition(expr, detections, event, selections)
            }
        }
    }
}

/// Whether a selection has only the shapes [`detection_holds`] decides (array scopes are
/// rsigma's).
fn decided_here(detection: &CompiledDetection) -> bool {
    match detection {
        CompiledDetection::AllOf(_) | CompiledDetection::Keywords(_) => true,
        CompiledDetection::AnyOf(parts) | CompiledDetection::And(parts) => {
            parts.iter().all(decided_here)
        }
        CompiledDetection::ArrayMatch { .. } | CompiledDetection::Conditional { .. } => false,
    }
}

/// rsigma's `eval_detection` (without its bloom filter, which only ever skips work).
fn detection_holds(detection: &CompiledDetection, event: &impl Event) -> bool {
    match detection {
        CompiledDetection::AllOf(items) => items.iter().all(|item| item_holds(item, event)),
        CompiledDetection::AnyOf(parts) => parts.iter().any(|d| detection_holds(d, event)),
        CompiledDetection::And(parts) => parts.iter().all(|d| detection_holds(d, event)),
        CompiledDetection::Keywords(matcher) => matcher.matches_keyword(event),
        // Not resolved into a `Selection` (see `decided_here`).
        CompiledDetection::ArrayMatch { .. } | CompiledDetection::Conditional { .. } => false,
    }
}

/// rsigma's `eval_detection_item`.
fn item_holds(item: &CompiledDetectionItem, event: &impl Event) -> bool {
    if let Some(expect_exists) = item.exists {
        return match &item.field {
            Some(field) => event.get_field(field).is_some_and(|v| !v.is_null()) == expect_exists,
            None => !expect_exists,
        };
    }
    match &item.field {
        Some(field) => match event.get_field(field) {
            Some(value) => matcher_holds(&item.matcher, &value, event),
            None => matches!(item.matcher, CompiledMatcher::Null),
        },
        None => item.matcher.matches_keyword(event),
    }
}

/// `matcher.matches(value, event)`, with ASCII strings compared here.
pub(crate) fn matcher_holds(
    matcher: &CompiledMatcher,
    value: &EventValue<'_>,
    event: &impl Event,
) -> bool {
    match value {
        EventValue::Str(text) if text.is_ascii() => ascii_holds(matcher, text, value, event),
        _ => matcher.matches(value, event),
    }
}

/// `matcher.matches(value, event)` for `value`, the ASCII string `text`.
fn ascii_holds(
    matcher: &CompiledMatcher,
    text: &str,
    value: &EventValue<'_>,
    event: &impl Event,
) -> bool {
    match matcher {
        CompiledMatcher::Exact {
            value: expected,
            case_insensitive,
        } => {
            if *case_insensitive {
                lower_equals(text.as_bytes(), expected.as_bytes())
            } else {
                text == expected
            }
        }
        CompiledMatcher::StartsWith {
            value: prefix,
            case_insensitive,
        } => {
            if *case_insensitive {
                text.as_bytes()
                    .get(..prefix.len())
                    .is_some_and(|head| lower_equals(head, prefix.as_bytes()))
            } else {
                text.starts_with(prefix.as_str())
            }
        }
        CompiledMatcher::EndsWith {
            value: suffix,
            case_insensitive,
        } => {
            if *case_insensitive {
                text.len()
                    .checked_sub(suffix.len())
                    .and_then(|at| text.as_bytes().get(at..))
                    .is_some_and(|tail| lower_equals(tail, suffix.as_bytes()))
            } else {
                text.ends_with(suffix.as_str())
            }
        }
        CompiledMatcher::Contains {
            value: needle,
            case_insensitive,
        } => {
            if *case_insensitive {
                with_lowered(text, |lowered| lowered.contains(needle.as_str()))
                    .unwrap_or_else(|| matcher.matches(value, event))
            } else {
                text.contains(needle.as_str())
            }
        }
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => {
            with_lowered(text, |lowered| group_holds(children, *mode, lowered))
                .flatten()
                .unwrap_or_else(|| matcher.matches(value, event))
        }
        CompiledMatcher::Not(inner) => !ascii_holds(inner, text, value, event),
        CompiledMatcher::AnyOf(matchers) => {
            matchers.iter().any(|m| ascii_holds(m, text, value, event))
        }
        CompiledMatcher::AllOf(matchers) => {
            matchers.iter().all(|m| ascii_holds(m, text, value, event))
        }
        _ => matcher.matches(value, event),
    }
}

/// Whether `text` (ASCII), lowercased, is `lowered` byte for byte: `text.to_lowercase() ==
/// lowered` without the new string. A non-ASCII byte of `lowered` matches no ASCII byte, as
/// in the string comparison. (Byte for byte it is `to_ascii_lowercase` equality for any
/// bytes; only for ASCII `text` is that the Unicode lowercasing.)
///
/// Eight bytes at a time: this decides every case-insensitive `Operation`, extension and
/// path comparison of a candidate rule, and byte by byte it was a loop of a dozen
/// instructions per byte (a quarter of rule evaluation with the built-in pack).
fn lower_equals(text: &[u8], lowered: &[u8]) -> bool {
    if text.len() != lowered.len() {
        return false;
    }
    let (text, lowered) = (text.chunks_exact(8), lowered.chunks_exact(8));
    // Equal lengths: remainders of equal length, padded alike with zeros (which lower to
    // themselves) into one more word each.
    let (text_rest, lowered_rest) = (word(text.remainder()), word(lowered.remainder()));
    text.zip(lowered)
        .all(|(a, b)| lower_word(word(a)) == word(b))
        && lower_word(text_rest) == lowered_rest
}

/// Up to eight bytes as one word, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    let mut eight = [0u8; 8];
    if let Some(head) = eight.get_mut(..bytes.len()) {
        head.copy_from_slice(bytes);
    }
    u64::from_le_bytes(eight)
}

/// `to_ascii_lowercase` of each of the eight bytes of `x`.
const fn lower_word(x: u64) -> u64 {
    const LANES: u64 = 0x0101_0101_0101_0101;
    // Each byte's low seven bits: below 0x80, so no sum below carries into the next byte.
    let low = x & (LANES * 0x7F);
    // Bit 7 of each byte: set where the low bits are at least `A`, and where above `Z`.
    let at_least_a = low + LANES * (0x80 - b'A' as u64);
    let above_z = low + LANES * (0x80 - b'Z' as u64 - 1);
    // A capital is in that range and has bit 7 clear itself (a byte from 0x80 up is no
    // ASCII letter, and stays as it is).
    let upper = at_least_a & !above_z & !x & (LANES * 0x80);
    // 0x80 >> 2 is 0x20, the case bit.
    x | (upper >> 2)
}

/// The longest value lowered on the stack; a longer one is left to rsigma.
const LOWERED_MAX: usize = 1024;

/// `f` of `text` (ASCII) lowercased, built on the stack; `None` when `text` is longer than
/// [`LOWERED_MAX`].
fn with_lowered<R>(text: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    let mut buffer = [0u8; LOWERED_MAX];
    let lowered = buffer.get_mut(..text.len())?;
    lowered.copy_from_slice(text.as_bytes());
    lowered.make_ascii_lowercase();
    // ASCII in, ASCII out: always UTF-8.
    std::str::from_utf8(lowered).ok().map(f)
}

/// rsigma's pre-lowered group over `lowered`; `None` for a child shape it is not known to
/// hold (rsigma's own evaluation decides those).
fn group_holds(children: &[CompiledMatcher], mode: GroupMode, lowered: &str) -> Option<bool> {
    for child in children {
        let holds = pre_lowered_holds(child, lowered)?;
        match mode {
            GroupMode::Any if holds => return Some(true),
            GroupMode::All if !holds => return Some(false),
            _ => {}
        }
    }
    Some(matches!(mode, GroupMode::All))
}

/// rsigma's `matches_pre_lowered` for the shapes its optimiser puts in a group.
fn pre_lowered_holds(matcher: &CompiledMatcher, lowered: &str) -> Option<bool> {
    Some(match matcher {
        CompiledMatcher::Contains {
            value,
            case_insensitive: true,
        } => lowered.contains(value.as_str()),
        CompiledMatcher::StartsWith {
            value,
            case_insensitive: true,
        } => lowered.starts_with(value.as_str()),
        CompiledMatcher::EndsWith {
            value,
            case_insensitive: true,
        } => lowered.ends_with(value.as_str()),
        CompiledMatcher::Exact {
            value,
            case_insensitive: true,
        } => lowered == value,
        CompiledMatcher::AhoCorasickSet {
            automaton,
            case_insensitive: true,
            ..
        } => automaton.is_match(lowered),
        CompiledMatcher::Regex(regex) => regex.is_match(lowered),
        CompiledMatcher::Not(inner) => !pre_lowered_holds(inner, lowered)?,
        CompiledMatcher::AnyOf(matchers) => group_holds(matchers, GroupMode::Any, lowered)?,
        CompiledMatcher::AllOf(matchers) => group_holds(matchers, GroupMode::All, lowered)?,
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => {
            group_holds(children, *mode, lowered)?
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
