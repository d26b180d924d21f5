//! A fixed amount of the `handle_packet` benchmark's work, for instruction
//! counts that noise cannot move:
//!
//!     cargo build --release -p serf-bench --example packet_profile
//!     valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*handle_all*' \
//!         target/release/examples/packet_profile 50000 200
//!
//! Arguments: members known (default 1000) and packets handled (default 200).
//! Each packet is a full 1400-byte datagram of alive updates about random
//! known members at a new incarnation, so every update is a state change.

use serf_bench::heap::buffers;
use serf_bench::rng::SimRng;
use serf_bench::sim::tell_alive;
use serf_core::wire::{Encoder, Message};
use serf_core::{Config, Instant, Node};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let packets: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let config = Config::lan().with_members(n as usize + 16);
    let Ok(mut node) = Node::new(
        0,
        config.clone(),
        buffers(&config),
        SimRng::new(3),
        Instant::ZERO,
    ) else {
        eprintln!("no node for {n} members");
        std::process::exit(2);
    };
    tell_alive(&mut node, 1..n + 1, 1, |_| 5, 1);
    let mut out = [0u8; 1400];
    while node.poll_transmit(&mut out).is_some() {}
    while node.poll_event().is_some() {}
    let mut rng = SimRng::new(9);
    let mut updates = 0usize;
    let mut datagrams = Vec::with_capacity(packets as usize);
    for p in 0..packets {
        let mut buf = [0u8; 1400];
        let mut enc = Encoder::new(&mut buf).expect("an MTU buffer");
        loop {
            let id = 1 + rng.below(u64::from(n)) as u32;
            let alive = Message::Alive {
                incarnation: 2 + p,
                node: id,
                meta: &[],
                protocol: 5,
            };
            if !enc.push::<u32>(&alive) {
                break;
            }
            updates += 1;
        }
        let len = enc.len();
        datagrams.push(buf[..len].to_vec());
    }
    let refused = handle_all(&mut node, &datagrams);
    println!("{packets} packets, {updates} updates, {n} members, {refused} refused");
}

/// The measured part: every datagram handled and its events taken.
#[inline(never)]
fn handle_all(
    node: &mut Node<u32, serf_bench::heap::Heap, SimRng>,
    datagrams: &[Vec<u8>],
) -> usize {
    let mut refused = 0;
    for d in datagrams {
        if node.handle_datagram(Instant::ZERO, 1, d).is_err() {
            refused += 1;
        }
        while node.poll_event().is_some() {}
    }
    refused
}
