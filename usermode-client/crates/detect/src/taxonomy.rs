//! Sigma's field semantics per logsource category, and what our events can satisfy.
//!
//! Picket's fields are Sysmon's (`TargetFilename` = full path, …) plus its own `FileName`
//! (base name), `FileDirectory`, `FileExtension` (no dot). SigmaHQ's rules use the fields of
//! the telemetry each category was written for (audited against the SigmaHQ repository):
//!
//! | category | SigmaHQ fields | on Picket events |
//! |---|---|---|
//! | `file_event`, `file_delete`, `file_change`, `file_executable_detected` | `TargetFilename` (full path), `Image`, `User`, `CommandLine` | as is |
//! | `file_rename` | `SourceFilename` (old path), `TargetFilename` (new path), `Image` | as is |
//! | `file_access` | `FileName` = **full path** (Microsoft-Windows-Kernel-File ETW), `Image` | `FileName` is mapped to `TargetFilename` |
//! | any | `ParentImage`, `CreationUtcTime`, `PreviousCreationUtcTime`, `Hashes`, … | absent: warned as unknown fields |
//!
//! So in a `file_access` rule `FileName` is rewritten to `TargetFilename` before compiling
//! (a pySigma-style field mapping), and a rule that uses a field in a way our events can
//! never satisfy gets a warning: `FileName` (outside `file_access`) compared with a value
//! holding a path separator (ours is a base name), `FileExtension` with a leading dot (ours
//! has none).

use rsigma_parser::{Detection, DetectionItem, Modifier, SigmaRule, SigmaValue};

/// Rewrites the rule's fields to Picket's where its category's taxonomy means something else.
/// Returns the fields renamed (`(from, to)`), for the record.
pub fn map_fields(rule: &mut SigmaRule) -> Vec<(&'static str, &'static str)> {
    let mut renamed = Vec::new();
    if rule.logsource.category.as_deref() == Some("file_access") {
        let mut any = false;
        for detection in rule.detection.named.values_mut() {
            rename(detection, "FileName", "TargetFilename", &mut any);
        }
        if any {
            renamed.push(("FileName", "TargetFilename"));
        }
    }
    renamed
}

fn rename(detection: &mut Detection, from: &str, to: &str, any: &mut bool) {
    match detection {
        Detection::AllOf(items) => {
            for item in items {
                if item.field.name.as_deref() == Some(from) {
                    item.field.name = Some(to.to_owned());
                    *any = true;
                }
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            for p in parts {
                rename(p, from, to, any);
            }
        }
        Detection::Conditional { named, .. } => {
            for p in named.values_mut() {
                rename(p, from, to, any);
            }
        }
        Detection::Keywords(_) | Detection::ArrayMatch { .. } => {}
    }
}

/// Uses of a field our events can never satisfy: `(field, why)`.
#[must_use]
pub fn unsatisfiable(rule: &SigmaRule) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for detection in rule.detection.named.values() {
        check(detection, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

fn strings(item: &DetectionItem) -> impl Iterator<Item = &str> {
    item.values.iter().filter_map(|v| match v {
        SigmaValue::String(s) => Some(s.original.as_str()),
        _ => None,
    })
}

fn check(detection: &Detection, out: &mut Vec<(String, String)>) {
    match detection {
        Detection::AllOf(items) => {
            for item in items {
                let regex = item.field.has_modifier(Modifier::Re);
                match item.field.name.as_deref() {
                    Some("FileName") if !regex => {
                        if let Some(v) = strings(item).find(|v| v.contains(['\\', '/'])) {
                            out.push((
                                "FileName".into(),
                                format!(
                                    "'FileName' is the base name on Picket events, so '{v}' (with a path separator) can never match; use TargetFilename for the full path"
                                ),
                            ));
                        }
                    }
                    Some("FileExtension") if !regex => {
                        if let Some(v) = strings(item).find(|v| v.starts_with('.')) {
                            out.push((
                                "FileExtension".into(),
                                format!(
                                    "'FileExtension' has no leading dot on Picket events ('docx'), so '{v}' can never match"
                                ),
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            for p in parts {
                check(p, out);
            }
        }
        Detection::Conditional { named, .. } => {
            for p in named.values() {
                check(p, out);
            }
        }
        Detection::Keywords(_) | Detection::ArrayMatch { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> SigmaRule {
        rsigma_parser::parse_sigma_yaml(text)
            .unwrap()
            .rules
            .into_iter()
            .next()
            .unwrap()
    }

    #[test]
    fn file_access_file_name_is_the_full_path() {
        let mut r = rule(
            "title: t\nid: x\nlogsource:\n  product: windows\n  category: file_access\ndetection:\n  s:\n    FileName|contains: '\\Microsoft\\Protect\\'\n  condition: s\n",
        );
        assert_eq!(map_fields(&mut r), vec![("FileName", "TargetFilename")]);
        let Detection::AllOf(items) = &r.detection.named["s"] else {
            panic!("a mapping");
        };
        assert_eq!(items[0].field.name.as_deref(), Some("TargetFilename"));
        assert!(unsatisfiable(&r).is_empty());
    }

    #[test]
    fn file_name_elsewhere_stays_the_base_name_and_paths_in_it_are_warned() {
        let mut r = rule(
            "title: t\nid: x\nlogsource:\n  category: file_event\ndetection:\n  s:\n    FileName|endswith: '\\x\\y.txt'\n  e:\n    FileExtension: '.exe'\n  ok:\n    FileName: 'y.txt'\n  condition: s or e or ok\n",
        );
        assert!(map_fields(&mut r).is_empty());
        let warned: Vec<String> = unsatisfiable(&r).into_iter().map(|w| w.0).collect();
        assert_eq!(warned, ["FileExtension", "FileName"]);
    }
}
