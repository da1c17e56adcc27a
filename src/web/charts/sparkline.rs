//! A sparkline: a word-sized line of daily values for a table cell, with a `<title>` that
//! says what it shows. Small enough to write directly; plotters' axes would not fit.

use super::frame::{escape, LINE};

const WIDTH: f64 = 96.0;
const HEIGHT: f64 = 22.0;

/// `values` one per day, oldest first (`None`: no data that day, a gap). `label` names the
/// series and its range for screen readers. Empty when nothing was measured.
pub fn sparkline(label: &str, values: &[Option<f64>]) -> String {
    if values.iter().all(Option::is_none) {
        return String::new();
    }
    let low = values
        .iter()
        .flatten()
        .fold(f64::INFINITY, |a, b| a.min(*b));
    let high = values
        .iter()
        .flatten()
        .fold(f64::NEG_INFINITY, |a, b| a.max(*b));
    let range = if high > low { high - low } else { 1.0 };
    let step = WIDTH / (values.len().max(2) - 1) as f64;
    let mut paths = Vec::new();
    let mut current = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => {
                let x = i as f64 * step;
                // 2 px of margin keeps the stroke inside the box.
                let y = 2.0 + (HEIGHT - 4.0) * (1.0 - (v - low) / range);
                current.push(format!("{x:.1},{y:.1}"));
            }
            None if !current.is_empty() => paths.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        paths.push(current);
    }
    let mut svg = format!(
        "<svg class=\"spark\" viewBox=\"-2 0 {} {HEIGHT}\" width=\"{}\" height=\"{HEIGHT}\" role=\"img\"><title>{}</title>",
        WIDTH + 4.0,
        WIDTH + 4.0,
        escape(label)
    );
    let colour = format!("#{:02X}{:02X}{:02X}", LINE.0, LINE.1, LINE.2);
    for points in paths {
        if points.len() == 1 {
            let (x, y) = points[0].split_once(',').unwrap_or(("0", "0"));
            svg.push_str(&format!(
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"1.5\" fill=\"{colour}\"/>"
            ));
        } else {
            svg.push_str(&format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
                points.join(" ")
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_is_titled_and_breaks_at_gaps() {
        let svg = sparkline("red <runs>", &[Some(1.0), Some(3.0), None, Some(2.0)]);
        assert!(svg.starts_with("<svg class=\"spark\""), "{svg}");
        assert!(svg.contains("<title>red &lt;runs&gt;</title>"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 1, "{svg}");
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "a lone day is a dot: {svg}"
        );
        assert!(
            svg.contains("points=\"0.0,20.0 32.0,2.0\""),
            "lowest at the bottom: {svg}"
        );
        assert!(!svg.contains("style="), "{svg}");
    }

    #[test]
    fn nothing_measured_draws_nothing() {
        assert_eq!(sparkline("x", &[None, None]), "");
        assert_eq!(sparkline("x", &[]), "");
    }
}
