//! What every chart shares: its size, colours, the dated x axis, and the `<title>`/`<desc>`
//! plotters does not write.

use chrono::{Duration, NaiveDate};
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::prelude::*;
use plotters::style::RGBColor;

pub const SIZE: (u32, u32) = (640, 250);
/// Axis lines and labels (the stylesheet recolours labels for the page's scheme).
pub const AXIS: RGBColor = RGBColor(0x8a, 0x93, 0xa3);
pub const FALSE_ALARM: RGBColor = RGBColor(0xe0, 0x8e, 0x0b);
pub const BROKEN: RGBColor = RGBColor(0xd9, 0x48, 0x3b);
pub const OTHER: RGBColor = RGBColor(0x6f, 0x84, 0xd8);
pub const LINE: RGBColor = RGBColor(0x2f, 0x9e, 0x8f);
/// A second line beside `LINE` (p95 beside p50, store time beside queue time).
pub const SECOND: RGBColor = RGBColor(0xb0, 0x6a, 0xd1);

pub fn label_font() -> TextStyle<'static> {
    ("sans-serif", 17).into_font().color(&AXIS)
}

/// The date under the middle of day slot `index` of a chart of `days` days starting at
/// `first` (nothing past the last day: the axis has one more boundary than days).
pub fn day_label(first: NaiveDate, days: usize, value: &SegmentValue<i32>) -> String {
    match value {
        SegmentValue::CenterOf(index) | SegmentValue::Exact(index)
            if (0..days as i32).contains(index) =>
        {
            (first + Duration::days(i64::from(*index)))
                .format("%b %-d")
                .to_string()
        }
        _ => String::new(),
    }
}

/// At most about eight dated labels, whatever the window.
pub fn x_label_count(days: usize) -> usize {
    days.clamp(1, 8)
}

/// A chart of one slot per day over `days` days from `first`, values from 0 to `top`.
pub type DailyPlot<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<SegmentedCoord<RangedCoordi32>, RangedCoordf64>>;

/// The daily charts' frame: margins, the dated x axis, a y axis in `unit` with its
/// labels from `y_label`, light horizontal grid lines.
pub fn daily_plot<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    first: NaiveDate,
    days: usize,
    top: f64,
    unit: &str,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<DailyPlot<'a, 'b>, String> {
    let mut plot = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d((0..days as i32).into_segmented(), 0.0..top)
        .map_err(|e| e.to_string())?;
    plot.configure_mesh()
        .disable_x_mesh()
        .bold_line_style(AXIS.mix(0.25))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .x_labels(x_label_count(days))
        .y_labels(5)
        .x_label_formatter(&|v| day_label(first, days, v))
        .y_label_formatter(y_label)
        .label_style(label_font())
        .y_desc(unit)
        .axis_desc_style(label_font())
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(plot)
}

/// Puts `role="img"`, a `<title>` and a `<desc>` into plotters' SVG, so the chart has a
/// name and a text equivalent.
pub fn titled(svg: &str, id: &str, title: &str, desc: &str) -> String {
    let Some(open_end) = svg
        .find("<svg")
        .and_then(|at| svg[at..].find('>').map(|end| at + end))
    else {
        return svg.to_owned();
    };
    let (head, rest) = svg.split_at(open_end);
    format!(
        "{head} role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" class=\"chart-svg\"><title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>{}",
        escape(title),
        escape(desc),
        &rest[1..]
    )
}

/// Text for SVG and HTML attributes and elements.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_go_inside_the_svg_element_escaped() {
        let svg =
            "<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" xmlns=\"x\">\n<rect/></svg>";
        let out = titled(svg, "c", "Red <runs>", "a & b");
        assert!(
            out.starts_with(
                "<svg width=\"10\" height=\"10\" viewBox=\"0 0 10 10\" xmlns=\"x\" role=\"img\""
            ),
            "{out}"
        );
        assert!(out.contains("<title id=\"c-title\">Red &lt;runs&gt;</title><desc id=\"c-desc\">a &amp; b</desc>\n<rect/>"), "{out}");
    }

    #[test]
    fn day_labels_are_dates() {
        let first: NaiveDate = "2026-02-27".parse().unwrap();
        assert_eq!(day_label(first, 7, &SegmentValue::CenterOf(3)), "Mar 2");
        assert_eq!(day_label(first, 7, &SegmentValue::CenterOf(7)), "");
    }
}
