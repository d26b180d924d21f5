//! Serf's coordinate simulation harness (`coordinate/phantom.go`), ported:
//! truth matrices, the `Simulate` update loop and the `Evaluate` error summary.
//! RTTs are seconds, truncated to whole nanoseconds as Go's durations are.
#![allow(clippy::needless_range_loop)] // i/j matrix loops read clearest with indices

use serf_core::vivaldi::{Client, LatencyFilter, Uniform, VivaldiConfig};

use crate::gorand::GoRand;
use crate::rng::SimRng;

/// The random stream a simulation draws from: peer choice and directions.
pub trait Source: Uniform {
    /// Uniform integer in `0..n`.
    fn intn(&mut self, n: usize) -> usize;
    /// Standard normal sample.
    fn normal(&mut self) -> f64;
}

impl Source for SimRng {
    fn intn(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    fn normal(&mut self) -> f64 {
        normal(self)
    }
}

impl Source for GoRand {
    fn intn(&mut self, n: usize) -> usize {
        GoRand::intn(self, n)
    }
    fn normal(&mut self) -> f64 {
        self.norm_float64()
    }
}

/// `truth[i][j]`: RTT from i to j in seconds; `None` where unmeasured.
pub type Truth = Vec<Vec<Option<f64>>>;

fn ns(secs: f64) -> f64 {
    (secs * 1e9).trunc() / 1e9
}

fn symmetric(n: usize, f: impl Fn(usize, usize) -> f64) -> Truth {
    let mut t = vec![vec![None; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let rtt = ns(f(i, j));
            t[i][j] = Some(rtt);
            t[j][i] = Some(rtt);
        }
    }
    t
}

/// Nodes on a line, `spacing` apart.
pub fn line(n: usize, spacing: f64) -> Truth {
    symmetric(n, |i, j| (j - i) as f64 * spacing)
}

/// Nodes on a square grid, `spacing` apart.
pub fn grid(n: usize, spacing: f64) -> Truth {
    let side = (n as f64).sqrt().floor() as usize;
    symmetric(n, |i, j| {
        let (x1, y1) = ((i % side) as f64, (i / side) as f64);
        let (x2, y2) = ((j % side) as f64, (j / side) as f64);
        ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt() * spacing
    })
}

/// Two LANs joined by a WAN link (side A = `0..=n/2`).
pub fn split(n: usize, lan: f64, wan: f64) -> Truth {
    let split = n / 2;
    symmetric(n, |i, j| {
        if (i <= split) != (j <= split) {
            lan + wan
        } else {
            lan
        }
    })
}

/// Node 0 in the centre (distance 2·radius to all), the rest on a circle.
pub fn circle(n: usize, radius: f64) -> Truth {
    symmetric(n, |i, j| {
        if i == 0 {
            return 2.0 * radius;
        }
        let t1 = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
        let t2 = 2.0 * std::f64::consts::PI * j as f64 / n as f64;
        let (dx, dy) = (t2.cos() - t1.cos(), t2.sin() - t1.sin());
        (dx * dx + dy * dy).sqrt() * radius
    })
}

/// Normally distributed RTTs.
pub fn random(n: usize, mean: f64, dev: f64, rng: &mut impl Source) -> Truth {
    let mut t = vec![vec![None; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let rtt = ns(rng.normal() * dev + mean);
            t[i][j] = Some(rtt);
            t[j][i] = Some(rtt);
        }
    }
    t
}

/// A standard normal sample (Box–Muller).
pub fn normal(rng: &mut SimRng) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Clients plus each client's latency filter for each peer.
pub struct Phantom {
    /// One client per node.
    pub clients: Vec<Client>,
    filters: Vec<Vec<LatencyFilter>>,
}

impl Phantom {
    /// `n` fresh clients.
    pub fn new(n: usize, cfg: &VivaldiConfig) -> Phantom {
        Phantom {
            clients: (0..n).map(|_| Client::new(cfg.clone())).collect(),
            filters: vec![vec![LatencyFilter::default(); n]; n],
        }
    }

    /// Serf's `Simulate`: each cycle, every node updates against one uniformly
    /// random peer with the true RTT (unmeasured pairs are skipped). Peer
    /// choices and random directions come from one stream.
    pub fn simulate(&mut self, truth: &Truth, cycles: usize, rng: &mut impl Source) {
        let n = self.clients.len();
        for _ in 0..cycles {
            for i in 0..n {
                let j = rng.intn(n);
                self.step(truth, i, j, rng);
            }
        }
    }

    /// [`Phantom::simulate`] with peers and directions drawn from two
    /// streams, as Serf draws them: peers from `Simulate`'s own generator,
    /// directions (for coordinates on top of each other) from Go's global
    /// `math/rand`.
    pub fn simulate_split(
        &mut self,
        truth: &Truth,
        cycles: usize,
        peers: &mut impl Source,
        directions: &mut impl Uniform,
    ) {
        let n = self.clients.len();
        for _ in 0..cycles {
            for i in 0..n {
                let j = peers.intn(n);
                self.step(truth, i, j, directions);
            }
        }
    }

    fn step(&mut self, truth: &Truth, i: usize, j: usize, directions: &mut impl Uniform) {
        if j == i {
            return;
        }
        let Some(rtt) = truth[i][j] else { return };
        let other = *self.clients[j].coordinate();
        let _ = self.clients[i].update(&other, rtt, &mut self.filters[i][j], directions);
    }

    /// Relative errors `|est − actual| / actual` over every measured pair i < j.
    pub fn errors(&self, truth: &Truth) -> Vec<f64> {
        let n = self.clients.len();
        let mut out = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                if let Some(actual) = truth[i][j] {
                    if actual > 0.0 {
                        let est = self.clients[i].distance_to(self.clients[j].coordinate());
                        out.push((est - actual).abs() / actual);
                    }
                }
            }
        }
        out
    }

    /// Serf's `Evaluate`: (mean, max) relative error.
    pub fn evaluate(&self, truth: &Truth) -> (f64, f64) {
        let e = self.errors(truth);
        let avg = e.iter().sum::<f64>() / e.len().max(1) as f64;
        let max = e.iter().copied().fold(0.0, f64::max);
        (avg, max)
    }
}

/// Summary of relative errors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorSummary {
    /// Median.
    pub median: f64,
    /// Mean.
    pub mean: f64,
    /// 90th percentile.
    pub p90: f64,
}

/// Median, mean and p90 of `errors` (empty input gives NaNs).
pub fn summarize(errors: &[f64]) -> ErrorSummary {
    let mut e = errors.to_vec();
    e.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| {
        if e.is_empty() {
            f64::NAN
        } else {
            e[((e.len() - 1) as f64 * q).round() as usize]
        }
    };
    ErrorSummary {
        median: pick(0.5),
        mean: e.iter().sum::<f64>() / e.len() as f64,
        p90: pick(0.9),
    }
}
