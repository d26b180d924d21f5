//! The shared test harness: every cross-crate test builds its nodes,
//! clusters and packets here, so a scenario reads as the behaviour it pins.
//!
//! - A *lone node* is driven by hand: datagrams and time go in, [`drain`]
//!   throws away what it produced.
//! - A *cluster* is a [`Sim`] (virtual time, seeded network): [`cluster`]
//!   joins every member through member 0, [`converged`] also waits for
//!   everyone to see everyone, [`settle`] and [`run_until`] wait for a
//!   condition.
//!
//! ```
//! use serf_core::Config;
//! let sim = serf_tests::converged(4, Config::lan().with_members(8), 1);
//! assert!(sim.all_see_alive(&[0, 1, 2, 3]));
//! ```

pub mod agents;
pub mod hcnet;
pub mod relay;
pub mod runtimes;

use std::time::Duration;

use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_bench::sim::{NetConfig, Sim};
use serf_core::wire::{Encoder, Message};
use serf_core::{Config, Instant, Key, Keyring, Node};

/// The node type the tests drive by hand: `u32` identities (the address is
/// the identity), boxed-slice buffers, a seeded generator.
pub type TestNode = Node<u32, Heap, SimRng>;

/// Largest datagram the tests write.
pub const MTU: usize = 1400;

/// `s` seconds.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Member `id` alone, outside any simulation, seeded by its id.
pub fn lone_node(id: u32, config: &Config) -> TestNode {
    Node::new(
        id,
        config.clone(),
        buffers(config),
        SimRng::new(id as u64),
        Instant::ZERO,
    )
    .expect("a test config builds a node")
}

/// Throws away everything `n` produced: datagrams, events, deliveries.
pub fn drain(n: &mut TestNode) {
    let mut buf = [0u8; MTU];
    while n.poll_transmit(&mut buf).is_some() {}
    while n.poll_event().is_some() {}
    while n.poll_delivery(&mut buf).is_some() {}
}

/// One plain datagram carrying `msgs`.
pub fn packet(msgs: &[Message<'_, u32>]) -> Vec<u8> {
    let mut buf = [0u8; MTU];
    let mut enc = Encoder::new(&mut buf).expect("a buffer of one MTU");
    for m in msgs {
        assert!(enc.push(m), "messages fit one datagram");
    }
    let n = enc.len();
    buf[..n].to_vec()
}

/// A keyring holding `keys`, the first one primary.
pub fn keyring(keys: &[&[u8]]) -> Keyring {
    let mut ring = Keyring::default();
    for k in keys {
        ring.install(Key::new(k).expect("a valid key length"))
            .expect("room in the keyring");
    }
    ring
}

/// A LAN config for `members` with `keys` installed.
pub fn keyed(members: usize, keys: &[&[u8]]) -> Config {
    let mut c = Config::lan().with_members(members);
    c.keyring = keyring(keys);
    c
}

/// `n` members joined through member 0 (the joins are sent, not yet run).
pub fn cluster(n: u32, config: Config, net: NetConfig, seed: u64) -> Sim {
    let mut sim = Sim::new(config, net, n, seed);
    for i in 1..n {
        sim.join(i, 0);
    }
    sim
}

/// `n` members on a perfect network, run until every member sees every
/// other alive (at most 60 virtual seconds).
pub fn converged(n: u32, config: Config, seed: u64) -> Sim {
    Sim::converged(config, n, seed, 60).unwrap_or_else(|| panic!("cluster of {n} did not converge"))
}

/// Every member of `members` but `seed` joins `seed`.
pub fn join_all(sim: &mut Sim, members: &[u32], seed: u32) {
    for &i in members {
        if i != seed {
            sim.join(i, seed);
        }
    }
}

/// Runs until every member of `expect` sees all of them alive, for at most
/// `limit` virtual seconds; true if they did.
pub fn settle(sim: &mut Sim, expect: &[u32], limit: u64) -> bool {
    for _ in 0..limit {
        if sim.all_see_alive(expect) {
            return true;
        }
        sim.run_for(secs(1));
    }
    sim.all_see_alive(expect)
}

/// Like an agent's retry-join: members that still know nobody join again.
pub fn retry_joins(sim: &mut Sim) {
    for i in 1..sim.len() {
        if sim.node(i).is_some_and(|n| n.counts().total() == 1) {
            sim.join(i, 0);
        }
    }
}

/// Runs until `done` holds or `limit` virtual seconds pass, retrying joins
/// every 5 s; returns the seconds taken.
pub fn run_until(sim: &mut Sim, limit: u64, mut done: impl FnMut(&Sim) -> bool) -> Option<u64> {
    for t in 0..=limit {
        if done(sim) {
            return Some(t);
        }
        if t % 5 == 4 {
            retry_joins(sim);
        }
        sim.run_for(secs(1));
    }
    None
}

/// The median of `v` (the upper one for an even length).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Gives member `i` of `sim` the tags `tags` now (it gossips them on).
pub fn set_tags(sim: &mut Sim, i: u32, tags: &[(&str, &str)]) {
    let mut meta = [0u8; serf_core::wire::tags::MAX_META];
    let len = serf_core::wire::tags::encode(tags, &mut meta).expect("tags fit Serf's limit");
    let now = sim.now();
    sim.node_mut(i)
        .expect("a running member")
        .set_meta(now, &meta[..len])
        .expect("tags fit the node's metadata slot");
    sim.flush(i);
}
