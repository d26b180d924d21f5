//! Writes an Internet-like RTT matrix (milliseconds) to stdout.
//!
//! `cargo run --release -p serf-bench --bin gen-matrix -- [--hosts 200] [--seed 1]`

use std::process::ExitCode;

use serf_bench::matrix::{generate, GenConfig};

fn main() -> ExitCode {
    let mut cfg = GenConfig::default();
    let mut seed = 1u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("gen-matrix: {flag} needs a value");
            return ExitCode::from(2);
        };
        let ok = match flag.as_str() {
            "--hosts" => v.parse().map(|x| cfg.hosts = x).is_ok(),
            "--seed" => v.parse().map(|x| seed = x).is_ok(),
            "--detour-share" => v.parse().map(|x| cfg.detour_share = x).is_ok(),
            "--noise" => v.parse().map(|x| cfg.noise = x).is_ok(),
            _ => {
                eprintln!(
                    "gen-matrix: unknown flag {flag} (--hosts, --seed, --detour-share, --noise)"
                );
                return ExitCode::from(2);
            }
        };
        if !ok {
            eprintln!("gen-matrix: bad value {v:?} for {flag}");
            return ExitCode::from(2);
        }
    }
    if cfg.hosts < 2 {
        eprintln!("gen-matrix: --hosts must be at least 2");
        return ExitCode::from(2);
    }
    print!("{}", generate(&cfg, seed).to_text());
    ExitCode::SUCCESS
}
