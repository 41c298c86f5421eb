//! NT device paths (`\Device\HarddiskVolume3\x`) to DOS paths (`C:\x`).
//!
//! The kernel reports names as Filter Manager gives them, with the volume's device name. The
//! mapping from device to drive letter lives in user mode (`QueryDosDevice` /
//! `FilterGetDosName` on Windows, the capture header on replay) and changes when volumes come
//! and go, so [`VolumeMap`] reloads it from its [`VolumeSource`] when a device is unknown
//! (at most once per `retry_after`) and periodically (every `refresh_every`).

use std::time::{Duration, Instant};

/// Where the device → drive mapping comes from.
pub trait VolumeSource {
    /// The current mapping: (`\Device\HarddiskVolume3`, `C:`) pairs.
    fn load(&mut self) -> Vec<(String, String)>;

    /// Asks about one device [`VolumeSource::load`] did not list (a volume mounted in a
    /// folder rather than on a drive letter: `FilterGetDosName` on Windows). The default
    /// knows nothing more.
    fn resolve(&mut self, device: &str) -> Option<String> {
        let _ = device;
        None
    }
}

/// A fixed mapping (replay: the one the capture recorded; tests).
#[derive(Clone, Debug, Default)]
pub struct StaticVolumes(pub Vec<(String, String)>);

impl VolumeSource for StaticVolumes {
    fn load(&mut self) -> Vec<(String, String)> {
        self.0.clone()
    }
}

/// The device → drive mapping with its refresh policy.
pub struct VolumeMap {
    entries: Vec<(String, String)>,
    source: Box<dyn VolumeSource>,
    loaded_at: Instant,
    retry_after: Duration,
    refresh_every: Duration,
    refreshes: u64,
    /// Moves on whenever `entries` change (a reload, a device resolved on its own).
    generation: u64,
}

impl std::fmt::Debug for VolumeMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeMap")
            .field("entries", &self.entries)
            .field("refreshes", &self.refreshes)
            .finish_non_exhaustive()
    }
}

impl VolumeMap {
    /// Loads the mapping from `source` now.
    pub fn new(mut source: Box<dyn VolumeSource>) -> Self {
        Self {
            entries: source.load(),
            source,
            loaded_at: Instant::now(),
            retry_after: Duration::from_secs(2),
            refresh_every: Duration::from_secs(60),
            refreshes: 0,
            generation: 0,
        }
    }

    /// A fixed mapping that never changes.
    #[must_use]
    pub fn fixed(entries: Vec<(String, String)>) -> Self {
        Self::new(Box::new(StaticVolumes(entries)))
    }

    /// Sets how long to wait between reloads on a miss, and between periodic reloads.
    #[must_use]
    pub fn with_refresh(mut self, retry_after: Duration, refresh_every: Duration) -> Self {
        self.retry_after = retry_after;
        self.refresh_every = refresh_every;
        self
    }

    /// The current entries.
    #[must_use]
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// How many times the mapping was reloaded since creation.
    #[must_use]
    pub const fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// A number that changes whenever the mapping may have: a translation made under one
    /// generation holds for as long as the generation is the same.
    #[must_use]
    pub const fn generation(&self) -> u64 {
        self.generation
    }

    fn reload(&mut self) {
        self.entries = self.source.load();
        self.loaded_at = Instant::now();
        self.refreshes += 1;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Reloads if the periodic interval has passed (call when idle).
    pub fn tick(&mut self) {
        if self.loaded_at.elapsed() >= self.refresh_every {
            self.reload();
        }
    }

    fn lookup(&self, device: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(nt, _)| nt.eq_ignore_ascii_case(device))
            .map(|(_, dos)| dos.as_str())
    }

    /// The DOS form of an NT path, or `None` when the volume is unknown (the caller keeps
    /// the NT path). Paths that are not device paths are returned as they are.
    pub fn translate(&mut self, nt_path: &str) -> Option<String> {
        if let Some(rest) = strip_prefix_ci(nt_path, r"\??\") {
            return Some(match strip_prefix_ci(rest, r"UNC\") {
                Some(unc) => format!(r"\\{unc}"),
                None => rest.to_owned(),
            });
        }
        if let Some(rest) = strip_prefix_ci(nt_path, r"\Device\Mup\") {
            return Some(format!(r"\\{rest}"));
        }
        let Some(after) = strip_prefix_ci(nt_path, r"\Device\") else {
            return Some(nt_path.to_owned());
        };
        let device_len = r"\Device\".len() + after.find('\\').unwrap_or(after.len());
        let (device, tail) = nt_path.split_at(device_len);
        if self.lookup(device).is_none() && self.loaded_at.elapsed() >= self.retry_after {
            // A volume we do not know: it may have just been mounted.
            self.reload();
            if self.lookup(device).is_none() {
                if let Some(dos) = self.source.resolve(device) {
                    self.entries.push((device.to_owned(), dos));
                    self.generation = self.generation.wrapping_add(1);
                }
            }
        }
        let dos = self.lookup(device)?;
        Some(if tail.is_empty() {
            format!("{dos}\\")
        } else {
            format!("{dos}{tail}")
        })
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn map() -> VolumeMap {
        VolumeMap::fixed(vec![
            (r"\Device\HarddiskVolume3".into(), "C:".into()),
            (r"\Device\HarddiskVolume4".into(), "D:".into()),
        ])
    }

    #[test]
    fn translates_device_paths() {
        let mut m = map();
        assert_eq!(
            m.translate(r"\Device\HarddiskVolume3\Users\a.txt")
                .as_deref(),
            Some(r"C:\Users\a.txt")
        );
        assert_eq!(
            m.translate(r"\device\harddiskvolume4\x").as_deref(),
            Some(r"D:\x")
        );
        assert_eq!(
            m.translate(r"\Device\HarddiskVolume3").as_deref(),
            Some(r"C:\")
        );
        // `HarddiskVolume33` is not `HarddiskVolume3`.
        assert_eq!(m.translate(r"\Device\HarddiskVolume33\x"), None);
        assert_eq!(
            m.translate(r"\Device\Mup\srv\share\f").as_deref(),
            Some(r"\\srv\share\f")
        );
        assert_eq!(m.translate(r"\??\C:\x").as_deref(), Some(r"C:\x"));
        assert_eq!(
            m.translate(r"\??\UNC\srv\s\x").as_deref(),
            Some(r"\\srv\s\x")
        );
    }

    struct Growing(Rc<Cell<u32>>);

    impl VolumeSource for Growing {
        fn load(&mut self) -> Vec<(String, String)> {
            self.0.set(self.0.get() + 1);
            let mut v = vec![(r"\Device\HarddiskVolume3".to_owned(), "C:".to_owned())];
            if self.0.get() > 1 {
                v.push((r"\Device\HarddiskVolume9".to_owned(), "E:".to_owned()));
            }
            v
        }
    }

    struct MountedInFolder;

    impl VolumeSource for MountedInFolder {
        fn load(&mut self) -> Vec<(String, String)> {
            Vec::new()
        }

        fn resolve(&mut self, device: &str) -> Option<String> {
            (device == r"\Device\HarddiskVolume5").then(|| r"C:\mnt\data".to_owned())
        }
    }

    #[test]
    fn asks_the_source_about_devices_without_a_drive_letter() {
        let mut m = VolumeMap::new(Box::new(MountedInFolder))
            .with_refresh(Duration::ZERO, Duration::from_secs(3600));
        assert_eq!(
            m.translate(r"\Device\HarddiskVolume5\x.txt").as_deref(),
            Some(r"C:\mnt\data\x.txt")
        );
        let resolved = m.generation();
        assert_ne!(resolved, 1, "a resolved device changes the mapping");
        m.translate(r"\Device\HarddiskVolume5\y.txt");
        assert_eq!(m.generation(), resolved, "a known device does not");
        assert_eq!(m.translate(r"\Device\HarddiskVolume6\x.txt"), None);
    }

    #[test]
    fn reloads_on_a_miss_once_the_retry_interval_has_passed() {
        let loads = Rc::new(Cell::new(0));
        let mut m = VolumeMap::new(Box::new(Growing(loads.clone())))
            .with_refresh(Duration::ZERO, Duration::from_secs(3600));
        assert_eq!(loads.get(), 1);
        assert_eq!(
            m.translate(r"\Device\HarddiskVolume9\usb.txt").as_deref(),
            Some(r"E:\usb.txt"),
            "a newly mounted volume is found after a reload"
        );
        assert_eq!(loads.get(), 2);
        let reloaded = m.generation();
        assert_ne!(reloaded, 0, "a reload changes the generation");
        m.translate(r"\Device\HarddiskVolume3\a");
        assert_eq!(loads.get(), 2, "a hit does not reload");
        assert_eq!(m.generation(), reloaded);

        let loads = Rc::new(Cell::new(0));
        let mut m = VolumeMap::new(Box::new(Growing(loads.clone())))
            .with_refresh(Duration::from_secs(3600), Duration::from_secs(3600));
        assert_eq!(m.translate(r"\Device\HarddiskVolume9\x"), None);
        assert_eq!(
            loads.get(),
            1,
            "misses do not reload more often than retry_after"
        );
    }
}
