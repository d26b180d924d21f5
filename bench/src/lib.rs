//! `serf-bench`: the deterministic simulator of many `serf-core` members (used
//! by the tests and the scale runs) and the criterion benchmarks.
//!
//! ```
//! use std::time::Duration;
//! use serf_bench::sim::{NetConfig, Sim};
//! let mut sim = Sim::new(serf_core::Config::lan().with_members(16), NetConfig::default(), 4, 1);
//! for i in 1..4 { sim.join(i, 0); }
//! sim.run_for(Duration::from_secs(10));
//! assert!(sim.all_see_alive(&[0, 1, 2, 3]));
//! ```

pub mod args;
pub mod eval;
pub mod gorand;
pub mod heap;
pub mod loopback;
pub mod matrix;
pub mod pages;
pub mod phantom;
pub mod plot;
pub mod race;
pub mod rng;
pub mod sim;

/// The process's peak resident set (Linux `VmHWM`), 0 where unknown.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The `q` quantile of `v` (nearest rank), sorting it; `None` if empty.
pub fn percentile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|x, y| x.total_cmp(y));
    let rank = ((v.len() as f64) * q).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}
