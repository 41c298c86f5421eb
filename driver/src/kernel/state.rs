//! The driver's state: one non-paged allocation created in `DriverEntry`, reachable from
//! every callback through [`driver`], freed at the end of unload.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use wdk_sys::{_KPROCESS, KEVENT, PEPROCESS};

use super::flt::{_FLT_PORT, PFLT_FILTER};
use super::pool::{PoolBox, PoolSlice, TAG_BATCH, TAG_DRIVER, TAG_RING};
use super::spin::KernelSpin;
use crate::config::DriverConfig;
use crate::connection::ClientSlot;
use crate::lifecycle::Lifecycle;
use crate::records::HandleIds;
use crate::ring::Ring;

/// Where the driver is in its life; read by every callback.
pub static LIFE: Lifecycle = Lifecycle::new();

/// The driver state, published by `DriverEntry` before filtering starts and withdrawn by
/// unload only after `FltUnregisterFilter` returned and the sender thread exited.
static DRIVER: AtomicPtr<Driver> = AtomicPtr::new(core::ptr::null_mut());

/// Everything the driver owns.
///
/// Field order is drop order: the ring is dropped before the buffer it borrows.
pub struct Driver {
    /// Our filter, from `FltRegisterFilter`.
    pub filter: PFLT_FILTER,
    /// The server port (`\PicketPort`).
    pub server_port: AtomicPtr<_FLT_PORT>,
    /// The connected client's port; its address is what `FltSendMessage` and
    /// `FltCloseClientPort` synchronise on.
    pub client_port: AtomicPtr<_FLT_PORT>,
    /// The connected client's process, captured in the connect callback (compared, never
    /// dereferenced, never sent).
    pub client_process: AtomicPtr<_KPROCESS>,
    /// Connection state.
    pub slot: ClientSlot,
    /// Resolved registry configuration.
    pub config: DriverConfig,
    /// Handle identifiers for the wire.
    pub handle_ids: HandleIds,
    /// Tells the sender thread to exit.
    pub stop: AtomicBool,
    /// Wakes the sender thread (a synchronization event).
    pub wake: UnsafeCell<KEVENT>,
    /// The sender thread object (referenced), for the join at unload.
    pub thread: AtomicPtr<c_void>,
    /// The sender's batch buffer; only the sender thread touches it.
    pub batch: UnsafeCell<PoolSlice<u8>>,
    /// The event ring.
    pub ring: Ring<'static, KernelSpin>,
    /// The ring's buffer (after `ring`: freed after it).
    _ring_storage: PoolSlice<u64>,
}

// SAFETY: every field shared between threads is atomic, a kernel object designed for
// sharing (KEVENT), the ring (Sync), or touched by one thread only (`batch`: the sender).
unsafe impl Sync for Driver {}

/// Why the state could not be created.
#[derive(Clone, Copy, Debug)]
pub struct OutOfMemory;

impl Driver {
    /// Allocates the state, ring and batch buffer for `config`.
    pub fn create(filter: PFLT_FILTER, config: DriverConfig) -> Result<PoolBox<Self>, OutOfMemory> {
        let mut storage =
            PoolSlice::<u64>::zeroed(config.ring_words(), TAG_RING).ok_or(OutOfMemory)?;
        let batch = PoolSlice::<u8>::zeroed(config.max_batch_bytes as usize, TAG_BATCH)
            .ok_or(OutOfMemory)?;
        // SAFETY: the slice is used only by `ring`, which lives in the same `Driver` and is
        // dropped before `_ring_storage` (field order); nothing else borrows the buffer.
        let words = unsafe { storage.as_unbounded_slice() };
        // SAFETY: `PoolSlice::zeroed` memory comes from `ExAllocatePool2` without
        // `POOL_FLAG_UNINITIALIZED`, which returns it zeroed: no need to scan 4 MiB here.
        let ring = unsafe { Ring::new_zeroed(words, 1) }.map_err(|_| OutOfMemory)?;
        let state = PoolBox::new(
            Self {
                filter,
                server_port: AtomicPtr::new(core::ptr::null_mut()),
                client_port: AtomicPtr::new(core::ptr::null_mut()),
                client_process: AtomicPtr::new(core::ptr::null_mut()),
                slot: ClientSlot::new(),
                config,
                handle_ids: HandleIds::new(),
                stop: AtomicBool::new(false),
                // SAFETY: KEVENT is plain C data; all-zero is a valid bit pattern, and
                // `KeInitializeEvent` initialises it in place below.
                wake: UnsafeCell::new(unsafe { core::mem::zeroed() }),
                thread: AtomicPtr::new(core::ptr::null_mut()),
                batch: UnsafeCell::new(batch),
                ring,
                _ring_storage: storage,
            },
            TAG_DRIVER,
        )
        .ok_or(OutOfMemory)?;
        // SAFETY: the event is in non-paged pool at its final address; PASSIVE_LEVEL.
        unsafe {
            wdk_sys::ntddk::KeInitializeEvent(
                state.wake.get(),
                wdk_sys::_EVENT_TYPE::SynchronizationEvent,
                0,
            );
        }
        Ok(state)
    }

    /// Wakes the sender thread. `IRQL <= DISPATCH_LEVEL`.
    pub fn wake_sender(&self) {
        // SAFETY: the event was initialised in `create` and lives as long as `self`.
        unsafe { wdk_sys::ntddk::KeSetEvent(self.wake.get(), 0, 0) };
    }

    /// Whether `process` is the connected client's.
    pub fn is_client(&self, process: PEPROCESS) -> bool {
        let client = self.client_process.load(Ordering::Acquire);
        !client.is_null() && client == process
    }
}

/// Publishes the state for the callbacks.
pub fn publish(state: PoolBox<Driver>) {
    DRIVER.store(state.into_raw(), Ordering::Release);
}

/// Takes the state back for freeing (unload, after every user stopped).
pub fn withdraw() -> Option<PoolBox<Driver>> {
    let ptr = DRIVER.swap(core::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: the pointer came from `PoolBox::into_raw` in `publish` with `TAG_DRIVER`, and
    // the swap makes this the only taker.
    unsafe { PoolBox::from_raw(ptr, TAG_DRIVER) }
}

/// The state, for callbacks. `None` before `DriverEntry` published it or after unload.
pub fn driver() -> Option<&'static Driver> {
    let ptr = DRIVER.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is the published, initialised state; it is freed only by
    // unload after `FltUnregisterFilter` (no callback runs any more), after the ports are
    // closed (no port callback runs any more) and after the sender thread exited — so it
    // outlives every caller of this function.
    unsafe { ptr.as_ref() }
}
