//! `picket-ransim`: Picket's ransomware simulator and benign workloads (test tooling).
//!
//! ```text
//! picket-ransim seed DIR [--files N]                 a corpus of N files per folder
//! picket-ransim run FAMILY DIR [--log F] [--delay-ms N]
//! picket-ransim benign WORKLOAD DIR
//! picket-ransim encrypt-one FILE --suffix S [--log F] (one process per file)
//! picket-ransim encrypt-dir DIR [--log F]            (one process per folder)
//! picket-ransim list
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use picket_ransim::benign::{self, Benign};
use picket_ransim::family::{self, Family, Options};
use picket_ransim::{corpus, progress};

struct Args {
    positional: Vec<String>,
    log: Option<PathBuf>,
    files: usize,
    delay: Duration,
    suffix: String,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        positional: Vec::new(),
        log: None,
        files: 25,
        delay: Duration::ZERO,
        suffix: ".enc".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--log" => args.log = Some(value()?.into()),
            "--files" => args.files = value()?.parse().context("--files")?,
            "--delay-ms" => {
                args.delay = Duration::from_millis(value()?.parse().context("--delay-ms")?);
            }
            "--suffix" => args.suffix = value()?,
            _ => args.positional.push(arg),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<ExitCode> {
    let args = parse()?;
    let pos: Vec<&str> = args.positional.iter().map(String::as_str).collect();
    match pos.as_slice() {
        ["seed", dir] => {
            let files = corpus::seed(&PathBuf::from(dir), args.files)?;
            println!("{} files", files.len());
        }
        ["run", name, dir] => {
            let family = Family::from_name(name).with_context(|| format!("no family {name}"))?;
            let options = Options {
                log: args.log,
                delay: args.delay,
                exe: std::env::current_exe()?,
            };
            let n = family::run(family, &PathBuf::from(dir), &options)?;
            println!("{}: {n} files", family.name());
        }
        ["benign", name, dir] => {
            let workload =
                Benign::from_name(name).with_context(|| format!("no workload {name}"))?;
            benign::run(workload, &PathBuf::from(dir))?;
        }
        ["encrypt-one", file] => {
            let file = PathBuf::from(file);
            let mut out = file.clone().into_os_string();
            out.push(&args.suffix);
            family::encrypt_copy(&file, &PathBuf::from(out))?;
            progress::record(args.log.as_deref())?;
        }
        ["encrypt-dir", dir] => {
            family::encrypt_dir(&PathBuf::from(dir), args.log.as_deref())?;
        }
        ["list"] => {
            for f in Family::ALL {
                println!("family {}", f.name());
            }
            for b in Benign::ALL {
                println!("benign {}", b.name());
            }
        }
        _ => bail!(
            "usage: picket-ransim seed|run|benign|encrypt-one|encrypt-dir|list … (see the source)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
