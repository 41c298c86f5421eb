//! `picket rules check` names every rule the prefilter cannot skip (no witness), as a
//! cost warning with its file, line and id, and only those.

use picket_detect::{cost_warnings, RuleSet, Severity};

fn rule(id: &str, detection: &str) -> rsigma_parser::SigmaRule {
    let yaml = format!(
        "title: {id}\nid: {id}\nlogsource: {{category: file_event, product: windows}}\ndetection:\n{detection}"
    );
    let mut c = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    c.rules.remove(0)
}

#[test]
fn rules_without_a_witness_are_named_as_a_cost() {
    let set = RuleSet::compile_untested(vec![
        rule(
            "cheap",
            "  s:\n    TargetFilename|endswith: '.hta'\n  condition: s\n",
        ),
        rule(
            "negation-only",
            "  f:\n    Image|endswith: '\\explorer.exe'\n  condition: not f\n",
        ),
        rule(
            "field-reference",
            "  s:\n    TargetFilename|fieldref: Image\n  condition: s\n",
        ),
        rule("number", "  s:\n    ProcessId: 4\n  condition: s\n"),
        rule(
            "homoglyph",
            "  s:\n    TargetFilename|contains: \"\\u0430\"\n  condition: s\n",
        ),
    ])
    .unwrap();
    let warnings = cost_warnings(&set);
    let mut named: Vec<&str> = warnings.iter().filter_map(|p| p.rule.as_deref()).collect();
    named.sort_unstable();
    // A field reference has a witness of its own: the two fields compared, folded.
    assert_eq!(named, ["negation-only", "number"]);
    for w in &warnings {
        assert_eq!(w.severity, Severity::Warning);
        assert!(picket_detect::is_cost_warning(w), "{w}");
    }
}
