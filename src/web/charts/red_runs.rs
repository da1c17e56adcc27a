//! Red runs per day, stacked by cause: false alarms (only flaky tests failed), broken
//! (a broken test failed), other (a failure nothing known explains, or a crash).

use plotters::prelude::*;

use super::frame::{self, BROKEN, FALSE_ALARM, OTHER};
use super::DayRed;
use crate::wording::count;

/// The chart as an inline SVG, or an empty string if plotters fails (logged).
pub fn red_runs_per_day(days: &[DayRed]) -> String {
    let Some(first) = days.first().map(|d| d.day) else {
        return String::new();
    };
    let mut svg = String::new();
    if let Err(err) = draw(&mut svg, days, first) {
        tracing::error!(error = %err, "the red-runs chart failed to draw");
        return String::new();
    }
    let last = days.last().map_or(first, |d| d.day);
    let sum = |f: fn(&DayRed) -> usize| days.iter().map(f).sum::<usize>();
    let busiest = days
        .iter()
        .max_by_key(|d| (d.total(), std::cmp::Reverse(d.day)));
    let mut desc = format!(
        "From {} to {}: {}, {} (only flaky tests failed), {} broken, {} other.",
        first.format("%Y-%m-%d"),
        last.format("%Y-%m-%d"),
        count(sum(DayRed::total), "red run"),
        count(sum(|d| d.false_alarms), "false alarm"),
        sum(|d| d.broken),
        sum(|d| d.other),
    );
    if let Some(busiest) = busiest.filter(|d| d.total() > 0) {
        desc.push_str(&format!(
            " The most on {}: {}.",
            busiest.day.format("%Y-%m-%d"),
            busiest.total()
        ));
    }
    frame::titled(&svg, "red-runs", "Red runs per day, by cause", &desc)
}

fn draw(svg: &mut String, days: &[DayRed], first: chrono::NaiveDate) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, frame::SIZE).into_drawing_area();
    let top = days.iter().map(DayRed::total).max().unwrap_or(0).max(1) as u32;
    let slots = days.len() as i32;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d((0..slots).into_segmented(), 0u32..top + top.div_ceil(10))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(frame::AXIS.mix(0.25))
        .light_line_style(TRANSPARENT)
        .axis_style(frame::AXIS)
        .x_labels(frame::x_label_count(days.len()))
        .y_labels(top.min(5) as usize + 1)
        .x_label_formatter(&|v| frame::day_label(first, days.len(), v))
        .y_label_formatter(&|v| v.to_string())
        .label_style(frame::label_font())
        .y_desc("red runs")
        .axis_desc_style(frame::label_font())
        .draw()
        .map_err(|e| e.to_string())?;
    let bars = days.iter().enumerate().flat_map(|(i, day)| {
        let i = i as i32;
        let mut bottom = 0u32;
        [
            (day.false_alarms, FALSE_ALARM),
            (day.broken, BROKEN),
            (day.other, OTHER),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(move |(n, colour)| {
            let top = bottom + n as u32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), bottom),
                    (SegmentValue::Exact(i + 1), top),
                ],
                colour.filled(),
            );
            bar.set_margin(0, 0, 1, 1);
            bottom = top;
            bar
        })
        .collect::<Vec<_>>()
    });
    chart.draw_series(bars).map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_an_svg_with_a_title_a_description_and_dated_axis() {
        let first: chrono::NaiveDate = "2026-03-01".parse().unwrap();
        let days: Vec<DayRed> = (0..30)
            .map(|i| DayRed {
                day: first + chrono::Duration::days(i),
                false_alarms: (i % 3) as usize,
                broken: usize::from(i == 4),
                other: 1,
            })
            .collect();
        let svg = red_runs_per_day(&days);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<title id=\"red-runs-title\">Red runs per day, by cause</title>"));
        assert!(
            svg.contains("From 2026-03-01 to 2026-03-30: 61 red runs, 30 false alarms"),
            "{svg}"
        );
        assert!(svg.contains("\nMar 1\n</text>"), "dated x axis: {svg}");
        assert!(
            svg.contains("#E08E0B") || svg.contains("#e08e0b"),
            "false alarms are drawn: {svg}"
        );
        assert!(
            !svg.contains("style="),
            "no inline style, for a strict CSP: {svg}"
        );
    }

    #[test]
    fn no_days_draw_nothing() {
        assert_eq!(red_runs_per_day(&[]), "");
    }
}
