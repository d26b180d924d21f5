//! How fast this machine reads random cache lines from a working set the size
//! of a simulated cluster's tables: the floor under `serf-sim`'s speed.
//!
//! `cargo run --release -p serf-bench --bin mem-probe -- --gib 10`
//!
//! Every membership update a simulated member handles reads at least one
//! line of that member's own tables at a random place, so `serf-sim`'s
//! `updates_per_member_s × members × seconds` times the independent read
//! time below bounds its wall time from below, however well its misses
//! overlap. Runs on huge pages, as the simulators do.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use serde::Serialize;

use serf_bench::rng::SimRng;

/// Measures random cache-line reads over a working set.
#[derive(Parser)]
#[command(name = "mem-probe")]
struct Args {
    /// Working set, in GiB.
    #[arg(long, default_value_t = 1.0)]
    gib: f64,
    /// Random reads timed (independent ones; a tenth as many dependent ones).
    #[arg(long, default_value_t = 20_000_000)]
    reads: usize,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    gib: f64,
    /// Mean time per read when the reads do not depend on each other (the
    /// CPU overlaps as many misses as it can): the throughput floor.
    independent_ns: f64,
    /// Mean time per read when each address depends on the last read (a
    /// miss's full latency).
    dependent_ns: f64,
}

const LINE_WORDS: usize = 8;

fn main() -> ExitCode {
    serf_bench::pages::ask_for_huge_pages("mem-probe");
    let a: Args = serf_bench::args::parse("mem-probe");
    if !(a.gib > 0.0 && a.gib <= 64.0) || a.reads == 0 {
        eprintln!("mem-probe: --gib must be in (0, 64] and --reads above 0");
        return ExitCode::from(2);
    }
    let lines = ((a.gib * (1u64 << 30) as f64) as usize / 64).max(1);
    // Written through, so that every page is really there (and huge).
    let mem: Vec<u64> = (0..lines * LINE_WORDS).map(|i| i as u64).collect();
    let mut rng = SimRng::new(7);
    let at: Vec<u32> = (0..a.reads)
        .map(|_| rng.below(lines as u64) as u32)
        .collect();

    let start = Instant::now();
    let mut sum = 0u64;
    for &l in &at {
        sum = sum.wrapping_add(mem[l as usize * LINE_WORDS]);
    }
    let independent_ns = start.elapsed().as_nanos() as f64 / a.reads as f64;

    let chain = (a.reads / 10).max(1);
    let start = Instant::now();
    let mut l = at[0] as usize;
    for &next in at.iter().cycle().take(chain) {
        // The next address needs this read's value.
        let v = mem[l * LINE_WORDS];
        l = (next as usize ^ (v as usize & 1)) % lines;
    }
    let dependent_ns = start.elapsed().as_nanos() as f64 / chain as f64;
    black_box((sum, l));

    let r = Report {
        gib: a.gib,
        independent_ns,
        dependent_ns,
    };
    if a.json {
        match serde_json::to_string(&r) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("mem-probe: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "{:.1} GiB: a random line read costs {:.1} ns when reads overlap, {:.1} ns when each waits for the last",
            r.gib, r.independent_ns, r.dependent_ns
        );
    }
    ExitCode::SUCCESS
}
