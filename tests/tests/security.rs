//! Encryption, key rotation across a live cluster, wrong keys and labels.

use serf_bench::sim::{DeliveredKind, NetConfig, Sim};
use serf_core::query::{KeyOp, KeyResponse};
use serf_core::wire::crypto::{Key, Label};
use serf_core::{Config, EventKind};
use serf_tests::{join_all, keyed, secs, settle};

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

/// Runs a key query from member 0; returns every member's answer message
/// (empty for a success), sorted.
fn key_messages(sim: &mut Sim, op: KeyOp, key: Option<&Key>) -> Vec<String> {
    let now = sim.now();
    let id = sim.node_mut(0).unwrap().key_query(now, op, key).unwrap();
    sim.flush(0);
    sim.run_for(secs(8));
    let mut out: Vec<String> = sim
        .deliveries()
        .iter()
        .filter(|d| d.observer == 0)
        .filter(|d| matches!(d.kind, DeliveredKind::QueryResponse { id: q, .. } if q == id))
        .map(|d| {
            let r = KeyResponse::parse(&d.payload).unwrap();
            if r.ok {
                String::new()
            } else {
                r.message.to_string()
            }
        })
        .collect();
    out.sort();
    out
}

#[test]
fn key_install_on_an_unencrypted_cluster_is_refused_everywhere_and_changes_nothing() {
    // HashiCorp's agent answers "No keyring to modify (encryption not
    // enabled)" from every node; turning encryption on at one node instead
    // split the cluster within seconds.
    let n = 5;
    let mut sim = Sim::converged(Config::lan().with_members(8), n, 17, 60).unwrap();
    let all: Vec<u32> = (0..n).collect();
    let t0 = sim.now();
    let k = Key::new(&[9u8; 32]).unwrap();
    assert_eq!(
        key_messages(&mut sim, KeyOp::Install, Some(&k)),
        vec!["No keyring to modify (encryption not enabled)"; n as usize]
    );
    assert_eq!(
        key_messages(&mut sim, KeyOp::List, None),
        vec!["Keyring is empty (encryption not enabled)"; n as usize],
        "list fails everywhere too"
    );
    for i in 0..n {
        assert!(
            sim.node(i).unwrap().keyring().is_empty(),
            "member {i} encrypts"
        );
    }
    sim.run_for(secs(30));
    assert!(sim.all_see_alive(&all), "still one cluster");
    assert_eq!(sim.count(EventKind::Failed, t0), 0);
    assert!(
        !sim.deliveries()
            .iter()
            .any(|d| d.kind == DeliveredKind::KeyringChanged),
        "no keyring to persist"
    );
}

#[test]
fn every_member_that_applies_a_key_change_asks_to_persist_its_keyring() {
    let n = 4;
    let a = [0xA1u8; 16];
    let mut sim = Sim::converged(keyed(8, &[&a]), n, 19, 60).unwrap();
    let kb = Key::new(&[0xB2u8; 16]).unwrap();
    let before = sim.deliveries().len();
    assert_eq!(
        key_messages(&mut sim, KeyOp::Install, Some(&kb)),
        vec![""; n as usize]
    );
    let mut persisted: Vec<u32> = sim.deliveries()[before..]
        .iter()
        .filter(|d| d.kind == DeliveredKind::KeyringChanged)
        .map(|d| d.observer)
        .collect();
    persisted.sort_unstable();
    assert_eq!(persisted, (0..n).collect::<Vec<_>>(), "each member, once");
    // Serf's answers for refused changes, worded as Serf words them.
    assert_eq!(
        key_messages(&mut sim, KeyOp::Remove, Some(&Key::new(&a).unwrap())),
        vec!["Removing the primary key is not allowed"; n as usize]
    );
    assert_eq!(
        key_messages(&mut sim, KeyOp::Use, Some(&Key::new(&[1u8; 16]).unwrap())),
        vec!["Requested key is not in the keyring"; n as usize]
    );
    assert_eq!(
        key_messages(
            &mut sim,
            KeyOp::Remove,
            Some(&Key::new(&[1u8; 16]).unwrap())
        ),
        vec![""; n as usize],
        "removing a key nobody has succeeds, as in memberlist"
    );
}

mod refusals {
    use serf_bench::heap::{buffers, Heap};
    use serf_bench::rng::SimRng;
    use serf_core::wire::crypto::{Key, Keyring, Refusal};
    use serf_core::wire::DecodeError;
    use serf_core::{Config, Instant, Node};

    type N = Node<u32, Heap, SimRng>;

    fn node(id: u32, key: Option<u8>) -> N {
        let mut config = Config::lan().with_members(8);
        if let Some(k) = key {
            let mut ring = Keyring::default();
            ring.install(Key::new(&[k; 16]).unwrap()).unwrap();
            config.keyring = ring;
        }
        Node::new(
            id,
            config.clone(),
            buffers(&config),
            SimRng::new(id as u64),
            Instant::ZERO,
        )
        .unwrap()
    }

    /// `joiner` joins `seed`; returns what the joiner's node says of the
    /// seed's answers.
    fn join(joiner: &mut N, seed: &mut N) -> Vec<Result<(), DecodeError>> {
        let mut buf = [0u8; 1400];
        let t = Instant::from_millis(10);
        joiner.join(t, 2);
        let mut results = Vec::new();
        for _ in 0..3 {
            while let Some(tx) = joiner.poll_transmit(&mut buf) {
                let _ = seed.handle_datagram(t, 1, &buf[..tx.len]);
            }
            while let Some(tx) = seed.poll_transmit(&mut buf) {
                if tx.to == 1 {
                    results.push(joiner.handle_datagram(t, 2, &buf[..tx.len]));
                }
            }
        }
        results
    }

    #[test]
    fn a_joiner_without_the_key_learns_why_the_seed_refused_it() {
        let mut seed = node(2, Some(7));
        let mut joiner = node(1, None);
        let r = join(&mut joiner, &mut seed);
        assert_eq!(
            r,
            vec![Err(DecodeError::Refused(Refusal::EncryptionRequired))]
        );
        assert_eq!(
            Refusal::EncryptionRequired.to_string(),
            "Remote state is encrypted and encryption is not configured",
            "HashiCorp's wording"
        );
        assert_eq!(joiner.counts().total(), 1, "nothing learnt");
        assert_eq!(seed.counts().total(), 1, "nothing admitted");
        assert_eq!(joiner.stats().refusals_received, 1);
        assert_eq!(seed.stats().refusals_sent, 1);
    }

    #[test]
    fn a_joiner_with_the_wrong_key_is_told_no_key_decrypts_it() {
        let mut seed = node(2, Some(7));
        let mut joiner = node(1, Some(8));
        let r = join(&mut joiner, &mut seed);
        assert_eq!(r, vec![Err(DecodeError::Refused(Refusal::NoKeyDecrypts))]);
        assert_eq!(
            Refusal::NoKeyDecrypts.to_string(),
            "No installed keys could decrypt the message"
        );
    }

    #[test]
    fn an_encrypting_joiner_of_a_plain_cluster_is_told_so() {
        let mut seed = node(2, None);
        let mut joiner = node(1, Some(8));
        let r = join(&mut joiner, &mut seed);
        assert_eq!(
            r,
            vec![Err(DecodeError::Refused(Refusal::EncryptionNotConfigured))]
        );
    }

    #[test]
    fn refusals_are_rate_limited_and_never_answered() {
        let mut seed = node(2, Some(7));
        let mut buf = [0u8; 1400];
        // A flood of plaintext: one notice per 50 ms at most.
        for ms in 0..1000u64 {
            let _ =
                seed.handle_datagram(Instant::from_millis(ms), 9, &[serf_core::wire::VERSION, 0]);
        }
        let mut notices = 0;
        while seed.poll_transmit(&mut buf).is_some() {
            notices += 1;
        }
        assert_eq!(notices, 20);
        // A notice itself is never refused back (no ping-pong between two
        // clusters with different keys).
        let notice = Refusal::NoKeyDecrypts.encode();
        let got = seed.handle_datagram(Instant::from_millis(5000), 9, &notice);
        assert_eq!(got, Err(DecodeError::Refused(Refusal::NoKeyDecrypts)));
        assert!(seed.poll_transmit(&mut buf).is_none());
    }
}
