//! Detection wiring for the binary (owned by the detection work, issue 7).
//!
//! `DetectionArgs` is flattened into `watch`, `replay` and `demo`; `build_detector` turns the
//! flags into the detector the pipeline calls for every event. The engine is `picket-detect`.

use std::path::PathBuf;

use anyhow::Context as _;
use picket_detect::{DetectorOptions, SigmaDetector, StartError, StartedWith};

/// Detection flags.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DetectionArgs {
    /// Rule directory (Sigma YAML plus `*.tests.yml` rule tests) replacing the built-in pack.
    /// Checked and tested before use; reloaded when it changes (and on SIGHUP).
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Turn detection off.
    #[arg(long, conflicts_with_all = ["rules", "canaries", "entropy", "canary_auto"])]
    pub no_detect: bool,
    /// A canary file or folder: any touch alerts (repeatable).
    #[arg(long = "canary", value_name = "PATH")]
    pub canaries: Vec<PathBuf>,
    /// Place decoy files in DIR (kept for the next run) and treat them as canaries
    /// (repeatable). Only in folders no tool processes in bulk: a backup or `gzip -r` over
    /// DIR touches them too.
    #[arg(long = "canary-auto", value_name = "DIR")]
    pub canary_auto: Vec<PathBuf>,
    /// Turn the ransomware behaviour detectors (and their content sampling: the first and
    /// last 4 KiB of files closed after modification or renamed, read in user space,
    /// rate-limited) off; the Sigma rules still run.
    #[arg(long)]
    pub no_behaviour: bool,
    /// Sample the entropy of files closed after modification (first 4 KiB, in user space;
    /// live sources only) for rules that use the `Entropy` field.
    #[arg(long)]
    pub entropy: bool,
    /// Where the last good rule set is kept for restarts [default: /var/lib/picket as root,
    /// else $XDG_STATE_HOME/picket; %ProgramData%\Picket on Windows].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Do not reload the rule directory when it changes.
    #[arg(long)]
    pub no_reload: bool,
}

/// The default directory for the last good rule set.
fn default_state_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return std::env::var_os("ProgramData").map(|d| PathBuf::from(d).join("Picket"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // /proc/self belongs to the process's effective user: root keeps state system-wide.
        if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
            return Some(PathBuf::from("/var/lib/picket"));
        }
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .map(|d| d.join("picket"))
}

/// The detector for these flags, or `None` when detection is off.
///
/// # Errors
/// When the rules are refused (each problem is listed) and no last good set exists.
pub fn build_detector(
    args: &DetectionArgs,
) -> anyhow::Result<Option<Box<dyn picket_model::Detector>>> {
    if args.no_detect {
        return Ok(None);
    }
    let mut placed = Vec::new();
    for dir in &args.canary_auto {
        let decoys = picket_behaviour::canary::place(dir)
            .with_context(|| format!("--canary-auto {}", dir.display()))?;
        tracing::info!(
            "canaries: {} decoys placed in {}",
            decoys.len(),
            dir.display()
        );
        placed.extend(decoys);
    }
    let canaries = args
        .canaries
        .iter()
        .chain(&placed)
        .map(|p| {
            std::path::absolute(p)
                .with_context(|| format!("--canary {}", p.display()))
                .map(|p| p.display().to_string())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = DetectorOptions {
        rules_dir: args.rules.clone(),
        canaries,
        entropy: args.entropy,
        state_dir: args
            .rules
            .as_ref()
            .and_then(|_| args.state_dir.clone().or_else(default_state_dir)),
        watch: !args.no_reload,
        ..DetectorOptions::default()
    };
    let (detector, started) = match SigmaDetector::start(options) {
        Ok(started) => started,
        Err(StartError::Rejected(rejected)) => {
            for problem in &rejected.problems {
                eprintln!("picket: {problem}");
            }
            anyhow::bail!(
                "the rule set was refused ({} problem(s)) and no last good set exists",
                rejected.problems.len()
            );
        }
        Err(e) => return Err(e.into()),
    };
    let set = detector.rule_set();
    let summary = format!(
        "{} rules, {} correlations, {} rule tests passed",
        set.rule_count(),
        set.correlation_count(),
        set.test_count()
    );
    match started {
        StartedWith::Builtin => tracing::info!("detection: built-in pack: {summary}"),
        StartedWith::Directory(dir) => {
            tracing::info!("detection: {}: {summary}", dir.display());
        }
        StartedWith::LastGood { dir, refused } => {
            for problem in &refused.problems {
                eprintln!("picket: {problem}");
            }
            eprintln!(
                "picket: the configured rules were refused; running the last good set from {} ({summary})",
                dir.display()
            );
        }
    }
    for warning in set.warnings() {
        eprintln!("picket: {warning}");
    }
    if args.no_behaviour {
        return Ok(Some(Box::new(detector)));
    }
    let behaviour = picket_behaviour::BehaviourDetector::new(
        picket_behaviour::EngineConfig::default(),
        Some(picket_content::SamplerConfig::default()),
    )
    .context("start the content sampler")?;
    tracing::info!("detection: ransomware behaviour detectors on (content sampling in user space)");
    Ok(Some(Box::new(picket_behaviour::Stack(vec![
        Box::new(detector),
        Box::new(behaviour),
    ]))))
}
