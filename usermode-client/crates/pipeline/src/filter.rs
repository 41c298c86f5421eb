//! Which events are kept: `--path-prefix`, `--pid`, `--image`.

use picket_model::{FileEvent, Host};

/// An event is kept when it passes every non-empty criterion.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    prefixes: Vec<String>,
    pids: Vec<u32>,
    images: Vec<String>,
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn ends_with_ci(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text
            .get(text.len() - suffix.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

impl EventFilter {
    /// Keeps events whose path (or rename/link source) starts with one of `prefixes`
    /// (case-insensitively for Windows events), whose pid is one of `pids`, and whose image
    /// ends with one of `images` (case-insensitively). An empty list does not filter.
    #[must_use]
    pub const fn new(prefixes: Vec<String>, pids: Vec<u32>, images: Vec<String>) -> Self {
        Self {
            prefixes,
            pids,
            images,
        }
    }

    /// Whether nothing is filtered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.pids.is_empty() && self.images.is_empty()
    }

    /// Whether `event` is kept.
    #[must_use]
    pub fn keep(&self, event: &FileEvent) -> bool {
        if !self.pids.is_empty() && !self.pids.contains(&event.process.key.pid) {
            return false;
        }
        if !self.images.is_empty() {
            let Some(image) = event.process.image.as_deref() else {
                return false;
            };
            if !self.images.iter().any(|s| ends_with_ci(image, s)) {
                return false;
            }
        }
        if !self.prefixes.is_empty() {
            let matches = |path: &str| {
                self.prefixes.iter().any(|p| match event.host {
                    Host::Windows => starts_with_ci(path, p),
                    Host::Linux => path.starts_with(p.as_str()),
                })
            };
            let source = event.source.as_ref().is_some_and(|s| matches(s.path()));
            if !matches(event.target.path()) && !source {
                return false;
            }
        }
        true
    }
}
