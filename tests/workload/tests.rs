use serde_json::{json, Value};

use super::*;

fn shared_json() -> Value {
    let text = std::fs::read_to_string(default_path()).expect("read workload.json");
    serde_json::from_str(&text).expect("workload.json is JSON")
}

fn parse_value(value: &Value) -> Result<Workload, WorkloadError> {
    parse(&value.to_string())
}

/// Applies `edit` to the shared file and returns the loader's verdict.
fn mutated(edit: impl FnOnce(&mut Value)) -> WorkloadError {
    let mut value = shared_json();
    edit(&mut value);
    parse_value(&value).expect_err("the mutated workload must be rejected")
}

fn step_index(value: &Value, id: &str) -> usize {
    value["steps"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

#[test]
fn shared_workload_parses_and_is_consistent() {
    let w = load_default().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.format, model::FORMAT);
    // The issue's list of operations must all be exercised.
    let ops: Vec<&str> = w.steps.iter().map(|s| s.action.op_name()).collect();
    for op in [
        "create",
        "write",
        "rename",
        "hardlink",
        "truncate",
        "delete",
        "delete_on_close",
    ] {
        assert!(ops.contains(&op), "workload lacks a `{op}` step");
    }
    assert_eq!(w.ignored_for(Platform::Windows), &[Operation::Open]);
    assert!(w.ignored_for(Platform::Linux).contains(&Operation::Open));
}

#[test]
fn shared_workload_expectations_per_platform() {
    let w = load_default().unwrap();
    let render = |p: Platform| -> Vec<String> {
        w.expected_for(p)
            .map(|e| match &e.new_path {
                Some(n) => format!("{} {} -> {}", e.operation, e.path, n),
                None => format!("{} {}", e.operation, e.path),
            })
            .collect()
    };
    let windows = render(Platform::Windows);
    let linux = render(Platform::Linux);
    assert!(windows.contains(&"hardlink sub/beta.txt -> gamma.txt".to_owned()));
    assert!(windows.contains(&"truncate gamma.txt".to_owned()));
    // Both report the hard link with both names; only Windows sees a truncate as such.
    assert!(linux.contains(&"hardlink sub/beta.txt -> gamma.txt".to_owned()));
    assert!(!linux.contains(&"create gamma.txt".to_owned()));
    assert!(!linux.iter().any(|e| e.starts_with("truncate")));
    // Same rename on both.
    for list in [&windows, &linux] {
        assert!(list.contains(&"rename alpha.txt -> sub/beta.txt".to_owned()));
        assert_eq!(list.last().map(String::as_str), Some("delete sub"));
    }
}

#[test]
fn rel_path_rules() {
    assert!(RelPath::parse("sub/beta.txt").is_ok());
    for bad in [
        "",
        "/abs",
        "a\\b",
        "c:x",
        "a//b",
        "a/../b",
        "./a",
        "a/",
        "Upper.txt",
        "a\nb",
    ] {
        assert!(RelPath::parse(bad).is_err(), "{bad:?} must be rejected");
    }
    let p = RelPath::parse("sub/beta.txt").unwrap();
    assert_eq!(p.parent().unwrap().as_str(), "sub");
    assert_eq!(RelPath::parse("top").unwrap().parent(), None);
    assert_eq!(
        p.join_to(std::path::Path::new("base")),
        std::path::Path::new("base").join("sub").join("beta.txt")
    );
}

#[test]
fn rejects_unknown_fields_and_formats() {
    assert!(matches!(
        mutated(|v| v["extra"] = json!(1)),
        WorkloadError::Json(_)
    ));
    assert!(matches!(
        mutated(|v| v["steps"][0]["colour"] = json!("red")),
        WorkloadError::Json(_)
    ));
    assert!(matches!(
        mutated(|v| v["format"] = json!(2)),
        WorkloadError::UnsupportedFormat { found: 2, .. }
    ));
    assert!(matches!(
        mutated(|v| v["expected_events"][0]["operation"] = json!("chmod")),
        WorkloadError::Json(_)
    ));
}

#[test]
fn rejects_bad_step_fields() {
    let e = mutated(|v| v["steps"][0]["path"] = json!("../escape"));
    assert!(
        matches!(e, WorkloadError::BadPath { field: "path", .. }),
        "{e}"
    );
    let e = mutated(|v| v["steps"][0]["op"] = json!("format_disk"));
    assert!(matches!(e, WorkloadError::UnknownOp { .. }), "{e}");
    let i = step_index(&shared_json(), "rename-alpha");
    let e = mutated(|v| {
        v["steps"][i]
            .as_object_mut()
            .unwrap()
            .remove("new_path")
            .map(drop)
            .unwrap()
    });
    assert!(
        matches!(
            e,
            WorkloadError::StepField {
                field: "new_path",
                missing: true,
                ..
            }
        ),
        "{e}"
    );
    let i = step_index(&shared_json(), "delete-gamma");
    let e = mutated(|v| v["steps"][i]["size"] = json!(3));
    assert!(
        matches!(
            e,
            WorkloadError::StepField {
                field: "size",
                missing: false,
                ..
            }
        ),
        "{e}"
    );
    let e = mutated(|v| v["steps"][0]["platforms"] = json!([]));
    assert!(matches!(e, WorkloadError::BadPlatforms { .. }), "{e}");
    let e = mutated(|v| v["steps"][0]["platforms"] = json!(["linux", "linux"]));
    assert!(matches!(e, WorkloadError::BadPlatforms { .. }), "{e}");
    let e = mutated(|v| v["steps"][1]["id"] = v["steps"][0]["id"].clone());
    assert!(matches!(e, WorkloadError::DuplicateStepId(_)), "{e}");
}

#[test]
fn rejects_impossible_steps() {
    let i = step_index(&shared_json(), "truncate-gamma");
    let e = mutated(|v| v["steps"][i]["size"] = json!(1_000_000));
    assert!(
        matches!(&e, WorkloadError::StepImpossible { step, reason, .. }
            if step == "truncate-gamma" && reason.contains("does not shrink")),
        "{e}"
    );
    // Renaming onto a name that exists.
    let i = step_index(&shared_json(), "rename-alpha");
    let e = mutated(|v| v["steps"][i]["new_path"] = json!("alpha.txt"));
    assert!(matches!(e, WorkloadError::StepImpossible { .. }), "{e}");
    // Creating inside a folder that does not exist yet.
    let i = step_index(&shared_json(), "create-alpha");
    let e = mutated(|v| v["steps"][i]["path"] = json!("nowhere/alpha.txt"));
    assert!(
        matches!(&e, WorkloadError::StepImpossible { reason, .. } if reason.contains("does not exist")),
        "{e}"
    );
    // Dropping the final rmdir leaves the folder behind.
    let e = mutated(|v| {
        v["steps"].as_array_mut().unwrap().pop();
        let events = v["expected_events"].as_array_mut().unwrap();
        events.retain(|ev| ev["step"] != "rmdir-sub");
    });
    assert!(
        matches!(&e, WorkloadError::ScratchNotEmpty { left, .. } if left == &["sub".to_owned()]),
        "{e}"
    );
    // rmdir of a folder that still holds a file.
    let e = mutated(|v| {
        let steps = v["steps"].as_array_mut().unwrap();
        let last = steps.pop().unwrap();
        steps.insert(steps.len() - 1, last);
    });
    assert!(
        matches!(&e, WorkloadError::StepImpossible { reason, .. } if reason.contains("not empty")),
        "{e}"
    );
}

#[test]
fn rejects_inconsistent_expectations() {
    let e = mutated(|v| v["expected_events"][0]["step"] = json!("no-such-step"));
    assert!(
        matches!(e, WorkloadError::EventUnknownStep { index: 0, .. }),
        "{e}"
    );
    let e = mutated(|v| v["expected_events"][0]["path"] = json!("elsewhere"));
    assert!(
        matches!(e, WorkloadError::EventPathNotFromStep { index: 0, .. }),
        "{e}"
    );
    let e = mutated(|v| {
        let events = v["expected_events"].as_array_mut().unwrap();
        events.swap(0, 1);
    });
    assert!(
        matches!(e, WorkloadError::EventOutOfOrder { index: 1, .. }),
        "{e}"
    );
    let e = mutated(|v| v["expected_events"][0]["new_path"] = json!("x"));
    assert!(
        matches!(e, WorkloadError::EventNewPath { index: 0, .. }),
        "{e}"
    );
    let e = mutated(|v| v["expected_events"][0]["operation"] = json!("open"));
    assert!(
        matches!(e, WorkloadError::EventIgnored { index: 0, .. }),
        "{e}"
    );
    let e = mutated(|v| {
        v["ignored_operations"]
            .as_object_mut()
            .unwrap()
            .remove("linux");
    });
    assert!(
        matches!(
            e,
            WorkloadError::IgnoredMissingPlatform {
                platform: Platform::Linux
            }
        ),
        "{e}"
    );
    // A step that runs on Windows only cannot have a Linux event.
    let e = mutated(|v| {
        let steps = v["steps"].as_array_mut().unwrap();
        steps.push(json!({"id": "w-mk", "op": "mkdir", "path": "w", "platforms": ["windows"]}));
        steps.push(json!({"id": "w-rm", "op": "rmdir", "path": "w", "platforms": ["windows"]}));
        let events = v["expected_events"].as_array_mut().unwrap();
        events.push(json!({"step": "w-mk", "operation": "create", "path": "w",
                           "platforms": ["windows", "linux"]}));
        events.push(json!({"step": "w-rm", "operation": "delete", "path": "w",
                           "platforms": ["windows"]}));
    });
    assert!(
        matches!(
            e,
            WorkloadError::EventPlatformNotRun {
                platform: Platform::Linux,
                ..
            }
        ),
        "{e}"
    );
    // A step nobody checks is a step that proves nothing.
    let e = mutated(|v| {
        let events = v["expected_events"].as_array_mut().unwrap();
        events.retain(|ev| ev["step"] != "delete-gamma");
    });
    assert!(
        matches!(&e, WorkloadError::StepNotObserved { step, .. } if step == "delete-gamma"),
        "{e}"
    );
}

/// Renders the expected events as the OCSF a correct sensor would emit, with some noise.
fn ocsf_for(w: &Workload, platform: Platform, scratch: &str, sep: &str, pid: u64) -> String {
    let full = |rel: &str| format!("{scratch}{sep}{}", rel.replace('/', sep));
    let mut lines = vec![
        // Outside the scratch folder: dropped.
        json!({"unmapped": {"picket": {"operation": "create"}}, "file": {"path": "/etc/x"},
               "actor": {"process": {"pid": 1}}})
        .to_string(),
        // Not a file event: skipped.
        json!({"class_uid": 1001, "message": "hello"}).to_string(),
        // The scratch folder itself: not inside it.
        json!({"unmapped": {"picket": {"operation": "open"}}, "file": {"path": scratch},
               "actor": {"process": {"pid": pid}}})
        .to_string(),
        String::new(),
    ];
    for e in w.expected_for(platform) {
        // Ignored operations interleaved: must not matter.
        lines.push(
            json!({"unmapped": {"picket": {"operation": "open"}},
                   "file": {"path": full(e.path.as_str())},
                   "actor": {"process": {"pid": 4}}})
            .to_string(),
        );
        let mut event = json!({
            "class_uid": 1001,
            "unmapped": {"picket": {"operation": e.operation.as_str()}},
            "file": {"path": full(e.path.as_str())},
            "actor": {"process": {"pid": pid}},
        });
        if let Some(n) = &e.new_path {
            event["file_result"] = json!({"path": full(n.as_str())});
        }
        lines.push(event.to_string());
    }
    lines.join("\n")
}

#[test]
fn a_correct_output_matches_on_both_platforms() {
    let w = load_default().unwrap();
    let out = ocsf_for(&w, Platform::Linux, "/tmp/scratch", "/", 77);
    let observed = scratch_events(&out, "/tmp/scratch/", Platform::Linux).unwrap();
    compare(&w, Platform::Linux, &observed, 77).unwrap_or_else(|m| panic!("{m}"));

    // Windows: backslashes, and the driver may report a different case.
    let out = ocsf_for(&w, Platform::Windows, r"C:\PicketVmTest\Scratch", "\\", 900);
    let observed = scratch_events(&out, r"c:\picketvmtest\scratch", Platform::Windows).unwrap();
    compare(&w, Platform::Windows, &observed, 900).unwrap_or_else(|m| panic!("{m}"));
}

#[test]
fn comparison_reports_missing_extra_and_foreign_events() {
    let w = load_default().unwrap();
    let out = ocsf_for(&w, Platform::Linux, "/s", "/", 77);

    // Missing the last event.
    let mut observed = scratch_events(&out, "/s", Platform::Linux).unwrap();
    observed.pop();
    let m = compare(&w, Platform::Linux, &observed, 77).unwrap_err();
    let n = w.expected_for(Platform::Linux).count();
    assert_eq!(m.first_difference, Some(n - 1));
    assert!(m.to_string().contains("(none)"), "{m}");

    // An extra, non-ignored event.
    let mut observed = scratch_events(&out, "/s", Platform::Linux).unwrap();
    observed.retain(|e| e.operation != Operation::Open);
    let mut extra = observed[0].clone();
    extra.operation = Operation::Truncate;
    observed.insert(1, extra);
    let m = compare(&w, Platform::Linux, &observed, 77).unwrap_err();
    assert_eq!(m.first_difference, Some(1));

    // Right events, wrong process.
    let m = compare(
        &w,
        Platform::Linux,
        &scratch_events(&out, "/s", Platform::Linux).unwrap(),
        78,
    )
    .unwrap_err();
    assert_eq!(m.first_difference, None);
    assert_eq!(m.wrong_pid.len(), n);

    // Linux compares names byte for byte.
    let upper = out.replace("alpha.txt", "ALPHA.txt");
    let observed = scratch_events(&upper, "/s", Platform::Linux).unwrap();
    assert!(compare(&w, Platform::Linux, &observed, 77).is_err());
}

#[test]
fn output_errors_name_the_line() {
    let e = scratch_events("{}\nnot json", "/s", Platform::Linux).unwrap_err();
    assert!(
        matches!(e, compare::OutputError::NotJson { line: 2, .. }),
        "{e}"
    );
    let bad = json!({"unmapped": {"picket": {"operation": "chmod"}}, "file": {"path": "/s/a"}});
    let e = scratch_events(&bad.to_string(), "/s", Platform::Linux).unwrap_err();
    assert!(
        matches!(e, compare::OutputError::UnknownOperation { line: 1, .. }),
        "{e}"
    );
    let bad = json!({"unmapped": {"picket": {"operation": "delete"}}});
    let e = scratch_events(&bad.to_string(), "/s", Platform::Linux).unwrap_err();
    assert!(
        matches!(e, compare::OutputError::MissingPath { line: 1, .. }),
        "{e}"
    );
}

#[test]
fn relative_paths() {
    use compare::relative_to_scratch as rel;
    assert_eq!(rel("/s/a/b", "/s", Platform::Linux).as_deref(), Some("a/b"));
    assert_eq!(
        rel("/s/a/b", "/s/", Platform::Linux).as_deref(),
        Some("a/b")
    );
    assert_eq!(rel("/s", "/s", Platform::Linux), None);
    assert_eq!(rel("/sx/a", "/s", Platform::Linux), None);
    assert_eq!(rel("/S/a", "/s", Platform::Linux), None);
    assert_eq!(
        rel(r"C:\S\A.txt", r"c:\s", Platform::Windows).as_deref(),
        Some("a.txt")
    );
    assert_eq!(rel(r"C:\Sx\a", r"c:\s", Platform::Windows), None);
}

#[cfg(unix)]
mod posix_runner {
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    use super::super::posix::{pattern, run_linux, run_step};
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("picket-workload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn pattern_is_deterministic() {
        let p = pattern(600);
        assert_eq!(p.len(), 600);
        assert_eq!(p[250], 250);
        assert_eq!(p[251], 0);
        assert_eq!(pattern(0), Vec::<u8>::new());
    }

    #[test]
    fn runs_the_shared_workload_and_leaves_the_folder_empty() {
        let w = load_default().unwrap();
        let dir = scratch("full");
        run_linux(&w, &dir).unwrap_or_else(|e| panic!("{e}"));
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(left.is_empty(), "scratch not empty: {left:?}");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn intermediate_state_matches_the_model() {
        let w = load_default().unwrap();
        let dir = scratch("partial");
        for step in w.steps_for(Platform::Linux) {
            run_step(step, &dir).unwrap();
            if step.id == "truncate-gamma" {
                break;
            }
        }
        let beta = std::fs::metadata(dir.join("sub/beta.txt")).unwrap();
        let gamma = std::fs::metadata(dir.join("gamma.txt")).unwrap();
        assert_eq!(
            beta.ino(),
            gamma.ino(),
            "gamma.txt is a hard link to sub/beta.txt"
        );
        assert_eq!(gamma.len(), 1000);
        assert!(!dir.join("alpha.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_step_is_named() {
        let w = load_default().unwrap();
        let dir = scratch("fail");
        // Renaming before anything exists.
        let rename = w.step("rename-alpha").unwrap();
        let e = run_step(rename, &dir).unwrap_err();
        assert_eq!(e.step, "rename-alpha");
        assert!(e.to_string().contains("rename alpha.txt"), "{e}");
        // Renaming onto an existing name is refused, not silently replaced.
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("alpha.txt"), b"a").unwrap();
        std::fs::write(dir.join("sub/beta.txt"), b"b").unwrap();
        let e = run_step(rename, &dir).unwrap_err();
        assert_eq!(e.source.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.join("sub/beta.txt")).unwrap(), b"b");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
