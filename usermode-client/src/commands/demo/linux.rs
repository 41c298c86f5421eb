//! `picket demo` on Linux: see the parent module.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

use super::DemoArgs;

/// Our own flags and how many values each takes; everything else after `demo` is a
/// detection flag, forwarded to `picket watch` unchanged.
const OWN_FLAGS: [(&str, usize); 4] = [
    ("--dir", 1),
    ("--keep", 0),
    ("--files", 1),
    ("--internal-workload", 2),
];

const VICTIM_FOLDERS: [&str; 3] = ["documents", "photos", "finance"];
const VICTIM_EXTENSIONS: [&str; 3] = ["docx", "jpg", "xlsx"];
const LOCKED_EXTENSION: &str = "locked";
const NOTE_NAME: &str = "README-RESTORE-FILES.txt";
const EVENTS_FILE: &str = "picket-events.jsonl";
const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(spec) = &args.internal_workload {
        return run_internal_workload(spec, args.files);
    }
    let _ = &args.detection; // forwarded as flags to `picket watch`, see `forwarded_flags`
    let scratch = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("picket-demo-{}", std::process::id())),
    };
    fs::create_dir(&scratch)
        .with_context(|| format!("cannot create the scratch folder {}", scratch.display()))?;
    let scratch = fs::canonicalize(&scratch)?;
    let result = demo(&scratch, &args);
    if args.keep {
        eprintln!("picket demo: kept {}", scratch.display());
    } else {
        let _ = fs::remove_dir_all(&scratch);
    }
    result
}

fn demo(scratch: &Path, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let victims = scratch.join("victim");
    let benign = scratch.join("benign");
    seed_victims(&victims, args.files)?;
    fs::create_dir(&benign)?;
    let events_file = scratch.join(EVENTS_FILE);

    println!("picket demo: scratch folder {}", scratch.display());
    let mut sensor = Sensor::start(scratch, &events_file)?;
    println!("sensor: picket watch (pid {}) is live", sensor.pid());

    let benign = Workload::run("benign", &benign, args.files)?;
    let benign_pid = benign.pid();
    println!(
        "benign workload (pid {benign_pid}): notes written, edited, renamed, a temp file deleted"
    );
    let ransom = Workload::run("ransomware", &victims, args.files)?;
    let ransom_pid = ransom.pid();
    println!(
        "ransomware-like workload (pid {ransom_pid}): {} files overwritten with random bytes and \
         renamed to .{LOCKED_EXTENSION}, then {NOTE_NAME} in each of {} folders",
        args.files as usize * VICTIM_FOLDERS.len(),
        VICTIM_FOLDERS.len()
    );

    sensor.sync(scratch)?;
    benign.release()?;
    ransom.release()?;
    let output = sensor.stop()?;
    let report = Report::from_output(&output, scratch);
    report.print(&[("benign", benign_pid), ("ransomware-like", ransom_pid)]);
    if report
        .events_by_pid
        .get(&ransom_pid)
        .is_none_or(BTreeMap::is_empty)
    {
        bail!("the sensor reported nothing for the ransomware-like workload");
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// The sensor: `picket watch` as a child process.

struct Sensor {
    child: Option<Child>,
    events_file: PathBuf,
    markers: u32,
}

impl Sensor {
    fn start(scratch: &Path, events_file: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the picket binary")?;
        let child = Command::new(exe)
            .arg("watch")
            .arg(scratch)
            .arg("--output")
            .arg(events_file)
            .args(forwarded_flags(std::env::args_os()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start picket watch")?;
        let mut sensor = Self {
            child: Some(child),
            events_file: events_file.to_path_buf(),
            markers: 0,
        };
        sensor.sync(scratch)?;
        Ok(sensor)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Creates a marker file and waits until the sensor reports it: the sensor is live,
    /// and has read everything done before.
    fn sync(&mut self, scratch: &Path) -> anyhow::Result<()> {
        self.markers += 1;
        let marker = scratch.join(format!(".picket-demo-marker-{}", self.markers));
        let needle = format!("\"{}\"", marker.display());
        let start = Instant::now();
        let mut touched: Option<Instant> = None;
        loop {
            if touched.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                let _ = fs::remove_file(&marker);
                fs::write(&marker, b"marker")?;
                touched = Some(Instant::now());
            }
            if fs::read_to_string(&self.events_file).is_ok_and(|t| t.contains(&needle)) {
                let _ = fs::remove_file(&marker);
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("picket watch stopped ({status}); see its error above");
            }
            if start.elapsed() > SYNC_TIMEOUT {
                bail!("picket watch did not report activity within {SYNC_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ctrl-C for the sensor (it flushes and prints its summary), then its JSON lines.
    fn stop(mut self) -> anyhow::Result<String> {
        let mut child = self.child.take().context("sensor already stopped")?;
        interrupt(child.id());
        let start = Instant::now();
        while child.try_wait()?.is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("picket watch did not stop within 30 s of Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        fs::read_to_string(&self.events_file)
            .with_context(|| format!("cannot read {}", self.events_file.display()))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIGINT, as Ctrl-C in a terminal would send.
fn interrupt(pid: u32) {
    // The shell's built-in `kill`: no dependency on procps being installed.
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -INT {pid}"))
        .status();
}

/// The arguments after `demo` that are not demo's own: the detection flags, which `watch`
/// shares with `demo` (both flatten `DetectionArgs`).
fn forwarded_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args = args.into_iter().skip_while(|a| a != "demo").skip(1);
    let mut out = Vec::new();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        let flag = text.split_once('=').map_or(&*text, |(f, _)| f);
        match OWN_FLAGS.iter().find(|(name, _)| *name == flag) {
            Some((_, values)) => {
                if !text.contains('=') {
                    for _ in 0..*values {
                        args.next();
                    }
                }
            }
            None => out.push(arg),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The workloads, each in its own process.

/// A workload process that has done its work and stays alive until released, as a real
/// program would while the sensor reads its events: enrichment can then still read its
/// image and command line, and its start key is known.
struct Workload {
    kind: &'static str,
    child: Child,
}

impl Workload {
    /// Starts the workload and waits until it says it is done.
    fn run(kind: &'static str, dir: &Path, files: u32) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("demo")
            .arg("--files")
            .arg(files.to_string())
            .arg("--internal-workload")
            .arg(kind)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start the {kind} workload"))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        if line.trim() != WORKLOAD_DONE {
            let status = child.wait()?;
            bail!("the {kind} workload failed ({status})");
        }
        Ok(Self { kind, child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the process exit.
    fn release(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the {} workload failed ({status})", self.kind);
        }
        Ok(())
    }
}

/// What a workload process prints when its work is done.
const WORKLOAD_DONE: &str = "done";

fn run_internal_workload(spec: &[PathBuf], files: u32) -> anyhow::Result<ExitCode> {
    let [kind, dir] = spec else {
        bail!("--internal-workload takes KIND and DIR");
    };
    match kind.to_str() {
        Some("benign") => benign_workload(dir)?,
        Some("ransomware") => ransomware_workload(dir, files)?,
        _ => bail!("unknown workload {}", kind.display()),
    }
    // Done: say so, then stay alive until the demo closes our stdin.
    println!("{WORKLOAD_DONE}");
    std::io::stdout().flush()?;
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    Ok(ExitCode::SUCCESS)
}

/// A person's afternoon: notes written and edited, a draft renamed, a temp file removed.
fn benign_workload(dir: &Path) -> anyhow::Result<()> {
    fs::write(dir.join("notes.txt"), "shopping: bread, milk\n")?;
    let mut notes = OpenOptions::new()
        .append(true)
        .open(dir.join("notes.txt"))?;
    notes.write_all(b"call the plumber\n")?;
    drop(notes);
    fs::write(dir.join("draft.md"), "# Report\n\nFirst draft.\n")?;
    fs::rename(dir.join("draft.md"), dir.join("report.md"))?;
    fs::write(dir.join("report.md.tmp"), "autosave\n")?;
    fs::remove_file(dir.join("report.md.tmp"))?;
    Ok(())
}

/// What ransomware does, minus the key: every file overwritten with random bytes and
/// renamed with a new extension appended, then the same note dropped in every folder.
fn ransomware_workload(victims: &Path, files: u32) -> anyhow::Result<()> {
    let mut random = File::open("/dev/urandom").context("open /dev/urandom")?;
    for folder in VICTIM_FOLDERS {
        let dir = victims.join(folder);
        for i in 0..files {
            let name = victim_name(folder, i);
            let path = dir.join(&name);
            let size = usize::try_from(fs::metadata(&path)?.len()).unwrap_or(4096);
            let mut noise = vec![0u8; size];
            random.read_exact(&mut noise)?;
            let mut file = OpenOptions::new().write(true).truncate(true).open(&path)?;
            file.write_all(&noise)?;
            drop(file);
            fs::rename(&path, dir.join(format!("{name}.{LOCKED_EXTENSION}")))?;
        }
    }
    for folder in VICTIM_FOLDERS {
        fs::write(
            victims.join(folder).join(NOTE_NAME),
            "Your files are encrypted. This is a Picket demo: nothing was harmed.\n",
        )?;
    }
    Ok(())
}

fn victim_name(folder: &str, i: u32) -> String {
    let position = VICTIM_FOLDERS
        .iter()
        .position(|f| *f == folder)
        .unwrap_or(0);
    let ext = VICTIM_EXTENSIONS[position % VICTIM_EXTENSIONS.len()];
    format!("{folder}-{i:03}.{ext}")
}

/// The files the ransomware-like workload will attack, created before the sensor starts.
fn seed_victims(victims: &Path, files: u32) -> anyhow::Result<()> {
    for folder in VICTIM_FOLDERS {
        let dir = victims.join(folder);
        fs::create_dir_all(&dir)?;
        for i in 0..files {
            let body = format!("{folder} file {i}: quarterly numbers, holiday pictures...\n");
            fs::write(dir.join(victim_name(folder, i)), body.repeat(40))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// What the sensor saw.

#[derive(Debug, Default)]
struct Report {
    /// pid → operation → count, for events inside the scratch folder.
    events_by_pid: BTreeMap<u32, BTreeMap<String, u64>>,
    /// (severity, title, rule id, shadow) → count.
    alerts: BTreeMap<(String, String, String, bool), u64>,
    /// Counts of the `events_lost` notices.
    lost: Vec<u64>,
}

impl Report {
    fn from_output(output: &str, scratch: &Path) -> Self {
        let prefix = format!("{}/", scratch.display());
        let mut report = Self::default();
        for line in output.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let text = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            match v.get("class_uid").and_then(Value::as_u64) {
                Some(1001) => {
                    let path = text("/file/path");
                    let is_marker = path.contains(".picket-demo-marker-");
                    if !path.starts_with(&prefix) || is_marker {
                        continue;
                    }
                    let pid = v
                        .pointer("/actor/process/pid")
                        .and_then(Value::as_u64)
                        .and_then(|p| u32::try_from(p).ok())
                        .unwrap_or(0);
                    *report
                        .events_by_pid
                        .entry(pid)
                        .or_default()
                        .entry(text("/unmapped/picket/operation"))
                        .or_default() += 1;
                }
                Some(2004) => {
                    let key = (
                        text("/severity"),
                        text("/finding_info/title"),
                        text("/finding_info/analytic/uid"),
                        v.pointer("/unmapped/picket/shadow")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    );
                    *report.alerts.entry(key).or_default() += 1;
                }
                _ => {
                    if v.get("picket_notice").and_then(Value::as_str) == Some("events_lost") {
                        report.lost.push(
                            v.get("count")
                                .and_then(Value::as_u64)
                                .or_else(|| v.get("count_at_least").and_then(Value::as_u64))
                                .unwrap_or(1),
                        );
                    }
                }
            }
        }
        report
    }

    fn print(&self, workloads: &[(&str, u32)]) {
        println!();
        println!("what the sensor saw (events in the scratch folder, by process):");
        for (label, pid) in workloads {
            let ops = self.events_by_pid.get(pid);
            let total: u64 = ops.map_or(0, |o| o.values().sum());
            let detail = ops.map_or_else(String::new, |o| {
                o.iter()
                    .map(|(op, n)| format!("{op} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            println!("  {label:<16} pid {pid:<8} {total:>4} events: {detail}");
        }
        let others: u64 = self
            .events_by_pid
            .iter()
            .filter(|(pid, _)| !workloads.iter().any(|(_, p)| p == *pid))
            .map(|(_, ops)| ops.values().sum::<u64>())
            .sum();
        if others > 0 {
            println!("  {:<16} {others} events from other processes", "others");
        }
        if self.lost.is_empty() {
            println!("  no events lost");
        } else {
            println!(
                "  EVENTS LOST: {} loss notices (at least {} events)",
                self.lost.len(),
                self.lost.iter().sum::<u64>()
            );
        }
        println!();
        if self.alerts.is_empty() {
            println!(
                "what was detected: nothing (detection off with --no-detect, or no rule matched)"
            );
            return;
        }
        println!("what was detected:");
        for ((severity, title, rule, shadow), n) in &self.alerts {
            let shadow = if *shadow {
                " (shadow: not actionable)"
            } else {
                ""
            };
            println!("  [{severity}] {title} (rule {rule}) x{n}{shadow}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn forwards_only_the_detection_flags() {
        let args = os(&[
            "picket",
            "--log",
            "info",
            "demo",
            "--dir",
            "/tmp/x",
            "--keep",
            "--no-detect",
            "--files=5",
            "--canary",
            "/c",
            "--internal-workload",
            "benign",
            "/d",
        ]);
        assert_eq!(
            forwarded_flags(args),
            os(&["--no-detect", "--canary", "/c"])
        );
    }

    #[test]
    fn the_report_counts_scratch_events_by_process_alerts_and_losses() {
        let output = [
        r#"{"class_uid":1001,"file":{"path":"/s/a.txt"},"actor":{"process":{"pid":7}},"unmapped":{"picket":{"operation":"create"}}}"#,
        r#"{"class_uid":1001,"file":{"path":"/s/a.txt"},"actor":{"process":{"pid":7}},"unmapped":{"picket":{"operation":"create"}}}"#,
        r#"{"class_uid":1001,"file":{"path":"/elsewhere"},"actor":{"process":{"pid":7}},"unmapped":{"picket":{"operation":"create"}}}"#,
        r#"{"class_uid":1001,"file":{"path":"/s/.picket-demo-marker-1"},"actor":{"process":{"pid":1}},"unmapped":{"picket":{"operation":"create"}}}"#,
        r#"{"class_uid":2004,"severity":"Critical","finding_info":{"title":"Ransom","analytic":{"uid":"r1"}},"unmapped":{"picket":{"shadow":false}}}"#,
        r#"{"picket_notice":"events_lost","count":3}"#,
        "not json",
    ]
    .join("\n");
        let report = Report::from_output(&output, Path::new("/s"));
        assert_eq!(report.events_by_pid.len(), 1);
        assert_eq!(report.events_by_pid[&7]["create"], 2);
        assert_eq!(report.lost, vec![3]);
        let key = ("Critical".into(), "Ransom".into(), "r1".into(), false);
        assert_eq!(report.alerts[&key], 1);
    }
}
