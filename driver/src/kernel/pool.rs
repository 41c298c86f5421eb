//! Non-paged pool allocations, each with its Picket pool tag, freed by `Drop`.
//!
//! Pool tags (shown by `!poolused`, `PoolMon` and Driver Verifier leak reports):
//! - `PkDv` the driver state ([`super::state::Driver`]),
//! - `PkRg` the event ring's buffer,
//! - `PkBt` the sender's batch buffer,
//! - `PkSh` stream-handle contexts (allocated by Filter Manager for us),
//! - `PkSc` stream contexts (per-file delete candidacy),
//! - `PkOp` the small per-operation context handed from a pre- to a post-operation callback,
//! - `PkCl` (an object-reference tag, not pool) the reference on the connected client's
//!   process, shown by `!obtrace` when object reference tracing is on.

use core::ptr::NonNull;

use wdk_sys::ntddk::{ExAllocatePool2, ExFreePoolWithTag};

use super::flt::POOL_FLAG_NON_PAGED;

/// Builds a pool tag from its four characters as tools display them.
const fn tag(name: [u8; 4]) -> u32 {
    u32::from_le_bytes(name)
}

/// Driver state.
pub const TAG_DRIVER: u32 = tag(*b"PkDv");
/// Ring buffer.
pub const TAG_RING: u32 = tag(*b"PkRg");
/// Batch buffer.
pub const TAG_BATCH: u32 = tag(*b"PkBt");
/// Stream-handle contexts.
pub const TAG_HANDLE: u32 = tag(*b"PkSh");
/// Stream contexts.
pub const TAG_STREAM: u32 = tag(*b"PkSc");
/// Pre-to-post operation contexts.
pub const TAG_OP: u32 = tag(*b"PkOp");
/// The object reference on the connected client's process.
pub const TAG_CLIENT: u32 = tag(*b"PkCl");

/// Allocates `bytes` of zeroed non-paged pool (`ExAllocatePool2` zeroes unless told not to).
/// `IRQL <= DISPATCH_LEVEL`.
fn allocate(bytes: usize, tag: u32) -> Option<NonNull<u8>> {
    if bytes == 0 {
        return None;
    }
    // SAFETY: plain allocation call; a null return is handled.
    let raw = unsafe { ExAllocatePool2(POOL_FLAG_NON_PAGED, bytes as u64, tag) };
    NonNull::new(raw.cast::<u8>())
}

/// Frees what [`allocate`] returned with the same tag. `IRQL <= DISPATCH_LEVEL`.
///
/// # Safety
/// `ptr` came from [`allocate`] with `tag` and is not used afterwards.
unsafe fn free(ptr: NonNull<u8>, tag: u32) {
    // SAFETY: the caller guarantees `ptr` is a live allocation with this tag.
    unsafe { ExFreePoolWithTag(ptr.as_ptr().cast(), tag) }
}

/// An owned `T` in non-paged pool. It never moves once allocated, so it may hold
/// `KEVENT`s and `KSPIN_LOCK`s.
pub struct PoolBox<T> {
    ptr: NonNull<T>,
    tag: u32,
}

impl<T> PoolBox<T> {
    /// Moves `value` into a new allocation; `None` when the pool is exhausted (the value
    /// is dropped).
    pub fn new(value: T, tag: u32) -> Option<Self> {
        let ptr = allocate(core::mem::size_of::<T>(), tag)?.cast::<T>();
        // SAFETY: `ptr` is a fresh allocation of `size_of::<T>()` bytes; pool allocations
        // are 16-byte aligned, enough for every type used here (no `T` needs more).
        unsafe { ptr.as_ptr().write(value) };
        Some(Self { ptr, tag })
    }

    /// Gives up ownership (to pass through a `PVOID` completion context).
    pub fn into_raw(self) -> *mut T {
        let ptr = self.ptr.as_ptr();
        core::mem::forget(self);
        ptr
    }

    /// Takes back ownership of what [`PoolBox::into_raw`] returned.
    ///
    /// # Safety
    /// `ptr` came from `into_raw` with the same `tag` and was not taken back before.
    pub unsafe fn from_raw(ptr: *mut T, tag: u32) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| Self { ptr, tag })
    }
}

impl<T> core::ops::Deref for PoolBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` holds an initialised `T` owned by this box until `drop`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> core::ops::DerefMut for PoolBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` is exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for PoolBox<T> {
    fn drop(&mut self) {
        // SAFETY: the value is initialised and dropped exactly once, here.
        unsafe { core::ptr::drop_in_place(self.ptr.as_ptr()) };
        // SAFETY: the allocation came from `allocate` with `self.tag` and is dead now.
        unsafe { free(self.ptr.cast(), self.tag) };
    }
}

/// A zeroed array of `T` (plain integers) in non-paged pool.
pub struct PoolSlice<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    tag: u32,
}

// SAFETY: the allocation is owned; `T` is plain data.
unsafe impl<T: Copy + Send> Send for PoolSlice<T> {}

impl<T: Copy> PoolSlice<T> {
    /// `len` zeroed elements (`T` must be an integer type: all-zero is a valid value).
    pub fn zeroed(len: usize, tag: u32) -> Option<Self> {
        let bytes = len.checked_mul(core::mem::size_of::<T>())?;
        let ptr = allocate(bytes, tag)?.cast::<T>();
        Some(Self { ptr, len, tag })
    }

    /// The elements.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: `len` initialised (zeroed) elements live at `ptr` for as long as `self`;
        // `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The elements, for a borrower that outlives any Rust lifetime the owner can name
    /// (the ring inside the same driver state).
    ///
    /// # Safety
    /// The slice must not be used after `self` is dropped, nor while `as_mut_slice` is.
    pub unsafe fn as_unbounded_slice<'a>(&mut self) -> &'a mut [T] {
        // SAFETY: as in `as_mut_slice`; the caller bounds the lifetime.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for PoolSlice<T> {
    fn drop(&mut self) {
        // SAFETY: the allocation came from `allocate` with `self.tag` and is dead now.
        unsafe { free(self.ptr.cast(), self.tag) };
    }
}
