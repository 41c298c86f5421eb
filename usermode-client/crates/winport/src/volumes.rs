//! The DOS device map: `C:` → `\Device\HarddiskVolume3`, from `QueryDosDeviceW`.

use picket_parse::VolumeSource;
use windows_sys::Win32::Storage::FileSystem::QueryDosDeviceW;
use windows_sys::Win32::Storage::InstallableFileSystems::FilterGetDosName;

use crate::logic::{first_multi_sz, wide};

/// Reads the drive letters' device names. [`picket_parse::VolumeMap`] reloads it when a
/// device is unknown (a volume mounted since) and periodically.
#[derive(Clone, Copy, Debug, Default)]
pub struct DosDevices;

impl VolumeSource for DosDevices {
    fn load(&mut self) -> Vec<(String, String)> {
        let mut map = Vec::new();
        let mut target = vec![0u16; 1024];
        for letter in b'A'..=b'Z' {
            let drive = format!("{}:", char::from(letter));
            let name = wide(&drive);
            let capacity = u32::try_from(target.len()).unwrap_or(u32::MAX);
            // SAFETY: `name` is NUL-terminated; `target` holds `capacity` code units and
            // both outlive the call.
            let written = unsafe { QueryDosDeviceW(name.as_ptr(), target.as_mut_ptr(), capacity) };
            let written = usize::try_from(written).unwrap_or(0).min(target.len());
            if written > 0 {
                let device = first_multi_sz(target.get(..written).unwrap_or_default());
                if device.starts_with(r"\Device\") {
                    map.push((device, drive));
                }
            }
        }
        tracing::debug!(?map, "DOS device map loaded");
        map
    }

    /// `FilterGetDosName`: also answers for volumes mounted in a folder (no drive letter).
    fn resolve(&mut self, device: &str) -> Option<String> {
        let name = wide(device);
        let mut dos = vec![0u16; 1024];
        let capacity = u32::try_from(dos.len()).unwrap_or(u32::MAX);
        // SAFETY: `name` is NUL-terminated; `dos` holds `capacity` code units; both outlive
        // the call.
        let hr = unsafe { FilterGetDosName(name.as_ptr(), dos.as_mut_ptr(), capacity) };
        if hr < 0 {
            tracing::debug!(device, hr, "FilterGetDosName found no DOS name");
            return None;
        }
        let dos = first_multi_sz(&dos);
        (!dos.is_empty()).then(|| dos.trim_end_matches('\\').to_owned())
    }
}
