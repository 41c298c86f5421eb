//! The live Linux source for `picket watch [PATH]` (owned by the fanotify work, issue 6).

/// Opens the fanotify source for the file system holding `path`.
///
/// # Errors
/// Always, until the fanotify source is built.
pub fn open_live_source(
    path: &std::path::Path,
) -> anyhow::Result<Box<dyn picket_model::BatchSource>> {
    anyhow::bail!(
        "the Linux live source (fanotify) is not built yet: cannot watch {}",
        path.display()
    )
}
