//! The real release `picket_driver.sys`, run in the emulated kernel: DriverEntry, the
//! communication port, the shared workload, unload, and the Verifier's checks.
#![cfg(target_os = "linux")]

mod common;

use common::{clean, harness};
use picket_kernel_emu::kernel::status;
use picket_kernel_emu::{workload, Harness};
use picket_protocol::{ClientHello, RecordKind};

fn started() -> Harness {
    let mut h = harness();
    let status = h
        .driver_entry()
        .unwrap_or_else(|v| panic!("DriverEntry: {v}"));
    assert_eq!(status, status::SUCCESS, "DriverEntry returned {status:#x}");
    h.settle(0).unwrap_or_else(|v| panic!("{v}"));
    h
}

fn unload_clean(mut h: Harness) -> Harness {
    let status = h.unload().unwrap_or_else(|v| panic!("unload: {v}"));
    assert_eq!(status, status::SUCCESS);
    clean(&h);
    h
}

#[test]
fn driver_entry_registers_the_filter_and_unload_frees_everything() {
    picket_kernel_emu::skip_without_image!();
    let mut h = started();
    let filter = h.emu.k.filter.clone().expect("registered");
    assert_eq!((filter.size, filter.version), (112, 0x0203));
    let majors: Vec<(u8, bool, bool)> = filter
        .operations
        .iter()
        .map(|o| (o.major, o.pre != 0, o.post != 0))
        .collect();
    assert!(
        majors.contains(&(0, false, true)),
        "post-create registered: {majors:?}"
    );
    assert!(
        filter.contexts.len() >= 2,
        "stream-handle and stream contexts: {:?}",
        filter.contexts
    );
    let port = h.emu.k.port.clone().expect("port created");
    assert_eq!(port.name, picket_protocol::PORT_NAME);
    assert_eq!(port.max_connections, 1);
    assert!(h.emu.threads.len() == 2, "the sender thread was created");
    assert!(!h.emu.k.pool.is_empty());
    h.settle(3).unwrap_or_else(|v| panic!("{v}"));
    unload_clean(h);
}

#[test]
fn missing_parameters_key_uses_defaults_and_closes_no_null_handle() {
    picket_kernel_emu::skip_without_image!();
    let mut h = Harness::new(None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        h.driver_entry().unwrap_or_else(|v| panic!("{v}")),
        status::SUCCESS
    );
    unload_clean(h);
}

#[test]
fn the_client_hello_is_answered_and_second_and_malformed_clients_are_refused() {
    picket_kernel_emu::skip_without_image!();
    let mut h = started();
    let mut bad = ClientHello::default().encode();
    bad[0] ^= 0xFF;
    assert_eq!(
        h.connect(&bad).unwrap_or_else(|v| panic!("{v}")),
        status::INVALID_PARAMETER
    );
    let wrong_major = ClientHello { major: 9, minor: 0 }.encode();
    assert_eq!(
        h.connect(&wrong_major).unwrap_or_else(|v| panic!("{v}")),
        status::REVISION_MISMATCH
    );
    assert_eq!(
        h.connect(&[]).unwrap_or_else(|v| panic!("{v}")),
        status::INVALID_PARAMETER
    );
    assert_eq!(
        h.connect_client().unwrap_or_else(|v| panic!("{v}")),
        status::SUCCESS
    );
    assert_eq!(
        h.connect_client().unwrap_or_else(|v| panic!("{v}")),
        status::CONNECTION_COUNT_LIMIT
    );
    h.settle(2).unwrap_or_else(|v| panic!("{v}"));
    let received = h.received().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        received.first().and_then(|r| r.kind),
        Some(RecordKind::DriverHello),
        "{received:?}"
    );
    unload_clean(h);
}

#[test]
fn the_workload_produces_exactly_the_expected_events_with_gap_free_sequence_numbers() {
    picket_kernel_emu::skip_without_image!();
    let w = workload::load().unwrap_or_else(|e| panic!("{e}"));
    let mut h = started();
    assert_eq!(
        h.connect_client().unwrap_or_else(|v| panic!("{v}")),
        status::SUCCESS
    );
    workload::run(&mut h, &w).unwrap_or_else(|v| panic!("workload: {v}"));
    h.settle(3).unwrap_or_else(|v| panic!("{v}"));
    let observed = workload::observed(&h).unwrap_or_else(|e| panic!("{e}"));
    if let Err(mismatch) = picket_integration_tests::workload::compare(
        &w,
        picket_integration_tests::workload::Platform::Windows,
        &observed,
        h.workload_pid,
    ) {
        panic!("{mismatch}");
    }
    let received = h.received().unwrap_or_else(|e| panic!("{e}"));
    for pair in received.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "sequence gap: {pair:?}");
    }
    assert!(
        received.iter().all(|r| r.kind != Some(RecordKind::Loss)),
        "{received:?}"
    );
    unload_clean(h);
}
