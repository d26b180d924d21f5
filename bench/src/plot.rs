//! SVG charts of a `serf-sim` run (`--plot DIR`): broadcast convergence over
//! time, the detection-latency CDF and the traffic per member over the run.

use std::path::Path;

use plotters::prelude::*;

/// What a run's charts are drawn from.
pub struct RunSeries {
    /// Per broadcast: the times (s since it was fired) at which each live
    /// member delivered it, sorted.
    pub arrivals: Vec<Vec<f64>>,
    /// Live members at the end (the 100% line of convergence).
    pub live: usize,
    /// Per crash: seconds until the first survivor declared it failed.
    pub first_detection: Vec<f64>,
    /// Per crash seen by every survivor: seconds until the last did.
    pub all_detection: Vec<f64>,
    /// (virtual second, bytes sent per member in that second).
    pub traffic: Vec<(f64, f64)>,
}

const SIZE: (u32, u32) = (800, 480);

/// Writes `convergence.svg`, `detection.svg` and `traffic.svg` into `dir`
/// (created if missing); returns the files written.
pub fn write_all(dir: &Path, s: &RunSeries) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let files = [
        (
            "convergence.svg",
            convergence as fn(&Path, &RunSeries) -> Result<(), String>,
        ),
        ("detection.svg", detection),
        ("traffic.svg", traffic),
    ];
    let mut written = Vec::new();
    for (name, draw) in files {
        let path = dir.join(name);
        draw(&path, s).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

/// The colour of series `i`.
fn colour(i: usize) -> RGBColor {
    let (r, g, b) = Palette99::pick(i).to_rgba().rgb();
    RGBColor(r, g, b)
}

/// One line per series on shared axes from 0 (a legend when there are labels).
struct Chart<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_max: f64,
    y_max: f64,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

fn draw(path: &Path, c: Chart<'_>) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(c.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..c.x_max, 0f64..c.y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(c.x_desc)
        .y_desc(c.y_desc)
        .draw()
        .map_err(err)?;
    let labelled = c.series.iter().any(|(label, _)| !label.is_empty());
    for (i, (label, points)) in c.series.into_iter().enumerate() {
        let colour = colour(i);
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// The empirical CDF of `values`: (value, share at or below it).
fn cdf(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len().max(1) as f64;
    v.iter()
        .enumerate()
        .map(|(k, &t)| (t, (k + 1) as f64 / n))
        .collect()
}

fn convergence(path: &Path, s: &RunSeries) -> Result<(), String> {
    let x_max = s
        .arrivals
        .iter()
        .filter_map(|v| v.last().copied())
        .fold(0.5f64, f64::max);
    let live = s.live.max(1) as f64;
    let series = s
        .arrivals
        .iter()
        .enumerate()
        .map(|(i, times)| {
            let points = times
                .iter()
                .enumerate()
                .map(|(k, &t)| (t, (k + 1) as f64 / live))
                .collect();
            (format!("event {i}"), points)
        })
        .collect();
    draw(
        path,
        Chart {
            title: "Broadcast convergence",
            x_desc: "seconds since the event was fired",
            y_desc: "share of live members that have it",
            x_max: x_max * 1.05,
            y_max: 1.0,
            series,
        },
    )
}

fn detection(path: &Path, s: &RunSeries) -> Result<(), String> {
    let x_max = s
        .first_detection
        .iter()
        .chain(&s.all_detection)
        .copied()
        .fold(1.0f64, f64::max);
    draw(
        path,
        Chart {
            title: "Failure detection latency (CDF over crashes)",
            x_desc: "seconds after the crash",
            y_desc: "share of crashes",
            x_max: x_max * 1.05,
            y_max: 1.0,
            series: vec![
                (
                    "first survivor declares it failed".into(),
                    cdf(&s.first_detection),
                ),
                ("every survivor has".into(), cdf(&s.all_detection)),
            ],
        },
    )
}

fn traffic(path: &Path, s: &RunSeries) -> Result<(), String> {
    draw(
        path,
        Chart {
            title: "Traffic per member",
            x_desc: "virtual seconds",
            y_desc: "bytes sent per member per second",
            x_max: s.traffic.last().map_or(1.0, |p| p.0).max(1.0),
            y_max: s.traffic.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1,
            series: vec![(String::new(), s.traffic.clone())],
        },
    )
}
