//! Process lifecycle on Linux from the netlink process connector (`NETLINK_CONNECTOR`,
//! `CN_IDX_PROC`): fork, exec, uid changes and exit, with parent pids, straight from the
//! kernel — see [`tracker`] for how an `exec`'s image and command line are read before the
//! program can exit, and [`table`] for the records decided.

mod parse;
mod sys;
pub mod table;
pub mod tracker;

pub use parse::{parse_datagram, ProcEvent};
pub use table::{Decision, ProcessTable, Start, TableCounters};
pub use tracker::{Observed, Snapshot, Tracker, TrackerCounters};
