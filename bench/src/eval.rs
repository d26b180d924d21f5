//! Evaluating Vivaldi on an RTT matrix, in two shapes: Serf's `Simulate`
//! (every node updates against one random peer per cycle with the true RTT),
//! and the full protocol in the simulator, where coordinates are learnt only
//! from real probe acks over links delayed by half the matrix RTT each way.

use std::time::Duration;

use serf_core::vivaldi::VivaldiConfig;
use serf_core::Config;

use crate::gorand::GoRand;
use crate::matrix::Matrix;
use crate::phantom::{summarize, ErrorSummary, Phantom, Truth};
use crate::rng::SimRng;
use crate::sim::{NetConfig, Sim};

/// The outcome of one evaluation.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    /// Hosts.
    pub nodes: usize,
    /// Measured pairs i < j evaluated.
    pub pairs: usize,
    /// Relative error summary.
    pub errors: ErrorSummary,
}

impl Report {
    /// The one-line JSON `vivaldi-eval` prints.
    pub fn json(&self) -> String {
        format!(
            "{{\"nodes\":{},\"pairs\":{},\"median_rel_err\":{:.6},\"mean_rel_err\":{:.6},\"p90_rel_err\":{:.6}}}",
            self.nodes, self.pairs, self.errors.median, self.errors.mean, self.errors.p90
        )
    }
}

fn truth(m: &Matrix) -> Vec<Vec<Option<f64>>> {
    m.rtt.clone()
}

/// `secs` rounded to whole nanoseconds, as a Go duration holds it.
fn whole_ns(secs: f64) -> f64 {
    (secs * 1e9).round() / 1e9
}

/// Which random stream drives a `Simulate` run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The simulator's own generator.
    Sim,
    /// Go's `math/rand` as a run of Serf's own code draws it: peer choices
    /// from `Simulate`'s generator and random directions from the global
    /// one, both seeded with the seed (Go 1.19 and before seed the global
    /// generator with 1 unless told; Serf's `Simulate` fixes its own at 1),
    /// and RTTs rounded to whole nanoseconds as durations: the same
    /// decisions, so the same coordinates, as Serf's code on that matrix.
    Go,
}

/// Serf's `Simulate` shape over `m` (seconds) for `cycles` cycles.
pub fn simulate(
    m: &Matrix,
    cycles: usize,
    seed: u64,
    cfg: &VivaldiConfig,
    stream: Stream,
) -> Report {
    let t = truth(m);
    let mut p = Phantom::new(m.len(), cfg);
    let t = match stream {
        Stream::Sim => {
            p.simulate(&t, cycles, &mut SimRng::new(seed));
            t
        }
        Stream::Go => {
            let t: Truth = t
                .iter()
                .map(|row| row.iter().map(|v| v.map(whole_ns)).collect())
                .collect();
            let (mut peers, mut directions) = (GoRand::new(seed as i64), GoRand::new(seed as i64));
            p.simulate_split(&t, cycles, &mut peers, &mut directions);
            t
        }
    };
    let e = p.errors(&t);
    Report {
        nodes: m.len(),
        pairs: e.len(),
        errors: summarize(&e),
    }
}

/// The full protocol over `m` (seconds): every node joins through node 0 and
/// runs until each has sent `cycles` probes. `jitter` adds an exponential
/// queueing delay of that mean to every packet (0 for none).
pub fn protocol(
    m: &Matrix,
    cycles: usize,
    seed: u64,
    cfg: &VivaldiConfig,
    jitter: Duration,
) -> Report {
    let n = m.len();
    let mut config = Config::wan().with_members(n + 8);
    config.vivaldi = cfg.clone();
    let mut sum = 0.0;
    let mut count = 0usize;
    for v in m.rtt.iter().flatten().flatten() {
        sum += v;
        count += 1;
    }
    let mean = if count > 0 { sum / count as f64 } else { 0.1 };
    // One-way delays, symmetric; missing links get the mean (never evaluated).
    let one_way: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| m.rtt[i][j].or(m.rtt[j][i]).unwrap_or(mean) / 2.0)
                .collect()
        })
        .collect();
    let mut sim = Sim::new(config.clone(), NetConfig::default(), n as u32, seed);
    sim.set_recording(false);
    let jitter_s = jitter.as_secs_f64();
    let mut noise = SimRng::new(seed ^ 0x6A17);
    let noise = std::cell::RefCell::new(move || {
        if jitter_s > 0.0 {
            -jitter_s * (1.0 - noise.unit()).ln()
        } else {
            0.0
        }
    });
    sim.set_latency_fn(Box::new(move |a, b| {
        let extra = (noise.borrow_mut())();
        Duration::from_secs_f64(one_way[a as usize][b as usize] + extra)
    }));
    for i in 1..n as u32 {
        sim.join(i, 0);
    }
    let step = config.probe_interval * 10;
    let limit = config.probe_interval * (cycles as u32) * 4;
    let start = sim.now();
    loop {
        sim.run_for(step);
        let min_probes = (0..n as u32)
            .filter_map(|i| sim.node(i))
            .map(|x| x.stats().probes)
            .min()
            .unwrap_or(0);
        if min_probes >= cycles as u64 || sim.now().saturating_since(start) >= limit {
            break;
        }
        // Late joiners whose join was lost try again.
        for i in 1..n as u32 {
            if sim.node(i).is_some_and(|x| x.counts().total() == 1) {
                sim.join(i, 0);
            }
        }
    }
    let mut e = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if let (Some(actual), Some(a), Some(b)) =
                (m.rtt[i][j], sim.node(i as u32), sim.node(j as u32))
            {
                let est = a.coordinate().distance_to(b.coordinate());
                e.push((est - actual).abs() / actual);
            }
        }
    }
    Report {
        nodes: n,
        pairs: e.len(),
        errors: summarize(&e),
    }
}
