//! The kernel's raw lock for [`crate::sync::SpinLock`]: a `KSPIN_LOCK`.

use core::cell::UnsafeCell;

use wdk_sys::{ntddk::KeAcquireSpinLockRaiseToDpc, ntddk::KeReleaseSpinLock, KIRQL, KSPIN_LOCK};

use crate::sync::RawSpin;

/// A `KSPIN_LOCK`. Acquiring raises to `DISPATCH_LEVEL`, so the holder is never preempted;
/// callable at `IRQL <= DISPATCH_LEVEL`. It must live in non-paged memory (it does: inside
/// the pool-allocated driver state).
#[derive(Default)]
pub struct KernelSpin(UnsafeCell<KSPIN_LOCK>);

// SAFETY: a KSPIN_LOCK is designed to be shared between processors; it is only ever
// touched through the Ke spin lock routines.
unsafe impl Sync for KernelSpin {}

impl RawSpin for KernelSpin {
    type Token = KIRQL;

    fn acquire(&self) -> KIRQL {
        // SAFETY: the lock word is valid, non-paged and zero-initialised (`Default`, which is
        // what `KeInitializeSpinLock` does); the caller runs at IRQL <= DISPATCH_LEVEL.
        unsafe { KeAcquireSpinLockRaiseToDpc(self.0.get()) }
    }

    fn release(&self, token: KIRQL) {
        // SAFETY: `SpinGuard` calls this once, on the lock this thread acquired, with the
        // IRQL `acquire` returned.
        unsafe { KeReleaseSpinLock(self.0.get(), token) }
    }
}
