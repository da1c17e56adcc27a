//! Scenario knobs of the simulator and the named presets the accuracy harness runs.

use chrono::{NaiveDate, NaiveDateTime};

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub tests: usize,
    /// Jobs per pipeline; each test runs in one of them (sharding).
    pub jobs: usize,
    /// The first `retry_jobs` jobs re-run failed tests in the run, up to `max_reruns` times
    /// (pytest-rerunfailures, surefire rerunFailingTestsCount).
    pub retry_jobs: usize,
    pub max_reruns: u32,
    pub main_commits: usize,
    /// Mean PR pipelines between two main commits.
    pub pr_pushes_per_commit: f64,
    /// Every this many main commits, a scheduled pipeline re-runs the main head.
    pub scheduled_every: usize,
    /// Tests flaky through the whole history, with rates log-uniform in `flaky_rates`.
    pub flaky_share: f64,
    pub flaky_rates: (f64, f64),
    /// Tests that become flaky in the first 40% of the history; three in four are fixed
    /// 10-30% of the history later (by 70% of it). Rates are log-uniform in
    /// `transient_rates`: a flaky test gets fixed because it fails noticeably often.
    pub transient_share: f64,
    pub transient_rates: (f64, f64),
    /// Share of flaky tests whose in-run retries fail much more often (the cause persists for
    /// a while: a slow service, a leaked port).
    pub sticky_share: f64,
    /// Groups of 3 to 6 tests in one job that fail together (a shared cause, one signature).
    pub groups: usize,
    /// Probability that a main commit introduces a regression.
    pub main_regression_rate: f64,
    /// Probability that a PR introduces a regression on its branch.
    pub pr_regression_rate: f64,
    /// Share of regressions that hit a test which is flaky at the time.
    pub regression_on_flaky_share: f64,
    /// Probability that a job run hits an infrastructure outage.
    pub outage_rate: f64,
    /// Probability that a red job is re-run (attempt 2); halved for each further attempt.
    pub job_retry_prob: f64,
    pub start: NaiveDateTime,
    /// Name of the default branch.
    pub default_branch: String,
    /// Share of tests disabled at some point and reported skipped from then on: half of
    /// them victims of a regression on the default branch (disabled instead of fixed), the
    /// others flaky tests.
    pub disabled_share: f64,
    /// Whether the CI step sends the job's start and finish with the upload (the HTTP
    /// harness leaves them out otherwise, so the server reads them from the reports).
    pub sends_times: bool,
}

impl Scenario {
    /// Four sharded jobs, two of them with in-run reruns, the rates from the brief.
    pub fn standard(seed: u64) -> Scenario {
        Scenario {
            name: "standard".into(),
            seed,
            tests: 2000,
            jobs: 4,
            retry_jobs: 2,
            max_reruns: 2,
            main_commits: 300,
            pr_pushes_per_commit: 2.0,
            scheduled_every: 20,
            flaky_share: 0.04,
            flaky_rates: (0.001, 0.3),
            transient_share: 0.015,
            transient_rates: (0.01, 0.3),
            sticky_share: 0.2,
            groups: 4,
            main_regression_rate: 0.12,
            pr_regression_rate: 0.25,
            regression_on_flaky_share: 0.2,
            outage_rate: 0.01,
            job_retry_prob: 0.5,
            start: NaiveDate::from_ymd_opt(2025, 1, 6)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .expect("valid date"),
            default_branch: "main".into(),
            disabled_share: 0.0,
            sends_times: true,
        }
    }

    /// Shaped like the repositories the first users tried: the default branch is `master`,
    /// 3% of the tests get disabled (`@Disabled`, `pytest.skip`) after breaking or while
    /// flaky, and the CI step sends no times.
    pub fn real_world(seed: u64) -> Scenario {
        Scenario {
            name: "real-world".into(),
            default_branch: "master".into(),
            disabled_share: 0.03,
            sends_times: false,
            ..Scenario::standard(seed)
        }
    }

    /// No in-run reruns anywhere, fewer job retries: only flips and same-commit evidence.
    pub fn no_retries(seed: u64) -> Scenario {
        Scenario {
            name: "no-retries".into(),
            retry_jobs: 0,
            job_retry_prob: 0.3,
            ..Scenario::standard(seed)
        }
    }

    /// Three times the outages, twice the regressions, more PR traffic.
    pub fn noisy(seed: u64) -> Scenario {
        Scenario {
            name: "noisy".into(),
            outage_rate: 0.03,
            main_regression_rate: 0.24,
            pr_regression_rate: 0.5,
            pr_pushes_per_commit: 3.0,
            ..Scenario::standard(seed)
        }
    }

    pub fn preset(name: &str, seed: u64) -> Option<Scenario> {
        match name {
            "standard" => Some(Scenario::standard(seed)),
            "no-retries" => Some(Scenario::no_retries(seed)),
            "noisy" => Some(Scenario::noisy(seed)),
            "real-world" => Some(Scenario::real_world(seed)),
            _ => None,
        }
    }

    pub const PRESETS: [&'static str; 4] = ["standard", "no-retries", "noisy", "real-world"];
}
