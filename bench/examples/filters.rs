//! Compares latency filters in the protocol-mode Vivaldi evaluation with
//! per-packet queueing jitter:
//! `cargo run --release -p serf-bench --example filters -- MATRIX_MS [JITTER_MS] [CYCLES]`
use std::process::ExitCode;
use std::time::Duration;

use serf_bench::eval;
use serf_bench::matrix::Matrix;
use serf_core::vivaldi::VivaldiConfig;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: filters MATRIX_MS [JITTER_MS] [CYCLES]");
        return ExitCode::from(2);
    };
    let jitter_ms: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let cycles: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let m = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| Matrix::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m.scaled(1e-3),
        Err(e) => {
            eprintln!("{file}: {e}");
            return ExitCode::from(2);
        }
    };
    for (window, p) in [(3usize, 0.5f64), (4, 0.25), (5, 0.25), (5, 0.0)] {
        let cfg = VivaldiConfig {
            latency_filter: window,
            latency_percentile: p,
            ..VivaldiConfig::default()
        };
        let r = eval::protocol(
            &m,
            cycles,
            1,
            &cfg,
            Duration::from_secs_f64(jitter_ms / 1000.0),
        );
        println!(
            "window {window} percentile {p:.2} jitter {jitter_ms} ms: {}",
            r.json()
        );
    }
    ExitCode::SUCCESS
}
