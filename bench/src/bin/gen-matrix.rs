//! Writes an Internet-like RTT matrix (milliseconds) to stdout.
//!
//! `cargo run --release -p serf-bench --bin gen-matrix -- [--hosts 200] [--seed 1]`

use std::process::ExitCode;

use clap::Parser;

use serf_bench::matrix::{generate, GenConfig};

/// Writes an Internet-like RTT matrix (milliseconds, one row per line) to stdout.
#[derive(Parser)]
#[command(name = "gen-matrix")]
struct Args {
    /// Hosts (rows and columns).
    #[arg(long, default_value_t = GenConfig::default().hosts)]
    hosts: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of pairs whose route takes a detour (triangle-inequality violations).
    #[arg(long, default_value_t = GenConfig::default().detour_share)]
    detour_share: f64,
    /// Relative noise on every RTT.
    #[arg(long, default_value_t = GenConfig::default().noise)]
    noise: f64,
}

fn main() -> ExitCode {
    let a: Args = serf_bench::args::parse("gen-matrix");
    if a.hosts < 2 {
        eprintln!("gen-matrix: --hosts must be at least 2");
        return ExitCode::from(2);
    }
    let cfg = GenConfig {
        hosts: a.hosts,
        detour_share: a.detour_share,
        noise: a.noise,
        ..GenConfig::default()
    };
    print!("{}", generate(&cfg, a.seed).to_text());
    ExitCode::SUCCESS
}
