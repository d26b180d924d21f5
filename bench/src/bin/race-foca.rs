//! The same warm steady workload on our node and on foca, each in its own
//! process (so each has its own peak RSS): N members on a LAN (1 ms latency
//! and as much jitter), 1% killed at the middle of the run, virtual time on
//! one thread. Prints both speeds, RSS and detection times.
//!
//! `cargo run --release -p serf-bench --bin race-foca -- --members 1000 [--seconds 120] [--json]`

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant as Wall};

use clap::Parser;
use serde::{Deserialize, Serialize};
use serf_bench::race::{foca_config, FocaId, FocaNode, Outputs};
use serf_bench::rng::SimRng;
use serf_bench::sim::{sim_config, NetConfig, Sim};
use serf_bench::{peak_rss_bytes, percentile};
use serf_core::{Config, EventKind};

/// Races our node against foca on one workload.
#[derive(Parser)]
#[command(name = "race-foca")]
struct Args {
    /// Members.
    #[arg(long, default_value_t = 1000)]
    members: u32,
    /// Virtual seconds (the kills come at the middle).
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run one engine only (ours or foca) and print its figures as JSON.
    #[arg(long)]
    engine: Option<String>,
    /// Print the comparison as one JSON object (the last stdout line).
    #[arg(long)]
    json: bool,
}

/// One engine's figures.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Figures {
    engine: String,
    members: u32,
    virtual_s: f64,
    wall_s: f64,
    setup_wall_s: f64,
    speed: f64,
    peak_rss_bytes: u64,
    killed: usize,
    /// Median over kills: seconds until the first survivor declared it down.
    detect_first_p50: Option<f64>,
    /// Median over kills seen by every survivor: seconds until the last did.
    detect_all_p50: Option<f64>,
    /// Kills not seen by every survivor by the end.
    incomplete: usize,
}

fn main() -> ExitCode {
    let a: Args = serf_bench::args::parse("race-foca");
    if a.members < 4 || a.members > 100_000 || a.seconds < 2 {
        eprintln!("--members must be between 4 and 100000 and --seconds at least 2");
        return ExitCode::from(2);
    }
    serf_bench::pages::ask_for_huge_pages("race-foca");
    let result = match a.engine.as_deref() {
        Some("ours") => Ok(vec![run_ours(&a)]),
        Some("foca") => Ok(vec![run_foca(&a)]),
        Some(e) => Err(format!("--engine must be ours or foca, not {e:?}")),
        None => ["ours", "foca"].iter().map(|e| spawn(&a, e)).collect(),
    };
    let figures = match result {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if a.engine.is_some() {
        println!("{}", serde_json::to_string(&figures[0]).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    for f in &figures {
        println!(
            "{:<5} {} members, {} virtual s in {:.2} s wall ({:.1}× real time; setup {:.2} s), peak RSS {:.1} MiB; {} killed: first survivor {} s, all {} s (median), {} not seen by all",
            f.engine,
            f.members,
            f.virtual_s,
            f.wall_s,
            f.speed,
            f.setup_wall_s,
            f.peak_rss_bytes as f64 / (1 << 20) as f64,
            f.killed,
            f.detect_first_p50.map_or("-".into(), |t| format!("{t:.2}")),
            f.detect_all_p50.map_or("-".into(), |t| format!("{t:.2}")),
            f.incomplete,
        );
    }
    if a.json {
        let speed_ratio = figures[0].speed / figures[1].speed.max(1e-9);
        let out = serde_json::json!({
            "members": a.members,
            "ours": figures[0],
            "foca": figures[1],
            "speed_ratio": speed_ratio,
        });
        println!("{out}");
    }
    ExitCode::SUCCESS
}

/// Runs one engine in a child process (its own RSS) and reads its figures.
fn spawn(a: &Args, engine: &str) -> Result<Figures, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let out = Command::new(me)
        .args(["--engine", engine, "--members", &a.members.to_string()])
        .args([
            "--seconds",
            &a.seconds.to_string(),
            "--seed",
            &a.seed.to_string(),
        ])
        .output()
        .map_err(|e| format!("cannot run the {engine} engine: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the {engine} engine failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("the {engine} engine printed {line:?}: {e}"))
}

/// The members killed (1%, at least one), drawn from the seed.
fn victims(n: u32, seed: u64) -> Vec<u32> {
    let mut rng = SimRng::new(seed ^ 0xC0FF_EE00);
    let count = ((n as f64) * 0.01).round().max(1.0) as usize;
    let mut v: Vec<u32> = Vec::new();
    while v.len() < count {
        let x = rng.below(n as u64) as u32;
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// Detection medians from (time since the kill, observer, member) records.
fn detection(
    records: &[(f64, u32, u32)],
    killed: &[u32],
    survivors: usize,
) -> (Option<f64>, Option<f64>, usize) {
    let mut per: HashMap<u32, Vec<f64>> = HashMap::new();
    let mut seen: std::collections::HashSet<(u32, u32)> = std::collections::HashSet::new();
    for &(t, observer, member) in records {
        if killed.contains(&member)
            && !killed.contains(&observer)
            && seen.insert((observer, member))
        {
            per.entry(member).or_default().push(t);
        }
    }
    let mut firsts: Vec<f64> = per
        .values()
        .filter_map(|v| v.iter().copied().reduce(f64::min))
        .collect();
    let mut alls: Vec<f64> = per
        .values()
        .filter(|v| v.len() >= survivors)
        .filter_map(|v| v.iter().copied().reduce(f64::max))
        .collect();
    let incomplete = killed.len() - alls.len();
    (
        percentile(&mut firsts, 0.5),
        percentile(&mut alls, 0.5),
        incomplete,
    )
}

fn figures(
    engine: &str,
    a: &Args,
    setup: f64,
    wall: f64,
    killed: usize,
    d: (Option<f64>, Option<f64>, usize),
) -> Figures {
    Figures {
        engine: engine.into(),
        members: a.members,
        virtual_s: a.seconds as f64,
        wall_s: wall,
        setup_wall_s: setup,
        speed: a.seconds as f64 / wall.max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
        killed,
        detect_first_p50: d.0,
        detect_all_p50: d.1,
        incomplete: d.2,
    }
}

fn net() -> NetConfig {
    NetConfig {
        latency: Duration::from_millis(1),
        jitter: Duration::from_millis(1),
        loss: 0.0,
    }
}

fn run_ours(a: &Args) -> Figures {
    let n = a.members;
    let setup = Wall::now();
    let mut sim = Sim::warm(sim_config(Config::lan(), n), net(), n, a.seed);
    let setup = setup.elapsed().as_secs_f64();
    let killed = victims(n, a.seed);
    let half = Duration::from_secs(a.seconds) / 2;
    let wall = Wall::now();
    sim.run_for(half);
    let kill_at = sim.now();
    for &v in &killed {
        sim.crash(v);
    }
    sim.run_for(Duration::from_secs(a.seconds) - half);
    let wall = wall.elapsed().as_secs_f64();
    let records: Vec<(f64, u32, u32)> = sim
        .log()
        .iter()
        .filter(|r| r.event.kind == EventKind::Failed && r.at >= kill_at)
        .map(|r| {
            (
                r.at.saturating_since(kill_at).as_secs_f64(),
                r.observer,
                r.event.member,
            )
        })
        .collect();
    let d = detection(&records, &killed, n as usize - killed.len());
    figures("ours", a, setup, wall, killed.len(), d)
}

/// What waits in foca's virtual network: a datagram or a timer.
enum Event {
    Deliver {
        to: u32,
        data: Vec<u8>,
    },
    Timer {
        node: u32,
        timer: foca::Timer<FocaId>,
    },
}

/// foca members in virtual time (nanoseconds), on the same latency model.
struct FocaSim {
    nodes: Vec<Option<FocaNode>>,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, u32)>>,
    events: Vec<Option<Event>>,
    free: Vec<u32>,
    out: Outputs,
    rng: SimRng,
    /// (time ns, observer, member declared down).
    down: Vec<(u64, u32, u32)>,
}

impl FocaSim {
    fn push(&mut self, at: u64, e: Event) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.events[s as usize] = Some(e);
                s
            }
            None => {
                self.events.push(Some(e));
                self.events.len() as u32 - 1
            }
        };
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, slot)));
    }

    /// Schedules what node `id` asked for.
    fn drain(&mut self, id: u32) {
        let sent = std::mem::take(&mut self.out.sent);
        for (to, data) in sent {
            let delay = 1_000_000 + self.rng.below(1_000_000);
            self.push(self.now + delay, Event::Deliver { to, data });
        }
        let timers = std::mem::take(&mut self.out.timers);
        for (timer, after) in timers {
            self.push(
                self.now + after.as_nanos() as u64,
                Event::Timer { node: id, timer },
            );
        }
        for m in self.out.down.drain(..) {
            self.down.push((self.now, id, m));
        }
    }

    fn run_until(&mut self, end: u64) {
        while let Some(&Reverse((at, _, slot))) = self.queue.peek() {
            if at > end {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(e) = self.events[slot as usize].take() else {
                continue;
            };
            self.free.push(slot);
            let id = match &e {
                Event::Deliver { to, .. } => *to,
                Event::Timer { node, .. } => *node,
            };
            let Some(node) = self.nodes.get_mut(id as usize).and_then(Option::as_mut) else {
                continue; // killed
            };
            // foca refuses some datagrams (from itself, from a stranger); a
            // refusal changes nothing, as for ours.
            let _ = match e {
                Event::Deliver { data, .. } => node.handle_data(&data, &mut self.out),
                Event::Timer { timer, .. } => node.handle_timer(timer, &mut self.out),
            };
            self.drain(id);
        }
        self.now = end;
    }
}

fn run_foca(a: &Args) -> Figures {
    let n = a.members;
    let setup = Wall::now();
    let mut sim = FocaSim {
        nodes: Vec::with_capacity(n as usize),
        now: 0,
        seq: 0,
        queue: BinaryHeap::new(),
        events: Vec::new(),
        free: Vec::new(),
        out: Outputs::default(),
        rng: SimRng::new(a.seed),
        down: Vec::new(),
    };
    for id in 0..n {
        let mut node = foca::Foca::new(
            FocaId(id),
            foca_config(n),
            SimRng::new(a.seed ^ u64::from(id).wrapping_mul(0x9E37_79B9)),
            foca::PostcardCodec,
        );
        // Warm: every member known alive, as for ours; the timers foca asks
        // for on becoming active are kept.
        let others = (0..n)
            .filter(|&j| j != id)
            .map(|j| foca::Member::new(FocaId(j), 0, foca::State::Alive));
        let _ = node.apply_many(others, false, &mut sim.out);
        sim.nodes.push(Some(node));
        sim.drain(id);
    }
    let setup = setup.elapsed().as_secs_f64();
    let killed = victims(n, a.seed);
    let half = a.seconds * 1_000_000_000 / 2;
    let wall = Wall::now();
    sim.run_until(half);
    for &v in &killed {
        sim.nodes[v as usize] = None;
    }
    sim.run_until(a.seconds * 1_000_000_000);
    let wall = wall.elapsed().as_secs_f64();
    let records: Vec<(f64, u32, u32)> = sim
        .down
        .iter()
        .filter(|r| r.0 >= half)
        .map(|&(t, o, m)| ((t - half) as f64 / 1e9, o, m))
        .collect();
    let d = detection(&records, &killed, n as usize - killed.len());
    figures("foca", a, setup, wall, killed.len(), d)
}
