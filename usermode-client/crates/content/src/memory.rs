//! A bounded memory of what was last seen of each file, so a later sample can be compared
//! with it ("this was a PDF and is now random bytes").

use std::collections::VecDeque;

use ahash::AHashMap as HashMap;

use crate::kind::Kind;

/// What is remembered of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// Kind of its head when last sampled.
    pub kind: Kind,
}

/// Path → facts, at most `capacity` entries; the oldest insertions are forgotten first.
#[derive(Debug)]
pub struct FileMemory {
    entries: HashMap<String, FileFacts>,
    order: VecDeque<String>,
    capacity: usize,
}

impl FileMemory {
    /// An empty memory holding at most `capacity` files.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// What is known of `path`.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<FileFacts> {
        self.entries.get(path).copied()
    }

    /// Remembers `facts` for `path`.
    pub fn insert(&mut self, path: &str, facts: FileFacts) {
        if self.entries.insert(path.to_owned(), facts).is_none() {
            self.order.push_back(path.to_owned());
        }
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        // Stale keys (removed or renamed paths) are dropped from the order lazily.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order.retain(|p| entries.contains_key(p));
        }
    }

    /// Forgets `path`, returning what was known.
    pub fn remove(&mut self, path: &str) -> Option<FileFacts> {
        self.entries.remove(path)
    }

    /// A rename: the facts follow the file.
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(facts) = self.remove(from) {
            self.insert(to, facts);
        }
    }

    /// Files remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_follows_renames_and_stays_bounded() {
        let mut memory = FileMemory::new(3);
        let pdf = FileFacts { kind: Kind::Pdf };
        memory.insert("/a.pdf", pdf);
        memory.rename("/a.pdf", "/b.pdf");
        assert_eq!(memory.get("/a.pdf"), None);
        assert_eq!(memory.get("/b.pdf"), Some(pdf));
        for i in 0..100 {
            memory.insert(&format!("/f{i}"), FileFacts { kind: Kind::Text });
            memory.remove(&format!("/f{}", i / 2));
        }
        assert!(memory.len() <= 3);
        assert!(memory.order.len() <= 7, "{}", memory.order.len());
        assert_eq!(memory.remove("/nothing"), None);
    }
}
