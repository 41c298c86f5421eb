//! The driver image: where the release `.sys` is, and what the loader needs from its PE
//! headers (sections, imports with their IAT slots, the `DriverEntry` export).

use std::path::{Path, PathBuf};

use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, ImageThunkData, Import, PeFile64};
use object::LittleEndian as LE;

/// The environment variable that names the image, overriding [`default_path`].
pub const IMAGE_ENV: &str = "PICKET_DRIVER_SYS";

/// Where `.ci/build-sys.sh` writes the release image, relative to the workspace root.
pub const DEFAULT_IMAGE: &str = "target/x86_64-pc-windows-msvc/release/picket_driver.sys";

/// Why the image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file is missing.
    #[error(
        "the release driver image {0} does not exist: build it with `.ci/build-sys.sh` \
         (or point {IMAGE_ENV} at a picket_driver.sys)"
    )]
    Missing(PathBuf),
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is not a PE32+ image the loader understands.
    #[error("{path} is not a loadable x64 PE image: {reason}")]
    Malformed {
        /// The image.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The workspace root (this crate lives in `tests/kernel-emu`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$PICKET_DRIVER_SYS`, else the release build's output path.
#[must_use]
pub fn default_path() -> PathBuf {
    std::env::var_os(IMAGE_ENV).map_or_else(|| workspace_root().join(DEFAULT_IMAGE), PathBuf::from)
}

/// The Linux WDK kit `.ci/build-sys.sh` builds the image with: `$PICKET_WDK`, else
/// `../shared/wdk` beside the workspace.
#[must_use]
pub fn kit_path() -> PathBuf {
    std::env::var_os("PICKET_WDK").map_or_else(
        || workspace_root().join("../shared/wdk"),
        |kit| workspace_root().join(kit),
    )
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Why the tests that run the real image cannot run on this machine, if they cannot: set
/// `PICKET_SKIP_IMAGE_TEST=1`, or no image and no WDK kit that could build one (the same
/// policy as `tests/driver-image`). With a kit, or with `PICKET_REQUIRE_IMAGE=1` or
/// `PICKET_REQUIRE_WDK=1` (CI), a missing image is not a skip: loading it fails, naming the
/// path and the build script.
#[must_use]
pub fn skip_reason() -> Option<String> {
    if flag("PICKET_SKIP_IMAGE_TEST") {
        return Some("PICKET_SKIP_IMAGE_TEST is set".into());
    }
    let image = default_path();
    let required = flag("PICKET_REQUIRE_IMAGE") || flag("PICKET_REQUIRE_WDK");
    (!image.is_file() && !kit_path().is_dir() && !required).then(|| {
        format!(
            "no driver image at {} and no WDK kit at {} to build one (.ci/build-sys.sh)",
            image.display(),
            kit_path().display()
        )
    })
}

/// Returns from the calling test, saying why in one line, when [`skip_reason`] says the real
/// image cannot be had here.
#[macro_export]
macro_rules! skip_without_image {
    () => {
        if let Some(why) = $crate::image::skip_reason() {
            eprintln!("kernel-emu: skipped: {why}");
            return;
        }
    };
}

/// One mapped section.
#[derive(Clone, Debug)]
pub struct Section {
    /// Section name.
    pub name: String,
    /// Relative virtual address.
    pub rva: u64,
    /// Size in memory.
    pub virtual_size: u64,
    /// Bytes from the file (the rest is zero).
    pub data: Vec<u8>,
    /// Readable, writable, executable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

/// One imported function or variable and its IAT slot.
#[derive(Clone, Debug)]
pub struct ImportSlot {
    /// `ntoskrnl.exe`, `FLTMGR.SYS`.
    pub library: String,
    /// The export's name.
    pub name: String,
    /// RVA of the IAT slot the loader fills.
    pub iat_rva: u64,
}

/// A parsed driver image.
#[derive(Clone, Debug)]
pub struct Image {
    /// Where it was read from.
    pub path: PathBuf,
    /// Preferred base (the loader maps it there: no relocation needed).
    pub base: u64,
    /// `SizeOfImage`.
    pub size: u64,
    /// The headers' bytes (mapped read-only at the base, as Windows does).
    pub headers: Vec<u8>,
    /// Sections.
    pub sections: Vec<Section>,
    /// Imports, in IAT order.
    pub imports: Vec<ImportSlot>,
    /// RVA of `DriverEntry`.
    pub driver_entry: u64,
    /// The optional header's `DllCharacteristics` (the kernel reads
    /// `IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY` from it before it lets the image register
    /// process callbacks).
    pub dll_characteristics: u16,
}

impl Image {
    /// Reads the image at [`default_path`].
    ///
    /// # Errors
    /// [`ImageError::Missing`] names the path and the build script when there is no image.
    pub fn load_default() -> Result<Self, ImageError> {
        Self::load(&default_path())
    }

    /// Reads and parses an image.
    ///
    /// # Errors
    /// Missing, unreadable or malformed images.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        if !path.exists() {
            return Err(ImageError::Missing(path.to_path_buf()));
        }
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let malformed = |reason: String| ImageError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let file = PeFile64::parse(&*bytes).map_err(|e| malformed(e.to_string()))?;
        let optional = file.nt_headers().optional_header();
        let base = optional.image_base();
        let size = u64::from(optional.size_of_image());
        let dll_characteristics = optional.dll_characteristics();
        let header_len = optional.size_of_headers() as usize;
        let headers = bytes.get(..header_len).unwrap_or(&bytes).to_vec();
        let mut sections = Vec::new();
        for section in file.section_table().iter() {
            let name = String::from_utf8_lossy(section.raw_name())
                .trim_end_matches('\0')
                .to_owned();
            let data = section
                .pe_data(&*bytes)
                .map_err(|e| malformed(format!("section {name}: {e}")))?
                .to_vec();
            let flags = section.characteristics.get(LE);
            sections.push(Section {
                name,
                rva: u64::from(section.virtual_address.get(LE)),
                virtual_size: u64::from(section.virtual_size.get(LE)),
                data,
                read: flags & pe::IMAGE_SCN_MEM_READ != 0,
                write: flags & pe::IMAGE_SCN_MEM_WRITE != 0,
                execute: flags & pe::IMAGE_SCN_MEM_EXECUTE != 0,
            });
        }
        let mut imports = Vec::new();
        if let Some(table) = file.import_table().map_err(|e| malformed(e.to_string()))? {
            let mut descriptors = table.descriptors().map_err(|e| malformed(e.to_string()))?;
            while let Some(descriptor) = descriptors.next().map_err(|e| malformed(e.to_string()))? {
                let library = String::from_utf8_lossy(
                    table
                        .name(descriptor.name.get(LE))
                        .map_err(|e| malformed(e.to_string()))?,
                )
                .into_owned();
                let iat = descriptor.first_thunk.get(LE);
                let lookup = match descriptor.original_first_thunk.get(LE) {
                    0 => iat,
                    rva => rva,
                };
                let mut thunks = table.thunks(lookup).map_err(|e| malformed(e.to_string()))?;
                let mut slot = u64::from(iat);
                while let Some(thunk) = thunks
                    .next::<pe::ImageNtHeaders64>()
                    .map_err(|e| malformed(e.to_string()))?
                {
                    let name = match table
                        .import::<pe::ImageNtHeaders64>(thunk)
                        .map_err(|e| malformed(e.to_string()))?
                    {
                        Import::Name(_, name) => String::from_utf8_lossy(name).into_owned(),
                        Import::Ordinal(ordinal) => format!("#{ordinal}"),
                    };
                    let _ = thunk.raw();
                    imports.push(ImportSlot {
                        library: library.clone(),
                        name,
                        iat_rva: slot,
                    });
                    slot += 8;
                }
            }
        }
        let exports = file
            .export_table()
            .map_err(|e| malformed(e.to_string()))?
            .ok_or_else(|| malformed("no export table (DriverEntry)".into()))?;
        let driver_entry = exports
            .exports()
            .map_err(|e| malformed(e.to_string()))?
            .into_iter()
            .find(|e| e.name == Some(b"DriverEntry".as_slice()))
            .and_then(|e| match e.target {
                object::read::pe::ExportTarget::Address(rva) => Some(u64::from(rva)),
                _ => None,
            })
            .ok_or_else(|| malformed("DriverEntry is not exported".into()))?;
        Ok(Self {
            path: path.to_path_buf(),
            base,
            size,
            headers,
            sections,
            imports,
            driver_entry,
            dll_characteristics,
        })
    }

    /// `mov r64, cr8` / `mov cr8, r64` instructions in executable sections: (address,
    /// writes CR8, general register number 0-15). Unicorn has no APIC, so these are emulated
    /// by per-address hooks that read or write the fake kernel's IRQL.
    #[must_use]
    pub fn cr8_moves(&self) -> Vec<(u64, bool, u8)> {
        let mut found = Vec::new();
        for section in self.sections.iter().filter(|s| s.execute) {
            for (i, w) in section.data.windows(4).enumerate() {
                let rex = w[0];
                if rex & 0xF4 != 0x44 || w[1] != 0x0F || (w[2] != 0x20 && w[2] != 0x22) {
                    continue;
                }
                let modrm = w[3];
                if modrm >> 6 != 3 || (modrm >> 3) & 7 != 0 {
                    continue;
                }
                let reg = (modrm & 7) | if rex & 1 != 0 { 8 } else { 0 };
                found.push((self.base + section.rva + i as u64, w[2] == 0x22, reg));
            }
        }
        found
    }

    /// Whether the image was linked with `/INTEGRITYCHECK`
    /// (`IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY`).
    #[must_use]
    pub const fn force_integrity(&self) -> bool {
        self.dll_characteristics & pe::IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY != 0
    }

    /// The image's end (exclusive), as an absolute address.
    #[must_use]
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}
