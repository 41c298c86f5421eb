//! The enrich step of process records: a start feeds the process cache (so the file events
//! that follow are attributed even after the process is gone), an exit marks its entry
//! ended.

use std::sync::Arc;

use picket_enrich::ProcessCache;
use picket_model::{ProcessActivity, ProcessEvent, ProcessInfo};
use picket_parse::ParsedProcess;

/// The enriched event for `parsed`, after updating `cache` with it.
pub fn enrich(parsed: ParsedProcess, cache: &mut ProcessCache) -> ProcessEvent {
    let process: Arc<ProcessInfo> = match parsed.activity {
        ProcessActivity::Start => cache.record_start(
            ProcessInfo {
                key: parsed.key,
                image: parsed.image,
                command_line: parsed.command_line,
                uid: parsed.uid,
                parent_pid: parsed.parent.map(|p| p.pid),
                parent_start_key: parsed.parent.map(|p| p.start_key).filter(|&key| key != 0),
                ..ProcessInfo::default()
            },
            parsed.time,
        ),
        ProcessActivity::Exit => cache.record_exit(parsed.key, parsed.time),
    };
    ProcessEvent {
        seq: parsed.seq,
        time: parsed.time,
        host: parsed.host,
        activity: parsed.activity,
        process,
        forked: parsed.forked,
        creating_pid: parsed.creating_pid,
        creating_tid: parsed.creating_tid,
        session_id: parsed.session_id,
        exit_status: parsed.exit_status,
        image_truncated: parsed.image_truncated,
        command_line_truncated: parsed.command_line_truncated,
    }
}
