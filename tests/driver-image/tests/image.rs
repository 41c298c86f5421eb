//! The built `picket_driver.sys` is a well-formed driver image that imports only what
//! `driver/defs` allows, cannot reach a panic, and stays within its stack budget.
//!
//! Build the image first: `.ci/build-sys.sh` (Linux, WDK kit) — see `picket_driver_image::locate`
//! for when a missing image is skipped and when it fails. Figures: `-- --nocapture`.
//! The `*_is_reported` tests doctor a copy of the image to show each check catches its fault.

use std::collections::BTreeMap;
use std::path::PathBuf;

use object::pe::{
    IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY,
    IMAGE_DLLCHARACTERISTICS_NX_COMPAT, IMAGE_SCN_MEM_WRITE,
};
use picket_driver_image::allow::{inf_min_build, AllowList};
use picket_driver_image::locate::{driver_image, workspace_root, Found};
use picket_driver_image::pe::{checksum_offset, problems, restamp_checksum, Image};
use picket_driver_image::stack::Graph;
use picket_driver_image::{names, pe};

/// Budget for the driver's own frames on the deepest path from a Filter Manager I/O
/// callback (pre/post operation, context cleanup). These run on whatever thread issued the
/// I/O, below the I/O manager, Filter Manager, the filters above us and — for paging and
/// recursive I/O — the cache and memory managers and the file system itself, all on one
/// 24 KiB kernel stack; the kernel routines we call (name queries go down the file-system
/// stack again) need their share too. docs/ARCHITECTURE.md §9 explains the figure.
const CALLBACK_BUDGET: u32 = 2048;
/// Budget for paths that start on a stack of their own: `DriverEntry`, the unload and
/// port callbacks (called by the I/O manager or Filter Manager at the top of a short
/// stack) and the sender thread (a system thread whose whole stack is ours).
const OWN_STACK_BUDGET: u32 = 6144;

struct Subject {
    path: PathBuf,
    bytes: Vec<u8>,
    allow: AllowList,
    floor: u32,
}

/// The image and the allow-list, `None` (with one line saying why) when the checks are
/// skipped; panics with how to build the image when it is required but missing or stale.
fn subject() -> Option<Subject> {
    let path = match driver_image() {
        Ok(Found::Image(path)) => path,
        Ok(Found::Skip(why)) => {
            eprintln!("picket-driver-image: skipped: {why}");
            return None;
        }
        Err(message) => panic!("{message}"),
    };
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let root = workspace_root();
    let allow = AllowList::read_dir(&root.join("driver/defs")).unwrap_or_else(|e| panic!("{e}"));
    let inf =
        std::fs::read_to_string(root.join("inf/picket_driver.inx")).expect("inf/picket_driver.inx");
    let floor =
        inf_min_build(&inf).expect("the INF names no [DefaultInstall.NT$ARCH$.10.0...N] section");
    Some(Subject {
        path,
        bytes,
        allow,
        floor,
    })
}

fn parse(bytes: &[u8]) -> Image {
    Image::parse(bytes).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn headers_checksum_sections_and_imports_are_right_and_no_panic_is_reachable() {
    let Some(s) = subject() else { return };
    let image = parse(&s.bytes);
    let found = problems(&image, &s.allow, s.floor);
    let mut by_library: BTreeMap<&str, usize> = BTreeMap::new();
    for import in &image.imports {
        *by_library.entry(import.library.as_str()).or_default() += 1;
    }
    println!(
        "{}: {} bytes on disk, SizeOfImage {} bytes",
        s.path.display(),
        image.file_size,
        image.size_of_image
    );
    for section in &image.sections {
        println!(
            "  section {:<8} {:>6} bytes  flags {:#010x}",
            section.name, section.virtual_size, section.characteristics
        );
    }
    println!(
        "  {} imports: {by_library:?}; INF floor: build {}",
        image.imports.len(),
        s.floor
    );
    let newest = image
        .imports
        .iter()
        .filter_map(|i| {
            s.allow
                .find(&i.library, &i.name)
                .map(|e| (e.min_build, i.name.as_str()))
        })
        .max();
    println!(
        "  newest import: {newest:?}; KeBugCheckEx imported: {}",
        image.imports.iter().any(|i| i.name == "KeBugCheckEx")
    );
    assert!(
        found.is_empty(),
        "{}:\n  {}",
        s.path.display(),
        found.join("\n  ")
    );
    // The panic handler's only import: absent, so no panic survived optimisation anywhere.
    assert!(s
        .allow
        .find("ntoskrnl.exe", "KeBugCheckEx")
        .is_some_and(|e| e.never_imported));
}

#[test]
fn every_entry_point_stays_within_its_stack_budget() {
    let Some(s) = subject() else { return };
    let image = parse(&s.bytes);
    let graph = Graph::read(&s.bytes, &image).unwrap_or_else(|e| panic!("{e}"));
    let names = names::read(&s.path.with_extension("pdb"));
    // Unnamed code is a linker thunk for an import (`jmp [__imp_X]`): show the import.
    let name = |rva: u32| match (names.get(&rva), graph.functions.get(&rva)) {
        (Some(n), _) => names::short(n),
        (None, Some(f)) if !f.imports.is_empty() => {
            format!(
                "[{}]",
                f.imports.iter().cloned().collect::<Vec<_>>().join("|")
            )
        }
        (None, _) => format!("{rva:#x}"),
    };
    assert!(
        graph.unknowns.is_empty(),
        "cannot bound the stack:\n  {}",
        graph.unknowns.join("\n  ")
    );
    assert!(
        graph.code_reads.is_empty(),
        "code read as data:\n  {}",
        graph.code_reads.join("\n  ")
    );

    let mut frames: Vec<_> = graph
        .functions
        .values()
        .map(|f| (f.frame, f.start))
        .collect();
    frames.sort_unstable_by(|a, b| b.cmp(a));
    println!(
        "{} functions; largest fixed frames (bytes, return address included):",
        frames.len()
    );
    for (frame, start) in frames.iter().take(8) {
        println!("  {frame:>5}  {}", name(*start));
    }
    let mut failures = Vec::new();
    println!("deepest path of the driver's own frames from each entry point:");
    for &root in &graph.roots {
        let path = graph
            .deepest(root)
            .unwrap_or_else(|e| panic!("{}: {e}", name(root)));
        let root_name = name(root);
        let budget = if root != image.entry_rva && is_io_callback(&root_name) {
            CALLBACK_BUDGET
        } else {
            OWN_STACK_BUDGET
        };
        let chain: Vec<String> = path.functions.iter().map(|f| name(*f)).collect();
        println!("  {:>5} / {budget}  {}", path.bytes, chain.join(" > "));
        if path.bytes > budget {
            failures.push(format!(
                "{root_name}: {} bytes > {budget}: {}",
                path.bytes,
                chain.join(" > ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "stack budget exceeded:\n  {}",
        failures.join("\n  ")
    );
}

/// Pre/post-operation and context callbacks run inside someone else's I/O. Without a PDB
/// (no names) every entry is held to the tighter budget.
fn is_io_callback(name: &str) -> bool {
    !["entry::", "sender::", "port::"]
        .iter()
        .any(|own| name.contains(own))
}

// ---- each check catches its fault (doctored copies) ----

fn expect_only(bytes: &[u8], s: &Subject, needle: &str) {
    let found = problems(&parse(bytes), &s.allow, s.floor);
    assert!(
        found.len() == 1 && found[0].contains(needle),
        "expected one problem mentioning {needle:?}, got {found:?}"
    );
}

#[test]
fn a_changed_byte_is_reported_as_a_checksum_mismatch() {
    let Some(s) = subject() else { return };
    let mut bytes = s.bytes.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a; // padding at the end of the last section: only the checksum notices
    expect_only(&bytes, &s, "PE checksum");
    let at = checksum_offset(&bytes).unwrap();
    bytes[at..at + 4].copy_from_slice(&0u32.to_le_bytes()); // a link without /RELEASE
    expect_only(&bytes, &s, "/RELEASE");
}

#[test]
fn a_missing_dll_characteristic_is_reported() {
    let Some(s) = subject() else { return };
    let offset = checksum_offset(&s.bytes).unwrap() - 64 + 70; // DllCharacteristics
    for (flag, name) in [
        (IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY, "FORCE_INTEGRITY"),
        (IMAGE_DLLCHARACTERISTICS_NX_COMPAT, "NX_COMPAT"),
        (IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, "DYNAMIC_BASE"),
    ] {
        let mut bytes = s.bytes.clone();
        let value = u16::from_le_bytes([bytes[offset], bytes[offset + 1]]);
        assert_eq!(value, parse(&s.bytes).dll_characteristics);
        bytes[offset..offset + 2].copy_from_slice(&(value & !flag).to_le_bytes());
        restamp_checksum(&mut bytes);
        expect_only(&bytes, &s, name);
    }
}

#[test]
fn a_writable_code_section_a_foreign_subsystem_and_another_entry_point_are_reported() {
    let Some(s) = subject() else { return };
    let optional = checksum_offset(&s.bytes).unwrap() - 64;
    let image = parse(&s.bytes);
    // Section headers follow the optional header (SizeOfOptionalHeader at file header +16).
    let size_of_optional = usize::from(u16::from_le_bytes([
        s.bytes[optional - 4],
        s.bytes[optional - 3],
    ]));
    let text = image
        .sections
        .iter()
        .position(|x| x.name == ".text")
        .expect(".text");
    let flags_at = optional + size_of_optional + text * 40 + 36;
    let mut bytes = s.bytes.clone();
    let flags =
        u32::from_le_bytes(bytes[flags_at..flags_at + 4].try_into().unwrap()) | IMAGE_SCN_MEM_WRITE;
    bytes[flags_at..flags_at + 4].copy_from_slice(&flags.to_le_bytes());
    restamp_checksum(&mut bytes);
    expect_only(&bytes, &s, "writable and executable");

    let mut bytes = s.bytes.clone();
    bytes[optional + 68..optional + 70].copy_from_slice(&2u16.to_le_bytes()); // WINDOWS_GUI
    restamp_checksum(&mut bytes);
    expect_only(&bytes, &s, "subsystem");

    let mut bytes = s.bytes.clone();
    bytes[optional + 16..optional + 20].copy_from_slice(&(image.entry_rva + 1).to_le_bytes());
    restamp_checksum(&mut bytes);
    expect_only(&bytes, &s, "not DriverEntry");
}

#[test]
fn imports_the_allow_list_does_not_cover_are_reported() {
    let Some(s) = subject() else { return };
    let image = parse(&s.bytes);
    let first = image
        .imports
        .iter()
        .find(|i| i.library.eq_ignore_ascii_case("ntoskrnl.exe"))
        .unwrap();
    let with = |edit: &dyn Fn(&mut AllowList)| {
        let mut allow = s.allow.clone();
        edit(&mut allow);
        problems(&image, &allow, s.floor)
    };
    let found = with(&|a| a.entries.retain(|e| e.name != first.name));
    assert!(
        found.len() == 1 && found[0].contains("not in driver/defs"),
        "{found:?}"
    );
    let found = with(&|a| {
        a.entries
            .iter_mut()
            .filter(|e| e.name == first.name)
            .for_each(|e| e.min_build = s.floor + 1)
    });
    assert!(
        found.len() == 1 && found[0].contains("newer than the INF's floor"),
        "{found:?}"
    );
    let found = with(&|a| {
        a.entries
            .iter_mut()
            .filter(|e| e.name == first.name)
            .for_each(|e| e.never_imported = true)
    });
    assert!(
        found.len() == 1 && found[0].contains("must stay unreachable"),
        "{found:?}"
    );
    let found = with(&|a| {
        let mut extra = a.entries[0].clone();
        extra.name = "FltUnusedExport".into();
        a.entries.push(extra);
    });
    assert!(
        found.len() == 1
            && found[0].contains("FltUnusedExport")
            && found[0].contains("does not import it"),
        "{found:?}"
    );
    let fltmgr = image
        .imports
        .iter()
        .filter(|i| i.library.eq_ignore_ascii_case("FLTMGR.SYS"))
        .count();
    let found = with(&|a| {
        a.entries
            .retain(|e| e.library.eq_ignore_ascii_case("ntoskrnl.exe"))
    });
    assert!(
        fltmgr > 0
            && found.len() == fltmgr
            && found.iter().all(|p| p.contains("only ntoskrnl.exe")),
        "{found:?}"
    );
}

#[test]
fn a_larger_frame_on_a_path_is_caught_by_the_budget() {
    let Some(s) = subject() else { return };
    let image = parse(&s.bytes);
    let graph = Graph::read(&s.bytes, &image).unwrap();
    let entry = graph.deepest(image.entry_rva).unwrap();
    // Grow the first frame on DriverEntry's deepest path that has a 16-bit ALLOC_LARGE
    // (`sub rsp, imm32`), by rewriting its unwind code as the compiler would have written it.
    let pe = object::read::pe::PeFile64::parse(&*s.bytes).unwrap();
    let dir = pe
        .data_directory(object::pe::IMAGE_DIRECTORY_ENTRY_EXCEPTION)
        .unwrap();
    let pdata = pe
        .section_table()
        .pe_file_range_at(dir.virtual_address.get(object::LittleEndian))
        .unwrap()
        .0 as usize;
    let count = dir.size.get(object::LittleEndian) as usize / 12;
    let word = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let mut bytes = s.bytes.clone();
    let mut grown = None;
    'path: for &function in &entry.functions {
        for i in 0..count {
            let row = pdata + i * 12;
            if word(&bytes, row) != function {
                continue;
            }
            let info = pe
                .section_table()
                .pe_file_range_at(word(&bytes, row + 8))
                .unwrap()
                .0 as usize;
            for c in 0..usize::from(bytes[info + 2]) {
                let code = info + 4 + 2 * c;
                if bytes[code + 1] == 0x01 {
                    // op 1 (ALLOC_LARGE), info 0: size/8 in the next slot. Add 4 KiB.
                    let old = u16::from_le_bytes([bytes[code + 2], bytes[code + 3]]);
                    bytes[code + 2..code + 4].copy_from_slice(&(old + 512).to_le_bytes());
                    grown = Some(function);
                    break 'path;
                }
            }
        }
    }
    let grown = grown.expect("no function on DriverEntry's path has an ALLOC_LARGE to grow");
    let doctored = Graph::read(&bytes, &parse(&bytes)).unwrap();
    assert_eq!(
        doctored.functions[&grown].frame,
        graph.functions[&grown].frame + 4096
    );
    let deeper = doctored.deepest(image.entry_rva).unwrap();
    assert_eq!(deeper.bytes, entry.bytes + 4096);
    assert!(entry.bytes <= OWN_STACK_BUDGET && deeper.bytes > OWN_STACK_BUDGET - 2048);
    let _ = pe::checksum(&bytes);
}
