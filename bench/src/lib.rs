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
pub mod matrix;
pub mod phantom;
pub mod plot;
pub mod race;
pub mod rng;
pub mod sim;
