//! `serf-sim`: N complete `serf-core` nodes in one thread on virtual time,
//! every message through the real encoder, decoder and node; seeded and
//! replayable.
//!
//! `cargo run --release -p serf-bench --bin serf-sim -- --members N --seconds S [--json]`
//!
//! Starts warm (every node already knows every other) unless `--join-storm`.
//! With `--json` the last stdout line is one JSON object of the run's figures.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant as Wall};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serf_bench::matrix::Matrix;
use serf_bench::plot::{write_all, RunSeries};
use serf_bench::rng::SimRng;
use serf_bench::sim::{sim_config, DeliveredKind, NetConfig, Sim};
use serf_bench::{peak_rss_bytes, percentile};
use serf_core::{Config, EventKind, Instant, Sizes};

/// Simulates a cluster of complete members and reports speed, memory,
/// traffic, broadcast convergence and failure detection.
#[derive(Parser)]
#[command(name = "serf-sim")]
struct Args {
    /// Members.
    #[arg(long, default_value_t = 1000)]
    members: u32,
    /// Virtual seconds to run (after the start).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed (the same seed replays the same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Timing profile: lan, wan or local.
    #[arg(long, default_value = "lan")]
    profile: String,
    /// Datagram loss, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// One-way latency (and as much jitter), in ms.
    #[arg(long = "latency-ms", default_value_t = 1)]
    latency_ms: u64,
    /// Per-link RTTs from a matrix file (the `vivaldi-eval` format); member i
    /// sits at row i mod the matrix size. Replaces --latency-ms, and the
    /// coordinates' median relative error is reported at the end.
    #[arg(long = "latency-matrix")]
    latency_matrix: Option<String>,
    /// Units of the matrix: ms or s.
    #[arg(long = "matrix-units", default_value = "ms")]
    matrix_units: String,
    /// Fraction of members killed at random times in the middle half of the run.
    #[arg(long, default_value_t = 0.0)]
    crash: f64,
    /// A partition window START:END in virtual seconds: the two halves of the
    /// cluster cannot reach each other meanwhile.
    #[arg(long)]
    partition: Option<String>,
    /// Fraction of members that are slow (the Lifeguard paper's slow message
    /// processing): each reads its datagrams only after stalls of --slow-ms
    /// out of every 2 × --slow-ms, while its timers keep time.
    #[arg(long, default_value_t = 0.0)]
    slow: f64,
    /// How long each stall of a slow member lasts, in ms. Default: a quarter
    /// longer than the cluster's shortest suspicion timeout (15 s for 1,000
    /// members on LAN), past which a slow accuser's own suspicion fires
    /// before it reads the refutation waiting for it.
    #[arg(long = "slow-ms")]
    slow_ms: Option<u64>,
    /// Turn Lifeguard off.
    #[arg(long = "no-lifeguard")]
    no_lifeguard: bool,
    /// Join everyone through member 0 instead of starting warm.
    #[arg(long = "join-storm")]
    join_storm: bool,
    /// User events fired from random members, spread over the run (their
    /// spread is the broadcast convergence measured).
    #[arg(long, default_value_t = 4)]
    broadcasts: u32,
    /// Write SVG charts (convergence, detection CDF, traffic) into DIR.
    #[arg(long)]
    plot: Option<String>,
    /// Print the figures as one JSON object (the last stdout line).
    #[arg(long)]
    json: bool,
}

/// The figures of one run.
#[derive(Serialize)]
struct Report {
    members: u32,
    virtual_s: f64,
    wall_s: f64,
    setup_wall_s: f64,
    speed: f64,
    peak_rss_bytes: u64,
    table_bytes_per_member: f64,
    msgs_per_member_s: f64,
    /// Membership updates (alive, suspect, dead) handled per member per
    /// second, by the members still running at the end.
    updates_per_member_s: f64,
    bytes_per_member_s: f64,
    converge_s: Percentiles,
    broadcasts_fully_delivered: usize,
    detect_s: Detection,
    crashed: usize,
    slow: usize,
    /// With --latency-matrix: the coordinates' median relative error.
    coord_median_error: Option<f64>,
    /// Live members that are not slow ever marked failed by anyone.
    false_failures: usize,
    /// Slow members ever marked failed (stalled past the suspicion timeout).
    slow_failures: usize,
    /// Every time a member marked a live member that is not slow failed
    /// (one member can be marked failed by many, and more than once).
    false_failure_reports: usize,
    /// Of those, the ones made by slow members.
    false_failure_reports_by_slow: usize,
    pushpull_bytes: u64,
    lost: u64,
    dropped: Dropped,
}

/// Work the nodes' fixed tables had no room for during the run (summed over
/// the nodes still running; the warm start's own overflow not counted), so
/// the simulator's table sizes are seen to be enough.
#[derive(Serialize, Default, Clone, Copy)]
struct Dropped {
    suspicions_overflowed: u64,
    events_dropped: u64,
    broadcasts_dropped: u64,
    user_broadcasts_dropped: u64,
    transmits_dropped: u64,
    inbox_dropped: u64,
}

impl Dropped {
    fn of(sim: &Sim) -> Dropped {
        let mut d = Dropped::default();
        for i in sim.running() {
            if let Some(n) = sim.node(i) {
                let s = n.stats();
                d.suspicions_overflowed += s.suspicions_overflowed;
                d.events_dropped += s.events_dropped;
                d.broadcasts_dropped += s.broadcasts_dropped;
                d.user_broadcasts_dropped += s.user_broadcasts_dropped;
                d.transmits_dropped += s.transmits_dropped;
                d.inbox_dropped += s.inbox_dropped;
            }
        }
        d
    }
    fn since(self, start: Dropped) -> Dropped {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        Dropped {
            suspicions_overflowed: d(self.suspicions_overflowed, start.suspicions_overflowed),
            events_dropped: d(self.events_dropped, start.events_dropped),
            broadcasts_dropped: d(self.broadcasts_dropped, start.broadcasts_dropped),
            user_broadcasts_dropped: d(self.user_broadcasts_dropped, start.user_broadcasts_dropped),
            transmits_dropped: d(self.transmits_dropped, start.transmits_dropped),
            inbox_dropped: d(self.inbox_dropped, start.inbox_dropped),
        }
    }
}

/// Membership updates handled so far by the members running.
fn updates_received(sim: &Sim) -> u64 {
    sim.running()
        .into_iter()
        .filter_map(|i| sim.node(i))
        .map(|n| n.stats().updates_received)
        .sum()
}

/// Time for a broadcast to reach a share of the live members (median over
/// broadcasts; `None` when no broadcast reached that share).
#[derive(Serialize, Default)]
struct Percentiles {
    p50: Option<f64>,
    p99: Option<f64>,
    p9999: Option<f64>,
}

/// Failure detection over the crashes: the first survivor to mark a crashed
/// member failed (median), and all survivors (median and p99; crashes not
/// seen by every survivor are counted in `incomplete`).
#[derive(Serialize, Default)]
struct Detection {
    first_p50: Option<f64>,
    all_p50: Option<f64>,
    all_p99: Option<f64>,
    incomplete: usize,
}

fn main() -> ExitCode {
    let a: Args = serf_bench::args::parse("serf-sim");
    serf_bench::pages::ask_for_huge_pages("serf-sim");
    match run(&a) {
        Ok(r) => {
            if a.json {
                match serde_json::to_string(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("serf-sim: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print_summary(&r);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("serf-sim: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_window(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("--partition {s:?}: use START:END seconds"))?;
    let start: u64 = a
        .parse()
        .map_err(|e| format!("--partition start {a:?}: {e}"))?;
    let end: u64 = b
        .parse()
        .map_err(|e| format!("--partition end {b:?}: {e}"))?;
    if end <= start {
        return Err(format!("--partition {s:?}: END must be after START"));
    }
    Ok((start, end))
}

/// Reads a latency matrix (`units`: ms or s), scaled to seconds.
fn load_matrix(file: &str, units: &str) -> Result<Matrix, String> {
    let scale = match units {
        "ms" => 1e-3,
        "s" => 1.0,
        u => return Err(format!("--matrix-units must be ms or s, not {u:?}")),
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let m = Matrix::parse(&text).map_err(|e| format!("{file}: {e}"))?;
    if m.len() < 2 {
        return Err(format!("{file}: a matrix needs at least two nodes"));
    }
    Ok(m.scaled(scale))
}

/// One-way delays from a matrix of RTTs (in seconds), symmetric; a missing
/// link takes the matrix's mean. Member i sits at row i mod the matrix size.
fn one_way_delays(m: &Matrix) -> Box<dyn Fn(u32, u32) -> Duration> {
    let values: Vec<f64> = m.rtt.iter().flatten().flatten().copied().collect();
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let k = m.len();
    let one_way: Vec<f64> = (0..k * k)
        .map(|x| {
            let (i, j) = (x / k, x % k);
            m.rtt[i][j].or(m.rtt[j][i]).unwrap_or(mean).max(0.0) / 2.0
        })
        .collect();
    Box::new(move |a, b| {
        let (i, j) = (a as usize % k, b as usize % k);
        Duration::from_secs_f64(one_way[i * k + j])
    })
}

/// The coordinates' median relative error over up to `samples` random pairs
/// of live members on distinct matrix rows with a measured RTT.
fn coordinate_error(sim: &Sim, m: &Matrix, live: &[u32], seed: u64) -> Option<f64> {
    let k = m.len();
    let mut rng = SimRng::new(seed ^ 0x7711);
    let mut errors = Vec::new();
    for _ in 0..200_000 {
        if errors.len() >= 20_000 || live.len() < 2 {
            break;
        }
        let a = live[rng.below(live.len() as u64) as usize];
        let b = live[rng.below(live.len() as u64) as usize];
        let (i, j) = (a as usize % k, b as usize % k);
        if i == j {
            continue;
        }
        let (Some(actual), Some(na), Some(nb)) = (m.rtt[i][j], sim.node(a), sim.node(b)) else {
            continue;
        };
        if actual > 0.0 {
            let est = na.coordinate().distance_to(nb.coordinate());
            errors.push((est - actual).abs() / actual);
        }
    }
    if errors.is_empty() {
        return None;
    }
    errors.sort_by(f64::total_cmp);
    Some(errors[errors.len() / 2])
}

/// The run's configuration: the simulator's, with Lifeguard as asked and,
/// under a partition or with slow members (whose stalls leave many members
/// suspected at once, without Lifeguard most of all), room to suspect half
/// the cluster at once.
fn configure(a: &Args) -> Result<Config, String> {
    let profile = Config::profile(&a.profile)
        .ok_or_else(|| format!("unknown profile {:?} (lan, wan or local)", a.profile))?;
    let mut config = sim_config(profile, a.members);
    config.lifeguard = !a.no_lifeguard;
    if a.partition.is_some() || a.slow > 0.0 {
        config.capacity.suspicions = (a.members as usize / 2 + 8).min(4096);
    }
    if a.join_storm {
        // Everyone's join news and join intent are in flight at once: room
        // for memberlist's and Serf's queue depth (overflow still counted).
        config.capacity.broadcasts = 4096;
        config.capacity.user_broadcasts = 64;
    }
    Ok(config)
}

fn run(a: &Args) -> Result<Report, String> {
    if a.members < 2 || a.members > 200_000 {
        return Err("--members must be between 2 and 200000".into());
    }
    if !(0.0..1.0).contains(&a.loss) {
        return Err("--loss must be in [0, 1)".into());
    }
    if !(0.0..1.0).contains(&a.crash) {
        return Err("--crash must be a fraction in [0, 1)".into());
    }
    if !(0.0..1.0).contains(&a.slow) || a.slow + a.crash >= 1.0 {
        return Err("--slow must be a fraction in [0, 1), and with --crash below 1".into());
    }
    if a.seconds == 0 {
        return Err("--seconds must be at least 1".into());
    }
    let window = a.partition.as_deref().map(parse_window).transpose()?;
    let config = configure(a)?;
    let n = a.members;
    let net = NetConfig {
        latency: Duration::from_millis(a.latency_ms),
        jitter: Duration::from_millis(a.latency_ms),
        loss: a.loss,
    };
    let matrix = a
        .latency_matrix
        .as_deref()
        .map(|f| load_matrix(f, &a.matrix_units))
        .transpose()?;
    let setup = Wall::now();
    let mut sim = if a.join_storm {
        let mut sim = Sim::new(config.clone(), net, n, a.seed);
        for i in 1..n {
            sim.join(i, 0);
        }
        sim
    } else {
        Sim::warm(config.clone(), net, n, a.seed)
    };
    if let Some(m) = &matrix {
        sim.set_latency_fn(one_way_delays(m));
    }
    let setup_wall_s = setup.elapsed().as_secs_f64();

    // The plan: crashes at random times in the middle half, broadcasts spread
    // over the run (from random members that stay up), all from the seed.
    let mut rng = SimRng::new(a.seed ^ 0xC0FF_EE00);
    let crash_count = ((n as f64) * a.crash).round() as usize;
    let mut victims: Vec<u32> = Vec::new();
    while victims.len() < crash_count {
        let v = rng.below(n as u64) as u32;
        if !victims.contains(&v) {
            victims.push(v);
        }
    }
    let span = a.seconds as f64;
    let mut crashes: Vec<(f64, u32)> = victims
        .iter()
        .map(|&v| (span / 4.0 + rng.unit() * span / 4.0, v))
        .collect();
    crashes.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut fires: Vec<(f64, u32, u32)> = Vec::new();
    for k in 0..a.broadcasts {
        let at = span * (k as f64 + 0.5) / (a.broadcasts as f64 + 1.0);
        let from = loop {
            let f = rng.below(n as u64) as u32;
            if !victims.contains(&f) {
                break f;
            }
        };
        fires.push((at, from, k));
    }

    // Slow members: drawn from those that stay up.
    let slow_count = ((n as f64) * a.slow).round() as usize;
    let mut slow: Vec<u32> = Vec::new();
    while slow.len() < slow_count {
        let v = rng.below(n as u64) as u32;
        if !victims.contains(&v) && !slow.contains(&v) {
            slow.push(v);
        }
    }
    let stall = a.slow_ms.map_or_else(
        || {
            let (shortest, _) = serf_core::lifeguard::timeouts(
                config.suspicion_mult,
                config.suspicion_max_timeout_mult,
                n,
                config.probe_interval,
            );
            shortest * 5 / 4
        },
        Duration::from_millis,
    );
    for &v in &slow {
        sim.set_slow(v, stall);
    }

    let t0 = sim.now();
    let dropped_at_start = Dropped::of(&sim);
    let updates_at_start = updates_received(&sim);
    let bar = (a.seconds >= 5).then(|| {
        let b = ProgressBar::new(a.seconds);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} virtual s")
        {
            b.set_style(style);
        }
        b
    });
    let wall = Wall::now();
    let (mut ci, mut fi) = (0usize, 0usize);
    let mut crash_at: HashMap<u32, Instant> = HashMap::new();
    let mut fired_at: Vec<(u32, Instant)> = Vec::new();
    let step = Duration::from_millis(100);
    // Bytes sent in each whole virtual second (for --plot).
    let mut traffic: Vec<(f64, f64)> = Vec::new();
    let mut second_start = (0u64, sim.totals().bytes);
    let mut split = false;
    let end = t0 + Duration::from_secs(a.seconds);
    while sim.now() < end {
        let elapsed = sim.now().saturating_since(t0).as_secs_f64();
        if let Some((start, stop)) = window {
            // Split once when the window opens, heal once when it closes.
            let inside = elapsed >= start as f64 && elapsed < stop as f64;
            if inside && !split {
                sim.partition(|i| u32::from(i >= n / 2));
                split = true;
            } else if !inside && split {
                sim.heal();
                split = false;
            }
        }
        while ci < crashes.len() && crashes[ci].0 <= elapsed {
            let v = crashes[ci].1;
            sim.crash(v);
            crash_at.insert(v, sim.now());
            ci += 1;
        }
        while fi < fires.len() && fires[fi].0 <= elapsed {
            let (_, from, k) = fires[fi];
            if let Some(node) = sim.node_mut(from) {
                // A user event: re-broadcast by every receiver, delivered once.
                if node.user_event(&format!("b{k}"), b"", false).is_ok() {
                    fired_at.push((k, sim.now()));
                }
            }
            sim.flush(from);
            fi += 1;
        }
        sim.run_for(step);
        let second = sim.now().saturating_since(t0).as_secs();
        if second > second_start.0 {
            let bytes = sim.totals().bytes;
            let per = (bytes - second_start.1) as f64 / n as f64;
            traffic.push((second as f64, per));
            second_start = (second, bytes);
        }
        if let Some(b) = &bar {
            b.set_position(sim.now().saturating_since(t0).as_secs());
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let wall_s = wall.elapsed().as_secs_f64();
    let virtual_s = a.seconds as f64;
    let totals = sim.totals();
    let live = sim.running();
    let mut is_live = vec![false; n as usize];
    for &i in &live {
        is_live[i as usize] = true;
    }

    // Broadcast convergence: per broadcast, the times (since it was fired)
    // at which each live member delivered it.
    let mut arrivals: HashMap<u32, Vec<f64>> = HashMap::new();
    for d in sim.deliveries() {
        if !matches!(d.kind, DeliveredKind::Event { .. }) || !is_live[d.observer as usize] {
            continue;
        }
        let Some(k) = d.name.strip_prefix('b').and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((_, at)) = fired_at.iter().find(|(b, _)| *b == k) {
            arrivals
                .entry(k)
                .or_default()
                .push(d.at.saturating_since(*at).as_secs_f64());
        }
    }
    let reach = |share: f64| -> Option<f64> {
        let need = ((live.len() as f64) * share).ceil() as usize;
        let mut per: Vec<f64> = arrivals
            .values()
            .filter(|v| v.len() >= need && need > 0)
            .map(|v| {
                let mut v = v.clone();
                v.sort_by(|x, y| x.total_cmp(y));
                v[need - 1]
            })
            .collect();
        percentile(&mut per, 0.5)
    };
    let converge_s = Percentiles {
        p50: reach(0.50),
        p99: reach(0.99),
        p9999: reach(0.9999),
    };
    let fully = arrivals.values().filter(|v| v.len() >= live.len()).count();

    // Detection and false failures, in one pass over the log.
    let mut first: HashMap<u32, f64> = HashMap::new();
    let mut seen_by: HashMap<u32, (usize, f64)> = HashMap::new();
    let mut reported: std::collections::HashSet<(u32, u32)> = std::collections::HashSet::new();
    let mut falsely: std::collections::HashSet<u32> = std::collections::HashSet::new();
    let mut is_slow = vec![false; n as usize];
    for &v in &slow {
        is_slow[v as usize] = true;
    }
    let (mut false_reports, mut false_reports_by_slow) = (0usize, 0usize);
    for r in sim.log() {
        if r.event.kind != EventKind::Failed || r.at < t0 {
            continue;
        }
        let m = r.event.member;
        match crash_at.get(&m) {
            Some(&at) if r.at >= at => {
                if !is_live[r.observer as usize] || !reported.insert((m, r.observer)) {
                    continue;
                }
                let dt = r.at.saturating_since(at).as_secs_f64();
                let f = first.entry(m).or_insert(dt);
                *f = f.min(dt);
                let e = seen_by.entry(m).or_insert((0, 0.0));
                e.0 += 1;
                e.1 = e.1.max(dt);
            }
            _ => {
                falsely.insert(m);
                if !is_slow[m as usize] {
                    false_reports += 1;
                    false_reports_by_slow += usize::from(is_slow[r.observer as usize]);
                }
            }
        }
    }
    let mut firsts: Vec<f64> = first.values().copied().collect();
    let mut alls: Vec<f64> = seen_by
        .values()
        .filter(|(count, _)| *count >= live.len())
        .map(|(_, t)| *t)
        .collect();
    let detect_s = Detection {
        first_p50: percentile(&mut firsts, 0.5),
        all_p50: percentile(&mut alls, 0.5),
        all_p99: percentile(&mut alls, 0.99),
        incomplete: crash_at.len() - alls.len(),
    };
    if let Some(dir) = &a.plot {
        let mut per_broadcast: Vec<(u32, Vec<f64>)> = arrivals.into_iter().collect();
        per_broadcast.sort_by_key(|(k, _)| *k);
        let series = RunSeries {
            arrivals: per_broadcast
                .into_iter()
                .map(|(_, mut v)| {
                    v.sort_by(f64::total_cmp);
                    v
                })
                .collect(),
            live: live.len(),
            first_detection: firsts.clone(),
            all_detection: alls.clone(),
            traffic,
        };
        for f in write_all(std::path::Path::new(dir), &series)? {
            eprintln!("wrote {f}");
        }
    }
    let table_bytes = Sizes::for_config(&config).bytes::<u32>() as f64;
    Ok(Report {
        members: n,
        virtual_s,
        wall_s,
        setup_wall_s,
        speed: virtual_s / wall_s.max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
        table_bytes_per_member: table_bytes / config.capacity.members as f64,
        msgs_per_member_s: totals.packets as f64 / n as f64 / virtual_s,
        updates_per_member_s: updates_received(&sim).saturating_sub(updates_at_start) as f64
            / n as f64
            / virtual_s,
        bytes_per_member_s: totals.bytes as f64 / n as f64 / virtual_s,
        converge_s,
        broadcasts_fully_delivered: fully,
        detect_s,
        crashed: crash_at.len(),
        slow: slow.len(),
        false_failures: falsely.iter().filter(|m| !is_slow[**m as usize]).count(),
        slow_failures: falsely.iter().filter(|m| is_slow[**m as usize]).count(),
        false_failure_reports: false_reports,
        false_failure_reports_by_slow: false_reports_by_slow,
        coord_median_error: matrix
            .as_ref()
            .and_then(|m| coordinate_error(&sim, m, &live, a.seed)),
        pushpull_bytes: totals.pushpull_bytes,
        lost: totals.lost,
        dropped: Dropped::of(&sim).since(dropped_at_start),
    })
}

fn print_summary(r: &Report) {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2} s"));
    println!(
        "members           {} for {:.0} virtual s in {:.2} s wall ({:.1}x real time; setup {:.2} s)",
        r.members, r.virtual_s, r.wall_s, r.speed, r.setup_wall_s
    );
    println!(
        "memory            peak RSS {:.1} MiB, {:.1} B of tables per member slot",
        r.peak_rss_bytes as f64 / 1048576.0,
        r.table_bytes_per_member
    );
    println!(
        "traffic           {:.2} datagrams, {:.1} updates and {:.0} B per member per second; push-pull {} B; {} lost",
        r.msgs_per_member_s, r.updates_per_member_s, r.bytes_per_member_s, r.pushpull_bytes, r.lost
    );
    println!(
        "broadcasts        reach 50% in {}, 99% in {}, 99.99% in {} ({} reached everyone)",
        opt(r.converge_s.p50),
        opt(r.converge_s.p99),
        opt(r.converge_s.p9999),
        r.broadcasts_fully_delivered
    );
    println!(
        "crashes           {}: first survivor {} (median), all {} (median), {} (p99), {} not seen by all",
        r.crashed,
        opt(r.detect_s.first_p50),
        opt(r.detect_s.all_p50),
        opt(r.detect_s.all_p99),
        r.detect_s.incomplete
    );
    println!(
        "false failures    {} healthy and {} slow live members ever marked failed; healthy ones marked failed {} times ({} by slow members)",
        r.false_failures, r.slow_failures, r.false_failure_reports, r.false_failure_reports_by_slow
    );
    if let Some(e) = r.coord_median_error {
        println!("coordinates       median relative error {e:.3} against the matrix");
    }
    let d = r.dropped;
    println!(
        "dropped           {} suspicions, {} events, {} broadcasts, {} user broadcasts, {} transmits, {} inbox",
        d.suspicions_overflowed,
        d.events_dropped,
        d.broadcasts_dropped,
        d.user_broadcasts_dropped,
        d.transmits_dropped,
        d.inbox_dropped
    );
}
