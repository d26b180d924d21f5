//! Membership behaviour of the core, driven by the deterministic simulator.

use std::time::Duration;

use serf_bench::sim::{NetConfig, Sim};
use serf_core::lifeguard::timeouts;
use serf_core::{Config, EventKind, State};
use serf_tests::{cluster, run_until, secs};

#[test]
fn sixty_four_members_joined_through_one_seed_converge_to_identical_views() {
    let mut sim = cluster(64, Config::lan().with_members(128), NetConfig::default(), 7);
    let all: Vec<u32> = (0..64).collect();
    let t = run_until(&mut sim, 60, |s| s.all_see_alive(&all)).expect("converges within 60 s");
    let reference = sim.view(0);
    assert_eq!(reference.len(), 64);
    assert!(reference.iter().all(|(_, s)| *s == State::Alive));
    for i in 1..64 {
        assert_eq!(sim.view(i), reference, "member {i} differs");
    }
    println!("64 members converged in {t} virtual seconds");
}

#[test]
fn warm_cluster_starts_with_every_member_known_and_detects_a_crash_without_false_failures() {
    let n = 200;
    let net = NetConfig {
        loss: 0.05,
        ..NetConfig::default()
    };
    let mut sim = Sim::warm(Config::lan().with_members(256), net, n, 3);
    let all: Vec<u32> = (0..n).collect();
    assert!(
        sim.all_see_alive(&all),
        "warm: everyone known before any traffic"
    );
    let t0 = sim.now();
    sim.run_for(secs(60));
    assert!(sim.all_see_alive(&all), "no join needed to stay converged");
    assert_eq!(
        sim.count(EventKind::Failed, t0),
        0,
        "no false failures at 5% loss"
    );
    sim.crash(17);
    let rest: Vec<u32> = all.iter().copied().filter(|&i| i != 17).collect();
    let t = run_until(&mut sim, 60, |s| s.all_see_alive(&rest)).expect("crash detected by all");
    println!("warm cluster of {n}: crash of member 17 seen by all survivors within {t} s");
}

#[test]
fn crashed_member_is_marked_failed_by_every_member_within_lifeguard_bound() {
    let config = Config::lan().with_members(64);
    let n = 32u32;
    let mut sim = cluster(n, config.clone(), NetConfig::default(), 11);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("converges");
    let crashed = 5;
    let t0 = sim.now();
    sim.crash(crashed);
    // Bound: a full probe round by the slowest prober is not needed (every live
    // member probes), so: time to first probe (≤ a few intervals) + probe
    // interval + the maximal suspicion timeout + dissemination.
    let (_, max) = timeouts(
        config.suspicion_mult,
        config.suspicion_max_timeout_mult,
        n,
        config.probe_interval,
    );
    let bound = max + secs(10);
    sim.run_for(bound);
    let reports = sim.first_reports(crashed, EventKind::Failed, t0);
    let observers: Vec<u32> = reports.iter().map(|(o, _)| *o).collect();
    for i in (0..n).filter(|&i| i != crashed) {
        assert!(
            observers.contains(&i),
            "member {i} never marked {crashed} failed"
        );
        assert_eq!(
            sim.node(i).unwrap().member(&crashed).unwrap().state,
            State::Dead
        );
    }
    let last = reports
        .iter()
        .map(|(_, t)| t.saturating_since(t0))
        .max()
        .unwrap();
    let first = reports
        .iter()
        .map(|(_, t)| t.saturating_since(t0))
        .min()
        .unwrap();
    println!("crash detected: first {first:?}, everyone by {last:?} (bound {bound:?})");
    assert!(last <= bound);
    assert_eq!(
        sim.count(EventKind::Failed, t0),
        (n - 1) as usize,
        "no other member failed"
    );
}

#[test]
fn member_that_leaves_is_marked_left_not_failed() {
    let n = 16u32;
    let mut sim = cluster(n, Config::lan().with_members(32), NetConfig::default(), 3);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("converges");
    let t0 = sim.now();
    sim.leave(9);
    sim.run_for(secs(3));
    sim.crash(9); // the process exits after its leave went out
    sim.run_for(secs(60));
    for i in (0..n).filter(|&i| i != 9) {
        assert_eq!(
            sim.node(i).unwrap().member(&9).unwrap().state,
            State::Left,
            "member {i}"
        );
    }
    assert_eq!(sim.count(EventKind::Failed, t0), 0);
    assert_eq!(
        sim.first_reports(9, EventKind::Left, t0).len(),
        (n - 1) as usize
    );
}

#[test]
fn member_that_left_and_joins_again_is_alive_everywhere() {
    let n = 8u32;
    let mut sim = cluster(n, Config::lan().with_members(16), NetConfig::default(), 5);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("converges");
    sim.leave(3);
    sim.run_for(secs(5));
    assert_eq!(sim.node(0).unwrap().member(&3).unwrap().state, State::Left);
    sim.join(3, 0);
    let me = sim.node(3).unwrap();
    assert_eq!(
        me.member(&3).unwrap().state,
        State::Alive,
        "its own record, at once"
    );
    assert_eq!(me.audit(), Ok(()));
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("everyone takes it back");
}

#[test]
fn suspected_live_member_refutes_and_stays_alive() {
    let n = 16u32;
    let mut sim = cluster(n, Config::lan().with_members(32), NetConfig::default(), 5);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("converges");
    let t0 = sim.now();
    let inc0 = sim.node(7).unwrap().incarnation();
    // Member 2 wrongly accuses member 7 (as if its probe had been lost).
    let mut pkt = [0u8; 64];
    let mut enc = serf_core::wire::Encoder::new(&mut pkt).unwrap();
    assert!(enc.push::<u32>(&serf_core::wire::Message::Suspect {
        incarnation: inc0,
        node: 7,
        from: 2
    }));
    let len = enc.len();
    let now = sim.now();
    sim.node_mut(2)
        .unwrap()
        .handle_datagram(now, 2, &pkt[..len])
        .unwrap();
    assert_eq!(
        sim.node(2).unwrap().member(&7).unwrap().state,
        State::Suspect
    );
    sim.flush(2);
    sim.run_for(secs(60));
    assert_eq!(
        sim.count(EventKind::Failed, t0),
        0,
        "nobody declared 7 failed"
    );
    assert!(
        sim.node(7).unwrap().incarnation() > inc0,
        "7 refuted with a higher incarnation"
    );
    assert!(sim.all_see_alive(&all));
    for i in 0..n {
        let serf_core::MemberState {
            state,
            incarnation: inc,
        } = sim.node(i).unwrap().member(&7).unwrap();
        assert_eq!(state, State::Alive, "member {i}");
        assert_eq!(
            inc,
            sim.node(7).unwrap().incarnation(),
            "member {i} holds the refuting incarnation"
        );
    }
}

#[test]
fn no_false_failures_among_128_members_under_ten_percent_loss_for_ten_minutes() {
    let n = 128u32;
    let net = NetConfig {
        loss: 0.10,
        ..NetConfig::default()
    };
    let mut sim = cluster(n, Config::lan().with_members(256), net, 21);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 120, |s| s.all_see_alive(&all)).expect("converges under loss");
    let t0 = sim.now();
    sim.run_for(secs(600));
    let suspects = sim.count(EventKind::Suspect, t0);
    let failed = sim.count(EventKind::Failed, t0);
    println!(
        "10% loss, 128 members, 600 s: {suspects} suspect events, {failed} failures, {:?}",
        sim.totals()
    );
    assert_eq!(failed, 0);
    assert!(sim.all_see_alive(&all));
}

#[test]
fn partition_of_sixty_seconds_heals_into_one_full_view() {
    let n = 32u32;
    let mut sim = cluster(n, Config::lan().with_members(64), NetConfig::default(), 9);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("converges");
    let t0 = sim.now();
    sim.partition(|id| id % 2);
    sim.run_for(secs(60));
    let failed = sim.count(EventKind::Failed, t0);
    assert!(
        failed > 0,
        "the halves saw each other fail during the partition"
    );
    sim.heal();
    let t = run_until(&mut sim, 300, |s| s.all_see_alive(&all));
    println!("partition: {failed} failure events; healed into one view after {t:?} s");
    assert!(t.is_some(), "views did not heal");
    let reference = sim.view(0);
    for i in 1..n {
        assert_eq!(sim.view(i), reference);
    }
}

#[test]
fn same_seed_replays_the_same_run_event_for_event() {
    let run = |seed| {
        let net = NetConfig {
            loss: 0.05,
            ..NetConfig::default()
        };
        let mut sim = cluster(24, Config::lan().with_members(32), net, seed);
        sim.run_for(secs(20));
        sim.crash(3);
        sim.run_for(secs(40));
        (sim.log().to_vec(), sim.totals())
    };
    let (a, ta) = run(99);
    let (b, tb) = run(99);
    assert_eq!(ta, tb);
    assert_eq!(a, b);
    let (c, _) = run(100);
    assert_ne!(a, c, "a different seed gives a different run");
}

#[test]
fn restarted_member_rejoins_with_a_higher_incarnation() {
    let n = 12u32;
    let mut sim = cluster(n, Config::lan().with_members(16), NetConfig::default(), 13);
    let all: Vec<u32> = (0..n).collect();
    run_until(&mut sim, 30, |s| s.all_see_alive(&all)).expect("converges");
    sim.crash(4);
    sim.run_for(secs(60));
    assert_eq!(sim.node(0).unwrap().member(&4).unwrap().state, State::Dead);
    sim.restart(4, 0);
    let t = run_until(&mut sim, 60, |s| s.all_see_alive(&all));
    assert!(t.is_some(), "restarted member is alive everywhere again");
    assert!(sim.node(4).unwrap().incarnation() > 0);
}

/// A member that already suspects X (told by someone else) and then fails
/// its own probe of X gossips a suspicion of X from itself: an independent
/// confirmation that shortens everyone's timeout (memberlist's suspectNode).
#[test]
fn own_failed_probe_of_a_suspect_member_is_gossiped_as_a_confirmation() {
    use serf_bench::heap::buffers;
    use serf_bench::rng::SimRng;
    use serf_core::wire::{Decoder, Encoder, Message};
    use serf_core::{Instant, Node};

    let config = Config::lan().with_members(8);
    let mut node = Node::new(
        0u32,
        config.clone(),
        buffers(&config),
        SimRng::new(5),
        Instant::ZERO,
    )
    .unwrap();
    let datagram = |msgs: &[Message<'_, u32>]| {
        let mut buf = [0u8; 1400];
        let mut enc = Encoder::new(&mut buf).unwrap();
        for m in msgs {
            assert!(enc.push(m));
        }
        let n = enc.len();
        buf[..n].to_vec()
    };
    let alive = |node| Message::Alive {
        incarnation: 1,
        node,
        meta: &[],
        protocol: 5,
    };
    node.handle_datagram(Instant::ZERO, 1, &datagram(&[alive(1), alive(2), alive(3)]))
        .unwrap();
    // Member 1 suspects 2.
    let suspect = Message::Suspect {
        incarnation: 1,
        node: 2,
        from: 1,
    };
    node.handle_datagram(Instant::ZERO, 1, &datagram(&[suspect]))
        .unwrap();
    assert_eq!(node.member(&2).unwrap().state, State::Suspect);
    // Nobody answers anything for a few probe rounds: our probe of 2 fails.
    // (The walk reaches 2 within one round of three probes, which Lifeguard
    // slows to 1 + 2 + 3 s as they fail; the suspicion lasts 24 s.)
    let mut own_suspicion_of_2 = false;
    let mut buf = [0u8; 1400];
    let mut now = Instant::ZERO;
    for _ in 0..8000 {
        now = now + Duration::from_millis(1);
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        while let Some(t) = node.poll_transmit(&mut buf) {
            for m in Decoder::<u32>::new(&buf[..t.len], 1400).unwrap().flatten() {
                // (Pings to 2 itself carry our suspicion for it to refute:
                // Lifeguard's buddy system, not a confirmation.)
                if let Message::Suspect {
                    node: 2, from: 0, ..
                } = m
                {
                    own_suspicion_of_2 |= t.to != 2;
                }
            }
        }
    }
    assert!(
        own_suspicion_of_2,
        "our own failed probe of 2 was gossiped as a confirmation"
    );
    assert!(node.stats().probe_failures >= 1);
}

/// Lifeguard counts k = suspicion_mult − 2 = 2 independent confirmations of a
/// suspicion and re-gossips each. Repeats past that change nothing (the slot
/// remembers it, so they cost no lookup of the accuser); once the member
/// refutes, its next suspicion counts confirmations afresh.
#[test]
fn confirmations_stop_at_k_and_count_again_after_a_refutation() {
    use serf_core::wire::{Decoder, Message};
    use serf_tests::{lone_node, packet, TestNode};

    let mut config = Config::lan().with_members(16);
    config.probe_interval = secs(3600);
    let mut node = lone_node(0, &config);
    let mut now = serf_core::Instant::ZERO;
    let alive = |node, incarnation| Message::Alive {
        incarnation,
        node,
        meta: &[],
        protocol: 5,
    };
    let members: Vec<_> = (1..9).map(|i| alive(i, 1)).collect();
    node.handle_datagram(now, 1, &packet(&members)).unwrap();
    // Half a second of gossip ticks; the accusers of member 2 it re-gossiped.
    let gossip = |node: &mut TestNode, now: &mut serf_core::Instant| {
        let end = *now + Duration::from_millis(500);
        let mut buf = [0u8; 1400];
        let mut from_seen = Vec::new();
        while let Some(t) = node.poll_timeout().filter(|t| *t <= end) {
            *now = t;
            node.handle_timeout(t);
            while let Some(tx) = node.poll_transmit(&mut buf) {
                for m in Decoder::<u32>::new(&buf[..tx.len], 1400).unwrap().flatten() {
                    if let Message::Suspect { node: 2, from, .. } = m {
                        from_seen.push(from);
                    }
                }
            }
        }
        *now = end;
        while node.poll_event().is_some() {}
        from_seen.sort();
        from_seen.dedup();
        from_seen
    };
    gossip(&mut node, &mut now);
    let accuse = |node: &mut TestNode, now, incarnation, from| {
        let m = Message::Suspect {
            incarnation,
            node: 2,
            from,
        };
        node.handle_datagram(now, from, &packet(&[m])).unwrap();
    };

    accuse(&mut node, now, 1, 1);
    assert_eq!(node.member(&2).unwrap().state, State::Suspect);
    assert_eq!(gossip(&mut node, &mut now), [1], "the suspicion spreads");
    accuse(&mut node, now, 1, 3);
    assert_eq!(gossip(&mut node, &mut now), [3], "first confirmation");
    accuse(&mut node, now, 1, 4);
    assert_eq!(gossip(&mut node, &mut now), [4], "second confirmation");
    for late in [5, 6, 3] {
        accuse(&mut node, now, 1, late);
        assert_eq!(gossip(&mut node, &mut now), [0u32; 0], "past k: {late}");
    }
    node.audit().expect("consistent");

    node.handle_datagram(now, 2, &packet(&[alive(2, 2)]))
        .unwrap();
    assert_eq!(node.member(&2).unwrap().state, State::Alive);
    gossip(&mut node, &mut now);
    accuse(&mut node, now, 2, 1);
    assert_eq!(gossip(&mut node, &mut now), [1]);
    accuse(&mut node, now, 2, 3);
    assert_eq!(
        gossip(&mut node, &mut now),
        [3],
        "counted again after the refutation"
    );
    node.audit().expect("consistent");
}

/// Told it is alive at the last incarnation there is (a forged or corrupt
/// record: memberlist would wrap to 0 and lose to it for good), a member
/// takes that incarnation and stays there: its own record never goes back.
/// Found by the state-machine fuzzer.
#[test]
fn a_refutation_at_the_last_incarnation_saturates_instead_of_wrapping() {
    use serf_core::wire::Message;
    use serf_tests::{lone_node, packet};

    let mut node = lone_node(1, &Config::lan().with_members(8));
    let t = serf_core::Instant::ZERO;
    let me = Message::Alive {
        incarnation: u32::MAX,
        node: 1,
        meta: &[],
        protocol: 5,
    };
    node.handle_datagram(t, 2, &packet(&[me])).unwrap();
    assert_eq!(node.incarnation(), u32::MAX);
    let accused = Message::Suspect {
        incarnation: u32::MAX,
        node: 1,
        from: 2,
    };
    node.handle_datagram(t, 2, &packet(&[accused])).unwrap();
    assert_eq!(node.incarnation(), u32::MAX);
    node.set_meta(t, b"x").unwrap();
    assert_eq!(node.incarnation(), u32::MAX);
    assert_eq!(node.member(&1).map(|m| m.state), Some(State::Alive));
}
