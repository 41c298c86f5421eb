//! Prints the emulated instruction counts of the release driver running the shared workload:
//! per callback, per workload operation, DriverEntry, and the sender thread per record.
//! These are guest x86-64 instructions executed inside `picket_driver.sys` (not time, not
//! the kernel's or Filter Manager's own work). Deterministic: the same image gives the same
//! numbers.
//!
//! `cargo run -p picket-kernel-emu --example instruction_counts`

#[cfg(target_os = "linux")]
fn main() -> Result<(), String> {
    use std::collections::BTreeMap;

    use picket_kernel_emu::process::NewProcess;
    use picket_kernel_emu::{workload, Harness};

    let w = workload::load()?;
    let mut h = Harness::new(Some(&[]))?;
    let entry = h.driver_entry().map_err(|v| v.to_string())?;
    if entry != 0 {
        return Err(format!("DriverEntry {entry:#x}"));
    }
    h.connect_client().map_err(|v| v.to_string())?;
    h.settle(1).map_err(|v| v.to_string())?;
    let sender_before = h.emu.threads.get(1).map_or(0, |t| t.instructions);
    let records_before = h.received()?.len();
    workload::run(&mut h, &w).map_err(|v| v.to_string())?;
    h.settle(3).map_err(|v| v.to_string())?;
    let sender = h.emu.threads.get(1).map_or(0, |t| t.instructions) - sender_before;
    let records = h.received()?.len() - records_before;
    // Process notifications after the workload (not in the sender figure above): three
    // starts (a command line, none, one longer than a record carries) and their exits.
    let long_line = format!("powershell.exe -EncodedCommand {}", "QQ".repeat(2048));
    let mut started = Vec::new();
    for (i, (image, command_line)) in [
        (
            r"\??\C:\Windows\System32\cmd.exe",
            Some(r"cmd.exe /c whoami"),
        ),
        (r"\SystemRoot\System32\smss.exe", None),
        (
            r"\??\C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            Some(long_line.as_str()),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let p = NewProcess {
            pid: 0x1400 + 4 * i as u64,
            start_key: 9001 + i as u64,
            session_id: 1,
            parent_pid: h.workload_pid,
            creating_pid: h.workload_pid,
            creating_tid: 0x2a4,
            image,
            command_line,
        };
        started.push(h.start_process(&p).map_err(|v| v.to_string())?.0);
    }
    for object in started {
        h.exit_process(object, 0).map_err(|v| v.to_string())?;
    }
    h.settle(3).map_err(|v| v.to_string())?;
    let unload_before = h.emu.instructions();
    h.unload().map_err(|v| v.to_string())?;
    let unload = h.emu.instructions() - unload_before;
    let problems = h.final_checks();
    if !problems.is_empty() {
        return Err(format!("{problems:?}"));
    }

    println!(
        "image: {} ({} bytes)",
        h.emu.image.path.display(),
        std::fs::metadata(&h.emu.image.path).map_or(0, |m| m.len())
    );
    println!();
    println!("| callback | calls | instructions min | mean | max | stack max (bytes) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let is_process = |op: &str| op.starts_with("process");
    let costs = &h.emu.k.fs.costs;
    let by_callback = samples(costs, |c| !is_process(&c.operation), |c| &c.callback);
    for (name, v) in &by_callback {
        let (n, min, mean, max, stack) = summary(v);
        println!("| `{name}` | {n} | {min} | {mean} | {max} | {stack} |");
    }
    println!();
    println!("| workload operation | callbacks | instructions (all callbacks of the step) |");
    println!("|---|---:|---:|");
    let mut by_op: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for c in costs.iter().filter(|c| !is_process(&c.operation)) {
        let e = by_op.entry(c.operation.as_str()).or_default();
        e.0 += 1;
        e.1 += c.instructions;
    }
    let mut steps: BTreeMap<&str, u64> = BTreeMap::new();
    for s in w.steps_for(picket_integration_tests::workload::Platform::Windows) {
        *steps.entry(s.action.op_name()).or_default() += 1;
    }
    for (op, (calls, instructions, _)) in &by_op {
        let per = steps.get(op).copied().unwrap_or(1).max(1);
        println!(
            "| {op} (per step, {per} step(s)) | {} | {} |",
            calls / per,
            instructions / per
        );
    }
    println!();
    println!(
        "| process notification | calls | instructions min | mean | max | stack max (bytes) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let by_notification = samples(costs, |c| is_process(&c.operation), |c| &c.operation);
    for (name, v) in &by_notification {
        let (n, min, mean, max, stack) = summary(v);
        println!("| {name} | {n} | {min} | {mean} | {max} | {stack} |");
    }
    println!();
    println!(
        "DriverEntry: {} instructions, {} bytes of stack",
        h.entry_instructions, h.entry_stack
    );
    println!("filter unload: {unload} instructions");
    println!(
        "sender thread: {sender} instructions for {records} records delivered = {} per record",
        sender / (records as u64).max(1)
    );
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn main() {}

/// `(instructions, stack bytes)` of the costs `keep` selects, grouped by `key`.
#[cfg(target_os = "linux")]
fn samples<'a>(
    costs: &'a [picket_kernel_emu::fs::CallbackCost],
    keep: impl Fn(&picket_kernel_emu::fs::CallbackCost) -> bool,
    key: impl Fn(&'a picket_kernel_emu::fs::CallbackCost) -> &'a String,
) -> std::collections::BTreeMap<&'a str, Vec<(u64, u64)>> {
    let mut out: std::collections::BTreeMap<&str, Vec<(u64, u64)>> =
        std::collections::BTreeMap::new();
    for c in costs.iter().filter(|c| keep(c)) {
        out.entry(key(c).as_str())
            .or_default()
            .push((c.instructions, c.stack));
    }
    out
}

/// Calls, then instructions min, mean and max, then the deepest stack, of `(instructions,
/// stack bytes)` samples.
#[cfg(target_os = "linux")]
fn summary(v: &[(u64, u64)]) -> (u64, u64, u64, u64, u64) {
    let n = v.len() as u64;
    let min = v.iter().map(|x| x.0).min().unwrap_or(0);
    let max = v.iter().map(|x| x.0).max().unwrap_or(0);
    let mean = v.iter().map(|x| x.0).sum::<u64>() / n.max(1);
    let stack = v.iter().map(|x| x.1).max().unwrap_or(0);
    (n, min, mean, max, stack)
}
