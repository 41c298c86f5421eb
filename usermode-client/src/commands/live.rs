//! The live source of this platform, with the parser and process inspector that go with it.

use std::path::Path;

use picket_enrich::ProcessInspector;
use picket_model::BatchSource;
use picket_parse::Parser;

/// A live source and what reading it needs.
pub struct Live {
    /// Yields the batches.
    pub source: Box<dyn BatchSource>,
    /// Parser with this machine's volume map (Windows) or none (Linux).
    pub parser: Parser,
    /// Looks processes up on this machine.
    pub inspector: Box<dyn ProcessInspector>,
    /// The volume map at start, for capture headers.
    pub volumes: Vec<(String, String)>,
    /// For messages.
    pub label: String,
}

/// Opens the live source: fanotify on the file system holding `path` (Linux), the
/// minifilter's communication port (Windows).
///
/// # Errors
/// When the source cannot be opened (the message names the privilege, the driver or the
/// version at fault).
#[cfg(target_os = "linux")]
pub fn open(path: Option<&Path>) -> anyhow::Result<Live> {
    let path = path.unwrap_or_else(|| Path::new("."));
    Ok(Live {
        source: crate::live_linux::open_live_source(path)?,
        parser: Parser::without_volumes(),
        inspector: Box::new(picket_enrich::ProcInspector::default()),
        volumes: Vec::new(),
        label: format!("fanotify on {}", path.display()),
    })
}

/// Opens the live source: the minifilter's communication port.
///
/// # Errors
/// When the port cannot be opened (driver not loaded, not elevated, version mismatch).
#[cfg(windows)]
pub fn open(path: Option<&Path>) -> anyhow::Result<Live> {
    use picket_parse::{VolumeMap, VolumeSource as _};
    if let Some(path) = path {
        tracing::info!(
            "{}: the minifilter reports every attached volume; use --path-prefix to narrow",
            path.display()
        );
    }
    let source = picket_winport::PortSource::connect(super::interrupt::flag())?;
    let mut devices = picket_winport::DosDevices;
    let volumes = devices.load();
    Ok(Live {
        source: Box::new(source),
        parser: Parser::new(VolumeMap::new(Box::new(devices))),
        inspector: Box::new(picket_winport::WindowsInspector::default()),
        volumes,
        label: "minifilter port".to_owned(),
    })
}

/// No live source on this platform.
///
/// # Errors
/// Always.
#[cfg(not(any(windows, target_os = "linux")))]
pub fn open(_path: Option<&Path>) -> anyhow::Result<Live> {
    anyhow::bail!("no live source on this platform: use `picket replay` on a capture")
}
