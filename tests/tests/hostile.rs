//! Hostile input: random, truncated, oversized datagrams and forged members
//! beyond capacity give typed errors and counters; nothing panics and the table
//! never exceeds its capacity.

use serf_bench::rng::SimRng;
use serf_core::wire::{DecodeError, Message};
use serf_core::{Config, Instant};
use serf_tests::{drain, lone_node, packet, TestNode as N};

#[test]
fn random_datagrams_are_rejected_or_applied_without_panic() {
    let mut n = lone_node(1, &Config::lan().with_members(64));
    let mut rng = SimRng::new(5);
    let mut errors = 0u64;
    for i in 0..200_000u64 {
        let len = rng.below(1500) as usize;
        let mut d = vec![0u8; len];
        for b in d.iter_mut() {
            *b = rng.below(256) as u8;
        }
        if i % 2 == 0 && !d.is_empty() {
            d[0] = serf_core::wire::VERSION; // get past the envelope
        }
        if n.handle_datagram(Instant::from_millis(i), (i % 7) as u32, &d)
            .is_err()
        {
            errors += 1;
        }
        n.handle_timeout(Instant::from_millis(i));
        drain(&mut n);
        assert!(n.counts().total() as usize <= 64);
    }
    assert!(errors > 100_000, "most random input is rejected ({errors})");
    let s = n.stats();
    assert!(s.decode_errors + s.frames_rejected >= errors);
}

#[test]
fn with_a_keyring_no_plaintext_or_undecryptable_packet_changes_any_state() {
    let mut config = Config::lan().with_members(16);
    config
        .keyring
        .install(serf_core::wire::crypto::Key::new(&[5u8; 32]).unwrap())
        .unwrap();
    let mut n: N = lone_node(1, &config);
    let mut out = [0u8; 1400];
    while n.poll_transmit(&mut out).is_some() {}
    let valid_plaintext = packet(&[
        Message::Alive {
            incarnation: 9,
            node: 2,
            meta: &[],
            protocol: 5,
        },
        Message::Ping { seq: 1, target: 1 },
        Message::Suspect {
            incarnation: 0,
            node: 1,
            from: 2,
        },
    ]);
    let mut rng = SimRng::new(77);
    for i in 0..20_000u64 {
        let d: Vec<u8> = if i % 3 == 0 {
            valid_plaintext.clone()
        } else {
            let mut d: Vec<u8> = (0..rng.below(300)).map(|_| rng.below(256) as u8).collect();
            if let Some(b) = d.first_mut() {
                *b = serf_core::wire::crypto::ENCRYPTED; // forged "encrypted" packets
            }
            d
        };
        assert!(n.handle_datagram(Instant::ZERO, 2, &d).is_err());
    }
    assert_eq!(n.counts().total(), 1, "nobody was admitted");
    assert_eq!(n.incarnation(), 0, "no refutation was provoked");
    assert!(n.poll_event().is_none());
    // What goes out is at most a (rate-limited) refusal notice telling the
    // sender why: never an ack or any other answer.
    while let Some(t) = n.poll_transmit(&mut out) {
        assert!(
            serf_core::wire::crypto::Refusal::decode(&out[..t.len]).is_some(),
            "no ack went out, only refusal notices"
        );
    }
    assert_eq!(n.stats().frames_rejected, 20_000);
}

#[test]
fn every_truncation_of_a_valid_packet_is_a_typed_error_or_a_prefix() {
    let p = packet(&[
        Message::Alive {
            incarnation: 300,
            node: 77,
            meta: &[],
            protocol: 5,
        },
        Message::Suspect {
            incarnation: 1,
            node: 78,
            from: 79,
        },
        Message::User(b"payload bytes"),
        Message::IndirectPing {
            seq: 123456,
            target: 80,
            nack: true,
        },
    ]);
    for cut in 0..p.len() {
        let mut n = lone_node(1, &Config::lan().with_members(16));
        match n.handle_datagram(Instant::ZERO, 2, &p[..cut]) {
            Ok(()) => {}
            Err(DecodeError::Empty | DecodeError::Malformed) => {}
            Err(e) => panic!("unexpected error {e:?} at cut {cut}"),
        }
        drain(&mut n);
    }
    let mut n = lone_node(1, &Config::lan().with_members(16));
    assert_eq!(n.handle_datagram(Instant::ZERO, 2, &p), Ok(()));
    assert!(n.member(&77).is_some());
}

#[test]
fn oversized_and_unversioned_datagrams_get_typed_errors() {
    let mut n = lone_node(1, &Config::lan().with_members(16));
    assert_eq!(
        n.handle_datagram(Instant::ZERO, 2, &[1u8; 5000]),
        Err(DecodeError::Oversized(5000))
    );
    assert_eq!(
        n.handle_datagram(Instant::ZERO, 2, &[]),
        Err(DecodeError::Empty)
    );
    assert_eq!(
        n.handle_datagram(Instant::ZERO, 2, &[0xEE, 1, 2]),
        Err(DecodeError::Version(0xEE))
    );
    assert_eq!(n.stats().decode_errors, 3);
    assert_eq!(n.counts().total(), 1);
}

#[test]
fn forged_members_beyond_capacity_are_rejected_and_counted() {
    let cap = 32;
    let mut n = lone_node(1, &Config::lan().with_members(cap));
    for id in 1000..1000 + 10 * cap as u32 {
        let p = packet(&[Message::Alive {
            incarnation: 0,
            node: id,
            meta: &[],
            protocol: 5,
        }]);
        n.handle_datagram(Instant::ZERO, id, &p).unwrap();
        drain(&mut n);
        assert!(n.counts().total() as usize <= cap);
    }
    assert_eq!(n.counts().total() as usize, cap);
    assert_eq!(n.stats().members_rejected, (10 * cap - (cap - 1)) as u64);
}

#[test]
fn floods_of_events_transmits_and_broadcasts_are_bounded_and_counted() {
    let mut n = lone_node(1, &Config::lan().with_members(256));
    // Ever-newer incarnations (with changed tags) of the same members, never
    // drained: the event and transmit queues stay bounded and count what they drop.
    for round in 1..20u32 {
        for id in 2..256u32 {
            let p = packet(&[
                Message::Alive {
                    incarnation: round,
                    node: id,
                    meta: &[round as u8],
                    protocol: 5,
                },
                Message::Ping { seq: id, target: 1 },
            ]);
            n.handle_datagram(Instant::ZERO, id, &p).unwrap();
        }
    }
    for i in 0..100u32 {
        let _ = n.broadcast(&i.to_le_bytes());
    }
    let s = n.stats();
    assert_eq!(n.counts().total(), 255);
    assert!(s.events_dropped > 0, "{s:?}");
    assert!(s.transmits_dropped > 0, "{s:?}");
    assert_eq!(s.user_broadcasts_dropped, 100 - 64, "{s:?}");
    assert_eq!(n.pending_broadcasts(), 255 + 64);
    drain(&mut n);
    assert!(
        n.broadcast(&[0u8; 4096]).is_err(),
        "a payload above the limit is refused"
    );
}

#[test]
fn a_flood_of_forged_alive_members_never_evicts_a_live_member_and_ages_out() {
    use serf_bench::sim::NetConfig;
    use serf_tests::{cluster, run_until, secs};
    let (n, cap) = (12u32, 24usize);
    let mut sim = cluster(n, Config::lan().with_members(cap), NetConfig::default(), 21);
    let real: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&real)).expect("converges");
    let everyone_live = |s: &serf_bench::sim::Sim| {
        real.iter().all(|&i| {
            let v = s.live_view(i);
            real.iter().all(|r| v.contains(r))
        })
    };
    // Every member is told, over and over, of strangers at made-up
    // addresses: far more than the tables hold. Nobody answers for them.
    let mut forged = 100_000u32;
    for round in 0..30 {
        for target in 0..n {
            let msgs: Vec<Message<'_, u32>> = (0..20)
                .map(|k| Message::Alive {
                    incarnation: round,
                    node: forged + k,
                    meta: &[],
                    protocol: 5,
                })
                .collect();
            let p = packet(&msgs);
            let now = sim.now();
            let node = sim.node_mut(target).unwrap();
            node.handle_datagram(now, forged, &p).unwrap();
            assert!(node.counts().total() as usize <= cap, "over capacity");
            assert_eq!(node.audit(), Ok(()));
            sim.flush(target);
            forged += 20;
        }
        sim.run_for(secs(1));
        assert!(
            everyone_live(&sim),
            "a live member was evicted or lost in round {round}"
        );
    }
    let rejected: u64 = real
        .iter()
        .map(|&i| sim.node(i).unwrap().stats().members_rejected)
        .sum();
    assert!(rejected > 0, "full tables refuse strangers and count them");
    let crowded = sim.node(0).unwrap().counts();
    assert_eq!(
        crowded.total() as usize,
        cap,
        "strangers filled the free slots, and only those: {crowded:?}"
    );
    // The strangers never answer a probe: they are failed and reaped,
    // leaving the real members.
    let cleared = run_until(&mut sim, 600, |s| {
        real.iter()
            .all(|&i| s.node(i).unwrap().counts().live() == n)
    });
    println!("{rejected} forged members refused; strangers gone after {cleared:?} s");
    assert!(cleared.is_some(), "forged members age out of every table");
    assert!(sim.all_see_alive(&real));
}
