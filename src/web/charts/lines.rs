//! Daily line charts: one or two series over the window's days (p50 and p95, queue and
//! store time, a rate), each day a point, days without data a gap instead of a fake zero.

use chrono::{Duration, NaiveDate};
use plotters::prelude::*;
use plotters::style::RGBColor;

use super::frame;

/// One series: a value per day of the chart, `None` where nothing was measured.
pub struct Line<'a> {
    pub name: &'a str,
    pub colour: RGBColor,
    pub values: Vec<Option<f64>>,
}

/// A chart over consecutive days starting at `first`.
pub struct Daily<'a> {
    /// Unique on the page: the ids of its `<title>` and `<desc>` derive from it.
    pub id: &'a str,
    pub title: &'a str,
    /// What the values are in, for the axis and the description ("minutes").
    pub unit: &'a str,
    pub first: NaiveDate,
    pub lines: Vec<Line<'a>>,
}

impl Daily<'_> {
    fn days(&self) -> usize {
        self.lines.iter().map(|l| l.values.len()).max().unwrap_or(0)
    }

    fn day(&self, index: usize) -> NaiveDate {
        self.first + Duration::days(index as i64)
    }
}

/// The chart as an inline SVG, or an empty string without days or if plotters fails.
pub fn daily_lines(chart: &Daily<'_>) -> String {
    let days = chart.days();
    if days == 0 {
        return String::new();
    }
    let mut svg = String::new();
    if let Err(err) = draw(&mut svg, chart, days) {
        tracing::error!(error = %err, chart = chart.id, "a chart failed to draw");
        return String::new();
    }
    frame::titled(&svg, chart.id, chart.title, &describe(chart, days))
}

/// The text equivalent: each series' lowest and highest day.
fn describe(chart: &Daily<'_>, days: usize) -> String {
    let mut desc = format!(
        "From {} to {}.",
        chart.first.format("%Y-%m-%d"),
        chart.day(days - 1).format("%Y-%m-%d")
    );
    for line in &chart.lines {
        let measured: Vec<(usize, f64)> = line
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .collect();
        let low = measured.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let high = measured.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        match (low, high) {
            (Some(low), Some(high)) => desc.push_str(&format!(
                " {}, on {} days with data: lowest {} {} on {}, highest {} {} on {}.",
                line.name,
                measured.len(),
                number(low.1),
                chart.unit,
                chart.day(low.0).format("%Y-%m-%d"),
                number(high.1),
                chart.unit,
                chart.day(high.0).format("%Y-%m-%d"),
            )),
            _ => desc.push_str(&format!(" {}: no data.", line.name)),
        }
    }
    desc
}

/// One decimal for ordinary figures, more for small rates.
fn number(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.1 {
        format!("{value:.3}")
    } else {
        format!("{value:.1}")
    }
}

fn draw(svg: &mut String, chart: &Daily<'_>, days: usize) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, frame::SIZE).into_drawing_area();
    let highest = chart
        .lines
        .iter()
        .flat_map(|l| l.values.iter().flatten())
        .fold(0.0_f64, |a, b| a.max(*b));
    let top = if highest > 0.0 { highest * 1.1 } else { 1.0 };
    let mut plot = frame::daily_plot(&root, chart.first, days, top, chart.unit, &|v| {
        axis_number(*v, top)
    })?;
    for line in &chart.lines {
        for stretch in stretches(&line.values) {
            plot.draw_series(LineSeries::new(
                stretch.iter().cloned(),
                line.colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
            plot.draw_series(
                stretch
                    .iter()
                    .map(|point| Circle::new(point.clone(), 3, line.colour.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// A y-axis label with enough decimals that labels at least a fifth of the axis apart
/// (the axis has 5) never read the same: a chart of 0.005 to 0.015 s showed "0.01" twice.
fn axis_number(value: f64, top: f64) -> String {
    let step = top / 5.0;
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil().clamp(0.0, 6.0) as usize
    };
    format!("{value:.decimals$}")
}

/// The points of each run of consecutive days with a value.
fn stretches(values: &[Option<f64>]) -> Vec<Vec<(SegmentValue<i32>, f64)>> {
    let mut stretches = Vec::new();
    let mut current = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => current.push((SegmentValue::CenterOf(i as i32), *v)),
            None if !current.is_empty() => stretches.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        stretches.push(current);
    }
    stretches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::charts::frame::{LINE, SECOND};

    #[test]
    fn axis_labels_a_fifth_of_the_axis_apart_differ() {
        for top in [0.0165, 0.3, 0.8, 4.0, 12.0, 900.0] {
            let labels: Vec<String> = (0..=5)
                .map(|i| axis_number(top * i as f64 / 5.0, top))
                .collect();
            let mut distinct = labels.clone();
            distinct.dedup();
            assert_eq!(distinct, labels, "top {top}");
        }
        assert_eq!(axis_number(0.01, 0.0165), "0.010");
        assert_eq!(axis_number(40.0, 120.0), "40");
    }

    #[test]
    fn gaps_split_lines_and_the_description_names_each_series() {
        let first: NaiveDate = "2026-03-01".parse().unwrap();
        let chart = Daily {
            id: "feedback",
            title: "Time to feedback",
            unit: "minutes",
            first,
            lines: vec![
                Line {
                    name: "median",
                    colour: LINE,
                    values: (0..7)
                        .map(|i| (i != 3).then_some(10.0 + i as f64))
                        .collect(),
                },
                Line {
                    name: "95th percentile",
                    colour: SECOND,
                    values: vec![None; 7],
                },
            ],
        };
        let svg = daily_lines(&chart);
        assert!(
            svg.contains("<title id=\"feedback-title\">Time to feedback</title>"),
            "{svg}"
        );
        assert!(svg.contains("From 2026-03-01 to 2026-03-07. median, on 6 days with data: lowest 10.0 minutes on 2026-03-01, highest 16.0 minutes on 2026-03-07. 95th percentile: no data.</desc>"), "{svg}");
        assert_eq!(
            svg.matches("stroke=\"#2F9E8F\" stroke-width=\"2\"").count(),
            2,
            "a gap splits the line: {svg}"
        );
        assert!(svg.contains("\nMar 1\n</text>"), "dated x axis: {svg}");
        assert!(
            !svg.contains("style="),
            "no inline style, for a strict CSP: {svg}"
        );
    }

    #[test]
    fn small_rates_keep_their_digits_and_no_days_draw_nothing() {
        assert_eq!(number(0.0125), "0.013");
        assert_eq!(number(12.34), "12.3");
        let empty = Daily {
            id: "x",
            title: "x",
            unit: "x",
            first: "2026-03-01".parse().unwrap(),
            lines: Vec::new(),
        };
        assert_eq!(daily_lines(&empty), "");
    }
}
