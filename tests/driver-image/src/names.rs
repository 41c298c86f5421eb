//! Function names from the PDB the linker wrote next to the image, for the figures.

use std::collections::BTreeMap;
use std::path::Path;

use pdb::FallibleIterator;

/// RVA → procedure name. Empty when the PDB is absent or unreadable: names only decorate
/// the figures, no check depends on them.
#[must_use]
pub fn read(pdb_path: &Path) -> BTreeMap<u32, String> {
    read_inner(pdb_path).unwrap_or_default()
}

fn read_inner(pdb_path: &Path) -> Result<BTreeMap<u32, String>, pdb::Error> {
    let file = std::fs::File::open(pdb_path)?;
    let mut pdb = pdb::PDB::open(file)?;
    let address_map = pdb.address_map()?;
    let mut names = BTreeMap::new();
    let dbi = pdb.debug_information()?;
    let mut modules = dbi.modules()?;
    while let Some(module) = modules.next()? {
        let Some(info) = pdb.module_info(&module)? else {
            continue;
        };
        let mut symbols = info.symbols()?;
        while let Some(symbol) = symbols.next()? {
            if let Ok(pdb::SymbolData::Procedure(procedure)) = symbol.parse() {
                if let Some(rva) = procedure.offset.to_rva(&address_map) {
                    names.insert(rva.0, procedure.name.to_string().into_owned());
                }
            }
        }
    }
    Ok(names)
}

/// `name` shortened for a table: the crate prefix and generic arguments dropped.
#[must_use]
pub fn short(name: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim_start_matches("picket_driver::").to_owned()
}
