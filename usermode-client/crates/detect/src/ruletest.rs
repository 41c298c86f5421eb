//! Rule tests: positive and negative event sequences checked in beside the rules
//! (`NAME.tests.yml`), run before any rule set is allowed to go live.
//!
//! ```yaml
//! tests:
//!   - name: encrypts and renames twelve documents
//!     rule: 1f0c2a52-...        # the rule (or correlation) id under test
//!     expect: match             # or no_match
//!     host: windows             # or linux (default windows)
//!     canaries: ['C:\canary.docx']   # canary paths for this test (default none)
//!     events:
//!       - op: rename            # an operation's stable name (create, open, rename, ...)
//!         source: 'C:\Users\a\doc{i}.docx'   # {i} is the repetition index
//!         target: 'C:\Users\a\doc{i}.docx.lock'
//!         image: 'C:\Users\a\x.exe'
//!         pid: 4242             # default 1000 (start_key: default 1, 0 = unknown)
//!         at: 0.5               # seconds from the start of the test (default: +10 ms)
//!         repeat: 12            # default 1
//!         step: 0.1             # seconds between repetitions (default 0.01)
//!         entropy: 7.9          # optional
//! ```

use std::sync::Arc;

use picket_model::{
    Details, FileEvent, FilePath, Host, Operation, ProcessInfo, ProcessKey, Timestamp,
};
use serde::Deserialize;

use crate::problem::Problem;
use crate::source::RuleFile;

/// What a test expects of its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The rule matches (a detection) or fires (a correlation) at least once.
    Match,
    /// The rule never matches or fires.
    NoMatch,
}

/// One rule test.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What it shows.
    pub name: String,
    /// The rule id under test.
    pub rule: String,
    /// The expected outcome.
    pub expect: Expect,
    /// The host the events come from.
    #[serde(default = "default_host")]
    pub host: HostName,
    /// Canary paths configured for this test.
    #[serde(default)]
    pub canaries: Vec<String>,
    /// The events, in order.
    pub events: Vec<EventSpec>,
    /// Set when loaded: where the test is.
    #[serde(skip)]
    pub file: String,
    /// Set when loaded: its line.
    #[serde(skip)]
    pub line: usize,
}

/// `windows` or `linux`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostName {
    /// Windows paths and semantics.
    Windows,
    /// Linux.
    Linux,
}

impl From<HostName> for Host {
    fn from(h: HostName) -> Self {
        match h {
            HostName::Windows => Self::Windows,
            HostName::Linux => Self::Linux,
        }
    }
}

const fn default_host() -> HostName {
    HostName::Windows
}

/// One event (or a run of similar events) of a test.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Operation, by its stable name.
    pub op: String,
    /// `TargetFilename`.
    pub target: String,
    /// `SourceFilename` (renames and links).
    #[serde(default)]
    pub source: Option<String>,
    /// `Image`.
    #[serde(default)]
    pub image: Option<String>,
    /// `CommandLine`.
    #[serde(default)]
    pub command_line: Option<String>,
    /// `User`.
    #[serde(default)]
    pub user: Option<String>,
    /// `ProcessId`.
    #[serde(default = "default_pid")]
    pub pid: u32,
    /// `ProcessStartKey` (0 = unknown, as for a process gone before it was looked up).
    #[serde(default = "default_start_key")]
    pub start_key: u64,
    /// Seconds from the start of the test.
    #[serde(default)]
    pub at: Option<f64>,
    /// How many times (with `{i}` substituted).
    #[serde(default = "one")]
    pub repeat: u32,
    /// Seconds between repetitions.
    #[serde(default)]
    pub step: Option<f64>,
    /// `Entropy`.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// The object is a directory.
    #[serde(default)]
    pub directory: bool,
}

const fn default_pid() -> u32 {
    1000
}

const fn default_start_key() -> u64 {
    1
}

const fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<TestCase>,
}

/// A fixed, realistic base time for test events (2023-11-14).
pub const TEST_EPOCH_UNIX_SECS: u64 = 1_700_000_000;

/// Reads every `*.tests.yml` file of a set.
pub fn parse_tests(files: &[RuleFile], problems: &mut Vec<Problem>) -> Vec<TestCase> {
    let mut out = Vec::new();
    for file in files.iter().filter(|f| f.is_test_file()) {
        match yaml_serde::from_str::<TestFile>(&file.text) {
            Ok(parsed) => {
                for mut case in parsed.tests {
                    case.file.clone_from(&file.name);
                    case.line = file
                        .text
                        .lines()
                        .position(|l| l.contains("name:") && l.contains(case.name.as_str()))
                        .map_or(1, |i| i + 1);
                    if let Err(message) = case.check() {
                        problems.push(Problem::error(
                            &case.file,
                            case.line,
                            Some(&case.rule),
                            format!("test '{}': {message}", case.name),
                        ));
                        continue;
                    }
                    out.push(case);
                }
            }
            Err(e) => {
                let line = e.location().map_or(1, |l| l.line());
                problems.push(Problem::error(
                    &file.name,
                    line,
                    None,
                    format!("rule test file: {e}"),
                ));
            }
        }
    }
    out
}

impl TestCase {
    fn check(&self) -> Result<(), String> {
        if self.events.is_empty() {
            return Err("has no events".into());
        }
        for spec in &self.events {
            if Operation::from_name(&spec.op).is_none() {
                return Err(format!("unknown operation '{}'", spec.op));
            }
            if spec.repeat == 0 || spec.repeat > 10_000 {
                return Err("repeat must be 1..=10000".into());
            }
        }
        Ok(())
    }

    /// The test's events, in order, with times from [`TEST_EPOCH_UNIX_SECS`].
    #[must_use]
    pub fn build_events(&self) -> Vec<FileEvent> {
        let host = Host::from(self.host);
        let mut out = Vec::new();
        let mut clock = 0.0_f64;
        let mut seq = 0_u64;
        for spec in &self.events {
            let step = spec.step.unwrap_or(0.01);
            if let Some(at) = spec.at {
                clock = at;
            }
            for i in 0..spec.repeat {
                let fill = |s: &str| s.replace("{i}", &i.to_string());
                let operation = Operation::from_name(&spec.op).unwrap_or(Operation::Open);
                let process = Arc::new(ProcessInfo {
                    key: ProcessKey {
                        pid: spec.pid,
                        start_key: spec.start_key,
                    },
                    image: spec.image.as_deref().map(fill),
                    command_line: spec.command_line.as_deref().map(fill),
                    user: spec.user.as_deref().map(fill),
                    ..ProcessInfo::default()
                });
                let mut target = file_path(&fill(&spec.target), host);
                target.is_directory = spec.directory;
                seq += 1;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let nanos = (clock.max(0.0) * 1e9) as u64;
                out.push(FileEvent {
                    seq,
                    time: Timestamp::from_unix_nanos(TEST_EPOCH_UNIX_SECS * 1_000_000_000 + nanos),
                    host,
                    operation,
                    process,
                    thread_id: 1,
                    target,
                    source: spec
                        .source
                        .as_deref()
                        .map(|s| Box::new(file_path(&fill(s), host))),
                    details: Details::default(),
                    entropy: spec.entropy,
                });
                clock += step;
            }
        }
        out
    }
}

/// Splits a path into the parts the model carries, in the host's syntax.
#[must_use]
pub fn file_path(path: &str, host: Host) -> FilePath {
    let separator = match host {
        Host::Windows => '\\',
        Host::Linux => '/',
    };
    FilePath::from_text_at(path, &[separator])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths_per_host() {
        let p = file_path(r"C:\Users\a\doc.docx.lock", Host::Windows);
        assert_eq!(p.directory(), r"C:\Users\a");
        assert_eq!(p.name(), "doc.docx.lock");
        assert_eq!(p.extension(), Some("lock"));
        let p = file_path("/home/a/.bashrc", Host::Linux);
        assert_eq!(p.name(), ".bashrc");
        assert_eq!(p.extension(), None);
    }

    #[test]
    fn repeats_substitute_the_index_and_advance_time() {
        let file = RuleFile {
            name: "t.tests.yml".into(),
            relative: "t.tests.yml".into(),
            text: "tests:\n  - name: two\n    rule: r\n    expect: match\n    events:\n      - {op: rename, target: 'C:\\d{i}\\x', repeat: 2, step: 1.5, at: 2}\n".into(),
            unreadable: None,
        };
        let mut problems = Vec::new();
        let cases = parse_tests(&[file], &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let events = cases[0].build_events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].target.path(), r"C:\d1\x");
        assert_eq!(
            events[1].time.unix_nanos() - events[0].time.unix_nanos(),
            1_500_000_000
        );
        assert_eq!(cases[0].line, 2);
    }

    #[test]
    fn bad_test_files_are_problems_with_lines() {
        let file = RuleFile {
            name: "t.tests.yml".into(),
            relative: "t.tests.yml".into(),
            text: "tests:\n  - name: x\n    rule: r\n    expect: maybe\n    events: []\n".into(),
            unreadable: None,
        };
        let mut problems = Vec::new();
        assert!(parse_tests(&[file], &mut problems).is_empty());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].line >= 2, "{problems:?}");
    }
}
