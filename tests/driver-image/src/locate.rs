//! Where the image is, and what its absence means.
//!
//! The image is built by `.ci/build-sys.sh` (or `cargo make sys-linux`) when a WDK kit is
//! present. Without it the image cannot exist, so its checks are skipped with one line
//! saying why; with a kit (or `PICKET_REQUIRE_IMAGE=1`) a missing or stale image is a
//! failure that says how to build it. `PICKET_SKIP_IMAGE_TEST=1` skips explicitly.
//!
//! Variables: `PICKET_DRIVER_SYS` (the image, absolute or relative to the workspace; default
//! `target/x86_64-pc-windows-msvc/release/picket_driver.sys` under the workspace, or under
//! `CARGO_TARGET_DIR`), `PICKET_WDK` (the kit, default `../shared/wdk`).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The image's path relative to the target directory.
pub const IMAGE_IN_TARGET: &str = "x86_64-pc-windows-msvc/release/picket_driver.sys";

/// The workspace root.
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What to check.
#[derive(Debug)]
pub enum Found {
    /// The image (and its PDB next to it).
    Image(PathBuf),
    /// Nothing to check here, and why.
    Skip(String),
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The image to check, a skip, or a loud failure message (`Err`).
///
/// # Errors
/// A message naming the missing or stale file and how to build it.
pub fn driver_image() -> Result<Found, String> {
    let root = workspace_root();
    if flag("PICKET_SKIP_IMAGE_TEST") {
        return Ok(Found::Skip("PICKET_SKIP_IMAGE_TEST is set".into()));
    }
    let image = std::env::var_os("PICKET_DRIVER_SYS").map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), PathBuf::from);
            target.join(IMAGE_IN_TARGET)
        },
        |p| root.join(p), // a relative path is relative to the workspace root
    );
    let kit =
        std::env::var_os("PICKET_WDK").map_or_else(|| root.join("../shared/wdk"), |k| root.join(k));
    let how = "build it with `.ci/build-sys.sh` (or `cargo make sys-linux`), or set PICKET_SKIP_IMAGE_TEST=1";
    if !image.is_file() {
        if kit.is_dir() || flag("PICKET_REQUIRE_IMAGE") {
            return Err(format!(
                "the driver image {} does not exist: {how} (WDK kit: {})",
                image.display(),
                kit.display()
            ));
        }
        return Ok(Found::Skip(format!(
            "no driver image at {} and no WDK kit at {} to build it (PICKET_WDK; docs/VM-TESTING.md)",
            image.display(),
            kit.display()
        )));
    }
    if let Some(newer) = newer_source(&root, &image) {
        return Err(format!(
            "the driver image {} is older than {}: {how}",
            image.display(),
            newer.display()
        ));
    }
    Ok(Found::Image(image))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// A driver or protocol source (or export list) changed after the image was built.
fn newer_source(root: &Path, image: &Path) -> Option<PathBuf> {
    let built = modified(image)?;
    let mut stack = vec![
        root.join("driver/src"),
        root.join("driver/defs"),
        root.join("driver/build.rs"),
        root.join("driver/Cargo.toml"),
        root.join("protocol/src"),
    ];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        } else if modified(&path).is_some_and(|m| m > built) {
            return Some(path);
        }
    }
    None
}
