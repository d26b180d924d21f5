//! The Serf layer on top of membership: user events and tags.

use serf_bench::heap::Heap;
use serf_bench::rng::SimRng;
use serf_bench::sim::{DeliveredKind, Sim};
use serf_core::wire::tags::Tags;
use serf_core::wire::{Encoder, Message};
use serf_core::{Config, Delivery, EventKind, Instant, Node};
use serf_tests::{converged, lone_node, secs, set_tags};

#[test]
fn user_event_from_one_member_reaches_all_256_exactly_once() {
    let n = 256;
    let mut sim = converged(n, Config::lan().with_members(300), 17);
    let ltime = sim
        .node_mut(17)
        .unwrap()
        .user_event("deploy", b"v2.1", false)
        .unwrap();
    sim.flush(17);
    sim.run_for(secs(30));
    let mut per_member = vec![0usize; n as usize];
    for d in sim.deliveries() {
        if d.name == "deploy" {
            assert_eq!(d.kind, DeliveredKind::Event { ltime });
            assert_eq!(d.payload, b"v2.1");
            per_member[d.observer as usize] += 1;
        }
    }
    let missing = per_member.iter().filter(|&&c| c == 0).count();
    let twice = per_member.iter().filter(|&&c| c > 1).count();
    let dups: u64 = (0..n)
        .map(|i| sim.node(i).unwrap().stats().event_duplicates)
        .sum();
    println!(
        "event reached {} of {n} members, {dups} duplicate receptions suppressed",
        n as usize - missing
    );
    assert_eq!(missing, 0, "every member delivered it");
    assert_eq!(twice, 0, "no member delivered it twice");
    assert!(dups > 0, "re-broadcast copies arrived and were recognised");
}

#[test]
fn user_event_over_the_size_limit_is_refused() {
    let config = Config::lan().with_members(8);
    let mut node = lone_node(1, &config);
    assert!(node.user_event("big", &[0u8; 600], false).is_err());
    assert!(node.user_event("ok", &[0u8; 500], true).is_ok());
    let mut buf = vec![0u8; config.capacity.user_payload];
    match node.poll_delivery(&mut buf) {
        Some(Delivery::Event {
            name,
            payload,
            coalesce,
            ..
        }) => {
            assert_eq!((name, payload.len(), coalesce), ("ok", 500, true));
        }
        other => panic!("the originator delivers its own event, got {other:?}"),
    }
}

#[test]
fn tag_change_reaches_every_member_as_an_update() {
    let n = 32;
    let mut sim = converged(n, Config::lan().with_members(40), 4);
    let t0 = sim.now();
    let before = sim.node(5).unwrap().incarnation();
    set_tags(&mut sim, 5, &[("role", "db"), ("region", "syd")]);
    sim.run_for(secs(20));
    assert!(
        sim.node(5).unwrap().incarnation() > before,
        "tag change bumps the incarnation"
    );
    for i in 0..n {
        let tags: Vec<_> = sim.node(i).unwrap().tags_of(&5).unwrap().collect();
        assert_eq!(tags, [("role", "db"), ("region", "syd")], "member {i}");
    }
    let updates = sim.first_reports(5, EventKind::Updated, t0);
    assert_eq!(
        updates.len(),
        (n - 1) as usize,
        "every other member saw an update"
    );
    // A member that starts afresh learns the tags through its join push-pull.
    sim.crash(9);
    sim.run_for(secs(1));
    sim.restart(9, 0);
    sim.run_for(secs(2));
    let tags = Tags::new(sim.node(9).unwrap().meta_of(&5).unwrap());
    assert_eq!(tags.get("region"), Some("syd"));
}

#[test]
fn restored_event_clock_stops_old_events_from_being_delivered_again() {
    let config = Config::lan().with_members(8);
    let event = |ltime: u64| {
        let mut buf = [0u8; 128];
        let mut enc = Encoder::new(&mut buf).unwrap();
        assert!(enc.push::<u32>(&Message::Event {
            ltime,
            name: "deploy",
            payload: b"v1",
            coalesce: false
        }));
        let n = enc.len();
        buf[..n].to_vec()
    };
    let count = |node: &mut Node<u32, Heap, SimRng>| {
        let mut buf = vec![0u8; 640];
        let mut n = 0;
        while node.poll_delivery(&mut buf).is_some() {
            n += 1;
        }
        n
    };
    // A fresh node (no snapshot) delivers an old event it never saw.
    let mut fresh = lone_node(1, &config);
    fresh.handle_datagram(Instant::ZERO, 2, &event(40)).unwrap();
    assert_eq!(count(&mut fresh), 1);
    // The same node again: duplicates are not delivered twice.
    fresh.handle_datagram(Instant::ZERO, 2, &event(40)).unwrap();
    assert_eq!(count(&mut fresh), 0);
    // A restarted node whose snapshot recorded event clock 41 drops it.
    let mut restored = lone_node(1, &config);
    restored.restore_event_clock(41);
    assert!(restored.clocks().event >= 41);
    restored
        .handle_datagram(Instant::ZERO, 2, &event(40))
        .unwrap();
    assert_eq!(count(&mut restored), 0);
    assert_eq!(restored.stats().events_too_old, 1);
    restored
        .handle_datagram(Instant::ZERO, 2, &event(42))
        .unwrap();
    assert_eq!(count(&mut restored), 1, "newer events still flow");
}

#[test]
fn events_older_than_the_ring_are_dropped() {
    let config = Config::lan().with_members(8);
    let mut node = lone_node(1, &config);
    let mut buf = [0u8; 128];
    for (ltime, want) in [(2000u64, true), (1000, false), (1600, true)] {
        let mut enc = Encoder::new(&mut buf).unwrap();
        enc.push::<u32>(&Message::Event {
            ltime,
            name: "e",
            payload: b"",
            coalesce: false,
        });
        let n = enc.len();
        node.handle_datagram(Instant::ZERO, 2, &buf[..n]).unwrap();
        let mut out = vec![0u8; 640];
        assert_eq!(
            node.poll_delivery(&mut out).is_some(),
            want,
            "ltime {ltime}"
        );
    }
}

#[test]
fn live_node_refutes_its_own_leave() {
    let n = 16;
    let mut sim = converged(n, Config::lan().with_members(24), 31);
    let t0 = sim.now();
    // Member 2 wrongly forces live member 7 out.
    assert!(sim.node_mut(2).unwrap().force_leave(t0, &7, false));
    sim.flush(2);
    assert!(
        sim.node(2).unwrap().member_leaving(&7),
        "the accuser marks it leaving at first"
    );
    sim.run_for(secs(20));
    assert!(sim.node(7).unwrap().stats().refutations >= 1, "7 refuted");
    for i in 0..n {
        assert!(
            !sim.node(i).unwrap().member_leaving(&7),
            "member {i} still thinks 7 is leaving"
        );
    }
    let all: Vec<u32> = (0..n).collect();
    assert!(sim.all_see_alive(&all));
    assert_eq!(sim.count(EventKind::Left, t0), 0);
}

#[test]
fn force_leave_marks_a_failed_member_left_everywhere_and_prune_erases_it() {
    let n = 12;
    let mut sim = converged(n, Config::lan().with_members(16), 33);
    sim.crash(4);
    sim.crash(5);
    sim.run_for(secs(60));
    for i in (0..n).filter(|i| *i != 4 && *i != 5) {
        assert_eq!(
            sim.node(i).unwrap().member(&4).unwrap().state,
            serf_core::State::Dead
        );
    }
    let t0 = sim.now();
    assert!(sim.node_mut(0).unwrap().force_leave(t0, &4, false));
    assert!(sim.node_mut(0).unwrap().force_leave(t0, &5, true));
    sim.flush(0);
    sim.run_for(secs(20));
    for i in (0..n).filter(|i| *i != 4 && *i != 5) {
        let node = sim.node(i).unwrap();
        assert_eq!(
            node.member(&4).unwrap().state,
            serf_core::State::Left,
            "member {i}"
        );
        assert_eq!(node.member(&5), None, "member {i} pruned 5");
    }
    assert_eq!(
        sim.first_reports(4, EventKind::Left, t0).len(),
        (n - 2) as usize
    );
    assert_eq!(
        sim.first_reports(5, EventKind::Reaped, t0).len(),
        (n - 2) as usize
    );
}

#[test]
fn join_with_replay_delivers_past_events_and_a_plain_join_does_not() {
    let config = Config::lan().with_members(16);
    let mut sim = Sim::new(config, Default::default(), 6, 23);
    for i in 1..4 {
        sim.join(i, 0);
    }
    sim.run_for(secs(5));
    assert!(sim.all_see_alive_among(&[0, 1, 2, 3]));
    for (i, v) in ["v1", "v2", "v3"].iter().enumerate() {
        sim.node_mut(1 + i as u32)
            .unwrap()
            .user_event("deploy", v.as_bytes(), false)
            .unwrap();
        sim.flush(1 + i as u32);
    }
    // Long enough for the gossip of these events to have ended.
    sim.run_for(secs(30));
    let now = sim.now();
    sim.node_mut(4).unwrap().join_replay(now, 0);
    sim.flush(4);
    sim.join(5, 0);
    sim.run_for(secs(10));
    let payloads = |sim: &Sim, who: u32| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = sim
            .deliveries()
            .iter()
            .filter(|d| d.observer == who && d.name == "deploy")
            .map(|d| d.payload.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        payloads(&sim, 4),
        [b"v1", b"v2", b"v3"],
        "the replaying joiner got them"
    );
    assert!(payloads(&sim, 5).is_empty(), "the plain joiner did not");
    assert!(
        payloads(&sim, 0).len() == 3,
        "old members delivered each once"
    );
    // Both joiners now take part in new events, and no one delivers the old ones twice.
    let v4 = sim
        .node_mut(2)
        .unwrap()
        .user_event("deploy", b"v4", false)
        .unwrap();
    sim.flush(2);
    sim.run_for(secs(10));
    for who in 0..6 {
        let got = payloads(&sim, who);
        assert!(got.contains(&b"v4".to_vec()), "member {who} got v4");
        let expect = if who == 5 { 1 } else { 4 };
        assert_eq!(got.len(), expect, "member {who}: {got:?}");
    }
    // Every member's event clock has moved past the newest event.
    for who in 0..6 {
        let clock = sim.node(who).unwrap().clocks().event;
        assert!(clock > v4, "member {who}: event clock {clock}, v4 at {v4}");
    }
}
