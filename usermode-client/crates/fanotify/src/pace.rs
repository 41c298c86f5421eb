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
//! watched: when reads keep coming back full (the queue held more than a read takes), the
//! sensor asks the kernel how many events are queued (the group's `FIONREAD`), and once a
//! quarter of the queue is waiting it is falling behind: every thread of the sensor is
//! raised to the boost value until reads find the queue empty again for a while.
//!
//! The trigger used to be 4 full reads in a row, a stand-in for the depth (about 4 000
//! events read, 3 % of the queue): with one writer on a busy machine it fired in nearly
//! every run of the overhead benchmark, though in a run probed for it the queue never held
//! 2 000 events. A sensor that keeps up still meets short runs of full reads whenever the
//! scheduler leaves it waiting a few milliseconds, and each spell at nice −5 took its CPU
//! out of that writer (docs/COMPARISON.md §3, the fourteenth session). The depth tells the
//! two apart.

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
    /// Queued events that mean the sensor is falling behind; `None`: [`behind_events`] of
    /// the group's queue.
    pub behind_events: Option<u32>,
}

impl Default for PaceConfig {
    fn default() -> Self {
        Self {
            nice: 0,
            behind_nice: -5,
            batch: true,
            behind_events: None,
        }
    }
}

/// A change of pace that [`Backlog::after_read`] calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The queue held the backlog's threshold of events.
    FellBehind,
    /// Behind, reads found the queue empty `EMPTY_READS_CAUGHT_UP` times in a row.
    CaughtUp,
}

/// The default threshold of a group whose queue holds `queue_limit` events: a quarter of it
/// (32 768 events for picket's queue of 131 072). A sensor that keeps up with a writer on a
/// busy machine leaves a few thousand queued between its turns; three quarters of the queue
/// are left for the raised sensor to catch up with eight writers at once (docs/COMPARISON.md
/// §3). At least two reads' worth, for a group left with a small queue.
#[must_use]
pub const fn behind_events(queue_limit: u32) -> u32 {
    let quarter = queue_limit / 4;
    if quarter < MIN_BEHIND_EVENTS {
        MIN_BEHIND_EVENTS
    } else {
        quarter
    }
}

/// About two full reads.
const MIN_BEHIND_EVENTS: u32 = 2_048;

/// Full reads in a row before the depth is asked for: one full read is an ordinary burst, and
/// the kernel walks its whole queue to answer.
pub const FULL_READS_BEFORE_ASKING: u32 = 2;

/// Reads in a row that found the queue empty before a raised sensor yields again: enough
/// that a sensor just keeping up is not lowered and raised on every other read.
pub const EMPTY_READS_CAUGHT_UP: u32 = 16;

/// Whether the reader keeps up, judged from its reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    behind: bool,
    /// Queued events that mean falling behind.
    behind_events: u32,
    /// Keeping up: full reads in a row.
    full_reads: u32,
    /// Keeping up: events read since a read last found the queue empty, the depth's
    /// stand-in when the kernel does not tell it.
    unbroken: u64,
    /// Behind: reads in a row that found the queue empty.
    empty_reads: u32,
}

impl Backlog {
    /// A reader that keeps up, to be judged behind when `behind_events` events are queued
    /// (0: at the first depth asked for).
    #[must_use]
    pub const fn new(behind_events: u32) -> Self {
        Self {
            behind: false,
            behind_events,
            full_reads: 0,
            unbroken: 0,
            empty_reads: 0,
        }
    }

    /// Whether the reader is behind now.
    #[must_use]
    pub const fn behind(&self) -> bool {
        self.behind
    }

    /// Whether [`Backlog::after_read`] wants the queue's depth for a read: a full one while
    /// keeping up, once [`FULL_READS_BEFORE_ASKING`] have come in a row.
    #[must_use]
    pub const fn wants_depth(&self, drained: bool) -> bool {
        !self.behind && !drained && self.full_reads.saturating_add(1) >= FULL_READS_BEFORE_ASKING
    }

    /// Takes a read of `events` events in: `drained` when it left the queue empty (it did
    /// not fill the buffer), `depth` the events still queued if the kernel told (asked for
    /// when [`Backlog::wants_depth`] says so). Returns the change it completes, if any.
    pub fn after_read(&mut self, drained: bool, events: u32, depth: Option<u32>) -> Option<Change> {
        if self.behind {
            if !drained {
                // A full read in between: still behind, and the run starts again.
                self.empty_reads = 0;
                return None;
            }
            self.empty_reads = self.empty_reads.saturating_add(1);
            if self.empty_reads < EMPTY_READS_CAUGHT_UP {
                return None;
            }
            self.behind = false;
            return Some(Change::CaughtUp);
        }
        if drained {
            self.full_reads = 0;
            self.unbroken = 0;
            return None;
        }
        self.full_reads = self.full_reads.saturating_add(1);
        self.unbroken = self.unbroken.saturating_add(u64::from(events));
        if self.full_reads < FULL_READS_BEFORE_ASKING {
            return None;
        }
        let queued = depth.map_or(self.unbroken, u64::from);
        if queued < u64::from(self.behind_events) {
            return None;
        }
        self.behind = true;
        self.empty_reads = 0;
        self.full_reads = 0;
        self.unbroken = 0;
        Some(Change::FellBehind)
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
    /// The depth could not be asked for (said once).
    depth_failed: bool,
}

impl Pacer {
    /// Follows `config` for a group whose queue holds `queue_limit` events.
    pub(crate) const fn new(config: PaceConfig, queue_limit: u32) -> Self {
        let threshold = match config.behind_events {
            Some(events) => events,
            None => behind_events(queue_limit),
        };
        Self {
            config,
            backlog: Backlog::new(threshold),
            spells: 0,
            failed: false,
            depth_failed: false,
        }
    }

    /// Times the reader fell behind so far.
    pub(crate) const fn spells(&self) -> u64 {
        self.spells
    }

    /// Whether the next [`Pacer::after_read`] wants the queue's depth (see
    /// [`Backlog::wants_depth`]).
    pub(crate) const fn wants_depth(&self, drained: bool) -> bool {
        self.backlog.wants_depth(drained)
    }

    /// Takes a read in (see [`Backlog::after_read`]; a `depth` the kernel would not give is
    /// said once and replaced by the events read since the queue was last empty) and makes
    /// the change it calls for.
    pub(crate) fn after_read(
        &mut self,
        drained: bool,
        events: u32,
        depth: Option<std::io::Result<u32>>,
    ) {
        let depth = match depth {
            Some(Ok(depth)) => Some(depth),
            Some(Err(error)) => {
                if !self.depth_failed {
                    self.depth_failed = true;
                    tracing::warn!(
                        %error,
                        "the kernel does not say how many events are queued (FIONREAD): the \
                         sensor judges its backlog by the events it read since the queue was \
                         last empty"
                    );
                }
                None
            }
            None => None,
        };
        let Some(change) = self.backlog.after_read(drained, events, depth) else {
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
                queued = depth,
                "the sensor is falling behind the kernel's queue: its threads run at nice \
                 {nice} until it catches up"
            ),
            Ok(()) => tracing::debug!(?change, nice, queued = depth, "sensor pace changed"),
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

    /// Reads of a thousand events each (a full read holds about that many).
    const READ: u32 = 1_000;

    /// Feeds reads (`drained`, queued events after it) and returns the changes by index,
    /// checking that the depth is given exactly when asked for.
    fn changes(backlog: &mut Backlog, reads: &[(bool, u32)]) -> Vec<(usize, Change)> {
        reads
            .iter()
            .enumerate()
            .filter_map(|(i, &(drained, queued))| {
                let events = if drained { READ / 4 } else { READ };
                let depth = backlog.wants_depth(drained).then_some(queued);
                backlog.after_read(drained, events, depth).map(|c| (i, c))
            })
            .collect()
    }

    fn full(queued: u32) -> (bool, u32) {
        (false, queued)
    }

    const EMPTY: (bool, u32) = (true, 0);

    #[test]
    fn the_default_threshold_is_a_quarter_of_the_queue_and_at_least_two_reads() {
        assert_eq!(behind_events(131_072), 32_768);
        assert_eq!(behind_events(1_048_576), 262_144);
        assert_eq!(behind_events(16_384), 4_096);
        assert_eq!(behind_events(4_000), 2_048);
        assert_eq!(behind_events(0), 2_048);
    }

    #[test]
    fn a_queue_that_holds_the_threshold_is_falling_behind() {
        let mut backlog = Backlog::new(8 * READ);
        let reads = [full(2 * READ), full(5 * READ), full(8 * READ)];
        assert_eq!(changes(&mut backlog, &reads), [(2, Change::FellBehind)]);
        assert!(backlog.behind());
        // Further full reads change nothing, and do not ask for the depth.
        assert!(!backlog.wants_depth(false));
        assert_eq!(changes(&mut backlog, &[full(100 * READ); 8]), []);
    }

    #[test]
    fn a_reader_that_keeps_up_with_a_steady_backlog_is_not_behind() {
        // Full reads for as long as the writer runs, the queue never deeper than a few
        // reads: the former trigger (4 full reads in a row) raised this reader.
        let mut backlog = Backlog::new(8 * READ);
        assert_eq!(changes(&mut backlog, &[full(3 * READ); 500]), []);
        assert!(!backlog.behind());
    }

    #[test]
    fn one_full_read_is_a_burst_and_does_not_ask_for_the_depth() {
        let backlog = Backlog::new(8 * READ);
        assert!(!backlog.wants_depth(false));
        assert!(!backlog.wants_depth(true));
        let mut backlog = Backlog::new(0);
        // Even a zero threshold waits for the second full read in a row.
        assert_eq!(changes(&mut backlog, &[full(READ), EMPTY, full(READ)]), []);
        assert_eq!(changes(&mut backlog, &[full(0)]), [(0, Change::FellBehind)]);
    }

    #[test]
    fn without_the_depth_the_events_read_stand_in_for_it() {
        let mut backlog = Backlog::new(8 * READ);
        for _ in 0..7 {
            assert_eq!(backlog.after_read(false, READ, None), None);
        }
        assert_eq!(
            backlog.after_read(false, READ, None),
            Some(Change::FellBehind)
        );
        // An empty queue breaks the run.
        let mut backlog = Backlog::new(8 * READ);
        for _ in 0..7 {
            assert_eq!(backlog.after_read(false, READ, None), None);
        }
        assert_eq!(backlog.after_read(true, 10, None), None);
        assert_eq!(backlog.after_read(false, READ, None), None);
    }

    #[test]
    fn a_raised_reader_yields_after_a_run_of_empty_queues() {
        let mut backlog = Backlog::new(8 * READ);
        changes(&mut backlog, &[full(8 * READ); 2]);
        assert!(backlog.behind());
        let mut reads = vec![EMPTY; EMPTY_READS_CAUGHT_UP as usize - 1];
        // A full read in between: still behind, and the run starts again.
        reads.push(full(READ));
        reads.extend(vec![EMPTY; EMPTY_READS_CAUGHT_UP as usize]);
        assert_eq!(
            changes(&mut backlog, &reads),
            [(reads.len() - 1, Change::CaughtUp)]
        );
        assert!(!backlog.behind());
        assert_eq!(changes(&mut backlog, &[EMPTY; 40]), []);
        // Judged afresh.
        assert_eq!(changes(&mut backlog, &[full(8 * READ)]), []);
        assert_eq!(
            changes(&mut backlog, &[full(8 * READ)]),
            [(0, Change::FellBehind)]
        );
    }
}
