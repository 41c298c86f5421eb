//! Process start and exit records (issue 13) produced by the real release
//! `picket_driver.sys` in the emulated kernel: its `PsSetCreateProcessNotifyRoutineEx`
//! routine driven with process creations and exits as Windows makes them, the records the
//! client receives decoded by `picket-protocol` and compared exactly, the routine refused
//! without `FORCE_INTEGRITY`, removed first at unload, and allocation failures and failed
//! sends during notifications accounted for.
#![cfg(target_os = "linux")]

mod common;

use common::{clean, harness, ok};
use picket_kernel_emu::kernel::status;
use picket_kernel_emu::process::{NewProcess, ProcessEvent, ProcessRecord};
use picket_kernel_emu::verifier::Rule;
use picket_kernel_emu::{workload, Harness};
use picket_protocol::{DriverHello, RecordKind, MAX_NAME_BYTES};

fn connected() -> Harness {
    let mut h = harness();
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    ok(h.settle(1));
    h
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

const CMD: &str = r"\??\C:\Windows\System32\cmd.exe";
const CMD_LINE: &str = r#""C:\Windows\system32\cmd.exe" /c whoami"#;
const SMSS: &str = r"\SystemRoot\System32\smss.exe";
const POWERSHELL: &str = r"\??\C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";

/// cmd.exe started by the workload process (pid 0x2a0, start key 7002) in session 1.
fn cmd() -> NewProcess<'static> {
    NewProcess {
        pid: 0x1400,
        start_key: 9001,
        session_id: 1,
        parent_pid: 0x2a0,
        creating_pid: 0x2a0,
        creating_tid: 0x2a4,
        image: CMD,
        command_line: Some(CMD_LINE),
    }
}

/// smss.exe: no command line, a parent that already left the process table, created by
/// another process than its parent.
fn orphan() -> NewProcess<'static> {
    NewProcess {
        pid: 0x1404,
        start_key: 9002,
        session_id: 0,
        parent_pid: 0x9990,
        creating_pid: 0x1f0,
        creating_tid: 0x1f4,
        image: SMSS,
        command_line: None,
    }
}

fn start(
    p: &NewProcess<'_>,
    parent_start_key: u64,
    command_line: &[u8],
    cut: bool,
) -> ProcessEvent {
    ProcessEvent::Start {
        parent_pid: p.parent_pid as u32,
        parent_start_key,
        creating_pid: p.creating_pid as u32,
        creating_tid: p.creating_tid as u32,
        session_id: p.session_id,
        image: utf16(p.image),
        image_truncated: false,
        command_line: command_line.to_vec(),
        command_line_truncated: cut,
    }
}

#[test]
fn process_starts_and_exits_become_exact_records_and_unload_removes_the_routine_first() {
    picket_kernel_emu::skip_without_image!();
    let mut h = connected();
    assert!(
        h.emu.image.force_integrity(),
        "the release image is linked /INTEGRITYCHECK"
    );
    assert_eq!(
        h.emu.k.process_notify.len(),
        1,
        "DriverEntry registered the routine"
    );
    let caps = h.hello_capabilities().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        caps.is_some_and(|c| c & DriverHello::CAP_PROCESSES != 0),
        "hello capabilities {caps:?}"
    );

    // A command line longer than a record carries: cut at MAX_NAME_BYTES and flagged.
    let long_line = format!(
        r#""{POWERSHELL}" -EncodedCommand {}"#,
        "QQ".repeat(MAX_NAME_BYTES)
    );
    let long = NewProcess {
        pid: 0x1408,
        start_key: 9003,
        session_id: 1,
        parent_pid: 0x1400,
        creating_pid: 0x1400,
        creating_tid: 0x1410,
        image: POWERSHELL,
        command_line: Some(&long_line),
    };
    // The client's process is referenced while it is connected; nothing else.
    let before = h.emu.k.object_refs.clone();
    let refs_before = |object: &u64| before.get(object).copied().unwrap_or(0);
    let (cmd_object, creation) = ok(h.start_process(&cmd()));
    assert_eq!(
        creation,
        status::SUCCESS,
        "the driver never denies a creation"
    );
    let (orphan_object, creation) = ok(h.start_process(&orphan()));
    assert_eq!(creation, status::SUCCESS);
    let (long_object, creation) = ok(h.start_process(&long));
    assert_eq!(creation, status::SUCCESS);
    ok(h.exit_process(long_object, 0xC000_013A));
    ok(h.exit_process(orphan_object, 0));
    ok(h.exit_process(cmd_object, 1));
    ok(h.settle(3));

    let records = h.process_records().unwrap_or_else(|e| panic!("{e}"));
    let first = records.first().map_or(0, |r| r.seq);
    let long_bytes = utf16(&long_line);
    let expected = vec![
        (0x1400, 9001, start(&cmd(), 7002, &utf16(CMD_LINE), false)),
        (0x1404, 9002, start(&orphan(), 0, &[], false)),
        (
            0x1408,
            9003,
            start(&long, 9001, &long_bytes[..MAX_NAME_BYTES], true),
        ),
        (
            0x1408,
            9003,
            ProcessEvent::Exit {
                exit_status: 0xC000_013A,
            },
        ),
        (0x1404, 9002, ProcessEvent::Exit { exit_status: 0 }),
        (0x1400, 9001, ProcessEvent::Exit { exit_status: 1 }),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (pid, start_key, event))| ProcessRecord {
        seq: first + i as u64,
        pid,
        start_key,
        event,
    })
    .collect::<Vec<_>>();
    assert_eq!(records, expected);
    let received = h.received().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        received.iter().all(|r| r.kind != Some(RecordKind::Loss)),
        "{received:?}"
    );
    for pair in received.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "sequence gap: {pair:?}");
    }
    // Every lookup of a parent was paired with a dereference (checked again at the end).
    assert_eq!(h.emu.k.calls.get("PsLookupProcessByProcessId"), Some(&3));
    let held: Vec<_> = h
        .emu
        .k
        .object_refs
        .iter()
        .filter(|(object, refs)| {
            h.emu.k.processes.contains_key(object) && **refs != refs_before(object)
        })
        .collect();
    assert!(held.is_empty(), "process references held: {held:?}");

    // The callback ran at PASSIVE_LEVEL within the stack budget (final_checks holds it).
    let notifications = h
        .emu
        .k
        .fs
        .costs
        .iter()
        .filter(|c| c.operation.starts_with("process"))
        .count();
    assert_eq!(notifications, 6);

    assert_eq!(ok(h.unload()), status::SUCCESS);
    assert_eq!(h.emu.k.process_notify_removed, 1);
    assert!(h.emu.k.process_notify.is_empty());
    clean(&h);
}

#[test]
fn without_force_integrity_the_kernel_refuses_the_routine_and_files_still_work() {
    picket_kernel_emu::skip_without_image!();
    let w = workload::load().unwrap_or_else(|e| panic!("{e}"));
    let mut h = harness();
    // As if linked without /INTEGRITYCHECK.
    h.emu.image.dll_characteristics &= !0x80;
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    assert!(h.emu.k.process_notify.is_empty());
    assert_eq!(
        h.emu.k.calls.get("PsSetCreateProcessNotifyRoutineEx"),
        Some(&1)
    );
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    ok(h.settle(1));
    let caps = h.hello_capabilities().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        caps.is_some_and(|c| c & DriverHello::CAP_PROCESSES == 0),
        "the hello must not claim process records: {caps:?}"
    );
    let (object, _) = ok(h.start_process(&cmd()));
    ok(h.exit_process(object, 0));
    workload::run(&mut h, &w).unwrap_or_else(|v| panic!("workload: {v}"));
    ok(h.settle(3));
    assert!(h
        .process_records()
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
    let observed = workload::observed(&h).unwrap_or_else(|e| panic!("{e}"));
    if let Err(mismatch) = picket_integration_tests::workload::compare(
        &w,
        picket_integration_tests::workload::Platform::Windows,
        &observed,
        h.workload_pid,
    ) {
        panic!("{mismatch}");
    }
    assert_eq!(ok(h.unload()), status::SUCCESS);
    // Nothing registered, so nothing to remove: the driver does not try.
    assert_eq!(h.emu.k.process_notify_removed, 0);
    clean(&h);
}

#[test]
fn a_routine_still_registered_when_the_port_closes_is_caught() {
    picket_kernel_emu::skip_without_image!();
    // The Verifier checks itself: a kernel that ignores the removal leaves the routine
    // registered, and the unload-order check must stop the teardown at its next step.
    let mut h = connected();
    h.emu.k.inject.keep_process_notify = true;
    match h.unload() {
        Err(v) => {
            assert_eq!(v.rule, Rule::BadCall, "{v}");
            assert!(v.to_string().contains("FltCloseCommunicationPort"), "{v}");
        }
        Ok(s) => panic!("unload returned {s:#x} with the routine registered"),
    }
}

#[test]
fn notifications_without_a_client_are_counted_lost_not_stored() {
    picket_kernel_emu::skip_without_image!();
    let mut h = harness();
    assert_eq!(ok(h.driver_entry()), status::SUCCESS);
    let (object, _) = ok(h.start_process(&cmd()));
    ok(h.exit_process(object, 0));
    assert_eq!(ok(h.connect_client()), status::SUCCESS);
    ok(h.settle(3));
    assert!(h
        .process_records()
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty());
    // The start and the exit, reported as one exact loss range once a client is there.
    assert_eq!(h.accounted().unwrap_or_else(|e| panic!("{e}")), 2);
    let received = h.received().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        received.iter().any(|r| r.loss == Some((1, 2, 2))),
        "{received:?}"
    );
    assert_eq!(ok(h.unload()), status::SUCCESS);
    clean(&h);
}

#[test]
fn allocation_failures_and_a_failed_send_during_notifications_are_accounted() {
    picket_kernel_emu::skip_without_image!();
    let w = workload::load().unwrap_or_else(|e| panic!("{e}"));
    let steps: Vec<_> = w
        .steps_for(picket_integration_tests::workload::Platform::Windows)
        .cloned()
        .collect();
    for n in [1, 2, 3, 5] {
        let mut h = connected();
        // From here on every nth pool or context allocation fails, while processes start
        // and exit between the workload's file operations.
        h.emu.k.inject.fail_every_nth_allocation = Some(n);
        let mut objects = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let p = NewProcess {
                pid: 0x2000 + 4 * i as u64,
                start_key: 20_000 + i as u64,
                ..cmd()
            };
            objects.push(ok(h.start_process(&p)).0);
            ok(workload::run_action(&mut h, &step.action));
        }
        for object in objects {
            ok(h.exit_process(object, 0));
        }
        ok(h.settle(3));
        let lost = h
            .accounted()
            .unwrap_or_else(|e| panic!("every {n}th allocation failing: {e}"));
        // The notify path allocates nothing: every process record arrives.
        let records = h.process_records().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(records.len(), 2 * steps.len(), "every {n}th: {lost} lost");
        assert!(h.emu.k.counters.failed_allocations > 0, "every {n}th");
        assert_eq!(ok(h.unload()), status::SUCCESS);
        clean(&h);
    }

    // A send that times out while it carries process records: they are reported lost in an
    // exact range, nothing crashes, the next ones arrive.
    let mut h = connected();
    let (first, _) = ok(h.start_process(&cmd()));
    h.emu.k.inject.send_statuses.push_back(status::TIMEOUT);
    ok(h.settle(1));
    ok(h.exit_process(first, 0));
    ok(h.settle(3));
    let lost = h.accounted().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lost, 1, "the start record's batch is reported lost");
    let records = h.process_records().unwrap_or_else(|e| panic!("{e}"));
    let exit_seq = records.first().map_or(0, |r| r.seq);
    let received = h.received().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        received
            .iter()
            .any(|r| r.loss == Some((exit_seq - 1, exit_seq - 1, 1))),
        "the start's sequence number is the lost one: {received:?}"
    );
    assert_eq!(
        records.iter().map(|r| &r.event).collect::<Vec<_>>(),
        vec![&ProcessEvent::Exit { exit_status: 0 }],
        "{records:?}"
    );
    assert_eq!(h.emu.k.failed_sends, 1);
    assert_eq!(ok(h.unload()), status::SUCCESS);
    clean(&h);
}
