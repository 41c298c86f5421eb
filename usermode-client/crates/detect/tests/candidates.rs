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

/// (candidate ids, matching ids) of `event`, sorted; asserts the matches equal plain evaluation.
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
    let mut found: Vec<String> = out.into_iter().map(|i| ids(i as usize)).collect();
    let mut matched: Vec<String> = plain.into_iter().map(ids).collect();
    found.sort();
    matched.sort();
    (found, matched)
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

#[test]
fn a_field_reference_is_a_candidate_only_when_the_fields_agree() {
    let set = set(&[
        (
            "own-image",
            "  s:\n    TargetFilename|fieldref: Image\n  condition: s\n",
        ),
        (
            "own-image-cased",
            "  s:\n    TargetFilename|fieldref|cased: Image\n  condition: s\n",
        ),
        (
            "under-image",
            "  s:\n    TargetFilename|fieldref|startswith: Image\n  condition: s\n",
        ),
        (
            "ends-like-image",
            "  s:\n    TargetFilename|fieldref|endswith: Image\n  condition: s\n",
        ),
        (
            "inside",
            "  s:\n    TargetFilename|fieldref|contains: Image\n  condition: s\n",
        ),
        (
            "missing",
            "  s:\n    TargetFilename|fieldref: CommandLine\n  condition: s\n",
        ),
    ]);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // Unrelated paths: nothing to evaluate.
    let image = r"C:\Users\bob\AppData\Local\Temp\setup.exe";
    let e = event(
        Operation::Delete,
        image,
        r"C:\Users\bob\Documents\report.docx",
    );
    assert_eq!(candidates(&set, &e), (vec![], vec![]));
    // The same path in another case: every relation holds except the cased one's engine
    // comparison (its witness, folded, still lets it through).
    let e = event(Operation::Delete, image, &image.to_uppercase());
    let (found, matched) = candidates(&set, &e);
    let all = ids(&[
        "ends-like-image",
        "inside",
        "own-image",
        "own-image-cased",
        "under-image",
    ]);
    assert_eq!(found, all);
    assert_eq!(
        matched,
        ids(&["ends-like-image", "inside", "own-image", "under-image"])
    );
    // Non-ASCII, differing in case only beyond ASCII.
    let image = r"C:\Users\Дмитрий\AppData\Local\Temp\ОТЧЁТ.exe";
    let e = event(Operation::Delete, image, &image.to_lowercase());
    let (found, matched) = candidates(&set, &e);
    assert_eq!(found, all);
    assert_eq!(
        matched,
        ids(&["ends-like-image", "inside", "own-image", "under-image"])
    );
    // A prefix, a suffix and an inner part.
    let e = event(
        Operation::Delete,
        image,
        &format!("{image}:Zone.Identifier"),
    );
    assert_eq!(
        candidates(&set, &e),
        (
            ids(&["inside", "under-image"]),
            ids(&["inside", "under-image"])
        )
    );
    let e = event(Operation::Delete, r"Temp\ОТЧЁТ.exe", image);
    assert_eq!(
        candidates(&set, &e),
        (
            ids(&["ends-like-image", "inside"]),
            ids(&["ends-like-image", "inside"])
        )
    );
}

#[test]
fn anchored_needles_are_checked_at_their_end_of_the_value() {
    let set = set(&[
        (
            "suffix",
            "  s:\n    TargetFilename|endswith: '.hta'\n  condition: s\n",
        ),
        (
            "prefix",
            "  s:\n    TargetFilename|startswith: 'C:\\PerfLogs\\'\n  condition: s\n",
        ),
        (
            "whole",
            "  s:\n    TargetFilename: 'C:\\Windows\\notepad.exe'\n  condition: s\n",
        ),
        (
            "exact-with-wildcard",
            "  s:\n    TargetFilename: 'C:\\Users\\\\*\\evil-dropper.exe'\n  condition: s\n",
        ),
        (
            "folded-suffix",
            "  s:\n    TargetFilename|endswith: 'Отчёт.DOCX'\n  condition: s\n",
        ),
    ]);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let check = |path: &str, expected: &[&str]| {
        let e = event(Operation::Create, EXPLORER, path);
        assert_eq!(
            candidates(&set, &e),
            (ids(expected), ids(expected)),
            "{path}"
        );
    };
    // Each literal elsewhere than at its end: no candidate.
    check(r"C:\x\a.hta.txt", &[]);
    check(r"D:\C:\PerfLogs\x", &[]);
    check(r"C:\Windows\notepad.exe.bak", &[]);
    check(r"D:\C:\Windows\notepad.exe", &[]);
    check(r"C:\Users\bob\evil-dropper.exe.txt", &[]);
    check(r"C:\Users\Дмитрий\Отчёт.docx.lnk", &[]);
    // At its end, in any case, ASCII or not.
    check(r"C:\x\A.HTA", &["suffix"]);
    check(r"c:\perflogs\x.exe", &["prefix"]);
    check(r"c:\windows\NOTEPAD.EXE", &["whole"]);
    check(r"C:\Users\bob\Evil-Dropper.exe", &["exact-with-wildcard"]);
    check(r"C:\Users\Дмитрий\ОТЧЁТ.docx", &["folded-suffix"]);
    // The Kelvin sign lower-cases to `k`: the folded suffix walk sees it.
    let set2 = crate::set(&[(
        "kelvin",
        "  s:\n    TargetFilename|endswith: '\\desk.lnk'\n  condition: s\n",
    )]);
    let e = event(Operation::Create, EXPLORER, "C:\\x\\DES\u{212A}.LNK");
    assert_eq!(candidates(&set2, &e), (ids(&["kelvin"]), ids(&["kelvin"])));
}

#[test]
fn wildcard_values_under_startswith_or_endswith_stay_unanchored() {
    // The engine builds a regex for these; the prefilter relies on no anchoring of it, so
    // the candidates stay a superset whatever the engine does with `^`/`$` there.
    let set = set(&[
        (
            "ends",
            "  s:\n    TargetFilename|endswith: '\\Temp\\\\*.ps1'\n  condition: s\n",
        ),
        (
            "starts",
            "  s:\n    TargetFilename|startswith: 'C:\\Users\\\\*\\Startup\\'\n  condition: s\n",
        ),
    ]);
    for path in [
        r"C:\Users\bob\AppData\Local\Temp\run.ps1",
        r"\Temp\run.ps1.bak",
        r"C:\Users\bob\Startup\x.lnk",
        r"x\Startup\C:\Users\bob\Startup\",
    ] {
        let e = event(Operation::Create, EXPLORER, path);
        let (found, matched) = candidates(&set, &e);
        assert!(matched.iter().all(|m| found.contains(m)), "{path}");
        assert!(!found.is_empty(), "{path}: the literal is there");
    }
}

#[test]
fn a_conjunction_of_lists_needs_a_needle_of_each() {
    let set = set(&[
        (
            "office-archive",
            "  image:\n    Image|endswith: ['\\winword.exe', '\\excel.exe']\n  target:\n    TargetFilename|endswith: ['.zip', '.rar']\n  condition: image and target\n",
        ),
        (
            "prefix-and-suffix",
            "  s:\n    TargetFilename|re: '\\\\Windows\\\\System32\\\\[a-zA-Z0-9]{8}\\.tmp$'\n  condition: s\n",
        ),
    ]);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let word = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE";
    let check = |image: &str, path: &str, expected: &[&str]| {
        let e = event(Operation::Create, image, path);
        assert_eq!(
            candidates(&set, &e),
            (ids(expected), ids(expected)),
            "{image} {path}"
        );
    };
    // One list without the other: nothing to evaluate.
    check(word, r"C:\Users\bob\Documents\report.docx", &[]);
    check(EXPLORER, r"C:\Users\bob\Documents\report.zip", &[]);
    check(
        word,
        r"C:\Users\bob\Documents\report.ZIP",
        &["office-archive"],
    );
    // A regex's prefix literal without its suffix literal, and the reverse.
    check(EXPLORER, r"C:\Windows\System32\config\SYSTEM.LOG1", &[]);
    check(EXPLORER, r"C:\Windows\Temp\abcdefgh.tmp", &[]);
    check(
        EXPLORER,
        r"C:\Windows\System32\abcd1234.tmp",
        &["prefix-and-suffix"],
    );
}

#[test]
fn a_cased_value_is_a_witness_folded() {
    let set = set(&[(
        "cased",
        "  s:\n    TargetFilename|contains|cased: '\\Documents\\'\n  condition: s\n",
    )]);
    let ids = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let e = event(Operation::Create, EXPLORER, r"C:\Users\bob\Desktop\a.txt");
    assert_eq!(candidates(&set, &e), (vec![], vec![]));
    // Another case: a candidate (the witness is folded), not a match.
    let e = event(Operation::Create, EXPLORER, r"C:\Users\bob\DOCUMENTS\a.txt");
    assert_eq!(candidates(&set, &e), (ids(&["cased"]), vec![]));
    let e = event(Operation::Create, EXPLORER, r"C:\Users\bob\Documents\a.txt");
    assert_eq!(candidates(&set, &e), (ids(&["cased"]), ids(&["cased"])));
}

/// An operation is on a quarter of all events or more: a rule that also names extensions is
/// triggered by the extension, not by every event of its operation.
#[test]
fn an_operation_is_checked_with_the_rarer_parts_of_its_rule() {
    let set = set(&[(
        "rewritten-text",
        "  s:\n    Operation: close_modified\n    Entropy|gte: 7.5\n    FileExtension:\n      - txt\n      - csv\n      - log\n      - md\n      - json\n      - xml\n      - html\n      - ini\n  condition: s\n",
    )]);
    let other = event(Operation::CloseModified, EXPLORER, r"C:\data\f1.dat");
    assert_eq!(candidates(&set, &other), (vec![], vec![]));
    let opened = event(Operation::Open, EXPLORER, r"C:\data\notes.txt");
    assert_eq!(candidates(&set, &opened), (vec![], vec![]));
    let mut text = event(Operation::CloseModified, EXPLORER, r"C:\data\notes.txt");
    assert_eq!(candidates(&set, &text).0, ["rewritten-text"]);
    text.entropy = Some(7.9);
    assert_eq!(
        candidates(&set, &text),
        (
            vec!["rewritten-text".to_owned()],
            vec!["rewritten-text".to_owned()]
        )
    );
}

/// Values of one directory resume the unanchored walk where the directory ended: the needles
/// found must be a fresh scan's, whether they end inside the directory, across its last
/// separator or in the name, and whether the next value is in the same directory, under it,
/// beside it or not ASCII.
#[test]
fn a_scan_resumed_after_the_directory_finds_what_a_fresh_scan_finds() {
    let set = set(&[
        (
            "in-dir",
            "  s:\n    TargetFilename|contains: '\\AppData\\Roaming\\'\n  condition: s\n",
        ),
        (
            "across",
            "  s:\n    TargetFilename|contains: 'Roaming\\evil'\n  condition: s\n",
        ),
        (
            "in-name",
            "  s:\n    TargetFilename|contains: 'evil.d'\n  condition: s\n",
        ),
        (
            "deeper",
            "  s:\n    TargetFilename|contains: '\\Roaming\\sub\\x'\n  condition: s\n",
        ),
        (
            "both",
            "  s:\n    TargetFilename|contains|all: ['\\AppData\\', 'zz.']\n  condition: s\n",
        ),
    ]);
    let paths = [
        r"C:\Users\bob\AppData\Roaming\evil.dll",
        r"C:\Users\bob\AppData\Roaming\good.txt",
        r"C:\Users\bob\AppData\Roaming\evil.dat",
        r"C:\Users\bob\AppData\Roaming\sub\xzz.txt",
        r"C:\Users\bob\AppData\Roaming\sub\y.txt",
        r"C:\Users\bob\AppData\Roaming\zz.evil",
        r"C:\Users\bob\AppData\Local\evil.dll",
        r"C:\Users\bob\AppData\Roaming\Отчёт.txt",
        r"C:\Users\bob\AppData\Roaming\evil.doc",
        r"C:\Users\bob\AppData\Roamingevil.d",
        r"C:\Users\bob\AppData\Roaming\",
        r"C:\Users\bob\AppData\Roaming\evil.dll",
        r"C:\Temp\evil.dll",
        r"C:\Users\bob\AppData\Roaming\sub\x",
    ];
    let mut kept = Scratch::default();
    for round in 0..2 {
        for (i, path) in paths.iter().enumerate() {
            // Operations alternate, as a writer's do (and the remembered values with them).
            let operation = if i % 2 == 0 {
                Operation::Create
            } else {
                Operation::Delete
            };
            let e = event(operation, EXPLORER, path);
            let view = SigmaEvent::new(&e, false);
            let mut resumed = Vec::new();
            set.candidates(&view, &mut kept, &mut resumed);
            let mut fresh = Vec::new();
            set.candidates(&view, &mut Scratch::default(), &mut fresh);
            assert_eq!(resumed, fresh, "round {round}, {path}");
            let (_, matched) = candidates(&set, &e);
            let found: Vec<String> = resumed
                .iter()
                .map(|&i| set.rule_meta(i as usize).id.clone())
                .collect();
            assert!(
                matched.iter().all(|m| found.contains(m)),
                "{path}: {found:?} {matched:?}"
            );
        }
    }
    // The needles really are found where they end.
    let mut ids = |path: &str| {
        let e = event(Operation::Create, EXPLORER, path);
        let mut out = Vec::new();
        set.candidates(&SigmaEvent::new(&e, false), &mut kept, &mut out);
        let mut ids: Vec<String> = out
            .iter()
            .map(|&i| set.rule_meta(i as usize).id.clone())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(r"C:\Users\bob\AppData\Roaming\evil.dll"),
        ["across", "in-dir", "in-name"]
    );
    assert_eq!(ids(r"C:\Users\bob\AppData\Roaming\good.txt"), ["in-dir"]);
    assert_eq!(
        ids(r"C:\Users\bob\AppData\Roaming\sub\xzz.txt"),
        ["both", "deeper", "in-dir"]
    );
    assert_eq!(ids(r"C:\Users\bob\AppData\Roaming\sub\y.txt"), ["in-dir"]);
}
