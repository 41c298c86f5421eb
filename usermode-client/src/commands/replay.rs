//! `picket replay FILE`: the full pipeline on a capture.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use picket_capture::{HostOs, Pace, ReplaySource};
use picket_emit::HostInfo;
use picket_enrich::RecordedProcesses;
use picket_parse::{Parser, VolumeMap};
use picket_pipeline::Writer;

use super::options::SessionArgs;
use super::session::{run_session, Session};

/// `picket replay` arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture file written by `picket record`.
    pub file: PathBuf,
    /// `max` (as fast as possible), `recorded` (the recorded pace) or a factor of the
    /// recorded pace (`2` = twice as fast).
    #[arg(long, default_value = "max", value_parser = parse_speed)]
    pub speed: Pace,
    /// Map an NT device to a drive for this replay, overriding the capture's map
    /// (`--volume '\Device\HarddiskVolume3=C:'`; repeatable).
    #[arg(long = "volume", value_name = "DEVICE=DRIVE", value_parser = parse_volume)]
    pub volumes: Vec<(String, String)>,
    #[command(flatten)]
    pub session: SessionArgs,
}

fn parse_speed(text: &str) -> Result<Pace, String> {
    match text {
        "max" => Ok(Pace::Max),
        "recorded" => Ok(Pace::Recorded(1.0)),
        factor => factor
            .trim_end_matches('x')
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(Pace::Recorded)
            .ok_or_else(|| format!("`{text}`: expected max, recorded or a positive factor")),
    }
}

fn parse_volume(text: &str) -> Result<(String, String), String> {
    let (device, drive) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected DEVICE=DRIVE"))?;
    if !device.starts_with('\\') || drive.is_empty() {
        return Err(format!(
            r"`{text}`: expected e.g. \Device\HarddiskVolume3=C:"
        ));
    }
    Ok((device.to_owned(), drive.trim_end_matches('\\').to_owned()))
}

/// Replays a capture through the pipeline.
///
/// # Errors
/// When the file cannot be opened, is not a capture, or is malformed (after everything
/// before the fault has been emitted).
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let label = args.file.display().to_string();
    let file = File::open(&args.file).with_context(|| format!("cannot open {label}"))?;
    let processes = RecordedProcesses::new(1 << 16);
    let sink = processes.clone();
    let mut source =
        ReplaySource::new(BufReader::with_capacity(1 << 16, file), &label, args.speed)?
            .with_process_sink(Box::new(move |info| sink.insert(info)));
    let header = source.header().clone();
    tracing::info!(
        host = %header.hostname,
        os = ?header.host_os,
        volumes = header.volumes.len(),
        "replaying {label}"
    );
    let parser = if header.host_os == HostOs::Linux {
        Parser::without_volumes()
    } else {
        let mut volumes = header.volumes;
        for (device, drive) in args.volumes {
            volumes.retain(|(d, _)| !d.eq_ignore_ascii_case(&device));
            volumes.push((device, drive));
        }
        Parser::new(VolumeMap::fixed(volumes))
    };
    let session = Session {
        label: format!("replay {label}"),
        parser,
        inspector: Box::new(processes),
        host: HostInfo {
            hostname: Some(header.hostname).filter(|h| !h.is_empty()),
        },
        // A replay is read as fast as it can be: output on another core is throughput.
        writer: Writer::Thread,
    };
    run_session(&mut source, session, &args.session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_and_volumes_parse() {
        assert_eq!(parse_speed("max"), Ok(Pace::Max));
        assert_eq!(parse_speed("recorded"), Ok(Pace::Recorded(1.0)));
        assert_eq!(parse_speed("2x"), Ok(Pace::Recorded(2.0)));
        assert!(parse_speed("0").is_err());
        assert!(parse_speed("fast").is_err());
        assert_eq!(
            parse_volume(r"\Device\HarddiskVolume3=C:\"),
            Ok((r"\Device\HarddiskVolume3".into(), "C:".into()))
        );
        assert!(parse_volume("C:").is_err());
    }
}
