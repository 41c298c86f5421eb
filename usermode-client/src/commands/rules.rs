//! `picket rules …` (owned by the detection work, issue 7): check, export and list rule sets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use picket_detect::{RuleSet, Severity};

/// `picket rules` arguments.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RulesCommand {
    /// Parse, validate and compile every rule in DIR and run its rule tests; print each
    /// problem as FILE:LINE: severity [rule ID]: message; exit non-zero on any error.
    Check {
        /// Rule directory (`*.yml` Sigma rules, `*.tests.yml` rule tests).
        dir: PathBuf,
        /// Treat warnings (untested rules, unknown fields, rules for other logsources) as
        /// errors, as the built-in pack is held to.
        #[arg(long)]
        strict: bool,
    },
    /// Write the built-in pack into DIR, as a starting point for `--rules DIR`.
    Export {
        /// Target directory (created; existing files are not overwritten without --force).
        dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// List the rules of DIR (default: the built-in pack).
    List {
        /// Rule directory.
        dir: Option<PathBuf>,
    },
}

/// Runs `picket rules …`.
///
/// # Errors
/// When a directory cannot be read or written.
pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::Check { dir, strict } => check(&dir, strict),
        RulesCommand::Export { dir, force } => export(&dir, force),
        RulesCommand::List { dir } => list(dir.as_deref()),
    }
}

fn check(dir: &Path, strict: bool) -> anyhow::Result<ExitCode> {
    let problems = picket_detect::check_dir(dir)?;
    for problem in &problems {
        println!("{problem}");
    }
    let errors = problems
        .iter()
        .filter(|p| p.severity == Severity::Error || (strict && !picket_detect::is_cost_warning(p)))
        .count();
    if errors > 0 {
        eprintln!(
            "picket rules check {}: {errors} error(s), {} warning(s): {}",
            dir.display(),
            problems.len() - errors,
            if strict {
                "refused (--strict)"
            } else {
                "the set would be refused"
            }
        );
        return Ok(ExitCode::FAILURE);
    }
    let set = RuleSet::load(picket_detect::read_dir(dir)?).map_err(|r| anyhow::anyhow!("{r}"))?;
    eprintln!(
        "picket rules check {}: ok: {} rules ({} process_creation), {} correlations, {} rule tests passed, {} warning(s)",
        dir.display(),
        set.rule_count() + set.process_rule_count(),
        set.process_rule_count(),
        set.correlation_count(),
        set.test_count(),
        problems.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn export(dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for file in picket_detect::builtin_files() {
        let path = dir.join(&file.relative);
        if path.exists() && !force {
            anyhow::bail!("{} exists (use --force to overwrite)", path.display());
        }
        std::fs::write(&path, &file.text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn list(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let files = match dir {
        Some(dir) => picket_detect::read_dir(dir)?,
        None => picket_detect::builtin_files(),
    };
    let set = RuleSet::compile(files).map_err(|r| anyhow::anyhow!("{r}"))?;
    for i in 0..set.rule_count() {
        let meta = set.rule_meta(i);
        println!(
            "{:<34} {:<13} {}{}",
            meta.id,
            format!("{:?}", meta.level).to_lowercase(),
            meta.title,
            if meta.shadow { " [shadow]" } else { "" }
        );
    }
    for meta in set.correlation_metas() {
        println!(
            "{:<34} {:<13} {} [correlation]{}",
            meta.id,
            format!("{:?}", meta.level).to_lowercase(),
            meta.title,
            if meta.shadow { " [shadow]" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
