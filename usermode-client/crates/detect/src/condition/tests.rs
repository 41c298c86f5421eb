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
  condition: 1 of them
"#;

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

/// Each selection of `rule` decided here and by rsigma.
fn both(rule: &CompiledRule, event: &JsonEvent<'_>) -> Vec<(String, bool, bool)> {
    let mut names: Vec<&String> = rule.detections.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let expr = ConditionExpr::Identifier(name.clone());
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
            (name.clone(), here, theirs)
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
fn long_values_are_left_to_rsigma_and_still_decided() {
    let rule = compiled();
    let long = format!("c:\\users\\{}\\appdata\\x.exe", "a".repeat(LOWERED_MAX));
    let json = event(&long, None);
    for (name, here, theirs) in both(&rule, &JsonEvent::borrow(&json)) {
        assert_eq!(here, theirs, "{name}");
    }
    assert!(with_lowered(&long, |_| ()).is_none());
}
