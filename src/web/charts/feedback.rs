//! Time to feedback per day: the median, over the day's pipelines, of first start to last
//! finish. Days without runs leave a gap instead of a fake zero.

use plotters::prelude::*;

use super::frame::{self, LINE};
use super::DayFeedback;

/// The chart as an inline SVG, or an empty string if plotters fails (logged).
pub fn feedback_per_day(days: &[DayFeedback]) -> String {
    let Some(first) = days.first().map(|d| d.day) else {
        return String::new();
    };
    let mut svg = String::new();
    if let Err(err) = draw(&mut svg, days, first) {
        tracing::error!(error = %err, "the feedback chart failed to draw");
        return String::new();
    }
    let last = days.last().map_or(first, |d| d.day);
    let measured: Vec<(chrono::NaiveDate, f64)> = days
        .iter()
        .filter_map(|d| d.p50_minutes.map(|m| (d.day, m)))
        .collect();
    let desc = match (
        measured.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        measured.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        (Some(low), Some(high)) => format!(
            "From {} to {}, on {} days with runs: fastest median {:.1} minutes on {}, slowest {:.1} minutes on {}.",
            first.format("%Y-%m-%d"),
            last.format("%Y-%m-%d"),
            measured.len(),
            low.1,
            low.0.format("%Y-%m-%d"),
            high.1,
            high.0.format("%Y-%m-%d"),
        ),
        _ => format!(
            "No run from {} to {}.",
            first.format("%Y-%m-%d"),
            last.format("%Y-%m-%d")
        ),
    };
    frame::titled(
        &svg,
        "feedback",
        "Time to feedback per day (median minutes)",
        &desc,
    )
}

fn draw(svg: &mut String, days: &[DayFeedback], first: chrono::NaiveDate) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, frame::SIZE).into_drawing_area();
    let top = days
        .iter()
        .filter_map(|d| d.p50_minutes)
        .fold(1.0_f64, f64::max)
        * 1.1;
    let slots = days.len() as i32;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d((0..slots).into_segmented(), 0.0..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(frame::AXIS.mix(0.25))
        .light_line_style(TRANSPARENT)
        .axis_style(frame::AXIS)
        .x_labels(frame::x_label_count(days.len()))
        .y_labels(5)
        .x_label_formatter(&|v| frame::day_label(first, days.len(), v))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(frame::label_font())
        .y_desc("minutes")
        .axis_desc_style(frame::label_font())
        .draw()
        .map_err(|e| e.to_string())?;
    // One line per stretch of consecutive days with runs.
    let mut stretches: Vec<Vec<(SegmentValue<i32>, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (i, day) in days.iter().enumerate() {
        match day.p50_minutes {
            Some(minutes) => current.push((SegmentValue::CenterOf(i as i32), minutes)),
            None if !current.is_empty() => stretches.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        stretches.push(current);
    }
    for stretch in &stretches {
        chart
            .draw_series(LineSeries::new(
                stretch.iter().cloned(),
                LINE.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                stretch
                    .iter()
                    .map(|point| Circle::new(point.clone(), 3, LINE.filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_without_runs_leave_gaps_and_the_description_says_the_range() {
        let first: chrono::NaiveDate = "2026-03-01".parse().unwrap();
        let days: Vec<DayFeedback> = (0..7)
            .map(|i| DayFeedback {
                day: first + chrono::Duration::days(i),
                p50_minutes: (i != 3).then_some(10.0 + i as f64),
            })
            .collect();
        let svg = feedback_per_day(&days);
        assert!(svg.contains("<desc id=\"feedback-desc\">From 2026-03-01 to 2026-03-07, on 6 days with runs: fastest median 10.0 minutes on 2026-03-01, slowest 16.0 minutes on 2026-03-07.</desc>"), "{svg}");
        assert_eq!(
            svg.matches("stroke=\"#2F9E8F\" stroke-width=\"2\"").count(),
            2,
            "a gap splits the line: {svg}"
        );
        assert!(!svg.contains("style="), "{svg}");
    }
}
