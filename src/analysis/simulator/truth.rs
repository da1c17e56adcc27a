//! Ground truth of a simulated history, and the definition of "truly flaky" the accuracy
//! harness judges against.

/// A test's flakiness: its rate and the pipelines during which it is flaky.
#[derive(Debug, Clone, PartialEq)]
pub struct FlakyTruth {
    /// Probability that a try fails (for group members: that the group's cause fires).
    pub rate: f64,
    /// Flaky from this pipeline index (inclusive) to `to_pipeline` (exclusive; u32::MAX: never fixed).
    pub from_pipeline: u32,
    pub to_pipeline: u32,
    /// First run (0-based position in the history) of a pipeline at or after `from_pipeline`.
    pub from_seq: u32,
    pub group: Option<u32>,
    /// Retries fail much more often than the first try.
    pub sticky: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TestTruth {
    pub classname: String,
    pub name: String,
    pub job: u32,
    pub flaky: Option<FlakyTruth>,
    /// Runs (0-based position in the history) in which its flakiness showed: at least one
    /// try failed because of it, not masked by a regression or an outage. Ascending.
    pub manifestations: Vec<u32>,
    /// Disabled (reported skipped) from this pipeline on.
    pub disabled_from_pipeline: Option<u32>,
}

impl TestTruth {
    pub fn flaky_at(&self, pipeline: u32) -> bool {
        self.flaky
            .as_ref()
            .is_some_and(|f| f.from_pipeline <= pipeline && pipeline < f.to_pipeline)
    }

    /// Truly flaky after run `seq` (at pipeline `pipeline`): inside its flaky interval, and
    /// its flakiness has shown at least once inside that interval. A flaky test that never
    /// failed is not detectable by anyone, so it is not counted as a miss.
    /// A disabled test is not flaky: it does not run.
    pub fn truly_flaky(&self, seq: u32, pipeline: u32) -> bool {
        !self.disabled_at(pipeline)
            && self.flaky.as_ref().is_some_and(|f| {
                self.flaky_at(pipeline) && self.manifested_between(f.from_seq, seq)
            })
    }

    pub fn disabled_at(&self, pipeline: u32) -> bool {
        self.disabled_from_pipeline
            .is_some_and(|from| from <= pipeline)
    }

    /// Runs after a fix before the fix is observable: a test still failing at its rate
    /// would have shown within this many runs with 95% probability.
    pub fn fix_grace_runs(&self) -> u32 {
        self.flaky.as_ref().map_or(0, |f| {
            let rate = f.rate.clamp(1e-6, 0.999_999);
            ((0.05f64).ln() / (1.0 - rate).ln()).ceil() as u32
        })
    }

    /// Whether a manifestation happened in runs [from, to].
    pub fn manifested_between(&self, from: u32, to: u32) -> bool {
        let i = self.manifestations.partition_point(|&m| m < from);
        self.manifestations.get(i).is_some_and(|&m| m <= to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Main,
    /// A PR branch (by name).
    Branch(String),
}

/// One test broken by one regression, as observed: the runs it failed in because of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressionTruth {
    pub test: u32,
    pub scope: Scope,
    /// First and last run (0-based position) failing because of it; u32::MAX when the code
    /// with it never ran.
    pub first_seq: u32,
    pub last_seq: u32,
    pub failing_runs: u32,
    /// The same, counting only runs on the default branch (u32::MAX / 0 when none).
    pub last_main_seq: u32,
    pub main_failing_runs: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truly_flaky_needs_interval_and_manifestation() {
        let t = TestTruth {
            classname: "c".into(),
            name: "n".into(),
            job: 0,
            flaky: Some(FlakyTruth {
                rate: 0.1,
                from_pipeline: 10,
                to_pipeline: 20,
                from_seq: 30,
                group: None,
                sticky: false,
            }),
            manifestations: vec![5, 50],
            disabled_from_pipeline: None,
        };
        assert!(
            !t.truly_flaky(40, 12),
            "no manifestation yet in the interval"
        );
        assert!(t.truly_flaky(50, 12));
        assert!(t.truly_flaky(60, 19));
        assert!(!t.truly_flaky(70, 20), "fixed");
        // 0.9^29 > 0.05 > 0.9^30
        assert_eq!(t.fix_grace_runs(), 29);
    }
}
