//! Encryption, key rotation across a live cluster, wrong keys and labels.

use std::time::Duration;

use serf_bench::sim::{DeliveredKind, NetConfig, Sim};
use serf_core::crypto::{Key, Keyring, Label};
use serf_core::query::{KeyOp, KeyResponse};
use serf_core::{Config, EventKind};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn keyed(members: usize, keys: &[&[u8]]) -> Config {
    let mut c = Config::lan().with_members(members);
    let mut ring = Keyring::default();
    for k in keys {
        ring.install(Key::new(k).unwrap()).unwrap();
    }
    c.keyring = ring;
    c
}

fn join_all(sim: &mut Sim, members: &[u32], seed: u32) {
    for &i in members {
        if i != seed {
            sim.join(i, seed);
        }
    }
}

fn settle(sim: &mut Sim, expect: &[u32], limit: u64) -> bool {
    for _ in 0..limit {
        if sim.all_see_alive(expect) {
            return true;
        }
        sim.run_for(secs(1));
    }
    sim.all_see_alive(expect)
}

/// Runs a key query from member 0 and returns (ok responses, failures).
fn key_op(sim: &mut Sim, op: KeyOp, key: Option<&Key>) -> (usize, usize) {
    let now = sim.now();
    let id = sim.node_mut(0).unwrap().key_query(now, op, key).unwrap();
    sim.flush(0);
    sim.run_for(secs(8));
    let (mut ok, mut failed) = (0, 0);
    for d in sim.deliveries().iter().filter(|d| d.observer == 0) {
        if let DeliveredKind::QueryResponse { id: q, .. } = d.kind {
            if q == id {
                match KeyResponse::parse(&d.payload) {
                    Some(r) if r.ok => ok += 1,
                    _ => failed += 1,
                }
            }
        }
    }
    (ok, failed)
}

#[test]
fn key_rotation_across_32_members_keeps_everyone_alive_and_talking() {
    let n = 32;
    let (a, b) = ([0xA1u8; 32], [0xB2u8; 32]);
    let mut sim = Sim::new(keyed(40, &[&a]), NetConfig::default(), n, 5);
    let all: Vec<u32> = (0..n).collect();
    join_all(&mut sim, &all, 0);
    assert!(settle(&mut sim, &all, 60), "an encrypted cluster forms");
    let t0 = sim.now();
    let kb = Key::new(&b).unwrap();
    let ka = Key::new(&a).unwrap();
    assert_eq!(
        key_op(&mut sim, KeyOp::Install, Some(&kb)),
        (n as usize, 0),
        "install"
    );
    assert_eq!(
        key_op(&mut sim, KeyOp::Use, Some(&kb)),
        (n as usize, 0),
        "use"
    );
    assert_eq!(
        key_op(&mut sim, KeyOp::Remove, Some(&ka)),
        (n as usize, 0),
        "remove"
    );
    for i in 0..n {
        let keys: Vec<&[u8]> = sim
            .node(i)
            .unwrap()
            .keyring()
            .keys()
            .map(|k| k.as_bytes())
            .collect();
        assert_eq!(keys, vec![&b[..]], "member {i} holds only the new key");
    }
    sim.run_for(secs(60));
    assert!(sim.all_see_alive(&all), "still one cluster on the new key");
    assert_eq!(
        sim.count(EventKind::Failed, t0),
        0,
        "nobody was lost during rotation"
    );
    // A list over the new key reports one key everywhere.
    let now = sim.now();
    let id = sim
        .node_mut(0)
        .unwrap()
        .key_query(now, KeyOp::List, None)
        .unwrap();
    sim.flush(0);
    sim.run_for(secs(8));
    let lists: Vec<usize> = sim
        .deliveries()
        .iter()
        .filter(|d| matches!(d.kind, DeliveredKind::QueryResponse { id: q, .. } if q == id))
        .map(|d| KeyResponse::parse(&d.payload).unwrap().keys().count())
        .collect();
    assert_eq!(lists, vec![1; n as usize]);
    // Removing the primary is refused everywhere, with a message.
    assert_eq!(key_op(&mut sim, KeyOp::Remove, Some(&kb)), (0, n as usize));
}

#[test]
fn member_with_the_wrong_key_never_appears_in_any_table() {
    let n = 9;
    let (good, bad) = ([7u8; 32], [8u8; 32]);
    let mut sim = Sim::with_configs(NetConfig::default(), n, 3, |id| {
        keyed(16, &[if id == 8 { &bad[..] } else { &good[..] }])
    });
    let members: Vec<u32> = (0..8).collect();
    join_all(&mut sim, &members, 0);
    sim.join(8, 0);
    sim.run_for(secs(60));
    assert!(
        sim.all_see_alive_among(&members),
        "the keyed members form a cluster"
    );
    for i in 0..8 {
        assert_eq!(
            sim.node(i).unwrap().member(&8),
            None,
            "member {i} admitted the intruder"
        );
    }
    assert!(
        sim.node(0).unwrap().stats().frames_rejected > 0,
        "the seed refused its packets"
    );
    assert_eq!(
        sim.node(8).unwrap().counts().total(),
        1,
        "the intruder learnt nobody"
    );
}

#[test]
fn clusters_with_different_labels_stay_apart() {
    let n = 8;
    let mut sim = Sim::with_configs(NetConfig::default(), n, 4, |id| {
        let mut c = Config::lan().with_members(16);
        c.label = Label::new(if id < 4 { "east" } else { "west" });
        c
    });
    let east: Vec<u32> = (0..4).collect();
    let west: Vec<u32> = (4..8).collect();
    join_all(&mut sim, &east, 0);
    join_all(&mut sim, &west, 4);
    // A west member tries to join the east seed, and an east member the west one.
    sim.join(5, 0);
    sim.join(1, 4);
    sim.run_for(secs(60));
    for &i in &east {
        let view: Vec<u32> = sim.view(i).into_iter().map(|(id, _)| id).collect();
        assert_eq!(view, east, "east member {i}");
    }
    for &i in &west {
        let view: Vec<u32> = sim.view(i).into_iter().map(|(id, _)| id).collect();
        assert_eq!(view, west, "west member {i}");
    }
    assert!(sim.node(0).unwrap().stats().frames_rejected > 0);
}

#[test]
fn labels_and_keys_together_still_form_a_cluster() {
    let n = 6;
    let mut sim = Sim::with_configs(NetConfig::default(), n, 6, |_| {
        let mut c = keyed(8, &[&[3u8; 16]]);
        c.label = Label::new("prod");
        c
    });
    let all: Vec<u32> = (0..n).collect();
    join_all(&mut sim, &all, 0);
    assert!(settle(&mut sim, &all, 30));
}
