//! How hard the sensor competes for the CPU: yield to the programs it watches while it keeps
//! up with the kernel's queue, and claim more once it falls behind.
//!
//! A sensor that outranks the writers it watches (auditd's boost, which picket copied at
//! nice −5) takes its CPU out of the writer first: on a machine whose cores are all busy,
//! each of its wake-ups preempts whatever runs, usually the writer that woke it. Measured
//! with two busy threads on two cores, the writer was slowed by 22 % at nice −5 against
//! 2–11 % at the writers' own priority in `SCHED_BATCH` (docs/COMPARISON.md §3, the twelfth
//! session). So the sensor runs at
//! the ordinary nice value, in the `SCHED_BATCH` class (its wake-ups wait for the
//! scheduler's next choice instead of preempting), and the queue absorbs its lag: picket's
//! group holds 131 072 events, about a second of a fast writer.
//!
//! A sensor that stays behind would lose events when the queue overflows, so its reads are
//! watched: a run of reads that each came back full (the queue held more than a read takes)
//! means it is falling behind, and every thread of the sensor is raised to the boost value
//! until reads find the queue empty again for a while. The kernel does not expose the
//! queue's depth; full reads are the sign it gives.

/// The nice values the sensor runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaceConfig {
    /// While it keeps up.
    pub nice: i32,
    /// While it is behind (lower is more CPU; below the current value needs
    /// `CAP_SYS_NICE`).
    pub behind_nice: i32,
    /// Whether [`start`] puts the sensor in the `SCHED_BATCH` class (off: the normal class,
    /// whose wake-ups may preempt the program that caused them).
    pub batch: bool,
}

impl Default for PaceConfig {
    fn default() -> Self {
        Self {
            nice: 0,
            behind_nice: -5,
            batch: true,
        }
    }
}

/// A change of pace that [`Backlog::after_read`] calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Reads came back full `FULL_READS_BEHIND` times in a row.
    FellBehind,
    /// Behind, reads found the queue empty `EMPTY_READS_CAUGHT_UP` times in a row.
    CaughtUp,
}

/// Full reads in a row that mean the sensor is falling behind: several, so that one burst
/// a read or two long (a writer's flush, a start-up backlog) does not raise it. A full read
/// takes roughly a thousand events, under 1 % of picket's queue.
pub const FULL_READS_BEHIND: u32 = 4;

/// Reads in a row that found the queue empty before a raised sensor yields again: enough
/// that a sensor just keeping up is not lowered and raised on every other read.
pub const EMPTY_READS_CAUGHT_UP: u32 = 16;

/// Whether the reader keeps up, judged from its reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    behind: bool,
    /// Reads in a row of the kind that would change `behind`.
    run: u32,
}

impl Backlog {
    /// Whether the reader is behind now.
    #[must_use]
    pub const fn behind(&self) -> bool {
        self.behind
    }

    /// Takes a read in: `drained` when it left the queue empty (it did not fill the
    /// buffer). Returns the change it completes, if any.
    pub fn after_read(&mut self, drained: bool) -> Option<Change> {
        // A read of the other kind breaks the run.
        if drained != self.behind {
            self.run = 0;
            return None;
        }
        self.run = self.run.saturating_add(1);
        let (needed, change) = if self.behind {
            (EMPTY_READS_CAUGHT_UP, Change::CaughtUp)
        } else {
            (FULL_READS_BEHIND, Change::FellBehind)
        };
        if self.run < needed {
            return None;
        }
        self.behind = !self.behind;
        self.run = 0;
        Some(change)
    }
}

/// Runs the calling thread (and the threads it starts from now on) at `config.nice`, in the
/// `SCHED_BATCH` class if `config.batch`: call it before the sensor starts its threads. Each
/// failure is returned for the caller to report; the sensor works without either.
///
/// # Errors
/// The `setpriority` error (a value below the current one without `CAP_SYS_NICE`), then the
/// `sched_setscheduler` one.
pub fn start(config: PaceConfig) -> Result<(), std::io::Error> {
    let nice = crate::sys::set_nice(config.nice);
    let class = if config.batch {
        crate::sys::batch_thread()
    } else {
        Ok(())
    };
    nice.and(class)
}

/// Follows a [`PaceConfig`] as reads come in: every thread of the process goes to
/// `behind_nice` when the reader falls behind and back to `nice` when it has caught up.
#[derive(Debug)]
pub(crate) struct Pacer {
    config: PaceConfig,
    backlog: Backlog,
    /// Times the reader fell behind.
    spells: u64,
    /// A change could not be made (said once).
    failed: bool,
}

impl Pacer {
    pub(crate) const fn new(config: PaceConfig) -> Self {
        Self {
            config,
            backlog: Backlog {
                behind: false,
                run: 0,
            },
            spells: 0,
            failed: false,
        }
    }

    /// Times the reader fell behind so far.
    pub(crate) const fn spells(&self) -> u64 {
        self.spells
    }

    /// Takes a read in (see [`Backlog::after_read`]) and makes the change it calls for.
    pub(crate) fn after_read(&mut self, drained: bool) {
        let Some(change) = self.backlog.after_read(drained) else {
            return;
        };
        let nice = match change {
            Change::FellBehind => {
                self.spells = self.spells.saturating_add(1);
                self.config.behind_nice
            }
            Change::CaughtUp => self.config.nice,
        };
        match crate::sys::set_process_nice(nice) {
            // Said at the default level: the machine is busy enough to put events at risk.
            Ok(()) if change == Change::FellBehind && self.spells == 1 => tracing::warn!(
                "the sensor is falling behind the kernel's queue: its threads run at nice \
                 {nice} until it catches up"
            ),
            Ok(()) => tracing::debug!(?change, nice, "sensor pace changed"),
            Err(error) if !self.failed => {
                self.failed = true;
                tracing::warn!(
                    %error,
                    "cannot set the sensor's nice value to {nice} ({change:?}): it keeps its \
                     priority and may fall behind writers on a busy machine"
                );
            }
            Err(_) => {}
        }
    }
}

impl Drop for Pacer {
    /// The first spell is said when it starts; how many there were is said at the end.
    fn drop(&mut self) {
        if self.spells > 0 {
            tracing::warn!(
                spells = self.spells,
                "the sensor fell behind the kernel's queue of events {} time(s) and was raised \
                 to nice {} each time",
                self.spells,
                self.config.behind_nice
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(backlog: &mut Backlog, reads: &[bool]) -> Vec<(usize, Change)> {
        reads
            .iter()
            .enumerate()
            .filter_map(|(i, &drained)| backlog.after_read(drained).map(|c| (i, c)))
            .collect()
    }

    #[test]
    fn a_run_of_full_reads_is_falling_behind() {
        let mut backlog = Backlog::default();
        let full = [false; FULL_READS_BEHIND as usize];
        assert_eq!(
            changes(&mut backlog, &full),
            [(FULL_READS_BEHIND as usize - 1, Change::FellBehind)]
        );
        assert!(backlog.behind());
        // Further full reads change nothing.
        assert_eq!(changes(&mut backlog, &full), []);
    }

    #[test]
    fn full_reads_broken_by_an_empty_queue_are_bursts() {
        let mut backlog = Backlog::default();
        let mut reads = vec![false; FULL_READS_BEHIND as usize - 1];
        reads.push(true);
        reads.extend(vec![false; FULL_READS_BEHIND as usize - 1]);
        assert_eq!(changes(&mut backlog, &reads), []);
        assert!(!backlog.behind());
        assert_eq!(changes(&mut backlog, &[false]), [(0, Change::FellBehind)]);
    }

    #[test]
    fn a_raised_reader_yields_after_a_run_of_empty_queues() {
        let mut backlog = Backlog::default();
        changes(&mut backlog, &[false; FULL_READS_BEHIND as usize]);
        let mut reads = vec![true; EMPTY_READS_CAUGHT_UP as usize - 1];
        // A full read in between: still behind, and the run starts again.
        reads.push(false);
        reads.extend(vec![true; EMPTY_READS_CAUGHT_UP as usize]);
        assert_eq!(
            changes(&mut backlog, &reads),
            [(reads.len() - 1, Change::CaughtUp)]
        );
        assert!(!backlog.behind());
        assert_eq!(changes(&mut backlog, &[true; 40]), []);
    }
}
