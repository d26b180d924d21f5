//! Any byte string: the decoder returns messages or a typed error (the same
//! as postcard's derived reader alone), and a node fed the datagrams never
//! panics nor exceeds its table capacity.
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
        if let (Ok(mut fast), Ok(mut derived)) = (
            Decoder::<u32>::new(data, 1400),
            Decoder::<u32>::new(data, 1400),
        ) {
            // The hand-read gossip messages and postcard's derived reader
            // agree message for message, errors included.
            loop {
                let (a, b) = (fast.next(), derived.next_derived());
                assert_eq!(a, b, "readers disagree on {data:02x?}");
                if a.is_none() {
                    break;
                }
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
