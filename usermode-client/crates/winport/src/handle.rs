//! A Windows handle closed on drop: every handle this crate opens lives in one.

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, INVALID_HANDLE_VALUE};

/// Owns a handle.
///
/// # Invariants
/// `0` is a valid open handle owned by nobody else, or null / `INVALID_HANDLE_VALUE`.
#[derive(Debug)]
pub struct OwnedHandle(HANDLE);

impl OwnedHandle {
    /// Takes ownership of `raw` (as returned by an `Open*`/`Create*` call); `None` when the
    /// call failed (null or `INVALID_HANDLE_VALUE`).
    pub fn new(raw: HANDLE) -> Option<Self> {
        (!raw.is_null() && raw != INVALID_HANDLE_VALUE).then_some(Self(raw))
    }

    /// The raw handle, valid while `self` lives.
    pub const fn raw(&self) -> HANDLE {
        self.0
    }
}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: by the type's invariant the handle is open and ours alone; it is closed
        // exactly once, here.
        unsafe { CloseHandle(self.0) };
    }
}

// SAFETY: a kernel handle is a process-wide value that any thread may use or close.
unsafe impl Send for OwnedHandle {}
