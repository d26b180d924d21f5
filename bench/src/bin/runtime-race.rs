//! The same loopback workload on the std runtime (a thread per member) and
//! on one io_uring ring, each in its own process: N members on 127.10.x.y
//! probing at a fixed high rate. Work per CPU second (getrusage of the
//! process), not wall time, is what is compared.
//!
//! `cargo run --release -p serf-bench --bin runtime-race -- --members 256 --seconds 10 [--json]`
//!
//! The last stdout line (with `--json`) is
//! `{"members":M,"std_datagrams_per_cpu_s":x,"uring_datagrams_per_cpu_s":y,"ratio":y/x,
//!   "std_cpu_per_member_us":a,"uring_cpu_per_member_us":b}`.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::{Deserialize, Serialize};
use serf_bench::loopback::{config, cpu_seconds, Engine, Loopback};
use serf_core::Config;

/// Races the two runtimes on one workload.
#[derive(Parser)]
#[command(name = "runtime-race")]
struct Args {
    /// Members.
    #[arg(long, default_value_t = 256)]
    members: usize,
    /// Seconds measured (after the members converged).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Probe interval in ms (each probe is a ping and an ack).
    #[arg(long = "probe-ms", default_value_t = 50)]
    probe_ms: u64,
    /// Run one runtime only (std or uring) and print its figures as JSON.
    #[arg(long)]
    engine: Option<String>,
    /// Print the comparison as one JSON object (the last stdout line).
    #[arg(long)]
    json: bool,
    /// The loopback net for the members' addresses (127.NET.x.y).
    #[arg(long, default_value_t = 10)]
    net: u8,
}

/// One runtime's figures over the measured window.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Figures {
    engine: String,
    members: usize,
    seconds: f64,
    cpu_s: f64,
    datagrams: u64,
    datagrams_per_cpu_s: f64,
    cpu_per_member_us: f64,
    converge_s: f64,
    /// Members alive in everyone's view at the end (should be all).
    min_alive_seen: usize,
    /// io_uring only: datagrams handled per wake of the ring thread.
    datagrams_per_wake: Option<f64>,
}

fn main() -> ExitCode {
    let a: Args = serf_bench::args::parse("runtime-race");
    if a.members < 2 || a.members > 20_000 || a.seconds == 0 || a.probe_ms < 5 {
        eprintln!("--members must be 2 to 20000, --seconds at least 1, --probe-ms at least 5");
        return ExitCode::from(2);
    }
    let result = match a.engine.as_deref().map(|e| (e, Engine::parse(e))) {
        Some((_, Some(e))) => run(&a, e).map(|f| vec![f]),
        Some((e, None)) => Err(format!("--engine must be std or uring, not {e:?}")),
        None => [Engine::Std, Engine::Uring]
            .iter()
            .map(|e| spawn(&a, *e))
            .collect(),
    };
    let figures = match result {
        Ok(f) => f,
        Err(e) => {
            eprintln!("runtime-race: {e}");
            return ExitCode::from(1);
        }
    };
    if a.engine.is_some() {
        println!("{}", serde_json::to_string(&figures[0]).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    for f in &figures {
        println!(
            "{:<5} {} members: {} datagrams in {:.1} s using {:.2} CPU s: {:.0} datagrams per CPU s, {:.1} µs CPU per member per s (converged in {:.1} s; every member sees ≥ {} alive)",
            f.engine, f.members, f.datagrams, f.seconds, f.cpu_s, f.datagrams_per_cpu_s,
            f.cpu_per_member_us, f.converge_s, f.min_alive_seen,
        );
        if let Some(b) = f.datagrams_per_wake {
            println!("      {b:.1} datagrams per wake of the ring thread");
        }
    }
    let (s, u) = (&figures[0], &figures[1]);
    let ratio = u.datagrams_per_cpu_s / s.datagrams_per_cpu_s.max(1e-9);
    if a.json {
        let out = serde_json::json!({
            "members": a.members,
            "std_datagrams_per_cpu_s": s.datagrams_per_cpu_s,
            "uring_datagrams_per_cpu_s": u.datagrams_per_cpu_s,
            "ratio": ratio,
            "std_cpu_per_member_us": s.cpu_per_member_us,
            "uring_cpu_per_member_us": u.cpu_per_member_us,
        });
        println!("{out}");
    } else {
        println!("uring / std datagrams per CPU second: {ratio:.2}");
    }
    ExitCode::SUCCESS
}

/// Runs one runtime in a child process (its own CPU accounting).
fn spawn(a: &Args, e: Engine) -> Result<Figures, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let out = Command::new(me)
        .args(["--engine", e.name(), "--members", &a.members.to_string()])
        .args(["--seconds", &a.seconds.to_string()])
        .args(["--probe-ms", &a.probe_ms.to_string()])
        .args(["--net", &a.net.to_string()])
        .output()
        .map_err(|err| format!("cannot run the {} runtime: {err}", e.name()))?;
    if !out.status.success() {
        return Err(format!(
            "the {} runtime failed: {}",
            e.name(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|err| format!("{} printed {line:?}: {err}", e.name()))
}

fn run(a: &Args, engine: Engine) -> Result<Figures, String> {
    let mut profile = Config::local();
    profile.probe_interval = Duration::from_millis(a.probe_ms);
    profile.probe_timeout = Duration::from_millis(a.probe_ms * 4 / 5);
    let cfg = config(profile, a.members);
    let cluster = Loopback::start(engine, a.members, &cfg, a.net)
        .map_err(|e| format!("cannot start the members: {e}"))?;
    let t0 = Instant::now();
    cluster.join_all();
    let converge = cluster
        .wait_alive(a.members, Duration::from_secs(60))
        .ok_or("the members did not converge within 60 s")?;
    let converge_s = t0.elapsed().as_secs_f64().max(converge.as_secs_f64());
    // Let the join traffic settle before measuring the steady state.
    std::thread::sleep(Duration::from_secs(2));
    // Reading every member's counters takes a while (a std member answers
    // within its 20 ms command poll): CPU and wall time are read on both
    // sides of each sweep and their midpoints used.
    let sample = || {
        let (c, w) = (cpu_seconds(), Instant::now());
        let d = cluster.datagrams();
        let (c2, w2) = (cpu_seconds(), Instant::now());
        (d, (c + c2) / 2.0, w + (w2 - w) / 2)
    };
    let wakes = || cluster.ring.as_ref().map(|r| r.counters().wakes);
    let (d0, c0, w0) = sample();
    let k0 = wakes();
    std::thread::sleep(Duration::from_secs(a.seconds));
    let (d1, c1, w1) = sample();
    let k1 = wakes();
    let min_alive_seen = cluster
        .infos()
        .into_iter()
        .flatten()
        .map(|i| serf_bench::loopback::alive_of(&i))
        .min()
        .unwrap_or(0);
    let seconds = (w1 - w0).as_secs_f64();
    let cpu_s = (c1 - c0).max(1e-9);
    let datagrams = d1 - d0;
    Ok(Figures {
        engine: engine.name().into(),
        members: a.members,
        seconds,
        cpu_s,
        datagrams,
        datagrams_per_cpu_s: datagrams as f64 / cpu_s,
        cpu_per_member_us: cpu_s / a.members as f64 / seconds * 1e6,
        converge_s,
        min_alive_seen,
        datagrams_per_wake: k0
            .zip(k1)
            .map(|(k0, k1)| datagrams as f64 / (k1 - k0).max(1) as f64),
    })
}
