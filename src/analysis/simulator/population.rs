//! The simulated test suite: names, jobs, durations, and which tests are flaky how.

use super::config::Scenario;
use super::rng::Rng;

/// A test's flakiness before the timeline exists: its interval as fractions of the history.
#[derive(Debug, Clone)]
pub(super) struct FlakySpec {
    pub rate: f64,
    pub from_frac: f64,
    /// > 1.0 when never fixed.
    pub to_frac: f64,
    pub group: Option<u32>,
    /// Probability that a retry fails, given the previous try failed.
    pub retry_fail: f64,
    pub template: u8,
}

#[derive(Debug, Clone)]
pub(super) struct TestSpec {
    pub classname: String,
    pub name: String,
    pub job: u32,
    pub duration_ms: u32,
    /// Skipped in about half of its runs (a platform-dependent skip).
    pub sometimes_skipped: bool,
    pub flaky: Option<FlakySpec>,
    /// Disabled (reported skipped) from this position of the history on.
    pub disabled_from_frac: Option<f64>,
}

impl TestSpec {
    pub fn flaky_at_frac(&self, frac: f64) -> bool {
        self.flaky
            .as_ref()
            .is_some_and(|f| f.from_frac <= frac && frac < f.to_frac)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Group {
    pub job: u32,
    pub rate: f64,
}

const MODULES: &[&str] = &[
    "billing",
    "cart",
    "auth",
    "search",
    "orders",
    "inventory",
    "reports",
    "api",
];
const VERBS: &[&str] = &[
    "creates", "updates", "rejects", "lists", "retries", "caches", "exports", "syncs",
];
const NOUNS: &[&str] = &[
    "invoice", "session", "order", "user", "token", "report", "webhook", "item",
];

fn retry_fail(sc: &Scenario, rng: &mut Rng, rate: f64) -> f64 {
    if rng.chance(sc.sticky_share) {
        rate.max(0.5)
    } else {
        rate
    }
}

pub(super) fn populate(sc: &Scenario, rng: &mut Rng) -> (Vec<TestSpec>, Vec<Group>) {
    let mut tests: Vec<TestSpec> = (0..sc.tests)
        .map(|i| {
            let module = rng.pick(MODULES);
            TestSpec {
                classname: format!("tests.{module}.test_{}", NOUNS[i % NOUNS.len()]),
                name: format!("test_{}_{}_{i}", rng.pick(VERBS), rng.pick(NOUNS)),
                job: rng.below(sc.jobs as u64) as u32,
                duration_ms: rng.log_uniform(20.0, 4000.0) as u32,
                sometimes_skipped: rng.chance(0.01),
                flaky: None,
                disabled_from_frac: None,
            }
        })
        .collect();
    let mut free: Vec<u32> = (0..sc.tests as u32).collect();
    let mut take = |rng: &mut Rng| -> Option<u32> {
        (!free.is_empty()).then(|| free.swap_remove(rng.below(free.len() as u64) as usize))
    };

    let stable = (sc.flaky_share * sc.tests as f64).round() as usize;
    for _ in 0..stable {
        let Some(t) = take(rng) else { break };
        let rate = rng.log_uniform(sc.flaky_rates.0, sc.flaky_rates.1);
        tests[t as usize].flaky = Some(FlakySpec {
            rate,
            from_frac: 0.0,
            to_frac: 2.0,
            group: None,
            retry_fail: retry_fail(sc, rng, rate),
            template: rng.below(4) as u8,
        });
    }
    let transient = (sc.transient_share * sc.tests as f64).round() as usize;
    for _ in 0..transient {
        let Some(t) = take(rng) else { break };
        let rate = rng.log_uniform(sc.transient_rates.0, sc.transient_rates.1);
        // Becomes flaky in the first 40% of the history; three in four are fixed
        // mid-history (by 70% of it), the others stay flaky to the end.
        let from_frac = rng.uniform(0.05, 0.4);
        let to_frac = if rng.chance(0.75) {
            from_frac + rng.uniform(0.1, 0.3)
        } else {
            2.0
        };
        tests[t as usize].flaky = Some(FlakySpec {
            rate,
            from_frac,
            to_frac,
            group: None,
            retry_fail: retry_fail(sc, rng, rate),
            template: rng.below(4) as u8,
        });
    }

    let mut groups = Vec::new();
    for g in 0..sc.groups {
        let job = rng.below(sc.jobs as u64) as u32;
        let size = rng.between(3, 6) as usize;
        let rate = rng.log_uniform(0.005, 0.1);
        let candidates: Vec<u32> = (0..sc.tests as u32)
            .filter(|&t| tests[t as usize].job == job && tests[t as usize].flaky.is_none())
            .collect();
        let mut members = Vec::new();
        while members.len() < size && members.len() < candidates.len() {
            let t = *rng.pick(&candidates);
            if !members.contains(&t) {
                members.push(t);
            }
        }
        for &t in &members {
            tests[t as usize].flaky = Some(FlakySpec {
                rate,
                from_frac: 0.0,
                to_frac: 2.0,
                group: Some(g as u32),
                retry_fail: rate.max(0.3),
                template: 0,
            });
        }
        groups.push(Group { job, rate });
    }
    (tests, groups)
}
