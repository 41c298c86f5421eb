//! Ctrl-C and SIGTERM: a flag the pipeline checks between batches, so a stop always ends
//! with the output flushed and the summary printed.
//!
//! SIGHUP is deliberately not a stop signal: it asks the detection engine to reload its rule
//! directory (`picket-detect` installs that handler). `ctrlc`'s `termination` feature would
//! claim SIGHUP too, so SIGTERM is registered here by hand instead. SIGHUP itself gets a
//! harmless handler here as well, so that with the built-in rule pack (no directory to
//! reload) a SIGHUP from a service manager does not kill the sensor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Once};

static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
static INSTALL: Once = Once::new();
/// Set by SIGHUP; only its existence matters (it replaces the default action, terminate).
#[cfg(unix)]
static HANGUP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The stop flag, with the handlers installed on first use. A second Ctrl-C exits at once.
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
        #[cfg(unix)]
        if let Err(error) =
            signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&STOP))
        {
            tracing::warn!(%error, "cannot install the SIGTERM handler");
        }
        #[cfg(unix)]
        if let Err(error) =
            signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&HANGUP))
        {
            tracing::warn!(%error, "cannot install the SIGHUP handler");
        }
    });
    &STOP
}
