//! Evaluates Vivaldi coordinates on an RTT matrix.
//!
//! `cargo run --release -p serf-bench --bin vivaldi-eval -- --matrix FILE [--units ms|s]
//!  [--cycles 1000] [--seed 1] [--dims 8] [--protocol] [--jitter-ms X]`
//!
//! The last stdout line is one JSON object:
//! `{"nodes":N,"pairs":P,"median_rel_err":x,"mean_rel_err":x,"p90_rel_err":x}`.

use std::process::ExitCode;
use std::time::Duration;

use serf_bench::eval;
use serf_bench::matrix::Matrix;
use serf_core::vivaldi::{VivaldiConfig, MAX_DIMS};

const USAGE: &str = "usage: vivaldi-eval --matrix FILE [--units ms|s] [--cycles N] [--seed S] \
[--dims D] [--protocol] [--jitter-ms X]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vivaldi-eval: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let (mut file, mut units, mut cycles, mut seed, mut dims, mut protocol, mut jitter) = (
        None,
        "ms".to_string(),
        1000usize,
        1u64,
        8usize,
        false,
        0.0f64,
    );
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--protocol" {
            protocol = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        const VALUED: [&str; 6] = [
            "--matrix",
            "--units",
            "--cycles",
            "--seed",
            "--dims",
            "--jitter-ms",
        ];
        if !VALUED.contains(&flag.as_str()) {
            return Err(format!("unknown flag {flag}\n{USAGE}"));
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("bad value {v:?} for {flag}: {e}");
        match flag.as_str() {
            "--matrix" => file = Some(v.clone()),
            "--units" => units = v.clone(),
            "--cycles" => cycles = v.parse().map_err(|e| bad(&e))?,
            "--seed" => seed = v.parse().map_err(|e| bad(&e))?,
            "--dims" => dims = v.parse().map_err(|e| bad(&e))?,
            "--jitter-ms" => jitter = v.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    let file = file.ok_or_else(|| format!("--matrix is required\n{USAGE}"))?;
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
    let cfg = VivaldiConfig {
        dims,
        ..VivaldiConfig::default()
    };
    let report = if protocol {
        eval::protocol(
            &m,
            cycles,
            seed,
            &cfg,
            Duration::from_secs_f64(jitter / 1000.0),
        )
    } else {
        eval::simulate(&m, cycles, seed, &cfg)
    };
    println!("{}", report.json());
    Ok(())
}
