//! A spin lock whose holder cannot be preempted.
//!
//! The ring's reservation (sequence number + space) must be one atomic step taken from I/O
//! callbacks at `PASSIVE_LEVEL`..`DISPATCH_LEVEL`. A spin lock is the kernel's tool for that,
//! but a spin lock held at `PASSIVE_LEVEL` can be preempted, leaving every other CPU spinning.
//! So acquiring first raises the IRQL through [`NoPreempt`] (the kernel shell raises to
//! `DISPATCH_LEVEL`, exactly what `KeAcquireSpinLock` does); on Linux tests it is a no-op.
//! The critical sections are a handful of integer operations and touch only non-paged memory.

use core::cell::UnsafeCell;
use core::hint::spin_loop;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// Disables preemption for as long as the returned guard lives.
pub trait NoPreempt {
    /// Restores the previous state when dropped.
    type Guard;
    /// Disables preemption on this CPU.
    fn disable() -> Self::Guard;
}

/// For user-mode tests: threads may be preempted while holding the lock, which only costs
/// time, never correctness.
#[derive(Debug)]
pub struct Preemptible;

impl NoPreempt for Preemptible {
    type Guard = ();
    fn disable() {}
}

/// A test-and-test-and-set spin lock over `T`.
///
/// # Invariants
/// `value` is accessed only through a [`SpinGuard`], and at most one guard exists at a time
/// (`locked` is `true` exactly while one exists).
pub struct SpinLock<T, P: NoPreempt> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
    _preempt: PhantomData<P>,
}

// SAFETY: the lock hands out `&mut T` to one holder at a time (type invariant), so sharing
// the lock between threads is sound whenever `T` may be sent between threads.
unsafe impl<T: Send, P: NoPreempt> Sync for SpinLock<T, P> {}

impl<T, P: NoPreempt> SpinLock<T, P> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
            _preempt: PhantomData,
        }
    }

    /// Disables preemption, then spins until the lock is free.
    pub fn lock(&self) -> SpinGuard<'_, T, P> {
        let preempt = P::disable();
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                break;
            }
            while self.locked.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
        SpinGuard {
            lock: self,
            _preempt: preempt,
        }
    }
}

/// Exclusive access to the value of a [`SpinLock`]; unlocks, then restores preemption, when
/// dropped (fields drop in declaration order after `Drop::drop`).
pub struct SpinGuard<'a, T, P: NoPreempt> {
    lock: &'a SpinLock<T, P>,
    _preempt: P::Guard,
}

impl<T, P: NoPreempt> Deref for SpinGuard<'_, T, P> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a guard exists, so this thread holds the lock (type invariant): no other
        // reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T, P: NoPreempt> DerefMut for SpinGuard<'_, T, P> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T, P: NoPreempt> Drop for SpinGuard<'_, T, P> {
    fn drop(&mut self) {
        // INVARIANT: the guard is going away, so the lock becomes free.
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn lock_serialises_increments_from_many_threads() {
        let lock = Arc::new(SpinLock::<u64, Preemptible>::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                thread::spawn(move || {
                    for _ in 0..10_000 {
                        // A non-atomic read-modify-write: only mutual exclusion keeps it exact.
                        let mut guard = lock.lock();
                        let value = *guard;
                        *guard = value + 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*lock.lock(), 40_000);
    }

    #[test]
    fn guard_drop_restores_preemption_after_unlocking() {
        use std::cell::Cell;
        thread_local!(static DEPTH: Cell<i32> = const { Cell::new(0) });
        struct Counting;
        struct Restore;
        impl Drop for Restore {
            fn drop(&mut self) {
                DEPTH.with(|d| d.set(d.get() - 1));
            }
        }
        impl NoPreempt for Counting {
            type Guard = Restore;
            fn disable() -> Restore {
                DEPTH.with(|d| d.set(d.get() + 1));
                Restore
            }
        }
        let lock = SpinLock::<u8, Counting>::new(0);
        {
            let _guard = lock.lock();
            assert_eq!(DEPTH.with(Cell::get), 1);
        }
        assert_eq!(DEPTH.with(Cell::get), 0);
        assert!(!lock.locked.load(Ordering::Relaxed));
    }
}
