//! `event_count` and `value_count` correlations over detection rules, counted by Picket
//! itself.
//!
//! rsigma's correlation engine is general: every detection it is fed goes through rule
//! lookups by string, a group key cloned several times, SipHash maps and allocations —
//! about 4 000 instructions per fed detection. The built-in pack's ransomware chain feeds it
//! every file closed after modification (`picket-ransom-rewrite` → `event_count`), the most
//! common file event there is, to count per process. Such a count is a sliding window of
//! timestamps per group: kept here, the same work is a hash lookup and a deque push.
//!
//! A `value_count` is worse there: rsigma counts a group's distinct values by building a
//! set of every value in its window on every update, so a process that renames thousands of
//! files to one new extension (`picket-ransom-mass-rename`: what ransomware does, and an
//! attack simulator with it) costs a set of up to `max_group_entries` strings per rename —
//! about 70 µs each at the default 1 000, against ~1 µs for any other event. Here each
//! group keeps how many times each value is in its window, updated as entries come and go,
//! so the distinct count is the size of that map.
//!
//! Only what certainly gives the same alerts is taken over (see [`Counts::new`]); everything
//! else stays with rsigma. A count that fires yields the correlation result rsigma's engine
//! would (the runtime decides whether it alerts, as for rsigma's); when correlations are
//! built on it, it is also handed to rsigma as a detection of the correlation's id, so they
//! (a `temporal` chain) are updated by rsigma as its own chaining would: same group (the
//! parents group by fields this count groups by, read from the same event), same window,
//! same rule reference — one step earlier, which the correlations above must not mind.
//! `tests/native_counts.rs` runs rule sets both ways over the same streams and compares
//! every event's alerts and firings.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::Arc;

use rsigma_eval::correlation::{GroupByField, GroupKey};
use rsigma_eval::result::{CorrelationBody, DetectionBody, ResultBody, RuleHeader};
use rsigma_eval::{EvaluationResult, Event, EventValue};
use rsigma_parser::{ConditionOperator, CorrelationCondition, CorrelationType, WindowMode};

use crate::event::SigmaEvent;
use crate::ruleset::RuleSet;

/// The engine settings a count must follow (those rsigma is given).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CountSettings {
    /// Groups kept, all counts together (the stalest tenth dropped past it).
    pub max_groups: usize,
    /// Timestamps kept per group, newest first.
    pub max_group_entries: usize,
    /// After a count fires for a group it stays quiet this long for it (ms).
    pub suppress_ms: i64,
}

/// One `event_count` or `value_count` correlation counted here.
#[derive(Debug)]
struct Count {
    /// The correlation's index in the rule set.
    correlation: usize,
    group_by: Vec<GroupByField>,
    /// A `value_count`'s fields (their values joined make the value counted); `None` for an
    /// `event_count`.
    distinct: Option<Vec<String>>,
    /// Correlations are built on it (rsigma must hear of its firings).
    feeds_parents: bool,
    /// Window in engine units (ms).
    window: i64,
    predicates: Vec<(ConditionOperator, f64)>,
}

/// A group's window: entry times in arrival order, and its last firing; for a
/// `value_count`, the values of those entries too.
#[derive(Debug, Default)]
struct Window {
    times: VecDeque<i64>,
    /// Boxed: most groups are `event_count`s', which need none of it.
    values: Option<Box<Values>>,
    last_fired: Option<i64>,
}

/// A `value_count` group's values: `entries[i]` is that of `times[i]`, and `held` says how
/// many entries hold each value (its length is the distinct count).
#[derive(Debug, Default)]
struct Values {
    entries: VecDeque<Arc<str>>,
    held: HashMap<Arc<str>, u32, ahash::RandomState>,
}

impl Window {
    /// Drops the oldest entry (and its value's share of the distinct count).
    fn pop_front(&mut self) {
        self.times.pop_front();
        let Some(values) = self.values.as_deref_mut() else {
            return;
        };
        let Some(value) = values.entries.pop_front() else {
            return;
        };
        if let Some(held) = values.held.get_mut(&value) {
            *held -= 1;
            if *held == 0 {
                values.held.remove(&value);
            }
        }
    }

    /// Drops entries from the front while they are older than `cutoff` (as rsigma's
    /// sliding window: in arrival order, so an older entry behind a newer one stays).
    fn evict(&mut self, cutoff: i64) {
        while self.times.front().is_some_and(|&t| t < cutoff) {
            self.pop_front();
        }
    }

    /// Adds an entry at `now`, with its value for a `value_count`.
    fn push(&mut self, now: i64, value: Option<&str>) {
        self.times.push_back(now);
        if let Some(value) = value {
            let values = self.values.get_or_insert_with(Box::default);
            let value = match values.held.get_key_value(value) {
                Some((held, _)) => Arc::clone(held),
                None => Arc::from(value),
            };
            *values.held.entry(Arc::clone(&value)).or_insert(0) += 1;
            values.entries.push_back(value);
        }
    }

    /// The count the threshold is checked against: entries, or distinct values.
    fn measure(&self, distinct: bool) -> usize {
        if distinct {
            self.values.as_ref().map_or(0, |v| v.held.len())
        } else {
            self.times.len()
        }
    }
}

/// The counts of a rule set and their state.
pub(crate) struct Counts {
    counts: Vec<Count>,
    /// Detection rule index → the counts it feeds (empty for most).
    by_rule: Vec<Vec<usize>>,
    groups: HashMap<(usize, GroupKey), Window, ahash::RandomState>,
    /// The key of the group being fed (a count's index and its group), reused.
    key: (usize, GroupKey),
    settings: CountSettings,
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts")
            .field("counts", &self.counts.len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Counts {
    /// The correlations of `set` that can be counted here with certainty of the same
    /// alerts, or `None` when there are none. A correlation qualifies when:
    /// - it is an `event_count` with a plain threshold, or a `value_count` with a threshold
    ///   on named fields; with a sliding window and no aliases (whether it alerts itself is
    ///   the runtime's decision, made on its firings as on rsigma's);
    /// - every rule it names is one detection rule of the set (a reference that is one rule's
    ///   id and another's name, or two rules' name, reaches only one of them in the rule
    ///   set's wiring), and each of those rules feeds qualifying counts only (a detection
    ///   that rsigma also needs would update rsigma's copy of the count too);
    /// - every correlation built on it names it by id, has no aliases and groups by fields
    ///   it groups by (so rsigma reads the same group from the event as its chaining would
    ///   pass);
    /// - every correlation above it, at any height, is indifferent to the order of the
    ///   updates one event brings: an `event_count`, or a `temporal` (ordered or not) whose
    ///   condition is "all its rules" — rsigma updates the parent of a count that fires here
    ///   while feeding detections, one step before its own chaining would, which can change
    ///   the order of updates within one event, never their effect on these; and the chain
    ///   above is at most 9 high (rsigma chains 10 steps: the earlier start must not reach
    ///   one more);
    /// - a group that fired stays quiet for a while (`suppress_ms > 0`: two updates of one
    ///   event could otherwise both fire a parent in one order and once in the other);
    /// - no rule of the set carries `rsigma.*` engine settings (suppression, actions and
    ///   caps per correlation or for the engine).
    ///
    /// Below the state bounds the results are the same as rsigma's; the order of several
    /// alerts from one event may differ. Past the bounds (a flood of distinct groups) the
    /// two evict different state at different times.
    pub(crate) fn new(set: &RuleSet, settings: CountSettings) -> Option<Self> {
        let engine_settings = set
            .rules
            .iter()
            .any(|r| rsigma_keys(r.compiled.custom_attributes.keys()))
            || set
                .correlations
                .iter()
                .any(|c| rsigma_keys(c.rule.custom_attributes.keys()));
        if engine_settings || settings.suppress_ms <= 0 {
            return None;
        }
        let refs = |reference: &str| -> Vec<usize> {
            set.rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.meta.id == reference || r.meta.name.as_deref() == Some(reference)
                })
                .map(|(i, _)| i)
                .collect()
        };
        let above = OrderFreeAbove::of(set);
        let names_correlation = |reference: &str| {
            set.correlations
                .iter()
                .any(|c| c.meta.id == reference || c.meta.name.as_deref() == Some(reference))
        };
        let mut eligible: Vec<bool> = set
            .correlations
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let rule = &c.rule;
                let parents: Vec<_> = above.parents[i]
                    .iter()
                    .map(|&at| &set.correlations[at])
                    .collect();
                counted_kind(rule).is_some()
                    && rule.window == WindowMode::Sliding
                    && rule.gap.is_none()
                    && rule.aliases.is_empty()
                    && above.holds(i)
                    && parents.iter().all(|p| {
                        p.rule.aliases.is_empty()
                            && p.rule.rules.iter().all(|r| {
                                Some(r.as_str()) != c.meta.name.as_deref() || *r == c.meta.id
                            })
                            && p.rule.group_by.iter().all(|f| rule.group_by.contains(f))
                    })
                    && rule
                        .rules
                        .iter()
                        .all(|r| refs(r).len() == 1 && !names_correlation(r))
            })
            .collect();
        // A detection rule that also feeds a correlation left to rsigma goes to rsigma, and
        // then the counts it feeds must be rsigma's too (until nothing changes).
        let bases: Vec<Vec<usize>> = set
            .correlations
            .iter()
            .map(|c| c.rule.rules.iter().flat_map(|r| refs(r)).collect())
            .collect();
        loop {
            let mut to_rsigma = vec![false; set.rules.len()];
            for (i, rules) in bases.iter().enumerate() {
                if !eligible[i] {
                    for &rule in rules {
                        to_rsigma[rule] = true;
                    }
                }
            }
            let mut changed = false;
            for (i, rules) in bases.iter().enumerate() {
                if eligible[i] && rules.iter().any(|&rule| to_rsigma[rule]) {
                    eligible[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut counts = Vec::new();
        let mut by_rule = vec![Vec::new(); set.rules.len()];
        for (i, c) in set.correlations.iter().enumerate() {
            if !eligible[i] {
                continue;
            }
            let (Some(distinct), CorrelationCondition::Threshold { predicates, .. }) =
                (counted_kind(&c.rule), &c.rule.condition)
            else {
                continue;
            };
            let at = counts.len();
            counts.push(Count {
                correlation: i,
                group_by: c
                    .rule
                    .group_by
                    .iter()
                    .map(|f| GroupByField::Direct(f.clone()))
                    .collect(),
                distinct,
                feeds_parents: !above.parents[i].is_empty(),
                window: i64::try_from(c.rule.timespan.seconds).unwrap_or(i64::MAX),
                #[allow(clippy::cast_precision_loss)] // as rsigma compares them
                predicates: predicates.iter().map(|&(op, v)| (op, v as f64)).collect(),
            });
            for r in &c.rule.rules {
                for rule in refs(r) {
                    if !by_rule[rule].contains(&at) {
                        by_rule[rule].push(at);
                    }
                }
            }
        }
        (!counts.is_empty()).then(|| Self {
            counts,
            by_rule,
            groups: HashMap::with_hasher(ahash::RandomState::new()),
            key: (0, GroupKey(Vec::new())),
            settings,
        })
    }

    /// Whether `rule`'s matches are counted here (and must not go to rsigma).
    pub(crate) fn counts_rule(&self, rule: usize) -> bool {
        self.by_rule.get(rule).is_some_and(|c| !c.is_empty())
    }

    /// Counts a match of `rule` on `event` at `now` (engine units), as rsigma would: the
    /// window slides, the time is pushed, the group is capped, the threshold checked, and a
    /// firing within the suppression time of the group's last one is dropped. Each firing is
    /// appended to `firings` as rsigma's correlation result would be, and, when correlations
    /// are built on the count, to `to_rsigma` as a detection of the correlation (rsigma
    /// updates them from it).
    ///
    /// A count fires at most once per event (two of its rules matching one event update the
    /// same group, and suppression is on); rsigma is handed each firing count once.
    pub(crate) fn feed(
        &mut self,
        rule: usize,
        event: &SigmaEvent<'_>,
        now: i64,
        set: &RuleSet,
        firings: &mut Vec<EvaluationResult>,
        to_rsigma: &mut Vec<EvaluationResult>,
    ) {
        let now = now.clamp(0, i64::MAX / 2);
        let Some(counts) = self.by_rule.get(rule) else {
            return;
        };
        for &at in counts {
            let count = &self.counts[at];
            // The group's key is read into a buffer kept between events (rsigma's
            // `GroupKey::extract` allocates every value of it), and copied only for a new
            // group.
            self.key.0 = at;
            group_key_into(&mut self.key.1, event, &count.group_by);
            // The value before the window is touched, as rsigma reads it (an event without
            // one adds no entry, but its group is still checked and may fire).
            let value = count.distinct.as_deref().and_then(|f| value_of(event, f));
            // One lookup for a known group (most events); a new one is made room for and
            // added.
            let window = match self.groups.get_mut(&self.key) {
                Some(window) => window,
                None => {
                    if self.groups.len() >= self.settings.max_groups {
                        Self::shed(&mut self.groups, &self.counts, self.settings, now);
                    }
                    self.groups.entry(self.key.clone()).or_default()
                }
            };
            window.evict(now - count.window);
            match (&count.distinct, value) {
                (None, _) => window.push(now, None),
                (Some(_), Some(value)) => window.push(now, Some(&value)),
                (Some(_), None) => {}
            }
            let cap = self.settings.max_group_entries.max(1);
            while window.times.len() > cap {
                window.pop_front();
            }
            #[allow(clippy::cast_precision_loss)] // as rsigma counts
            let value = window.measure(count.distinct.is_some()) as f64;
            if !holds(&count.predicates, value) {
                continue;
            }
            if window
                .last_fired
                .is_some_and(|last| now - last < self.settings.suppress_ms)
            {
                continue;
            }
            window.last_fired = Some(now);
            let meta = &set.correlations[count.correlation].meta;
            // rsigma's own result for the firing (what the runtime reads of it: the id, the
            // kind, the group and the count), alerting or not as rsigma's would.
            firings.push(EvaluationResult {
                header: header(meta),
                body: ResultBody::Correlation(CorrelationBody {
                    correlation_type: if count.distinct.is_some() {
                        CorrelationType::ValueCount
                    } else {
                        CorrelationType::EventCount
                    },
                    group_key: self.key.1.to_pairs(&count.group_by),
                    aggregated_value: value,
                    timespan_secs: u64::try_from(count.window).unwrap_or(0),
                    events: None,
                    event_refs: None,
                }),
            });
            if !count.feeds_parents
                || to_rsigma
                    .iter()
                    .any(|f| f.header.rule_id.as_deref() == Some(meta.id.as_str()))
            {
                continue;
            }
            to_rsigma.push(EvaluationResult {
                header: header(meta),
                body: ResultBody::Detection(DetectionBody {
                    matched_selections: Vec::new(),
                    matched_fields: Vec::new(),
                    event: None,
                }),
            });
        }
    }

    /// Drops what time has expired at `now`: old times, and groups left with none whose
    /// suppression is over.
    pub(crate) fn expire(&mut self, now: i64) {
        expire(
            &mut self.groups,
            &self.counts,
            self.settings.suppress_ms,
            now,
        );
    }

    /// Past the group limit: expire, then drop the stalest groups down to 90 % (as rsigma
    /// does with its own state).
    fn shed(
        groups: &mut HashMap<(usize, GroupKey), Window, impl BuildHasher>,
        counts: &[Count],
        settings: CountSettings,
        now: i64,
    ) {
        expire(groups, counts, settings.suppress_ms, now);
        if groups.len() < settings.max_groups {
            return;
        }
        let target = settings.max_groups * 9 / 10;
        let excess = groups.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        // The time of the excess-th stalest group, found without sorting (or cloning a key:
        // a flood of distinct groups sheds every tenth of the budget): every group older
        // goes, and of those at that very time as many as are still needed.
        let newest = |w: &Window| {
            w.times
                .back()
                .copied()
                .max(w.last_fired)
                .unwrap_or(i64::MIN)
        };
        let mut ages: Vec<i64> = groups.values().map(newest).collect();
        let (_, &mut bound, _) = ages.select_nth_unstable(excess - 1);
        let older = ages.iter().filter(|&&t| t < bound).count();
        let mut at_bound = excess - older;
        groups.retain(|_, w| {
            let t = newest(w);
            if t < bound {
                false
            } else if t == bound && at_bound > 0 {
                at_bound -= 1;
                false
            } else {
                true
            }
        });
    }

    /// The ids of the correlations counted here.
    pub(crate) fn ids<'a>(&self, set: &'a RuleSet) -> Vec<&'a str> {
        self.counts
            .iter()
            .map(|c| set.correlations[c.correlation].meta.id.as_str())
            .collect()
    }

    /// Groups held.
    pub(crate) fn groups(&self) -> usize {
        self.groups.len()
    }

    /// The most times any group holds.
    pub(crate) fn largest_group(&self) -> usize {
        self.groups
            .values()
            .map(|w| w.times.len())
            .max()
            .unwrap_or(0)
    }
}

/// Drops old times, a last firing whose suppression is over, and groups left with neither
/// (rsigma's eviction forgets a window's old entries and a group's last alert at those same
/// points, each on its own).
fn expire(
    groups: &mut HashMap<(usize, GroupKey), Window, impl BuildHasher>,
    counts: &[Count],
    suppress_ms: i64,
    now: i64,
) {
    groups.retain(|(at, _), window| {
        window.evict(now - counts[*at].window);
        if window.last_fired.is_some_and(|t| now - t >= suppress_ms) {
            window.last_fired = None;
        }
        !window.times.is_empty() || window.last_fired.is_some()
    });
}

/// For each correlation, how high the correlations built on it stack and whether all of them
/// are indifferent to the order of one event's updates (see [`Counts::new`]). Computed once
/// per correlation (a rule set shaped as a wide lattice must not cost a walk per path), and a
/// cycle counts as not indifferent.
struct OrderFreeAbove {
    /// `None` while being computed; then whether all above are order-free, and the height.
    memo: Vec<Option<(bool, usize)>>,
    /// Correlation index → the correlations naming it.
    parents: Vec<Vec<usize>>,
}

/// The tallest stack above a count that rsigma's chaining still reaches one step early.
const MAX_HEIGHT_ABOVE: usize = 9;

impl OrderFreeAbove {
    fn of(set: &RuleSet) -> Self {
        let parents =
            set.correlations
                .iter()
                .map(|c| {
                    set.correlations
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| {
                            p.rule.rules.iter().any(|r| {
                                *r == c.meta.id || Some(r.as_str()) == c.meta.name.as_deref()
                            })
                        })
                        .map(|(at, _)| at)
                        .collect()
                })
                .collect();
        let mut this = Self {
            memo: vec![None; set.correlations.len()],
            parents,
        };
        for i in 0..set.correlations.len() {
            this.visit(set, i, &mut vec![false; set.correlations.len()]);
        }
        this
    }

    /// Whether everything above correlation `index` is order-free and at most
    /// [`MAX_HEIGHT_ABOVE`] high.
    fn holds(&self, index: usize) -> bool {
        self.memo
            .get(index)
            .copied()
            .flatten()
            .is_some_and(|(free, height)| free && height <= MAX_HEIGHT_ABOVE)
    }

    fn visit(&mut self, set: &RuleSet, index: usize, on_path: &mut [bool]) -> (bool, usize) {
        if let Some(done) = self.memo[index] {
            return done;
        }
        if on_path[index] {
            return (false, usize::MAX);
        }
        on_path[index] = true;
        let mut result = (true, 0);
        for at in self.parents[index].clone() {
            let (free, height) = self.visit(set, at, on_path);
            result.0 &= free && order_free(&set.correlations[at].rule);
            result.1 = result.1.max(height.saturating_add(1));
        }
        on_path[index] = false;
        self.memo[index] = Some(result);
        result
    }
}

/// An `event_count` (each update adds one, whichever child brings it), or a `temporal`
/// whose condition is all of its rules (it fires when the last one arrives, whichever it is).
fn order_free(rule: &rsigma_parser::CorrelationRule) -> bool {
    match (&rule.correlation_type, &rule.condition) {
        (CorrelationType::EventCount, CorrelationCondition::Threshold { field: None, .. }) => true,
        (
            CorrelationType::Temporal | CorrelationType::TemporalOrdered,
            CorrelationCondition::Threshold { predicates, .. },
        ) => {
            let all = u64::try_from(rule.rules.len()).unwrap_or(u64::MAX);
            predicates.as_slice() == [(ConditionOperator::Gte, all)]
        }
        _ => false,
    }
}

/// A result header naming correlation `meta` (rsigma's carries its level and tags too; the
/// runtime reads the id and takes the rest from the rule set).
fn header(meta: &crate::ruleset::RuleMeta) -> RuleHeader {
    RuleHeader {
        rule_title: meta.title.clone(),
        rule_id: Some(meta.id.clone()),
        level: None,
        tags: Vec::new(),
        custom_attributes: Arc::default(),
        enrichments: None,
    }
}

/// Whether `rule` is of a kind counted here: `Some(None)` for an `event_count` (a plain
/// threshold), `Some(Some(fields))` for a `value_count` of `fields`.
fn counted_kind(rule: &rsigma_parser::CorrelationRule) -> Option<Option<Vec<String>>> {
    match (&rule.correlation_type, &rule.condition) {
        (CorrelationType::EventCount, CorrelationCondition::Threshold { field: None, .. }) => {
            Some(None)
        }
        (
            CorrelationType::ValueCount,
            CorrelationCondition::Threshold {
                field: Some(fields),
                ..
            },
        ) => Some(Some(fields.clone())),
        _ => None,
    }
}

/// Reads the group `group_by` gives `event` into `key`, reusing its strings: the key
/// rsigma 0.23's `GroupKey::extract` makes (each value as text; `None` for a missing field or
/// one that is not a string, number or boolean).
fn group_key_into(key: &mut GroupKey, event: &SigmaEvent<'_>, group_by: &[GroupByField]) {
    key.0.resize_with(group_by.len(), || None);
    for (slot, field) in key.0.iter_mut().zip(group_by) {
        let mut text = slot.take().unwrap_or_default();
        text.clear();
        let written = match event.get_field(field.resolve(&[])) {
            Some(EventValue::Str(s)) => {
                text.push_str(&s);
                true
            }
            Some(EventValue::Int(n)) => {
                push_decimal(&mut text, n);
                true
            }
            Some(EventValue::Float(f)) => write!(text, "{f}").is_ok(),
            Some(EventValue::Bool(b)) => write!(text, "{b}").is_ok(),
            _ => false,
        };
        *slot = written.then_some(text);
    }
}

/// Appends `n` as `{n}` writes it: most groups are a process id, and the formatter's
/// machinery cost more than the rest of a count's update.
fn push_decimal(text: &mut String, n: i64) {
    if n < 0 {
        text.push('-');
    }
    let mut rest = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // A remainder below ten: the cast keeps it whole.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (rest % 10) as u8;
        digits[at] = b'0' + digit;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    text.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// The value a `value_count` of `fields` counts for `event`, as rsigma 0.23 renders it
/// (`composite_value_count_key`): each field's value as text, joined by U+001F; `None` when
/// a field is missing or not a scalar.
fn value_of<'e>(event: &'e SigmaEvent<'_>, fields: &[String]) -> Option<Cow<'e, str>> {
    fn text<'v>(value: EventValue<'v>) -> Option<Cow<'v, str>> {
        match value {
            EventValue::Str(s) => Some(s),
            EventValue::Int(n) => Some(Cow::Owned(n.to_string())),
            EventValue::Float(f) => Some(Cow::Owned(f.to_string())),
            EventValue::Bool(b) => Some(Cow::Owned(b.to_string())),
            EventValue::Null => Some(Cow::Borrowed("null")),
            _ => None,
        }
    }
    if let [field] = fields {
        return text(event.get_field(field)?);
    }
    let mut parts = Vec::with_capacity(fields.len());
    for field in fields {
        parts.push(text(event.get_field(field)?)?);
    }
    Some(Cow::Owned(parts.join("\u{1f}")))
}

/// Whether every predicate holds for `value`, compared as rsigma compares.
fn holds(predicates: &[(ConditionOperator, f64)], value: f64) -> bool {
    predicates.iter().all(|&(op, threshold)| match op {
        ConditionOperator::Lt => value < threshold,
        ConditionOperator::Lte => value <= threshold,
        ConditionOperator::Gt => value > threshold,
        ConditionOperator::Gte => value >= threshold,
        ConditionOperator::Eq => (value - threshold).abs() < f64::EPSILON,
        ConditionOperator::Neq => (value - threshold).abs() >= f64::EPSILON,
    })
}

fn rsigma_keys<'a>(mut keys: impl Iterator<Item = &'a String>) -> bool {
    keys.any(|k| k.starts_with("rsigma."))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use picket_model::{Details, FileEvent, Host, Operation, ProcessInfo, ProcessKey, Timestamp};
    use rsigma_eval::correlation::{GroupByField, GroupKey};

    use super::{group_key_into, push_decimal};
    use crate::event::SigmaEvent;
    use crate::ruletest::file_path;

    /// Numbers in a group key are written as `format!` writes them: every digit count, both
    /// sides of each power of ten, zero, negatives and the extremes.
    #[test]
    fn group_numbers_are_formatted_as_rust_formats_them() {
        let mut values = vec![0, 1, -1, i64::MAX, i64::MIN, i64::MIN + 1];
        let mut power = 1i64;
        while let Some(next) = power.checked_mul(10) {
            values.extend([power - 1, power, power + 1, -power, -(power - 1)]);
            power = next;
        }
        values.extend([power - 1, power, power + 1, -power]);
        let mut text = String::from("stale");
        for n in values {
            text.clear();
            push_decimal(&mut text, n);
            assert_eq!(text, format!("{n}"));
        }
    }

    /// The key kept between events reads every group as rsigma's `extract` does: strings,
    /// numbers, booleans, floats, missing fields, and a buffer that held longer values.
    #[test]
    fn reused_group_keys_are_rsigmas() {
        let fields: Vec<GroupByField> = [
            "ProcessId",
            "FileExtension",
            "User",
            "Entropy",
            "IsDirectory",
            "NoSuchField",
            "TargetFilename",
        ]
        .iter()
        .map(|f| GroupByField::Direct((*f).to_owned()))
        .collect();
        let mut key = GroupKey(Vec::new());
        for (i, path) in [
            r"C:\Users\alice\Documents\a very long folder name\report.docx",
            r"C:\x",
            r"C:\Users\bob\Übersicht.txt",
            r"C:\y\",
        ]
        .iter()
        .enumerate()
        {
            let event = FileEvent {
                seq: 0,
                time: Timestamp(1),
                host: Host::Windows,
                operation: Operation::CloseModified,
                process: Arc::new(ProcessInfo {
                    key: ProcessKey {
                        pid: 4 + u32::try_from(i).unwrap() * 1000,
                        start_key: 1,
                    },
                    user: (i % 2 == 0).then(|| "CORP\\alice".to_owned()),
                    ..ProcessInfo::default()
                }),
                thread_id: 1,
                target: file_path(path, Host::Windows),
                source: None,
                details: Details::default(),
                entropy: (i != 1).then_some(7.25 + f64::from(u32::try_from(i).unwrap())),
            };
            let view = SigmaEvent::new(&event, false);
            for n in [fields.len(), 2, fields.len()] {
                group_key_into(&mut key, &view, &fields[..n]);
                assert_eq!(key, GroupKey::extract(&view, &fields[..n], &[]), "{path}");
            }
            // Each kind of value is there to be read (the entropy on all but one event).
            let present: Vec<bool> = key.0.iter().map(Option::is_some).collect();
            assert_eq!(
                present,
                [true, i % 2 == 0, i % 2 == 0, i != 1, true, false, true],
                "{key:?}"
            );
        }
    }
}
