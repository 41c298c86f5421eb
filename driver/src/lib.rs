//! Picket minifilter: captures file events in the kernel and forwards them, nothing more.
//!
//! The crate has two layers (see `docs/ARCHITECTURE.md`):
//! - plain Rust that builds and is unit-tested on Linux: the event ring ([`ring`]), loss
//!   accounting ([`loss`]), batching ([`batch`]), skip rules ([`skip`]), record building
//!   ([`records`]), file identity and stream deletes ([`identity`]), non-write modifications
//!   ([`modify`]), the post-create work plan ([`create`]), volume attachment ([`volume`]),
//!   registry configuration bounds ([`config`]), the connect-hello check
//!   ([`connection`]) and the unload state machine ([`lifecycle`]);
//! - the WDK shell (`kernel` module, behind the `kernel` feature): Filter Manager bindings,
//!   callbacks, the communication port, the sender thread and `DriverEntry`. It only moves
//!   values between Filter Manager and the plain-Rust layer.
#![cfg_attr(all(feature = "kernel", not(test)), no_std)]
// A panic or an overflow in the kernel is a blue screen: none may be reachable.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::undocumented_unsafe_blocks,
        clippy::multiple_unsafe_ops_per_block,
        clippy::float_arithmetic
    )
)]
#![warn(clippy::pedantic, clippy::nursery, missing_docs)]
#![allow(clippy::module_name_repetitions)]
// Tests may panic, index and cast freely: they run on Linux, never in the kernel.
#![cfg_attr(
    test,
    allow(
        clippy::cast_possible_truncation,
        clippy::similar_names,
        clippy::needless_range_loop,
        clippy::manual_is_multiple_of,
        clippy::cast_possible_wrap
    )
)]

#[cfg(all(feature = "kernel", not(test)))]
extern crate wdk_panic;

#[cfg(all(feature = "kernel", not(test)))]
#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

pub mod batch;
pub mod config;
pub mod connection;
pub mod create;
pub mod identity;
pub mod lifecycle;
pub mod loss;
pub mod modify;
pub mod process;
pub mod records;
pub mod ring;
pub mod skip;
pub mod sync;
pub mod volume;

// `const` on FFI wrappers that read Filter Manager structures would promise nothing useful.
#[cfg(feature = "kernel")]
#[allow(clippy::missing_const_for_fn)]
mod kernel;
