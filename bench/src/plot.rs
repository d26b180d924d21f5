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

fn convergence(path: &Path, s: &RunSeries) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xmax = s
        .arrivals
        .iter()
        .filter_map(|v| v.last().copied())
        .fold(0.5f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption("Broadcast convergence", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..xmax * 1.05, 0f64..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the event was fired")
        .y_desc("share of live members that have it")
        .draw()
        .map_err(err)?;
    let live = s.live.max(1) as f64;
    for (i, times) in s.arrivals.iter().enumerate() {
        let points = times
            .iter()
            .enumerate()
            .map(|(k, &t)| (t, (k + 1) as f64 / live));
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))
            .map_err(err)?
            .label(format!("event {i}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn detection(path: &Path, s: &RunSeries) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xmax = s
        .first_detection
        .iter()
        .chain(&s.all_detection)
        .copied()
        .fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Failure detection latency (CDF over crashes)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..xmax * 1.05, 0f64..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds after the crash")
        .y_desc("share of crashes")
        .draw()
        .map_err(err)?;
    let curves = [
        ("first survivor declares it failed", &s.first_detection),
        ("every survivor has", &s.all_detection),
    ];
    for (i, (label, values)) in curves.into_iter().enumerate() {
        let mut v = values.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        let points = v.iter().enumerate().map(|(k, &t)| (t, (k + 1) as f64 / n));
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn traffic(path: &Path, s: &RunSeries) -> Result<(), String> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xmax = s.traffic.last().map_or(1.0, |p| p.0).max(1.0);
    let ymax = s.traffic.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption("Traffic per member", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax * 1.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("virtual seconds")
        .y_desc("bytes sent per member per second")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            s.traffic.iter().copied(),
            colour(0).stroke_width(2),
        ))
        .map_err(err)?;
    root.present().map_err(err)
}
