//! `picket rules …` (owned by the detection work, issue 7).

use std::path::PathBuf;
use std::process::ExitCode;

/// `picket rules` arguments.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RulesCommand {
    /// Parse and validate every rule in DIR.
    Check {
        /// Rule directory.
        dir: PathBuf,
    },
}

/// Runs `picket rules …`.
///
/// # Errors
/// Always, until the detection engine is built.
pub fn run(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::Check { dir } => anyhow::bail!(
            "picket rules check {}: the detection engine is not built yet",
            dir.display()
        ),
    }
}
