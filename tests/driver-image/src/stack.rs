//! Stack use, read from the image alone.
//!
//! Each function's fixed frame comes from its x64 unwind data (`.pdata` → `UNWIND_INFO`):
//! pushes, `sub rsp` allocations and a machine frame, plus the return address. A function
//! without unwind data is a leaf that does not move `rsp`: 8 bytes. The call graph comes from
//! decoding the code: direct calls, tail jumps to other functions, calls through the import
//! table. The deepest path from an entry point is the largest sum of frames along its calls,
//! where a tail jump reuses the caller's frame.
//!
//! Entry points are `DriverEntry` and every function whose address the image takes: a base
//! relocation pointing at code (the Filter Manager registration tables) or a `lea` of code
//! (the sender thread's start routine). The analysis refuses what it cannot bound: an
//! indirect call whose target it cannot name, and recursion.
//!
//! Limits: an indirect `jmp` through a register is taken to be a `match` jump table inside
//! its function (the only kind LLVM emits for this code; an indirect tail call through a
//! function pointer would escape the analysis). The kernel routines the driver calls use
//! stack of their own that is not counted here: the budgets leave room for them.

use std::collections::{BTreeMap, BTreeSet};

use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind};
use object::pe::{
    IMAGE_DIRECTORY_ENTRY_BASERELOC, IMAGE_DIRECTORY_ENTRY_EXCEPTION, IMAGE_REL_BASED_DIR64,
};
use object::read::pe::PeFile64;
use object::LittleEndian as LE;

use crate::pe::Image;

const UNW_FLAG_CHAININFO: u8 = 0x4;

/// Why the stack could not be bounded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Malformed unwind data or an unreadable address.
    #[error("unwind data at {rva:#x}: {problem}")]
    Unwind {
        /// Where.
        rva: u32,
        /// What.
        problem: String,
    },
    /// The image could not be read.
    #[error("{0}")]
    Image(String),
}

/// The stack bytes one `UNWIND_INFO` record's prolog allocates (without the return address),
/// and the RVA of the parent record when it is chained.
///
/// # Errors
/// [`Error::Unwind`] for a truncated record or an unknown operation.
pub fn unwind_allocation(info: &[u8], rva: u32) -> Result<(u32, Option<u32>), Error> {
    let bad = |problem: &str| Error::Unwind {
        rva,
        problem: problem.to_owned(),
    };
    let header = info.get(..4).ok_or_else(|| bad("truncated header"))?;
    let version = header[0] & 0x7;
    let flags = header[0] >> 3;
    if version != 1 && version != 2 {
        return Err(bad(&format!("unknown version {version}")));
    }
    let count = usize::from(header[2]);
    let codes = info
        .get(4..4 + 2 * count)
        .ok_or_else(|| bad("truncated unwind codes"))?;
    let slot = |i: usize| -> Result<u16, Error> {
        codes
            .get(2 * i..2 * i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("an operation runs past the code array"))
    };
    let mut bytes: u32 = 0;
    let mut i = 0;
    while i < count {
        let code = slot(i)?;
        let op = (code >> 8) & 0xf;
        let op_info = u32::from(code >> 12);
        i += match op {
            0 => {
                bytes += 8; // UWOP_PUSH_NONVOL
                1
            }
            1 if op_info == 0 => {
                bytes += u32::from(slot(i + 1)?) * 8; // UWOP_ALLOC_LARGE, size/8 in 16 bits
                2
            }
            1 => {
                bytes += u32::from(slot(i + 1)?) | (u32::from(slot(i + 2)?) << 16); // 32 bits
                3
            }
            2 => {
                bytes += op_info * 8 + 8; // UWOP_ALLOC_SMALL
                1
            }
            3 => 1, // UWOP_SET_FPREG: no allocation
            4 => 2, // UWOP_SAVE_NONVOL: into space already allocated
            5 => 3, // UWOP_SAVE_NONVOL_FAR
            6 => 2, // version 1 UWOP_SAVE_XMM / version 2 UWOP_EPILOG
            7 => 3, // UWOP_SAVE_XMM_FAR / spare
            8 => 2, // UWOP_SAVE_XMM128
            9 => 3, // UWOP_SAVE_XMM128_FAR
            10 => {
                bytes += if op_info == 0 { 40 } else { 48 }; // UWOP_PUSH_MACHFRAME
                1
            }
            other => return Err(bad(&format!("unknown unwind operation {other}"))),
        };
    }
    let parent = if flags & UNW_FLAG_CHAININFO != 0 {
        let at = 4 + 2 * (count + (count & 1)); // the code array is padded to an even count
        let chained = info
            .get(at..at + 12)
            .ok_or_else(|| bad("truncated chained function entry"))?;
        Some(u32::from_le_bytes([
            chained[8],
            chained[9],
            chained[10],
            chained[11],
        ]))
    } else {
        None
    };
    Ok((bytes, parent))
}

/// Where a leaf function (no unwind data) ends: after the first instruction that ends the
/// flow (`ret`, `jmp`, `int3`) with no earlier branch reaching past it, or at `limit`.
fn leaf_end(code: &[u8], image_base: u64, start: u32, limit: u32) -> u32 {
    let len = (limit.saturating_sub(start) as usize).min(code.len());
    let mut decoder = Decoder::with_ip(
        64,
        &code[..len],
        image_base + u64::from(start),
        DecoderOptions::NONE,
    );
    let mut reach = 0u64;
    for instruction in &mut decoder {
        match instruction.flow_control() {
            FlowControl::ConditionalBranch => reach = reach.max(instruction.near_branch_target()),
            FlowControl::Return
            | FlowControl::UnconditionalBranch
            | FlowControl::IndirectBranch
            | FlowControl::Interrupt
                if instruction.next_ip() > reach =>
            {
                return u32::try_from(instruction.next_ip() - image_base).unwrap_or(limit);
            }
            _ => {}
        }
    }
    limit
}

/// The import a linker thunk (`jmp [rip+slot]`) at `rva` jumps to.
fn thunk_import<'a>(
    code: &[u8],
    image_base: u64,
    rva: u32,
    iat: &BTreeMap<u32, &'a str>,
) -> Option<&'a str> {
    let mut decoder = Decoder::with_ip(64, code, image_base + u64::from(rva), DecoderOptions::NONE);
    let first = decoder.iter().next()?;
    if first.flow_control() != FlowControl::IndirectBranch || !first.is_ip_rel_memory_operand() {
        return None;
    }
    let slot = u32::try_from(first.ip_rel_memory_address().checked_sub(image_base)?).ok()?;
    iat.get(&slot).copied()
}

/// A function: its code ranges (a function and its chained fragments), fixed frame (with the
/// return address) and what it calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Function {
    /// The entry RVA.
    pub start: u32,
    /// `[begin, end)` code ranges.
    pub ranges: Vec<(u32, u32)>,
    /// Fixed stack bytes, return address included.
    pub frame: u32,
    /// Direct calls to functions of the image (entry RVAs).
    pub calls: BTreeSet<u32>,
    /// Tail jumps to functions of the image (they reuse this frame).
    pub tails: BTreeSet<u32>,
    /// Imports called or tail-jumped to (their stack is the kernel's, not ours).
    pub imports: BTreeSet<String>,
}

/// The image's functions and entry points.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// By entry RVA.
    pub functions: BTreeMap<u32, Function>,
    /// `DriverEntry` and every address-taken function.
    pub roots: BTreeSet<u32>,
    /// What could not be bounded (indirect calls): each makes the analysis fail.
    pub unknowns: Vec<String>,
    /// Instructions that read code as data. The one way this happens in a driver is a kernel
    /// variable declared without `dllimport` whose `.def` line lacks `DATA`: the link then
    /// succeeds against the import's `jmp [__imp_X]` thunk, and the code reads the thunk's
    /// bytes instead of the variable. Each names the import when the code is its thunk.
    pub code_reads: Vec<String>,
}

/// A deepest path: total bytes and the functions along it, outermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    /// Stack bytes of the driver's own frames along the path.
    pub bytes: u32,
    /// Entry RVAs, caller first.
    pub functions: Vec<u32>,
}

impl Graph {
    /// Reads functions, calls and entry points from the image.
    ///
    /// # Errors
    /// [`Error`] when the unwind data or code cannot be read.
    pub fn read(bytes: &[u8], image: &Image) -> Result<Self, Error> {
        let pe = PeFile64::parse(bytes).map_err(|e| Error::Image(e.to_string()))?;
        let sections = pe.section_table();
        let at = |rva: u32| sections.pe_data_at(bytes, rva);
        let mut graph = Self::default();

        // Functions from .pdata; chained fragments join their primary function.
        let mut owner_of_range: Vec<(u32, u32, u32)> = Vec::new(); // (begin, end, owner start)
        if let Some(dir) = pe.data_directory(IMAGE_DIRECTORY_ENTRY_EXCEPTION) {
            let (rva, size) = (dir.virtual_address.get(LE), dir.size.get(LE));
            let table = at(rva)
                .and_then(|d| d.get(..size as usize))
                .ok_or_else(|| Error::Unwind {
                    rva,
                    problem: "exception directory outside the file".into(),
                })?;
            for entry in table.chunks_exact(12) {
                let word = |i: usize| {
                    u32::from_le_bytes([entry[i], entry[i + 1], entry[i + 2], entry[i + 3]])
                };
                let (begin, end, mut unwind) = (word(0), word(4), word(8));
                let mut frame = 8;
                let mut owner = begin;
                for _ in 0..32 {
                    let info = at(unwind).ok_or_else(|| Error::Unwind {
                        rva: unwind,
                        problem: "outside the file".into(),
                    })?;
                    let (alloc, parent) = unwind_allocation(info, unwind)?;
                    frame += alloc;
                    match parent {
                        None => break,
                        Some(parent_unwind) => {
                            // The parent's RUNTIME_FUNCTION precedes its unwind RVA in the
                            // record; its begin address names the owner.
                            let info = at(unwind).unwrap_or_default();
                            let count = usize::from(info.get(2).copied().unwrap_or(0));
                            let off = 4 + 2 * (count + (count & 1));
                            if let Some(b) = info.get(off..off + 4) {
                                owner = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                            }
                            unwind = parent_unwind;
                        }
                    }
                }
                let function = graph.functions.entry(owner).or_insert_with(|| Function {
                    start: owner,
                    ..Function::default()
                });
                function.ranges.push((begin, end));
                function.frame = function.frame.max(frame);
                owner_of_range.push((begin, end, owner));
            }
        }
        owner_of_range.sort_unstable();
        let owner_of = |rva: u32| -> Option<u32> {
            owner_of_range
                .iter()
                .find(|(b, e, _)| rva >= *b && rva < *e)
                .map(|(_, _, o)| *o)
        };
        let is_code = |rva: u32| {
            image
                .section_of(rva)
                .is_some_and(|s| s.characteristics & object::pe::IMAGE_SCN_MEM_EXECUTE != 0)
        };
        let iat: BTreeMap<u32, &str> = image
            .imports
            .iter()
            .map(|i| (i.iat_rva, i.name.as_str()))
            .collect();

        graph.roots.insert(image.entry_rva);
        graph.roots.extend(
            image
                .exports
                .iter()
                .map(|(_, rva)| *rva)
                .filter(|rva| is_code(*rva)),
        );
        // Address-taken code through base relocations (pointer tables in data).
        if let Some(dir) = pe.data_directory(IMAGE_DIRECTORY_ENTRY_BASERELOC) {
            let (rva, size) = (dir.virtual_address.get(LE), dir.size.get(LE) as usize);
            let mut blocks = at(rva).and_then(|d| d.get(..size)).unwrap_or_default();
            while blocks.len() >= 8 {
                let page = u32::from_le_bytes([blocks[0], blocks[1], blocks[2], blocks[3]]);
                let len = (u32::from_le_bytes([blocks[4], blocks[5], blocks[6], blocks[7]])
                    as usize)
                    .clamp(8, blocks.len());
                for pair in blocks[8..len].chunks_exact(2) {
                    let entry = u16::from_le_bytes([pair[0], pair[1]]);
                    if entry >> 12 != IMAGE_REL_BASED_DIR64 {
                        continue;
                    }
                    let site = page + u32::from(entry & 0xfff);
                    if let Some(value) = at(site).and_then(|d| d.get(..8)) {
                        let va = u64::from_le_bytes(value.try_into().unwrap_or_default());
                        if let Some(target) = va
                            .checked_sub(image.image_base)
                            .and_then(|r| u32::try_from(r).ok())
                        {
                            if is_code(target) {
                                graph.roots.insert(target);
                            }
                        }
                    }
                }
                blocks = &blocks[len..];
            }
        }

        // Decode every function (and every leaf reached), collecting edges and `lea`s of code.
        let mut pending: Vec<u32> = graph
            .functions
            .keys()
            .copied()
            .chain(graph.roots.iter().copied())
            .collect();
        let mut done: BTreeSet<u32> = BTreeSet::new();
        let pdata_starts: Vec<u32> = owner_of_range.iter().map(|(b, _, _)| *b).collect();
        while let Some(start) = pending.pop() {
            if !done.insert(start) {
                continue;
            }
            let start = owner_of(start).unwrap_or(start);
            let ranges = match graph.functions.get(&start) {
                Some(f) if !f.ranges.is_empty() => f.ranges.clone(),
                _ => {
                    // A leaf without unwind data: it may only tail-jump. Decode up to the next
                    // function with unwind data (or the end of its section).
                    let section_end = image
                        .section_of(start)
                        .map_or(start, |s| s.rva + s.virtual_size);
                    let limit = pdata_starts
                        .iter()
                        .copied()
                        .filter(|b| *b > start)
                        .min()
                        .unwrap_or(section_end);
                    let end = leaf_end(
                        at(start).unwrap_or_default(),
                        image.image_base,
                        start,
                        limit,
                    );
                    graph.functions.insert(
                        start,
                        Function {
                            start,
                            ranges: vec![(start, end)],
                            frame: 8,
                            ..Function::default()
                        },
                    );
                    vec![(start, end)]
                }
            };
            let in_self = |rva: u32| ranges.iter().any(|(b, e)| rva >= *b && rva < *e);
            let mut calls = BTreeSet::new();
            let mut tails = BTreeSet::new();
            let mut imports = BTreeSet::new();
            for &(begin, end) in &ranges {
                let Some(code) = at(begin).and_then(|d| d.get(..(end - begin) as usize)) else {
                    continue;
                };
                let mut decoder = Decoder::with_ip(
                    64,
                    code,
                    image.image_base + u64::from(begin),
                    DecoderOptions::NONE,
                );
                for instruction in &mut decoder {
                    let site = (instruction.ip() - image.image_base) as u32;
                    let to_rva = |va: u64| {
                        va.checked_sub(image.image_base)
                            .and_then(|r| u32::try_from(r).ok())
                    };
                    let flow = instruction.flow_control();
                    let is_call = flow == FlowControl::Call || flow == FlowControl::IndirectCall;
                    match flow {
                        FlowControl::Call
                        | FlowControl::UnconditionalBranch
                        | FlowControl::ConditionalBranch => {
                            let Some(target) = to_rva(instruction.near_branch_target()) else {
                                continue;
                            };
                            if !is_call && in_self(target) {
                                continue;
                            }
                            let target = owner_of(target).unwrap_or(target);
                            if is_call {
                                calls.insert(target)
                            } else {
                                tails.insert(target)
                            };
                            pending.push(target);
                        }
                        FlowControl::IndirectCall | FlowControl::IndirectBranch => {
                            let slot = instruction
                                .is_ip_rel_memory_operand()
                                .then(|| to_rva(instruction.ip_rel_memory_address()))
                                .flatten();
                            match slot.and_then(|s| iat.get(&s)) {
                                Some(name) => {
                                    imports.insert((*name).to_owned());
                                }
                                // `jmp reg` / `jmp [table]`: a jump table inside the function.
                                None if !is_call => {}
                                None => graph.unknowns.push(format!(
                                    "indirect call at {site:#x} ({:?}): its target cannot be bounded", instruction.mnemonic()
                                )),
                            }
                        }
                        _ => {
                            let target = instruction
                                .is_ip_rel_memory_operand()
                                .then(|| to_rva(instruction.ip_rel_memory_address()))
                                .flatten()
                                .filter(|t| is_code(*t));
                            let Some(target) = target else { continue };
                            if instruction.mnemonic() == Mnemonic::Lea
                                && instruction.op1_kind() == OpKind::Memory
                            {
                                // A function's address taken: an entry point.
                                graph.roots.insert(target);
                                pending.push(target);
                            } else {
                                let thunk = thunk_import(
                                    at(target).unwrap_or_default(),
                                    image.image_base,
                                    target,
                                    &iat,
                                );
                                graph.code_reads.push(match thunk {
                                    Some(name) => format!(
                                        "{site:#x} reads the bytes of the import thunk for {name} as data: \
                                         {name} is a variable; list it with DATA in driver/defs and declare \
                                         it in driver/src/kernel/data_imports.rs"
                                    ),
                                    None => format!("{site:#x} reads code at {target:#x} as data"),
                                });
                            }
                        }
                    }
                }
            }
            if let Some(f) = graph.functions.get_mut(&start) {
                f.calls.extend(calls);
                f.tails.extend(tails);
                f.imports.extend(imports);
            }
        }
        // Roots name entries: map a root inside a function to that function.
        graph.roots = graph
            .roots
            .iter()
            .map(|r| owner_of(*r).unwrap_or(*r))
            .collect();
        Ok(graph)
    }

    /// The deepest path from `start`.
    ///
    /// # Errors
    /// A message naming the cycle when `start` reaches recursion.
    pub fn deepest(&self, start: u32) -> Result<Path, String> {
        let mut memo = BTreeMap::new();
        let mut active = Vec::new();
        self.depth(start, &mut memo, &mut active)
    }

    fn depth(
        &self,
        at: u32,
        memo: &mut BTreeMap<u32, Path>,
        active: &mut Vec<u32>,
    ) -> Result<Path, String> {
        if let Some(known) = memo.get(&at) {
            return Ok(known.clone());
        }
        if let Some(pos) = active.iter().position(|f| *f == at) {
            let cycle: Vec<String> = active[pos..].iter().map(|f| format!("{f:#x}")).collect();
            return Err(format!("recursion: {} -> {at:#x}", cycle.join(" -> ")));
        }
        let Some(function) = self.functions.get(&at) else {
            return Err(format!("{at:#x} is not a known function"));
        };
        active.push(at);
        let mut best = Path {
            bytes: function.frame,
            functions: vec![at],
        };
        for &callee in &function.calls {
            let below = self.depth(callee, memo, active)?;
            if function.frame + below.bytes > best.bytes {
                best = Path {
                    bytes: function.frame + below.bytes,
                    functions: std::iter::once(at).chain(below.functions).collect(),
                };
            }
        }
        for &callee in &function.tails {
            let instead = self.depth(callee, memo, active)?;
            if instead.bytes > best.bytes {
                best = Path {
                    bytes: instead.bytes,
                    functions: std::iter::once(at).chain(instead.functions).collect(),
                };
            }
        }
        active.pop();
        memo.insert(at, best.clone());
        Ok(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(op: u16, info: u16, offset: u16) -> [u8; 2] {
        (offset | op << 8 | info << 12).to_le_bytes()
    }

    #[test]
    fn unwind_codes_add_up_to_the_prolog_allocation() {
        // push rsi; push rdi; sub rsp, 168 (ALLOC_LARGE 168/8); stored newest first.
        let mut info = vec![1, 9, 4, 0];
        info.extend(code(1, 0, 9));
        info.extend(21u16.to_le_bytes());
        info.extend(code(0, 7, 2));
        info.extend(code(0, 6, 1));
        assert_eq!(unwind_allocation(&info, 0), Ok((168 + 16, None)));
        // ALLOC_SMALL 40, SAVE_NONVOL (no allocation), 32-bit ALLOC_LARGE 0x12345, MACHFRAME.
        let mut info = vec![1, 0, 7, 0];
        info.extend(code(2, 4, 0));
        info.extend(code(4, 3, 0));
        info.extend(7u16.to_le_bytes());
        info.extend(code(1, 1, 0));
        info.extend(0x2345u16.to_le_bytes());
        info.extend(0x1u16.to_le_bytes());
        info.extend(code(10, 1, 0));
        assert_eq!(unwind_allocation(&info, 0), Ok((40 + 0x12345 + 48, None)));
    }

    #[test]
    fn chained_unwind_data_names_its_parent_and_bad_data_is_refused() {
        let mut info = vec![1 | (UNW_FLAG_CHAININFO << 3), 0, 1, 0];
        info.extend(code(2, 1, 0));
        info.extend([0, 0]); // padding to an even count
        info.extend(0x1000u32.to_le_bytes());
        info.extend(0x1100u32.to_le_bytes());
        info.extend(0x7000u32.to_le_bytes());
        assert_eq!(unwind_allocation(&info, 0), Ok((16, Some(0x7000))));
        assert!(unwind_allocation(&[1, 0, 2, 0, 0], 5).is_err());
        assert!(unwind_allocation(&[3, 0, 0, 0], 5).is_err());
        let mut unknown = vec![1, 0, 1, 0];
        unknown.extend(code(12, 0, 0));
        assert!(unwind_allocation(&unknown, 5)
            .unwrap_err()
            .to_string()
            .contains("unknown unwind operation 12"));
    }

    fn function(start: u32, frame: u32, calls: &[u32], tails: &[u32]) -> (u32, Function) {
        (
            start,
            Function {
                start,
                ranges: vec![(start, start + 1)],
                frame,
                calls: calls.iter().copied().collect(),
                tails: tails.iter().copied().collect(),
                imports: BTreeSet::new(),
            },
        )
    }

    #[test]
    fn the_deepest_path_adds_calls_and_reuses_frames_for_tail_jumps() {
        let graph = Graph {
            functions: [
                function(1, 100, &[2, 3], &[]),
                function(2, 50, &[4], &[]),
                function(3, 300, &[], &[]),
                function(4, 8, &[], &[5]),
                function(5, 40, &[], &[]),
            ]
            .into_iter()
            .collect(),
            ..Graph::default()
        };
        // 1 -> 3 (400) beats 1 -> 2 -> 4 ~> 5 (100 + 50 + 40 = 190).
        assert_eq!(
            graph.deepest(1).unwrap(),
            Path {
                bytes: 400,
                functions: vec![1, 3]
            }
        );
        assert_eq!(
            graph.deepest(2).unwrap(),
            Path {
                bytes: 90,
                functions: vec![2, 4, 5]
            }
        );
    }

    #[test]
    fn recursion_is_refused() {
        let graph = Graph {
            functions: [function(1, 10, &[2], &[]), function(2, 10, &[], &[1])]
                .into_iter()
                .collect(),
            ..Graph::default()
        };
        assert!(graph.deepest(1).unwrap_err().contains("recursion"));
    }
}
