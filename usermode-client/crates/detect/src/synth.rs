//! Synthetic rules and events with the shapes of real Sigma file content (SigmaHQ's
//! `rules/windows/file/*` and `rules/linux/file_event/*`): mostly `endswith` / `contains` /
//! `startswith` on `TargetFilename` and `Image`, some selection-and-not-filter, wildcards and
//! a few regexes. Used by the detection benchmark and the equal-matches test; deterministic.

use std::fmt::Write as _;
use std::sync::Arc;

use picket_model::{Details, FileEvent, Host, Operation, ProcessInfo, ProcessKey, Timestamp};
use rsigma_parser::SigmaRule;

use crate::ruletest::file_path;

/// A small deterministic PRNG (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// In `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % (n.max(1) as u64)).unwrap_or(0)
    }

    /// One of.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const HOSTS_PROCS: &[&str] = &[
    r"\winword.exe",
    r"\excel.exe",
    r"\powerpnt.exe",
    r"\outlook.exe",
    r"\powershell.exe",
    r"\pwsh.exe",
    r"\wscript.exe",
    r"\cscript.exe",
    r"\mshta.exe",
    r"\rundll32.exe",
    r"\regsvr32.exe",
    r"\cmd.exe",
];

const EXTS: &[&str] = &[
    ".exe", ".dll", ".ps1", ".vbs", ".js", ".hta", ".bat", ".scr", ".lnk", ".sys", ".cpl", ".iso",
    ".zip", ".one",
];

const DIRS: &[&str] = &[
    r"\AppData\Local\Temp\",
    r"\AppData\Roaming\",
    r"\Windows\Temp\",
    r"\Users\Public\",
    r"\ProgramData\",
    r"\Start Menu\Programs\Startup\",
    r"\Windows\System32\Tasks\",
    r"\Windows\System32\drivers\",
    r"\Downloads\",
];

const CATEGORIES: &[&str] = &[
    "file_event",
    "file_event",
    "file_event",
    "file_event",
    "file_event",
    "file_event",
    "file_event",
    "file_delete",
    "file_rename",
    "file_access",
    "file_change",
];

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn list(items: &[String]) -> String {
    let mut out = String::new();
    for item in items {
        let _ = write!(out, "\n      - {}", quote(item));
    }
    out
}

/// `n` rules (YAML text), deterministic for `seed`.
#[must_use]
pub fn rule_yaml(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let category = *rng.pick(CATEGORIES);
            let token = format!("picketsyn{i}");
            let shape = rng.below(100);
            let (product, detection) = match shape {
                // Dropped file with a rule-specific name, any of a few extensions.
                0..=29 => {
                    let exts: Vec<String> = (0..1 + rng.below(4))
                        .map(|_| format!(r"\{token}{}", rng.pick(EXTS)))
                        .collect();
                    (
                        "windows",
                        format!(
                            "  selection:\n    TargetFilename|endswith:{}\n  condition: selection\n",
                            list(&exts)
                        ),
                    )
                }
                // Office / script host writes an executable type into a suspicious folder.
                30..=49 => {
                    let images: Vec<String> = (0..1 + rng.below(4))
                        .map(|_| (*rng.pick(HOSTS_PROCS)).to_owned())
                        .collect();
                    let dir = *rng.pick(DIRS);
                    (
                        "windows",
                        format!(
                            "  selection:\n    Image|endswith:{}\n    TargetFilename|contains: {}\n    TargetFilename|endswith:{}\n  condition: selection\n",
                            list(&images),
                            quote(&format!(r"{dir}{token}")),
                            list(&[(*rng.pick(EXTS)).to_owned(), (*rng.pick(EXTS)).to_owned()])
                        ),
                    )
                }
                // Folder + name with a filter on legitimate installers.
                50..=69 => (
                    "windows",
                    format!(
                        "  selection:\n    TargetFilename|contains: {}\n  filter_main:\n    Image|startswith:\n      - 'C:\\Program Files\\'\n      - 'C:\\Program Files (x86)\\'\n  condition: selection and not filter_main\n",
                        quote(&format!(r"{}{token}", rng.pick(DIRS)))
                    ),
                ),
                // Startswith on a system location.
                70..=79 => (
                    "windows",
                    format!(
                        "  selection:\n    TargetFilename|startswith: {}\n  condition: selection\n",
                        quote(&format!(r"C:\Windows\System32\{token}"))
                    ),
                ),
                // Wildcard value, as in many older rules.
                80..=87 => (
                    "windows",
                    format!(
                        "  selection:\n    TargetFilename: {}\n  condition: selection\n",
                        quote(&format!(r"C:\Users\\*\AppData\\*\{token}*"))
                    ),
                ),
                // 1 of selection_* over image and file name.
                88..=93 => (
                    "windows",
                    format!(
                        "  selection_img:\n    Image|endswith: {}\n  selection_file:\n    TargetFilename|contains: {}\n  condition: 1 of selection_*\n",
                        quote(&format!(r"\{token}.exe")),
                        quote(&format!(r"\{token}\"))
                    ),
                ),
                // Linux file_event shapes.
                94..=97 => (
                    "linux",
                    format!(
                        "  selection:\n    TargetFilename|startswith:\n      - '/etc/cron.d/{token}'\n      - '/etc/systemd/system/{token}'\n  condition: selection\n"
                    ),
                ),
                // Regex: no literal witness; always evaluated.
                _ => (
                    "windows",
                    format!(
                        "  selection:\n    TargetFilename|re: '\\\\{token}[0-9]+\\.tmp$'\n  condition: selection\n"
                    ),
                ),
            };
            format!(
                "title: Synthetic rule {i}\nid: synthetic-{i}\nstatus: test\nlogsource:\n  product: {product}\n  category: {category}\ndetection:\n{detection}level: medium\n"
            )
        })
        .collect()
}

/// `n` parsed rules.
///
/// # Panics
/// If the generator produced invalid Sigma (a bug the tests would catch first).
#[must_use]
pub fn rules(n: usize, seed: u64) -> Vec<SigmaRule> {
    rule_yaml(n, seed)
        .iter()
        .map(|y| {
            let mut c = rsigma_parser::parse_sigma_yaml(y).expect("synthetic rule parses");
            assert!(c.errors.is_empty(), "{:?}\n{y}", c.errors);
            c.rules.remove(0)
        })
        .collect()
}

const USERS: &[&str] = &["alice", "bob", "Jörg", "svc_backup", "KELVIN\u{212A}"];
const IMAGES: &[&str] = &[
    r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
    r"C:\Windows\System32\svchost.exe",
    r"C:\Windows\explorer.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\wscript.exe",
    r"C:\Users\bob\AppData\Local\Temp\setup.exe",
];
const NAMES: &[&str] = &[
    "report.docx",
    "budget.xlsx",
    "notes.txt",
    "photo.jpg",
    "setup.exe",
    "update.dll",
    "run.ps1",
    "cache.tmp",
    "index.dat",
    "ſtate.json",
];

/// `n` events: realistic background plus about 2% that hit synthetic rule needles
/// (`rule_count` rules), deterministic for `seed`. Mostly Windows, some Linux.
#[must_use]
pub fn events(n: usize, rule_count: usize, seed: u64) -> Vec<FileEvent> {
    let mut rng = Rng::new(seed);
    let processes: Vec<Arc<ProcessInfo>> = IMAGES
        .iter()
        .enumerate()
        .map(|(i, image)| {
            Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 1000 + u32::try_from(i).unwrap_or(0),
                    start_key: 7,
                },
                image: Some((*image).to_owned()),
                command_line: Some(format!("\"{image}\"")),
                user: Some(format!(r"CORP\{}", USERS[i % USERS.len()])),
                ..ProcessInfo::default()
            })
        })
        .collect();
    let linux_proc = Arc::new(ProcessInfo {
        key: ProcessKey {
            pid: 77,
            start_key: 3,
        },
        image: Some("/usr/bin/bash".into()),
        user: Some("root".into()),
        ..ProcessInfo::default()
    });
    (0..n)
        .map(|i| {
            let linux = rng.below(10) == 0;
            let operation = *rng.pick(&Operation::ALL);
            let hit = rng.below(50) == 0;
            let token = format!("picketsyn{}", rng.below(rule_count.max(1)));
            let (host, process, path) = if linux {
                let path = if hit {
                    format!("/etc/cron.d/{token}")
                } else {
                    format!("/home/{}/{}", rng.pick(USERS), rng.pick(NAMES))
                };
                (Host::Linux, Arc::clone(&linux_proc), path)
            } else {
                let user = rng.pick(USERS);
                let path = if hit {
                    match rng.below(4) {
                        0 => format!(
                            r"C:\Users\{user}{}{token}{}",
                            rng.pick(DIRS),
                            rng.pick(EXTS)
                        ),
                        1 => format!(r"C:\Windows\System32\{token}\x{}", rng.pick(EXTS)),
                        2 => format!(
                            r"C:\Users\{user}\AppData\Roaming\{token}\{}",
                            rng.pick(NAMES)
                        ),
                        _ => format!(
                            r"C:\Users\{user}\AppData\Local\Temp\{token}{}.tmp",
                            rng.below(99)
                        ),
                    }
                } else {
                    format!(
                        r"C:\Users\{user}{}{}",
                        rng.pick(&[
                            r"\Documents\",
                            r"\Desktop\",
                            r"\AppData\Local\Temp\",
                            r"\Downloads\"
                        ]),
                        rng.pick(NAMES)
                    )
                };
                (Host::Windows, Arc::clone(rng.pick(&processes)), path)
            };
            let source = matches!(operation, Operation::Rename | Operation::HardLink)
                .then(|| file_path(&format!("{path}.old"), host));
            FileEvent {
                seq: i as u64,
                time: Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + i as u64 * 1_000),
                host,
                operation,
                process,
                thread_id: 1,
                target: file_path(&path, host),
                source: source.map(Box::new),
                details: Details::default(),
                entropy: None,
            }
        })
        .collect()
}
