//! Generates a history: suite, timeline, runs in upload order, and the truth.

use super::config::Scenario;
use super::execute::{run_pipeline, RawRun, Suite, RUNNERS};
use super::population::populate;
use super::rng::Rng;
use super::timeline::{self, PipelinePlan};
use super::truth::{FlakyTruth, RegressionTruth, TestTruth};
use super::{Cause, SimHistory, SimRun};
use crate::analysis::model::{summarize_run, RunContext, TestResultObs};

/// The same scenario (seed included) always gives the same history.
pub fn generate(sc: &Scenario) -> SimHistory {
    let root = Rng::new(sc.seed);
    let (mut specs, groups) = populate(sc, &mut root.fork(1));
    let (plans, regression_plans) = timeline::plan(sc, &mut root.fork(2), &specs);
    choose_disabled(sc, &mut root.fork(4), &mut specs, &plans, &regression_plans);
    let mut by_job = vec![Vec::new(); sc.jobs];
    for (i, t) in specs.iter().enumerate() {
        by_job[t.job as usize].push(i as u32);
    }
    let suite = Suite {
        sc,
        tests: &specs,
        by_job: &by_job,
        groups: &groups,
        regressions: &regression_plans,
    };
    let mut rng = root.fork(3);
    let mut raw: Vec<RawRun> = Vec::new();
    for (idx, plan) in plans.iter().enumerate() {
        run_pipeline(&suite, &mut rng, idx as u32, plan, &mut raw);
    }
    // Storage sees a run when its job finishes and uploads.
    raw.sort_by(|a, b| {
        (a.finished_at, a.pipeline_idx, a.job, a.attempt).cmp(&(
            b.finished_at,
            b.pipeline_idx,
            b.job,
            b.attempt,
        ))
    });

    let mut manifestations: Vec<Vec<u32>> = vec![Vec::new(); specs.len()];
    let mut regressions: Vec<RegressionTruth> = regression_plans
        .iter()
        .map(|r| RegressionTruth {
            test: r.test,
            scope: r.scope.clone(),
            first_seq: u32::MAX,
            last_seq: u32::MAX,
            failing_runs: 0,
            last_main_seq: u32::MAX,
            main_failing_runs: 0,
        })
        .collect();
    let mut first_seq_of_pipeline = vec![u32::MAX; plans.len() + 1];
    let mut runs = Vec::with_capacity(raw.len());
    for (seq, r) in raw.into_iter().enumerate() {
        let seq32 = seq as u32;
        let p = r.pipeline_idx as usize;
        first_seq_of_pipeline[p] = first_seq_of_pipeline[p].min(seq32);
        for res in &r.results {
            match res.cause {
                Cause::Flaky => manifestations[res.test as usize].push(seq32),
                Cause::Regression(id) => {
                    let t = &mut regressions[id as usize];
                    if t.failing_runs == 0 {
                        t.first_seq = seq32;
                    }
                    t.last_seq = seq32;
                    t.failing_runs += 1;
                    if plans[p].on_default {
                        t.last_main_seq = seq32;
                        t.main_failing_runs += 1;
                    }
                }
                Cause::None | Cause::Outage => {}
            }
        }
        runs.push(to_sim_run(seq, r, &plans[p]));
    }
    // First run at or after each pipeline (for the start of flaky intervals).
    for p in (0..plans.len()).rev() {
        first_seq_of_pipeline[p] = first_seq_of_pipeline[p].min(first_seq_of_pipeline[p + 1]);
    }
    let tests = specs
        .into_iter()
        .zip(manifestations)
        .map(|(s, manifestations)| {
            let flaky = s.flaky.map(|f| {
                let from_pipeline = plans.partition_point(|p| p.frac < f.from_frac) as u32;
                let to_pipeline = if f.to_frac > 1.0 {
                    u32::MAX
                } else {
                    plans.partition_point(|p| p.frac < f.to_frac) as u32
                };
                FlakyTruth {
                    rate: f.rate,
                    from_pipeline,
                    to_pipeline,
                    from_seq: first_seq_of_pipeline[from_pipeline as usize],
                    group: f.group,
                    sticky: f.retry_fail > f.rate,
                }
            });
            TestTruth {
                classname: s.classname,
                name: s.name,
                job: s.job,
                flaky,
                manifestations,
                disabled_from_pipeline: s
                    .disabled_from_frac
                    .map(|from| plans.partition_point(|p| p.frac < from) as u32),
            }
        })
        .collect();
    SimHistory {
        scenario: sc.clone(),
        tests,
        runs,
        regressions,
    }
}

fn to_sim_run(seq: usize, r: RawRun, plan: &PipelinePlan) -> SimRun {
    let obs: Vec<TestResultObs> = r.results.iter().map(|x| x.obs()).collect();
    let summary = summarize_run(&obs);
    let ctx = RunContext {
        run_id: seq as i64 + 1,
        at: r.finished_at,
        branch: plan.branch.clone(),
        on_default_branch: plan.on_default,
        commit: plan.commit.clone(),
        job: format!("test-shard-{}", r.job + 1),
        attempt: r.attempt,
        pipeline: (r.pipeline_idx + 1).to_string(),
        tests_in_run: summary.tests_in_run,
        failed_in_run: summary.failed_in_run,
        top_signature_failures: summary.top_signature_failures,
        top_signature: summary.top_signature,
    };
    SimRun {
        ctx,
        pipeline_idx: r.pipeline_idx,
        runner: RUNNERS[r.job as usize % RUNNERS.len()].to_string(),
        started_at: r.started_at,
        finished_at: r.finished_at,
        results: r.results,
    }
}

/// Disables `disabled_share` of the tests: half of them a while after a regression on the
/// default branch broke them (disabled instead of fixed), the others while flaky.
fn choose_disabled(
    sc: &Scenario,
    rng: &mut Rng,
    specs: &mut [super::population::TestSpec],
    plans: &[PipelinePlan],
    regressions: &[timeline::RegressionPlan],
) {
    let wanted = (sc.disabled_share * specs.len() as f64).round() as usize;
    if wanted == 0 {
        return;
    }
    // Where each regression first reached the default branch.
    let mut broken: Vec<(u32, f64)> = Vec::new();
    for (id, r) in regressions.iter().enumerate() {
        if r.scope != super::truth::Scope::Main {
            continue;
        }
        let first = plans
            .iter()
            .find(|p| p.on_default && p.regressions.contains(&(id as u32)));
        if let Some(p) = first {
            broken.push((r.test, p.frac));
        }
    }
    let mut chosen = 0;
    for (test, frac) in broken {
        if chosen >= wanted / 2 {
            break;
        }
        let spec = &mut specs[test as usize];
        if spec.disabled_from_frac.is_none() && frac < 0.85 {
            // Someone notices the red test a little later and disables it.
            spec.disabled_from_frac = Some(frac + rng.uniform(0.005, 0.03));
            chosen += 1;
        }
    }
    let flaky: Vec<usize> = (0..specs.len())
        .filter(|&t| specs[t].disabled_from_frac.is_none())
        .filter(|&t| specs[t].flaky.as_ref().is_some_and(|f| f.to_frac > 1.0))
        .collect();
    for t in flaky {
        if chosen >= wanted {
            break;
        }
        let from = specs[t].flaky.as_ref().map_or(0.0, |f| f.from_frac);
        let at = rng.uniform(from.max(0.1) + 0.05, 0.9);
        if at < 0.9 {
            specs[t].disabled_from_frac = Some(at);
            chosen += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Outcome;
    use crate::analysis::simulator::Scope;

    fn small(seed: u64) -> Scenario {
        Scenario {
            tests: 300,
            main_commits: 120,
            ..Scenario::noisy(seed)
        }
    }

    #[test]
    fn same_seed_same_history_other_seed_other_history() {
        let a = generate(&small(7));
        let b = generate(&small(7));
        let c = generate(&small(8));
        let digest = |h: &SimHistory| -> Vec<(i64, String, u32, u32)> {
            h.runs
                .iter()
                .map(|r| {
                    (
                        r.ctx.run_id,
                        r.ctx.commit.clone(),
                        r.ctx.failed_in_run,
                        r.ctx.top_signature_failures,
                    )
                })
                .collect()
        };
        assert_eq!(digest(&a), digest(&b));
        assert_eq!(a.tests, b.tests);
        assert_ne!(digest(&a), digest(&c));
    }

    #[test]
    fn history_has_the_promised_ingredients() {
        let h = generate(&Scenario::standard(3));
        let sc = &h.scenario;
        assert!(h
            .runs
            .windows(2)
            .all(|w| w[0].finished_at <= w[1].finished_at));
        // Every test runs once per pipeline attempt of its job.
        let results: usize = h.runs.iter().map(|r| r.results.len()).sum();
        assert!(results > 1_000_000, "{results} results");
        let flaky = h.tests.iter().filter(|t| t.flaky.is_some()).count();
        let expected = ((sc.flaky_share + sc.transient_share) * sc.tests as f64) as usize;
        assert!(flaky >= expected, "{flaky} flaky tests");
        let rates: Vec<f64> = h
            .tests
            .iter()
            .filter_map(|t| t.flaky.as_ref().map(|f| f.rate))
            .collect();
        assert!(rates.iter().any(|r| *r < 0.003) && rates.iter().any(|r| *r > 0.1));
        assert!(h
            .tests
            .iter()
            .any(|t| t.flaky.as_ref().is_some_and(|f| f.group.is_some())));
        assert!(h
            .tests
            .iter()
            .any(|t| t.flaky.as_ref().is_some_and(|f| f.to_pipeline != u32::MAX)));
        let main_regs = h
            .regressions
            .iter()
            .filter(|r| r.scope == Scope::Main && r.failing_runs > 0)
            .count();
        let pr_regs = h
            .regressions
            .iter()
            .filter(|r| r.scope != Scope::Main && r.failing_runs > 0)
            .count();
        assert!(
            main_regs >= 20 && pr_regs >= 20,
            "{main_regs} main, {pr_regs} PR regressions"
        );
        // Outages: runs where most tests failed with one signature.
        let outages = h
            .runs
            .iter()
            .filter(|r| r.ctx.top_signature_failures * 10 >= r.ctx.tests_in_run)
            .count();
        assert!(outages >= 10, "{outages} outage runs");
        // In-run retries that passed, and job re-runs on the same commit.
        assert!(h
            .runs
            .iter()
            .flat_map(|r| &r.results)
            .any(|x| x.outcome == Outcome::Passed && x.failed_attempts > 0));
        assert!(h.runs.iter().any(|r| r.ctx.attempt == 2));
        assert!(h.runs.iter().any(|r| !r.ctx.on_default_branch));
    }

    #[test]
    fn regressions_fail_every_try_and_manifestations_are_flaky_failures() {
        let h = generate(&small(11));
        for r in &h.runs {
            for x in &r.results {
                match x.cause {
                    Cause::Regression(_) => {
                        assert_eq!(x.failed_attempts, x.attempts);
                        assert!(x.outcome.is_failure());
                    }
                    Cause::Flaky => assert!(x.failed_attempts > 0),
                    _ => {}
                }
                assert_eq!(x.failure.is_some(), x.failed_attempts > 0);
            }
        }
        let manifested: usize = h.tests.iter().map(|t| t.manifestations.len()).sum();
        assert!(manifested > 0);
        assert!(h
            .tests
            .iter()
            .all(|t| t.flaky.is_some() || t.manifestations.is_empty()));
    }
}
