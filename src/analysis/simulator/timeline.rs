//! The pipelines of a history (main commits, PR pushes, scheduled re-runs) and the
//! regressions carried by the code each one tests.

use chrono::{Duration, NaiveDateTime};

use super::config::Scenario;
use super::population::TestSpec;
use super::rng::Rng;
use super::truth::Scope;

#[derive(Debug, Clone)]
pub(super) struct PipelinePlan {
    pub branch: String,
    pub on_default: bool,
    pub commit: String,
    pub start: NaiveDateTime,
    /// Regressions present in the code of this commit (ids into the regression list).
    pub regressions: Vec<u32>,
    /// Position of the history, 0..1, for flakiness intervals.
    pub frac: f64,
}

#[derive(Debug, Clone)]
pub(super) struct RegressionPlan {
    pub test: u32,
    pub scope: Scope,
    pub expected: u32,
}

struct Pr {
    branch: String,
    base_regressions: Vec<u32>,
    planned: u32,
    done: u32,
    /// Regression id, first broken push, first fixed push (u32::MAX: never fixed).
    regression: Option<(u32, u32, u32)>,
}

/// A regression's victim: a test that is flaky at the time with some probability.
fn pick_victim(sc: &Scenario, rng: &mut Rng, tests: &[TestSpec], frac: f64) -> u32 {
    if rng.chance(sc.regression_on_flaky_share) {
        let flaky: Vec<u32> = (0..tests.len() as u32)
            .filter(|&t| tests[t as usize].flaky_at_frac(frac))
            .collect();
        if !flaky.is_empty() {
            return *rng.pick(&flaky);
        }
    }
    rng.below(tests.len() as u64) as u32
}

fn geometric(rng: &mut Rng, p: f64) -> u32 {
    let mut n = 0;
    while !rng.chance(p) && n < 1000 {
        n += 1;
    }
    n
}

pub(super) fn plan(
    sc: &Scenario,
    rng: &mut Rng,
    tests: &[TestSpec],
) -> (Vec<PipelinePlan>, Vec<RegressionPlan>) {
    let m = sc.main_commits.max(1);
    let mut regressions: Vec<RegressionPlan> = Vec::new();
    // Main regressions: (id, first broken commit, first fixed commit).
    let mut main_spans: Vec<(u32, usize, usize)> = Vec::new();
    for i in 1..m {
        if !rng.chance(sc.main_regression_rate) {
            continue;
        }
        let victims = if rng.chance(0.7) {
            1
        } else {
            rng.between(2, 3)
        };
        // Some are reverted at the next commit; most take a few commits to fix.
        let len = if rng.chance(0.15) {
            1
        } else {
            2 + geometric(rng, 0.25) as usize
        };
        for _ in 0..victims {
            let id = regressions.len() as u32;
            regressions.push(RegressionPlan {
                test: pick_victim(sc, rng, tests, i as f64 / m as f64),
                scope: Scope::Main,
                expected: rng.between(1, 500) as u32,
            });
            main_spans.push((id, i, i + len));
        }
    }
    let main_active = |i: usize| -> Vec<u32> {
        main_spans
            .iter()
            .filter(|(_, from, to)| *from <= i && i < *to)
            .map(|(id, _, _)| *id)
            .collect()
    };

    let mut pipelines: Vec<PipelinePlan> = Vec::new();
    let mut at = sc.start;
    let mut prs: Vec<Pr> = Vec::new();
    let mut next_pr = 1;
    let mut push = |pipelines: &mut Vec<PipelinePlan>,
                    rng: &mut Rng,
                    branch: &str,
                    commit: String,
                    regs: Vec<u32>| {
        at += Duration::seconds(rng.between(180, 1500) as i64);
        pipelines.push(PipelinePlan {
            on_default: branch == sc.default_branch,
            branch: branch.to_string(),
            commit,
            start: at,
            regressions: regs,
            frac: 0.0,
        });
    };
    for i in 0..m {
        let pushes = (0..4)
            .filter(|_| rng.chance(sc.pr_pushes_per_commit / 4.0))
            .count();
        for _ in 0..pushes {
            if prs.is_empty() || rng.chance(0.35) {
                let branch = format!(
                    "pr-{next_pr}-{}",
                    rng.pick(&["fix", "feature", "refactor", "deps"])
                );
                next_pr += 1;
                let mut planned = rng.between(1, 5) as u32;
                let regression = if rng.chance(sc.pr_regression_rate) {
                    let id = regressions.len() as u32;
                    regressions.push(RegressionPlan {
                        test: pick_victim(sc, rng, tests, i as f64 / m as f64),
                        scope: Scope::Branch(branch.clone()),
                        expected: rng.between(1, 500) as u32,
                    });
                    let from = rng.between(1, u64::from(planned)) as u32;
                    // Usually fixed with a later push (the author keeps pushing until green).
                    let to = if rng.chance(0.75) {
                        let to = from + 1 + geometric(rng, 0.5);
                        planned = planned.max(to);
                        to
                    } else {
                        u32::MAX
                    };
                    Some((id, from, to))
                } else {
                    None
                };
                prs.push(Pr {
                    branch,
                    base_regressions: main_active(i.saturating_sub(1)),
                    planned,
                    done: 0,
                    regression,
                });
            }
            let k = rng.below(prs.len() as u64) as usize;
            let pr = &mut prs[k];
            pr.done += 1;
            let mut regs = pr.base_regressions.clone();
            if let Some((id, from, to)) = pr.regression {
                if from <= pr.done && pr.done < to {
                    regs.push(id);
                }
            }
            let branch = pr.branch.clone();
            if pr.done >= pr.planned {
                prs.swap_remove(k);
            }
            let commit = rng.sha();
            push(&mut pipelines, rng, &branch, commit, regs);
        }
        let main_head = rng.sha();
        let default = sc.default_branch.as_str();
        push(
            &mut pipelines,
            rng,
            default,
            main_head.clone(),
            main_active(i),
        );
        if sc.scheduled_every > 0 && i % sc.scheduled_every == sc.scheduled_every - 1 {
            push(&mut pipelines, rng, default, main_head, main_active(i));
        }
    }
    // Positions in the history, for the flakiness intervals.
    let n = pipelines.len().max(1) as f64;
    for (i, p) in pipelines.iter_mut().enumerate() {
        p.frac = i as f64 / n;
    }
    (pipelines, regressions)
}
