//! What watching costs the writer: a fixed file workload run unwatched, under a bare
//! fanotify reader that only drains events (the floor any fanotify sensor pays), and under
//! `picket watch --output /dev/null` with detection off (also with every event filtered out
//! after enrichment: what carrying and parsing events costs on its own) and on, and on with
//! `--alerts-only` (every event detected on, no event line written: detection's cost
//! without the telemetry output), and on with `--output-thread` (the output written on a
//! thread of its own instead of the reading thread: what handing each batch over costs),
//! and on at a fixed nice −5 in the normal scheduling class (picket's pace before
//! 2026-12-05: what yielding while it keeps up saves the writer, in the same rounds).
//! The bare reader asks for what picket's source asks for with process tracking on: no
//! pidfds (the tracker stands in for them). A second one asks for a pidfd per event
//! (`FAN_REPORT_PIDFD`), as picket's source does without tracking and did by default before
//! 2026-12-05: the kernel makes each at the read and closes it after, two thirds of such a
//! reader's CPU. Prints the writer's time, its slowdown against the unwatched run, the sensors' CPU
//! per event and events/s, how much writer time each sensor's CPU beyond the bare reader's
//! cost, and whether the kernel queue overflowed.
//!
//! ```text
//! cargo bench -p picket-fanotify --bench overhead            # needs root
//! PICKET_BENCH_FILES=25000 PICKET_BENCH_REPS=5 cargo bench -p picket-fanotify --bench overhead
//! ```
//!
//! A second workload measures what process tracking costs a program that starts programs:
//! `PICKET_BENCH_EXECS` runs of `/bin/true` (default 1 000), timed the same way once the
//! sensor has drained the file workload's events (not against its backlog), with
//! `picket watch` run with process tracking on (the default) and off
//! (`PICKET_PROCESSES=off`), in the same rounds.
//!
//! Workload: `PICKET_BENCH_FILES` files (default 25 000), each created and written (4 KiB,
//! one write, close), renamed, and deleted: 100 000 operations by default. The rename is
//! `f1.dat` → `f1.bak` (no rule counts it); `PICKET_BENCH_SHAPE=ransomware` makes it
//! `f1.docx` → `f1.docx.locked`, so detection works as it does under attack: every rewrite
//! and every rename is counted by the built-in pack's ransomware chain, one process.
//! `PICKET_BENCH_WRITERS=N` runs N such writers at once, each in a folder of its own (the
//! writer's time is then the slowest's, its CPU and wait the sum): enough of them outrun a
//! sensor at the writers' priority, which shows whether its pace keeps the queue from
//! overflowing. Each
//! mode runs `PICKET_BENCH_REPS` times (default 5), modes interleaved, and the median is
//! printed.
//! During every run the benchmark applies its own concurrent CPU load: `PICKET_BENCH_LOAD`
//! busy threads (default: one per CPU; 0 for none), so no core is free for the sensor and its
//! CPU time comes out of the writer's, as on a busy machine. The `CPU/event` columns give each
//! sensor's CPU time per event and its ratio to the bare reader's (issue 15: picket with the
//! built-in pack within 1.5x). Ratios are given twice: of the medians, and within each round
//! (every round runs every mode once), whose median and range move less with the machine.
//! Target (issue 6): the writer's slowdown under `picket watch` within 10% of its slowdown
//! under the bare reader, and no overflow. A second bare reader runs in every round as a
//! noise control: what the comparison shows when nothing differs. The two targets are decided
//! from the same-round ratios: their median over the rounds and its interval from the order
//! statistics, met only when the whole interval is within the target.
//! `PICKET_BENCH_MODES=targets` runs only the modes the targets need (unwatched, the two bare
//! readers, picket with detection on), about twice the rounds in the same time.
//! `PICKET_BENCH_PICKET=/path/to/picket` judges that build instead of building
//! `target/release/picket` (a profile-guided build: `cargo make release-pgo`).
//! `PICKET_BENCH_BASELINE=/path/to/picket` adds another build of picket (detection on) to the
//! rounds and prints this build's same-round ratios to it: how to judge a change. Every
//! round's ratios are printed; `PICKET_BENCH_POOL=run1.log:run2.log` (saved output of earlier
//! runs of the same code) pools theirs with this run's and decides the targets on all of
//! them as well, since runs differ by more than one run's interval. Fewer than
//! 10 000 files or 3 repetitions (or `PICKET_BENCH_SMOKE` set), as in CI, is a smoke run: it
//! says its figures are not a measurement and states no target.
//!
//! The bench binary run with `--workload DIR` runs the file workload alone, once, in `DIR`
//! under the same concurrent load: `benches/profile-live.sh` (`cargo make profile-live`)
//! profiles a sensor watching it, to split its CPU by stage in time, and
//! `benches/instructions.sh` (`cargo make instructions`) counts a sensor's instructions.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use picket_fanotify::{group::release_descriptors, parse, Group};
use stats::{median_interval, rounds_line, verdict, EarlierRounds, MedianInterval};

#[path = "stats.rs"]
mod stats;
#[path = "threads.rs"]
mod threads;

const FAN_Q_OVERFLOW: u64 = libc::FAN_Q_OVERFLOW;

pub fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--bare-reader") {
        let pidfds = args.iter().any(|a| a == "--pidfd");
        bare_reader(Path::new(&args[at + 1]), pidfds);
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--workload") {
        workload_alone(Path::new(&args[at + 1]));
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing useful: the
    // benchmark only runs when asked for.
    if !args.iter().any(|a| a == "--bench") {
        println!("overhead: run with `cargo bench -p picket-fanotify --bench overhead`");
        return;
    }
    run_benchmark();
}

// ---------------------------------------------------------------------------------------
// The bare reader: the same group configuration as picket's source with process tracking
// (no pidfds), and nothing else. With `pidfds`, the configuration without tracking: what the
// kernel's pidfd per event costs a reader (and, through it, the writer).

fn bare_reader(path: &Path, pidfds: bool) {
    let features = picket_fanotify::Features {
        pidfd: pidfds,
        ..picket_fanotify::Features::default()
    };
    let group = Group::open(path, features).expect("bare reader: open the fanotify group");
    assert_eq!(
        group.capabilities().pidfd,
        pidfds,
        "bare reader: the kernel did not give the pidfd setting asked for"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        stop_flag.store(true, Ordering::SeqCst);
    });
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let (mut events, mut overflows) = (0u64, 0u64);
    let mut drained = false;
    loop {
        // The same read policy as picket's source: after emptying the queue, let events
        // gather before waiting again.
        if drained {
            std::thread::sleep(picket_fanotify::group::GATHER_INTERVAL);
        }
        drained = false;
        let ready = group.wait(50).expect("poll");
        if !ready {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            continue;
        }
        let n = group.read(&mut buf).expect("read");
        drained = n < buf.len() - buf.len() / 4;
        for event in parse::events(&buf[..n]) {
            let event = event.expect("well-formed events");
            release_descriptors(&event);
            events += 1;
            if event.mask & FAN_Q_OVERFLOW != 0 {
                overflows += 1;
            }
        }
    }
    println!("events {events} overflows {overflows}");
}

// ---------------------------------------------------------------------------------------
// The writer.

/// CPU time (user + system) this thread has used.
fn thread_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a valid, exclusively borrowed rusage for the kernel to fill.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage succeeded, so it initialized the whole struct (it was zeroed anyway).
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// How long a sensor must use no CPU to count as having drained its queue.
const DRAINED_AFTER: Duration = Duration::from_millis(300);

/// Starts `/bin/true` `count` times, one after the other; returns the wall time.
fn exec_workload(count: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..count {
        let status = Command::new("/bin/true").status().unwrap();
        assert!(status.success());
    }
    start.elapsed()
}

/// Busy threads competing for every CPU while a run lasts (stopped on drop).
struct CpuLoad {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuLoad {
    fn start(threads: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|i| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ i as u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                        }
                        std::hint::black_box(x);
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What the file workload's names look like.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// `f1.dat` renamed to `f1.bak`: a backup rename no rule counts.
    Ordinary,
    /// `f1.docx` renamed to `f1.docx.locked`: what ransomware does, so the built-in pack's
    /// ransomware chain counts every rewrite and every rename of one process.
    Ransomware,
}

impl Shape {
    fn from_env() -> Self {
        match std::env::var("PICKET_BENCH_SHAPE").as_deref() {
            Ok("ransomware") => Self::Ransomware,
            Ok("ordinary") | Err(_) => Self::Ordinary,
            Ok(other) => panic!("PICKET_BENCH_SHAPE={other}: expected ordinary or ransomware"),
        }
    }

    fn names(self, i: usize) -> (String, String) {
        match self {
            Self::Ordinary => (format!("f{i}.dat"), format!("f{i}.bak")),
            Self::Ransomware => (format!("f{i}.docx"), format!("f{i}.docx.locked")),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Ordinary => "renamed .dat -> .bak",
            Self::Ransomware => {
                "renamed .docx -> .docx.locked, a ransomware shape the built-in pack counts"
            }
        }
    }
}

/// Runs the workload; returns (wall time, CPU time of the writer).
/// `writers` copies of [`workload`] at once, each in a folder of its own under `dir`: the
/// time until the last has finished, and their CPU and run-queue wait added up.
fn workloads(
    dir: &Path,
    files: usize,
    shape: Shape,
    writers: usize,
) -> (Duration, Duration, Duration) {
    if writers <= 1 {
        return workload(dir, files, shape);
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let dir = dir.join(format!("w{w}"));
            fs::create_dir(&dir).unwrap();
            std::thread::spawn(move || {
                let times = workload(&dir, files, shape);
                fs::remove_dir(&dir).unwrap();
                times
            })
        })
        .collect();
    let (mut cpu, mut waited) = (Duration::ZERO, Duration::ZERO);
    for handle in handles {
        let (_, c, w) = handle.join().unwrap();
        cpu += c;
        waited += w;
    }
    (start.elapsed(), cpu, waited)
}

fn workload(dir: &Path, files: usize, shape: Shape) -> (Duration, Duration, Duration) {
    let data = vec![0x5au8; 4096];
    let cpu = thread_cpu();
    let waited = thread_run_delay();
    let start = Instant::now();
    for i in 0..files {
        let (a, b) = shape.names(i);
        let (a, b) = (dir.join(a), dir.join(b));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&a)
            .unwrap();
        f.write_all(&data).unwrap();
        drop(f);
        fs::rename(&a, &b).unwrap();
        fs::remove_file(&b).unwrap();
    }
    (
        start.elapsed(),
        thread_cpu().saturating_sub(cpu),
        thread_run_delay().saturating_sub(waited),
    )
}

/// How long this thread has been runnable but waiting for a CPU (the second field of
/// `/proc/thread-self/schedstat`): where the sensor's CPU comes out of the writer's time.
fn thread_run_delay() -> Duration {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

// ---------------------------------------------------------------------------------------
// Sensors.

enum Sensor {
    Bare {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: BufReader<std::process::ChildStdout>,
    },
    Picket {
        child: Child,
        stderr: PathBuf,
    },
}

/// Waits until `pid` has used no CPU (in clock ticks) for `quiet`, at most 30 s.
fn wait_quiet(pid: u32, quiet: Duration) {
    let start = Instant::now();
    let mut last = cpu_ticks(pid);
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < quiet && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
        let now = cpu_ticks(pid);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let (user, system) = threads::user_system_ticks(&stat);
    user + system
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf takes an integer and reads no memory of ours.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Whether `pid` holds a fanotify group with a mark on it (its fdinfo lists the mark).
fn has_fanotify_mark(pid: u32) -> bool {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return false;
    };
    entries.flatten().any(|e| {
        fs::read_to_string(e.path()).is_ok_and(|t| {
            t.lines().any(|l| {
                l.starts_with("fanotify sdev:")
                    || l.starts_with("fanotify mnt_id:")
                    || l.starts_with("fanotify ino:")
            })
        })
    })
}

impl Sensor {
    fn pid(&self) -> u32 {
        match self {
            Self::Bare { child, .. } | Self::Picket { child, .. } => child.id(),
        }
    }

    fn start_bare(root: &Path, pidfds: bool) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--bare-reader")
            .arg(root)
            .args(pidfds.then_some("--pidfd"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "bare reader failed to start");
        Self::Bare {
            child,
            stdin,
            stdout,
        }
    }

    fn start_picket(
        bin: &Path,
        root: &Path,
        extra: &[String],
        logs: &Path,
        processes: bool,
        envs: &[(&str, &str)],
    ) -> Self {
        let stderr = logs.join(format!(
            "picket-{}-{processes}-{}.stderr",
            extra.join("_"),
            envs.len()
        ));
        let child = Command::new(bin)
            .env("PICKET_PROCESSES", if processes { "on" } else { "off" })
            .envs(envs.iter().copied())
            .arg("watch")
            .arg(root)
            .args(["--output", "/dev/null"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let start = Instant::now();
        while !has_fanotify_mark(pid) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "picket watch did not start: {}",
                fs::read_to_string(&stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The mark is placed before the rules are compiled and self-tested: wait for that
        // start-up work to end, so the CPU per event counts the events and not the start.
        wait_quiet(pid, Duration::from_millis(200));
        Self::Picket { child, stderr }
    }

    /// Waits until the sensor has used no CPU for [`DRAINED_AFTER`] (it has drained the queue);
    /// returns how long it kept working after the call (its lag behind the workload).
    fn drain(&self) -> Duration {
        let pid = self.pid();
        let start = Instant::now();
        let mut last = cpu_ticks(pid);
        let mut quiet_since = Instant::now();
        let mut busy_until = Instant::now();
        while quiet_since.elapsed() < DRAINED_AFTER {
            std::thread::sleep(Duration::from_millis(20));
            let now = cpu_ticks(pid);
            if now != last {
                last = now;
                quiet_since = Instant::now();
                busy_until = Instant::now();
            }
        }
        busy_until.duration_since(start)
    }

    /// Lets the sensor drain, then stops it. Returns its report.
    fn finish(self) -> String {
        self.drain();
        match self {
            Self::Bare {
                mut child,
                stdin,
                mut stdout,
            } => {
                drop(stdin);
                let mut report = String::new();
                stdout.read_line(&mut report).unwrap();
                child.wait().unwrap();
                report.trim().to_owned()
            }
            Self::Picket { mut child, stderr } => {
                if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                    // SAFETY: kill takes two integers and touches no memory of ours; the
                    // child is ours and not yet reaped, so the pid is still its.
                    unsafe { libc::kill(pid, libc::SIGINT) };
                }
                child.wait().unwrap();
                let text = fs::read_to_string(&stderr).unwrap_or_default();
                let summary: Vec<&str> = text
                    .lines()
                    .filter(|l| {
                        let l = l.to_lowercase();
                        l.contains("lost") || l.contains("events")
                    })
                    .collect();
                summary.join(" | ")
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The benchmark.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Unwatched,
    Bare,
    BareControl,
    /// The bare reader with `FAN_REPORT_PIDFD`.
    BarePidfd,
    PicketNoDetect,
    PicketNoDetectNoProcesses,
    /// Detection off and every event filtered out after enrichment (`--path-prefix` naming
    /// nothing): the source, the protocol's round trip, parsing and enrichment, and no line
    /// written per event.
    PicketNoDetectFilteredOut,
    PicketDetect,
    PicketAlertsOnly,
    PicketDetectOutputThread,
    PicketDetectFixedBoost,
    PicketDetectEarlyRaise,
    /// `PICKET_BENCH_BASELINE`'s binary, detection on.
    PicketDetectBaseline,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Self::Unwatched => "unwatched",
            Self::Bare => "bare fanotify reader",
            Self::BareControl => "  … again (noise control)",
            Self::BarePidfd => "  … with pidfds",
            Self::PicketNoDetect => "picket watch, detection off",
            Self::PicketNoDetectNoProcesses => "  … and process tracking off",
            Self::PicketNoDetectFilteredOut => "  … every event filtered out",
            Self::PicketDetect => "picket watch, detection on",
            Self::PicketAlertsOnly => "  … writing alerts only",
            Self::PicketDetectOutputThread => "  … output thread",
            Self::PicketDetectFixedBoost => "  … nice -5, normal class",
            Self::PicketDetectEarlyRaise => "  … raised at 2 full reads",
            Self::PicketDetectBaseline => "  … baseline binary",
        }
    }
}

struct Run {
    execs: Duration,
    writer: Duration,
    writer_cpu: Duration,
    writer_waited: Duration,
    sensor_cpu: f64,
    /// The sensor's CPU over the file workload, thread by thread.
    threads: std::collections::BTreeMap<String, threads::ThreadCpu>,
    lag: Duration,
    report: String,
}

fn picket_bin() -> PathBuf {
    // Another build as the one judged (a profile-guided build, `cargo make release-pgo`).
    if let Some(bin) = std::env::var_os("PICKET_BENCH_PICKET") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "PICKET_BENCH_PICKET: {} is not a file",
            bin.display()
        );
        return bin;
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap().to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "picket",
            "--bin",
            "picket",
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .expect("cargo build --release -p picket");
    assert!(status.success());
    target_dir.join("release/picket")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A median and the range around it.
type Spread = (f64, f64, f64);

/// `value` of each run over the bare reader's run of the same round: median and range.
fn paired(runs: &[Run], bare: &[Run], value: impl Fn(&Run) -> f64) -> Option<Spread> {
    let ratios = ratios(runs, bare, value);
    let lo = ratios.iter().copied().reduce(f64::min)?;
    let hi = ratios.iter().copied().reduce(f64::max)?;
    Some((median(ratios), lo, hi))
}

/// The order of round `round`'s `n` modes: a shuffle seeded by the round, so a rerun runs the
/// same orders.
fn round_order(n: usize, round: usize) -> Vec<usize> {
    // xorshift64*: enough to shuffle a handful of modes.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (round as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Each run's `value` over the bare reader's run of the same round.
fn ratios(runs: &[Run], bare: &[Run], value: impl Fn(&Run) -> f64) -> Vec<f64> {
    runs.iter()
        .zip(bare)
        .filter(|(_, b)| value(b) > 0.0)
        .map(|(r, b)| value(r) / value(b))
        .collect()
}

/// The two targets of issues 6 and 15 decided from the same-round ratios, next to the noise
/// control's ratio (a second bare reader: what the same comparison shows when nothing
/// differs).
fn print_verdict(results: &[(Mode, Vec<Run>)], smoke: bool, earlier: &EarlierRounds) {
    let runs_of = |mode: Mode| {
        results
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, runs)| runs.as_slice())
    };
    let Some(bare) = runs_of(Mode::Bare) else {
        return;
    };
    let rounds = bare.len();
    let writer = |r: &Run| r.writer.as_secs_f64();
    let sensor_cpu = |r: &Run| r.sensor_cpu;
    let percent = |x: f64| format!("{:+.1}%", (x - 1.0) * 100.0);
    let times = |x: f64| format!("{x:.2}x");
    let line = |what: &str, i: &MedianInterval, show: &dyn Fn(f64) -> String| {
        if i.confidence < 0.7 {
            // One or two rounds (a smoke run): no interval worth the name.
            return format!(
                "{what}: {} (too few rounds for an interval)",
                show(i.median)
            );
        }
        format!(
            "{what}: {} [{}, {}] ({:.0}% interval)",
            show(i.median),
            show(i.low),
            show(i.high),
            i.confidence * 100.0
        )
    };
    // What is compared, how it is shown, and the target (a ratio to the bare reader's).
    type Target<'a> = (
        &'a str,
        &'a dyn Fn(&Run) -> f64,
        &'a dyn Fn(f64) -> String,
        f64,
        &'a str,
    );
    let targets: [Target<'_>; 2] = [
        ("writer time", &writer, &percent, 1.10, "10%"),
        ("sensor CPU", &sensor_cpu, &times, 1.5, "1.5x"),
    ];
    println!(
        "the targets over {rounds} round(s), from the same-round ratios: their median and its \
         interval from the order statistics (which assume nothing about how the rounds spread)"
    );
    if let (Some(picket), Some(baseline)) = (
        runs_of(Mode::PicketDetect),
        runs_of(Mode::PicketDetectBaseline),
    ) {
        let whom = "picket watch (detection on) vs the baseline binary";
        for &(what, value, ..) in &targets {
            let each = ratios(picket, baseline, value);
            println!("{}", rounds_line(what, whom, &each));
            if let Some(i) = median_interval(each.clone()) {
                println!("{}", line(&format!("  {what}, {whom}"), &i, &percent));
            }
            if let Some((logs, i)) = pooled(earlier, what, whom, &each) {
                println!("{}", line(&format!("    pooled with {logs}"), &i, &percent));
            }
        }
    }
    for (mode, label) in [
        (Mode::PicketDetect, "picket watch (detection on)"),
        (Mode::BareControl, "a second bare reader (noise control)"),
    ] {
        let Some(runs) = runs_of(mode) else {
            continue;
        };
        let control = mode == Mode::BareControl;
        for &(what, value, show, target, target_label) in &targets {
            let each = ratios(runs, bare, value);
            // Every round's ratio, so that runs of the same code can be pooled
            // (`PICKET_BENCH_POOL`): runs differ by more than one run's interval says.
            println!("{}", rounds_line(what, label, &each));
            let judged = |prefix: String, i: &MedianInterval| {
                let mut text = line(&prefix, i, show);
                if !smoke && !control {
                    text.push_str(&format!("; within {target_label}: {}", verdict(i, target)));
                }
                text
            };
            if let Some(i) = median_interval(each.clone()) {
                println!(
                    "{}",
                    judged(format!("  {what} vs the bare reader's, {label}"), &i)
                );
            }
            if let Some((logs, i)) = pooled(earlier, what, label, &each) {
                println!("{}", judged(format!("    pooled with {logs}"), &i));
            }
        }
    }
}

/// This run's rounds of a series with the earlier logs' (`PICKET_BENCH_POOL`), and what the
/// pooled rounds are; `None` without earlier logs.
fn pooled(
    earlier: &EarlierRounds,
    what: &str,
    whom: &str,
    this_run: &[f64],
) -> Option<(String, MedianInterval)> {
    if earlier.logs == 0 {
        return None;
    }
    let before = earlier.of(what, whom);
    let mut all = before.to_vec();
    all.extend_from_slice(this_run);
    let interval = median_interval(all)?;
    let rounds = before.len() + this_run.len();
    let logs = earlier.logs;
    Some((
        format!(
            "{logs} earlier log(s), {rounds} rounds ({} from before)",
            before.len()
        ),
        interval,
    ))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// How many times picket's pace raised it (its exit report's `spells=N`; 0 without one).
fn raise_spells(report: &str) -> u64 {
    report
        .split("spells=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// How much of a sensor's CPU beyond the bare reader's the writer paid for in time, from
/// the medians: (writer time − the bare reader's) / (sensor CPU − the bare reader's). With
/// no core free, if the sensor's CPU came equally out of every thread that always wants
/// one (the busy threads and the writer), the writer's time would grow by 1/cores of it;
/// 1 or more means it grows by all of the sensor's extra CPU, which makes the writer target
/// a target on the sensor's CPU.
fn print_absorption(results: &[(Mode, Vec<Run>)], cores: usize) {
    let medians = |runs: &[Run]| {
        (
            median(runs.iter().map(|r| r.writer.as_secs_f64()).collect()),
            median(runs.iter().map(|r| r.sensor_cpu).collect()),
        )
    };
    let Some((bare_writer, bare_cpu)) = results
        .iter()
        .find(|(m, _)| *m == Mode::Bare)
        .map(|(_, runs)| medians(runs))
    else {
        return;
    };
    let parts: Vec<String> = results
        .iter()
        .filter(|(m, _)| !matches!(m, Mode::Unwatched | Mode::Bare))
        .filter_map(|(mode, runs)| {
            let (writer, cpu) = medians(runs);
            let extra_cpu = cpu - bare_cpu;
            // Below 10 ms of CPU the ratio is clock-tick noise.
            (extra_cpu.abs() >= 0.01).then(|| {
                format!(
                    "{} {:+.3} s for {:+.3} s ({:.2})",
                    mode.label().trim_start_matches("  … "),
                    writer - bare_writer,
                    extra_cpu,
                    (writer - bare_writer) / extra_cpu
                )
            })
        })
        .collect();
    if !parts.is_empty() {
        println!(
            "writer time gained per sensor CPU beyond the bare reader's (medians; an equal \
             share would be 1/{cores}): {}",
            parts.join("; ")
        );
    }
}

/// Whether a sensor's report says events were lost: the bare reader's `overflows N`, picket's
/// summary (`0 lost` when none).
fn lost_events(report: &str) -> bool {
    if let Some(rest) = report.split("overflows ").nth(1) {
        return rest.split_whitespace().next().is_some_and(|n| n != "0");
    }
    report.contains(" lost") && !report.contains(" 0 lost")
}

/// Too small or too few runs for the figures to mean anything (CI's smoke run).
fn is_smoke_run(files: usize, reps: usize) -> bool {
    std::env::var_os("PICKET_BENCH_SMOKE").is_some() || files < 10_000 || reps < 3
}

/// One run of the file workload under the benchmark's concurrent CPU load, with the same
/// settings (`PICKET_BENCH_FILES`, `_SHAPE`, `_WRITERS`, `_LOAD`), in `dir`: for a profiler
/// attached to a sensor watching `dir` (`benches/profile-live.sh`, `benches/instructions.sh`).
fn workload_alone(dir: &Path) {
    let files = env_usize("PICKET_BENCH_FILES", 25_000);
    let shape = Shape::from_env();
    let writers = env_usize("PICKET_BENCH_WRITERS", 1).max(1);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let busy = CpuLoad::start(env_usize("PICKET_BENCH_LOAD", cpus));
    let (wall, cpu, _) = workloads(dir, files, shape, writers);
    drop(busy);
    println!(
        "workload: {files} files x {writers} writer(s) ({}) in {:.3} s, writer CPU {:.3} s",
        shape.describe(),
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

fn run_benchmark() {
    let files = env_usize("PICKET_BENCH_FILES", 25_000);
    let shape = Shape::from_env();
    let reps = env_usize("PICKET_BENCH_REPS", 5).max(1);
    let writers = env_usize("PICKET_BENCH_WRITERS", 1).max(1);
    let bin = picket_bin();
    // Another build of picket (say, the commit before a change) run with detection on in the
    // same rounds: a change is judged by the same-round ratio to it, not by runs at
    // different times.
    let baseline = std::env::var_os("PICKET_BENCH_BASELINE").map(PathBuf::from);
    // Saved output of earlier runs of the same code, whose per-round ratios are pooled with
    // this run's: read first, so a wrong path fails before the rounds run, not after.
    let pool: Vec<PathBuf> = std::env::var_os("PICKET_BENCH_POOL")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    let earlier = EarlierRounds::read(&pool).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let help = Command::new(&bin)
        .args(["watch", "--help"])
        .output()
        .expect("picket watch --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let has_no_detect = help.contains("--no-detect");
    let root = std::env::temp_dir().join(format!("picket-bench-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let root = fs::canonicalize(&root).unwrap();
    let logs = root.join("logs");
    fs::create_dir(&logs).unwrap();
    let watched = root.join("watched");
    fs::create_dir(&watched).unwrap();
    // A private tmpfs: no other process's file activity reaches this file system's mark,
    // and no disk or journal shared with the rest of the machine adds noise. Falls back to
    // the temp dir's file system.
    let tmpfs = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1g", "picket-bench"])
        .arg(&watched)
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "file system: {}",
        if tmpfs {
            "private tmpfs (only this benchmark's activity)"
        } else {
            "the temp dir's (tmpfs mount failed): other processes' activity adds events and noise"
        }
    );

    let execs = env_usize("PICKET_BENCH_EXECS", 1_000);
    // `PICKET_BENCH_MODES=targets`: only the modes the targets are stated for (and the noise
    // control), so the same time buys about twice the rounds, which narrows the verdict's
    // intervals.
    let only_targets = std::env::var("PICKET_BENCH_MODES").is_ok_and(|m| m == "targets");
    let mut modes = vec![Mode::Unwatched, Mode::Bare, Mode::BareControl];
    if !only_targets {
        modes.extend([
            Mode::BarePidfd,
            Mode::PicketNoDetect,
            Mode::PicketNoDetectNoProcesses,
        ]);
        // Listed under detection off, which it narrows further.
        if help.contains("--path-prefix") && has_no_detect {
            modes.push(Mode::PicketNoDetectFilteredOut);
        }
    }
    if has_no_detect {
        modes.push(Mode::PicketDetect);
    }
    if baseline.is_some() && has_no_detect {
        modes.push(Mode::PicketDetectBaseline);
    }
    if help.contains("--alerts-only") && !only_targets {
        modes.push(Mode::PicketAlertsOnly);
    }
    if help.contains("--output-thread") && !only_targets {
        modes.push(Mode::PicketDetectOutputThread);
    }
    if has_no_detect && !only_targets {
        // The former pace, and an eager trigger for the current one (2 full reads in a row
        // whatever the queue's depth; the former trigger was 4), in the same rounds as the
        // default (a quarter of the queue).
        modes.push(Mode::PicketDetectFixedBoost);
        modes.push(Mode::PicketDetectEarlyRaise);
    }
    println!(
        "workload: {writers} writer(s) at once, each {files} files x (create+write 4 KiB+close, rename, delete) = {} operations, {reps} runs per mode; {}",
        writers * files * 4,
        shape.describe()
    );
    if !has_no_detect {
        println!(
            "note: this picket has no --no-detect flag (detection not built yet): the picket \
             run is the pipeline without detection, and the detection-on mode is skipped"
        );
    }
    let load = || {
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "machine: {cpus} CPUs, load average {} (with no core free for the sensor, its CPU time \
         comes out of the writer's)",
        load()
    );
    let load_threads = env_usize("PICKET_BENCH_LOAD", cpus);
    println!("concurrent CPU load: {load_threads} busy thread(s) during every run");
    let mut results: Vec<(Mode, Vec<Run>)> = modes.iter().map(|m| (*m, Vec::new())).collect();
    let mut bare_counts = Vec::new();
    for rep in 0..reps {
        // A new order each round, so slow drift of the machine hits every mode alike, and
        // shuffled rather than rotated: a rotation runs each mode right after the same other
        // mode every round, so whatever a run leaves behind (the kernel's caches, the load
        // average) would favour or hurt the same mode every time.
        for k in round_order(results.len(), rep) {
            let (mode, runs) = &mut results[k];
            let scratch = watched.join(format!("run-{rep}-{}", *mode as u8));
            fs::create_dir(&scratch).unwrap();
            let sensor = match mode {
                Mode::Unwatched => None,
                Mode::Bare | Mode::BareControl => Some(Sensor::start_bare(&watched, false)),
                Mode::BarePidfd => Some(Sensor::start_bare(&watched, true)),
                Mode::PicketNoDetect | Mode::PicketNoDetectNoProcesses => {
                    let extra = if has_no_detect {
                        vec!["--no-detect".to_owned()]
                    } else {
                        vec![]
                    };
                    let processes = *mode == Mode::PicketNoDetect;
                    Some(Sensor::start_picket(
                        &bin,
                        &watched,
                        &extra,
                        &logs,
                        processes,
                        &[],
                    ))
                }
                Mode::PicketDetectBaseline => Some(Sensor::start_picket(
                    baseline.as_deref().unwrap_or(&bin),
                    &watched,
                    &[],
                    &logs,
                    true,
                    &[],
                )),
                Mode::PicketDetect => {
                    Some(Sensor::start_picket(&bin, &watched, &[], &logs, true, &[]))
                }
                Mode::PicketNoDetectFilteredOut => Some(Sensor::start_picket(
                    &bin,
                    &watched,
                    &[
                        "--no-detect".to_owned(),
                        "--path-prefix".to_owned(),
                        // No slash: every path starts with one, and the name of
                        // the run's log holds its arguments.
                        "no-path-starts-here".to_owned(),
                    ],
                    &logs,
                    true,
                    &[],
                )),
                Mode::PicketAlertsOnly => Some(Sensor::start_picket(
                    &bin,
                    &watched,
                    &["--alerts-only".to_owned()],
                    &logs,
                    true,
                    &[],
                )),
                Mode::PicketDetectOutputThread => Some(Sensor::start_picket(
                    &bin,
                    &watched,
                    &["--output-thread".to_owned()],
                    &logs,
                    true,
                    &[],
                )),
                Mode::PicketDetectFixedBoost => Some(Sensor::start_picket(
                    &bin,
                    &watched,
                    &[],
                    &logs,
                    true,
                    &[
                        ("PICKET_NICE", "-5"),
                        ("PICKET_NICE_BEHIND", "-5"),
                        ("PICKET_SCHED_BATCH", "off"),
                    ],
                )),
                Mode::PicketDetectEarlyRaise => Some(Sensor::start_picket(
                    &bin,
                    &watched,
                    &[],
                    &logs,
                    true,
                    &[("PICKET_BEHIND_EVENTS", "0")],
                )),
            };
            let threads_before = sensor
                .as_ref()
                .map(|s| threads::sample(s.pid(), ticks_per_second()))
                .unwrap_or_default();
            let busy = CpuLoad::start(load_threads);
            let (writer, writer_cpu, writer_waited) = workloads(&scratch, files, shape, writers);
            // The execs start once the sensor has caught up with the files: otherwise they
            // would be timed against its backlog, not against watching them.
            // The sensor's CPU per file event is taken here, before the execs add process
            // tracking's work to it.
            // Without a sensor, the same pause: under the busy threads, the exec workload
            // is several times slower after a pause than right after the writer (100 execs:
            // 0.07-0.09 s unwatched without it, 0.28-0.38 s with a sensor drained first, and
            // 0.39 s unwatched after the pause), which made every sensor look costly to it.
            let lag = sensor.as_ref().map_or_else(
                || {
                    std::thread::sleep(DRAINED_AFTER);
                    Duration::ZERO
                },
                Sensor::drain,
            );
            let thread_cpu = sensor
                .as_ref()
                .map(|s| {
                    let after = threads::sample(s.pid(), ticks_per_second());
                    threads::since(&threads_before, &after)
                })
                .unwrap_or_default();
            let file_cpu = threads::total(&thread_cpu);
            let exec_time = exec_workload(execs);
            drop(busy);
            let (sensor_cpu, lag, report) = match sensor {
                None => (0.0, Duration::ZERO, String::new()),
                Some(sensor) => {
                    let report = sensor.finish();
                    (file_cpu, lag, report)
                }
            };
            if *mode == Mode::Bare {
                if let Some(n) = report
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<f64>().ok())
                {
                    bare_counts.push(n);
                }
            }
            fs::remove_dir(&scratch).unwrap();
            runs.push(Run {
                execs: exec_time,
                writer,
                writer_cpu,
                writer_waited,
                sensor_cpu,
                threads: thread_cpu,
                lag,
                report,
            });
        }
    }
    let bare_events = if bare_counts.is_empty() {
        0
    } else {
        median(bare_counts) as u64
    };
    let base = median(
        results[0]
            .1
            .iter()
            .map(|r| r.writer.as_secs_f64())
            .collect(),
    );
    let bare_slowdown = results
        .iter()
        .find(|(m, _)| *m == Mode::Bare)
        .map(|(_, runs)| median(runs.iter().map(|r| r.writer.as_secs_f64()).collect()) / base)
        .unwrap_or(1.0);
    let base_cpu = median(
        results[0]
            .1
            .iter()
            .map(|r| r.writer_cpu.as_secs_f64())
            .collect(),
    );
    let bare_cpu = results
        .iter()
        .find(|(m, _)| *m == Mode::Bare)
        .map_or(base_cpu, |(_, runs)| {
            median(runs.iter().map(|r| r.writer_cpu.as_secs_f64()).collect())
        });
    println!("fanotify events per run (bare reader's count, median): {bare_events}");
    println!(
        "{:<30} {:>9} {:>9} {:>15} {:>9} {:>12} {:>11} {:>12} {:>9} {:>10} {:>9}  sensor report",
        "mode",
        "writer s",
        "slowdown",
        "range",
        "vs bare",
        "writer CPU s",
        "CPU vs bare",
        "sensor CPU s",
        "events/s",
        "CPU/event",
        "vs bare"
    );
    let bare_sensor_cpu = results
        .iter()
        .find(|(m, _)| *m == Mode::Bare)
        .map_or(0.0, |(_, runs)| {
            median(runs.iter().map(|r| r.sensor_cpu).collect())
        });
    for (mode, runs) in &results {
        let writer = median(runs.iter().map(|r| r.writer.as_secs_f64()).collect());
        let cpu = median(runs.iter().map(|r| r.sensor_cpu).collect());
        let lag = median(runs.iter().map(|r| r.lag.as_secs_f64()).collect());
        let slowdown = writer / base;
        let writer_cpu = median(runs.iter().map(|r| r.writer_cpu.as_secs_f64()).collect());
        let each: Vec<f64> = runs.iter().map(|r| r.writer.as_secs_f64() / base).collect();
        let lo = each.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = each.iter().copied().fold(0.0, f64::max);
        let range = format!("{lo:.3}-{hi:.3}x");
        let vs_bare = if *mode == Mode::Unwatched {
            String::from("-")
        } else {
            format!("{:+.1}%", (slowdown / bare_slowdown - 1.0) * 100.0)
        };
        let cpu_vs_bare = if *mode == Mode::Unwatched {
            String::from("-")
        } else {
            format!("{:+.1}%", (writer_cpu / bare_cpu - 1.0) * 100.0)
        };
        let rate = if *mode == Mode::Unwatched || bare_events == 0 {
            String::from("-")
        } else {
            format!("{:.0}", bare_events as f64 / (writer + lag))
        };
        let (per_event, per_event_vs_bare) = if *mode == Mode::Unwatched || bare_events == 0 {
            (String::from("-"), String::from("-"))
        } else {
            (
                format!("{:.2} us", cpu * 1e6 / bare_events as f64),
                if bare_sensor_cpu > 0.0 {
                    format!("{:.2}x", cpu / bare_sensor_cpu)
                } else {
                    String::from("-")
                },
            )
        };
        println!(
            "{:<30} {:>9.3} {:>8.3}x {:>15} {:>9} {:>12.3} {:>11} {:>12.2} {:>9} {:>10} {:>9}  {}",
            mode.label(),
            writer,
            slowdown,
            range,
            vs_bare,
            writer_cpu,
            cpu_vs_bare,
            cpu,
            rate,
            per_event,
            per_event_vs_bare,
            runs.last().map_or("", |r| r.report.as_str())
        );
    }
    print_absorption(&results, cpus);
    // Which thread pays, and whether in the kernel or in the sensor's own code.
    if bare_events > 0 {
        println!(
            "sensor CPU per thread over the file workload, us per fanotify event, medians \
             (user and system from clock ticks of {:.0} ms):",
            1000.0 / ticks_per_second()
        );
        println!(
            "{:<30} {:<16} {:>8} {:>8} {:>8}",
            "mode", "thread", "CPU", "user", "system"
        );
        for (mode, runs) in results.iter().filter(|(m, _)| *m != Mode::Unwatched) {
            let per_run: Vec<_> = runs.iter().map(|r| &r.threads).collect();
            let medians = threads::medians_per_event(&per_run, bare_events as f64);
            for (i, (name, cpu)) in medians.iter().enumerate() {
                let label = if i == 0 { mode.label() } else { "" };
                println!(
                    "{:<30} {:<16} {:>8.2} {:>8.2} {:>8.2}",
                    label, name, cpu.run, cpu.user, cpu.system
                );
            }
        }
    }
    // The same figures as ratios within each round: every round runs every mode once, so
    // a machine whose load or caches change between rounds moves both sides of a ratio
    // alike, where a ratio of medians taken from different rounds does not.
    if let Some((_, bare_runs)) = results.iter().find(|(m, _)| *m == Mode::Bare) {
        println!(
            "same-round ratios to the bare reader, median (range) over {} rounds; the writer's \
             time runnable but waiting for a CPU, median:",
            bare_runs.len()
        );
        println!(
            "{:<30} {:>26} {:>24} {:>17}",
            "mode", "writer time vs bare", "sensor CPU vs bare", "writer waited s"
        );
        for (mode, runs) in &results {
            let writer = paired(runs, bare_runs, |r| r.writer.as_secs_f64());
            let cpu =
                paired(runs, bare_runs, |r| r.sensor_cpu).filter(|_| *mode != Mode::Unwatched);
            let percent = |(m, lo, hi): Spread| {
                format!(
                    "{:+.1}% ({:+.1}..{:+.1}%)",
                    (m - 1.0) * 100.0,
                    (lo - 1.0) * 100.0,
                    (hi - 1.0) * 100.0
                )
            };
            let times = |(m, lo, hi): Spread| format!("{m:.2}x ({lo:.2}-{hi:.2}x)");
            println!(
                "{:<30} {:>26} {:>24} {:>17.3}",
                mode.label(),
                writer.map_or_else(|| "-".to_owned(), percent),
                cpu.map_or_else(|| "-".to_owned(), times),
                median(runs.iter().map(|r| r.writer_waited.as_secs_f64()).collect())
            );
        }
    }
    print_verdict(&results, is_smoke_run(files, reps), &earlier);
    println!(
        "writer CPU: unwatched {base_cpu:.3} s. The writer's own CPU time holds the kernel's cost \
         of generating and queuing events ('CPU vs bare' compares it with the bare reader's \
         run); wall time adds the CPU the sensor takes from the writer when no core is free"
    );
    let exec_base = median(results[0].1.iter().map(|r| r.execs.as_secs_f64()).collect());
    let exec_median = |mode: Mode| {
        results
            .iter()
            .find(|(m, _)| *m == mode)
            .map(|(_, runs)| median(runs.iter().map(|r| r.execs.as_secs_f64()).collect()))
    };
    println!("exec workload: {execs} x /bin/true, same rounds");
    println!(
        "{:<30} {:>9} {:>9} {:>16}",
        "mode", "exec s", "slowdown", "vs tracking off"
    );
    let off = exec_median(Mode::PicketNoDetectNoProcesses).unwrap_or(exec_base);
    for (mode, _) in &results {
        let t = exec_median(*mode).unwrap_or(0.0);
        println!(
            "{:<30} {:>9.3} {:>8.3}x {:>15.3}x",
            mode.label(),
            t,
            t / exec_base,
            t / off
        );
    }
    // Only the last run's report is printed above: losses in any run are counted here.
    for (mode, runs) in &results {
        let lossy = runs.iter().filter(|r| lost_events(&r.report)).count();
        let raised = runs.iter().filter(|r| raise_spells(&r.report) > 0).count();
        if *mode != Mode::Unwatched {
            println!(
                "{:<30} runs with lost events (kernel queue overflow): {lossy} of {}; \
                 runs whose sensor fell behind and was raised: {raised}",
                mode.label(),
                runs.len()
            );
        }
    }
    println!("load average after the runs: {}", load());
    if is_smoke_run(files, reps) {
        println!(
            "SMOKE RUN ({files} files, {reps} repetition(s)): this only checks that the benchmark \
             runs; the figures above are NOT a measurement and no target applies. Measure with \
             the defaults (25 000 files, 5 repetitions) on an otherwise idle machine."
        );
    } else {
        println!(
            "targets: picket's slowdown within 10% of the bare reader's (the first 'vs bare' column) \
             under the concurrent load, no overflow; picket's CPU/event within 1.5x the bare \
             reader's (the last 'vs bare' column); decided above from the same-round ratios, \
             with the noise control showing what the comparison finds when nothing differs"
        );
    }
    if tmpfs {
        let _ = Command::new("umount").arg(&watched).status();
    }
    let _ = fs::remove_dir_all(&root);
}
