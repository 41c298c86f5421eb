//! Our event as the Sigma engine sees it: a borrowed view of [`FileEvent`] (no map building,
//! no copying) plus the logsource category its operation belongs to.

use std::borrow::Cow;

use picket_model::{Field, FieldValue, FileEvent, Host, Operation};
use rsigma_eval::{Event, EventValue};

/// Picket's own field: `true` when the event touches a user-configured canary path.
pub const CANARY_FIELD: &str = "IsCanary";

/// The Sigma `logsource.category` values a file event can belong to.
///
/// Mapping from [`Operation`] (Sysmon semantics where Sysmon has them):
/// - `create`, `hardlink` → `file_event` (Sysmon 11 "FileCreate": a name comes into existence)
/// - `first_write`, `close_modified`, `truncate`, `set_attributes` → `file_change`
///   (the content or metadata of an existing file changed)
/// - `rename` → `file_rename`
/// - `delete` → `file_delete`
/// - `open` → `file_access`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// `file_event`
    FileEvent,
    /// `file_change`
    FileChange,
    /// `file_rename`
    FileRename,
    /// `file_delete`
    FileDelete,
    /// `file_access`
    FileAccess,
}

impl Category {
    /// Every category, in index order.
    pub const ALL: [Self; 5] = [
        Self::FileEvent,
        Self::FileChange,
        Self::FileRename,
        Self::FileDelete,
        Self::FileAccess,
    ];

    /// The category an operation belongs to (see the type's documentation).
    #[must_use]
    pub const fn of(operation: Operation) -> Self {
        match operation {
            Operation::Create | Operation::HardLink => Self::FileEvent,
            Operation::FirstWrite
            | Operation::CloseModified
            | Operation::Truncate
            | Operation::SetAttributes => Self::FileChange,
            Operation::Rename => Self::FileRename,
            Operation::Delete => Self::FileDelete,
            Operation::Open => Self::FileAccess,
        }
    }

    /// The Sigma name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FileEvent => "file_event",
            Self::FileChange => "file_change",
            Self::FileRename => "file_rename",
            Self::FileDelete => "file_delete",
            Self::FileAccess => "file_access",
        }
    }

    /// Parses a Sigma category name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Dense index (0..5).
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The Sigma `logsource.product` of a host.
#[must_use]
pub const fn product(host: Host) -> &'static str {
    match host {
        Host::Windows => "windows",
        Host::Linux => "linux",
    }
}

/// Dense index of a host (0..2).
#[must_use]
pub const fn host_index(host: Host) -> usize {
    match host {
        Host::Windows => 0,
        Host::Linux => 1,
    }
}

/// Every field name a rule may use: the model's Sysmon names plus [`CANARY_FIELD`].
#[must_use]
pub fn is_known_field(name: &str) -> bool {
    #[cfg(test)]
    if name == PANIC_FIELD {
        return true;
    }
    name == CANARY_FIELD || FileEvent::FIELDS.contains(&name)
}

/// Fields whose value is text (the prefilter indexes only these).
#[must_use]
pub fn is_text_field(name: &str) -> bool {
    matches!(
        name,
        "TargetFilename"
            | "SourceFilename"
            | "Image"
            | "CommandLine"
            | "User"
            | "Operation"
            | "FileName"
            | "FileDirectory"
            | "FileExtension"
            | "Host"
    )
}

/// A [`FileEvent`] seen through the Sigma engine's [`Event`] trait. Borrowed, `Copy`, free to
/// build per event.
#[derive(Clone, Copy, Debug)]
pub struct SigmaEvent<'a> {
    event: &'a FileEvent,
    canary: bool,
}

impl<'a> SigmaEvent<'a> {
    /// Wraps an event; `canary` is the answer for [`CANARY_FIELD`].
    #[must_use]
    pub const fn new(event: &'a FileEvent, canary: bool) -> Self {
        Self { event, canary }
    }

    /// The wrapped event.
    #[must_use]
    pub const fn event(&self) -> &'a FileEvent {
        self.event
    }

    /// The answer for [`CANARY_FIELD`].
    #[must_use]
    pub const fn canary(&self) -> bool {
        self.canary
    }

    /// The event's field as text, borrowed (text fields only).
    #[must_use]
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.text_of(Field::from_name(name)?)
    }

    /// [`Self::text`] of a field resolved ahead (no name comparison per event).
    #[must_use]
    pub fn text_of(&self, field: Field) -> Option<&'a str> {
        match self.event.get(field)? {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }

    fn value(&self, name: &str) -> Option<EventValue<'a>> {
        if name == CANARY_FIELD {
            return Some(EventValue::Bool(self.canary));
        }
        #[cfg(test)]
        if name == PANIC_FIELD {
            panic!("test hook: a rule that fails at run time");
        }
        Some(match self.event.field(name)? {
            FieldValue::Str(s) => EventValue::Str(Cow::Borrowed(s)),
            FieldValue::Int(i) => EventValue::Int(i),
            FieldValue::Float(f) => EventValue::Float(f),
            FieldValue::Bool(b) => EventValue::Bool(b),
        })
    }

    fn texts(&self) -> impl Iterator<Item = &'a str> + '_ {
        FileEvent::FIELDS
            .iter()
            .filter(|name| is_text_field(name))
            .filter_map(|name| self.text(name))
    }
}

/// Test-only field whose lookup panics: proves a failing rule is disabled, not fatal.
#[cfg(test)]
pub const PANIC_FIELD: &str = "PicketTestPanic";

impl Event for SigmaEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.value(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.texts().any(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.texts().map(Cow::Borrowed).collect()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for text in self.texts() {
            visit(text);
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for name in FileEvent::FIELDS.iter().copied().chain([CANARY_FIELD]) {
            if let Some(value) = self.value(name) {
                map.insert(name.to_owned(), value.to_json());
            }
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_category() {
        assert_eq!(Category::of(Operation::Create), Category::FileEvent);
        assert_eq!(Category::of(Operation::CloseModified), Category::FileChange);
        assert_eq!(Category::of(Operation::Rename), Category::FileRename);
        assert_eq!(Category::of(Operation::Delete), Category::FileDelete);
        assert_eq!(Category::of(Operation::Open), Category::FileAccess);
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.as_str()), Some(c));
            assert_eq!(Category::ALL[c.index()], c);
        }
    }

    #[test]
    fn known_fields_cover_the_model() {
        for name in FileEvent::FIELDS {
            assert!(is_known_field(name));
        }
        assert!(is_known_field(CANARY_FIELD));
        assert!(!is_known_field("TargetFileName"));
    }
}
