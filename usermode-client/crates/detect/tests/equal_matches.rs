//! The optimisation (logsource routing + per-field Aho-Corasick prefilter) must give exactly
//! the matches of plain evaluation (every rule whose logsource accepts the event, fully
//! evaluated), and of the rsigma engine as shipped. Checked on 300 synthetic rules of real
//! Sigma shapes plus hand-written edge cases (wildcards, negation, regex, `|all`, `|cased`,
//! non-ASCII case folding), over a large event stream; and on SigmaHQ's `rules/windows/file`
//! (pinned in `benches/sigmahq`) over realistic Windows events.

use picket_detect::event::{product, Category, SigmaEvent};
use picket_detect::prefilter::Scratch;
use picket_detect::{synth, workload, RuleSet};
use picket_model::FileEvent;
use rsigma_parser::LogSource;

const EDGE_CASES: &[&str] = &[
    // Wildcard value: compiled to a case-insensitive regex, which folds 'ſ' to 's'.
    "title: e1\nid: edge-1\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename: '*\\state.json'\n  condition: s\n",
    // Non-ASCII haystack whose lower-case form is ASCII (Kelvin sign).
    "title: e2\nid: edge-2\nlogsource: {product: windows}\ndetection:\n  s:\n    User|contains: 'kelvink'\n  condition: s\n",
    // Non-ASCII needle: no witness, always evaluated.
    "title: e3\nid: edge-3\nlogsource: {category: file_rename}\ndetection:\n  s:\n    TargetFilename|contains: 'ſtate'\n  condition: s\n",
    // Negation only: no witness.
    "title: e4\nid: edge-4\nlogsource: {category: file_delete}\ndetection:\n  s:\n    Image|endswith: '.exe'\n  condition: not s\n",
    // |all: any one value is a witness.
    "title: e5\nid: edge-5\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|contains|all: ['\\Users\\', 'picketsyn1']\n  condition: s\n",
    // |cased: an exact comparison, so its folded literal is a witness.
    "title: e6\nid: edge-6\nlogsource: {category: file_access}\ndetection:\n  s:\n    TargetFilename|contains|cased: 'Documents'\n  condition: s\n",
    // all of selection_*.
    "title: e7\nid: edge-7\nlogsource: {product: windows}\ndetection:\n  selection_a:\n    Image|endswith: '\\explorer.exe'\n  selection_b:\n    TargetFilename|endswith: '.docx'\n  condition: all of selection_*\n",
    // Exact match on an operation name and an extension.
    "title: e8\nid: edge-8\nlogsource: {product: linux}\ndetection:\n  s:\n    Operation: 'rename'\n    FileExtension: 'JSON'\n  condition: s\n",
    // Keywords: no witness.
    "title: e9\nid: edge-9\nlogsource: {category: file_change}\ndetection:\n  keywords:\n    - 'budget'\n  condition: keywords\n",
    // Regex.
    // The canary flag (its own witness).
    "title: e11\nid: edge-11\nlogsource: {product: windows}\ndetection:\n  s:\n    IsCanary: true\n  f:\n    Image|endswith: '\\explorer.exe'\n  condition: s and not f\n",
    "title: e10\nid: edge-10\nlogsource: {category: file_event}\ndetection:\n  s:\n    TargetFilename|re: '(?i)\\\\jörg\\\\'\n  condition: s\n",
    // Non-ASCII needles, plain and wildcard (Unicode case folding on both sides).
    "title: e12\nid: edge-12\nlogsource: {product: windows}\ndetection:\n  s:\n    User|contains: 'JÖRG'\n  condition: s\n",
    "title: e13\nid: edge-13\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename: '*\\JÖRG\\\\*'\n  condition: s\n",
    // Cross-field conjunction of two common literals.
    "title: e14\nid: edge-14\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename|contains: '\\Temp\\'\n    TargetFilename|endswith: '.tmp'\n    Image|endswith: '.exe'\n  condition: s\n",
    // `|re` needles on non-ASCII haystacks, searched in their folded form: case-insensitive
    // (the Kelvin sign and the long s match `k` and `s`) and case-sensitive.
    "title: e15\nid: edge-15\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename|re|i: '\\\\KELVINK\\\\[a-z]+\\\\STATE\\.JSON$'\n  condition: s\n",
    "title: e16\nid: edge-16\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename|re: '\\\\Desktop\\\\.*\\.json$'\n  condition: s\n",
    // Field references (a relation of two fields, folded, as witness), ASCII and not.
    "title: e17\nid: edge-17\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename|fieldref: Image\n  condition: s\n",
    "title: e18\nid: edge-18\nlogsource: {product: windows}\ndetection:\n  s:\n    SourceFilename|fieldref|startswith: TargetFilename\n  f:\n    FileName|fieldref|endswith: FileExtension\n  condition: s and f\n",
    // Anchored needles: the head and tail of an exact value with wildcards, a non-ASCII
    // prefix, and a whole value equal only through the Kelvin sign.
    "title: e19\nid: edge-19\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename: 'C:\\Users\\\\*\\Desktop\\\\*.json'\n  condition: s\n",
    "title: e20\nid: edge-20\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename|startswith: 'C:\\Users\\JÖRG\\'\n  condition: s\n",
    "title: e21\nid: edge-21\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename: 'C:\\USERS\\KELVINK\\DOCUMENTS\\ſTATE.JSON'\n  condition: s\n",
    // A wildcard value under endswith: rsigma 0.23 anchors its regex at the start instead
    // (`^\\Desktop\\.*\.json`), so it never fires on these paths; the prefilter relies on
    // neither anchoring and must agree whatever the engine does.
    "title: e22\nid: edge-22\nlogsource: {product: windows}\ndetection:\n  s:\n    TargetFilename|endswith: '\\Desktop\\\\*.json'\n  condition: s\n",
];

/// Asserts that the rsigma engine, given the event's logsource, matches exactly the rules of
/// `plain` (indexes into `set`) on `view`.
fn assert_engine_agrees(
    engine: &rsigma_eval::Engine,
    set: &RuleSet,
    view: &SigmaEvent<'_>,
    event: &FileEvent,
    plain: &[usize],
) {
    let logsource = LogSource {
        category: Some(Category::of(event.operation).as_str().to_owned()),
        product: Some(product(event.host).to_owned()),
        ..LogSource::default()
    };
    let mut by_engine: Vec<String> = engine
        .evaluate_with_logsource(view, &logsource)
        .into_iter()
        .filter_map(|r| r.header.rule_id)
        .collect();
    by_engine.sort();
    let mut ours: Vec<String> = plain.iter().map(|&i| set.rule_meta(i).id.clone()).collect();
    ours.sort();
    assert_eq!(ours, by_engine, "engine disagrees on {event:?}");
}

fn rules() -> Vec<rsigma_parser::SigmaRule> {
    let mut rules = synth::rules(300, 0x5eed);
    for yaml in EDGE_CASES {
        let mut c = rsigma_parser::parse_sigma_yaml(yaml).unwrap();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        rules.push(c.rules.remove(0));
    }
    rules
}

#[test]
fn optimised_plain_and_engine_match_sets_are_equal() {
    let rules = rules();
    let set = RuleSet::compile_untested(rules.clone()).expect("synthetic set compiles");
    let mut engine = rsigma_eval::Engine::new();
    for rule in &rules {
        engine.add_rule(rule).unwrap();
    }
    let events = synth::events(25_000, 300, 0xfeed);
    let mut scratch = Scratch::default();
    let mut total = 0_usize;
    let mut hit_events = 0_usize;
    for event in &events {
        // Every seventh event touches a canary.
        let view = SigmaEvent::new(event, event.seq % 7 == 0);
        let plain = set.matches_plain(&view);
        let optimised = set.matches(&view, &mut scratch);
        assert_eq!(plain, optimised, "event {event:?}");

        assert_engine_agrees(&engine, &set, &view, event, &plain);

        total += plain.len();
        hit_events += usize::from(!plain.is_empty());
    }
    // The stream must exercise the rules, or equality proves nothing.
    assert!(hit_events > 200, "only {hit_events} events matched");
    assert!(total >= hit_events);
    for id in [
        "edge-1", "edge-2", "edge-3", "edge-4", "edge-5", "edge-6", "edge-7", "edge-8", "edge-9",
        "edge-10", "edge-11", "edge-12", "edge-13", "edge-14", "edge-15", "edge-16", "edge-17",
        "edge-18", "edge-19", "edge-20", "edge-21",
    ] {
        let index = (0..set.rule_count())
            .find(|&i| set.rule_meta(i).id == id)
            .unwrap();
        let fired = events.iter().any(|e| {
            set.matches_plain(&SigmaEvent::new(e, e.seq % 7 == 0))
                .contains(&index)
        });
        assert!(
            fired,
            "edge case {id} never matched: the stream does not exercise it"
        );
    }
}

fn sigmahq_rules() -> Vec<rsigma_parser::SigmaRule> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sigmahq/rules/windows/file");
    let rules: Vec<_> = picket_detect::read_dir(&dir)
        .expect("the pinned SigmaHQ rules")
        .iter()
        .filter_map(|f| rsigma_parser::parse_sigma_yaml(&f.text).ok())
        .flat_map(|c| c.rules)
        .filter(|r| {
            r.id.is_some()
                && r.logsource
                    .category
                    .as_deref()
                    .is_none_or(|c| Category::from_name(c).is_some())
        })
        .collect();
    assert!(rules.len() > 150, "{} rules", rules.len());
    rules
}

#[test]
fn sigmahq_rules_on_realistic_events_match_as_plain_evaluation() {
    let rules = sigmahq_rules();
    let set = RuleSet::compile_untested(rules.clone()).expect("SigmaHQ set compiles");
    let mut engine = rsigma_eval::Engine::new();
    for rule in &rules {
        engine.add_rule(rule).unwrap();
    }
    let mut events = workload::events(25_000, 0x5197);
    // Events that hit the non-ASCII needles of the homoglyph rule, in upper and lower case.
    for (i, name) in ["Ѕеtup.exe", "ІNVOICE.pdf", "Αpple.txt", "ԜORD.docx"]
        .iter()
        .enumerate()
    {
        let mut e = events[i].clone();
        e.operation = picket_model::Operation::Create;
        e.target = picket_detect::ruletest::file_path(
            &format!(r"C:\Users\bob\Downloads\{name}"),
            picket_model::Host::Windows,
        );
        events.push(e);
    }
    let mut scratch = Scratch::default();
    let (mut total, mut hit_events) = (0_usize, 0_usize);
    let mut fired = std::collections::HashSet::new();
    for event in &events {
        let view = SigmaEvent::new(event, false);
        let plain = set.matches_plain(&view);
        assert_eq!(plain, set.matches(&view, &mut scratch), "event {event:?}");
        assert_engine_agrees(&engine, &set, &view, event, &plain);
        total += plain.len();
        hit_events += usize::from(!plain.is_empty());
        fired.extend(plain);
    }
    assert!(hit_events > 50, "only {hit_events} events matched");
    assert!(fired.len() >= 10, "only {} rules fired", fired.len());
    assert!(total >= hit_events);
    let homoglyph = (0..set.rule_count())
        .find(|&i| set.rule_meta(i).id == "4f1707b1-b50b-45b4-b5a2-3978b5a5d0d6")
        .expect("the homoglyph rule");
    assert!(
        fired.contains(&homoglyph),
        "the non-ASCII needles never hit"
    );
}
