//! A project's settings as one change, checked whole and applied in one transaction, the
//! same for `flakewatch project set` and `PATCH /api/v1/projects/{project}`. A new default
//! branch scores the project again from scratch.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::ci_metrics;
use super::projects::{self, Project};
use super::scores::{self, RescoreSummary};
use crate::analysis::Params;
use crate::db::schema::{runner_rates, runs};
use crate::db::DbConnection;

/// The label that prices every runner without a price of its own.
pub const DEFAULT_RUNNER_LABEL: &str = "_default";
/// Highest price of a runner minute accepted: far above any real one, and far from the
/// point where money in micro-units would overflow.
pub const MAX_PER_MINUTE: f64 = 1_000_000.0;

/// What to change; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    pub display_name: Option<String>,
    pub default_branch: Option<String>,
    /// Runner label and price of a minute; `None` removes the label's price.
    pub runner_rates: Vec<(String, Option<f64>)>,
    pub currency: Option<String>,
}

/// A setting that cannot be taken, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SettingError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        field,
        message: message.into(),
    }
}

impl SettingsChange {
    /// Checks every value before anything is written.
    pub fn validate(&self) -> Result<(), SettingError> {
        if let Some(name) = &self.display_name {
            if name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(bad(
                    "display_name",
                    "a display name has at most 200 characters and no control characters",
                ));
            }
        }
        if let Some(branch) = &self.default_branch {
            projects::validate_branch(branch).map_err(|m| bad("default_branch", m))?;
        }
        for (label, price) in &self.runner_rates {
            if label.is_empty() || label.chars().count() > 100 {
                return Err(bad(
                    "runner_rates",
                    format!(
                        "a runner label has 1 to 100 characters (`{DEFAULT_RUNNER_LABEL}` prices every other runner)"
                    ),
                ));
            }
            if let Some(price) = price {
                if !price.is_finite() || *price < 0.0 || *price > MAX_PER_MINUTE {
                    return Err(bad(
                        "runner_rates",
                        format!(
                            "the price of a minute on `{label}` is a number from 0 to {MAX_PER_MINUTE}, such as 0.008, not {price}"
                        ),
                    ));
                }
            }
        }
        if let Some(currency) = &self.currency {
            let ok = (3..=8).contains(&currency.len())
                && currency.chars().all(|c| c.is_ascii_alphabetic());
            if !ok {
                return Err(bad(
                    "currency",
                    format!("a currency is a code of letters such as USD or EUR, not `{currency}`"),
                ));
            }
        }
        Ok(())
    }
}

/// A runner label's price as shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunnerRate {
    pub runner: String,
    pub per_minute: f64,
    pub currency: String,
}

/// A project's settings and size, as `project show` and the API show them.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectSettings {
    pub name: String,
    pub display_name: String,
    pub default_branch: String,
    /// `assumed`, `ci` or `setting`: see `Project::default_branch_source`.
    pub default_branch_source: String,
    pub created_at: crate::tasks::model::NaiveDateTimeUtc,
    pub runner_rates: Vec<RunnerRate>,
    pub runs: i64,
    /// Tests per status.
    pub tests: std::collections::BTreeMap<String, i64>,
}

pub fn show(conn: &mut DbConnection, project: &Project) -> QueryResult<ProjectSettings> {
    let rates: Vec<(String, i64, String)> = runner_rates::table
        .filter(runner_rates::project_id.eq(project.id))
        .order(runner_rates::runner_label)
        .select((
            runner_rates::runner_label,
            runner_rates::micros_per_minute,
            runner_rates::currency,
        ))
        .load(conn)?;
    let runs: i64 = runs::table
        .filter(runs::project_id.eq(project.id))
        .count()
        .get_result(conn)?;
    let tests = super::test_views::count_by_status(conn, project.id)?
        .into_iter()
        .collect();
    Ok(ProjectSettings {
        name: project.name.clone(),
        display_name: project.display_name.clone(),
        default_branch: project.default_branch.clone(),
        default_branch_source: project.default_branch_source.clone(),
        created_at: crate::tasks::model::NaiveDateTimeUtc(project.created_at),
        runner_rates: rates
            .into_iter()
            .map(|(label, micros, currency)| RunnerRate {
                runner: if label.is_empty() {
                    DEFAULT_RUNNER_LABEL.to_owned()
                } else {
                    label
                },
                per_minute: micros as f64 / 1e6,
                currency,
            })
            .collect(),
        runs,
        tests,
    })
}

/// Applies a validated change in one transaction. Returns the rescore's summary when the
/// default branch changed; `progress(done, total)` follows it run by run.
pub fn apply(
    conn: &mut DbConnection,
    project: &Project,
    change: &SettingsChange,
    params: &Params,
    now: NaiveDateTime,
    progress: impl FnMut(usize, usize),
) -> QueryResult<Option<RescoreSummary>> {
    crate::db::write_transaction(conn, |conn| {
        super::data_versions::bump(conn, project.id)?;
        if let Some(name) = &change.display_name {
            projects::set_display_name(conn, project.id, name.trim())?;
        }
        let (_, currency) = ci_metrics::rate_table(conn, project.id)?;
        let currency = change.currency.clone().unwrap_or(currency);
        for (label, price) in &change.runner_rates {
            let stored = if label == DEFAULT_RUNNER_LABEL {
                ""
            } else {
                label.as_str()
            };
            match price {
                Some(price) => {
                    let micros = (price * 1e6).round() as i64;
                    ci_metrics::set_rate(conn, project.id, stored, micros, &currency)?;
                }
                None => {
                    diesel::delete(
                        runner_rates::table
                            .filter(runner_rates::project_id.eq(project.id))
                            .filter(runner_rates::runner_label.eq(stored)),
                    )
                    .execute(conn)?;
                }
            }
        }
        if change.currency.is_some() {
            // One currency per project: every price is in it.
            diesel::update(runner_rates::table.filter(runner_rates::project_id.eq(project.id)))
                .set(runner_rates::currency.eq(&currency))
                .execute(conn)?;
        }
        let Some(branch) = &change.default_branch else {
            return Ok(None);
        };
        if !projects::set_default_branch(conn, project.id, branch)? {
            return Ok(None);
        }
        scores::rescore_project(conn, project.id, params, now, progress).map(Some)
    })
}

/// Reads `LABEL=PRICE` (`LABEL=` removes the label's price).
pub fn parse_runner_rate(text: &str) -> Result<(String, Option<f64>), String> {
    let (label, price) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not LABEL=PRICE, such as linux-2c=0.008"))?;
    let label = label.trim().to_owned();
    let price = price.trim();
    if price.is_empty() {
        return Ok((label, None));
    }
    let price: f64 = price
        .parse()
        .map_err(|_| format!("`{price}` in `{text}` is not a price, such as 0.008"))?;
    Ok((label, Some(price)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_rates_parse_and_validate() {
        assert_eq!(
            parse_runner_rate("linux=0.008"),
            Ok(("linux".into(), Some(0.008)))
        );
        assert_eq!(parse_runner_rate("linux="), Ok(("linux".into(), None)));
        assert!(parse_runner_rate("linux")
            .unwrap_err()
            .contains("LABEL=PRICE"));
        assert!(parse_runner_rate("linux=cheap")
            .unwrap_err()
            .contains("not a price"));
        let change = |price: f64| SettingsChange {
            runner_rates: vec![("linux".into(), Some(price))],
            ..SettingsChange::default()
        };
        assert_eq!(change(0.008).validate(), Ok(()));
        for bad_price in [-1.0, f64::NAN, 1e308] {
            assert_eq!(
                change(bad_price).validate().unwrap_err().field,
                "runner_rates"
            );
        }
    }

    #[test]
    fn branch_and_currency_are_checked() {
        let branch = SettingsChange {
            default_branch: Some(" ".into()),
            ..SettingsChange::default()
        };
        assert_eq!(branch.validate().unwrap_err().field, "default_branch");
        let currency = SettingsChange {
            currency: Some("US$".into()),
            ..SettingsChange::default()
        };
        assert_eq!(currency.validate().unwrap_err().field, "currency");
    }
}
