//! `ransom-bench`: for every simulator family, how many files were lost before Picket's
//! first actionable HIGH (or CRITICAL) alert, and how long detection took; for every benign
//! workload, how many HIGH+ alerts it raised (target: 0). A benchmark, not a test: it prints
//! figures and asserts nothing.
//!
//! ```text
//! cargo build --release -p picket -p picket-ransim
//! sudo target/release/ransom-bench [--files N] [--runs R] [--picket PATH] [--dir DIR]
//!                                    [--only FAMILY]   # that family alone, no benign runs
//! ```
//!
//! Each run: a fresh corpus of N files per folder (4 folders) under a scratch folder, the
//! live sensor (`picket watch`, default flags) started and proven live with a marker file,
//! then the family run as its own process, logging the wall-clock time each file is lost.
//! The alert time is when the alert line appears in the sensor's output (polled every
//! 2 ms), so the figure includes the sensor's whole pipeline and the emitter's flush. Each
//! family runs R times (default 3); the table shows the median and the range.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use picket_ransim::benign::Benign;
use picket_ransim::family::Family;
use picket_ransim::progress;

struct Config {
    picket: PathBuf,
    ransim: PathBuf,
    files: usize,
    runs: usize,
    scratch: PathBuf,
    /// One family alone (and no benign workload), to compare builds on it.
    only: Option<Family>,
}

fn parse() -> anyhow::Result<Config> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("exe dir")?.to_path_buf();
    let mut config = Config {
        picket: dir.join("picket"),
        ransim: dir.join("picket-ransim"),
        files: 50,
        runs: 3,
        scratch: std::env::temp_dir().join(format!("picket-ransom-bench-{}", std::process::id())),
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let value = it.next().with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--files" => config.files = value.parse()?,
            "--runs" => config.runs = value.parse::<usize>()?.max(1),
            "--picket" => config.picket = value.into(),
            "--dir" => config.scratch = value.into(),
            "--only" => {
                config.only = Some(Family::from_name(&value).with_context(|| {
                    let names: Vec<_> = Family::ALL.iter().map(|f| f.name()).collect();
                    format!("no family {value:?}: one of {}", names.join(", "))
                })?);
            }
            _ => bail!("unknown flag {arg}"),
        }
    }
    for bin in [&config.picket, &config.ransim] {
        if !bin.is_file() {
            bail!(
                "{} not found: cargo build --release -p picket -p picket-ransim",
                bin.display()
            );
        }
    }
    Ok(config)
}

/// The sensor's output, read as it grows.
struct Output {
    file: PathBuf,
    offset: u64,
    partial: String,
}

impl Output {
    /// New complete lines since the last call.
    fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.file) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let Ok(n) = f.read_to_string(&mut text) else {
            return Vec::new();
        };
        self.offset += n as u64;
        self.partial.push_str(&text);
        let mut out = Vec::new();
        while let Some(i) = self.partial.find('\n') {
            out.push(self.partial[..i].to_owned());
            self.partial.drain(..=i);
        }
        out
    }
}

fn actionable_high(line: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    v["class_uid"] == 2004
        && matches!(v["severity"].as_str(), Some("High" | "Critical"))
        && !v
            .pointer("/unmapped/picket/shadow")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
}

struct Sensor {
    child: Child,
    output: Output,
}

impl Sensor {
    fn start(picket: &Path, root: &Path, out: &Path) -> anyhow::Result<Self> {
        let child = Command::new(picket)
            .arg("watch")
            .arg(root)
            .arg("--output")
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start picket watch")?;
        let mut sensor = Self {
            child,
            output: Output {
                file: out.to_path_buf(),
                offset: 0,
                partial: String::new(),
            },
        };
        let marker = root.join(".bench-marker");
        let start = Instant::now();
        loop {
            std::fs::write(&marker, b"m")?;
            if sensor
                .output
                .lines()
                .iter()
                .any(|l| l.contains(".bench-marker"))
            {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                bail!("picket watch did not start within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::remove_file(&marker)?;
        Ok(sensor)
    }

    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.output.lines()
    }
}

struct Row {
    name: String,
    total: usize,
    lost: Option<usize>,
    seconds: Option<f64>,
}

fn family_run(config: &Config, family: Family) -> anyhow::Result<Row> {
    let dir = config.scratch.join(family.name());
    let root = dir.join("watched");
    let victims = root.join("victims");
    std::fs::create_dir_all(&root)?;
    let (per_folder, delay) = if family == Family::Slow {
        (3, "2000")
    } else {
        (config.files, "0")
    };
    let status = Command::new(&config.ransim)
        .arg("seed")
        .arg(&victims)
        .arg("--files")
        .arg(per_folder.to_string())
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("seed failed");
    }
    let log = dir.join("progress.log");
    let mut sensor = Sensor::start(&config.picket, &root, &dir.join("events.jsonl"))?;
    let started = Instant::now();
    let started_nanos = progress::now_nanos();
    let mut attacker = Command::new(&config.ransim)
        .args(["run", family.name()])
        .arg(&victims)
        .arg("--log")
        .arg(&log)
        .args(["--delay-ms", delay])
        .stdout(Stdio::null())
        .spawn()?;
    let mut alert_at: Option<(u128, f64)> = None;
    let mut finished_at: Option<Instant> = None;
    loop {
        if alert_at.is_none() && sensor.output.lines().iter().any(|l| actionable_high(l)) {
            alert_at = Some((progress::now_nanos(), started.elapsed().as_secs_f64()));
        }
        if finished_at.is_none() && attacker.try_wait()?.is_some() {
            finished_at = Some(Instant::now());
        }
        // After the attack: 3 s for late alerts.
        if alert_at.is_some() && finished_at.is_some()
            || finished_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = sensor.stop();
    let times = progress::read(&log);
    let lost = alert_at.map(|(at, _)| times.iter().filter(|&&t| t <= at).count());
    let _ = started_nanos;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Row {
        name: family.name().to_owned(),
        total: times.len(),
        lost,
        seconds: alert_at.map(|(_, s)| s),
    })
}

fn benign_run(config: &Config, workload: Benign) -> anyhow::Result<usize> {
    let dir = config.scratch.join(workload.name());
    let root = dir.join("watched");
    std::fs::create_dir_all(&root)?;
    let sensor = Sensor::start(&config.picket, &root, &dir.join("events.jsonl"))?;
    let status = Command::new(&config.ransim)
        .args(["benign", workload.name()])
        .arg(root.join("work"))
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("{} failed", workload.name());
    }
    std::thread::sleep(Duration::from_secs(1));
    let lines = sensor.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(lines.iter().filter(|l| actionable_high(l)).count())
}

fn main() -> anyhow::Result<()> {
    let config = parse()?;
    std::fs::create_dir_all(&config.scratch)?;
    println!(
        "ransom-bench: {} files per folder x 4 folders (slow-rate: 3 x 4, one every 2 s)\n",
        config.files
    );
    println!(
        "| family | files attacked | files lost before first HIGH+ (median of {}, range) | seconds to detection (median) |",
        config.runs
    );
    println!("|---|---:|---:|---:|");
    let mut lost_all = Vec::new();
    for family in Family::ALL
        .into_iter()
        .filter(|f| config.only.is_none_or(|only| only == *f))
    {
        let mut rows = Vec::new();
        for _ in 0..config.runs {
            rows.push(family_run(&config, family)?);
        }
        let total = rows.first().map_or(0, |r| r.total);
        let mut lost: Vec<usize> = rows.iter().map(|r| r.lost.unwrap_or(r.total)).collect();
        lost.sort_unstable();
        let mut secs: Vec<f64> = rows.iter().filter_map(|r| r.seconds).collect();
        secs.sort_by(f64::total_cmp);
        let missed = rows.iter().filter(|r| r.lost.is_none()).count();
        let median = lost.get(lost.len() / 2).copied().unwrap_or(total);
        let range = format!(
            "{}–{}",
            lost.first().copied().unwrap_or(0),
            lost.last().copied().unwrap_or(0)
        );
        let missed = if missed > 0 {
            format!(" ({missed} run(s) not detected)")
        } else {
            String::new()
        };
        let secs = secs
            .get(secs.len() / 2)
            .map_or("-".to_owned(), |s| format!("{s:.2}"));
        let name = rows.first().map_or(family.name(), |r| r.name.as_str());
        println!("| {name} | {total} | {median} ({range}){missed} | {secs} |");
        if family != Family::Notes {
            lost_all.push(median);
        }
    }
    lost_all.sort_unstable();
    if let Some(median) = lost_all
        .get(lost_all.len() / 2)
        .filter(|_| config.only.is_none())
    {
        println!(
            "\nmedian files lost over the {} encrypting families: {median}",
            lost_all.len()
        );
    }
    if config.only.is_some() {
        let _ = std::fs::remove_dir_all(&config.scratch);
        return Ok(());
    }
    println!("\n| benign workload | HIGH+ alerts |");
    println!("|---|---:|");
    for workload in Benign::ALL {
        println!(
            "| {} | {} |",
            workload.name(),
            benign_run(&config, workload)?
        );
    }
    let _ = std::fs::remove_dir_all(&config.scratch);
    Ok(())
}
