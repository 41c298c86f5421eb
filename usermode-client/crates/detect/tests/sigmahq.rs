//! The loading policy and Sigma's field semantics on real SigmaHQ content (a pinned subset in
//! `tests/data/sigmahq`, see its NOTICE.md): what could run is loaded and tested, what could
//! never apply is skipped with a warning naming the file and the reason.

use std::path::{Path, PathBuf};

use picket_detect::{check_dir, read_dir, RuleSet, Severity};

fn subset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigmahq")
}

/// The subset copied into a temporary directory with rule tests for the `file_access` rules.
fn subset_with_tests() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy(&subset(), dir.path());
    std::fs::write(
        dir.path().join("file_access.tests.yml"),
        r"tests:
  - name: CREDHIST read by a tool in the user's folder
    rule: 7a2a22ea-a203-4cd3-9abf-20eb1c5c6cd2
    expect: match
    events:
      - {op: open, target: 'C:\Users\a\AppData\Roaming\Microsoft\Protect\CREDHIST', image: 'C:\Users\a\m.exe'}
  - name: CREDHIST read by explorer
    rule: 7a2a22ea-a203-4cd3-9abf-20eb1c5c6cd2
    expect: no_match
    events:
      - {op: open, target: 'C:\Users\a\AppData\Roaming\Microsoft\Protect\CREDHIST', image: 'C:\Windows\explorer.exe'}
  - name: DPAPI master key read by a tool
    rule: 46612ae6-86be-4802-bc07-39b59feb1309
    expect: match
    events:
      - {op: open, target: 'C:\Users\a\AppData\Roaming\Microsoft\Protect\S-1-5-21-1-2-3-1001\k', image: 'C:\Users\a\m.exe'}
  - name: another file read by a tool
    rule: 46612ae6-86be-4802-bc07-39b59feb1309
    expect: no_match
    events:
      - {op: open, target: 'C:\Users\a\notes.txt', image: 'C:\Users\a\m.exe'}
",
    )
    .unwrap();
    dir
}

fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn a_sigmahq_checkout_loads_what_could_run_and_names_what_it_skips() {
    let problems = check_dir(&subset()).unwrap();
    assert!(
        problems.iter().all(|p| p.severity == Severity::Warning),
        "{problems:#?}"
    );
    let reason_for = |file: &str| {
        problems
            .iter()
            .filter(|p| p.file.ends_with(file))
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert!(reason_for("info.yml").contains("not a Sigma rule"));
    assert!(reason_for("generic_brute_force.yml").contains("'deprecated' folder"));
    // process_creation runs on process start events: loaded, not skipped.
    assert!(!reason_for("proc_creation_win_7zip_exfil_dmp_files.yml").contains("skipped"));
    let set = RuleSet::compile(read_dir(&subset()).unwrap()).unwrap();
    assert_eq!(
        set.rule_count(),
        3,
        "the two file_access rules and the file_event rule"
    );
    assert_eq!(set.process_rule_count(), 1, "the process_creation rule");
}

#[test]
fn file_access_rules_read_file_name_as_the_full_path() {
    // The rule tests run at load: they fail unless FileName is the full path here.
    let dir = subset_with_tests();
    let set = RuleSet::load(read_dir(dir.path()).unwrap()).unwrap_or_else(|r| panic!("{r:#?}"));
    assert_eq!(set.test_count(), 4);
}
