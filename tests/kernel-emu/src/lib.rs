//! An emulated Windows kernel that loads the real release `picket_driver.sys` and runs it:
//! a test-only crate (GPL-2.0, because it links unicorn-engine; never shipped).
//!
//! - [`image`]: finds and parses the PE image; [`symbols`]: its PDB, for names in reports;
//! - [`emu`]: unicorn, guest memory, import traps, calls into the guest, guest threads;
//! - [`kernel`]: the fake ntoskrnl and Filter Manager, one handler per export;
//! - [`fs`]: the fake file system and Filter Manager's callback delivery;
//! - [`process`]: process creation and exit through the driver's process-notify routine;
//! - [`verifier`]: the rules a run is held to; [`layout`]: WDK structure offsets;
//! - [`Harness`]: DriverEntry, the client, the workload, unload and the final checks.
#![cfg(target_os = "linux")]
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::missing_errors_doc
)]

pub mod emu;
pub mod fs;
pub mod image;
pub mod kernel;
pub mod layout;
pub mod process;
pub mod symbols;
pub mod verifier;
pub mod workload;

use picket_protocol::{decode_batch, Body, ClientHello, RecordKind};

use crate::emu::Emu;
use crate::fs::Actor;
use crate::image::Image;
use crate::kernel::{new_io_thread, new_process, status, Kernel, SERVICE_KEY};
use crate::verifier::{irql, Rule, Violation};

/// Stack budget of an I/O callback (the driver's frames and what it calls in the image):
/// the 2 KiB issue 8 sets and `tests/driver-image` checks statically from the unwind data.
/// The file system, the I/O manager and other filters share the 24 KiB kernel stack.
pub const STACK_BUDGET: u64 = 2048;
/// Stack budget of `DriverEntry`, which runs on a stack of its own (issue 8: 6 KiB).
pub const OWN_STACK_BUDGET: u64 = 6144;

/// One decoded record, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Sequence number.
    pub seq: u64,
    /// Kind.
    pub kind: Option<RecordKind>,
    /// For loss records: (first, last, count).
    pub loss: Option<(u64, u64, u64)>,
    /// Requestor process id.
    pub pid: u32,
}

/// The emulated machine with the driver loaded, and the user-mode side of the port.
pub struct Harness {
    /// The emulator.
    pub emu: Emu,
    /// The I/O manager's driver object handed to `DriverEntry`.
    pub driver_object: u64,
    /// The client's process.
    pub client_process: u64,
    /// The workload's process and thread.
    pub actor: Actor,
    /// Workload process id.
    pub workload_pid: u64,
    /// Guest instructions `DriverEntry` ran.
    pub entry_instructions: u64,
    /// Stack bytes `DriverEntry` used.
    pub entry_stack: u64,
}

impl Harness {
    /// Loads the release image (see [`image::default_path`]) with a service key holding
    /// `parameters` (`None`: no `Parameters` key).
    ///
    /// # Errors
    /// A missing image (naming the path and `.ci/build-sys.sh`), an unknown import.
    pub fn new(parameters: Option<&[(&str, u32)]>) -> Result<Self, String> {
        let image = Image::load_default().map_err(|e| e.to_string())?;
        let emu = Emu::load(image, Kernel::new(parameters)).map_err(|e| e.to_string())?;
        let mut h = Self {
            emu,
            driver_object: 0,
            client_process: 0,
            actor: Actor {
                process: 0,
                thread: 0,
            },
            workload_pid: 0x2a0,
            entry_instructions: 0,
            entry_stack: 0,
        };
        h.setup().map_err(|e| e.to_string())?;
        Ok(h)
    }

    fn setup(&mut self) -> Result<(), Violation> {
        self.driver_object = self.emu.alloc(0x150)?;
        self.client_process = new_process(&mut self.emu, 0x1f0, 7001)?;
        let process = new_process(&mut self.emu, self.workload_pid, 7002)?;
        let thread = new_io_thread(&mut self.emu, 0x2a4)?;
        self.actor = Actor { process, thread };
        self.emu.k.fs.volume_object = self.emu.alloc(0x100)?;
        Ok(())
    }

    /// Calls `DriverEntry` at `PASSIVE_LEVEL`; its NTSTATUS. Then, as Filter Manager does
    /// after `FltStartFiltering`, attaches the one fake volume (calling the driver's
    /// instance-setup callback if it registered one).
    ///
    /// # Errors
    /// Any violation.
    pub fn driver_entry(&mut self) -> Result<u32, Violation> {
        let path = self.emu.new_unicode_string(SERVICE_KEY)?;
        let entry = self.emu.image.base + self.emu.image.driver_entry;
        let before = self.emu.instructions();
        self.emu.paint_stack()?;
        let result = self
            .emu
            .call(entry, &[self.driver_object, path], irql::PASSIVE)? as u32;
        self.entry_instructions = self.emu.instructions() - before;
        self.entry_stack = self.emu.stack_used();
        if result == status::SUCCESS {
            self.attach_volume()?;
        }
        Ok(result)
    }

    fn attach_volume(&mut self) -> Result<(), Violation> {
        let Some(filter) = self.emu.k.filter.clone() else {
            return Err(Violation::new(
                Rule::BadCall,
                "DriverEntry succeeded without registering a filter",
            ));
        };
        if !filter.started {
            return Err(Violation::new(
                Rule::BadCall,
                "DriverEntry succeeded without FltStartFiltering",
            ));
        }
        let instance = self.emu.alloc(0x100)?;
        if filter.instance_setup != 0 {
            let objects = self.emu.alloc(0x30)?;
            self.emu.w16(objects, layout::RO_SIZE as u16)?;
            self.emu.w64(objects + layout::RO_FILTER, filter.object)?;
            self.emu
                .w64(objects + layout::RO_VOLUME, self.emu.k.fs.volume_object)?;
            self.emu.w64(objects + layout::RO_INSTANCE, instance)?;
            // FLTFL_INSTANCE_SETUP_AUTOMATIC_ATTACHMENT, FILE_DEVICE_DISK_FILE_SYSTEM,
            // FLT_FSTYPE_NTFS.
            self.emu.k.fs.setup_instance = instance;
            let result = self
                .emu
                .call(filter.instance_setup, &[objects, 1, 8, 2], irql::PASSIVE)?
                as u32;
            self.emu.free(objects)?;
            if result != status::SUCCESS {
                return Ok(());
            }
        }
        self.emu.k.fs.instance = instance;
        Ok(())
    }

    /// Lets the sender thread run: `rounds` times the clock jumps to the next timeout.
    ///
    /// # Errors
    /// Any violation.
    pub fn settle(&mut self, rounds: usize) -> Result<(), Violation> {
        self.emu.run_threads(rounds)
    }

    /// The client connects with `hello` (the context `FilterConnectCommunicationPort`
    /// passes); Filter Manager's status.
    ///
    /// # Errors
    /// Any violation.
    pub fn connect(&mut self, hello: &[u8]) -> Result<u32, Violation> {
        let Some(port) = self.emu.k.port.clone() else {
            return Ok(status::OBJECT_NAME_NOT_FOUND);
        };
        if port.closed {
            return Ok(status::OBJECT_NAME_NOT_FOUND);
        }
        // Filter Manager enforces MaxConnections before the driver hears of a client.
        if self.emu.k.client.as_ref().is_some_and(|c| !c.closed) && port.max_connections <= 1 {
            return Ok(status::CONNECTION_COUNT_LIMIT);
        }
        let client_port = self.emu.alloc(0x100)?;
        let context = self.emu.alloc(hello.len().max(1) as u64)?;
        self.emu.write(context, hello)?;
        let cookie_out = self.emu.alloc(8)?;
        self.emu.k.current_process = self.client_process;
        let result = self.emu.call(
            port.connect,
            &[
                client_port,
                port.cookie,
                if hello.is_empty() { 0 } else { context },
                hello.len() as u64,
                cookie_out,
            ],
            irql::PASSIVE,
        )? as u32;
        self.emu.k.current_process = self.emu.k.system_process;
        let cookie = self.emu.r64(cookie_out)?;
        self.emu.free(context)?;
        self.emu.free(cookie_out)?;
        if result == status::SUCCESS {
            self.emu.k.client = Some(kernel::Client {
                port: client_port,
                cookie,
                closed: false,
            });
        } else {
            self.emu.free(client_port)?;
        }
        Ok(result)
    }

    /// Connects with the real client's hello.
    ///
    /// # Errors
    /// Any violation.
    pub fn connect_client(&mut self) -> Result<u32, Violation> {
        self.connect(&ClientHello::default().encode())
    }

    /// The client goes away: Filter Manager calls the disconnect callback.
    ///
    /// # Errors
    /// Any violation.
    pub fn disconnect(&mut self) -> Result<(), Violation> {
        let (Some(client), Some(port)) = (self.emu.k.client.clone(), self.emu.k.port.clone())
        else {
            return Err(Violation::new(Rule::BadCall, "no client to disconnect"));
        };
        self.emu
            .call(port.disconnect, &[client.cookie], irql::PASSIVE)?;
        if !self.emu.k.client.as_ref().is_some_and(|c| c.closed) {
            return Err(Violation::new(
                Rule::Unbalanced,
                "the disconnect callback did not close the client port (FltCloseClientPort)",
            ));
        }
        self.emu.k.client = None;
        Ok(())
    }

    /// Service stop: Filter Manager calls the filter-unload callback; its status.
    ///
    /// # Errors
    /// Any violation.
    pub fn unload(&mut self) -> Result<u32, Violation> {
        let Some(filter) = self.emu.k.filter.clone() else {
            return Err(Violation::new(Rule::BadCall, "no filter registered"));
        };
        if filter.unload == 0 {
            return Err(Violation::new(
                Rule::BadCall,
                "the driver registered no unload callback",
            ));
        }
        Ok(self.emu.call(filter.unload, &[0], irql::PASSIVE)? as u32)
    }

    /// Every record the client received, in order, with each batch checked by
    /// `picket-protocol`'s decoder.
    ///
    /// # Errors
    /// A batch that does not decode.
    pub fn received(&self) -> Result<Vec<Received>, String> {
        let mut out = Vec::new();
        for (i, message) in self.emu.k.messages.iter().enumerate() {
            let batch =
                decode_batch(message).map_err(|e| format!("message {i} does not decode: {e}"))?;
            for record in batch.records() {
                out.push(Received {
                    seq: record.header.seq,
                    kind: RecordKind::from_raw(record.body.kind_raw()),
                    loss: match record.body {
                        Body::Loss(l) => Some((l.first_lost_seq, l.last_lost_seq, l.count)),
                        _ => None,
                    },
                    pid: record.header.pid,
                });
            }
        }
        Ok(out)
    }

    /// Checks that every sequence number from the first to the last received is either
    /// received or inside a loss record's range (nothing lost silently), and that each loss
    /// record's count is exactly the number of sequence numbers in its range that never
    /// arrived (a range may span delivered records: the driver's loss book keeps one range
    /// per reason); the number of records reported lost.
    ///
    /// # Errors
    /// The first unaccounted sequence number or wrong count, or an undecodable batch.
    pub fn accounted(&self) -> Result<u64, String> {
        let received = self.received()?;
        let arrived: std::collections::BTreeSet<u64> = received.iter().map(|r| r.seq).collect();
        let mut covered = arrived.clone();
        let mut lost = 0;
        for r in &received {
            if let Some((first, last, count)) = r.loss {
                if count == 0 || first == 0 || last < first {
                    return Err(format!(
                        "loss record {} has no exact range ({first}..={last}, {count})",
                        r.seq
                    ));
                }
                let missing = (first..=last).filter(|s| !arrived.contains(s)).count() as u64;
                if missing != count {
                    return Err(format!("loss record {}: {missing} records of {first}..={last} never arrived, but it counts {count}", r.seq));
                }
                covered.extend(first..=last);
                lost += count;
            }
        }
        let (Some(&low), Some(&high)) = (covered.first(), covered.last()) else {
            return Ok(0);
        };
        if let Some(missing) = (low..=high).find(|s| !covered.contains(s)) {
            return Err(format!(
                "sequence number {missing} was neither received nor reported lost"
            ));
        }
        Ok(lost)
    }

    /// The Verifier's end-of-run checks (after unload): pool, contexts, names, object
    /// references, handles, ports, threads, locks, stack use.
    #[must_use]
    pub fn final_checks(&self) -> Vec<Violation> {
        let k = &self.emu.k;
        let mut found = Vec::new();
        let leaks: Vec<String> = k
            .pool
            .iter()
            .map(|(at, a)| {
                format!(
                    "{} {} bytes at {at:#x} (allocated by {})",
                    kernel::tag_name(a.tag),
                    a.size,
                    a.caller
                )
            })
            .collect();
        if !leaks.is_empty() {
            found.push(Violation::new(
                Rule::PoolLeak,
                format!("pool not freed by the end of unload: {}", leaks.join("; ")),
            ));
        }
        for (at, c) in &k.contexts {
            found.push(Violation::new(Rule::Unbalanced, format!("context {at:#x} (type {:#x}, allocated by {}) still has {} reference(s): FltUnregisterFilter would wait forever", c.kind, c.caller, c.refs)));
        }
        for (at, n) in &k.names {
            found.push(Violation::new(
                Rule::Unbalanced,
                format!(
                    "file name information {at:#x} ({}) from {} never released ({} reference(s))",
                    n.name, n.caller, n.refs
                ),
            ));
        }
        for (object, refs) in &k.object_refs {
            if *refs != 0 {
                found.push(Violation::new(
                    Rule::Unbalanced,
                    format!("{refs} reference(s) on object {object:#x} never dropped"),
                ));
            }
        }
        for ((object, tag), refs) in &k.tagged_refs {
            if *refs != 0 {
                found.push(Violation::new(
                    Rule::Unbalanced,
                    format!(
                        "{refs} {} reference(s) on object {object:#x} never dropped",
                        kernel::tag_name(*tag)
                    ),
                ));
            }
        }
        for (handle, what) in &k.handles {
            found.push(Violation::new(
                Rule::Unbalanced,
                format!("handle {handle:#x} ({what:?}) never closed"),
            ));
        }
        if !k.security_descriptors.is_empty() {
            found.push(Violation::new(
                Rule::Unbalanced,
                "security descriptor never freed",
            ));
        }
        if k.port.as_ref().is_some_and(|p| !p.closed) {
            found.push(Violation::new(Rule::Unbalanced, "server port never closed"));
        }
        if !k.process_notify.is_empty() {
            found.push(Violation::new(
                Rule::Unbalanced,
                format!(
                    "{} process-notify routine(s) still registered after unload: the kernel \
                     would call into an unloaded image",
                    k.process_notify.len()
                ),
            ));
        }
        if k.filter.as_ref().is_some_and(|f| !f.unregistered) {
            found.push(Violation::new(
                Rule::Unbalanced,
                "filter never unregistered",
            ));
        }
        if !k.spin_held.is_empty() {
            found.push(Violation::new(Rule::IrqlBalance, "spin lock still held"));
        }
        for t in self.emu.threads.iter().filter(|t| !t.harness) {
            if t.state != emu::ThreadState::Exited {
                found.push(Violation::new(
                    Rule::Unbalanced,
                    format!(
                        "system thread {} still alive after unload ({:?})",
                        t.tid, t.state
                    ),
                ));
            }
        }
        if self.entry_stack > OWN_STACK_BUDGET {
            found.push(Violation::new(
                Rule::Stack,
                format!(
                    "DriverEntry used {} bytes of stack (budget {OWN_STACK_BUDGET})",
                    self.entry_stack
                ),
            ));
        }
        for cost in &k.fs.costs {
            if cost.stack > STACK_BUDGET {
                found.push(Violation::new(
                    Rule::Stack,
                    format!(
                        "{} used {} bytes of stack (budget {STACK_BUDGET})",
                        cost.callback, cost.stack
                    ),
                ));
            }
        }
        found
    }
}
