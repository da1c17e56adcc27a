//! A daily bar chart of one quantity (cost per day), empty days drawn as no bar.

use chrono::{Duration, NaiveDate};
use plotters::prelude::*;
use plotters::style::RGBColor;

use super::frame;

/// One bar per day from `first`.
pub struct DailyBars<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub unit: &'a str,
    pub first: NaiveDate,
    pub colour: RGBColor,
    pub values: Vec<f64>,
}

/// The chart as an inline SVG, or an empty string without days or if plotters fails.
pub fn daily_bars(chart: &DailyBars<'_>) -> String {
    if chart.values.is_empty() {
        return String::new();
    }
    let mut svg = String::new();
    if let Err(err) = draw(&mut svg, chart) {
        tracing::error!(error = %err, chart = chart.id, "a chart failed to draw");
        return String::new();
    }
    let day = |i: usize| (chart.first + Duration::days(i as i64)).format("%Y-%m-%d");
    let total: f64 = chart.values.iter().sum();
    let mut desc = format!(
        "From {} to {}: {total:.1} {} in all.",
        day(0),
        day(chart.values.len() - 1),
        chart.unit
    );
    if let Some((i, most)) = chart
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .max_by(|a, b| a.1.total_cmp(b.1))
    {
        desc.push_str(&format!(" The most on {}: {most:.1}.", day(i)));
    }
    frame::titled(&svg, chart.id, chart.title, &desc)
}

fn draw(svg: &mut String, chart: &DailyBars<'_>) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, frame::SIZE).into_drawing_area();
    let days = chart.values.len();
    let highest = chart.values.iter().fold(0.0_f64, |a, b| a.max(*b));
    let top = if highest > 0.0 { highest * 1.1 } else { 1.0 };
    let mut plot = frame::daily_plot(&root, chart.first, days, top, chart.unit, &|v| {
        format!("{v:.0}")
    })?;
    let bars = chart
        .values
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.0)
        .map(|(i, v)| {
            let i = i as i32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                chart.colour.filled(),
            );
            bar.set_margin(0, 0, 1, 1);
            bar
        });
    plot.draw_series(bars).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_have_a_title_a_total_and_dates() {
        let chart = DailyBars {
            id: "cost",
            title: "Runner minutes per day",
            unit: "minutes",
            first: "2026-03-01".parse().unwrap(),
            colour: frame::LINE,
            values: vec![10.0, 0.0, 32.5],
        };
        let svg = daily_bars(&chart);
        assert!(svg.contains("<desc id=\"cost-desc\">From 2026-03-01 to 2026-03-03: 42.5 minutes in all. The most on 2026-03-03: 32.5.</desc>"), "{svg}");
        assert_eq!(
            svg.matches("fill=\"#2F9E8F\"").count(),
            2,
            "no bar for an empty day: {svg}"
        );
        assert!(svg.contains("\nMar 1\n</text>"), "{svg}");
        assert!(!svg.contains("style="), "{svg}");
    }
}
