//! Evaluates Vivaldi coordinates on an RTT matrix.
//!
//! `cargo run --release -p serf-bench --bin vivaldi-eval -- --matrix FILE [--units ms|s]
//!  [--cycles 1000] [--seed 1] [--dims 8] [--protocol] [--jitter-ms X]
//!  [--rng sim|go] [--config ours|serf]`
//!
//! The last stdout line is one JSON object:
//! `{"nodes":N,"pairs":P,"median_rel_err":x,"mean_rel_err":x,"p90_rel_err":x}`.

use std::process::ExitCode;

use clap::Parser;
use std::time::Duration;

use serf_bench::eval;
use serf_bench::matrix::Matrix;
use serf_core::vivaldi::{VivaldiConfig, MAX_DIMS};

/// Evaluates Vivaldi coordinates on an RTT matrix.
#[derive(Parser)]
#[command(name = "vivaldi-eval")]
struct Args {
    /// The RTT matrix (one row per line).
    #[arg(long)]
    matrix: String,
    /// Units of the matrix: ms or s.
    #[arg(long, default_value = "ms")]
    units: String,
    /// Update cycles.
    #[arg(long, default_value_t = 1000)]
    cycles: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Coordinate dimensions.
    #[arg(long, default_value_t = 8)]
    dims: usize,
    /// Run the full protocol (probes, acks, coordinates on the wire)
    /// instead of Serf's Simulate shape.
    #[arg(long)]
    protocol: bool,
    /// Jitter added to every RTT sample, in ms (with --protocol).
    #[arg(long = "jitter-ms", default_value_t = 0.0)]
    jitter: f64,
    /// Random stream of the Simulate shape: `sim` (ours) or `go` (Go's
    /// math/rand as Serf's own code draws it, peers and random directions
    /// from two generators seeded with --seed; with --config serf the same
    /// figures as Serf's coordinate package on the matrix).
    #[arg(long, default_value = "sim")]
    rng: String,
    /// Coordinate client settings: `ours` (moving-percentile latency
    /// filter) or `serf` (Serf's DefaultConfig exactly).
    #[arg(long, default_value = "ours")]
    config: String,
}

fn main() -> ExitCode {
    match run(serf_bench::args::parse("vivaldi-eval")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vivaldi-eval: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(a: Args) -> Result<(), String> {
    let Args {
        matrix: file,
        units,
        cycles,
        seed,
        dims,
        protocol,
        jitter,
        rng,
        config,
    } = a;
    let stream = match rng.as_str() {
        "sim" => eval::Stream::Sim,
        "go" => eval::Stream::Go,
        r => return Err(format!("--rng must be sim or go, not {r:?}")),
    };
    let base = match config.as_str() {
        "ours" => VivaldiConfig::default(),
        "serf" => VivaldiConfig::serf(),
        c => return Err(format!("--config must be ours or serf, not {c:?}")),
    };
    let scale = match units.as_str() {
        "ms" => 1e-3,
        "s" => 1.0,
        u => return Err(format!("--units must be ms or s, not {u:?}")),
    };
    if !(1..=MAX_DIMS).contains(&dims) {
        return Err(format!("--dims must be between 1 and {MAX_DIMS}"));
    }
    if cycles == 0 {
        return Err("--cycles must be at least 1".into());
    }
    if !(jitter.is_finite() && jitter >= 0.0) {
        return Err("--jitter-ms must be a non-negative number".into());
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let m = Matrix::parse(&text)
        .map_err(|e| format!("{file}: {e}"))?
        .scaled(scale);
    if m.len() < 2 {
        return Err(format!("{file}: need at least 2 hosts"));
    }
    let cfg = VivaldiConfig { dims, ..base };
    let report = if protocol {
        eval::protocol(
            &m,
            cycles,
            seed,
            &cfg,
            Duration::from_secs_f64(jitter / 1000.0),
        )
    } else {
        eval::simulate(&m, cycles, seed, &cfg, stream)
    };
    println!("{}", report.json());
    Ok(())
}
