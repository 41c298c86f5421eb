//! Checks a sensor's OCSF JSON Lines against a workload's expected events — the same rule the
//! PowerShell harness (`tests/vm/PicketWorkload.psm1`) applies on Windows.
//!
//! Only the fields every Picket build promises are read: `unmapped.picket.operation`,
//! `file.path`, `file_result.path` and `actor.process.pid`.

use std::fmt;

use serde_json::Value;

use super::model::{Operation, Platform, Workload};

/// One event from the sensor, with its names made relative to the scratch folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEvent {
    /// 1-based line in the output it came from.
    pub line: usize,
    pub operation: Operation,
    pub path: String,
    pub new_path: Option<String>,
    pub pid: Option<u64>,
}

impl fmt::Display for ObservedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.operation, self.path)?;
        if let Some(new_path) = &self.new_path {
            write!(f, " -> {new_path}")?;
        }
        match self.pid {
            Some(pid) => write!(f, " (pid {pid}, line {})", self.line),
            None => write!(f, " (no pid, line {})", self.line),
        }
    }
}

/// Why an output line could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutputError {
    #[error("output line {line} is not JSON: {message}")]
    NotJson { line: usize, message: String },
    #[error("output line {line}: unknown unmapped.picket.operation `{operation}`")]
    UnknownOperation { line: usize, operation: String },
    #[error("output line {line}: `{operation}` event has no file.path")]
    MissingPath { line: usize, operation: String },
}

/// Makes `full` relative to `scratch`, or `None` when it is not strictly inside it. Windows
/// names compare case-insensitively and either separator is accepted there.
pub fn relative_to_scratch(full: &str, scratch: &str, platform: Platform) -> Option<String> {
    let normalize = |s: &str| match platform {
        Platform::Windows => s.replace('\\', "/").to_lowercase(),
        Platform::Linux => s.to_owned(),
    };
    let full_n = normalize(full);
    let scratch_n = normalize(scratch);
    let scratch_n = scratch_n.trim_end_matches('/');
    let rest = full_n.strip_prefix(scratch_n)?.strip_prefix('/')?;
    if rest.is_empty() {
        return None;
    }
    Some(rest.to_owned())
}

fn string_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// Reads the Picket file events out of OCSF JSON Lines and keeps those inside `scratch`
/// (by `file.path` or, for a rename or hard link, `file_result.path`). Lines without
/// `unmapped.picket.operation` (non-file events) are skipped; blank lines too.
pub fn scratch_events(
    output: &str,
    scratch: &str,
    platform: Platform,
) -> Result<Vec<ObservedEvent>, OutputError> {
    let mut events = Vec::new();
    for (index, text) in output.lines().enumerate() {
        let line = index + 1;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| OutputError::NotJson {
            line,
            message: e.to_string(),
        })?;
        let Some(name) = string_at(&value, "/unmapped/picket/operation") else {
            continue;
        };
        let operation =
            Operation::from_name(name).ok_or_else(|| OutputError::UnknownOperation {
                line,
                operation: name.to_owned(),
            })?;
        let full = string_at(&value, "/file/path").ok_or_else(|| OutputError::MissingPath {
            line,
            operation: name.to_owned(),
        })?;
        let full_new = string_at(&value, "/file_result/path");
        let path = relative_to_scratch(full, scratch, platform);
        let new_path = full_new.and_then(|p| relative_to_scratch(p, scratch, platform));
        if path.is_none() && new_path.is_none() {
            continue;
        }
        events.push(ObservedEvent {
            line,
            operation,
            // A name outside the scratch folder is kept in full, so a rename into or out of
            // it shows what really happened.
            path: path.unwrap_or_else(|| full.to_owned()),
            new_path: match (new_path, full_new) {
                (Some(rel), _) => Some(rel),
                (None, Some(full)) if operation.has_new_path() => Some(full.to_owned()),
                _ => None,
            },
            pid: value.pointer("/actor/process/pid").and_then(Value::as_u64),
        });
    }
    Ok(events)
}

/// The result of a comparison that failed, printable as a side-by-side report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub platform: Platform,
    pub expected: Vec<String>,
    pub actual: Vec<String>,
    /// Index of the first differing position (`min(len)` when one list is a prefix).
    pub first_difference: Option<usize>,
    /// Kept events whose pid is not the workload runner's.
    pub wrong_pid: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "workload events on {} do not match", self.platform)?;
        if let Some(at) = self.first_difference {
            writeln!(f, "first difference at event #{at}")?;
        }
        let rows = self.expected.len().max(self.actual.len());
        for i in 0..rows {
            let e = self.expected.get(i).map_or("(none)", String::as_str);
            let a = self.actual.get(i).map_or("(none)", String::as_str);
            let mark = if e == a { "  " } else { "!!" };
            writeln!(f, "{mark} #{i:<2} expected: {e:<45} actual: {a}")?;
        }
        for event in &self.wrong_pid {
            writeln!(f, "!! wrong pid: {event}")?;
        }
        Ok(())
    }
}

/// Compares the observed events with the workload's expectation for `platform`: the same
/// ordered list once `ignored_operations` are dropped, each event from `runner_pid`.
pub fn compare(
    workload: &Workload,
    platform: Platform,
    observed: &[ObservedEvent],
    runner_pid: u64,
) -> Result<(), Mismatch> {
    let ignored = workload.ignored_for(platform);
    let case = |s: &str| match platform {
        Platform::Windows => s.to_lowercase(),
        Platform::Linux => s.to_owned(),
    };
    let expected: Vec<String> = workload
        .expected_for(platform)
        .map(|e| {
            key(
                e.operation,
                e.path.as_str(),
                e.new_path.as_ref().map(|p| p.as_str()),
            )
        })
        .map(|k| case(&k))
        .collect();
    let kept: Vec<&ObservedEvent> = observed
        .iter()
        .filter(|e| !ignored.contains(&e.operation))
        .collect();
    let actual: Vec<String> = kept
        .iter()
        .map(|e| case(&key(e.operation, &e.path, e.new_path.as_deref())))
        .collect();
    let wrong_pid: Vec<String> = kept
        .iter()
        .filter(|e| e.pid != Some(runner_pid))
        .map(|e| e.to_string())
        .collect();
    if expected == actual && wrong_pid.is_empty() {
        return Ok(());
    }
    let first_difference = if expected == actual {
        None
    } else {
        Some(
            expected
                .iter()
                .zip(&actual)
                .position(|(e, a)| e != a)
                .unwrap_or(expected.len().min(actual.len())),
        )
    };
    Err(Mismatch {
        platform,
        expected,
        actual,
        first_difference,
        wrong_pid,
    })
}

fn key(operation: Operation, path: &str, new_path: Option<&str>) -> String {
    match new_path {
        Some(new_path) => format!("{operation} {path} -> {new_path}"),
        None => format!("{operation} {path}"),
    }
}
