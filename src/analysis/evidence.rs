//! Human-readable evidence behind a verdict, kept as a short bounded list.

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
    /// A short failure streak on another branch ended with a pass.
    FailureOnBranch,
    /// Consistent failures since a commit: a regression, not flakiness.
    Regression,
    /// A regression ended: passing again.
    Fixed,
    /// A failure not counted because the whole run failed (outage, broken environment).
    RunLevelIgnored,
}

impl EvidenceKind {
    /// Lower ranks are dropped first when the list is full.
    fn keep_rank(self) -> u8 {
        match self {
            EvidenceKind::RunLevelIgnored => 0,
            EvidenceKind::FailureOnBranch => 1,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub message: String,
    /// Runs the UI can link to, oldest first.
    pub run_ids: Vec<i64>,
    pub at: NaiveDateTime,
}

/// Most run ids one evidence entry keeps.
pub const MAX_RUN_IDS: usize = 4;

/// Adds `e` at the front (newest first); when over `cap`, drops the oldest entry of the
/// least important kind, so routine notes never push out the strong evidence.
pub fn push(list: &mut Vec<Evidence>, mut e: Evidence, cap: usize) {
    e.run_ids.truncate(MAX_RUN_IDS);
    list.insert(0, e);
    while list.len() > cap.max(1) {
        let min_rank = list.iter().map(|x| x.kind.keep_rank()).min().unwrap_or(0);
        let victim = list
            .iter()
            .rposition(|x| x.kind.keep_rank() == min_rank)
            .unwrap_or(list.len() - 1);
        list.remove(victim);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EvidenceKind, n: i64) -> Evidence {
        Evidence {
            kind,
            message: format!("e{n}"),
            run_ids: (0..10).collect(),
            at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn push_keeps_strong_evidence_and_bounds() {
        let mut list = Vec::new();
        push(&mut list, ev(EvidenceKind::RetryPassed, 1), 3);
        for n in 2..20 {
            push(&mut list, ev(EvidenceKind::RunLevelIgnored, n), 3);
        }
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].message, "e19");
        assert!(list.iter().any(|e| e.kind == EvidenceKind::RetryPassed));
        assert!(list.iter().all(|e| e.run_ids.len() == MAX_RUN_IDS));
    }

    #[test]
    fn push_drops_oldest_when_all_equal() {
        let mut list = Vec::new();
        for n in 0..5 {
            push(&mut list, ev(EvidenceKind::Regression, n), 2);
        }
        let names: Vec<_> = list.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(names, ["e4", "e3"]);
    }
}
