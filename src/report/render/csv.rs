//! The weekly report as CSV: one row per test of every list, with the columns the README
//! documents (list, test_id, classname, name, owner, status, since, score, failure_rate,
//! red_runs, wasted_minutes, wasted_money, mean_ms, previous_mean_ms, link).

use crate::report::data::WeeklyReport;

pub const COLUMNS: [&str; 15] = [
    "list",
    "test_id",
    "classname",
    "name",
    "owner",
    "status",
    "since",
    "score",
    "failure_rate",
    "red_runs",
    "wasted_minutes",
    "wasted_money",
    "mean_ms",
    "previous_mean_ms",
    "link",
];

pub fn render(r: &WeeklyReport) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail; a record of the right width never does either.
    let _ = out.write_record(COLUMNS);
    let lists = [
        ("newly_flaky", &r.newly_flaky),
        ("fixed", &r.fixed),
        ("broken", &r.broken),
        ("top_flaky", &r.top_flaky),
    ];
    for (list, rows) in lists {
        for t in rows {
            let _ = out.write_record([
                list.to_owned(),
                t.test_id.to_string(),
                t.classname.clone(),
                t.name.clone(),
                t.owner.clone().unwrap_or_default(),
                t.status.clone(),
                t.since.0.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                format!("{:.4}", t.score),
                format!("{:.4}", t.failure_rate),
                t.impact.red_runs.to_string(),
                format!("{:.2}", t.impact.minutes()),
                format!("{:.2}", t.wasted_money),
                String::new(),
                String::new(),
                t.link.clone(),
            ]);
        }
    }
    for (list, rows) in [
        ("slowest", &r.slowest),
        ("duration_regressions", &r.duration_regressions),
    ] {
        for d in rows {
            let _ = out.write_record([
                list.to_owned(),
                d.test_id.to_string(),
                d.classname.clone(),
                d.name.clone(),
                d.owner.clone().unwrap_or_default(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                d.mean_ms.to_string(),
                d.previous_mean_ms
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                d.link.clone(),
            ]);
        }
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}
