//! Human-readable evidence behind a verdict: one line per kind, with how often it was seen
//! and its first and latest run, so a test that flipped fifty times shows one line, not fifty.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Failed, then passed on an in-run retry.
    RetryPassed,
    /// The same commit both passed and failed.
    SameCommitMixed,
    /// A short failure streak on the default branch ended with a pass.
    FlipOnDefaultBranch,
    /// A short failure streak on another branch ended with a pass (or the branch was left).
    FailureOnBranch,
    /// Consistent failures since a commit on the default branch: a regression, not flakiness.
    Regression,
    /// Consistent failures on another branch: that branch's own regression, not counted.
    RegressionOnBranch,
    /// A regression ended: passing again on the default branch.
    Fixed,
    /// Enough clean runs in a row to take a flaky test's fix as real.
    FlakyCleared,
    /// Reported skipped run after run (disabled, or skipped by the test itself).
    Skipped,
    /// A failure not counted because the whole run failed (outage, broken environment).
    RunLevelIgnored,
}

impl EvidenceKind {
    /// What `count` occurrences of this kind amount to, as the start of its line.
    fn summary(self, count: u32) -> String {
        let times = |n: u32| {
            if n == 1 {
                "once".to_owned()
            } else {
                format!("{n} times")
            }
        };
        let runs = |n: u32| {
            if n == 1 {
                "1 run".to_owned()
            } else {
                format!("{n} runs")
            }
        };
        match self {
            EvidenceKind::RetryPassed => {
                format!("failed, then passed on an in-run retry, in {}", runs(count))
            }
            EvidenceKind::SameCommitMixed => match count {
                1 => "1 commit both passed and failed".to_owned(),
                n => format!("{n} commits both passed and failed"),
            },
            EvidenceKind::FlipOnDefaultBranch => format!(
                "failed, then passed again without a fix on the default branch, {}",
                times(count)
            ),
            EvidenceKind::FailureOnBranch => format!(
                "failed on other branches and passed again without a fix, {}",
                times(count)
            ),
            EvidenceKind::Regression => match count {
                1 => "a change on the default branch broke it".to_owned(),
                n => format!("broken {n} times by changes on the default branch"),
            },
            EvidenceKind::RegressionOnBranch => format!(
                "failed consistently on a branch (that branch's own change, not counted), {}",
                times(count)
            ),
            EvidenceKind::Fixed => match count {
                1 => "passing again after a break".to_owned(),
                n => format!("passing again after a break, {n} times"),
            },
            EvidenceKind::FlakyCleared => match count {
                1 => "flaky no more: taken as fixed".to_owned(),
                n => format!("flaky no more: taken as fixed {n} times"),
            },
            EvidenceKind::Skipped => format!("reported skipped in {}", runs(count)),
            EvidenceKind::RunLevelIgnored => match count {
                1 => "1 failure not counted: the whole run failed".to_owned(),
                n => format!("{n} failures not counted: the whole run failed"),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// Occurrences of this kind so far.
    pub count: u32,
    /// The summary with the latest occurrence's particulars.
    pub message: String,
    /// The latest occurrence's particulars alone (the message without its summary).
    #[serde(default)]
    pub latest: String,
    /// First and latest run with this kind of evidence, for links.
    pub first_run_id: i64,
    pub last_run_id: i64,
    pub first_at: NaiveDateTime,
    /// When the latest occurrence happened.
    pub at: NaiveDateTime,
}

/// One occurrence to record.
pub struct Occurrence {
    pub kind: EvidenceKind,
    pub run_id: i64,
    pub at: NaiveDateTime,
    /// Its particulars: "commit 1a2b3c4, 2 passed, 1 failed".
    pub latest: String,
    /// False when it only brings the latest entry's particulars up to date (the same
    /// commit seen once more): the count stays.
    pub counts: bool,
}

/// Records `o` in `list` (newest first): a kind already there gets its count, latest run
/// and particulars updated; a new kind is added. The list holds one entry per kind.
pub fn record(list: &mut Vec<Evidence>, o: Occurrence) {
    let entry = match list.iter().position(|e| e.kind == o.kind) {
        Some(i) => {
            let mut e = list.remove(i);
            if o.counts {
                e.count = e.count.saturating_add(1);
            }
            e
        }
        None => Evidence {
            kind: o.kind,
            count: 1,
            message: String::new(),
            latest: String::new(),
            first_run_id: o.run_id,
            last_run_id: o.run_id,
            first_at: o.at,
            at: o.at,
        },
    };
    let mut e = entry;
    if o.at >= e.at || o.counts {
        e.last_run_id = o.run_id;
        e.at = e.at.max(o.at);
    }
    e.latest = o.latest;
    e.message = match (e.latest.is_empty(), e.count) {
        (true, _) => e.kind.summary(e.count),
        (false, 1) => format!("{}: {}", e.kind.summary(1), e.latest),
        (false, n) => format!("{}; latest: {}", e.kind.summary(n), e.latest),
    };
    let at = e.at;
    let pos = list.iter().position(|x| x.at <= at).unwrap_or(list.len());
    list.insert(pos, e);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> NaiveDateTime {
        NaiveDateTime::default() + chrono::Duration::minutes(minute)
    }

    fn occurrence(kind: EvidenceKind, run_id: i64, latest: &str) -> Occurrence {
        Occurrence {
            kind,
            run_id,
            at: at(run_id),
            latest: latest.into(),
            counts: true,
        }
    }

    #[test]
    fn one_line_per_kind_with_count_and_first_and_last_run() {
        let mut list = Vec::new();
        for run in [3, 9, 14] {
            record(
                &mut list,
                occurrence(EvidenceKind::RetryPassed, run, "1 of 2 tries failed"),
            );
        }
        record(&mut list, occurrence(EvidenceKind::RunLevelIgnored, 10, ""));
        assert_eq!(list.len(), 2);
        let retry = &list[0];
        assert_eq!(retry.kind, EvidenceKind::RetryPassed, "newest first");
        assert_eq!(
            (retry.count, retry.first_run_id, retry.last_run_id),
            (3, 3, 14)
        );
        assert_eq!(
            retry.message,
            "failed, then passed on an in-run retry, in 3 runs; latest: 1 of 2 tries failed"
        );
        assert_eq!(
            list[1].message,
            "1 failure not counted: the whole run failed"
        );
    }

    #[test]
    fn an_update_keeps_the_count() {
        let mut list = Vec::new();
        record(
            &mut list,
            occurrence(
                EvidenceKind::SameCommitMixed,
                4,
                "commit abc, 1 passed, 1 failed",
            ),
        );
        record(
            &mut list,
            Occurrence {
                counts: false,
                ..occurrence(
                    EvidenceKind::SameCommitMixed,
                    5,
                    "commit abc, 2 passed, 1 failed",
                )
            },
        );
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].count, 1);
        assert_eq!(list[0].last_run_id, 5);
        assert!(
            list[0].message.ends_with("2 passed, 1 failed"),
            "{}",
            list[0].message
        );
    }
}
