//! The fault engine: the installed rules, their run-time state, and the decision for one request.
//!
//! Rules are swapped as a whole (an indexed table in an `Arc`, behind a lock held only to clone the
//! `Arc`), so an admin change takes effect for the next request and never blocks requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use rustc_hash::FxHashMap;
use tokio::time::Instant;

use super::path::{Segment, compile_path, is_plain, literal_path, path_matches};
use super::spec::{ErrorSpec, FaultRuleSpec, Firing, LatencySpec, SpecProblem, StreamFault, TransportSpec};

/// Why a rule set was refused.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A rule failed validation.
    #[error("rule `{rule}`: {}: {}", problem.field, problem.message)]
    Invalid {
        /// The rule's name.
        rule: String,
        /// The first problem found.
        problem: SpecProblem,
    },
    /// Two rules share a name.
    #[error("two rules are named `{0}`; rule names must be unique")]
    DuplicateName(String),
    /// More rules than a service holds.
    #[error("{0} rules is more than the {MAX_RULES} a service holds; replace rules instead of adding more")]
    TooMany(usize),
    /// No rule of that name is installed.
    #[error("no fault rule named `{0}`")]
    NotFound(String),
}

/// Marks a request in flight for a rule with contention latency; released on drop.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The most fault rules one service holds: enough for a rule per endpoint and fault, few enough
/// that installing one stays cheap and no journal entry can name thousands.
pub const MAX_RULES: usize = 1000;

/// Lets a request held by rules (latency, hang) go as soon as one of those rules is removed.
#[derive(Debug, Clone, Default)]
pub struct Release(Vec<tokio_util::sync::CancellationToken>);

impl Release {
    /// Completes when a rule holding the request is removed; never when none holds it.
    pub async fn released(&self) {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        futures::future::select_all(self.0.iter().map(|t| Box::pin(t.cancelled()))).await;
    }
}

/// What the engine decided for one request: the sum of every rule that fired. Keep it alive until
/// the response is produced: it holds the request's place in contention counts.
#[derive(Debug, Default)]
pub struct FaultDecision {
    /// Names of the rules that fired, in order.
    pub rules: Vec<String>,
    /// Total added latency.
    pub latency: Duration,
    /// The error to answer with (first firing rule that has one).
    pub error: Option<ErrorSpec>,
    /// The transport fault to apply (first firing rule that has one).
    pub transport: Option<TransportSpec>,
    /// Stream degradation, merged over firing rules.
    pub stream: Option<StreamFault>,
    /// In-flight markers of contention rules.
    pub in_flight: Vec<InFlight>,
    /// Released when a rule that delays or holds the request is removed.
    pub release: Release,
}

impl FaultDecision {
    /// True when no rule fired.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// An installed rule with its run-time state.
struct ActiveRule {
    spec: FaultRuleSpec,
    firing: Firing,
    method: Option<http::Method>,
    path: Option<Vec<Segment>>,
    /// The pattern as one path (`/v1/never/0`) when it has only literal segments: compared whole
    /// against plain request paths, so rules that do not match cost one comparison.
    literal: Option<String>,
    installed: Instant,
    matched: AtomicU64,
    fired: AtomicU64,
    in_flight: Arc<AtomicU64>,
    rng: Mutex<StdRng>,
    /// Cancelled when the rule is removed or replaced, releasing the requests it holds.
    removed: tokio_util::sync::CancellationToken,
}

impl ActiveRule {
    /// A rule of a `spec` that passed validation, which built its `firing`.
    fn new(spec: FaultRuleSpec, firing: Firing, seed: u64, now: Instant) -> Self {
        let method =
            spec.matcher.method.as_ref().and_then(|m| http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok());
        let path = spec.matcher.path.as_deref().map(compile_path);
        let literal = path.as_deref().and_then(literal_path);
        let rule_seed = spec.seed.unwrap_or(seed) ^ common::fnv1a(spec.name.as_bytes());
        ActiveRule {
            spec,
            firing,
            method,
            path,
            literal,
            installed: now,
            matched: AtomicU64::new(0),
            fired: AtomicU64::new(0),
            in_flight: Arc::new(AtomicU64::new(0)),
            rng: Mutex::new(StdRng::seed_from_u64(rule_seed)),
            removed: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// `plain`: the request path is already normalized (see [`is_plain`]).
    fn matches_route(&self, method: &http::Method, path: &str, plain: bool) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        match (&self.literal, &self.path) {
            (Some(literal), _) if plain => literal == path,
            (_, Some(pattern)) => path_matches(pattern, path),
            (_, None) => true,
        }
    }

    /// Counts the request and says whether the rule fires for it.
    fn fires(&self, now: Instant) -> bool {
        let n = self.matched.fetch_add(1, Ordering::Relaxed) + 1;
        let window = &self.spec.window;
        let elapsed = now.saturating_duration_since(self.installed).as_secs_f64();
        if window.after_seconds.is_some_and(|s| elapsed < s)
            || window.until_seconds.is_some_and(|s| elapsed >= s)
            || window.after_requests.is_some_and(|r| n <= r)
            || window.until_requests.is_some_and(|r| n > r)
        {
            return false;
        }
        let active_n = n - window.after_requests.unwrap_or(0);
        let fire = match self.firing {
            Firing::Always => true,
            Firing::Probability(p) => self.rng.lock().random_bool(p),
            Firing::First(first) => active_n <= first,
            Firing::Every(every) => active_n % every == 0,
        };
        if fire {
            self.fired.fetch_add(1, Ordering::Relaxed);
        }
        fire
    }

    /// Samples the latency; `others` is how many other matching requests are in flight.
    fn sample_latency(&self, others: u64) -> Duration {
        let Some(latency) = &self.spec.latency else {
            return Duration::ZERO;
        };
        let mut rng = self.rng.lock();
        let ms = match *latency {
            LatencySpec::Contention { base_ms, per_concurrent_ms } => base_ms + per_concurrent_ms * others as f64,
            LatencySpec::Fixed { ms } => ms,
            LatencySpec::Uniform { min_ms, max_ms } if max_ms > min_ms => rng.random_range(min_ms..max_ms),
            LatencySpec::Uniform { min_ms, .. } => min_ms,
            LatencySpec::Normal { mean_ms, stddev_ms } => {
                Normal::new(mean_ms, stddev_ms).map(|d| d.sample(&mut *rng)).unwrap_or(mean_ms)
            }
            LatencySpec::Lognormal { median_ms, sigma } => {
                LogNormal::new(median_ms.ln(), sigma).map(|d| d.sample(&mut *rng)).unwrap_or(median_ms)
            }
        };
        // Samples of a wide distribution (or contention sums) can exceed any sane value: clamp.
        let ms = if ms.is_finite() { ms.clamp(0.0, super::spec::MAX_FAULT_MS) } else { super::spec::MAX_FAULT_MS };
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// One rule as the admin API reports it: the spec plus how often it matched and fired.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleStatus {
    /// The rule as installed.
    #[serde(flatten)]
    pub spec: FaultRuleSpec,
    /// Requests that matched method, path and attribute.
    pub matched: u64,
    /// Requests the rule fired on.
    pub fired: u64,
}

/// The installed rules in order, indexed so that a request visits only the rules that can match
/// its path: with many literal-path rules installed (one per endpoint and fault, say), a request
/// pays one lookup instead of a comparison per rule.
struct RuleTable {
    rules: Vec<Arc<ActiveRule>>,
    /// Positions of the rules whose whole path is literal, by that path.
    by_literal: FxHashMap<String, Vec<usize>>,
    /// Positions of every other rule (a pattern, or no path), checked for every request.
    others: Vec<usize>,
    /// Whether any rule matches on the request attribute.
    any_attribute: bool,
}

impl RuleTable {
    fn new(rules: Vec<Arc<ActiveRule>>) -> Self {
        let mut by_literal: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut others = Vec::new();
        for (position, rule) in rules.iter().enumerate() {
            match &rule.literal {
                Some(literal) => by_literal.entry(literal.clone()).or_default().push(position),
                None => others.push(position),
            }
        }
        let any_attribute = rules.iter().any(|r| r.spec.matcher.attribute.is_some());
        RuleTable { rules, by_literal, others, any_attribute }
    }

    /// Calls `visit` with each rule that may match `path`, in installation order, and whether the
    /// path is plain, until `visit` returns false.
    fn visit_candidates(&self, path: &str, mut visit: impl FnMut(&ActiveRule, bool) -> bool) {
        if self.rules.is_empty() {
            return;
        }
        if !is_plain(path) {
            // Literal rules compare normalized paths segment by segment: every rule is a candidate.
            for rule in &self.rules {
                if !visit(rule, false) {
                    return;
                }
            }
            return;
        }
        let literal = self.by_literal.get(path).map_or(&[][..], Vec::as_slice);
        let (mut l, mut o) = (literal.iter().peekable(), self.others.iter().peekable());
        loop {
            let next = match (l.peek(), o.peek()) {
                (Some(&&a), Some(&&b)) if a < b => l.next(),
                (Some(_), None) => l.next(),
                (_, Some(_)) => o.next(),
                (None, None) => return,
            };
            if let Some(&position) = next
                && !visit(&self.rules[position], true)
            {
                return;
            }
        }
    }
}

/// A snapshot of the installed rules.
pub struct RuleSet(Arc<RuleTable>);

impl RuleSet {
    /// True when some rule matches on the request attribute (so the caller must extract it).
    pub fn needs_attribute(&self, method: &http::Method, path: &str) -> bool {
        if !self.0.any_attribute {
            return false;
        }
        let mut needed = false;
        self.0.visit_candidates(path, |rule, plain| {
            needed = rule.spec.matcher.attribute.is_some() && rule.matches_route(method, path, plain);
            !needed
        });
        needed
    }

    /// Decides the faults for one request. `attribute` is the service's request attribute, if known.
    pub fn decide(&self, method: &http::Method, path: &str, attribute: Option<&str>) -> FaultDecision {
        let mut decision = FaultDecision::default();
        let mut now = None;
        self.0.visit_candidates(path, |rule, plain| {
            if !rule.matches_route(method, path, plain) {
                return true;
            }
            if let Some(want) = &rule.spec.matcher.attribute
                && attribute != Some(want.as_str())
            {
                return true;
            }
            if !rule.fires(*now.get_or_insert_with(Instant::now)) {
                return true;
            }
            decision.rules.push(rule.spec.name.clone());
            if rule.spec.latency.is_some() || matches!(rule.spec.transport, Some(TransportSpec::Hang { .. })) {
                decision.release.0.push(rule.removed.clone());
            }
            let mut others = 0;
            if let Some(LatencySpec::Contention { .. }) = rule.spec.latency {
                others = rule.in_flight.fetch_add(1, Ordering::Relaxed);
                decision.in_flight.push(InFlight(rule.in_flight.clone()));
            }
            let most = Duration::from_secs_f64(super::spec::MAX_FAULT_MS / 1000.0);
            decision.latency = decision.latency.saturating_add(rule.sample_latency(others)).min(most);
            if decision.error.is_none() && decision.transport.is_none() {
                decision.error = rule.spec.error.clone();
                decision.transport = rule.spec.transport.clone();
            }
            if let Some(stream) = &rule.spec.stream {
                decision.stream = Some(decision.stream.take().unwrap_or_default().merged(stream));
            }
            true
        });
        decision
    }
}

/// The shared, run-time changeable set of fault rules of one service.
pub struct FaultEngine {
    rules: RwLock<Arc<RuleTable>>,
    seed: u64,
    initial: Vec<FaultRuleSpec>,
}

impl FaultEngine {
    /// Builds an engine with the given rules (validated) and RNG seed.
    pub fn new(rules: Vec<FaultRuleSpec>, seed: u64) -> Result<Self, RuleError> {
        let engine =
            FaultEngine { rules: RwLock::new(Arc::new(RuleTable::new(Vec::new()))), seed, initial: rules.clone() };
        engine.replace(rules)?;
        Ok(engine)
    }

    fn snapshot(&self) -> Arc<RuleTable> {
        self.rules.read().clone()
    }

    /// The rules installed right now; a request decides against one snapshot.
    pub fn rules(&self) -> RuleSet {
        RuleSet(self.snapshot())
    }

    /// The installed rules with their counters.
    pub fn list(&self) -> Vec<RuleStatus> {
        self.snapshot()
            .rules
            .iter()
            .map(|r| RuleStatus {
                spec: r.spec.clone(),
                matched: r.matched.load(Ordering::Relaxed),
                fired: r.fired.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Validates `specs` as one table; returns each rule's [`Firing`], in order.
    fn check(specs: &[FaultRuleSpec]) -> Result<Vec<Firing>, RuleError> {
        if specs.len() > MAX_RULES {
            return Err(RuleError::TooMany(specs.len()));
        }
        let mut names = std::collections::HashSet::new();
        let mut firings = Vec::with_capacity(specs.len());
        for spec in specs {
            let invalid = |problem| RuleError::Invalid { rule: spec.name.clone(), problem };
            if let Some(problem) = spec.validate().into_iter().next() {
                return Err(invalid(problem));
            }
            firings.push(spec.firing().map_err(invalid)?);
            if !names.insert(spec.name.as_str()) {
                return Err(RuleError::DuplicateName(spec.name.clone()));
            }
        }
        Ok(firings)
    }

    /// Installs `rules` as the whole table, releasing the requests held by rules that left it.
    fn install(guard: &mut Arc<RuleTable>, rules: Vec<Arc<ActiveRule>>) {
        let old = std::mem::replace(guard, Arc::new(RuleTable::new(rules)));
        for gone in old.rules.iter().filter(|r| !guard.rules.iter().any(|n| Arc::ptr_eq(n, r))) {
            gone.removed.cancel();
        }
    }

    /// Replaces every rule (all or nothing).
    pub fn replace(&self, specs: Vec<FaultRuleSpec>) -> Result<(), RuleError> {
        let firings = Self::check(&specs)?;
        let now = Instant::now();
        let rules =
            specs.into_iter().zip(firings).map(|(s, f)| Arc::new(ActiveRule::new(s, f, self.seed, now))).collect();
        Self::install(&mut self.rules.write(), rules);
        Ok(())
    }

    /// Adds a rule, or replaces the rule of the same name (its counters restart). At most
    /// [`MAX_RULES`] rules, so this stays cheap.
    pub fn upsert(&self, spec: FaultRuleSpec) -> Result<(), RuleError> {
        let firing = Self::check(std::slice::from_ref(&spec))?[0];
        let mut guard = self.rules.write();
        let mut rules: Vec<_> = guard.rules.iter().filter(|r| r.spec.name != spec.name).cloned().collect();
        if rules.len() >= MAX_RULES {
            return Err(RuleError::TooMany(rules.len() + 1));
        }
        rules.push(Arc::new(ActiveRule::new(spec, firing, self.seed, Instant::now())));
        Self::install(&mut guard, rules);
        Ok(())
    }

    /// Removes one rule by name (releasing the requests it holds).
    pub fn remove(&self, name: &str) -> Result<(), RuleError> {
        let mut guard = self.rules.write();
        if !guard.rules.iter().any(|r| r.spec.name == name) {
            return Err(RuleError::NotFound(name.to_owned()));
        }
        let rules = guard.rules.iter().filter(|r| r.spec.name != name).cloned().collect();
        Self::install(&mut guard, rules);
        Ok(())
    }

    /// Removes every rule (releasing the requests they hold).
    pub fn clear(&self) {
        Self::install(&mut self.rules.write(), Vec::new());
    }

    /// Restores the rules the engine started with.
    pub fn reset(&self) {
        self.replace(self.initial.clone()).expect("initial rules were validated at start");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, path: &str, status: u16) -> FaultRuleSpec {
        serde_json::from_value(serde_json::json!({"name": name, "match": {"path": path}, "error": {"status": status}}))
            .unwrap()
    }

    #[test]
    fn indexed_rules_decide_in_installation_order() {
        let get = http::Method::GET;
        let engine = FaultEngine::new(
            vec![
                spec("pattern-first", "/v1/**", 500),
                spec("literal", "/v1/chat", 503),
                spec("other-literal", "/v1/never", 502),
                spec("pattern-last", "/v1/*", 504),
            ],
            1,
        )
        .unwrap();
        for path in ["/v1/chat", "//v1/chat/"] {
            let decision = engine.rules().decide(&get, path, None);
            assert_eq!(decision.rules, ["pattern-first", "literal", "pattern-last"], "{path}");
            assert_eq!(decision.error.map(|e| e.status), Some(500), "the first firing rule's error wins");
        }
        engine.replace(vec![spec("literal", "/v1/chat", 503), spec("pattern", "/v1/**", 500)]).unwrap();
        let decision = engine.rules().decide(&get, "/v1/chat", None);
        assert_eq!(decision.rules, ["literal", "pattern"]);
        assert_eq!(decision.error.map(|e| e.status), Some(503));
        assert!(engine.rules().decide(&get, "/health", None).is_empty());
        let list = engine.list();
        assert_eq!(
            list.iter().map(|r| r.matched).collect::<Vec<_>>(),
            [1, 1],
            "each rule counted the one request its path matched"
        );
    }

    #[test]
    fn literal_rules_match_like_their_patterns_on_any_path() {
        let rule = |path: &str| {
            let spec: FaultRuleSpec = serde_json::from_value(
                serde_json::json!({"name": "r", "match": {"method": "POST", "path": path}, "error": {"status": 500}}),
            )
            .unwrap();
            ActiveRule::new(spec, Firing::Always, 1, Instant::now())
        };
        let post = http::Method::POST;
        for (pattern, path, expected) in [
            ("/v1/chat/completions", "/v1/chat/completions", true),
            ("/v1/chat/completions", "/v1/chat/completions/", true),
            ("/v1/chat/completions", "//v1//chat/completions", true),
            ("/v1/chat/completions", "/v1/chat", false),
            ("v1/chat/", "/v1/chat", true),
            ("/", "/", true),
            ("/", "/health", false),
            ("/v1/*", "/v1/x", true),
        ] {
            let r = rule(pattern);
            assert_eq!(r.matches_route(&post, path, is_plain(path)), expected, "{pattern} vs {path}");
            assert_eq!(r.matches_route(&post, path, false), expected, "{pattern} vs {path} (segment walk)");
        }
        assert!(!rule("/v1/chat").matches_route(&http::Method::GET, "/v1/chat", true));
    }
}
