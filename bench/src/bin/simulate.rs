//! Runs a simulated cluster and prints a summary.
//!
//! `cargo run --release -p serf-bench --bin simulate -- --members 1000`

use std::process::ExitCode;

use clap::Parser;
use std::time::{Duration, Instant as Wall};

use serf_bench::sim::{lean_config, NetConfig, Sim};
use serf_core::Sizes;
use serf_core::{Config, EventKind, Instant};

/// Runs a simulated cluster (joins through one seed, crashes, detection)
/// and prints a summary.
#[derive(Parser)]
#[command(name = "simulate")]
struct Args {
    /// Members.
    #[arg(long, default_value_t = 1000)]
    members: u32,
    /// Seed (any seed replays the same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Datagram loss, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// One-way latency (and as much jitter), in ms.
    #[arg(long = "latency-ms", default_value_t = 1)]
    latency_ms: u64,
    /// Timing profile: lan, wan or local.
    #[arg(long, default_value = "lan")]
    profile: String,
    /// Members crashed once the cluster has converged.
    #[arg(long, default_value_t = 10)]
    crash: u32,
    /// Turn Lifeguard off.
    #[arg(long = "no-lifeguard")]
    no_lifeguard: bool,
    /// Longest wait for each phase, in virtual seconds.
    #[arg(long = "limit-s", default_value_t = 600)]
    limit_s: u64,
    /// Quiet run afterwards, counting false suspicions, in virtual seconds.
    #[arg(long = "soak-s", default_value_t = 0)]
    soak_s: u64,
}

fn parse() -> Result<Args, String> {
    let a: Args = serf_bench::args::parse("simulate");
    if a.members < 2 || a.members > 200_000 {
        return Err("--members must be between 2 and 200000".into());
    }
    if !(0.0..1.0).contains(&a.loss) {
        return Err("--loss must be in [0, 1)".into());
    }
    if a.crash >= a.members {
        return Err("--crash must be below --members".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(mut config) = Config::profile(&a.profile) else {
        eprintln!("unknown profile {:?} (lan, wan or local)", a.profile);
        return ExitCode::from(2);
    };
    config = lean_config(config, a.members);
    config.lifeguard = !a.no_lifeguard;
    let net = NetConfig {
        latency: Duration::from_millis(a.latency_ms),
        jitter: Duration::from_millis(a.latency_ms),
        loss: a.loss,
    };
    let wall = Wall::now();
    let n = a.members;
    let mut sim = Sim::new(config.clone(), net, n, a.seed);
    sim.set_recording(false);
    for i in 1..n {
        sim.join(i, 0);
    }
    let all: Vec<u32> = (0..n).collect();
    let mut converged = None;
    for t in 0..a.limit_s {
        if t % 5 == 4 {
            for i in 1..n {
                if sim.node(i).is_some_and(|x| x.counts().total() == 1) {
                    sim.join(i, 0);
                }
            }
        }
        sim.run_for(Duration::from_secs(1));
        if full_view(&sim, &all) {
            converged = Some(t + 1);
            break;
        }
    }
    let join_totals = sim.totals();
    println!(
        "members           {n} ({} profile, lifeguard {}, loss {:.0}%)",
        a.profile,
        !a.no_lifeguard,
        a.loss * 100.0
    );
    match converged {
        Some(t) => {
            println!("full view         every member sees all {n} alive after {t} s (virtual)")
        }
        None => println!("full view         NOT reached within {} s", a.limit_s),
    }
    sim.set_recording(true);
    let t0 = sim.now();
    let crashed: Vec<u32> = (1..=a.crash)
        .map(|k| k * (n / (a.crash + 1)).max(1))
        .collect();
    for &c in &crashed {
        sim.crash(c);
    }
    let survivors: Vec<u32> = all
        .iter()
        .copied()
        .filter(|i| !crashed.contains(i))
        .collect();
    let mut detected = None;
    for t in 0..a.limit_s {
        sim.run_for(Duration::from_secs(1));
        if full_view(&sim, &survivors) {
            detected = Some(t + 1);
            break;
        }
    }
    let failed = sim.count(EventKind::Failed, t0);
    let false_failures = sim
        .log()
        .iter()
        .filter(|r| {
            r.at >= t0 && r.event.kind == EventKind::Failed && !crashed.contains(&r.event.member)
        })
        .count();
    match detected {
        Some(t) => println!(
            "crash detection   {} crashed members marked failed by all {} survivors within {t} s",
            crashed.len(),
            survivors.len()
        ),
        None => println!("crash detection   NOT complete within {} s", a.limit_s),
    }
    // Exact times (virtual), per crashed member: first survivor, last survivor.
    for &c in &crashed {
        let reports = sim.first_reports(c, EventKind::Failed, t0);
        let secs = |at: serf_core::Instant| at.saturating_since(t0).as_secs_f64();
        if reports.len() == survivors.len() {
            let first = reports.iter().map(|r| secs(r.1)).fold(f64::MAX, f64::min);
            let last = reports.iter().map(|r| secs(r.1)).fold(0.0, f64::max);
            println!(
                "member {c:<5}      failed at first survivor {first:.2} s, at all {last:.2} s"
            );
        }
    }
    println!("failure events    {failed} ({false_failures} about live members)");
    if a.soak_s > 0 {
        let t1 = sim.now();
        sim.run_for(Duration::from_secs(a.soak_s));
        let suspects = sim.count(EventKind::Suspect, t1);
        let false_failed = sim
            .log()
            .iter()
            .filter(|r| {
                r.at >= t1
                    && r.event.kind == EventKind::Failed
                    && !crashed.contains(&r.event.member)
            })
            .count();
        println!(
            "soak              {} s: {suspects} suspect events, {false_failed} false failure events",
            a.soak_s
        );
    }
    let totals = sim.totals();
    let secs = sim.now().saturating_since(Instant::ZERO).as_secs_f64();
    println!(
        "traffic           {} datagrams, {:.1} KiB/s per member, {} lost",
        totals.packets,
        totals.bytes as f64 / 1024.0 / secs / n as f64,
        totals.lost
    );
    println!("join phase        {} datagrams", join_totals.packets);
    let bytes = Sizes::for_config(&config).bytes::<u32>();
    println!(
        "memory            {:.1} KiB of tables per member node (capacity {})",
        bytes as f64 / 1024.0,
        config.capacity.members
    );
    println!(
        "wall clock        {:.2} s for {:.0} virtual s, {} node steps",
        wall.elapsed().as_secs_f64(),
        secs,
        totals.steps
    );
    if converged.is_some() && detected.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn full_view(sim: &Sim, expect: &[u32]) -> bool {
    // Cheap check through counts first, then the exact views.
    let live = expect.len() as u32;
    expect
        .iter()
        .all(|&i| sim.node(i).is_some_and(|x| x.counts().live() == live))
        && sim.all_see_alive(expect)
}
