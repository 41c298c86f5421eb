//! A spin lock over a raw lock supplied by the platform.
//!
//! The ring's reservation (sequence number + space) must be one atomic step taken from I/O
//! callbacks at `PASSIVE_LEVEL`..`DISPATCH_LEVEL`. In the kernel the raw lock is a
//! `KSPIN_LOCK` taken with `KeAcquireSpinLockRaiseToDpc`, so its holder cannot be preempted
//! and the critical section (a handful of integer operations on non-paged memory) is legal
//! at any of those IRQLs. On Linux tests it is a plain atomic spin. Callers never touch the
//! raw lock: [`SpinLock`] hands out a guard, as Rust-for-Linux's `Lock` does.

use core::cell::UnsafeCell;
use core::hint::spin_loop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A raw mutual-exclusion primitive.
pub trait RawSpin: Default + Sync {
    /// What `acquire` returns and `release` needs back (the kernel's previous IRQL).
    type Token;
    /// Spins until this thread holds the lock.
    fn acquire(&self) -> Self::Token;
    /// Releases a lock this thread holds, with the token its `acquire` returned.
    fn release(&self, token: Self::Token);
}

/// Test-and-test-and-set spin lock for user-mode tests: a preempted holder only costs time.
#[derive(Debug, Default)]
pub struct TestSpin(AtomicBool);

impl RawSpin for TestSpin {
    type Token = ();

    fn acquire(&self) {
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.0.load(Ordering::Relaxed) {
                spin_loop();
            }
        }
    }

    fn release(&self, (): ()) {
        self.0.store(false, Ordering::Release);
    }
}

/// `T` behind a raw spin lock.
///
/// # Invariants
/// `value` is accessed only through a [`SpinGuard`], and a guard exists only while its
/// thread holds `raw`.
pub struct SpinLock<T, R: RawSpin> {
    raw: R,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&mut T` to one holder at a time (type invariant), so sharing
// it between threads is sound whenever `T` may be sent between threads.
unsafe impl<T: Send, R: RawSpin> Sync for SpinLock<T, R> {}

impl<T, R: RawSpin> SpinLock<T, R> {
    /// A new, unlocked lock.
    pub fn new(value: T) -> Self {
        Self {
            raw: R::default(),
            value: UnsafeCell::new(value),
        }
    }

    /// Spins until the lock is held; it is released when the guard drops.
    pub fn lock(&self) -> SpinGuard<'_, T, R> {
        let token = self.raw.acquire();
        // INVARIANT: this thread now holds `raw`; the guard is the only access path.
        SpinGuard {
            lock: self,
            token: Some(token),
        }
    }
}

/// Exclusive access to the value of a [`SpinLock`].
pub struct SpinGuard<'a, T, R: RawSpin> {
    lock: &'a SpinLock<T, R>,
    /// Always `Some` until `drop` takes it back to `release`.
    token: Option<R::Token>,
}

impl<T, R: RawSpin> Deref for SpinGuard<'_, T, R> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: a guard exists, so this thread holds the lock (type invariant): no other
        // reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T, R: RawSpin> DerefMut for SpinGuard<'_, T, R> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T, R: RawSpin> Drop for SpinGuard<'_, T, R> {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            self.lock.raw.release(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn lock_serialises_increments_from_many_threads() {
        let lock = Arc::new(SpinLock::<u64, TestSpin>::new(0));
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
    fn the_guard_gives_the_token_back_on_drop() {
        use std::sync::atomic::AtomicU32;
        /// Counts acquisitions and checks each release gets its own acquisition's token.
        #[derive(Default)]
        struct Counting {
            held: AtomicBool,
            taken: AtomicU32,
        }
        impl RawSpin for Counting {
            type Token = u32;
            fn acquire(&self) -> u32 {
                assert!(!self.held.swap(true, Ordering::AcqRel));
                self.taken.fetch_add(1, Ordering::AcqRel) + 100
            }
            fn release(&self, token: u32) {
                assert_eq!(token, self.taken.load(Ordering::Acquire) + 99);
                self.held.store(false, Ordering::Release);
            }
        }
        let lock = SpinLock::<u8, Counting>::new(0);
        {
            let mut guard = lock.lock();
            *guard = 5;
            assert!(lock.raw.held.load(Ordering::Acquire));
        }
        assert!(!lock.raw.held.load(Ordering::Acquire));
        assert_eq!(*lock.lock(), 5);
        assert_eq!(lock.raw.taken.load(Ordering::Acquire), 2);
    }
}
