//! Any byte string: the decoder returns messages or a typed error, and a node
//! fed the datagrams never panics nor exceeds its table capacity.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_core::wire::Decoder;
use serf_core::{Config, Instant, Node};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    datagrams: Vec<(u8, u16, &'a [u8])>,
}

fuzz_target!(|input: Input<'_>| {
    let config = Config::lan().with_members(16);
    let mut node: Node<u32, Heap, SimRng> = Node::new(
        1,
        config.clone(),
        buffers(&config),
        SimRng::new(1),
        Instant::ZERO,
    )
    .unwrap();
    let mut out = [0u8; 1400];
    let mut now = 0u64;
    for (from, advance, data) in input.datagrams {
        if let Ok(d) = Decoder::<u32>::new(data, 1400) {
            for m in d {
                let _ = m;
            }
        }
        now += advance as u64 * 1_000_000;
        let _ = node.handle_datagram(Instant::from_nanos(now), from as u32, data);
        node.handle_timeout(Instant::from_nanos(now));
        while node.poll_transmit(&mut out).is_some() {}
        while node.poll_event().is_some() {}
        while node.poll_delivery(&mut out).is_some() {}
        assert!(node.counts().total() <= 16);
    }
});
