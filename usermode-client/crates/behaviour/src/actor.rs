//! Who is behind a behaviour. A pid alone is not enough: a shell loop runs one short-lived
//! process per file (`for f in *; do openssl enc …; rm "$f"; done`), and each of them stays
//! under every threshold. So every event counts for several actors at once, from the most
//! specific to the broadest:
//!
//! 1. the process itself (pid and start key);
//! 2. its parent, when known (the shell or script that runs the loop): the lineage;
//! 3. its account (uid or user name), when known;
//! 4. the whole host, with a higher threshold: a process that was gone before it could be
//!    looked at has no parent and no account, and must still count somewhere.
//!
//! Parents are learned from every event that carries them and remembered per pid (bounded),
//! so a process that has exited by the time of a later event keeps its lineage.

use std::collections::VecDeque;
use std::sync::Arc;

use ahash::AHashMap as HashMap;

use picket_model::ProcessInfo;

/// One actor events are grouped under.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActorKey {
    /// One process: (pid, start key; 0 when unknown).
    Process(u32, u64),
    /// Every child of one parent process.
    Lineage(u32),
    /// Every process of one account (shared: actors are cloned for every event).
    Account(Arc<str>),
    /// Everything on the host.
    Host,
}

impl ActorKey {
    /// `process 42`, `children of 17`, `user ann`, `host`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Process(pid, _) => format!("process {pid}"),
            Self::Lineage(pid) => format!("children of process {pid}"),
            Self::Account(user) => format!("user {user}"),
            Self::Host => "host".to_owned(),
        }
    }

    /// The actor's field name and value in an alert's group.
    #[must_use]
    pub fn group_field(&self) -> (String, String) {
        match self {
            Self::Process(pid, _) => ("ProcessId".into(), pid.to_string()),
            Self::Lineage(pid) => ("ParentProcessId".into(), pid.to_string()),
            Self::Account(user) => ("User".into(), user.to_string()),
            Self::Host => ("Host".into(), "*".into()),
        }
    }
}

/// What was learned about a pid from earlier events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Known {
    parent: Option<u32>,
    account: Option<Arc<str>>,
}

/// Remembers parents and accounts per pid, at most `capacity` pids.
#[derive(Debug)]
pub struct Lineage {
    known: HashMap<u32, Known>,
    order: VecDeque<u32>,
    capacity: usize,
    /// Bumped whenever `known` changes.
    generation: u64,
    /// The last answer: a process's events come in runs, and the same `Arc` (held, so its
    /// address is not reused) with nothing learned since gets the same actors.
    last: Option<(Arc<ProcessInfo>, u64, Actors)>,
}

impl Default for Lineage {
    fn default() -> Self {
        Self::new(16_384)
    }
}

/// The account of a process: user name, else uid.
fn account(process: &ProcessInfo) -> Option<Arc<str>> {
    process
        .user
        .as_deref()
        .map(Arc::from)
        .or_else(|| process.uid.map(|uid| Arc::from(uid.to_string())))
}

impl Lineage {
    /// An empty lineage map bounded to `capacity` pids.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            known: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            generation: 0,
            last: None,
        }
    }

    /// Learns from `process`, as [`Lineage::actors`] does, without a copy of its actors:
    /// most events need none (a copy holds up to four keys, an account's shared name among
    /// them).
    pub fn learn_from(&mut self, process: &Arc<ProcessInfo>) {
        if let Some((last, generation, _)) = &self.last {
            if Arc::ptr_eq(last, process) && *generation == self.generation {
                return;
            }
        }
        let actors = self.learn(process);
        self.last = Some((Arc::clone(process), self.generation, actors));
    }

    /// Learns from `process` and returns the actors its event counts for.
    pub fn actors(&mut self, process: &Arc<ProcessInfo>) -> Actors {
        if let Some((last, generation, actors)) = &self.last {
            if Arc::ptr_eq(last, process) && *generation == self.generation {
                return actors.clone();
            }
        }
        let actors = self.learn(process);
        self.last = Some((Arc::clone(process), self.generation, actors.clone()));
        actors
    }

    fn learn(&mut self, process: &ProcessInfo) -> Actors {
        let pid = process.key.pid;
        let learned = Known {
            parent: process.parent_pid.filter(|&p| p > 1),
            account: account(process),
        };
        let known = if learned.parent.is_some() || learned.account.is_some() {
            if !self.known.contains_key(&pid) {
                self.order.push_back(pid);
                self.generation = self.generation.wrapping_add(1);
            }
            let entry = self.known.entry(pid).or_default();
            if learned.parent.is_some() && entry.parent != learned.parent {
                entry.parent = learned.parent;
                self.generation = self.generation.wrapping_add(1);
            }
            if learned.account.is_some() && entry.account != learned.account {
                entry.account.clone_from(&learned.account);
                self.generation = self.generation.wrapping_add(1);
            }
            let known = entry.clone();
            while self.known.len() > self.capacity {
                let Some(oldest) = self.order.pop_front() else {
                    break;
                };
                self.known.remove(&oldest);
                self.generation = self.generation.wrapping_add(1);
            }
            known
        } else {
            self.known.get(&pid).cloned().unwrap_or_default()
        };
        // The parent's account stands in for a child that was gone before it was looked at.
        let account = known.account.or_else(|| {
            known
                .parent
                .and_then(|p| self.known.get(&p))
                .and_then(|k| k.account.clone())
        });
        Actors {
            pid,
            parent: known.parent,
            keys: [
                Some(ActorKey::Process(pid, process.key.start_key)),
                known.parent.map(ActorKey::Lineage),
                account.map(ActorKey::Account),
                Some(ActorKey::Host),
            ],
        }
    }
}

/// The actors one event counts for, most specific first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actors {
    /// The acting pid.
    pub pid: u32,
    /// Its parent, when known.
    pub parent: Option<u32>,
    keys: [Option<ActorKey>; 4],
}

impl Actors {
    /// The keys, most specific first.
    pub fn keys(&self) -> impl Iterator<Item = &ActorKey> {
        self.keys.iter().flatten()
    }

    /// Neither a parent nor an account is known: the process was gone before it could be
    /// looked at.
    #[must_use]
    pub fn unattributed(&self) -> bool {
        self.keys()
            .all(|k| matches!(k, ActorKey::Process(..) | ActorKey::Host))
    }

    /// Whether two events may be the same actor's: they share an actor narrower than the
    /// host (same process, same parent, or same account), one is the other's parent, or one
    /// of them is unattributed (nothing says they are not).
    #[must_use]
    pub fn related(&self, other: &Self) -> bool {
        self.unattributed()
            || other.unattributed()
            || self
                .keys()
                .filter(|k| **k != ActorKey::Host)
                .any(|k| other.keys().any(|o| o == k))
            || self.parent.is_some_and(|p| p == other.pid)
            || other.parent.is_some_and(|p| p == self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_model::ProcessKey;

    fn process(pid: u32, parent: Option<u32>, user: Option<&str>) -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            key: ProcessKey { pid, start_key: 0 },
            user: user.map(str::to_owned),
            parent_pid: parent,
            ..ProcessInfo::default()
        })
    }

    #[test]
    fn a_kept_answer_follows_what_is_learned_later() {
        let mut lineage = Lineage::default();
        let child = process(101, Some(100), None);
        let before = lineage.actors(&child);
        assert!(!before.keys().any(|k| matches!(k, ActorKey::Account(_))));
        assert_eq!(lineage.actors(&child), before, "same process, nothing new");
        // The parent's account becomes known: the child's answer must change with it.
        lineage.actors(&process(100, Some(1), Some("ann")));
        let after = lineage.actors(&child);
        assert!(after.keys().any(|k| *k == ActorKey::Account("ann".into())));
    }

    #[test]
    fn short_lived_children_share_their_parent_and_account() {
        let mut lineage = Lineage::default();
        let shell = lineage.actors(&process(100, Some(1), Some("ann")));
        assert_eq!(
            shell.keys().cloned().collect::<Vec<_>>(),
            vec![
                ActorKey::Process(100, 0),
                ActorKey::Account("ann".into()),
                ActorKey::Host
            ],
            "init is nobody's lineage"
        );
        let child = lineage.actors(&process(101, Some(100), None));
        assert!(child.keys().any(|k| *k == ActorKey::Lineage(100)));
        assert!(
            child.keys().any(|k| *k == ActorKey::Account("ann".into())),
            "the parent's account stands in"
        );
        // A child already gone: only the host, unless learned before.
        let gone = lineage.actors(&process(102, None, None));
        assert_eq!(
            gone.keys().cloned().collect::<Vec<_>>(),
            vec![ActorKey::Process(102, 0), ActorKey::Host]
        );
        let again = lineage.actors(&process(101, None, None));
        assert!(
            again.keys().any(|k| *k == ActorKey::Lineage(100)),
            "remembered"
        );
        assert!(child.related(&again));
        assert!(shell.related(&child), "parent and child");
        assert!(gone.unattributed() && !child.unattributed());
        assert!(gone.related(&child), "nothing says they differ");
        let other = lineage.actors(&process(200, Some(150), Some("bob")));
        assert!(!other.related(&child), "different parent and account");
    }

    #[test]
    fn the_map_stays_bounded() {
        let mut lineage = Lineage::new(10);
        for pid in 2..1000 {
            lineage.actors(&process(pid, Some(pid - 1), Some("u")));
        }
        assert!(lineage.known.len() <= 10);
    }
}
