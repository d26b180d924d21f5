//! Vivaldi coordinates carried by the protocol: learnt from probe acks, cached
//! per member, and used for `rtt(a, b)` and `nearest(k)`.

use std::time::Duration;

use serf_bench::heap::{buffers, Heap};
use serf_bench::matrix::{generate, GenConfig, Matrix};
use serf_bench::rng::SimRng;
use serf_bench::sim::{NetConfig, Sim};
use serf_core::vivaldi::Coordinate;
use serf_core::wire::{CoordBytes, Decoder, Encoder, Message, COORD_MAX};
use serf_core::{Config, Instant, Node};
use serf_tests::median;

/// A cluster whose links are delayed by half a generated matrix RTT each way.
fn cluster(n: usize, config: Config, seed: u64) -> (Sim, Matrix) {
    let m = generate(
        &GenConfig {
            hosts: n,
            missing_share: 0.0,
            ..GenConfig::default()
        },
        seed,
    )
    .scaled(1e-3);
    let one_way = m.clone();
    let mut sim = Sim::new(config, NetConfig::default(), n as u32, seed);
    sim.set_latency_fn(Box::new(move |a, b| {
        Duration::from_secs_f64(one_way.rtt[a as usize][b as usize].unwrap_or(0.0) / 2.0)
    }));
    for i in 1..n as u32 {
        sim.join(i, 0);
    }
    (sim, m)
}

#[test]
fn rtt_between_any_two_members_comes_from_coordinates_learnt_on_acks() {
    let n = 40;
    let (mut sim, m) = cluster(n, Config::wan().with_members(64), 5);
    sim.run_for(Duration::from_secs(2000));
    let observer = sim.node(0).unwrap();
    assert!(observer.stats().coordinate_updates > 100);
    let mut errors = Vec::new();
    for a in 0..n as u32 {
        for b in (a + 1)..n as u32 {
            let est = observer
                .rtt(&a, &b)
                .unwrap_or_else(|| panic!("no estimate for {a} <-> {b}"));
            let actual = m.rtt[a as usize][b as usize].unwrap();
            errors.push((est.as_secs_f64() - actual).abs() / actual);
        }
    }
    let med = median(errors);
    println!(
        "rtt(a, b) from node 0's cache: median relative error {med:.3} over {} pairs",
        n * (n - 1) / 2
    );
    assert!(med < 0.25, "median relative error {med}");
    assert!(observer.rtt(&0, &3).is_some(), "this node to another");
    assert_eq!(observer.rtt(&0, &999), None, "unknown member");
}

#[test]
fn nearest_lists_members_by_estimated_rtt_and_they_are_truly_near() {
    let n = 40;
    let (mut sim, m) = cluster(n, Config::wan().with_members(64), 6);
    sim.run_for(Duration::from_secs(2000));
    let node = sim.node(0).unwrap();
    let mut out = vec![(0u32, Duration::ZERO); 5];
    assert_eq!(node.nearest(&mut out), 5);
    for w in out.windows(2) {
        assert!(w[0].1 <= w[1].1, "sorted by estimate: {out:?}");
    }
    let me = *node.coordinate();
    for id in 1..n as u32 {
        let est = me.distance_to(&node.coordinate_of(&id).unwrap());
        if !out.iter().any(|(x, _)| *x == id) {
            assert!(
                est >= out[4].1.as_secs_f64() - 1e-9,
                "{id} at {est} should have been listed"
            );
        }
    }
    let mut truth: Vec<f64> = (1..n).map(|j| m.rtt[0][j].unwrap()).collect();
    truth.sort_by(|a, b| a.total_cmp(b));
    let true_median = truth[truth.len() / 2];
    for (id, _) in &out {
        assert!(
            m.rtt[0][*id as usize].unwrap() < true_median,
            "member {id} is not near"
        );
    }
    let mut few = vec![(0u32, Duration::ZERO); 2];
    assert_eq!(node.nearest(&mut few), 2);
    assert_eq!(&few[..], &out[..2]);
}

#[test]
fn disabled_coordinates_travel_nowhere_and_give_no_estimates() {
    let mut config = Config::wan().with_members(16);
    config.coordinates = false;
    let (mut sim, _) = cluster(8, config, 7);
    sim.run_for(Duration::from_secs(300));
    let node = sim.node(0).unwrap();
    assert_eq!(node.stats().coordinate_updates, 0);
    assert_eq!(node.rtt(&1, &2), None);
    let mut out = vec![(0u32, Duration::ZERO); 3];
    assert_eq!(node.nearest(&mut out), 0);
}

/// Drives a lone node until it pings member 2 and returns that ping's seq.
fn pinged_seq(node: &mut Node<u32, Heap, SimRng>, now: &mut Instant) -> u32 {
    let mut buf = [0u8; 1400];
    for _ in 0..100 {
        *now = node.poll_timeout().unwrap().max(*now);
        node.handle_timeout(*now);
        while let Some(t) = node.poll_transmit(&mut buf) {
            if let Some(Ok(Message::Ping { seq, target: 2 })) =
                Decoder::<u32>::new(&buf[..t.len], 1400).unwrap().next()
            {
                return seq;
            }
        }
    }
    panic!("no ping to member 2");
}

fn ack(seq: u32, coord: Coordinate) -> Vec<u8> {
    let mut cbuf = [0u8; COORD_MAX];
    let coord = CoordBytes::encode(&coord, &mut cbuf).unwrap();
    let mut buf = [0u8; 256];
    let mut enc = Encoder::new(&mut buf).unwrap();
    assert!(enc.push::<u32>(&Message::Ack {
        seq,
        coord: Some(coord)
    }));
    let n = enc.len();
    buf[..n].to_vec()
}

#[test]
fn poisoned_coordinates_on_the_wire_are_rejected_and_counted() {
    let config = Config::lan().with_members(8);
    let mut node = Node::new(
        1u32,
        config.clone(),
        buffers(&config),
        SimRng::new(2),
        Instant::ZERO,
    )
    .unwrap();
    let mut alive = [0u8; 32];
    let mut enc = Encoder::new(&mut alive).unwrap();
    enc.push::<u32>(&Message::Alive {
        incarnation: 1,
        node: 2,
        meta: &[],
        protocol: 5,
    });
    let n = enc.len();
    node.handle_datagram(Instant::ZERO, 2, &alive[..n]).unwrap();
    let mut now = Instant::ZERO;
    let mut bad = Coordinate::default();
    bad.vec[2] = f64::NAN;
    let seq = pinged_seq(&mut node, &mut now);
    node.handle_datagram(now + Duration::from_millis(3), 2, &ack(seq, bad))
        .unwrap();
    assert_eq!(node.stats().coordinate_rejected, 1);
    assert!(node.coordinate().is_valid());
    assert_eq!(
        node.coordinate_of(&2),
        None,
        "a rejected coordinate is not cached"
    );
    let wrong_dims = Coordinate {
        dims: 3,
        ..Coordinate::default()
    };
    let seq = pinged_seq(&mut node, &mut now);
    node.handle_datagram(now + Duration::from_millis(3), 2, &ack(seq, wrong_dims))
        .unwrap();
    assert_eq!(node.stats().coordinate_rejected, 2);
    let seq = pinged_seq(&mut node, &mut now);
    node.handle_datagram(
        now + Duration::from_millis(3),
        2,
        &ack(seq, Coordinate::default()),
    )
    .unwrap();
    assert_eq!(node.stats().coordinate_updates, 1);
    assert!(node.rtt(&1, &2).is_some());
}
