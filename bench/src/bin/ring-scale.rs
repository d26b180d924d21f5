//! Many real-socket members on one io_uring ring thread: N members on
//! 127.10.x.y (LAN profile) join through one seed, converge to a full view,
//! run a steady window whose CPU per member per second is measured, then
//! one member is killed and the time until every survivor sees it failed
//! is taken.
//!
//! `cargo run --release -p serf-bench --bin ring-scale -- --members 2000 [--seconds 30] [--json]`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use serf_bench::loopback::{alive_of, config, cpu_seconds, Engine, Loopback};
use serf_core::Config;

/// Many members on one ring, end to end.
#[derive(Parser)]
#[command(name = "ring-scale")]
struct Args {
    /// Members.
    #[arg(long, default_value_t = 2000)]
    members: usize,
    /// Seconds of steady state measured.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Seconds to wait after the full view before measuring (the join's
    /// news drains from the gossip queues meanwhile).
    #[arg(long, default_value_t = 20)]
    settle: u64,
    /// Joins started per second (0: all at once, eight in flight).
    #[arg(long = "join-rate", default_value_t = 100.0)]
    join_rate: f64,
    /// Timing profile: lan or local.
    #[arg(long, default_value = "lan")]
    profile: String,
    /// Runtime: uring (the point) or std (a thread per member, to compare).
    #[arg(long, default_value = "uring")]
    engine: String,
    /// Print the figures as one JSON object (the last stdout line).
    #[arg(long)]
    json: bool,
    /// The loopback net for the members' addresses (127.NET.x.y).
    #[arg(long, default_value_t = 10)]
    net: u8,
}

#[derive(Serialize)]
struct Figures {
    engine: &'static str,
    members: usize,
    start_s: f64,
    join_s: f64,
    converge_s: Option<f64>,
    steady_s: f64,
    cpu_per_member_us: f64,
    datagrams_per_member_s: f64,
    /// Probes started over those the probe interval calls for (1.0: the
    /// members kept up with real time).
    probe_rate: f64,
    /// Ring thread wakes per second in the steady state.
    wakes_per_s: f64,
    /// Members some survivor counted failed before the kill.
    false_failures: usize,
    /// Seconds until every survivor counted the killed member failed.
    detect_all_s: Option<f64>,
    peak_rss_bytes: u64,
    /// Work some member dropped over the run (full queues or tables), by counter.
    dropped: std::collections::BTreeMap<&'static str, u64>,
    /// The ring's own counters at the end.
    ring: Option<String>,
}

fn main() -> ExitCode {
    let a: Args = serf_bench::args::parse("ring-scale");
    let Some(engine) = Engine::parse(&a.engine) else {
        eprintln!("ring-scale: --engine must be uring or std");
        return ExitCode::from(2);
    };
    if a.members < 3 || a.members > 60_000 || a.seconds == 0 {
        eprintln!("ring-scale: --members must be 3 to 60000 and --seconds at least 1");
        return ExitCode::from(2);
    }
    match run(&a, engine) {
        Ok(f) => {
            println!(
                "{} members on {}: started in {:.1} s, joined in {:.1} s, full view after {}; steady {:.0} s: {:.1} µs CPU per member per s, {:.1} datagrams per member per s, probe rate {:.3}, {:.0} wakes per s, {} false failures; a kill seen by all in {}; peak RSS {:.0} MiB",
                f.members,
                f.engine,
                f.start_s,
                f.join_s,
                f.converge_s.map_or("never".into(), |s| format!("{s:.1} s")),
                f.steady_s,
                f.cpu_per_member_us,
                f.datagrams_per_member_s,
                f.probe_rate,
                f.wakes_per_s,
                f.false_failures,
                f.detect_all_s.map_or("never".into(), |s| format!("{s:.1} s")),
                f.peak_rss_bytes as f64 / (1 << 20) as f64,
            );
            if !f.dropped.is_empty() {
                println!("dropped: {:?}", f.dropped);
            }
            if a.json {
                println!("{}", serde_json::to_string(&f).unwrap_or_default());
            }
            if f.converge_s.is_none() || f.detect_all_s.is_none() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ring-scale: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(a: &Args, engine: Engine) -> Result<Figures, String> {
    let n = a.members;
    let profile = Config::profile(&a.profile).ok_or("--profile must be lan, wan or local")?;
    let probe = profile.probe_interval;
    let cfg = config(profile, n);
    let t0 = Instant::now();
    let mut cluster = Loopback::start(engine, n, &cfg, a.net)
        .map_err(|e| format!("cannot start the members: {e}"))?;
    let start_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let joined = if a.join_rate > 0.0 {
        cluster.join_paced(a.join_rate)
    } else {
        cluster.join_all()
    };
    let join_s = t1.elapsed().as_secs_f64();
    if joined + 1 < n {
        eprintln!("ring-scale: only {joined} of {} members joined", n - 1);
    }
    let converge_s = cluster
        .wait_alive(n, Duration::from_secs(600))
        .map(|d| d.as_secs_f64() + join_s);
    // Steady state, once the join's news has been gossiped out.
    std::thread::sleep(Duration::from_secs(a.settle));
    let wakes = || cluster.ring.as_ref().map_or(0, |r| r.counters().wakes);
    let (p0, d0) = (cluster.probes(), cluster.datagrams());
    let (k0, c0, w0) = (wakes(), cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(a.seconds));
    let (k1, c1, w1) = (wakes(), cpu_seconds(), Instant::now());
    let (p1, d1) = (cluster.probes(), cluster.datagrams());
    let steady_s = (w1 - w0).as_secs_f64();
    let false_failures = cluster
        .infos()
        .into_iter()
        .flatten()
        .map(|i| i.failed)
        .max()
        .unwrap_or(0);
    // Kill the last member (gone without a leave).
    let victim = cluster.members.pop().ok_or("no members")?;
    cluster.commands.pop();
    drop(victim);
    let tk = Instant::now();
    let mut detect_all_s = None;
    while tk.elapsed() < Duration::from_secs(120) {
        let infos = cluster.infos();
        if infos.iter().flatten().all(|i| i.failed > false_failures) {
            detect_all_s = Some(tk.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let min_alive = cluster
        .infos()
        .into_iter()
        .flatten()
        .map(|i| alive_of(&i))
        .min()
        .unwrap_or(0);
    if min_alive + 1 < n {
        eprintln!("ring-scale: after the kill some survivor sees only {min_alive} alive");
    }
    let expected = (n as f64) * steady_s / probe.as_secs_f64();
    Ok(Figures {
        engine: engine.name(),
        members: n,
        start_s,
        join_s,
        converge_s,
        steady_s,
        cpu_per_member_us: (c1 - c0) / n as f64 / steady_s * 1e6,
        datagrams_per_member_s: (d1 - d0) as f64 / n as f64 / steady_s,
        probe_rate: (p1 - p0) as f64 / expected,
        wakes_per_s: (k1 - k0) as f64 / steady_s,
        false_failures,
        detect_all_s,
        peak_rss_bytes: serf_bench::peak_rss_bytes(),
        dropped: cluster.drops().into_iter().collect(),
        ring: cluster.ring.as_ref().map(|r| format!("{:?}", r.counters())),
    })
}
