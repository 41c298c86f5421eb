//! The machine: unicorn, guest memory, calls into the guest, import traps, cooperative
//! guest threads and their scheduling.
//!
//! Every IAT slot points at its own 16-byte slot of a trap page. Each slot address is an
//! unicorn *exit*: emulation stops before the slot's `ret` runs, the Rust handler of that
//! import reads the arguments (rcx, rdx, r8, r9, then the stack above the shadow space),
//! and the loop sets rax and performs the `ret` itself. A handler may call back into the
//! guest (a nested frame on the same guest stack) or block the thread (a wait).

use std::collections::{BTreeMap, HashMap};

use unicorn_engine::{Arch, Context, HookType, MemType, Mode, Prot, RegisterX86, Unicorn};

use crate::image::Image;
use crate::kernel::{self, Kernel, EXPORTS};
use crate::symbols::Symbols;
use crate::verifier::{irql, Rule, Violation};

/// Trap page: one 16-byte slot per import.
pub const TRAP_BASE: u64 = 0x7000_0000;
/// Return address of every call the fake kernel makes into the guest.
pub const CALL_RETURN: u64 = TRAP_BASE + 0xF000;
/// Return address of a system thread's start routine.
pub const THREAD_EXIT: u64 = TRAP_BASE + 0xF010;
/// Fake kernel data (data imports such as `PsThreadType`).
pub const DATA_BASE: u64 = 0x7001_0000;
/// Thread stacks: one region per guest thread.
pub const STACK_BASE: u64 = 0x1_0000_0000;
/// `KERNEL_STACK_SIZE` on x64.
pub const STACK_SIZE: u64 = 0x6000;
/// Distance between stacks (an unmapped guard below each).
const STACK_STRIDE: u64 = 0x10_0000;
/// Pool and fake kernel objects: page-granular, never reused, unmapped when freed.
pub const HEAP_BASE: u64 = 0x2_0000_0000;
const PAGE: u64 = 0x1000;
/// The byte painted over a stack before a call, to measure its use.
const PAINT: u8 = 0xCD;

/// What the hooks share with the loop.
#[derive(Default)]
pub struct HookState {
    /// The running thread's IRQL (what an emulated `mov cr8` reads and writes).
    pub irql: u8,
    /// Guest instructions executed inside the image.
    pub instructions: u64,
    /// The first invalid access: (address, kind, pc).
    pub bad_access: Option<(u64, MemType, u64)>,
    /// `mov cr8` sites: address → (writes, register).
    pub cr8: HashMap<u64, (bool, u8)>,
}

/// The unicorn instance.
pub type Uc = Unicorn<'static, HookState>;

/// What a handler tells the loop.
pub enum Flow {
    /// Return this value in rax.
    Return(u64),
    /// The thread ended (`PsTerminateSystemThread`).
    ExitThread,
    /// The thread blocks (a wait that cannot be satisfied now on a scheduled thread).
    Yield,
}

/// Why a run of guest code stopped.
enum Stop {
    Returned(u64),
    Exited,
    Yielded,
}

/// A guest thread's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Created, never run: start routine and its argument.
    New(u64, u64),
    /// Running (on the host stack).
    Running,
    /// Blocked in a wait: the object and the deadline (fake clock), if any.
    Waiting(u64, Option<u64>),
    /// Its wait is over; resumes with this status in rax.
    Ready(u64),
    /// Exited.
    Exited,
}

/// One guest thread.
pub struct Thread {
    /// Fake `ETHREAD` address.
    pub object: u64,
    /// Thread id.
    pub tid: u64,
    /// State.
    pub state: ThreadState,
    /// Saved CPU context while not running.
    pub context: Option<Context>,
    /// IRQL while not running.
    pub irql: u8,
    /// Stack bottom (lowest address).
    pub stack: u64,
    /// Guest instructions it ran.
    pub instructions: u64,
    /// Whether this is the harness's own thread (blocks by scheduling others inline).
    pub harness: bool,
}

/// A live or freed allocation of guest memory.
#[derive(Clone, Debug)]
pub struct Block {
    /// Bytes requested.
    pub size: u64,
    /// Pages mapped.
    pub mapped: u64,
    /// Still mapped.
    pub live: bool,
}

/// The emulator: machine, image and fake kernel.
pub struct Emu {
    /// Unicorn.
    pub uc: Uc,
    /// The driver image.
    pub image: Image,
    /// Its symbols.
    pub symbols: Symbols,
    /// Fake kernel state.
    pub k: Kernel,
    /// Handler index per import slot.
    handlers: Vec<usize>,
    /// Guest threads; 0 is the harness thread.
    pub threads: Vec<Thread>,
    /// The running thread.
    pub current: usize,
    /// Next free heap address.
    heap_next: u64,
    /// Every heap block by address.
    pub blocks: BTreeMap<u64, Block>,
    /// Fake clock, 100 ns units since 1601.
    pub clock: u64,
    /// Nesting of [`Emu::call`] on the harness thread.
    depth: usize,
    /// RSP at entry of the harness thread's last outermost call (after the return address
    /// was pushed), for [`Emu::stack_used`].
    entry_sp: u64,
}

fn uc_err(e: unicorn_engine::uc_error) -> Violation {
    Violation::new(Rule::Emulator, format!("unicorn: {e:?}"))
}

impl Emu {
    /// Loads `image`: maps it, resolves every import to a trap (failing on the first
    /// import the fake kernel does not implement, listing all of them), sets up the hooks.
    ///
    /// # Errors
    /// [`Rule::UnknownImport`] naming the imports without a handler; emulator errors.
    pub fn load(image: Image, kernel: Kernel) -> Result<Self, Violation> {
        let unknown: Vec<String> = image
            .imports
            .iter()
            .filter(|i| {
                !EXPORTS
                    .iter()
                    .any(|e| e.name == i.name && e.library.eq_ignore_ascii_case(&i.library))
            })
            .map(|i| format!("{}!{}", i.library, i.name))
            .collect();
        if !unknown.is_empty() {
            return Err(Violation::new(
                Rule::UnknownImport,
                format!(
                    "the fake kernel has no handler for {}: add one to kernel::EXPORTS",
                    unknown.join(", ")
                ),
            ));
        }
        let mut uc = Unicorn::new_with_data(Arch::X86, Mode::MODE_64, HookState::default())
            .map_err(uc_err)?;
        // The image at its preferred base, headers read-only, sections as their flags say.
        let size = image.size.div_ceil(PAGE) * PAGE;
        uc.mem_map(image.base, size, Prot::ALL).map_err(uc_err)?;
        uc.mem_write(image.base, &image.headers).map_err(uc_err)?;
        for s in &image.sections {
            let len = s
                .data
                .len()
                .min(s.virtual_size.max(s.data.len() as u64) as usize);
            uc.mem_write(image.base + s.rva, &s.data[..len])
                .map_err(uc_err)?;
        }
        uc.mem_protect(image.base, PAGE, Prot::READ)
            .map_err(uc_err)?;
        for s in &image.sections {
            let mut prot = Prot::NONE;
            if s.read {
                prot |= Prot::READ;
            }
            if s.write {
                prot |= Prot::WRITE;
            }
            if s.execute {
                prot |= Prot::EXEC;
            }
            let len = s.virtual_size.max(1).div_ceil(PAGE) * PAGE;
            uc.mem_protect(image.base + s.rva, len, prot)
                .map_err(uc_err)?;
        }
        // Trap page: `ret` everywhere (never executed: each slot is an exit).
        uc.mem_map(TRAP_BASE, 0x10000, Prot::READ | Prot::EXEC)
            .map_err(uc_err)?;
        uc.mem_write(TRAP_BASE, &[0xC3; 0x10000]).map_err(uc_err)?;
        uc.mem_map(DATA_BASE, 0x1000, Prot::READ).map_err(uc_err)?;
        let mut handlers = Vec::new();
        let mut exits = vec![CALL_RETURN, THREAD_EXIT];
        for (slot, import) in image.imports.iter().enumerate() {
            let index = EXPORTS
                .iter()
                .position(|e| e.name == import.name)
                .unwrap_or(usize::MAX);
            handlers.push(index);
            let export = &EXPORTS[index];
            let target = if let Some(data) = export.data {
                // A data import: the IAT slot holds the address of the variable.
                let at = DATA_BASE + 0x10 * slot as u64;
                uc.mem_write(at, &data.to_le_bytes()).map_err(uc_err)?;
                at
            } else {
                let at = TRAP_BASE + 0x10 * slot as u64;
                exits.push(at);
                at
            };
            uc.mem_write(image.base + import.iat_rva, &target.to_le_bytes())
                .map_err(uc_err)?;
        }
        uc.ctl_exits_enable().map_err(uc_err)?;
        uc.ctl_set_exits(&exits).map_err(uc_err)?;
        // Invalid accesses: recorded, then emulation stops with an error.
        uc.add_mem_hook(
            HookType::MEM_READ_UNMAPPED
                | HookType::MEM_WRITE_UNMAPPED
                | HookType::MEM_FETCH_UNMAPPED
                | HookType::MEM_READ_PROT
                | HookType::MEM_WRITE_PROT
                | HookType::MEM_FETCH_PROT,
            1,
            0,
            |uc, kind, address, _size, _value| {
                let pc = uc.reg_read(RegisterX86::RIP).unwrap_or(0);
                let state = uc.get_data_mut();
                if state.bad_access.is_none() {
                    state.bad_access = Some((address, kind, pc));
                }
                false
            },
        )
        .map_err(uc_err)?;
        // Instruction count inside the image.
        uc.add_code_hook(image.base, image.end(), |uc, _, _| {
            uc.get_data_mut().instructions += 1;
        })
        .map_err(uc_err)?;
        // CR8: unicorn has no APIC; each `mov cr8` site reads or writes the fake IRQL.
        for (at, writes, reg) in image.cr8_moves() {
            uc.get_data_mut().cr8.insert(at, (writes, reg));
            uc.add_code_hook(at, at, move |uc, address, _| {
                let Some(&(writes, reg)) = uc.get_data().cr8.get(&address) else {
                    return;
                };
                let register = gpr(reg);
                if writes {
                    let value = uc.reg_read(register).unwrap_or(0);
                    uc.get_data_mut().irql = (value & 0xF) as u8;
                } else {
                    let value = u64::from(uc.get_data().irql);
                    let _ = uc.reg_write(register, value);
                }
                let _ = uc.reg_write(RegisterX86::RIP, address + 4);
            })
            .map_err(uc_err)?;
        }
        let symbols = Symbols::for_image(&image.path, image.base);
        let mut emu = Self {
            uc,
            image,
            symbols,
            k: kernel,
            handlers,
            threads: Vec::new(),
            current: 0,
            heap_next: HEAP_BASE,
            blocks: BTreeMap::new(),
            clock: 133_800_000_000_000_000,
            depth: 0,
            entry_sp: 0,
        };
        let harness = emu.new_thread(0, 0)?;
        emu.threads[harness].harness = true;
        emu.threads[harness].state = ThreadState::Running;
        kernel::setup(&mut emu)?;
        Ok(emu)
    }

    // ----- memory -----

    /// Maps `size` fresh zeroed bytes (page-granular, followed by an unmapped guard page,
    /// never reused).
    ///
    /// # Errors
    /// Emulator errors.
    pub fn alloc(&mut self, size: u64) -> Result<u64, Violation> {
        let mapped = size.max(1).div_ceil(PAGE) * PAGE;
        let at = self.heap_next;
        self.heap_next += mapped + PAGE;
        self.uc
            .mem_map(at, mapped, Prot::READ | Prot::WRITE)
            .map_err(uc_err)?;
        self.blocks.insert(
            at,
            Block {
                size,
                mapped,
                live: true,
            },
        );
        Ok(at)
    }

    /// Unmaps a block: any later access by the guest is a [`Rule::BadMemory`] fault.
    ///
    /// # Errors
    /// Freeing something that is not a live block.
    pub fn free(&mut self, at: u64) -> Result<u64, Violation> {
        let Some(block) = self.blocks.get_mut(&at) else {
            return Err(Violation::new(
                Rule::DoubleFree,
                format!("{at:#x} was never allocated"),
            ));
        };
        if !block.live {
            return Err(Violation::new(
                Rule::DoubleFree,
                format!("{at:#x} is already freed"),
            ));
        }
        block.live = false;
        let (mapped, size) = (block.mapped, block.size);
        self.uc.mem_unmap(at, mapped).map_err(uc_err)?;
        Ok(size)
    }

    /// Reads guest bytes.
    ///
    /// # Errors
    /// [`Rule::BadMemory`] for an address the fake kernel never handed out.
    pub fn read(&self, at: u64, len: usize) -> Result<Vec<u8>, Violation> {
        self.uc.mem_read_as_vec(at, len).map_err(|_| {
            Violation::new(
                Rule::BadMemory,
                format!("the kernel was given {len} bytes at {at:#x}, which are not mapped"),
            )
        })
    }

    /// Writes guest bytes.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn write(&mut self, at: u64, bytes: &[u8]) -> Result<(), Violation> {
        self.uc.mem_write(at, bytes).map_err(|_| {
            Violation::new(
                Rule::BadMemory,
                format!(
                    "the kernel was told to write {} bytes at {at:#x}, which are not mapped",
                    bytes.len()
                ),
            )
        })
    }

    /// Reads a little-endian u64.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn r64(&self, at: u64) -> Result<u64, Violation> {
        Ok(u64::from_le_bytes(
            self.read(at, 8)?.try_into().unwrap_or([0; 8]),
        ))
    }
    /// Reads a u32.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn r32(&self, at: u64) -> Result<u32, Violation> {
        Ok(u32::from_le_bytes(
            self.read(at, 4)?.try_into().unwrap_or([0; 4]),
        ))
    }
    /// Reads a u16.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn r16(&self, at: u64) -> Result<u16, Violation> {
        Ok(u16::from_le_bytes(
            self.read(at, 2)?.try_into().unwrap_or([0; 2]),
        ))
    }
    /// Writes a u64.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn w64(&mut self, at: u64, v: u64) -> Result<(), Violation> {
        self.write(at, &v.to_le_bytes())
    }
    /// Writes a u32.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn w32(&mut self, at: u64, v: u32) -> Result<(), Violation> {
        self.write(at, &v.to_le_bytes())
    }
    /// Writes a u16.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn w16(&mut self, at: u64, v: u16) -> Result<(), Violation> {
        self.write(at, &v.to_le_bytes())
    }

    /// A `UNICODE_STRING` at `at`, as text.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn unicode_string(&self, at: u64) -> Result<String, Violation> {
        let len = self.r16(at)?;
        let buffer = self.r64(at + 8)?;
        self.utf16(buffer, u64::from(len))
    }

    /// `bytes` bytes of UTF-16 at `at`, as text.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn utf16(&self, at: u64, bytes: u64) -> Result<String, Violation> {
        let raw = self.read(at, bytes as usize)?;
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Ok(String::from_utf16_lossy(&units))
    }

    /// Allocates a `UNICODE_STRING` and its buffer holding `text`.
    ///
    /// # Errors
    /// Emulator errors.
    pub fn new_unicode_string(&mut self, text: &str) -> Result<u64, Violation> {
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let at = self.alloc(16 + bytes.len() as u64)?;
        self.write_unicode_string(at, at + 16, &bytes)?;
        Ok(at)
    }

    /// Writes a `UNICODE_STRING` at `at` whose buffer at `buffer` receives `bytes`.
    ///
    /// # Errors
    /// [`Rule::BadMemory`].
    pub fn write_unicode_string(
        &mut self,
        at: u64,
        buffer: u64,
        bytes: &[u8],
    ) -> Result<(), Violation> {
        self.write(buffer, bytes)?;
        self.w16(at, bytes.len() as u16)?;
        self.w16(at + 2, bytes.len() as u16)?;
        self.w64(at + 8, buffer)
    }

    // ----- registers and arguments -----

    /// A register.
    #[must_use]
    pub fn reg(&self, r: RegisterX86) -> u64 {
        self.uc.reg_read(r).unwrap_or(0)
    }

    /// Argument `n` (0-based) of the import being handled (RSP points at the return
    /// address).
    ///
    /// # Errors
    /// [`Rule::BadMemory`] if the stack is not readable.
    pub fn arg(&self, n: usize) -> Result<u64, Violation> {
        Ok(match n {
            0 => self.reg(RegisterX86::RCX),
            1 => self.reg(RegisterX86::RDX),
            2 => self.reg(RegisterX86::R8),
            3 => self.reg(RegisterX86::R9),
            _ => self.r64(self.reg(RegisterX86::RSP) + 8 + 8 * n as u64)?,
        })
    }

    /// The address the running import returns to: the guest caller.
    #[must_use]
    pub fn caller(&self) -> u64 {
        self.r64(self.reg(RegisterX86::RSP)).unwrap_or(0)
    }

    /// The caller, as `function+0xoffset`.
    #[must_use]
    pub fn caller_name(&self) -> String {
        self.symbols.describe(self.caller())
    }

    /// The running thread's IRQL.
    #[must_use]
    pub fn irql(&self) -> u8 {
        self.uc.get_data().irql
    }

    /// Sets the running thread's IRQL.
    pub fn set_irql(&mut self, value: u8) {
        self.uc.get_data_mut().irql = value;
    }

    /// Guest instructions executed so far (inside the image).
    #[must_use]
    pub fn instructions(&self) -> u64 {
        self.uc.get_data().instructions
    }

    // ----- calls into the guest -----

    /// Calls guest function `function` with `args` on the running thread at `irql`, and
    /// returns rax. Checks the callee returns at the IRQL it was called at.
    ///
    /// # Errors
    /// Any violation the guest causes.
    pub fn call(&mut self, function: u64, args: &[u64], at_irql: u8) -> Result<u64, Violation> {
        let saved = self.uc.context_init().map_err(uc_err)?;
        let saved_irql = self.irql();
        let thread = &self.threads[self.current];
        let top = if self.reg(RegisterX86::RSP) > thread.stack
            && self.reg(RegisterX86::RSP) <= thread.stack + STACK_SIZE
        {
            self.reg(RegisterX86::RSP)
        } else {
            thread.stack + STACK_SIZE
        };
        // Room for the arguments above the return address (at least the shadow space);
        // RSP ≡ 8 (mod 16) at entry, as after a `call`.
        let slots = args.len().max(4) as u64;
        let mut sp = (top - 0x40 - 8 * slots) & !0xF;
        sp -= 8;
        for (i, value) in args.iter().enumerate().skip(4) {
            self.w64(sp + 8 + 8 * i as u64, *value)?;
        }
        self.w64(sp, CALL_RETURN)?;
        let regs = [
            RegisterX86::RCX,
            RegisterX86::RDX,
            RegisterX86::R8,
            RegisterX86::R9,
        ];
        for (r, value) in regs.iter().zip(args.iter().chain(std::iter::repeat(&0))) {
            self.uc.reg_write(*r, *value).map_err(uc_err)?;
        }
        self.uc.reg_write(RegisterX86::RSP, sp).map_err(uc_err)?;
        self.uc
            .reg_write(RegisterX86::RIP, function)
            .map_err(uc_err)?;
        self.set_irql(at_irql);
        let outermost = self.threads[self.current].harness && self.depth == 0;
        if outermost {
            self.entry_sp = sp;
        }
        self.depth += usize::from(self.threads[self.current].harness);
        let stop = self.run(Some(sp + 8));
        self.depth -= usize::from(self.threads[self.current].harness);
        let stop = stop?;
        let Stop::Returned(rax) = stop else {
            return Err(Violation::new(
                Rule::BadCall,
                format!(
                    "{} ended its thread instead of returning",
                    self.symbols.describe(function)
                ),
            ));
        };
        if self.irql() != at_irql {
            return Err(Violation::new(
                Rule::IrqlBalance,
                format!(
                    "{} was called at IRQL {at_irql} and returned at IRQL {}",
                    self.symbols.describe(function),
                    self.irql()
                ),
            ));
        }
        self.uc.context_restore(&saved).map_err(uc_err)?;
        self.set_irql(saved_irql);
        Ok(rax)
    }

    /// Runs guest code from the current RIP until the frame whose return lands RSP at
    /// `return_sp` returns (or, for a scheduled thread, until it yields or exits).
    fn run(&mut self, return_sp: Option<u64>) -> Result<Stop, Violation> {
        loop {
            let pc = self.reg(RegisterX86::RIP);
            if let Err(e) = self.uc.emu_start(pc, 0, 0, 0) {
                return Err(self.fault(e));
            }
            let pc = self.reg(RegisterX86::RIP);
            if pc == CALL_RETURN {
                let sp = self.reg(RegisterX86::RSP);
                if Some(sp) == return_sp {
                    return Ok(Stop::Returned(self.reg(RegisterX86::RAX)));
                }
                return Err(Violation::new(
                    Rule::Emulator,
                    format!("a guest call returned with RSP {sp:#x}, expected {return_sp:x?}"),
                ));
            }
            if pc == THREAD_EXIT {
                return Ok(Stop::Exited);
            }
            if !(TRAP_BASE..CALL_RETURN).contains(&pc) {
                return Err(Violation::new(
                    Rule::Emulator,
                    format!("emulation stopped at {pc:#x}"),
                )
                .at(self.symbols.describe(pc)));
            }
            let slot = ((pc - TRAP_BASE) / 0x10) as usize;
            let export = &EXPORTS[self.handlers[slot]];
            if self.irql() > export.max_irql {
                return Err(Violation::new(
                    Rule::Irql,
                    format!(
                        "{} called at IRQL {} (its maximum is {})",
                        export.name,
                        self.irql(),
                        export.max_irql
                    ),
                )
                .at(self.caller_name()));
            }
            *self.k.calls.entry(export.name).or_insert(0) += 1;
            let flow = (export.run)(self).map_err(|v| {
                let at = self.caller_name();
                v.at(at)
            })?;
            match flow {
                Flow::Return(value) => self.ret(value)?,
                Flow::ExitThread => return Ok(Stop::Exited),
                Flow::Yield => return Ok(Stop::Yielded),
            }
        }
    }

    /// Performs the `ret` of an import with `value` in rax.
    fn ret(&mut self, value: u64) -> Result<(), Violation> {
        let sp = self.reg(RegisterX86::RSP);
        let to = self.r64(sp)?;
        self.uc.reg_write(RegisterX86::RAX, value).map_err(uc_err)?;
        self.uc
            .reg_write(RegisterX86::RSP, sp + 8)
            .map_err(uc_err)?;
        self.uc.reg_write(RegisterX86::RIP, to).map_err(uc_err)
    }

    fn fault(&mut self, e: unicorn_engine::uc_error) -> Violation {
        match self.uc.get_data_mut().bad_access.take() {
            Some((address, kind, pc)) => {
                let what = self
                    .blocks
                    .range(..=address)
                    .next_back()
                    .filter(|(start, b)| address < *start + b.mapped + PAGE)
                    .map_or(String::new(), |(start, b)| {
                        if b.live {
                            format!(
                                " ({} bytes past the {}-byte block at {start:#x})",
                                address - start - b.size.min(address - start),
                                b.size
                            )
                        } else {
                            format!(" (inside the freed block at {start:#x}: use after free)")
                        }
                    });
                Violation::new(Rule::BadMemory, format!("{kind:?} at {address:#x}{what}"))
                    .at(self.symbols.describe(pc))
            }
            None => {
                let pc = self.reg(RegisterX86::RIP);
                Violation::new(Rule::Emulator, format!("unicorn: {e:?}"))
                    .at(self.symbols.describe(pc))
            }
        }
    }

    // ----- threads -----

    /// Creates a guest thread that will run `start(arg)`; returns its index.
    ///
    /// # Errors
    /// Emulator errors.
    pub fn new_thread(&mut self, start: u64, arg: u64) -> Result<usize, Violation> {
        let index = self.threads.len();
        let stack = STACK_BASE + STACK_STRIDE * index as u64;
        self.uc
            .mem_map(stack, STACK_SIZE, Prot::READ | Prot::WRITE)
            .map_err(uc_err)?;
        let object = self.alloc(0x500)?;
        self.threads.push(Thread {
            object,
            tid: 0x1000 + 4 * index as u64,
            state: ThreadState::New(start, arg),
            context: None,
            irql: irql::PASSIVE,
            stack,
            instructions: 0,
            harness: false,
        });
        Ok(index)
    }

    /// The thread whose fake `ETHREAD` is at `object`.
    #[must_use]
    pub fn thread_by_object(&self, object: u64) -> Option<usize> {
        self.threads.iter().position(|t| t.object == object)
    }

    /// Blocks the running thread on `object` until it is signalled or `deadline` passes;
    /// returns the wait status, or [`Flow::Yield`] for a scheduled thread.
    ///
    /// # Errors
    /// [`Rule::Deadlock`] when nothing can ever wake the harness thread.
    pub fn wait(&mut self, object: u64, deadline: Option<u64>) -> Result<Flow, Violation> {
        if kernel::try_satisfy(self, object) {
            return Ok(Flow::Return(0));
        }
        if deadline.is_some_and(|d| d <= self.clock) {
            return Ok(Flow::Return(0x102)); // STATUS_TIMEOUT
        }
        let me = self.current;
        self.threads[me].state = ThreadState::Waiting(object, deadline);
        if !self.threads[me].harness {
            return Ok(Flow::Yield);
        }
        // The harness thread: run the others until this wait is over.
        let saved = self.uc.context_init().map_err(uc_err)?;
        let saved_irql = self.irql();
        let result = loop {
            if let ThreadState::Ready(status) = self.threads[me].state {
                break status;
            }
            if !self.step_others(me)? && !self.advance_clock()? {
                return Err(Violation::new(
                    Rule::Deadlock,
                    format!("the harness thread waits on {object:#x} forever: no thread can run and no timeout is pending"),
                ));
            }
        };
        self.threads[me].state = ThreadState::Running;
        self.current = me;
        self.uc.context_restore(&saved).map_err(uc_err)?;
        self.set_irql(saved_irql);
        Ok(Flow::Return(result))
    }

    /// Runs each runnable thread other than `except` once (until it yields or exits);
    /// whether any ran.
    fn step_others(&mut self, except: usize) -> Result<bool, Violation> {
        let mut ran = false;
        for index in 0..self.threads.len() {
            if index == except || self.threads[index].harness {
                continue;
            }
            if matches!(
                self.threads[index].state,
                ThreadState::New(..) | ThreadState::Ready(_)
            ) {
                self.run_thread(index)?;
                ran = true;
            }
        }
        Ok(ran)
    }

    /// Moves the clock to the earliest pending deadline and wakes those threads with
    /// `STATUS_TIMEOUT`; false when no thread has a deadline.
    fn advance_clock(&mut self) -> Result<bool, Violation> {
        let earliest = self
            .threads
            .iter()
            .filter_map(|t| match t.state {
                ThreadState::Waiting(_, Some(d)) => Some(d),
                _ => None,
            })
            .min();
        let Some(deadline) = earliest else {
            return Ok(false);
        };
        self.clock = self.clock.max(deadline);
        for t in &mut self.threads {
            if let ThreadState::Waiting(_, Some(d)) = t.state {
                if d <= deadline {
                    t.state = ThreadState::Ready(0x102);
                }
            }
        }
        Ok(true)
    }

    /// Runs scheduled thread `index` until it yields or exits.
    fn run_thread(&mut self, index: usize) -> Result<(), Violation> {
        let previous = self.current;
        let outer = self.uc.context_init().map_err(uc_err)?;
        let outer_irql = self.irql();
        let before = self.instructions();
        self.current = index;
        let state = std::mem::replace(&mut self.threads[index].state, ThreadState::Running);
        match state {
            ThreadState::New(start, arg) => {
                let top = self.threads[index].stack + STACK_SIZE;
                let sp = (top - 0x40) & !0xF;
                let sp = sp - 8;
                self.w64(sp, THREAD_EXIT)?;
                self.uc.reg_write(RegisterX86::RCX, arg).map_err(uc_err)?;
                self.uc.reg_write(RegisterX86::RSP, sp).map_err(uc_err)?;
                self.uc.reg_write(RegisterX86::RIP, start).map_err(uc_err)?;
                self.set_irql(irql::PASSIVE);
            }
            ThreadState::Ready(status) => {
                let context = self.threads[index].context.take().ok_or_else(|| {
                    Violation::new(Rule::Emulator, "a ready thread has no saved context")
                })?;
                self.uc.context_restore(&context).map_err(uc_err)?;
                self.set_irql(self.threads[index].irql);
                self.ret(status)?;
            }
            other => {
                return Err(Violation::new(
                    Rule::Emulator,
                    format!("thread {index} is not runnable: {other:?}"),
                ));
            }
        }
        let stop = self.run(None)?;
        match stop {
            Stop::Exited => {
                if self.irql() != irql::PASSIVE {
                    return Err(Violation::new(
                        Rule::IrqlBalance,
                        format!("system thread {index} exited at IRQL {}", self.irql()),
                    ));
                }
                self.threads[index].state = ThreadState::Exited;
                let object = self.threads[index].object;
                kernel::thread_exited(self, object);
            }
            Stop::Yielded => {
                self.threads[index].context = Some(self.uc.context_init().map_err(uc_err)?);
                self.threads[index].irql = self.irql();
            }
            Stop::Returned(_) => {
                return Err(Violation::new(
                    Rule::Emulator,
                    "a scheduled thread returned to the call sentinel",
                ));
            }
        }
        self.threads[index].instructions += self.instructions() - before;
        self.current = previous;
        self.uc.context_restore(&outer).map_err(uc_err)?;
        self.set_irql(outer_irql);
        Ok(())
    }

    /// Lets the scheduled threads run: everything runnable runs until it blocks; then,
    /// `rounds` times, the clock jumps to the earliest timeout and those threads run.
    ///
    /// # Errors
    /// Any violation they cause.
    pub fn run_threads(&mut self, rounds: usize) -> Result<(), Violation> {
        let me = self.current;
        while self.step_others(me)? {}
        for _ in 0..rounds {
            if !self.advance_clock()? {
                break;
            }
            while self.step_others(me)? {}
        }
        Ok(())
    }

    // ----- stack use -----

    /// Paints the harness thread's stack, for [`Emu::stack_used`].
    ///
    /// # Errors
    /// Emulator errors.
    pub fn paint_stack(&mut self) -> Result<(), Violation> {
        let stack = self.threads[0].stack;
        self.write(stack, &[PAINT; STACK_SIZE as usize])
    }

    /// Bytes of stack the harness thread's last outermost call used below its return
    /// address (its frames and everything it called), measured against the paint of
    /// [`Emu::paint_stack`].
    #[must_use]
    pub fn stack_used(&self) -> u64 {
        let stack = self.threads[0].stack;
        let bytes = self.read(stack, STACK_SIZE as usize).unwrap_or_default();
        let lowest = stack + bytes.iter().take_while(|b| **b == PAINT).count() as u64;
        self.entry_sp.saturating_sub(lowest)
    }
}

/// The unicorn register for general register number `n` (ModRM order, REX-extended).
#[must_use]
pub fn gpr(n: u8) -> RegisterX86 {
    use RegisterX86 as R;
    match n {
        0 => R::RAX,
        1 => R::RCX,
        2 => R::RDX,
        3 => R::RBX,
        4 => R::RSP,
        5 => R::RBP,
        6 => R::RSI,
        7 => R::RDI,
        8 => R::R8,
        9 => R::R9,
        10 => R::R10,
        11 => R::R11,
        12 => R::R12,
        13 => R::R13,
        14 => R::R14,
        _ => R::R15,
    }
}
