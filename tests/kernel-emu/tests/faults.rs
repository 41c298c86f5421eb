//! Fault injection: allocation failures, failing sends, a client that goes away and comes
//! back, failing name queries, unload with a client connected. Nothing may crash, hang,
//! leak or lose a record without reporting it.
#![cfg(target_os = "linux")]

mod common;

use common::{clean, harness, ok};
use picket_integration_tests::workload::Workload;
use picket_kernel_emu::kernel::status;
use picket_kernel_emu::workload;
use picket_protocol::RecordKind;

fn w() -> Workload {
    workload::load().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_nth_allocation_failing_leaks_nothing_and_loses_nothing_silently() {
    picket_kernel_emu::skip_without_image!();
    let w = w();
    for n in [2, 3, 5, 7, 11] {
        let mut h = harness();
        h.emu.k.inject.fail_every_nth_allocation = Some(n);
        let entry = ok(h.driver_entry());
        if entry == status::SUCCESS {
            if ok(h.connect_client()) == status::SUCCESS {
                ok(workload::run(&mut h, &w));
                ok(h.settle(3));
                h.accounted()
                    .unwrap_or_else(|e| panic!("every {n}th allocation failing: {e}"));
            }
            assert_eq!(ok(h.unload()), status::SUCCESS);
        } else {
            assert_eq!(
                entry,
                status::INSUFFICIENT_RESOURCES,
                "every {n}th: DriverEntry {entry:#x}"
            );
        }
        assert!(
            h.emu.k.counters.failed_allocations > 0,
            "every {n}th: nothing failed"
        );
        clean(&h);
    }
}

#[test]
fn failed_sends_are_reported_as_exact_loss_ranges() {
    picket_kernel_emu::skip_without_image!();
    let w = w();
    for failure in [status::TIMEOUT, status::PORT_DISCONNECTED] {
        let mut h = harness();
        assert_eq!(ok(h.driver_entry()), status::SUCCESS);
        assert_eq!(ok(h.connect_client()), status::SUCCESS);
        ok(h.settle(1));
        h.emu.k.inject.send_statuses.push_back(failure);
        ok(workload::run(&mut h, &w));
        ok(h.settle(3));
        let lost = h
            .accounted()
            .unwrap_or_else(|e| panic!("{failure:#x}: {e}"));
        assert!(lost > 0, "{failure:#x}: the failed batch is reported lost");
        assert!(h.emu.k.failed_sends >= 1);
        assert_eq!(ok(h.unload()), status::SUCCESS);
        clean(&h);
    }
}

#[test]
fn a_client_that_disconnects_and_reconnects_sees_the_gap_as_losses() {
    picket_kernel_emu::skip_without_image!();
    let w = w();
    let steps: Vec<_> = w
        .steps_for(picket_integration_tests::workload::Platform::Windows)
        .cloned()
        .collect();
    let (first, rest) = steps.split_at(3);
    let (middle, last) = rest.split_at(2);
    let mut h = harness();
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    for step in first {
        ok(workload::run_action(&mut h, &step.action));
    }
    ok(h.settle(2));
    ok(h.disconnect());
    for step in middle {
        ok(workload::run_action(&mut h, &step.action));
    }
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    for step in last {
        ok(workload::run_action(&mut h, &step.action));
    }
    ok(h.settle(3));
    let received = h.received().unwrap_or_else(|e| panic!("{e}"));
    let hellos = received
        .iter()
        .filter(|r| r.kind == Some(RecordKind::DriverHello))
        .count();
    assert_eq!(hellos, 2, "one driver hello per connection");
    let lost = h.accounted().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        lost > 0,
        "the records of the disconnected steps are reported lost"
    );
    assert_eq!(ok(h.unload()), status::SUCCESS);
    clean(&h);
}

#[test]
fn failing_name_queries_give_nameless_records_and_leak_nothing() {
    picket_kernel_emu::skip_without_image!();
    let w = w();
    let mut h = harness();
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    h.emu.k.inject.fail_name_queries = true;
    ok(workload::run(&mut h, &w));
    ok(h.settle(3));
    h.accounted().unwrap_or_else(|e| panic!("{e}"));
    let files = h
        .received()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .filter(|r| r.pid as u64 == h.workload_pid)
        .count();
    assert!(
        files
            >= w.expected_for(picket_integration_tests::workload::Platform::Windows)
                .count(),
        "records still sent without names: {files}"
    );
    assert!(
        workload::observed(&h)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty(),
        "no record carries a name"
    );
    assert_eq!(ok(h.unload()), status::SUCCESS);
    clean(&h);
}

#[test]
fn unload_with_a_client_connected_and_records_queued_disconnects_it_and_frees_everything() {
    picket_kernel_emu::skip_without_image!();
    let w = w();
    let mut h = harness();
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    ok(workload::run(&mut h, &w));
    // No settle: the records are still in the ring when unload starts.
    assert_eq!(ok(h.unload()), status::SUCCESS);
    assert!(
        h.emu.k.client.is_none(),
        "Filter Manager disconnected the client during FltUnregisterFilter"
    );
    clean(&h);
}

#[test]
fn unload_with_a_rename_in_flight_drains_its_post_callback_and_frees_its_context() {
    picket_kernel_emu::skip_without_image!();
    use picket_kernel_emu::fs::{self, FILE_OPEN, FILE_RENAME_INFORMATION};
    let w = w();
    let mut h = harness();
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    let first = w
        .steps_for(picket_integration_tests::workload::Platform::Windows)
        .take(2)
        .map(|s| s.action.clone())
        .collect::<Vec<_>>();
    for action in &first {
        ok(workload::run_action(&mut h, action));
    }
    let actor = h.actor;
    let fo = ok(fs::create(
        &mut h.emu,
        actor,
        "alpha.txt",
        FILE_OPEN,
        0,
        0x0011_0000,
    ))
    .expect("alpha.txt exists after the first steps");
    let target: Vec<u8> = "\\??\\C:\\picket-emu\\renamed.txt"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut buffer = vec![0u8; 0x14];
    buffer[0x10..0x14].copy_from_slice(&(target.len() as u32).to_le_bytes());
    buffer.extend_from_slice(&target);
    assert!(
        ok(fs::set_information_in_flight(
            &mut h.emu,
            actor,
            fo,
            FILE_RENAME_INFORMATION,
            &buffer
        )),
        "the rename's pre-operation asks for its post-operation"
    );
    assert_eq!(ok(h.unload()), status::SUCCESS);
    assert!(
        h.emu.k.fs.in_flight.is_empty(),
        "drained during FltUnregisterFilter"
    );
    clean(&h);
}
