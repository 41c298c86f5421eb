//! Realistic Windows file events for the detection benchmark and the equal-matches test:
//! the path shapes a desktop really produces (user profiles, `AppData`, Program Files, Temp,
//! System32, browser caches, Office, package folders, long and non-ASCII names), written by
//! the images and users that really produce them, in roughly the proportions a Sysmon
//! `FileCreate`/`FileDelete` log of an office workstation shows (system services and browsers
//! dominate; a script host writing an executable into a user folder is rare).
//!
//! The proportions are a fixed, documented guess made from typical workstation logs; they are
//! not tuned to any rule set. About 0.5% of events are suspicious shapes (an Office or script
//! host dropping a script or an executable, a file in `C:\Users\Public`, a startup-folder
//! write…), so that real rules do fire. Deterministic for a seed.

use std::sync::Arc;

use picket_model::{Details, FileEvent, Host, Operation, ProcessInfo, ProcessKey, Timestamp};

use crate::ruletest::file_path;
use crate::synth::Rng;

/// A writer: its image, how often it writes (relative weight), and who it runs as.
struct Writer {
    image: &'static str,
    weight: usize,
    /// `None`: the interactive user.
    user: Option<&'static str>,
    /// Where it writes.
    places: &'static [Place],
}

/// A family of paths. `{u}` is the user's profile name, `{n}` a file name, `{h}` a hex id,
/// `{d}` a decimal number.
#[derive(Clone, Copy)]
struct Place(&'static str);

const SYSTEM: Option<&str> = Some(r"NT AUTHORITY\SYSTEM");
const LOCAL_SERVICE: Option<&str> = Some(r"NT AUTHORITY\LOCAL SERVICE");
const NETWORK_SERVICE: Option<&str> = Some(r"NT AUTHORITY\NETWORK SERVICE");

const BROWSER_CACHE: &[Place] = &[
    Place(r"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\Cache\Cache_Data\f_{h}"),
    Place(r"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\Code Cache\js\{h}_0"),
    Place(r"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\Network\Cookies-journal"),
    Place(
        r"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\IndexedDB\https_{n}_0.indexeddb.leveldb\{d}.log",
    ),
    Place(
        r"C:\Users\{u}\AppData\Local\Google\Chrome\User Data\Default\Service Worker\CacheStorage\{h}\{h}_0",
    ),
    Place(r"C:\Users\{u}\AppData\Local\Temp\chrome_drag{d}_{d}\{n}"),
    Place(r"C:\Users\{u}\Downloads\{n}.crdownload"),
    Place(r"C:\Users\{u}\Downloads\{n}"),
];
const EDGE_CACHE: &[Place] = &[
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Edge\User Data\Default\Cache\Cache_Data\f_{h}"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Edge\User Data\Default\Session Storage\{d}.log"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Edge\User Data\Default\Code Cache\wasm\{h}_0"),
    Place(r"C:\Users\{u}\Downloads\{n}"),
];
const FIREFOX_CACHE: &[Place] = &[
    Place(
        r"C:\Users\{u}\AppData\Local\Mozilla\Firefox\Profiles\{h}.default-release\cache2\entries\{H}",
    ),
    Place(
        r"C:\Users\{u}\AppData\Roaming\Mozilla\Firefox\Profiles\{h}.default-release\storage\default\https+++{n}\ls\data.sqlite-journal",
    ),
];
const SVCHOST: &[Place] = &[
    Place(
        r"C:\Windows\System32\config\systemprofile\AppData\Local\Microsoft\Windows\DeliveryOptimization\Cache\{h}",
    ),
    Place(
        r"C:\Windows\ServiceProfiles\NetworkService\AppData\Local\Microsoft\Windows\DeliveryOptimization\Logs\dosvc.{d}.etl",
    ),
    Place(r"C:\Windows\System32\LogFiles\WMI\RtBackup\EtwRT.{n}.etl"),
    Place(r"C:\Windows\Prefetch\{N}-{H}.pf"),
    Place(r"C:\ProgramData\Microsoft\Windows\wfp\wfpdiag.etl"),
    Place(r"C:\Windows\System32\sru\SRU{d}.log"),
    Place(r"C:\Windows\System32\Tasks\Microsoft\Windows\UpdateOrchestrator\Schedule Scan"),
    Place(r"C:\Windows\SoftwareDistribution\Download\{h}\{n}.cab"),
    Place(r"C:\Windows\Temp\{h}.tmp"),
];
const DEFENDER: &[Place] = &[
    Place(r"C:\ProgramData\Microsoft\Windows Defender\Scans\History\CacheManager\{h}-0.bin"),
    Place(r"C:\ProgramData\Microsoft\Windows Defender\Scans\mpenginedb.db-wal"),
    Place(r"C:\ProgramData\Microsoft\Windows Defender\Support\MPLog-{d}-{d}.log"),
    Place(r"C:\Windows\Temp\MpCmdRun.log"),
    Place(r"C:\ProgramData\Microsoft\Windows Defender\Definition Updates\{G}\mpavbase.vdm"),
];
const EXPLORER: &[Place] = &[
    Place(r"C:\Users\{u}\AppData\Roaming\Microsoft\Windows\Recent\{n}.lnk"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Windows\Explorer\thumbcache_{d}.db"),
    Place(r"C:\Users\{u}\Desktop\{n}"),
    Place(r"C:\Users\{u}\Documents\{n}"),
    Place(r"C:\Users\{u}\OneDrive - Contoso\Documents\Projects\{n}"),
    Place(
        r"C:\Users\{u}\AppData\Roaming\Microsoft\Windows\Recent\AutomaticDestinations\{h}.automaticDestinations-ms",
    ),
];
const OFFICE: &[Place] = &[
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Office\16.0\OfficeFileCache\{h}.FSF"),
    Place(r"C:\Users\{u}\AppData\Roaming\Microsoft\Office\Recent\{n}.LNK"),
    Place(r"C:\Users\{u}\AppData\Local\Temp\{H}.tmp"),
    Place(r"C:\Users\{u}\Documents\~${n}"),
    Place(r"C:\Users\{u}\OneDrive - Contoso\Documents\{n}"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Windows\INetCache\Content.MSO\{H}.png"),
    Place(r"C:\Users\{u}\AppData\Roaming\Microsoft\Templates\Normal.dotm"),
];
const OUTLOOK: &[Place] = &[
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Outlook\{u}@contoso.com.ost"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\{H}\{n}"),
    Place(r"C:\Users\{u}\AppData\Local\Temp\Outlook Logging\Firstrun.log"),
];
const TEAMS_ONEDRIVE: &[Place] = &[
    Place(
        r"C:\Users\{u}\AppData\Local\Packages\MSTeams_8wekyb3d8bbwe\LocalCache\Microsoft\MSTeams\EBWebView\Default\Cache\Cache_Data\f_{h}",
    ),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\OneDrive\logs\Personal\SyncEngine-{d}.odl"),
    Place(r"C:\Users\{u}\OneDrive - Contoso\{n}"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\OneDrive\settings\Business1\{h}.dat"),
];
const INSTALLER: &[Place] = &[
    Place(r"C:\Program Files\Contoso\Agent\{n}"),
    Place(r"C:\Program Files (x86)\Common Files\Contoso Shared\{n}"),
    Place(r"C:\Windows\Installer\{h}.msi"),
    Place(
        r"C:\Windows\WinSxS\amd64_microsoft-windows-{n}_31bf3856ad364e35_10.0.22621.{d}_none_{h}\{n}",
    ),
    Place(r"C:\Windows\System32\DriverStore\FileRepository\{n}.inf_amd64_{h}\{n}"),
    Place(r"C:\Windows\Temp\{H}\{n}"),
];
const DEVTOOLS: &[Place] = &[
    Place(
        r"C:\Users\{u}\source\repos\{n}\node_modules\.pnpm\{n}@{d}.{d}.{d}\node_modules\{n}\lib\{n}.js",
    ),
    Place(r"C:\Users\{u}\source\repos\{n}\target\debug\deps\{n}-{h}.d"),
    Place(r"C:\Users\{u}\.nuget\packages\{n}\{d}.{d}.{d}\lib\net8.0\{n}.dll"),
    Place(
        r"C:\Users\{u}\AppData\Local\Programs\Python\Python312\Lib\site-packages\{n}\__pycache__\{n}.cpython-312.pyc",
    ),
    Place(r"C:\Users\{u}\AppData\Roaming\Code\User\workspaceStorage\{h}\state.vscdb-journal"),
    Place(r"C:\Users\{u}\AppData\Local\npm-cache\_cacache\content-v2\sha512\{h}\{h}"),
    Place(r"C:\Users\{u}\.cargo\registry\cache\index.crates.io-{h}\{n}-{d}.{d}.{d}.crate"),
];
const SEARCH: &[Place] = &[
    Place(
        r"C:\ProgramData\Microsoft\Search\Data\Applications\Windows\GatherLogs\SystemIndex\SystemIndex.{d}.Crwl",
    ),
    Place(r"C:\ProgramData\Microsoft\Search\Data\Applications\Windows\Windows.edb"),
];
const SUSPICIOUS: &[Place] = &[
    Place(r"C:\Users\Public\{n}.exe"),
    Place(r"C:\Users\Public\Documents\{n}.dll"),
    Place(r"C:\Users\{u}\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup\{n}.lnk"),
    Place(r"C:\Users\{u}\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup\{n}.vbs"),
    Place(r"C:\Users\{u}\AppData\Local\Temp\{n}.ps1"),
    Place(r"C:\Users\{u}\AppData\Local\Temp\{n}.hta"),
    Place(r"C:\Users\{u}\AppData\Roaming\{n}.exe"),
    Place(r"C:\ProgramData\{n}.dll"),
    Place(r"C:\Windows\Temp\{n}.bat"),
    Place(r"C:\Windows\System32\Tasks\{n}"),
    Place(r"C:\Windows\System32\drivers\{n}.sys"),
    Place(r"C:\Users\{u}\Downloads\{n}.iso"),
    Place(r"C:\Users\{u}\AppData\Local\Temp\{n}.one"),
    Place(r"C:\PerfLogs\{n}.exe"),
    Place(r"C:\Users\{u}\AppData\Local\Microsoft\Windows\INetCache\IE\{H}\{n}.js"),
];

/// The writers of an office workstation, by weight (≈ share of file events, in ‰).
const WRITERS: &[Writer] = &[
    Writer {
        image: r"C:\Windows\System32\svchost.exe",
        weight: 190,
        user: SYSTEM,
        places: SVCHOST,
    },
    Writer {
        image: r"C:\Windows\System32\svchost.exe",
        weight: 40,
        user: NETWORK_SERVICE,
        places: SVCHOST,
    },
    Writer {
        image: r"C:\Windows\System32\svchost.exe",
        weight: 20,
        user: LOCAL_SERVICE,
        places: SVCHOST,
    },
    Writer {
        image: r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MsMpEng.exe",
        weight: 90,
        user: SYSTEM,
        places: DEFENDER,
    },
    Writer {
        image: r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        weight: 170,
        user: None,
        places: BROWSER_CACHE,
    },
    Writer {
        image: r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        weight: 80,
        user: None,
        places: EDGE_CACHE,
    },
    Writer {
        image: r"C:\Program Files\Mozilla Firefox\firefox.exe",
        weight: 25,
        user: None,
        places: FIREFOX_CACHE,
    },
    Writer {
        image: r"C:\Windows\explorer.exe",
        weight: 60,
        user: None,
        places: EXPLORER,
    },
    Writer {
        image: r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
        weight: 30,
        user: None,
        places: OFFICE,
    },
    Writer {
        image: r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
        weight: 25,
        user: None,
        places: OFFICE,
    },
    Writer {
        image: r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
        weight: 35,
        user: None,
        places: OUTLOOK,
    },
    Writer {
        image: r"C:\Users\{u}\AppData\Local\Microsoft\WindowsApps\ms-teams.exe",
        weight: 30,
        user: None,
        places: TEAMS_ONEDRIVE,
    },
    Writer {
        image: r"C:\Program Files\Microsoft OneDrive\OneDrive.exe",
        weight: 30,
        user: None,
        places: TEAMS_ONEDRIVE,
    },
    Writer {
        image: r"C:\Windows\System32\SearchIndexer.exe",
        weight: 40,
        user: SYSTEM,
        places: SEARCH,
    },
    Writer {
        image: r"C:\Windows\System32\msiexec.exe",
        weight: 15,
        user: SYSTEM,
        places: INSTALLER,
    },
    Writer {
        image: r"C:\Windows\WinSxS\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.22621.4240_none_7e5c6b0e8c3d4f21\TiWorker.exe",
        weight: 20,
        user: SYSTEM,
        places: INSTALLER,
    },
    Writer {
        image: r"C:\Users\{u}\AppData\Local\Programs\Microsoft VS Code\Code.exe",
        weight: 30,
        user: None,
        places: DEVTOOLS,
    },
    Writer {
        image: r"C:\Program Files\nodejs\node.exe",
        weight: 30,
        user: None,
        places: DEVTOOLS,
    },
    Writer {
        image: r"C:\Users\{u}\AppData\Local\Programs\Python\Python312\python.exe",
        weight: 15,
        user: None,
        places: DEVTOOLS,
    },
    Writer {
        image: r"C:\Users\{u}\.cargo\bin\cargo.exe",
        weight: 15,
        user: None,
        places: DEVTOOLS,
    },
    Writer {
        image: r"System",
        weight: 15,
        user: SYSTEM,
        places: SVCHOST,
    },
];

/// Rare writers of suspicious shapes (the 0.5%).
const SUSPICIOUS_WRITERS: &[&str] = &[
    r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\wscript.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\rundll32.exe",
    r"C:\Windows\System32\mshta.exe",
    r"C:\Windows\System32\certutil.exe",
    r"C:\Users\{u}\Downloads\invoice_{d}.exe",
    r"C:\Windows\System32\svchost.exe",
];

/// Interactive users (profile folder, `DOMAIN\name`), non-ASCII ones included.
const USERS: &[(&str, &str)] = &[
    ("alice.martin", r"CONTOSO\alice.martin"),
    ("bob", r"CONTOSO\bob"),
    ("j.mueller", r"CONTOSO\j.mueller"),
    ("José", r"CONTOSO\José"),
    ("Дмитрий", r"CONTOSO\Дмитрий"),
    ("svc_build", r"CONTOSO\svc_build"),
];

/// File name stems: plain, long, and non-ASCII (about 1 in 12).
const STEMS: &[&str] = &[
    "report",
    "Q3 budget final v2",
    "index",
    "data",
    "setup",
    "msedge_elf",
    "lodash",
    "react-dom",
    "serde_json",
    "Newtonsoft.Json",
    "requests",
    "Meeting notes 2026-07-14 (Project Phoenix) - review comments from legal and finance team",
    "IMG_20260714_101532",
    "thumbnails",
    "config",
    "en-US",
    "update",
    "Résumé",
    "Отчёт за квартал",
    "報告書",
    "Überweisung",
    "naïve café",
    "customer-export-2026",
    "ΣΥΜΒΑΣΗ",
];

const EXTENSIONS: &[&str] = &[
    ".docx", ".xlsx", ".pdf", ".txt", ".json", ".js", ".png", ".jpg", ".log", ".tmp", ".dat",
    ".dll", ".zip", ".pptx", ".csv", ".xml", "",
];

/// Operation mix of a Sysmon-like file log: mostly creations and writes.
const OPERATIONS: &[(Operation, usize)] = &[
    (Operation::Create, 40),
    (Operation::Open, 10),
    (Operation::FirstWrite, 15),
    (Operation::CloseModified, 15),
    (Operation::Rename, 7),
    (Operation::Delete, 12),
    (Operation::SetAttributes, 1),
];

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, usize)]) -> T {
    let total: usize = items.iter().map(|(_, w)| w).sum();
    let mut at = rng.below(total);
    for &(item, weight) in items {
        if at < weight {
            return item;
        }
        at -= weight;
    }
    items[0].0
}

fn hex(rng: &mut Rng, len: usize, upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    (0..len)
        .map(|_| char::from(digits[rng.below(16)]))
        .collect()
}

fn expand(template: &str, profile: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let token = tail.get(..3).unwrap_or(tail);
        match token {
            "{u}" => out.push_str(profile),
            "{n}" => {
                let stem = *rng.pick(STEMS);
                out.push_str(stem);
                if rng.below(2) == 0 {
                    let extension = *rng.pick(EXTENSIONS);
                    out.push_str(extension);
                }
            }
            "{N}" => out.push_str(&rng.pick(STEMS).to_uppercase()),
            "{h}" => out.push_str(&hex(rng, 16, false)),
            "{H}" => out.push_str(&hex(rng, 8, true)),
            "{d}" => out.push_str(&rng.below(10_000).to_string()),
            "{G}" => {
                let g = hex(rng, 32, true);
                out.push_str(&format!(
                    "{{{}-{}-{}-{}-{}}}",
                    &g[..8],
                    &g[8..12],
                    &g[12..16],
                    &g[16..20],
                    &g[20..]
                ));
            }
            other => out.push_str(other),
        }
        rest = &tail[token.len()..];
    }
    out.push_str(rest);
    out
}

/// `n` realistic Windows file events, deterministic for `seed`.
#[must_use]
pub fn events(n: usize, seed: u64) -> Vec<FileEvent> {
    let mut rng = Rng::new(seed);
    // One process per (writer, user), shared by its events as in the pipeline.
    let mut processes: Vec<(usize, Arc<ProcessInfo>)> = Vec::new();
    let mut process = |writer: usize, image: &str, user: &str, rng: &mut Rng| {
        if let Some((_, p)) = processes
            .iter()
            .find(|(w, p)| *w == writer && p.user.as_deref() == Some(user))
        {
            return Arc::clone(p);
        }
        let pid = 1000 + 4 * u32::try_from(processes.len()).unwrap_or(0);
        let p = Arc::new(ProcessInfo {
            key: ProcessKey {
                pid,
                start_key: rng.next_u64() >> 20,
            },
            image: Some(image.to_owned()),
            command_line: Some(format!("\"{image}\"")),
            user: Some(user.to_owned()),
            ..ProcessInfo::default()
        });
        processes.push((writer, Arc::clone(&p)));
        p
    };
    let writer_weights: Vec<(usize, usize)> = WRITERS
        .iter()
        .enumerate()
        .map(|(i, w)| (i, w.weight))
        .collect();
    (0..n)
        .map(|i| {
            let operation = weighted(&mut rng, OPERATIONS);
            // Most events come from the main user; the others log on now and then.
            let (profile, account) = if rng.below(4) == 0 {
                *rng.pick(USERS)
            } else {
                USERS[0]
            };
            let suspicious = rng.below(200) == 0;
            let (writer, image, user, place) = if suspicious {
                let image = *rng.pick(SUSPICIOUS_WRITERS);
                (
                    WRITERS.len()
                        + SUSPICIOUS_WRITERS
                            .iter()
                            .position(|w| *w == image)
                            .unwrap_or(0),
                    image,
                    account,
                    *rng.pick(SUSPICIOUS),
                )
            } else {
                let w = weighted(&mut rng, &writer_weights);
                let writer = &WRITERS[w];
                (
                    w,
                    writer.image,
                    writer.user.unwrap_or(account),
                    *rng.pick(writer.places),
                )
            };
            let image = expand(image, profile, &mut rng);
            let process = process(writer, &image, user, &mut rng);
            let path = expand(place.0, profile, &mut rng);
            let source = matches!(operation, Operation::Rename).then(|| {
                let old = if rng.below(2) == 0 {
                    format!("{path}.tmp")
                } else {
                    expand(
                        r"C:\Users\{u}\AppData\Local\Temp\{H}.tmp",
                        profile,
                        &mut rng,
                    )
                };
                file_path(&old, Host::Windows)
            });
            FileEvent {
                seq: i as u64,
                time: Timestamp::from_unix_nanos(1_780_000_000_000_000_000 + i as u64 * 250_000),
                host: Host::Windows,
                operation,
                process,
                thread_id: 1 + u32::try_from(rng.below(64)).unwrap_or(0),
                target: file_path(&path, Host::Windows),
                source: source.map(Box::new),
                details: Details::default(),
                entropy: None,
            }
        })
        .collect()
}

/// Folders a locker walks through, in the interactive user's profile.
const LOCKER_FOLDERS: &[&str] = &[
    r"C:\Users\{u}\Documents",
    r"C:\Users\{u}\Documents\Projects\{N}",
    r"C:\Users\{u}\Desktop",
    r"C:\Users\{u}\Pictures\{d}",
    r"C:\Users\{u}\OneDrive\Dokumente\Übersicht {d}",
];

/// What a locker finds in them.
const USER_DATA: &[&str] = &[".docx", ".xlsx", ".pdf", ".jpg", ".txt", ".pptx", ".zip"];

/// `n` events of a ransomware run amid `events`' ordinary traffic, deterministic for `seed`:
/// every other event is the locker's — it rewrites a user's document in place (closed after
/// modification) and renames it with a new extension appended, folder after folder (30 files
/// each), and drops a ransom note in each folder it enters. What the built-in pack's chain
/// (`picket-ransom-*`) and behaviour detectors are for, and what makes their correlation
/// state work hardest: one process, thousands of distinct names in one window.
#[must_use]
pub fn ransomware_run(n: usize, seed: u64) -> Vec<FileEvent> {
    let mut rng = Rng::new(seed ^ 0x5eed_10c4);
    let background = events(n / 2 + 1, seed);
    let (profile, account) = USERS[0];
    let image = format!(
        r"C:\Users\{profile}\AppData\Local\Temp\svc{}.exe",
        rng.below(90) + 10
    );
    let locker = Arc::new(ProcessInfo {
        key: ProcessKey {
            pid: 7_777,
            start_key: rng.next_u64() >> 20,
        },
        image: Some(image.clone()),
        command_line: Some(format!("\"{image}\" -path C:\\Users")),
        user: Some(account.to_owned()),
        ..ProcessInfo::default()
    });
    let mut steps: Vec<(Operation, String, Option<String>)> = Vec::new();
    while steps.len() < n / 2 + 1 {
        let template = *rng.pick(LOCKER_FOLDERS);
        let folder = expand(template, profile, &mut rng);
        steps.push((
            Operation::Create,
            format!(r"{folder}\README-RESTORE.txt"),
            None,
        ));
        for _ in 0..30 {
            let name = format!(r"{folder}\{}{}", rng.pick(STEMS), rng.pick(USER_DATA));
            steps.push((Operation::CloseModified, name.clone(), None));
            steps.push((Operation::Rename, format!("{name}.lockbit3"), Some(name)));
        }
    }
    let mut steps = steps.into_iter();
    let mut background = background.into_iter();
    // Both hold n / 2 + 1 events: the run has n.
    (0..n)
        .filter_map(|i| {
            let event = if i % 2 == 0 {
                steps.next().map(|(operation, target, source)| FileEvent {
                    seq: 0,
                    time: Timestamp(0),
                    host: Host::Windows,
                    operation,
                    process: Arc::clone(&locker),
                    thread_id: 1,
                    target: file_path(&target, Host::Windows),
                    source: source.map(|s| Box::new(file_path(&s, Host::Windows))),
                    details: Details::default(),
                    entropy: None,
                })
            } else {
                background.next()
            };
            event.map(|event| FileEvent {
                seq: i as u64,
                time: Timestamp::from_unix_nanos(1_780_000_000_000_000_000 + i as u64 * 250_000),
                ..event
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use picket_model::FilePath;

    use super::*;

    #[test]
    fn a_ransomware_run_is_one_locker_amid_ordinary_traffic() {
        let run = ransomware_run(4_000, 3);
        assert_eq!(run, ransomware_run(4_000, 3));
        assert_eq!(run.len(), 4_000);
        let locker: Vec<&FileEvent> = run.iter().filter(|e| e.process.key.pid == 7_777).collect();
        assert_eq!(locker.len(), 2_000);
        assert!(run
            .windows(2)
            .all(|w| w[0].time < w[1].time && w[0].seq + 1 == w[1].seq));
        let renames: Vec<&&FileEvent> = locker
            .iter()
            .filter(|e| e.operation == Operation::Rename)
            .collect();
        assert!(renames.len() > 900);
        assert!(renames.iter().all(|e| {
            let source = e.source.as_deref().map(FilePath::path).unwrap_or_default();
            e.target.path() == format!("{source}.lockbit3")
        }));
        let notes = locker
            .iter()
            .filter(|e| e.target.path().ends_with(r"\README-RESTORE.txt"))
            .count();
        assert!(notes > 30, "{notes} notes");
    }

    #[test]
    fn events_have_real_shapes_and_are_deterministic() {
        let a = events(5_000, 7);
        assert_eq!(a, events(5_000, 7));
        let non_ascii = a.iter().filter(|e| !e.target.path().is_ascii()).count();
        assert!(
            (100..1_500).contains(&non_ascii),
            "{non_ascii} non-ASCII paths"
        );
        assert!(a.iter().all(|e| !e.target.path().contains("{u}")));
        let system = a
            .iter()
            .filter(|e| e.process.user.as_deref() == SYSTEM)
            .count();
        assert!((1_000..3_000).contains(&system), "{system} SYSTEM events");
        assert!(a.iter().any(|e| e.target.path().len() > 200));
        assert!(a
            .iter()
            .any(|e| e.target.path().starts_with(r"C:\Users\Public\")));
    }
}
