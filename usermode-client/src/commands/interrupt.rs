//! Ctrl-C (and SIGTERM): a flag the pipeline checks between batches, so a stop always ends
//! with the output flushed and the summary printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static STOP: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// The stop flag, with the handler installed on first use. A second Ctrl-C exits at once.
pub fn flag() -> &'static AtomicBool {
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("picket: interrupted twice, exiting now");
                std::process::exit(130);
            }
        });
        if let Err(error) = installed {
            tracing::warn!(%error, "cannot install the Ctrl-C handler");
        }
    });
    &STOP
}
