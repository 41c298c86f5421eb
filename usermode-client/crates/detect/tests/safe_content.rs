//! Safe content deployment: problems point at file, line and rule; loading is all or nothing;
//! a refused update keeps the running set and the last good copy on disk; hot reload on file
//! change and SIGHUP; content sampling in `prepare`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RULE;
use picket_detect::reload::{self, ReloadOutcome, Reloader};
use picket_detect::{
    builtin_files, check_dir, store, DetectorOptions, Problem, RuleSet, Severity, SigmaDetector,
    StartedWith,
};
use picket_model::{Detector, Host, Operation};

const TESTS: &str = "tests:
  - name: payload dropped
    rule: test-payload
    expect: match
    events:
      - {op: create, target: 'C:\\x\\payload.exe'}
  - name: other files
    rule: test-payload
    expect: no_match
    events:
      - {op: create, target: 'C:\\x\\readme.txt'}
";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn good_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "payload.yml", RULE);
    write(dir.path(), "payload.tests.yml", TESTS);
    dir
}

fn errors(problems: &[Problem]) -> Vec<&Problem> {
    problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .collect()
}

#[test]
fn a_good_directory_checks_clean() {
    let dir = good_dir();
    assert_eq!(check_dir(dir.path()).unwrap(), vec![]);
}

#[test]
fn problems_name_file_line_and_rule() {
    let dir = good_dir();
    // RULE is lines 1-9, the separator line 10; the typo is on line 17.
    let typo = format!(
        "{RULE}---\ntitle: Typo\nid: test-typo\nlogsource:\n  category: file_event\ndetection:\n  selection:\n    TargetFileName: x\n  condition: selection\n"
    );
    write(dir.path(), "payload.yml", &typo);
    let problems = check_dir(dir.path()).unwrap();
    let file = dir.path().join("payload.yml").display().to_string();
    let typo_problem = problems
        .iter()
        .find(|p| p.message.contains("unknown field 'TargetFileName'"))
        .expect("typo reported");
    assert_eq!(typo_problem.file, file);
    assert_eq!(typo_problem.line, 17);
    assert_eq!(typo_problem.rule.as_deref(), Some("test-typo"));
    assert_eq!(typo_problem.severity, Severity::Warning);
    assert!(typo_problem
        .to_string()
        .starts_with(&format!("{file}:17: warning [rule test-typo]")));
    // A typo in a tested rule is an error: its positive test fails.
    let tested_typo = RULE.replace("TargetFilename|endswith", "TargetFileName|endswith");
    write(dir.path(), "payload.yml", &tested_typo);
    let problems = check_dir(dir.path()).unwrap();
    let failing = errors(&problems);
    assert_eq!(failing.len(), 1, "{problems:#?}");
    assert!(
        failing[0].message.contains("expected a match"),
        "{}",
        failing[0]
    );
}

#[test]
fn yaml_errors_untested_rules_failing_tests_and_duplicates_are_errors() {
    let dir = good_dir();
    write(
        dir.path(),
        "broken.yml",
        "title: x\nid: broken\ndetection: [\n",
    );
    write(
        dir.path(),
        "untested.yml",
        &RULE.replace("test-payload", "test-untested"),
    );
    write(dir.path(), "dup.yml", RULE);
    write(
        dir.path(),
        "wrong.tests.yml",
        &TESTS
            .replace("expect: no_match", "expect: match")
            .replace("payload dropped", "x")
            .replace("other files", "readme is a payload"),
    );
    let problems = check_dir(dir.path()).unwrap();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(has("broken.yml:4: error"), "{text:#?}");
    assert!(has("duplicate rule id"), "{text:#?}");
    assert!(has("warning [rule test-untested]: no test"), "{text:#?}");
    assert_eq!(errors(&problems).len(), 2, "{text:#?}");

    // A failing test alone (everything else valid) is reported with the test's line.
    let dir = good_dir();
    write(
        dir.path(),
        "payload.tests.yml",
        &TESTS.replace("'C:\\x\\readme.txt'", "'C:\\y\\payload.exe'"),
    );
    let problems = check_dir(dir.path()).unwrap();
    assert_eq!(errors(&problems).len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!((p.line, p.rule.as_deref()), (7, Some("test-payload")));
    assert!(p.message.contains("expected no match"), "{p}");
}

#[test]
fn rules_for_other_logsources_are_skipped_with_a_warning() {
    let dir = good_dir();
    write(
        dir.path(),
        "proc.yml",
        "title: p\nid: test-net\nlogsource:\n  product: windows\n  category: network_connection\ndetection:\n  s:\n    Image|endswith: '\\x.exe'\n  condition: s\n",
    );
    let problems = check_dir(dir.path()).unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].severity, Severity::Warning);
    assert_eq!(problems[0].line, 3);
    assert!(problems[0].message.contains("network_connection"));
    let set = RuleSet::load(picket_detect::read_dir(dir.path()).unwrap()).unwrap();
    assert_eq!(set.rule_count(), 1);
    assert_eq!(set.process_rule_count(), 0);
}

#[test]
fn process_creation_rules_load_beside_the_file_rules() {
    let dir = good_dir();
    write(
        dir.path(),
        "proc.yml",
        "title: p\nid: test-proc\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  s:\n    Image|endswith: '\\x.exe'\n    ParentImage|endswith: '\\explorer.exe'\n    IntegrityLevel: High\n  condition: s\n",
    );
    let problems = check_dir(dir.path()).unwrap();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 1, "{text:#?}");
    assert_eq!(problems[0].severity, Severity::Warning);
    assert!(
        problems[0].message.contains("'IntegrityLevel'"),
        "{text:#?}"
    );
    let set = RuleSet::load(picket_detect::read_dir(dir.path()).unwrap()).unwrap();
    assert_eq!((set.rule_count(), set.process_rule_count()), (1, 1));
}

#[test]
fn a_refused_update_keeps_the_running_set_and_the_last_good_copy() {
    let rules = good_dir();
    let state = tempfile::tempdir().unwrap();
    let options = DetectorOptions {
        rules_dir: Some(rules.path().to_path_buf()),
        state_dir: Some(state.path().to_path_buf()),
        ..DetectorOptions::default()
    };
    let (mut detector, started) = SigmaDetector::start(options.clone()).unwrap();
    assert!(matches!(started, StartedWith::Directory(_)));
    let running = Arc::clone(detector.rule_set());
    let saved = store::last_good_dir(state.path()).expect("last good saved");
    assert_eq!(picket_detect::read_dir(&saved).unwrap().len(), 2);

    // A bad update: a rule that does not parse.
    write(
        rules.path(),
        "payload.yml",
        &RULE.replace("condition: selection", "condition: selection and"),
    );
    assert!(!detector.apply(reload::load(rules.path())));
    assert!(
        Arc::ptr_eq(detector.rule_set(), &running),
        "running set unchanged"
    );
    let kept = picket_detect::read_dir(&saved).unwrap();
    assert!(
        kept.iter().any(|f| f.text == RULE),
        "last good copy unchanged"
    );

    // Alerts keep flowing from the running set.
    let mut event = test_event(Host::Windows, Operation::Create, "C:\\x\\payload.exe");
    let mut alerts = Vec::new();
    detector.prepare(&mut event);
    detector.on_event(&event, &mut alerts);
    assert_eq!(alerts.len(), 1);

    // A restart with the broken directory runs the last good copy.
    let (restarted, started) = SigmaDetector::start(options.clone()).unwrap();
    match started {
        StartedWith::LastGood { dir, refused } => {
            assert_eq!(dir, saved);
            assert!(!refused.problems.is_empty());
        }
        other => panic!("expected the last good set, got {other:?}"),
    }
    assert_eq!(restarted.rule_set().rule_count(), 1);

    // A good update goes live and becomes the last good copy.
    write(
        rules.path(),
        "payload.yml",
        &RULE.replace("level: high", "level: critical"),
    );
    assert!(detector.apply(reload::load(rules.path())));
    assert!(!Arc::ptr_eq(detector.rule_set(), &running));
    let kept = picket_detect::read_dir(&saved).unwrap();
    assert!(kept.iter().any(|f| f.text.contains("level: critical")));

    // Without a last good copy, a broken directory is an error.
    let empty_state = tempfile::tempdir().unwrap();
    write(rules.path(), "payload.yml", "title: [");
    let options = DetectorOptions {
        state_dir: Some(empty_state.path().to_path_buf()),
        ..options
    };
    assert!(SigmaDetector::start(options).is_err());
}

fn wait_for(reloader: &Reloader) -> ReloadOutcome {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(outcome) = reloader.poll() {
            return outcome;
        }
        assert!(Instant::now() < deadline, "no reload within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hot_reload_on_file_change_and_on_sighup() {
    let rules = good_dir();
    let reloader = Reloader::spawn(rules.path().to_path_buf(), Duration::from_millis(100)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        reloader.poll().is_none(),
        "nothing changed, nothing reloaded"
    );

    write(
        rules.path(),
        "payload.yml",
        &RULE.replace("level: high", "level: low"),
    );
    match wait_for(&reloader) {
        ReloadOutcome::Loaded(set) => assert_eq!(set.rule_count(), 1),
        ReloadOutcome::Refused(r) => panic!("{r}"),
    }
    write(rules.path(), "payload.yml", "title: [");
    assert!(matches!(wait_for(&reloader), ReloadOutcome::Refused(_)));

    #[cfg(unix)]
    {
        write(rules.path(), "payload.yml", RULE);
        let _ = wait_for(&reloader);
        signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
        assert!(
            matches!(wait_for(&reloader), ReloadOutcome::Loaded(_)),
            "SIGHUP reloads"
        );
    }
}

#[test]
fn prepare_samples_entropy_of_modified_local_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob.bin");
    let bytes: Vec<u8> = (0..8192_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    let options = DetectorOptions {
        entropy: true,
        ..DetectorOptions::default()
    };
    let (mut detector, _) = SigmaDetector::start(options).unwrap();
    let local = if cfg!(windows) {
        Host::Windows
    } else {
        Host::Linux
    };
    let path = path.display().to_string();
    let mut modified = test_event(local, Operation::CloseModified, &path);
    detector.prepare(&mut modified);
    assert!(
        modified.entropy.is_some_and(|h| h > 7.0),
        "{:?}",
        modified.entropy
    );
    let mut opened = test_event(local, Operation::Open, &path);
    detector.prepare(&mut opened);
    assert_eq!(opened.entropy, None, "only after close_modified");

    let (mut off, _) = SigmaDetector::start(DetectorOptions::default()).unwrap();
    let mut modified = test_event(local, Operation::CloseModified, &path);
    off.prepare(&mut modified);
    assert_eq!(modified.entropy, None, "sampling is opt-in");
}

#[test]
fn the_builtin_pack_exports_and_reloads_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    for file in builtin_files() {
        write(dir.path(), &file.relative.display().to_string(), &file.text);
    }
    // Cost warnings (rules the prefilter cannot skip) are information, not problems.
    let problems: Vec<Problem> = check_dir(dir.path())
        .unwrap()
        .into_iter()
        .filter(|p| !picket_detect::is_cost_warning(p))
        .collect();
    assert_eq!(problems, vec![]);
}

fn test_event(host: Host, operation: Operation, path: &str) -> picket_model::FileEvent {
    picket_model::FileEvent {
        seq: 1,
        time: picket_model::Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
        host,
        operation,
        process: Arc::new(picket_model::ProcessInfo::default()),
        thread_id: 0,
        target: picket_detect::ruletest::file_path(path, host),
        source: None,
        details: picket_model::Details::default(),
        entropy: None,
    }
}
