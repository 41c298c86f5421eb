//! Detection wiring for the binary (owned by the detection work, issue 7).
//!
//! `DetectionArgs` is flattened into `watch`, `replay` and `demo`; `build_detector` turns the
//! flags into the detector the pipeline calls for every event.

/// Detection flags (none yet).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DetectionArgs {}

/// The detector for these flags, or `None` when detection is off or not built.
///
/// # Errors
/// When the rules cannot be loaded.
#[allow(clippy::unnecessary_wraps)]
pub fn build_detector(
    args: &DetectionArgs,
) -> anyhow::Result<Option<Box<dyn picket_model::Detector>>> {
    let _ = args;
    Ok(None)
}
