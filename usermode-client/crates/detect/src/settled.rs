//! Rules whose answer is settled by the acting process and the kind of event: they read only
//! the process's fields (`Image`, `CommandLine`, `User`, its ids and its parent's), the
//! `Operation`, `IsDirectory` and `Host`. For those, the answer for one (process, operation,
//! directory or not, host) is the answer for the next event with the same four, and it is
//! remembered instead of evaluated again.
//!
//! The ransomware pack's rewrite ingredient (`Operation: close_modified` and not a
//! directory) is one: every modified file's close is a candidate, a busy writer closes
//! thousands, and the evaluation (two selections, two field look-ups by name, a
//! case-insensitive comparison) cost about 700 instructions each time.
//!
//! A process is the same only as the same `Arc`: the pipeline shares one `Arc<ProcessInfo>`
//! between a process's events, and its contents never change (new facts make a new one).
//! The remembered answer holds the `Arc`, so its address cannot be taken by another process
//! while it is remembered.

use std::sync::Arc;

use picket_model::{Field, FileEvent, Host, Operation, ProcessInfo};
use rsigma_parser::{Detection, Modifier, SigmaRule};

/// Whether `field`'s value is the acting process's (or its parent's), the event's
/// operation, whether its target is a directory, or its host.
const fn settles(field: Field) -> bool {
    matches!(
        field,
        Field::Operation
            | Field::IsDirectory
            | Field::Host
            | Field::Image
            | Field::CommandLine
            | Field::User
            | Field::ProcessId
            | Field::ProcessStartKey
            | Field::ParentProcessId
            | Field::ParentImage
            | Field::ParentCommandLine
    )
}

/// Whether `rule`'s answer is settled by the process and the kind of event: every item of
/// every detection names a field that [`settles`] it, and none compares with another field
/// (`|fieldref`), searches keywords or scopes an array.
#[must_use]
pub fn is_settled_by_process(rule: &SigmaRule) -> bool {
    fn settled(detection: &Detection) -> bool {
        match detection {
            Detection::AllOf(items) => items.iter().all(|item| {
                item.field
                    .name
                    .as_deref()
                    .and_then(Field::from_name)
                    .is_some_and(settles)
                    && !item.field.has_modifier(Modifier::FieldRef)
            }),
            Detection::AnyOf(parts) | Detection::And(parts) => parts.iter().all(settled),
            Detection::Keywords(_)
            | Detection::ArrayMatch { .. }
            | Detection::Conditional { .. } => false,
        }
    }
    !rule.detection.named.is_empty() && rule.detection.named.values().all(settled)
}

/// A remembered answer of a rule settled by the process.
#[derive(Debug)]
pub(crate) struct Settled {
    process: Arc<ProcessInfo>,
    operation: Operation,
    is_directory: bool,
    host: Host,
    /// Whether the rule matched.
    pub(crate) matched: bool,
}

impl Settled {
    /// The answer `matched` for events like `event`.
    pub(crate) fn new(event: &FileEvent, matched: bool) -> Self {
        Self {
            process: Arc::clone(&event.process),
            operation: event.operation,
            is_directory: event.target.is_directory,
            host: event.host,
            matched,
        }
    }

    /// Whether this answer is `event`'s: the same process, operation, kind of target and
    /// host.
    pub(crate) fn answers(&self, event: &FileEvent) -> bool {
        Arc::ptr_eq(&self.process, &event.process)
            && self.operation == event.operation
            && self.is_directory == event.target.is_directory
            && self.host == event.host
    }
}

#[cfg(test)]
mod tests {
    use super::is_settled_by_process;

    fn rule(detection: &str) -> rsigma_parser::SigmaRule {
        let yaml = format!(
            "title: t\nid: t\nlogsource: {{category: file_change}}\ndetection:\n{detection}"
        );
        rsigma_parser::parse_sigma_yaml(&yaml)
            .unwrap()
            .rules
            .remove(0)
    }

    #[test]
    fn only_rules_on_process_and_kind_fields_are_settled() {
        let settled = [
            "  s:\n    Operation: close_modified\n  f:\n    IsDirectory: true\n  condition: s and not f\n",
            "  s:\n    Image|endswith: '\\x.exe'\n    User|contains: admin\n  condition: s\n",
            "  s:\n    - ParentImage|endswith: '\\cmd.exe'\n    - Host: windows\n  condition: s\n",
        ];
        for detection in settled {
            assert!(is_settled_by_process(&rule(detection)), "{detection}");
        }
        let unsettled = [
            // A path, a name, an entropy, the thread: each event's own.
            "  s:\n    Operation: close_modified\n    TargetFilename|endswith: '.x'\n  condition: s\n",
            "  s:\n    FileExtension: txt\n  condition: s\n",
            "  s:\n    Entropy|gte: 7\n  condition: s\n",
            "  s:\n    ThreadId: 1\n  condition: s\n",
            // Another field's value, keywords, the canary flag.
            "  s:\n    Image|fieldref: ParentImage\n  condition: s\n",
            "  s:\n    - evil\n  condition: s\n",
            "  s:\n    IsCanary: true\n  condition: s\n",
            // One selection settled, one not, even if the condition names only the first.
            "  s:\n    Operation: delete\n  t:\n    TargetFilename: x\n  condition: s\n",
        ];
        for detection in unsettled {
            assert!(!is_settled_by_process(&rule(detection)), "{detection}");
        }
    }
}
