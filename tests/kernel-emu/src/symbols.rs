//! Guest addresses to function names, from the PDB lld-link writes next to the image
//! (`picket_driver.pdb`, release profile `debug = 1`): every procedure of every module with
//! its code range, publics as a fallback. Without a PDB, addresses print as `image+0xRVA`.

use std::path::Path;

use pdb::FallibleIterator;

/// Sorted function ranges of one image.
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    base: u64,
    /// (rva, length or 0 when unknown, demangled name), sorted by rva.
    ranges: Vec<(u64, u64, String)>,
}

impl Symbols {
    /// Reads `<image>.pdb` if present; empty otherwise (addresses then print raw).
    #[must_use]
    pub fn for_image(image_path: &Path, base: u64) -> Self {
        let pdb_path = image_path.with_extension("pdb");
        let ranges = std::fs::File::open(&pdb_path)
            .ok()
            .and_then(|file| read(file).ok())
            .unwrap_or_default();
        Self { base, ranges }
    }

    /// Whether names are available.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The function containing `address`, as `name+0xoffset`, or `image+0xRVA`.
    #[must_use]
    pub fn describe(&self, address: u64) -> String {
        let Some(rva) = address.checked_sub(self.base) else {
            return format!("{address:#x} (outside the image)");
        };
        let index = self.ranges.partition_point(|(start, _, _)| *start <= rva);
        if let Some((start, len, name)) = index.checked_sub(1).and_then(|i| self.ranges.get(i)) {
            if *len == 0 || rva < start + len {
                return format!("{name}+{:#x}", rva - start);
            }
        }
        format!("image+{rva:#x}")
    }

    /// The function that starts exactly at `address`, if known.
    #[must_use]
    pub fn function_at(&self, address: u64) -> Option<&str> {
        let rva = address.checked_sub(self.base)?;
        self.ranges
            .binary_search_by_key(&rva, |(start, _, _)| *start)
            .ok()
            .and_then(|i| self.ranges.get(i))
            .map(|(_, _, name)| name.as_str())
    }
}

fn read(file: std::fs::File) -> pdb::Result<Vec<(u64, u64, String)>> {
    let mut pdb = pdb::PDB::open(file)?;
    let address_map = pdb.address_map()?;
    let mut ranges = Vec::new();
    let info = pdb.debug_information()?;
    let mut modules = info.modules()?;
    while let Some(module) = modules.next()? {
        let Some(module_info) = pdb.module_info(&module)? else {
            continue;
        };
        let mut symbols = module_info.symbols()?;
        while let Some(symbol) = symbols.next()? {
            if let Ok(pdb::SymbolData::Procedure(proc)) = symbol.parse() {
                if let Some(rva) = proc.offset.to_rva(&address_map) {
                    ranges.push((
                        u64::from(rva.0),
                        u64::from(proc.len),
                        short_name(&proc.name.to_string()),
                    ));
                }
            }
        }
    }
    let globals = pdb.global_symbols()?;
    let mut iter = globals.iter();
    while let Some(symbol) = iter.next()? {
        if let Ok(pdb::SymbolData::Public(public)) = symbol.parse() {
            if let Some(rva) = public.offset.to_rva(&address_map) {
                let rva = u64::from(rva.0);
                if !ranges.iter().any(|(start, _, _)| *start == rva) {
                    ranges.push((rva, 0, short_name(&public.name.to_string())));
                }
            }
        }
    }
    ranges.sort_by_key(|(start, _, _)| *start);
    Ok(ranges)
}

/// Drops the crate path prefix noise and hash suffixes of Rust symbol names.
fn short_name(name: &str) -> String {
    let name = name.strip_prefix("picket_driver::").unwrap_or(name);
    match name.rfind("::h") {
        Some(at) if name.len() - at == 19 => name[..at].to_owned(),
        _ => name.to_owned(),
    }
}
