//! Sigma `process_creation` rules, evaluated on process start events.
//!
//! They live beside the file rules (same files, same id space, same load and reload) but
//! on their own list: a process event never meets a file rule, nor a file event a process
//! rule. Fields follow SigmaHQ's taxonomy for `process_creation`: `Image`, `CommandLine`,
//! `ParentImage`, `ParentCommandLine`, `User`, `CurrentDirectory`, `ProcessId`,
//! `ParentProcessId`, `OriginalFileName` (never known: the kernel does not parse images).
//! Other taxonomy fields (`Hashes`, `IntegrityLevel`, `LogonId`…) are always absent, which
//! is what a rule that filters on them (`not …`) expects; a rule is warned about them.

use std::borrow::Cow;

use picket_model::{Alert, FieldValue, Host, ProcessActivity, ProcessEvent};
use rsigma_eval::{CompiledRule, Event, EventValue};
use rsigma_parser::SigmaRule;

use crate::event::{host_index, product};
use crate::parse::Origin;
use crate::problem::Problem;
use crate::ruleset::RuleMeta;

/// The Sigma category these rules declare.
pub const CATEGORY: &str = "process_creation";

/// One compiled `process_creation` rule.
#[derive(Debug)]
pub struct ProcessRule {
    /// Metadata.
    pub meta: RuleMeta,
    /// The compiled matcher.
    pub compiled: CompiledRule,
    /// Which hosts (windows, linux) its product accepts.
    pub hosts: [bool; 2],
    /// Where it is defined.
    pub origin: Origin,
}

/// Whether a rule's logsource makes it a process rule.
#[must_use]
pub fn is_process_rule(rule: &SigmaRule) -> bool {
    rule.logsource.category.as_deref() == Some(CATEGORY) && rule.logsource.service.is_none()
}

/// The hosts a process rule's product accepts, or why it can never fire.
pub(crate) fn hosts(rule: &SigmaRule) -> Result<[bool; 2], String> {
    let mut out = [false; 2];
    for host in [Host::Windows, Host::Linux] {
        out[host_index(host)] = rule
            .logsource
            .product
            .as_deref()
            .is_none_or(|p| p == product(host));
    }
    if out.iter().any(|&on| on) {
        Ok(out)
    } else {
        Err(format!(
            "logsource product '{}' is neither windows nor linux; the rule can never fire",
            rule.logsource.product.as_deref().unwrap_or_default()
        ))
    }
}

/// Warns about fields a process event never has.
pub(crate) fn check_fields(
    fields: &[&str],
    origin: &Origin,
    id: &str,
    problems: &mut Vec<Problem>,
) {
    for field in fields.iter().filter(|f| !ProcessEvent::FIELDS.contains(f)) {
        problems.push(origin.warning_at(
            field,
            id,
            format!(
                "unknown field '{field}': always absent on Picket process events (they have: {})",
                ProcessEvent::FIELDS.join(", ")
            ),
        ));
    }
}

/// Validates and compiles a `process_creation` rule; `None` (with the problem recorded) when
/// it cannot run.
pub(crate) fn compile(
    rule: &SigmaRule,
    origin: Origin,
    id: String,
    problems: &mut Vec<Problem>,
) -> Option<ProcessRule> {
    let hosts = match hosts(rule) {
        Ok(hosts) => hosts,
        Err(message) => {
            problems.push(origin.warning_at("logsource", &id, format!("{message}; skipped")));
            return None;
        }
    };
    let mut fields = Vec::new();
    let mut bad = false;
    for detection in rule.detection.named.values() {
        if let Err(message) = crate::ruleset::detection_fields(detection, &mut fields) {
            problems.push(origin.error_at("detection", &id, message));
            bad = true;
        }
    }
    fields.sort_unstable();
    fields.dedup();
    check_fields(&fields, &origin, &id, problems);
    let compiled = match rsigma_eval::compile_rule(rule) {
        Ok(c) => c,
        Err(e) => {
            problems.push(origin.error_at("detection", &id, format!("does not compile: {e}")));
            return None;
        }
    };
    let shadow = crate::ruleset::shadow_flag(&rule.custom_attributes, &origin, &id, problems);
    if bad {
        return None;
    }
    Some(ProcessRule {
        meta: RuleMeta {
            id,
            name: rule.name.clone(),
            title: rule.title.clone(),
            level: crate::ruleset::convert_level(rule.level),
            tags: rule.tags.clone(),
            description: rule.description.clone(),
            shadow,
        },
        compiled,
        hosts,
        origin,
    })
}

/// A [`ProcessEvent`] seen through the Sigma engine's [`Event`] trait.
#[derive(Clone, Copy, Debug)]
pub struct SigmaProcess<'a>(pub &'a ProcessEvent);

impl<'a> SigmaProcess<'a> {
    fn value(&self, name: &str) -> Option<EventValue<'a>> {
        Some(match self.0.field(name)? {
            FieldValue::Str(s) => EventValue::Str(Cow::Borrowed(s)),
            FieldValue::Int(i) => EventValue::Int(i),
            FieldValue::Float(f) => EventValue::Float(f),
            FieldValue::Bool(b) => EventValue::Bool(b),
        })
    }

    fn texts(&self) -> impl Iterator<Item = &'a str> + '_ {
        ProcessEvent::FIELDS
            .iter()
            .filter_map(|name| match self.0.field(name)? {
                FieldValue::Str(s) => Some(s),
                _ => None,
            })
    }
}

impl Event for SigmaProcess<'_> {
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
        for name in ProcessEvent::FIELDS {
            if let Some(value) = self.value(name) {
                map.insert(name.to_owned(), value.to_json());
            }
        }
        serde_json::Value::Object(map)
    }
}

/// Matches `event` against `rules`; one alert per matching rule. Only starts are process
/// creations (an exit matches nothing), and a Linux `fork` without `exec` creates no new
/// image: it is not matched either (its exec, if any, is).
pub fn evaluate(rules: &[ProcessRule], event: &ProcessEvent, alerts: &mut Vec<Alert>) {
    if event.activity != ProcessActivity::Start || event.forked {
        return;
    }
    let host = host_index(event.host);
    let view = SigmaProcess(event);
    for rule in rules.iter().filter(|r| r.hosts[host]) {
        if rsigma_eval::evaluate_rule(&rule.compiled, &view).is_some() {
            alerts.push(Alert {
                rule_id: rule.meta.id.clone(),
                title: rule.meta.title.clone(),
                level: rule.meta.level,
                tags: rule.meta.tags.clone(),
                description: rule.meta.description.clone(),
                shadow: rule.meta.shadow,
                time: event.time,
                events: Vec::new(),
                correlation: None,
                processes: vec![event.clone()],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RuleFile, RuleSet};
    use picket_model::{ProcessInfo, ProcessKey, Timestamp};
    use std::sync::Arc;

    const RULE: &str = "title: curl to sh\nid: t-curl\nlogsource:\n  category: process_creation\n  product: linux\ndetection:\n  s:\n    Image|endswith: '/sh'\n    ParentImage|endswith: '/curl'\n  condition: s\nlevel: high\n";

    fn start(host: Host, image: &str, parent: &str, forked: bool) -> ProcessEvent {
        ProcessEvent {
            seq: 1,
            time: Timestamp(0),
            host,
            activity: ProcessActivity::Start,
            process: Arc::new(ProcessInfo {
                key: ProcessKey {
                    pid: 2,
                    start_key: 3,
                },
                image: Some(image.into()),
                parent_image: Some(parent.into()),
                ..ProcessInfo::default()
            }),
            forked,
            creating_pid: None,
            creating_tid: None,
            session_id: None,
            exit_status: None,
            image_truncated: false,
            command_line_truncated: false,
        }
    }

    #[test]
    fn a_rule_fires_on_its_product_starts_only() {
        let set = RuleSet::compile(vec![RuleFile {
            name: "t.yml".into(),
            relative: "t.yml".into(),
            text: RULE.into(),
            unreadable: None,
        }])
        .unwrap();
        assert_eq!(set.process_rule_count(), 1);
        let mut alerts = Vec::new();
        let hit = start(Host::Linux, "/usr/bin/sh", "/usr/bin/curl", false);
        evaluate(&set.process_rules, &hit, &mut alerts);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, "t-curl");
        assert_eq!(alerts[0].processes, vec![hit.clone()]);
        alerts.clear();
        for miss in [
            start(Host::Windows, "/usr/bin/sh", "/usr/bin/curl", false),
            start(Host::Linux, "/usr/bin/sh", "/usr/bin/curl", true),
            start(Host::Linux, "/usr/bin/bash", "/usr/bin/curl", false),
            ProcessEvent {
                activity: ProcessActivity::Exit,
                ..hit
            },
        ] {
            evaluate(&set.process_rules, &miss, &mut alerts);
        }
        assert!(alerts.is_empty(), "{alerts:?}");
    }
}
