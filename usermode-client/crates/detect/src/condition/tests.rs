use super::*;
use proptest::prelude::*;
use rsigma_eval::{CompiledRule, JsonEvent};

/// A rule whose detections use every matcher shape the fast path takes, and some it leaves
/// to rsigma, over the fields `A` and `B`.
const RULE: &str = r#"
title: every shape
logsource:
  category: file_event
detection:
  exact:
    A: 'Close_Modified'
  exact_cased|cased:
    A: 'Close_Modified'
  starts:
    A|startswith: 'C:\Users\'
  ends:
    A|endswith: '.EXE'
  contains:
    A|contains: '\AppData\'
  list_ends:
    A|endswith:
      - '.docx'
      - '.Xlsx'
      - '.pdf'
  list_contains:
    A|contains:
      - '\temp\'
      - 'İstanbul'
      - 'σ'
  list_mixed:
    A|startswith: '\\?\'
    A|contains|all:
      - 'a'
      - 'B'
  not_listed:
    - A|endswith: '.txt'
    - B: 'x*y'
  regex:
    A|re: '(?i)^c:\\w'
  wild:
    A: 'c:\*\a?c'
  numeric:
    B|gt: 3
  exists:
    B|exists: true
  fieldref:
    A|fieldref|startswith: B
  keywords:
    - 'needle'
    - 'Istanbul'
  aho:
    A|contains:
      - 'one'
      - 'two'
      - 'three'
      - 'four'
      - 'FIVE'
      - 'six'
      - 'seven'
      - 'eight'
      - '\temp\'
  regexes:
    A|re:
      - '^c:'
      - 'exe$'
      - 'σ'
  regex_i:
    A|re|i: 'APPDATA'
  cased_parts:
    - A|contains|cased: 'AppData'
    - A|startswith|cased: 'C:'
    - A|endswith|cased: '.EXE'
  absent:
    C|exists: false
  null_value:
    C: null
  empty:
    A: ''
  condition: 1 of them
"#;

/// Whole conditions over the selections above, each compared as one expression.
const CONDITIONS: &[&str] = &[
    "exact and not ends",
    "(starts or contains) and not regex",
    "1 of list_*",
    "all of list_*",
    "not (aho or regexes) and absent",
    "1 of them",
    "all of them",
    "missing or empty",
];

fn compiled() -> CompiledRule {
    let rule = rsigma_parser::parse_sigma_yaml(RULE)
        .unwrap()
        .rules
        .remove(0);
    rsigma_eval::compile_rule(&rule).unwrap()
}

/// Values made to hit the needles above in every case, with non-ASCII letters whose
/// lowercase changes length (`İ`), Greek final sigma, and plain noise.
fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("close_modified".to_owned()),
        Just("Close_Modified".to_owned()),
        Just("CLOSE_MODIFIED".to_owned()),
        Just("C:\\Users\\".to_owned()),
        Just("c:\\users\\".to_owned()),
        Just("\\AppData\\".to_owned()),
        Just("\\APPDATA\\".to_owned()),
        Just(".exe".to_owned()),
        Just(".EXE".to_owned()),
        Just(".XLSX".to_owned()),
        Just(".docx".to_owned()),
        Just("\\Temp\\".to_owned()),
        Just("İSTANBUL".to_owned()),
        Just("istanbul".to_owned()),
        Just("Σ".to_owned()),
        Just("\\\\?\\".to_owned()),
        Just("needle".to_owned()),
        Just("x-y".to_owned()),
        Just("7".to_owned()),
        "[a-zA-Z\\\\.:?*]{0,6}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..5).prop_map(|parts| parts.concat())
}

fn event(a: &str, b: Option<&str>) -> serde_json::Value {
    match b {
        Some(b) => serde_json::json!({ "A": a, "B": b }),
        None => serde_json::json!({ "A": a }),
    }
}

/// `B` as a number or a boolean, and `C` present as null or as text.
fn typed_event(a: &str, b: serde_json::Value, c: Option<serde_json::Value>) -> serde_json::Value {
    let mut event = serde_json::json!({ "A": a, "B": b });
    if let Some(c) = c {
        event["C"] = c;
    }
    event
}

/// Each selection of `rule`, and each of [`CONDITIONS`], decided here and by rsigma.
fn both(rule: &CompiledRule, event: &JsonEvent<'_>) -> Vec<(String, bool, bool)> {
    let mut names: Vec<&String> = rule.detections.keys().collect();
    names.sort();
    let selections = names
        .into_iter()
        .map(|name| (name.clone(), ConditionExpr::Identifier(name.clone())));
    let conditions = CONDITIONS.iter().map(|text| {
        let expr = rsigma_parser::parse_condition(text).unwrap();
        ((*text).to_owned(), expr)
    });
    selections
        .chain(conditions)
        .map(|(name, expr)| {
            let here = Condition::resolve(&expr, &rule.detections).holds(
                &rule.detections,
                event,
                &mut Vec::new(),
            );
            let theirs = rsigma_eval::compiler::eval_condition(
                &expr,
                &rule.detections,
                event,
                &mut Vec::new(),
            );
            (name, here, theirs)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_rsigma(a in value(), b in prop::option::of(value())) {
        let rule = compiled();
        let json = event(&a, b.as_deref());
        let event = JsonEvent::borrow(&json);
        for (name, here, theirs) in both(&rule, &event) {
            prop_assert_eq!(here, theirs, "selection {} on A={:?} B={:?}", name, a, b);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn agrees_with_rsigma_on_other_value_types(
        a in value(),
        b in prop_oneof![
            any::<i32>().prop_map(serde_json::Value::from),
            any::<f32>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
        ],
        c in prop::option::of(prop_oneof![
            Just(serde_json::Value::Null),
            value().prop_map(serde_json::Value::from),
        ]),
    ) {
        let rule = compiled();
        let json = typed_event(&a, b, c);
        let event = JsonEvent::borrow(&json);
        for (name, here, theirs) in both(&rule, &event) {
            prop_assert_eq!(here, theirs, "{} on {}", name, json);
        }
    }
}

#[test]
fn every_shape_is_decided_both_ways_somewhere() {
    // The values the property test draws do reach both answers of the selections it
    // checks (else it would compare two `false`s).
    let rule = compiled();
    let cases = [
        ("CLOSE_MODIFIED", None),
        ("C:\\Users\\x\\AppData\\a.EXE", Some("C:")),
        ("c:\\temp\\σ.DOCX", Some("9")),
        ("\\\\?\\aB", None),
        ("needle", Some("x-y")),
        ("\\tmp\\FIVE.exe", None),
        ("x.EXE", None),
    ];
    let mut seen: HashMap<String, (bool, bool)> = HashMap::new();
    for (a, b) in cases {
        let json = event(a, b);
        for (name, here, theirs) in both(&rule, &JsonEvent::borrow(&json)) {
            assert_eq!(here, theirs, "{name} on {a:?}");
            let entry = seen.entry(name).or_default();
            if here {
                entry.0 = true;
            } else {
                entry.1 = true;
            }
        }
    }
    for name in [
        "exact",
        "starts",
        "ends",
        "contains",
        "list_ends",
        "list_contains",
        "aho",
        "regexes",
        "exact and not ends",
        "1 of list_*",
    ] {
        assert_eq!(seen[name], (true, true), "{name} both matched and missed");
    }
}

#[test]
fn names_are_resolved_once_and_unknown_ones_left_to_rsigma() {
    let rule = compiled();
    let parsed = |text: &str| rsigma_parser::parse_condition(text).unwrap();
    let resolved = Condition::resolve(&parsed("exact and not missing"), &rule.detections);
    let Condition::And(parts) = &resolved else {
        panic!("an and stays an and: {resolved:?}");
    };
    assert!(matches!(parts[0], Condition::Selection(_)));
    let Condition::Not(inner) = &parts[1] else {
        panic!("a not stays a not");
    };
    assert!(matches!(**inner, Condition::Rsigma(_)));
    let json = event("close_modified", None);
    // `missing` is not defined: false, so `not missing` holds.
    assert!(resolved.holds(&rule.detections, &JsonEvent::borrow(&json), &mut Vec::new()));
    assert!(matches!(
        Condition::resolve(&parsed("1 of list_*"), &rule.detections),
        Condition::Rsigma(_)
    ));
}

#[test]
fn values_around_the_stack_buffer_are_decided_alike() {
    let rule = compiled();
    let head = "C:\\Users\\x\\AppData\\";
    for len in [
        LOWERED_MAX - 1,
        LOWERED_MAX,
        LOWERED_MAX + 1,
        2 * LOWERED_MAX,
    ] {
        let value = format!("{head}{}.EXE", "a".repeat(len - head.len() - 4));
        assert_eq!(value.len(), len);
        let json = event(&value, None);
        for (name, here, theirs) in both(&rule, &JsonEvent::borrow(&json)) {
            assert_eq!(here, theirs, "{name} at {len} bytes");
        }
        assert_eq!(with_lowered(&value, |_| ()).is_some(), len <= LOWERED_MAX);
    }
}

/// The matcher kinds in `matcher`, by name.
fn kinds(matcher: &CompiledMatcher, out: &mut Vec<&'static str>) {
    out.push(match matcher {
        CompiledMatcher::AhoCorasickSet { .. } => "aho",
        CompiledMatcher::RegexSetMatch { .. } => "regex-set",
        CompiledMatcher::CaseInsensitiveGroup { .. } => "group",
        CompiledMatcher::Regex(_) => "regex",
        CompiledMatcher::FieldRef { .. } => "fieldref",
        CompiledMatcher::Null => "null",
        _ => "other",
    });
    match matcher {
        CompiledMatcher::Not(inner) => kinds(inner, out),
        CompiledMatcher::AnyOf(ms) | CompiledMatcher::AllOf(ms) => {
            ms.iter().for_each(|m| kinds(m, out));
        }
        CompiledMatcher::CaseInsensitiveGroup { children, .. } => {
            children.iter().for_each(|m| kinds(m, out));
        }
        _ => {}
    }
}

fn detection_kinds(detection: &CompiledDetection, out: &mut Vec<&'static str>) {
    match detection {
        CompiledDetection::AllOf(items) => items.iter().for_each(|i| kinds(&i.matcher, out)),
        CompiledDetection::AnyOf(parts) | CompiledDetection::And(parts) => {
            parts.iter().for_each(|d| detection_kinds(d, out));
        }
        _ => out.push("other"),
    }
}

#[test]
fn the_rule_has_the_shapes_rsigma_optimises_into() {
    let rule = compiled();
    let mut found = Vec::new();
    for detection in rule.detections.values() {
        detection_kinds(detection, &mut found);
    }
    for kind in ["aho", "regex-set", "group", "regex", "fieldref", "null"] {
        assert!(found.contains(&kind), "no {kind} matcher in {found:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// The word-at-a-time comparison is the byte-by-byte one: every ASCII byte against every
    /// byte (non-ASCII and upper-case ones included on the lowered side), at every length
    /// around the word size.
    #[test]
    fn lower_equals_is_the_bytewise_comparison(
        text in prop_oneof![
            prop::collection::vec(0u8..0x80, 0..40),
            prop::collection::vec(any::<u8>(), 0..40),
        ],
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        extra in prop::option::of(any::<u8>()),
    ) {
        let mut lowered = text.to_ascii_lowercase();
        for (at, byte) in flips {
            if !lowered.is_empty() {
                let i = at.index(lowered.len());
                lowered[i] = byte;
            }
        }
        // A length that differs is never equal, whatever the bytes.
        lowered.extend(extra);
        let bytewise = text.len() == lowered.len()
            && text.iter().zip(&lowered).all(|(a, b)| a.to_ascii_lowercase() == *b);
        prop_assert_eq!(super::lower_equals(&text, &lowered), bytewise);
        prop_assert!(super::lower_equals(&text, &text.to_ascii_lowercase()));
    }
}

#[test]
fn lower_word_lowers_exactly_the_ascii_capitals() {
    for byte in 0..=u8::MAX {
        let word = u64::from_le_bytes([byte; 8]);
        let expected = u64::from_le_bytes([byte.to_ascii_lowercase(); 8]);
        assert_eq!(super::lower_word(word), expected, "byte {byte:#x}");
    }
    // Neighbours do not disturb each other (the carry case a non-ASCII byte would make).
    for pair in [[0xC3, b'@'], [0xFF, b'Z'], [b'Z', 0xDA], [0x80, b'A']] {
        let mut bytes = [b'x'; 8];
        bytes[..2].copy_from_slice(&pair);
        let expected = u64::from_le_bytes(bytes.map(|b| b.to_ascii_lowercase()));
        assert_eq!(
            super::lower_word(u64::from_le_bytes(bytes)),
            expected,
            "{pair:x?}"
        );
    }
}
