//! What a rule directory may hold besides rules Picket can run, and what is skipped (with a
//! warning naming the file and the reason) rather than refusing the whole set.
//!
//! Loading stays all-or-nothing for everything that **could run**: a rule for our
//! logsources with a broken condition, a duplicate id, a failing test, a non-UTF-8 file
//! refuse the set, because a set that loads must behave as its author tested it. Content
//! that could never apply to our events is skipped instead:
//! - files under a `deprecated` or `unsupported` folder (SigmaHQ keeps retired rules and
//!   rules no backend supports there);
//! - YAML documents that are not Sigma rules: no `detection` and no `correlation` section
//!   (SigmaHQ's `regression_data/**/info.yml`, CI and tool configuration files);
//! - rules whose `logsource` cannot match any event we produce (another category, a
//!   `service`, a product other than windows or linux), even when the rest of the rule does
//!   not parse (legacy aggregation conditions in such rules are not our concern).

use std::path::Path;

use crate::event::{product, Category};
use picket_model::Host;

/// Folder names whose content is skipped whole.
pub const SKIPPED_FOLDERS: [&str; 2] = ["deprecated", "unsupported"];

/// Why a file under `relative` is skipped, if it is.
#[must_use]
pub fn skipped_folder(relative: &Path) -> Option<String> {
    let parent = relative.parent()?;
    parent.components().find_map(|c| {
        let name = c.as_os_str().to_string_lossy();
        SKIPPED_FOLDERS
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f))
            .then(|| format!("under a '{name}' folder (retired or unsupported content); skipped"))
    })
}

/// What a YAML document is, read leniently (it may not parse as Sigma).
#[derive(Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// A detection or correlation rule, or a document that is not a mapping (left to the
    /// Sigma parser to report).
    Rule,
    /// Not a Sigma rule: why.
    NotARule(String),
}

/// Classifies one YAML document of a rule file.
#[must_use]
pub fn document_kind(text: &str) -> DocumentKind {
    let value = yaml_serde::from_str::<yaml_serde::Value>(text).ok();
    let has = |key: &str| match value.as_ref().map(|v| v.as_mapping()) {
        Some(Some(map)) => map.contains_key(yaml_serde::Value::from(key)),
        // A mapping that does not parse as YAML: look for the key at the start of a line.
        None => text.lines().any(|l| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        }),
        // Not a mapping: left to the parser.
        Some(None) => true,
    };
    // `action: global/repeat` documents of a multi-document rule, and Sigma filters
    // (refused with their own message), are left to the parser.
    if has("detection") || has("correlation") || has("action") || has("filter") {
        DocumentKind::Rule
    } else {
        DocumentKind::NotARule(
            "not a Sigma rule (no 'detection' or 'correlation' section); skipped".into(),
        )
    }
}

/// Why a document's `logsource` (read leniently) can never match an event we produce, if it
/// cannot. Used for documents the Sigma parser refuses: such a rule is skipped, not an error.
#[must_use]
pub fn foreign_logsource(text: &str) -> Option<String> {
    let value: yaml_serde::Value = yaml_serde::from_str(text).ok()?;
    let logsource = value.get("logsource")?;
    let get = |key: &str| logsource.get(key).and_then(|v| v.as_str());
    if let Some(service) = get("service") {
        return Some(format!(
            "logsource service '{service}' is not a file-event source"
        ));
    }
    if let Some(category) = get("category") {
        if Category::from_name(category).is_none() && category != crate::process_rules::CATEGORY {
            return Some(format!(
                "logsource category '{category}' is neither a file category nor process_creation"
            ));
        }
    }
    if let Some(p) = get("product") {
        if [Host::Windows, Host::Linux]
            .iter()
            .all(|h| product(*h) != p)
        {
            return Some(format!(
                "logsource product '{p}' is neither windows nor linux"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_folders_are_skipped_wherever_they_are() {
        assert!(skipped_folder(Path::new("deprecated/windows/x.yml")).is_some());
        assert!(skipped_folder(Path::new("sigma/Unsupported/x.yml")).is_some());
        assert!(skipped_folder(Path::new("rules/windows/file/deprecated.yml")).is_none());
        assert!(skipped_folder(Path::new("x.yml")).is_none());
    }

    #[test]
    fn documents_without_detection_are_not_rules() {
        assert!(matches!(
            document_kind("id: 1\ndescription: N/A\nregression_tests_info: []\n"),
            DocumentKind::NotARule(_)
        ));
        assert_eq!(
            document_kind("title: t\ndetection:\n  s: {a: 1}\n  condition: s\n"),
            DocumentKind::Rule
        );
        assert!(matches!(
            document_kind("exclusions:\n  a: 1\n  a: 2\n"),
            DocumentKind::NotARule(_)
        ));
        assert_eq!(
            document_kind("title: [unclosed\ndetection:\n  condition: s\n"),
            DocumentKind::Rule
        );
    }

    #[test]
    fn foreign_logsources_are_recognised_without_the_sigma_parser() {
        let text = "logsource:\n  category: firewall\ndetection:\n  condition: s | count() > 3\n";
        assert!(foreign_logsource(text).unwrap().contains("firewall"));
        assert!(
            foreign_logsource("logsource:\n  product: windows\n  service: security\n").is_some()
        );
        assert!(foreign_logsource("logsource:\n  product: macos\n").is_some());
        assert!(foreign_logsource("logsource:\n  category: file_event\n").is_none());
        assert!(foreign_logsource("logsource:\n  category: process_creation\n").is_none());
    }
}
