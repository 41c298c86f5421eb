//! What the prefilter lets through: each optimisation must skip the rules it claims to skip
//! (the equal-matches test proves it never skips a match).

use std::sync::Arc;

use picket_detect::event::SigmaEvent;
use picket_detect::prefilter::Scratch;
use picket_detect::ruletest::file_path;
use picket_detect::RuleSet;
use picket_model::{Details, FileEvent, Host, Operation, ProcessInfo, ProcessKey, Timestamp};

fn set(detections: &[(&str, &str)]) -> RuleSet {
    let rules = detections
        .iter()
        .map(|(id, detection)| {
            let yaml = format!(
                "title: {id}\nid: {id}\nlogsource: {{product: windows}}\ndetection:\n{detection}"
            );
            let mut c = rsigma_parser::parse_sigma_yaml(&yaml).unwrap();
            assert!(c.errors.is_empty(), "{:?}", c.errors);
            c.rules.remove(0)
        })
        .collect();
    RuleSet::compile_untested(rules).unwrap()
}

fn event(operation: Operation, image: &str, path: &str) -> FileEvent {
    FileEvent {
        seq: 1,
        time: Timestamp::from_unix_nanos(1_780_000_000_000_000_000),
        host: Host::Windows,
        operation,
        process: Arc::new(ProcessInfo {
            key: ProcessKey {
                pid: 4242,
                start_key: 1,
            },
            image: Some(image.to_owned()),
            ..ProcessInfo::default()
        }),
        thread_id: 1,
        target: file_path(path, Host::Windows),
        source: None,
        details: Details::default(),
        entropy: None,
    }
}

/// (candidate ids, matching ids) of `event`; asserts the matches equal plain evaluation.
fn candidates(set: &RuleSet, event: &FileEvent) -> (Vec<String>, Vec<String>) {
    let view = SigmaEvent::new(event, false);
    let mut out = Vec::new();
    set.candidates(&view, &mut Scratch::default(), &mut out);
    let ids = |i: usize| set.rule_meta(i).id.clone();
    let plain = set.matches_plain(&view);
    assert_eq!(
        plain,
        set.matches(&view, &mut Scratch::default()),
        "{event:?}"
    );
    (
        out.into_iter().map(|i| ids(i as usize)).collect(),
        plain.into_iter().map(ids).collect(),
    )
}

const EXPLORER: &str = r"C:\Windows\explorer.exe";

#[test]
fn regex_needles_are_searched_in_folded_non_ascii_paths() {
    let set = set(&[
        (
            "cased",
            "  s:\n    TargetFilename|re: '\\\\sessionresume_[a-zA-Z]{8}$'\n  condition: s\n",
        ),
        (
            "folded",
            "  s:\n    TargetFilename|re|i: '\\\\SESSIONRESUME_[a-z]{8}$'\n  condition: s\n",
        ),
    ]);
    // A non-ASCII path without the literal: neither rule is a candidate.
    let e = event(
        Operation::Create,
        EXPLORER,
        r"C:\Users\Дмитрий\Documents\Отчёт.docx",
    );
    assert_eq!(candidates(&set, &e), (vec![], vec![]));
    // The literal in a non-ASCII path: both are candidates, both match.
    let e = event(
        Operation::Create,
        EXPLORER,
        r"C:\Users\Дмитрий\sessionresume_abcdefgh",
    );
    let both = vec!["cased".to_owned(), "folded".to_owned()];
    assert_eq!(candidates(&set, &e), (both.clone(), both));
    // Case-insensitively through the long s and the Kelvin sign: only `folded` matches,
    // and the folded path still makes it a candidate.
    let e = event(
        Operation::Create,
        EXPLORER,
        "C:\\Users\\Jörg\\ſESSIONRESUME_\u{212A}bcdefgh",
    );
    let (found, matched) = candidates(&set, &e);
    assert_eq!(matched, ["folded"]);
    assert!(found.contains(&"folded".to_owned()), "{found:?}");
}
