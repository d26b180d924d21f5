//! Every path that spans several datagrams, with a keyring and a label on:
//! the framing (label header, nonce, tag) takes room from each datagram, so
//! a size computed without it loses the datagram. Each test here failed
//! before chunk and relay sizes accounted for the framing.

use serf_bench::sim::{DeliveredKind, Sim};
use serf_core::query::QueryParams;
use serf_core::wire::crypto::{Key, Keyring, Label};
use serf_core::Config;
use serf_tests::{converged, secs};

/// A LAN config for `members` with a 32-byte key and a long label (the
/// most framing a datagram can carry).
fn sealed(members: usize) -> Config {
    let mut c = Config::lan().with_members(members);
    let mut ring = Keyring::default();
    ring.install(Key::new(&[0x5A; 32]).unwrap()).unwrap();
    c.keyring = ring;
    c.label = Label::new(&"prod-eu-west-1/".repeat(17)); // 255 bytes
    c.query_response_size_limit = 64 * 1024;
    c
}

/// Responses (from, payload) to query `id` seen by `origin`, and whether it ended.
fn responses(sim: &Sim, origin: u32, id: u32) -> (Vec<(u32, Vec<u8>)>, bool) {
    let mut out = Vec::new();
    let mut done = false;
    for d in sim.deliveries().iter().filter(|d| d.observer == origin) {
        match d.kind {
            DeliveredKind::QueryResponse { id: q, from } if q == id => {
                out.push((from, d.payload.clone()))
            }
            DeliveredKind::QueryDone { id: q } if q == id => done = true,
            _ => {}
        }
    }
    out.sort();
    (out, done)
}

fn query(sim: &mut Sim, origin: u32, params: &QueryParams<'_, u32>) -> u32 {
    let now = sim.now();
    let id = sim
        .node_mut(origin)
        .unwrap()
        .query(now, "dump", b"", params)
        .unwrap();
    sim.flush(origin);
    sim.run_for(secs(10));
    id
}

#[test]
fn chunked_20_kib_response_arrives_whole_under_key_and_label() {
    let mut sim = converged(6, sealed(8), 4);
    let big: Vec<u8> = (0..20_000).map(|i| (i % 253) as u8).collect();
    let reply = big.clone();
    sim.set_responder(Box::new(move |node, _, _| {
        (node == 3).then(|| reply.clone())
    }));
    let id = query(
        &mut sim,
        1,
        &QueryParams {
            nodes: &[3],
            ..QueryParams::default()
        },
    );
    let (resp, done) = responses(&sim, 1, id);
    assert!(done);
    assert_eq!(resp.len(), 1, "the chunked response arrived");
    assert_eq!(resp[0].1, big, "byte for byte");
    assert_eq!(sim.node(3).unwrap().stats().transmits_dropped, 0);
}

#[test]
fn relayed_responses_arrive_under_key_and_label_and_count_once() {
    let n = 10;
    let mut sim = converged(n, sealed(16), 7);
    // Small answers: each also travels through 2 relays.
    sim.set_responder(Box::new(|node, _, _| Some(vec![node as u8; 40])));
    let id = query(
        &mut sim,
        0,
        &QueryParams {
            relay_factor: 2,
            ..QueryParams::default()
        },
    );
    let (resp, _) = responses(&sim, 0, id);
    assert_eq!(resp.len(), n as usize, "one response per member");
    let origin = sim.node(0).unwrap().stats();
    assert!(
        origin.response_duplicates > 0,
        "relayed copies reached the originator (and were counted once): {origin:?}"
    );
    for i in 0..n {
        let s = sim.node(i).unwrap().stats();
        assert_eq!(s.relays_skipped, 0, "member {i} relayed its answer");
        assert_eq!(s.transmits_dropped, 0, "member {i} lost no datagram");
    }
}

#[test]
fn responses_near_a_datagram_in_size_arrive_relayed_or_direct_never_lost() {
    let mut sim = converged(5, sealed(8), 9);
    // Around the largest single-datagram response under this framing: some
    // of these fit a datagram but not inside a relay wrapper.
    for size in 1040..1090usize {
        sim.set_responder(Box::new(move |node, _, _| {
            (node == 2).then(|| vec![(size % 256) as u8; size])
        }));
        let id = query(
            &mut sim,
            0,
            &QueryParams {
                nodes: &[2],
                relay_factor: 2,
                ..QueryParams::default()
            },
        );
        let (resp, _) = responses(&sim, 0, id);
        assert_eq!(resp.len(), 1, "the response of {size} bytes arrived");
        assert_eq!(resp[0].1, vec![(size % 256) as u8; size]);
    }
    let s = sim.node(2).unwrap().stats();
    assert!(s.relays_skipped > 0, "some were too big to relay: {s:?}");
    assert!(s.relays_skipped < 50, "the smaller ones were relayed");
    assert_eq!(s.transmits_dropped, 0);
}

#[test]
fn push_pull_in_many_chunks_brings_a_joiner_the_whole_cluster_under_key_and_label() {
    // 150 member states need several datagrams each way.
    let n = 151;
    let mut sim = Sim::new(sealed(160), Default::default(), n, 11);
    for i in 1..n - 1 {
        sim.join(i, 0);
    }
    sim.run_for(secs(20));
    let old: Vec<u32> = (0..n - 1).collect();
    assert!(sim.all_see_alive_among(&old), "the first 150 converged");
    let joiner = n - 1;
    sim.join(joiner, 0);
    sim.run_for(secs(2));
    assert_eq!(
        sim.node(joiner).unwrap().counts().alive,
        n,
        "one push-pull (many chunks) taught the joiner everyone"
    );
    assert_eq!(sim.node(0).unwrap().stats().transmits_dropped, 0);
}

#[test]
fn replayed_events_reach_a_replaying_joiner_under_key_and_label() {
    let mut sim = Sim::new(sealed(8), Default::default(), 5, 13);
    for i in 1..4 {
        sim.join(i, 0);
    }
    sim.run_for(secs(5));
    assert!(sim.all_see_alive_among(&[0, 1, 2, 3]));
    // The largest event the limit allows, and two small ones.
    let big = vec![b'x'; 512 - 3];
    for (name, payload) in [("big", &big[..]), ("a", b"1"), ("b", b"2")] {
        sim.node_mut(1)
            .unwrap()
            .user_event(name, payload, false)
            .unwrap();
        sim.flush(1);
    }
    // Long enough for the gossip of these events to have ended.
    sim.run_for(secs(30));
    let now = sim.now();
    sim.node_mut(4).unwrap().join_replay(now, 0);
    sim.flush(4);
    sim.run_for(secs(10));
    let got: Vec<Vec<u8>> = sim
        .deliveries()
        .iter()
        .filter(|d| d.observer == 4 && matches!(d.kind, DeliveredKind::Event { .. }))
        .map(|d| d.payload.clone())
        .collect();
    assert!(got.contains(&big), "the largest event was replayed");
    assert!(got.contains(&b"1".to_vec()) && got.contains(&b"2".to_vec()));
    assert_eq!(sim.node(0).unwrap().stats().replay_skipped, 0);
}
