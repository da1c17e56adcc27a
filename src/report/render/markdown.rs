//! The weekly report as Markdown: pastes into chat and pull requests.

use super::{change, minutes, percent};
use crate::report::data::{DurationRow, TestRow, WeeklyReport};
use crate::wording::markdown_cell as cell;

pub fn render(r: &WeeklyReport) -> String {
    let now = &r.headline;
    let mut out = format!("## {} — CI quality, {}\n\n", cell(&r.title), r.period.label);
    out.push_str(&format!(
        "{} runs, {} red; compared with {}.\n\n",
        now.runs, now.red_runs, r.previous.label
    ));
    out.push_str("| figure | this period | before | change |\n|---|---:|---:|---:|\n");
    for (name, a, b) in super::headline_rows(r) {
        out.push_str(&format!("| {name} | {a} | {b} | {} |\n", change(&a, &b)));
    }
    section(
        &mut out,
        "Newly flaky",
        &r.newly_flaky,
        "no test became flaky",
        false,
    );
    section(
        &mut out,
        "Fixed (no longer flaky)",
        &r.fixed,
        "no flaky test was fixed",
        false,
    );
    section(&mut out, "Broken", &r.broken, "no test is broken", false);
    section(
        &mut out,
        "Top flaky tests by impact",
        &r.top_flaky,
        "no flaky failure cost anything",
        true,
    );
    durations(
        &mut out,
        "Slowest tests (mean of passing runs)",
        &r.slowest,
        "no durations reported",
    );
    durations(
        &mut out,
        "Biggest duration regressions",
        &r.duration_regressions,
        "no test got slower",
    );
    out.push_str(&format!(
        "\n_Store queue p95 {}, store time p95 {} · generated {}_\n",
        ms(now.queue_ms_p95),
        ms(now.store_ms_p95),
        r.generated_at.0.format("%Y-%m-%d %H:%M UTC")
    ));
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.0} ms"))
}

fn name(t_class: &str, t_name: &str, link: &str) -> String {
    let full = if t_class.is_empty() {
        t_name.to_owned()
    } else {
        format!("{t_class}::{t_name}")
    };
    format!("[{}]({link})", cell(&full))
}

fn section(out: &mut String, title: &str, rows: &[TestRow], empty: &str, impact: bool) {
    out.push_str(&format!("\n### {title}\n\n"));
    if rows.is_empty() {
        out.push_str(&format!("_{empty}._\n"));
        return;
    }
    if impact {
        out.push_str("| test | owner | red runs caused | minutes wasted | money |\n|---|---|---:|---:|---:|\n");
    } else {
        out.push_str("| test | owner | since | score | failure rate |\n|---|---|---|---:|---:|\n");
    }
    for t in rows {
        let owner = cell(t.owner.as_deref().unwrap_or("–"));
        let test = name(&t.classname, &t.name, &t.link);
        if impact {
            out.push_str(&format!(
                "| {test} | {owner} | {} | {} | {:.2} |\n",
                t.impact.red_runs,
                minutes(t.impact.minutes()),
                t.wasted_money
            ));
        } else {
            out.push_str(&format!(
                "| {test} | {owner} | {} | {:.2} | {} |\n",
                t.since.0.format("%Y-%m-%d"),
                t.score,
                percent(t.failure_rate)
            ));
        }
    }
}

fn durations(out: &mut String, title: &str, rows: &[DurationRow], empty: &str) {
    out.push_str(&format!("\n### {title}\n\n"));
    if rows.is_empty() {
        out.push_str(&format!("_{empty}._\n"));
        return;
    }
    out.push_str("| test | owner | mean | before | runs |\n|---|---|---:|---:|---:|\n");
    for d in rows {
        out.push_str(&format!(
            "| {} | {} | {} ms | {} | {} |\n",
            name(&d.classname, &d.name, &d.link),
            cell(d.owner.as_deref().unwrap_or("–")),
            d.mean_ms,
            d.previous_mean_ms
                .map_or_else(|| "–".into(), |p| format!("{p} ms")),
            d.runs
        ));
    }
}
