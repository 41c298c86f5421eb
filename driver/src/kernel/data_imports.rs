//! The kernel's *data* exports the driver reads, declared so that rustc reaches them through
//! the import address table.
//!
//! `wdk-sys` declares exported variables such as `PsThreadType` as plain `extern` statics
//! without a `#[link]` attribute, so rustc emits a direct reference to `PsThreadType`. An
//! import library only defines `__imp_PsThreadType` for a data export (there is no code
//! thunk to jump through), so such a reference does not link (windows-drivers-rs #338).
//! Declared in a `#[link(name = "ntoskrnl")]` block, the static is `dllimport`: rustc loads
//! the address from `__imp_PsThreadType` and the link succeeds.
//!
//! Rule: every data export is declared here, never taken from `wdk_sys`, and is listed with
//! `DATA` in `driver/defs/ntoskrnl.def`. Because the generated import library then has no
//! plain `PsThreadType` symbol, a data export declared the wrong way fails the link.

use wdk_sys::POBJECT_TYPE;

#[link(name = "ntoskrnl")]
extern "C" {
    /// The thread object type (`extern POBJECT_TYPE *PsThreadType` in wdm.h). The kernel
    /// sets it before any driver loads and never changes it.
    #[link_name = "PsThreadType"]
    static PS_THREAD_TYPE: *mut POBJECT_TYPE;
}

/// The thread object type, for `ObReferenceObjectByHandle`. Any IRQL.
#[must_use]
pub fn thread_type() -> POBJECT_TYPE {
    // SAFETY: reading an exported, initialised kernel variable (a pointer to the kernel's
    // `POBJECT_TYPE` variable) copies the pointer.
    let variable = unsafe { PS_THREAD_TYPE };
    // SAFETY: the pointer names the kernel's valid, never-rewritten `POBJECT_TYPE` variable.
    unsafe { *variable }
}
