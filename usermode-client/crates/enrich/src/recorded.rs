//! The process table a capture recorded, as an inspector for replay.

use std::cell::RefCell;
use std::collections::VecDeque;

use ahash::AHashMap as HashMap;
use std::rc::Rc;

use picket_model::{ProcessInfo, ProcessKey, Timestamp};

use crate::ProcessInspector;

#[derive(Debug, Default)]
struct Table {
    by_key: HashMap<ProcessKey, ProcessInfo>,
    order: VecDeque<ProcessKey>,
}

/// Processes described by a capture's process frames. Cloning shares the table: the replay
/// source fills it, the cache reads it. The replaying machine's own processes are never
/// consulted — they are not the ones that were recorded.
#[derive(Clone, Debug, Default)]
pub struct RecordedProcesses {
    table: Rc<RefCell<Table>>,
    capacity: usize,
}

impl RecordedProcesses {
    /// An empty table holding at most `capacity` processes (the oldest go first).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            table: Rc::default(),
            capacity: capacity.max(1),
        }
    }

    /// Adds (or replaces) a process.
    pub fn insert(&self, info: ProcessInfo) {
        let mut table = self.table.borrow_mut();
        if table.by_key.insert(info.key, info.clone()).is_none() {
            table.order.push_back(info.key);
        }
        while table.order.len() > self.capacity {
            if let Some(old) = table.order.pop_front() {
                table.by_key.remove(&old);
            }
        }
    }

    /// Processes held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.borrow().by_key.len()
    }

    /// Whether the table is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ProcessInspector for RecordedProcesses {
    fn inspect(&mut self, key: ProcessKey, _seen_at: Timestamp) -> ProcessInfo {
        self.table
            .borrow()
            .by_key
            .get(&key)
            .cloned()
            .unwrap_or(ProcessInfo {
                key,
                ..ProcessInfo::default()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_by_exact_key_and_stays_bounded() {
        let mut table = RecordedProcesses::new(2);
        let info = |pid, start_key, image: &str| ProcessInfo {
            key: ProcessKey { pid, start_key },
            image: Some(image.into()),
            ..ProcessInfo::default()
        };
        table.insert(info(1, 1, "a"));
        table.insert(info(1, 2, "b"));
        let got = table.inspect(
            ProcessKey {
                pid: 1,
                start_key: 2,
            },
            Timestamp(0),
        );
        assert_eq!(got.image.as_deref(), Some("b"));
        let none = table.inspect(
            ProcessKey {
                pid: 1,
                start_key: 3,
            },
            Timestamp(0),
        );
        assert_eq!(none.image, None);
        table.insert(info(2, 1, "c"));
        assert_eq!(table.len(), 2);
    }
}
