//! A validated, compiled rule set: immutable once built, swapped in whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use picket_model::{Host, Level};
use rsigma_eval::result::{DetectionBody, ResultBody, RuleHeader};
use rsigma_eval::{CompiledRule, CorrelationConfig, CorrelationEngine, EvaluationResult};
use rsigma_parser::{CorrelationRule, Detection, SigmaRule};

use crate::condition::Condition;
use crate::event::{host_index, is_known_field, product, Category, SigmaEvent};
use crate::parse::{parse_files, Origin, ParsedCorrelation, ParsedRule};
use crate::prefilter::{witness, Automata, Clause, Prefilter, RouteRules, Scratch};
use crate::problem::{Problem, Rejected, Severity};
use crate::ruletest::{parse_tests, TestCase};
use crate::source::RuleFile;

/// Longest correlation window accepted: state must expire (one day).
pub const MAX_TIMESPAN_SECS: u64 = 86_400;

/// What every alert of a rule carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMeta {
    /// Sigma `id`.
    pub id: String,
    /// Sigma `name`, if any (correlations may reference rules by it).
    pub name: Option<String>,
    /// Title.
    pub title: String,
    /// Level (`medium` when the rule says none).
    pub level: Level,
    /// Tags.
    pub tags: Vec<String>,
    /// Description.
    pub description: Option<String>,
    /// Staged rollout: alerts are flagged not actionable (`shadow: true` in the rule).
    pub shadow: bool,
}

/// One detection rule.
#[derive(Debug)]
pub struct DetectionRule {
    /// Metadata.
    pub meta: RuleMeta,
    /// The compiled matcher.
    pub compiled: CompiledRule,
    /// Its conditions with their selections resolved (what Picket evaluates).
    conditions: Vec<Condition>,
    /// Which (host, category) routes it is on.
    routes: [[bool; 5]; 2],
    /// It emits its own alerts (false for rules used only by correlations).
    pub emits: bool,
    /// Some correlation counts its matches.
    pub correlated: bool,
    /// Its answer is settled by the acting process and the kind of event (see
    /// [`crate::settled`]): remembered between events.
    pub(crate) settled: bool,
    /// Where it is defined.
    pub origin: Origin,
}

/// One correlation rule.
#[derive(Debug)]
pub struct Correlation {
    /// Metadata.
    pub meta: RuleMeta,
    /// The rule in the form given to the correlation engine (see [`engine_form`]).
    pub rule: CorrelationRule,
    /// The window as written, in seconds.
    pub window_secs: u64,
    /// Ids of the detection rules it rests on, directly or through other correlations.
    pub base_rules: Vec<String>,
    /// Where it is defined.
    pub origin: Origin,
}

/// A validated, compiled, tested rule set.
#[derive(Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<DetectionRule>,
    pub(crate) correlations: Vec<Correlation>,
    /// `process_creation` rules (see [`crate::process_rules`]).
    pub(crate) process_rules: Vec<crate::process_rules::ProcessRule>,
    correlated_sigma: Vec<SigmaRule>,
    routes: Vec<Prefilter>,
    pub(crate) tests: Vec<TestCase>,
    files: Vec<RuleFile>,
    warnings: Vec<Problem>,
}

impl RuleSet {
    /// Parses, validates and compiles `files`, then runs their rule tests: the only way to
    /// get a rule set, so a running set has always passed its tests.
    ///
    /// # Errors
    /// Every problem found, if any is an error.
    pub fn load(files: Vec<RuleFile>) -> Result<Self, Rejected> {
        let set = Self::compile(files)?;
        let (set, failures) = crate::selftest::run(set);
        if failures.is_empty() {
            Ok(set)
        } else {
            Err(reject(failures, set.warnings))
        }
    }

    /// The built-in pack.
    ///
    /// # Errors
    /// Only if the embedded pack is broken (its own tests catch that in CI).
    pub fn builtin() -> Result<Self, Rejected> {
        Self::load(crate::source::builtin_files())
    }

    /// Parses, validates and compiles, without running the rule tests.
    ///
    /// # Errors
    /// Every problem found, if any is an error.
    pub fn compile(files: Vec<RuleFile>) -> Result<Self, Rejected> {
        let mut problems = Vec::new();
        let mut usable = Vec::with_capacity(files.len());
        for file in &files {
            if let Some(reason) = crate::policy::skipped_folder(&file.relative) {
                problems.push(Problem::warning(&file.name, 1, None, reason));
            } else if let Some(reason) = &file.unreadable {
                problems.push(Problem::error(&file.name, 1, None, reason.clone()));
            } else {
                usable.push(file.clone());
            }
        }
        let parsed = parse_files(&usable, &mut problems);
        let tests = parse_tests(&usable, &mut problems);
        let set = build(
            parsed.rules,
            parsed.correlations,
            tests,
            files,
            &mut problems,
        );
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(reject(problems, Vec::new()));
        }
        let mut set = set;
        set.warnings = problems;
        Ok(set)
    }

    /// Compiles a synthetic set without tests (benchmarks and the equal-matches test).
    ///
    /// # Errors
    /// As [`RuleSet::compile`], minus the missing-test errors.
    #[doc(hidden)]
    pub fn compile_untested(rules: Vec<SigmaRule>) -> Result<Self, Rejected> {
        let mut problems = Vec::new();
        let origin = Origin {
            file: "synthetic".into(),
            line: 1,
            text: String::new(),
        };
        let rules = rules
            .into_iter()
            .map(|rule| ParsedRule {
                rule,
                origin: origin.clone(),
            })
            .collect();
        let set = build(rules, Vec::new(), Vec::new(), Vec::new(), &mut problems);
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(reject(problems, Vec::new()));
        }
        Ok(set)
    }

    /// The files the set was built from (what "last good" saves).
    #[must_use]
    pub fn files(&self) -> &[RuleFile] {
        &self.files
    }

    /// Warnings (skipped rules) found while loading.
    #[must_use]
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Number of detection rules.
    #[must_use]
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Number of `process_creation` rules.
    #[must_use]
    pub fn process_rule_count(&self) -> usize {
        self.process_rules.len()
    }

    /// Number of correlation rules.
    #[must_use]
    pub fn correlation_count(&self) -> usize {
        self.correlations.len()
    }

    /// Number of rule tests.
    #[must_use]
    pub fn test_count(&self) -> usize {
        self.tests.len()
    }

    /// Correlation rule metadata.
    pub fn correlation_metas(&self) -> impl Iterator<Item = &RuleMeta> {
        self.correlations.iter().map(|c| &c.meta)
    }

    /// Detection rule metadata by index.
    #[must_use]
    pub fn rule_meta(&self, index: usize) -> &RuleMeta {
        &self.rules[index].meta
    }

    /// Rules the prefilter cannot skip (no literal witness): evaluated on every event of
    /// their routes, ascending. `picket rules check` names them as a cost.
    #[must_use]
    pub fn unwitnessed(&self) -> Vec<usize> {
        let mut all: Vec<usize> = self
            .routes
            .iter()
            .flat_map(|r| r.unwitnessed().iter().map(|&i| i as usize))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Where rule `index` is defined: (file, line).
    #[must_use]
    pub fn rule_origin(&self, index: usize) -> (&str, usize) {
        let origin = &self.rules[index].origin;
        (&origin.file, origin.line)
    }

    fn route(&self, host: Host, category: Category) -> &Prefilter {
        &self.routes[host_index(host) * 5 + category.index()]
    }

    /// Optimised candidate selection: logsource route, then the per-field prefilter.
    pub fn candidates(&self, event: &SigmaEvent<'_>, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let e = event.event();
        self.route(e.host, Category::of(e.operation)).candidates(
            event,
            self.rules.len(),
            scratch,
            out,
        );
    }

    /// Fully evaluates one rule: `Some` when it matches, with the rule's identity (what its
    /// correlations and alerts read; no per-field details, which nothing downstream reads).
    ///
    /// rsigma's own `evaluate_rule` walks a matching rule's condition twice (a boolean pass,
    /// then a pass collecting the matched selections) and then collects the matched fields;
    /// a rule that feeds a correlation matches on most events of its kind. This walks the
    /// condition once, short-circuiting as rsigma's boolean pass does, its selections
    /// resolved at load and decided as rsigma decides them ([`crate::condition`]), so it
    /// decides exactly as rsigma does (`matches_plain`, the reference of the equal-matches
    /// tests, still calls rsigma's).
    #[must_use]
    pub fn evaluate_rule(&self, index: usize, event: &SigmaEvent<'_>) -> Option<EvaluationResult> {
        self.rule_holds(index, event, &mut Vec::new())
            .then(|| self.detection_result(index))
    }

    /// Whether rule `index` matches `event`, decided as [`Self::evaluate_rule`] decides it,
    /// without building the result (most matches need none: a rule counted by Picket, or one
    /// whose alert is built from its metadata). `selections` is a scratch list kept by the
    /// caller (rsigma pushes the names of matched selections into it: kept, it is not grown
    /// again on every call).
    pub(crate) fn rule_holds(
        &self,
        index: usize,
        event: &SigmaEvent<'_>,
        selections: &mut Vec<String>,
    ) -> bool {
        let rule = &self.rules[index];
        rule.conditions
            .iter()
            .any(|condition| condition.holds(&rule.compiled.detections, event, selections))
    }

    /// rsigma's detection result for a match of rule `index` (what its correlation engine
    /// is fed).
    pub(crate) fn detection_result(&self, index: usize) -> EvaluationResult {
        let compiled = &self.rules[index].compiled;
        EvaluationResult {
            header: RuleHeader {
                rule_title: compiled.title.clone(),
                rule_id: compiled.id.clone(),
                level: compiled.level,
                tags: compiled.tags.clone(),
                custom_attributes: Arc::clone(&compiled.custom_attributes),
                enrichments: None,
            },
            body: ResultBody::Detection(DetectionBody {
                matched_selections: Vec::new(),
                matched_fields: Vec::new(),
                event: None,
            }),
        }
    }

    /// Matching rules, optimised path (ascending indices).
    #[must_use]
    pub fn matches(&self, event: &SigmaEvent<'_>, scratch: &mut Scratch) -> Vec<usize> {
        let mut candidates = Vec::new();
        self.candidates(event, scratch, &mut candidates);
        candidates
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| self.evaluate_rule(i, event).is_some())
            .collect()
    }

    /// Matching rules, plain path: every rule whose logsource accepts the event, fully
    /// evaluated by rsigma (the reference the optimised path must equal).
    #[must_use]
    pub fn matches_plain(&self, event: &SigmaEvent<'_>) -> Vec<usize> {
        let e = event.event();
        let (h, c) = (host_index(e.host), Category::of(e.operation).index());
        (0..self.rules.len())
            .filter(|&i| self.rules[i].routes[h][c])
            .filter(|&i| rsigma_eval::evaluate_rule(&self.rules[i].compiled, event).is_some())
            .collect()
    }

    /// A fresh correlation engine for this set's correlations (state is per detector).
    ///
    /// # Errors
    /// When a correlation does not compile (checked once at load time).
    pub fn correlation_engine(
        &self,
        config: CorrelationConfig,
    ) -> rsigma_eval::Result<CorrelationEngine> {
        let mut engine = CorrelationEngine::new(config);
        for rule in &self.correlated_sigma {
            engine.add_rule(rule)?;
        }
        for c in &self.correlations {
            engine.add_correlation(&c.rule)?;
        }
        Ok(engine)
    }
}

fn reject(mut problems: Vec<Problem>, warnings: Vec<Problem>) -> Rejected {
    problems.extend(warnings);
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    Rejected { problems }
}

pub(crate) fn convert_level(level: Option<rsigma_parser::Level>) -> Level {
    match level {
        Some(rsigma_parser::Level::Informational) => Level::Informational,
        Some(rsigma_parser::Level::Low) => Level::Low,
        None | Some(rsigma_parser::Level::Medium) => Level::Medium,
        Some(rsigma_parser::Level::High) => Level::High,
        Some(rsigma_parser::Level::Critical) => Level::Critical,
    }
}

pub(crate) fn shadow_flag(
    attrs: &HashMap<String, yaml_serde::Value>,
    origin: &Origin,
    id: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    match attrs.get("shadow") {
        None => false,
        Some(yaml_serde::Value::Bool(b)) => *b,
        Some(_) => {
            problems.push(origin.error_at("shadow:", id, "'shadow' must be true or false"));
            false
        }
    }
}

/// The (host, category) routes a logsource accepts, or why it can never fire.
fn routes(logsource: &rsigma_parser::LogSource) -> Result<[[bool; 5]; 2], String> {
    if let Some(service) = &logsource.service {
        return Err(format!(
            "logsource service '{service}' is not a file-event source; the rule can never fire"
        ));
    }
    let category = match logsource.category.as_deref() {
        None => None,
        Some(name) => Some(Category::from_name(name).ok_or_else(|| {
            format!("logsource category '{name}' is not a category Picket produces (file_event, file_change, file_rename, file_delete, file_access, process_creation); the rule can never fire")
        })?),
    };
    let mut out = [[false; 5]; 2];
    let mut any = false;
    for host in [Host::Windows, Host::Linux] {
        if logsource
            .product
            .as_deref()
            .is_some_and(|p| p != product(host))
        {
            continue;
        }
        for c in Category::ALL {
            if category.is_none_or(|want| want == c) {
                out[host_index(host)][c.index()] = true;
                any = true;
            }
        }
    }
    if any {
        Ok(out)
    } else {
        Err(format!(
            "logsource product '{}' is neither windows nor linux; the rule can never fire",
            logsource.product.as_deref().unwrap_or_default()
        ))
    }
}

pub(crate) fn detection_fields<'a>(
    detection: &'a Detection,
    out: &mut Vec<&'a str>,
) -> Result<(), String> {
    match detection {
        Detection::AllOf(items) => {
            out.extend(items.iter().filter_map(|i| i.field.name.as_deref()));
        }
        Detection::AnyOf(parts) | Detection::And(parts) => {
            for p in parts {
                detection_fields(p, out)?;
            }
        }
        Detection::Keywords(_) => {}
        Detection::ArrayMatch { field, .. } => {
            return Err(format!(
                "array matching on '{field}': Picket events have no array fields"
            ))
        }
        Detection::Conditional { named, .. } => {
            for p in named.values() {
                detection_fields(p, out)?;
            }
        }
    }
    Ok(())
}

/// Takes the rule's `id` for the set: detection rules and correlations share one id space
/// (alerts, tests and correlation references name rules by it), so an id must be there and
/// unique; otherwise an error (labelled with the title when there is no id) and `None`.
fn claim_id(
    seen: &mut HashSet<String>,
    id: Option<&String>,
    title: &str,
    origin: &Origin,
    missing: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let Some(id) = id else {
        problems.push(Problem::error(
            &origin.file,
            origin.line,
            Some(title),
            missing,
        ));
        return None;
    };
    if !seen.insert(id.clone()) {
        problems.push(origin.error_at(id, id, "duplicate rule id"));
        return None;
    }
    Some(id.clone())
}

#[allow(clippy::too_many_lines)]
fn build(
    parsed_rules: Vec<ParsedRule>,
    parsed_correlations: Vec<ParsedCorrelation>,
    tests: Vec<TestCase>,
    files: Vec<RuleFile>,
    problems: &mut Vec<Problem>,
) -> RuleSet {
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut rules: Vec<DetectionRule> = Vec::new();
    let mut sigma_by_id: HashMap<String, SigmaRule> = HashMap::new();
    let mut witnesses: Vec<Option<Vec<Clause>>> = Vec::new();
    let mut process_rules = Vec::new();

    for ParsedRule { mut rule, origin } in parsed_rules {
        // A rule that can never fire is skipped before its id is claimed: its id (or a
        // missing one) cannot clash with a rule that runs.
        // Process rules are routed by their product (`process_rules::hosts`), file rules here.
        let is_process = crate::process_rules::is_process_rule(&rule);
        let routes = match routes(&rule.logsource) {
            Ok(r) => r,
            Err(_) if is_process => [[false; 5]; 2],
            Err(message) => {
                let label = rule.id.as_deref().unwrap_or(&rule.title);
                problems.push(origin.warning_at("logsource", label, format!("{message}; skipped")));
                continue;
            }
        };
        let Some(id) = claim_id(
            &mut seen_ids,
            rule.id.as_ref(),
            &rule.title,
            &origin,
            "rule has no 'id': Picket names alerts, tests and correlations by it",
            problems,
        ) else {
            continue;
        };
        if is_process {
            process_rules.extend(crate::process_rules::compile(&rule, origin, id, problems));
            continue;
        }
        // Sigma's field semantics for the rule's category (`file_access` FileName = path).
        crate::taxonomy::map_fields(&mut rule);
        for (field, why) in crate::taxonomy::unsatisfiable(&rule) {
            problems.push(origin.warning_at(&field, &id, why));
        }
        let mut fields = Vec::new();
        let mut bad = false;
        for detection in rule.detection.named.values() {
            if let Err(message) = detection_fields(detection, &mut fields) {
                problems.push(origin.error_at("detection", &id, message));
                bad = true;
            }
        }
        fields.sort_unstable();
        fields.dedup();
        // Kept and evaluated as written (the field is always absent), because imported
        // content uses such fields in filters (`not ParentImage…`), where that is right; a
        // typo in a tested rule fails its positive test, which is an error.
        for field in fields.into_iter().filter(|f| !is_known_field(f)) {
            problems.push(origin.warning_at(
                field,
                &id,
                format!(
                    "unknown field '{field}': always absent on Picket events (they have: {}, {})",
                    picket_model::FileEvent::FIELDS.join(", "),
                    crate::event::CANARY_FIELD
                ),
            ));
        }
        let compiled = match rsigma_eval::compile_rule(&rule) {
            Ok(c) => c,
            Err(e) => {
                problems.push(origin.error_at("detection", &id, format!("does not compile: {e}")));
                continue;
            }
        };
        let shadow = shadow_flag(&rule.custom_attributes, &origin, &id, problems);
        if bad {
            continue;
        }
        witnesses.push(witness(&rule));
        let meta = RuleMeta {
            id: id.clone(),
            name: rule.name.clone(),
            title: rule.title.clone(),
            level: convert_level(rule.level),
            tags: rule.tags.clone(),
            description: rule.description.clone(),
            shadow,
        };
        let settled = crate::settled::is_settled_by_process(&rule);
        sigma_by_id.insert(id, rule);
        let conditions = compiled
            .conditions
            .iter()
            .map(|c| Condition::resolve(c, &compiled.detections))
            .collect();
        rules.push(DetectionRule {
            meta,
            compiled,
            conditions,
            routes,
            emits: true,
            correlated: false,
            settled,
            origin,
        });
    }

    // Names and ids that correlations may reference.
    let mut detection_refs: HashMap<String, usize> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        detection_refs.insert(r.meta.id.clone(), i);
        if let Some(name) = &r.meta.name {
            detection_refs.insert(name.clone(), i);
        }
    }
    let mut correlation_refs: HashMap<String, usize> = HashMap::new();
    for (i, c) in parsed_correlations.iter().enumerate() {
        if let Some(id) = &c.rule.id {
            correlation_refs.insert(id.clone(), i);
        }
        if let Some(name) = &c.rule.name {
            correlation_refs.insert(name.clone(), i);
        }
    }

    let mut correlations = Vec::new();
    for (index, ParsedCorrelation { rule, origin }) in parsed_correlations.iter().enumerate() {
        let Some(id) = claim_id(
            &mut seen_ids,
            rule.id.as_ref(),
            &rule.title,
            origin,
            "correlation has no 'id'",
            problems,
        ) else {
            continue;
        };
        let mut ok = true;
        for reference in &rule.rules {
            if !detection_refs.contains_key(reference) && !correlation_refs.contains_key(reference)
            {
                problems.push(origin.error_at(
                    reference,
                    &id,
                    format!("references unknown rule '{reference}'"),
                ));
                ok = false;
            }
        }
        let aliases: HashSet<&str> = rule.aliases.iter().map(|a| a.alias.as_str()).collect();
        for field in &rule.group_by {
            if !is_known_field(field) && !aliases.contains(field.as_str()) {
                problems.push(origin.error_at(
                    field,
                    &id,
                    format!("group-by field '{field}' is not a Picket event field"),
                ));
                ok = false;
            }
        }
        if let rsigma_parser::CorrelationCondition::Threshold {
            field: Some(fields),
            ..
        } = &rule.condition
        {
            for field in fields.iter().filter(|f| !is_known_field(f)) {
                problems.push(origin.error_at(
                    field,
                    &id,
                    format!("condition field '{field}' is not a Picket event field"),
                ));
                ok = false;
            }
        }
        for message in threshold_problems(&origin.text) {
            problems.push(origin.error_at("condition", &id, message));
            ok = false;
        }
        if rule.timespan.seconds == 0 || rule.timespan.seconds > MAX_TIMESPAN_SECS {
            problems.push(origin.error_at(
                "timespan",
                &id,
                format!(
                    "timespan {} is outside 1s..=24h: correlation state must expire",
                    rule.timespan.original
                ),
            ));
            ok = false;
        }
        if !ok {
            continue;
        }
        // Transitive base rules (cycles are refused by the engine; `seen` stops us looping).
        let mut base = Vec::new();
        let mut stack: Vec<&String> = rule.rules.iter().collect();
        let mut seen = HashSet::new();
        seen.insert(index);
        while let Some(reference) = stack.pop() {
            if let Some(&d) = detection_refs.get(reference) {
                base.push(rules[d].meta.id.clone());
            } else if let Some(&c) = correlation_refs.get(reference) {
                if seen.insert(c) {
                    stack.extend(parsed_correlations[c].rule.rules.iter());
                }
            }
        }
        base.sort();
        base.dedup();
        for reference in &rule.rules {
            if let Some(&d) = detection_refs.get(reference) {
                rules[d].correlated = true;
                if !rule.generate {
                    rules[d].emits = false;
                }
            }
        }
        let shadow = shadow_flag(&rule.custom_attributes, origin, &id, problems);
        let engine_rule = engine_form(rule, origin);
        correlations.push(Correlation {
            meta: RuleMeta {
                id,
                name: rule.name.clone(),
                title: rule.title.clone(),
                level: convert_level(rule.level),
                tags: rule.tags.clone(),
                description: rule.description.clone(),
                shadow,
            },
            rule: engine_rule,
            window_secs: rule.timespan.seconds,
            base_rules: base,
            origin: origin.clone(),
        });
    }

    let correlated_sigma: Vec<SigmaRule> = rules
        .iter()
        .filter(|r| r.correlated)
        .filter_map(|r| sigma_by_id.get(&r.meta.id).cloned())
        .collect();

    let mut routes_out = Vec::with_capacity(10);
    let mut automata = Automata::default();
    for host in [Host::Windows, Host::Linux] {
        let on_routes: Vec<Vec<_>> = Category::ALL
            .into_iter()
            .map(|c| {
                rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.routes[host_index(host)][c.index()])
                    .map(|(i, _)| {
                        (
                            u32::try_from(i).unwrap_or(u32::MAX),
                            witnesses[i].as_deref(),
                        )
                    })
                    .collect()
            })
            .collect();
        let on_routes: Vec<&RouteRules<'_>> = on_routes.iter().map(Vec::as_slice).collect();
        routes_out.extend(Prefilter::build_host(&on_routes, &mut automata));
    }

    let set = RuleSet {
        rules,
        correlations,
        process_rules,
        correlated_sigma,
        routes: routes_out,
        tests,
        files,
        warnings: Vec::new(),
    };

    // The correlations must compile in the engine, with their rules.
    if let Err(e) = set.correlation_engine(CorrelationConfig::default()) {
        problems.push(Problem::error(
            set.correlations
                .first()
                .map_or("rules", |c| c.origin.file.as_str()),
            set.correlations.first().map_or(1, |c| c.origin.line),
            None,
            format!("correlations do not compile: {e}"),
        ));
    }

    check_test_coverage(&set, problems);
    set
}

/// A correlation's threshold (`gt`, `gte`, `lt`, `lte`, `eq`, `neq` under
/// `correlation.condition`) must be a whole number of at least 0: the engine reads it as an
/// unsigned count and would otherwise drop or wrap it silently.
fn threshold_problems(text: &str) -> Vec<String> {
    let Ok(value) = yaml_serde::from_str::<yaml_serde::Value>(text) else {
        return Vec::new();
    };
    let Some(condition) = value.get("correlation").and_then(|c| c.get("condition")) else {
        return Vec::new();
    };
    ["gt", "gte", "lt", "lte", "eq", "neq"]
        .into_iter()
        .filter_map(|op| {
            let v = condition.get(op)?;
            match v.as_u64() {
                Some(_) => None,
                None => Some(format!(
                    "condition '{op}: {}' is not a count: a threshold is a whole number of at least 0",
                    yaml_serde::to_string(v).unwrap_or_default().trim()
                )),
            }
        })
        .collect()
}

/// The correlation engine's clock ticks in milliseconds in Picket (timestamps are fed as
/// Unix milliseconds), so windows are scaled here. Two rsigma 0.23.0 limits are worked around:
/// its correlation clock is whole seconds (a ransomware run fits in one second, so
/// `temporal_ordered` could not tell order), and a `temporal` correlation without a
/// `condition` defaults to "at least one rule fired" although Sigma means "all rules".
pub(crate) fn engine_form(rule: &CorrelationRule, origin: &Origin) -> CorrelationRule {
    let mut out = rule.clone();
    out.timespan.seconds = out.timespan.seconds.saturating_mul(1000);
    if let Some(gap) = out.gap.as_mut() {
        gap.seconds = gap.seconds.saturating_mul(1000);
    }
    let temporal = matches!(
        rule.correlation_type,
        rsigma_parser::CorrelationType::Temporal | rsigma_parser::CorrelationType::TemporalOrdered
    );
    let explicit_condition = yaml_serde::from_str::<yaml_serde::Value>(&origin.text)
        .ok()
        .and_then(|v| v.get("correlation").map(|c| c.get("condition").is_some()))
        .unwrap_or(true);
    if temporal && !explicit_condition {
        out.condition = rsigma_parser::CorrelationCondition::Threshold {
            predicates: vec![(
                rsigma_parser::ConditionOperator::Gte,
                u64::try_from(rule.rules.len()).unwrap_or(u64::MAX),
            )],
            field: None,
            percentile: None,
        };
    }
    out
}

/// Every rule should have a positive and a negative test (a warning otherwise: imported Sigma
/// content has none; the built-in pack is held to it in CI and `rules check --strict` makes it
/// an error); every test must name a rule of the set (an error).
fn check_test_coverage(set: &RuleSet, problems: &mut Vec<Problem>) {
    let mut coverage: HashMap<&str, (bool, bool)> = HashMap::new();
    let ids: HashSet<&str> = set
        .rules
        .iter()
        .map(|r| r.meta.id.as_str())
        .chain(set.correlations.iter().map(|c| c.meta.id.as_str()))
        .collect();
    for test in &set.tests {
        if !ids.contains(test.rule.as_str()) {
            problems.push(Problem::error(
                &test.file,
                test.line,
                Some(&test.rule),
                format!("test '{}' names a rule that is not in the set", test.name),
            ));
            continue;
        }
        let entry = coverage.entry(test.rule.as_str()).or_default();
        match test.expect {
            crate::ruletest::Expect::Match => entry.0 = true,
            crate::ruletest::Expect::NoMatch => entry.1 = true,
        }
    }
    let all = set
        .rules
        .iter()
        .map(|r| (&r.meta.id, &r.origin))
        .chain(set.correlations.iter().map(|c| (&c.meta.id, &c.origin)));
    for (id, origin) in all {
        let (pos, neg) = coverage.get(id.as_str()).copied().unwrap_or_default();
        if !pos || !neg {
            let missing = match (pos, neg) {
                (false, false) => "neither a positive nor a negative test",
                (false, true) => "no positive test",
                _ => "no negative test",
            };
            problems.push(Problem::warning(
                &origin.file,
                origin.line,
                Some(id),
                format!("no test: the rule has {missing} (expect: match / no_match) in a .tests.yml file"),
            ));
        }
    }
}
