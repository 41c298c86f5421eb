//! The sender system thread: drains the ring into batches and delivers them with
//! `FltSendMessage` under a finite timeout. `PASSIVE_LEVEL` throughout.

use core::sync::atomic::Ordering;

use wdk_sys::{
    ntddk::{
        KeWaitForSingleObject, ObReferenceObjectByHandle, ObfDereferenceObject,
        PsCreateSystemThread, PsTerminateSystemThread, ZwClose, ZwWaitForSingleObject,
    },
    _KWAIT_REASON::Executive,
    LARGE_INTEGER, NTSTATUS, PVOID, STATUS_SUCCESS, THREAD_ALL_ACCESS,
};

use super::data_imports::thread_type;
use super::flt::{nt_success, FltSendMessage, KERNEL_MODE};
use super::io::now;
use super::state::{driver, Driver};
use crate::batch::{discard_all, discard_while, store_losses, store_stats, Sender};

/// How long the thread sleeps when not woken: the worst-case latency of an event.
const POLL_100NS: i64 = -20 * 10_000; // 20 ms, relative
/// How often a stats record is stored: 10 s in 100 ns units.
const STATS_EVERY_100NS: u64 = 10 * 10_000_000;

/// Starts the thread and keeps a reference to it for the join. `PASSIVE_LEVEL`.
pub fn start(driver: &Driver) -> NTSTATUS {
    let mut handle = core::ptr::null_mut();
    // SAFETY: `handle` is a valid out-pointer; a system thread in the system process;
    // `thread_main` has the KSTART_ROUTINE signature.
    let status = unsafe {
        PsCreateSystemThread(
            &raw mut handle,
            THREAD_ALL_ACCESS,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            core::ptr::null_mut(),
            Some(thread_main),
            core::ptr::null_mut(),
        )
    };
    if !nt_success(status) {
        return status;
    }
    let mut object: PVOID = core::ptr::null_mut();
    // A data export: read through its import slot (see `data_imports`).
    let thread_type = thread_type();
    // SAFETY: a thread handle we own; `object` is a valid out-pointer.
    let status = unsafe {
        ObReferenceObjectByHandle(
            handle,
            THREAD_ALL_ACCESS,
            thread_type,
            KERNEL_MODE,
            &raw mut object,
            core::ptr::null_mut(),
        )
    };
    if nt_success(status) {
        driver.thread.store(object, Ordering::Release);
    } else {
        // Without a reference the thread cannot be joined at unload, and the caller is about
        // to free the state it runs on: stop it and wait for it through the handle, now.
        driver.stop.store(true, Ordering::Release);
        driver.wake_sender();
        // SAFETY: the thread handle we own; PASSIVE_LEVEL, not alertable, no timeout (the
        // thread exits at its next wake-up, which was just signalled).
        let _ = unsafe { ZwWaitForSingleObject(handle, 0, core::ptr::null_mut()) };
    }
    // SAFETY: the kernel handle PsCreateSystemThread returned, closed once.
    let _ = unsafe { ZwClose(handle) };
    status
}

/// Stops the thread and waits for it to exit. `PASSIVE_LEVEL`.
pub fn stop(driver: &Driver) {
    driver.stop.store(true, Ordering::Release);
    driver.wake_sender();
    let thread = driver.thread.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if thread.is_null() {
        return;
    }
    // SAFETY: a referenced thread object; waiting without timeout at PASSIVE_LEVEL. The
    // thread exits within one send timeout plus one poll interval.
    let _ =
        unsafe { KeWaitForSingleObject(thread, Executive, KERNEL_MODE, 0, core::ptr::null_mut()) };
    // SAFETY: drops the reference taken in `start`.
    unsafe { ObfDereferenceObject(thread) };
}

/// Thread entry. IRQL: `PASSIVE_LEVEL`.
unsafe extern "C" fn thread_main(_context: PVOID) {
    if let Some(driver) = driver() {
        run(driver);
    }
    // SAFETY: ends this system thread; nothing of it is used afterwards.
    let _ = unsafe { PsTerminateSystemThread(STATUS_SUCCESS) };
}

fn run(driver: &Driver) {
    let Some(mut consumer) = driver.ring.consumer() else {
        return;
    };
    // SAFETY: only this thread touches the batch buffer, and only while it runs.
    let batch = unsafe { &mut *driver.batch.get() }.as_mut_slice();
    let mut sender = Sender::default();
    let mut last_stats = now();
    loop {
        let mut poll = LARGE_INTEGER {
            QuadPart: POLL_100NS,
        };
        // SAFETY: the event lives as long as the driver state; PASSIVE_LEVEL wait with a
        // relative timeout.
        let _ = unsafe {
            KeWaitForSingleObject(
                driver.wake.get().cast(),
                Executive,
                KERNEL_MODE,
                0,
                &raw mut poll,
            )
        };
        if driver.stop.load(Ordering::Acquire) {
            break;
        }
        if !driver.slot.is_connected() {
            // Not `discard_all`: a client being connected right now has its hello in the
            // ring, and the slot is asked after each record is read (see `discard_while`).
            discard_while(&driver.ring, &mut consumer, |_| driver.slot.is_vacant());
            continue;
        }
        let time = now();
        store_losses(&driver.ring, time);
        if time.saturating_sub(last_stats) >= STATS_EVERY_100NS {
            let _ = store_stats(&driver.ring, time, sender.stats(&driver.ring));
            last_stats = time;
        }
        // A disconnect or unload stops the sending at once: what is left is discarded (and
        // counted) on the next round instead of being pushed at a port being closed.
        while !driver.stop.load(Ordering::Acquire) && driver.slot.is_connected() {
            let Some(built) =
                sender.build(&driver.ring, &mut consumer, driver.slot.first_seq(), batch)
            else {
                break;
            };
            let mut timeout = LARGE_INTEGER {
                QuadPart: driver.config.send_timeout_relative_100ns(),
            };
            let len = u32::try_from(built.len).unwrap_or(0);
            // SAFETY: our filter; the client-port slot (Filter Manager synchronises it with
            // FltCloseClientPort); the batch buffer holds `len` bytes; no reply; a finite
            // timeout, so a hung client cannot hold this thread.
            let status = unsafe {
                FltSendMessage(
                    driver.filter,
                    driver.client_port.as_ptr(),
                    batch.as_mut_ptr().cast(),
                    len,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    &raw mut timeout,
                )
            };
            // STATUS_TIMEOUT is a success code: only STATUS_SUCCESS means delivered.
            if status == STATUS_SUCCESS {
                sender.delivered(&built);
            } else {
                sender.failed(&driver.ring, &built);
            }
        }
    }
    discard_all(&driver.ring, &mut consumer);
}
