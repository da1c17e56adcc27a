//! The offline accuracy harness: feeds a simulated history, run by run, to flakewatch's
//! scorer and to the simple rules, and compares what they say with the ground truth.
//!
//! Definitions:
//! - A test is *truly flaky* after run `s` when it is inside its flaky interval and its
//!   flakiness has shown (a try failed because of it, not masked by a regression or an
//!   outage) at least once inside that interval up to `s` (see `TestTruth::truly_flaky`).
//! - A fixed test stays *observably flaky* for `TestTruth::fix_grace_runs` of its runs
//!   after the fix: the runs within which a still-flaky test would have failed with 95%
//!   probability. Before that nobody can tell the fix from luck. This mirrors the onset
//!   rule above (flaky counts from its first failure). The *strict* variant counts the
//!   test as not flaky from the fix on; both are reported.
//! - A detector *labels* a test flaky when it says so after its latest observation.
//! - Precision/recall/F1 are computed over all tests at `checkpoints` evenly spaced points
//!   of the history: "end" is the last point (end of history), "time-averaged" sums the
//!   confusion counts of every point.
//! - Runs to flag: for each flaky test that showed its flakiness, the test's own
//!   observations from the first manifestation to the first one after which the detector
//!   labels it flaky (0 = on that very run), while still inside the flaky interval. Tests
//!   never flagged are counted apart.
//! - A regression on a test that is not truly flaky is *labelled flaky* when the detector
//!   newly labels the test flaky while it fails from it, or within `REGRESSION_GRACE` of the
//!   test's observations after its last failing run, and the test is not truly flaky at
//!   that moment (its own flakiness did not show meanwhile). Regressions on truly flaky tests (on
//!   main, failing at least 3 main runs) are checked for a `Broken` status at their last
//!   failing main run.
//! - Runs to clear: for each flaky test that showed its flakiness, got fixed and was labelled
//!   flaky at its first observation after the fix, the observations until the detector stops
//!   labelling it flaky. Tests still labelled at the end of history are counted apart.
//! - Broken at the end: a test whose latest result on the default branch failed because of
//!   a regression, and that is not disabled. Disabled tests (reported skipped from some
//!   point on) are neither flaky nor broken; how many of them a detector still calls
//!   flaky or broken at the end is counted.

use super::baselines::{AnyFailureOnMain, FlipRateWindow, Rule, SameCommitFlip};
use super::model::{RunContext, Status, TestResultObs};
use super::params::Params;
use super::scorer::observe_in_place;
use super::simulator::{Cause, Scope, SimHistory, SimRun};
use super::state::TestState;

/// Observations after a regression's last failing run during which a new flaky label still
/// counts as caused by it.
pub const REGRESSION_GRACE: u32 = 30;

/// Anything that labels tests after each observation.
pub trait Detector {
    fn name(&self) -> &str;
    fn observe(&mut self, test: usize, run: &RunContext, result: &TestResultObs);
    fn is_flaky(&self, test: usize) -> bool;
    /// None when the detector has no notion of broken tests.
    fn is_broken(&self, _test: usize) -> Option<bool> {
        None
    }
    /// Called after all results of a run were observed, before the labels are read: a
    /// detector behind an HTTP API uploads the run here (see `simulator::junit`).
    fn run_finished(&mut self, _run: &SimRun) {}
}

/// flakewatch's scorer over a whole suite.
pub struct ScorerDetector {
    pub params: Params,
    pub states: Vec<TestState>,
}

impl ScorerDetector {
    pub fn new(params: Params, tests: usize) -> Self {
        ScorerDetector {
            params,
            states: vec![TestState::default(); tests],
        }
    }
}

impl Detector for ScorerDetector {
    fn name(&self) -> &str {
        "flakewatch"
    }
    fn observe(&mut self, test: usize, run: &RunContext, result: &TestResultObs) {
        observe_in_place(&mut self.states[test], run, result, &self.params);
    }
    fn is_flaky(&self, test: usize) -> bool {
        self.states[test].status == Status::Flaky
    }
    fn is_broken(&self, test: usize) -> Option<bool> {
        Some(self.states[test].status == Status::Broken)
    }
}

/// A simple rule over a whole suite.
pub struct RuleDetector<R: Rule> {
    name: String,
    rules: Vec<R>,
}

impl<R: Rule> RuleDetector<R> {
    pub fn new(name: &str, tests: usize) -> Self {
        RuleDetector {
            name: name.to_string(),
            rules: vec![R::default(); tests],
        }
    }
}

impl<R: Rule> Detector for RuleDetector<R> {
    fn name(&self) -> &str {
        &self.name
    }
    fn observe(&mut self, test: usize, run: &RunContext, result: &TestResultObs) {
        self.rules[test].observe(run, result);
    }
    fn is_flaky(&self, test: usize) -> bool {
        self.rules[test].flaky()
    }
}

/// flakewatch and the three simple rules, for a suite of `tests` tests.
pub fn standard_detectors(params: &Params, tests: usize) -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(ScorerDetector::new(params.clone(), tests)),
        Box::new(RuleDetector::<AnyFailureOnMain>::new(
            "any failure on main, 30 passes close",
            tests,
        )),
        Box::new(RuleDetector::<SameCommitFlip>::new(
            "failed+passed on one commit",
            tests,
        )),
        Box::new(RuleDetector::<FlipRateWindow>::new(
            "flip rate >= 6% over 50 runs",
            tests,
        )),
    ]
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
}

impl Confusion {
    fn add(&mut self, truth: bool, said: bool) {
        match (truth, said) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    pub fn merge(&mut self, o: &Confusion) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
        self.tn += o.tn;
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Why a label was wrong at the end of history (for tuning).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Misses {
    /// False positives: never flaky / flaky once but fixed / flaky but not shown yet.
    pub fp_never_flaky: u64,
    pub fp_fixed: u64,
    pub fp_not_shown: u64,
    /// False negatives by the test's rate: < 1%, 1..5%, >= 5%; and those currently Broken.
    pub fn_rate_low: u64,
    pub fn_rate_mid: u64,
    pub fn_rate_high: u64,
    pub fn_broken: u64,
    /// False negatives whose flakiness showed only once so far (in the whole history).
    pub fn_shown_once: u64,
}

impl Misses {
    pub fn merge(&mut self, o: &Misses) {
        self.fp_never_flaky += o.fp_never_flaky;
        self.fp_fixed += o.fp_fixed;
        self.fp_not_shown += o.fp_not_shown;
        self.fn_rate_low += o.fn_rate_low;
        self.fn_rate_mid += o.fn_rate_mid;
        self.fn_rate_high += o.fn_rate_high;
        self.fn_broken += o.fn_broken;
        self.fn_shown_once += o.fn_shown_once;
    }
}

/// One detector's results on one or more histories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub detector: String,
    /// Against the observable truth (fix grace).
    pub end: Confusion,
    pub time_averaged: Confusion,
    /// Against the strict truth (not flaky from the fix on).
    pub end_strict: Confusion,
    pub time_averaged_strict: Confusion,
    /// Runs to flag, per flagged flaky test.
    pub delays: Vec<f64>,
    pub never_flagged: u64,
    /// Runs to clear, per fixed flaky test that was cleared.
    pub clear_delays: Vec<f64>,
    pub never_cleared: u64,
    /// Regressions on tests that are not flaky: how many, and how many labelled flaky.
    pub clean_regressions: u64,
    pub clean_regressions_flaky: u64,
    /// Regressions on flaky tests (main, >= 3 failing runs): how many, how many Broken.
    pub flaky_regressions: u64,
    pub flaky_regressions_broken: Option<u64>,
    /// At the end: tests truly broken, how many of them labelled broken, and how many
    /// others labelled broken (None for detectors without a notion of broken).
    pub broken_at_end: u64,
    pub broken_found: Option<u64>,
    pub broken_false: Option<u64>,
    /// At the end: disabled tests, and how many of them are labelled flaky or broken.
    pub disabled_at_end: u64,
    pub disabled_labelled: u64,
    pub misses: Misses,
}

impl Report {
    pub fn merge(&mut self, o: &Report) {
        self.end.merge(&o.end);
        self.time_averaged.merge(&o.time_averaged);
        self.end_strict.merge(&o.end_strict);
        self.time_averaged_strict.merge(&o.time_averaged_strict);
        self.delays.extend_from_slice(&o.delays);
        self.never_flagged += o.never_flagged;
        self.clear_delays.extend_from_slice(&o.clear_delays);
        self.never_cleared += o.never_cleared;
        self.clean_regressions += o.clean_regressions;
        self.clean_regressions_flaky += o.clean_regressions_flaky;
        self.flaky_regressions += o.flaky_regressions;
        self.flaky_regressions_broken =
            match (self.flaky_regressions_broken, o.flaky_regressions_broken) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.broken_at_end += o.broken_at_end;
        self.broken_found = add(self.broken_found, o.broken_found);
        self.broken_false = add(self.broken_false, o.broken_false);
        self.disabled_at_end += o.disabled_at_end;
        self.disabled_labelled += o.disabled_labelled;
        self.misses.merge(&o.misses);
    }

    pub fn clean_regressions_flaky_share(&self) -> f64 {
        ratio(self.clean_regressions_flaky, self.clean_regressions)
    }
}

/// Per-regression bookkeeping of one detector.
#[derive(Clone, Copy, Default)]
struct RegressionWatch {
    started: bool,
    flagged_before: bool,
    after_end: u32,
    labelled_flaky: bool,
    broken_at_end: bool,
}

/// Per-test bookkeeping of one detector.
#[derive(Clone, Copy, Default)]
struct DelayWatch {
    delay: Option<u32>,
    /// Observation index of the first observation after the fix, when labelled then.
    fixed_at: Option<u32>,
    seen_fix: bool,
    clear_delay: Option<u32>,
}

/// Runs every detector over the history and scores each against the truth.
pub fn evaluate(
    h: &SimHistory,
    detectors: &mut [Box<dyn Detector>],
    checkpoints: usize,
) -> Vec<Report> {
    let n_tests = h.tests.len();
    let n_runs = h.runs.len();
    let nd = detectors.len();
    let mut reports: Vec<Report> = detectors
        .iter()
        .map(|d| Report {
            detector: d.name().to_string(),
            ..Default::default()
        })
        .collect();
    let mut observations = vec![0u32; n_tests];
    let mut first_manifest: Vec<Option<u32>> = vec![None; n_tests];
    // Observation index of each test's first observation after its fix.
    let mut fix_obs: Vec<Option<u32>> = vec![None; n_tests];
    let mut delays = vec![vec![DelayWatch::default(); n_tests]; nd];
    let mut regs_of_test: Vec<Vec<usize>> = vec![Vec::new(); n_tests];
    for (i, r) in h.regressions.iter().enumerate() {
        if r.failing_runs > 0 {
            regs_of_test[r.test as usize].push(i);
        }
    }
    let mut watches = vec![vec![RegressionWatch::default(); h.regressions.len()]; nd];
    let cut = |k: usize| (k * n_runs / checkpoints.max(1)).saturating_sub(1);
    let mut next_checkpoint = 1;
    let mut frontier = 0u32;
    // Why each test's latest default-branch result failed (None: it did not).
    let mut last_default_cause: Vec<Option<Cause>> = vec![None; n_tests];

    for (seq, run) in h.runs.iter().enumerate() {
        let seq32 = seq as u32;
        frontier = frontier.max(run.pipeline_idx);
        // Before the run: whether each detector already labelled the tests a regression
        // starts failing now (each test appears at most once in a run).
        for res in &run.results {
            let t = res.test as usize;
            for (d, det) in detectors.iter().enumerate() {
                for &ri in &regs_of_test[t] {
                    let w = &mut watches[d][ri];
                    if !w.started && seq32 >= h.regressions[ri].first_seq {
                        w.started = true;
                        w.flagged_before = det.is_flaky(t);
                    }
                }
            }
        }
        // The run itself, then the end-of-run hook.
        let obs: Vec<TestResultObs> = run.results.iter().map(|r| r.obs()).collect();
        for det in detectors.iter_mut() {
            for (res, o) in run.results.iter().zip(&obs) {
                det.observe(res.test as usize, &run.ctx, o);
            }
            det.run_finished(run);
        }
        // After the run: delays, fixes, regressions.
        for res in &run.results {
            let t = res.test as usize;
            if run.ctx.on_default_branch && res.outcome != super::model::Outcome::Skipped {
                last_default_cause[t] = res.outcome.is_failure().then_some(res.cause);
            }
            let o = observations[t];
            observations[t] += 1;
            if res.cause == Cause::Flaky && first_manifest[t].is_none() {
                first_manifest[t] = Some(o);
            }
            let truth = &h.tests[t];
            let fixed = truth
                .flaky
                .as_ref()
                .is_some_and(|f| run.pipeline_idx >= f.to_pipeline);
            if fixed && fix_obs[t].is_none() {
                fix_obs[t] = Some(o);
            }
            for (d, det) in detectors.iter().enumerate() {
                let flaky = det.is_flaky(t);
                if let Some(first) = first_manifest[t] {
                    let w = &mut delays[d][t];
                    let in_interval = truth.flaky_at(run.pipeline_idx);
                    if w.delay.is_none() && flaky && in_interval {
                        w.delay = Some(o - first);
                    }
                    if fixed && !w.seen_fix {
                        w.seen_fix = true;
                        w.fixed_at = flaky.then_some(o);
                    }
                    if let (Some(at), None, false) = (w.fixed_at, w.clear_delay, flaky) {
                        w.clear_delay = Some(o - at);
                    }
                }
                for &ri in &regs_of_test[t] {
                    let reg = &h.regressions[ri];
                    let w = &mut watches[d][ri];
                    if !w.started {
                        continue;
                    }
                    if seq32 > reg.last_seq {
                        if w.after_end >= REGRESSION_GRACE {
                            continue;
                        }
                        w.after_end += 1;
                    }
                    // Labelled flaky because of the regression, not because the test's
                    // own flakiness showed meanwhile.
                    if flaky && !w.flagged_before && !truth.truly_flaky(seq32, run.pipeline_idx) {
                        w.labelled_flaky = true;
                    }
                    if seq32 == reg.last_main_seq {
                        w.broken_at_end = det.is_broken(t) == Some(true);
                    }
                }
            }
        }
        while next_checkpoint <= checkpoints && seq == cut(next_checkpoint) {
            let last = next_checkpoint == checkpoints;
            for (d, det) in detectors.iter().enumerate() {
                let (mut c, mut strict) = (Confusion::default(), Confusion::default());
                for (t, truth) in h.tests.iter().enumerate() {
                    if observations[t] == 0 {
                        continue;
                    }
                    let real_strict = truth.truly_flaky(seq32, frontier);
                    let in_fix_grace = fix_obs[t]
                        .is_some_and(|at| observations[t] - at < truth.fix_grace_runs())
                        && truth
                            .flaky
                            .as_ref()
                            .is_some_and(|f| truth.manifested_between(f.from_seq, seq32));
                    let real = real_strict || in_fix_grace;
                    let said = det.is_flaky(t);
                    c.add(real, said);
                    strict.add(real_strict, said);
                    if last && real != said {
                        tally_miss(
                            &mut reports[d].misses,
                            truth,
                            said,
                            det.is_broken(t) == Some(true),
                            frontier,
                        );
                    }
                }
                reports[d].time_averaged.merge(&c);
                reports[d].time_averaged_strict.merge(&strict);
                if last {
                    reports[d].end = c;
                    reports[d].end_strict = strict;
                }
            }
            next_checkpoint += 1;
        }
    }

    for (d, det) in detectors.iter().enumerate() {
        let rep = &mut reports[d];
        for t in 0..n_tests {
            if first_manifest[t].is_some() {
                let w = &delays[d][t];
                match w.delay {
                    Some(x) => rep.delays.push(f64::from(x)),
                    None => rep.never_flagged += 1,
                }
                match (w.fixed_at, w.clear_delay) {
                    (Some(_), Some(x)) => rep.clear_delays.push(f64::from(x)),
                    (Some(_), None) => rep.never_cleared += 1,
                    _ => {}
                }
            }
        }
        let mut broken = 0;
        for (ri, reg) in h.regressions.iter().enumerate() {
            if reg.failing_runs == 0 {
                continue;
            }
            let truth = &h.tests[reg.test as usize];
            let start_pipeline = h.runs[reg.first_seq as usize].pipeline_idx;
            let end_pipeline = h.runs[reg.last_seq as usize].pipeline_idx;
            let w = &watches[d][ri];
            if truth.truly_flaky(reg.first_seq, start_pipeline) {
                if reg.scope == Scope::Main && reg.main_failing_runs >= 3 {
                    rep.flaky_regressions += 1;
                    broken += u64::from(w.broken_at_end);
                }
            } else if !truth.truly_flaky(reg.last_seq, end_pipeline) {
                rep.clean_regressions += 1;
                rep.clean_regressions_flaky += u64::from(w.labelled_flaky);
            }
        }
        rep.flaky_regressions_broken = det.is_broken(0).map(|_| broken);
        let (mut found, mut false_broken) = (0, 0);
        for (t, truth) in h.tests.iter().enumerate() {
            if observations[t] == 0 {
                continue;
            }
            let is_broken = det.is_broken(t) == Some(true);
            if truth.disabled_at(frontier) {
                rep.disabled_at_end += 1;
                rep.disabled_labelled += u64::from(is_broken || det.is_flaky(t));
                continue;
            }
            let truly = matches!(last_default_cause[t], Some(Cause::Regression(_)));
            rep.broken_at_end += u64::from(truly);
            found += u64::from(truly && is_broken);
            false_broken += u64::from(!truly && is_broken);
        }
        rep.broken_found = det.is_broken(0).map(|_| found);
        rep.broken_false = det.is_broken(0).map(|_| false_broken);
    }
    reports
}

fn tally_miss(
    m: &mut Misses,
    truth: &super::simulator::TestTruth,
    said: bool,
    broken: bool,
    pipeline: u32,
) {
    if said {
        match &truth.flaky {
            None => m.fp_never_flaky += 1,
            Some(f) if pipeline >= f.to_pipeline => m.fp_fixed += 1,
            Some(_) => m.fp_not_shown += 1,
        }
        return;
    }
    if broken {
        m.fn_broken += 1;
        return;
    }
    m.fn_shown_once += u64::from(truth.manifestations.len() == 1);
    match truth.flaky.as_ref().map_or(0.0, |f| f.rate) {
        r if r < 0.01 => m.fn_rate_low += 1,
        r if r < 0.05 => m.fn_rate_mid += 1,
        _ => m.fn_rate_high += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::simulator::{generate, Scenario};

    #[test]
    fn confusion_metrics() {
        let c = Confusion {
            tp: 8,
            fp: 2,
            fn_: 2,
            tn: 100,
        };
        assert!((c.precision() - 0.8).abs() < 1e-12);
        assert!((c.recall() - 0.8).abs() < 1e-12);
        assert!((c.f1() - 0.8).abs() < 1e-12);
        assert_eq!(Confusion::default().f1(), 0.0);
    }

    #[test]
    fn oracle_like_rule_beats_a_rule_that_flags_everything() {
        // A detector flagging every test has full recall and poor precision; the harness
        // must see that.
        struct All;
        impl Detector for All {
            fn name(&self) -> &str {
                "all"
            }
            fn observe(&mut self, _: usize, _: &RunContext, _: &TestResultObs) {}
            fn is_flaky(&self, _: usize) -> bool {
                true
            }
        }
        let h = generate(&Scenario {
            tests: 300,
            main_commits: 80,
            ..Scenario::standard(5)
        });
        let mut dets: Vec<Box<dyn Detector>> = vec![
            Box::new(All),
            Box::new(ScorerDetector::new(Params::default(), h.tests.len())),
        ];
        let reports = evaluate(&h, &mut dets, 4);
        let all = &reports[0];
        assert_eq!(all.end.recall(), 1.0);
        assert!(all.end.precision() < 0.2);
        assert_eq!(all.never_flagged, 0);
        assert!(all.clean_regressions > 0);
        assert_eq!(
            all.clean_regressions_flaky, 0,
            "flagged before the regression started"
        );
        assert!(reports[1].end.f1() > all.end.f1());
        assert!(reports[1].flaky_regressions_broken.is_some());
        assert!(all.flaky_regressions_broken.is_none());
    }
}
