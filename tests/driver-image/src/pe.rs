//! The image's headers, sections and imports, and the rules they must meet.

use object::pe::{
    ImageNtHeaders64, IMAGE_DIRECTORY_ENTRY_EXPORT, IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE,
    IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY, IMAGE_DLLCHARACTERISTICS_NX_COMPAT, IMAGE_FILE_DLL,
    IMAGE_FILE_MACHINE_AMD64, IMAGE_SCN_MEM_EXECUTE, IMAGE_SCN_MEM_WRITE, IMAGE_SUBSYSTEM_NATIVE,
};
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, PeFile64};
use object::LittleEndian as LE;

use crate::allow::AllowList;

/// The offset of `CheckSum` in the PE32+ optional header.
const CHECKSUM_IN_OPTIONAL_HEADER: usize = 64;

/// A section header's facts.
#[derive(Clone, Debug)]
pub struct Section {
    /// `.text`, `.rdata`, …
    pub name: String,
    /// Relative virtual address.
    pub rva: u32,
    /// Size in memory.
    pub virtual_size: u32,
    /// `IMAGE_SCN_*` flags.
    pub characteristics: u32,
}

/// One imported function or variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The module, as the image names it.
    pub library: String,
    /// The name (`#N` for an import by ordinal).
    pub name: String,
    /// The RVA of its import address table slot.
    pub iat_rva: u32,
}

/// What the checks read from an image.
#[derive(Clone, Debug)]
pub struct Image {
    /// File size in bytes.
    pub file_size: usize,
    /// `IMAGE_FILE_HEADER::Machine`.
    pub machine: u16,
    /// `IMAGE_FILE_HEADER::Characteristics`.
    pub characteristics: u16,
    /// `Subsystem`.
    pub subsystem: u16,
    /// `DllCharacteristics`.
    pub dll_characteristics: u16,
    /// `AddressOfEntryPoint`.
    pub entry_rva: u32,
    /// `ImageBase`.
    pub image_base: u64,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `CheckSum` as stored.
    pub stored_checksum: u32,
    /// The checksum the loader computes over the file.
    pub computed_checksum: u32,
    /// Section headers.
    pub sections: Vec<Section>,
    /// Imports, in table order.
    pub imports: Vec<Import>,
    /// Exports by name: (name, RVA).
    pub exports: Vec<(String, u32)>,
}

/// The image cannot be read as a PE32+ file.
#[derive(Debug, thiserror::Error)]
#[error("not a readable PE32+ image: {0}")]
pub struct ParseError(String);

impl From<object::Error> for ParseError {
    fn from(e: object::Error) -> Self {
        Self(e.to_string())
    }
}

impl Image {
    /// Reads the headers, sections, imports and exports.
    ///
    /// # Errors
    /// [`ParseError`] when the bytes are not a PE32+ image.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let pe = PeFile64::parse(bytes)?;
        let nt = pe.nt_headers();
        let file = nt.file_header();
        let optional = nt.optional_header();
        let sections = pe
            .section_table()
            .iter()
            .map(|s| Section {
                name: String::from_utf8_lossy(s.raw_name()).into_owned(),
                rva: s.virtual_address.get(LE),
                virtual_size: s.virtual_size.get(LE),
                characteristics: s.characteristics.get(LE),
            })
            .collect();
        let mut imports = Vec::new();
        if let Some(table) = pe.import_table()? {
            let mut descriptors = table.descriptors()?;
            while let Some(descriptor) = descriptors.next()? {
                let library =
                    String::from_utf8_lossy(table.name(descriptor.name.get(LE))?).into_owned();
                let lookup = match descriptor.original_first_thunk.get(LE) {
                    0 => descriptor.first_thunk.get(LE),
                    rva => rva,
                };
                let mut thunks = table.thunks(lookup)?;
                let mut slot = descriptor.first_thunk.get(LE);
                while let Some(thunk) = thunks.next::<ImageNtHeaders64>()? {
                    let name = match table.import::<ImageNtHeaders64>(thunk)? {
                        object::read::pe::Import::Name(_, name) => {
                            String::from_utf8_lossy(name).into_owned()
                        }
                        object::read::pe::Import::Ordinal(n) => format!("#{n}"),
                    };
                    imports.push(Import {
                        library: library.clone(),
                        name,
                        iat_rva: slot,
                    });
                    slot = slot.wrapping_add(8);
                }
            }
        }
        let mut exports = Vec::new();
        if pe.data_directory(IMAGE_DIRECTORY_ENTRY_EXPORT).is_some() {
            if let Some(table) = pe.export_table()? {
                for export in table.exports()? {
                    if let (Some(name), object::read::pe::ExportTarget::Address(rva)) =
                        (export.name, export.target)
                    {
                        exports.push((String::from_utf8_lossy(name).into_owned(), rva));
                    }
                }
            }
        }
        Ok(Self {
            file_size: bytes.len(),
            machine: file.machine.get(LE),
            characteristics: file.characteristics.get(LE),
            subsystem: optional.subsystem(),
            dll_characteristics: optional.dll_characteristics(),
            entry_rva: optional.address_of_entry_point(),
            image_base: optional.image_base(),
            size_of_image: optional.size_of_image(),
            stored_checksum: optional.check_sum(),
            computed_checksum: checksum(bytes)
                .ok_or_else(|| ParseError("no room for a checksum".into()))?,
            sections,
            imports,
            exports,
        })
    }

    /// The section holding `rva`.
    #[must_use]
    pub fn section_of(&self, rva: u32) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| rva >= s.rva && rva - s.rva < s.virtual_size.max(1))
    }
}

/// The file offset of `CheckSum`.
#[must_use]
pub fn checksum_offset(bytes: &[u8]) -> Option<usize> {
    let lfanew = u32::from_le_bytes(bytes.get(0x3c..0x40)?.try_into().ok()?) as usize;
    // "PE\0\0", IMAGE_FILE_HEADER (20 bytes), then the optional header.
    Some(lfanew + 4 + 20 + CHECKSUM_IN_OPTIONAL_HEADER)
}

/// The PE image checksum (as `CheckSumMappedFile` computes it): the one's-complement-style
/// 16-bit sum of the file with the `CheckSum` field taken as zero, plus the file length.
#[must_use]
pub fn checksum(bytes: &[u8]) -> Option<u32> {
    let skip = checksum_offset(bytes)?;
    if skip + 4 > bytes.len() {
        return None;
    }
    let mut sum: u64 = 0;
    for (index, pair) in bytes.chunks(2).enumerate() {
        let offset = index * 2;
        if offset == skip || offset == skip + 2 {
            continue;
        }
        let word = u64::from(pair[0]) | pair.get(1).map_or(0, |&b| u64::from(b) << 8);
        sum += word;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    u32::try_from(sum + bytes.len() as u64).ok()
}

/// Writes `CheckSum` so a doctored copy only carries the fault it was given.
pub fn restamp_checksum(bytes: &mut [u8]) {
    if let (Some(at), Some(sum)) = (checksum_offset(bytes), checksum(bytes)) {
        bytes[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    }
}

/// The name of the export at `rva`, if any.
fn export_at(image: &Image, rva: u32) -> Option<&str> {
    image
        .exports
        .iter()
        .find(|(_, r)| *r == rva)
        .map(|(n, _)| n.as_str())
}

/// Every rule the image breaks, one sentence each; empty when it is right. `floor` is the
/// oldest Windows build the INF installs on.
#[must_use]
pub fn problems(image: &Image, allow: &AllowList, floor: u32) -> Vec<String> {
    let mut out = Vec::new();
    if image.machine != IMAGE_FILE_MACHINE_AMD64 {
        out.push(format!(
            "machine is {:#06x}, not AMD64 (0x8664)",
            image.machine
        ));
    }
    if image.subsystem != IMAGE_SUBSYSTEM_NATIVE {
        out.push(format!("subsystem is {}, not NATIVE (1)", image.subsystem));
    }
    if image.characteristics & IMAGE_FILE_DLL == 0 {
        out.push("not a DLL image (IMAGE_FILE_DLL clear)".to_owned());
    }
    match export_at(image, image.entry_rva) {
        Some("DriverEntry") => {}
        other => out.push(format!(
            "entry point {:#x} is {}, not DriverEntry",
            image.entry_rva,
            other.unwrap_or("no exported function")
        )),
    }
    for (flag, name) in [
        (IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY, "FORCE_INTEGRITY"),
        (IMAGE_DLLCHARACTERISTICS_NX_COMPAT, "NX_COMPAT"),
        (IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, "DYNAMIC_BASE"),
    ] {
        if image.dll_characteristics & flag == 0 {
            out.push(format!("DllCharacteristics lacks {name}"));
        }
    }
    if image.stored_checksum != image.computed_checksum {
        out.push(format!(
            "PE checksum is {:#x}, the file sums to {:#x} (link with /RELEASE)",
            image.stored_checksum, image.computed_checksum
        ));
    }
    for s in &image.sections {
        if s.characteristics & IMAGE_SCN_MEM_WRITE != 0
            && s.characteristics & IMAGE_SCN_MEM_EXECUTE != 0
        {
            out.push(format!(
                "section {} is both writable and executable",
                s.name
            ));
        }
    }
    let libraries = allow.libraries();
    for import in &image.imports {
        if !libraries
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&import.library))
        {
            out.push(format!(
                "imports {} from {}: only {} are allowed",
                import.name,
                import.library,
                libraries.join(" and ")
            ));
            continue;
        }
        match allow.find(&import.library, &import.name) {
            None => out.push(format!(
                "imports {}!{}, which is not in driver/defs (add it there with its minimum build, on purpose)",
                import.library, import.name
            )),
            Some(entry) if entry.never_imported => out.push(format!(
                "imports {} ({}): it must stay unreachable{}",
                import.name,
                entry.source,
                if import.name == "KeBugCheckEx" {
                    "; only wdk-panic's handler calls it, so some kernel code can panic"
                } else {
                    ""
                }
            )),
            Some(entry) if entry.min_build > floor => out.push(format!(
                "imports {} which needs build {} ({}), newer than the INF's floor {floor}",
                import.name, entry.min_build, entry.source
            )),
            Some(_) => {}
        }
    }
    for entry in &allow.entries {
        let imported = image
            .imports
            .iter()
            .any(|i| i.name == entry.name && i.library.eq_ignore_ascii_case(&entry.library));
        if !imported && !entry.never_imported && !entry.link_only {
            out.push(format!(
                "driver/defs lists {} ({}) but the image does not import it: remove the line \
                 (or mark it link-only if a dependency's unused code needs it to link)",
                entry.name, entry.source
            ));
        }
    }
    out
}
