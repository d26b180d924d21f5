//! Push-pull anti-entropy at scale: a node joining a 10,000-member cluster
//! learns all of it through MTU-sized datagrams, with no unbounded buffer,
//! a joiner whose answer loses chunks asks for them again, and a periodic
//! push-pull trades digests and sends only the buckets that differ.

use std::time::Duration;

use serf_bench::sim::{sim_config, tell_alive, NetConfig, Sim};
use serf_core::wire::{starts_state_exchange, Encoder, Message};
use serf_core::{Config, Instant, MemberState, State};
use serf_tests::{drain, lone_node, secs, TestNode, MTU};

#[test]
fn joining_a_ten_thousand_member_cluster_learns_all_of_it() {
    const MEMBERS: u32 = 10_000;
    // The seed (id 0) knows 10,000 members (itself, 9,990 alive, 5 dead, 4 left).
    let mut seed = lone_node(0, &Config::lan().with_members(10_016));
    tell_alive(&mut seed, 1..MEMBERS, 3, |_| 5, 1);
    let mut buf = [0u8; 1400];
    for dead in 1..=5u32 {
        let mut enc = Encoder::new(&mut buf).unwrap();
        enc.push::<u32>(&Message::Dead {
            incarnation: 3,
            node: dead,
            from: 0,
        });
        let n = enc.len();
        seed.handle_datagram(Instant::ZERO, 9, &buf[..n]).unwrap();
    }
    for left in 6..=9u32 {
        let mut enc = Encoder::new(&mut buf).unwrap();
        enc.push::<u32>(&Message::Dead {
            incarnation: 3,
            node: left,
            from: left,
        });
        let n = enc.len();
        seed.handle_datagram(Instant::ZERO, 9, &buf[..n]).unwrap();
    }
    while seed.poll_transmit(&mut buf).is_some() {}
    while seed.poll_event().is_some() {}
    assert_eq!(seed.counts().total(), MEMBERS);

    // The joiner contacts the seed; datagrams are shuttled by hand.
    let joiner_id = 50_000;
    let mut joiner = lone_node(joiner_id, &Config::lan().with_members(10_016));
    // It already knows two members, alive at an older incarnation.
    let mut enc = Encoder::new(&mut buf).unwrap();
    enc.push::<u32>(&Message::Alive {
        incarnation: 2,
        node: 3,
        meta: &[],
        protocol: 5,
    });
    enc.push::<u32>(&Message::Alive {
        incarnation: 2,
        node: 7,
        meta: &[],
        protocol: 5,
    });
    let n = enc.len();
    joiner.handle_datagram(Instant::ZERO, 3, &buf[..n]).unwrap();
    joiner.join(Instant::ZERO, 0);
    let (mut to_seed, mut to_joiner, mut largest) = (0usize, 0usize, 0usize);
    for _ in 0..10 {
        let mut moved = false;
        while let Some(t) = joiner.poll_transmit(&mut buf) {
            largest = largest.max(t.len);
            if t.to == 0 {
                seed.handle_datagram(Instant::ZERO, joiner_id, &buf[..t.len])
                    .unwrap();
                to_seed += 1;
                moved = true;
            }
        }
        while let Some(t) = seed.poll_transmit(&mut buf) {
            largest = largest.max(t.len);
            if t.to == joiner_id {
                joiner
                    .handle_datagram(Instant::ZERO, 0, &buf[..t.len])
                    .unwrap();
                to_joiner += 1;
                moved = true;
            }
        }
        while joiner.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
    println!("push-pull of 10,000 members: {to_joiner} datagrams to the joiner, {to_seed} to the seed, largest {largest} B");
    // Every live member arrives; like memberlist, dead or left strangers are
    // not imported.
    let c = joiner.counts();
    assert_eq!(c.alive, 1 + (MEMBERS - 10) + 1, "{c:?}");
    assert!(largest <= 1400);
    // Each state costs at least 4 bytes, so 10,000 cannot fit fewer than 29 datagrams.
    assert!(
        to_joiner >= 29,
        "state really travelled in many MTU-sized chunks"
    );
    // A known member reported dead becomes suspect (verified locally); one
    // reported left is left; strangers in those states stay unknown.
    assert_eq!(
        joiner.member(&3),
        Some(MemberState {
            state: State::Suspect,
            incarnation: 3
        })
    );
    assert_eq!(
        joiner.member(&7),
        Some(MemberState {
            state: State::Left,
            incarnation: 3
        })
    );
    assert_eq!(joiner.member(&4), None);
    assert_eq!(
        joiner.member(&9_999),
        Some(MemberState {
            state: State::Alive,
            incarnation: 3
        })
    );
    assert_eq!(seed.member(&joiner_id).map(|m| m.state), Some(State::Alive));
}

/// A seed that knows `members` members (ids `1..members`, alive), and its
/// join config: periodic push-pull an hour away, so only the join's own
/// exchange (and its catch-up) can teach the joiner anything.
fn seed_of(members: u32) -> (TestNode, Config) {
    let mut config = Config::lan().with_members(members as usize + 16);
    config.push_pull_interval = secs(3600);
    let mut seed = lone_node(0, &config);
    tell_alive(&mut seed, 1..members, 1, |_| 5, 1);
    drain(&mut seed);
    (seed, config)
}

#[test]
fn a_joiner_recovers_every_tenth_lost_chunk_without_waiting_for_the_next_push_pull() {
    const MEMBERS: u32 = 10_000;
    let (mut seed, config) = seed_of(MEMBERS);
    let joiner_id = 90_000;
    let mut joiner = lone_node(joiner_id, &config);
    joiner.join(Instant::ZERO, 0);
    let mut buf = [0u8; MTU];
    let (mut chunks, mut dropped) = (0u32, 0u32);
    let mut incomplete_after_first_burst = None;
    let mut now = Instant::ZERO;
    // 100 ms steps; everything sent in a step arrives within it.
    for step in 0..100 {
        while let Some(t) = joiner.poll_transmit(&mut buf) {
            if t.to == 0 {
                let _ = seed.handle_datagram(now, joiner_id, &buf[..t.len]);
            }
        }
        while let Some(t) = seed.poll_transmit(&mut buf) {
            if t.to != joiner_id {
                continue;
            }
            if starts_state_exchange(&buf[..t.len]) {
                chunks += 1;
                // One chunk in ten is lost, the first one among them.
                if chunks % 10 == 1 {
                    dropped += 1;
                    continue;
                }
            }
            let _ = joiner.handle_datagram(now, 0, &buf[..t.len]);
        }
        while joiner.poll_event().is_some() {}
        while seed.poll_event().is_some() {}
        if step == 1 {
            incomplete_after_first_burst = Some(joiner.counts().alive);
        }
        if joiner.counts().alive == MEMBERS + 1 {
            break;
        }
        now = now + Duration::from_millis(100);
        joiner.handle_timeout(now);
        seed.handle_timeout(now);
    }
    let waited = now.saturating_since(Instant::ZERO);
    let stats = joiner.stats();
    println!(
        "{MEMBERS} members: {chunks} chunks sent, {dropped} dropped, full view after {waited:?}, \
         {} catch-up rounds, {} rejoins",
        stats.catch_up_rounds, stats.catch_up_rejoins
    );
    assert!(
        incomplete_after_first_burst.is_some_and(|alive| alive < MEMBERS + 1),
        "the drops left holes in the first answer"
    );
    assert_eq!(
        joiner.counts().alive,
        MEMBERS + 1,
        "the whole cluster and the joiner"
    );
    assert!(dropped >= 3 && stats.catch_up_rounds >= 1);
    assert!(waited < config.push_pull_interval);
    assert_eq!(joiner.audit(), Ok(()));
}

#[test]
fn a_lost_join_request_is_sent_again() {
    let (mut seed, config) = seed_of(50);
    let mut joiner = lone_node(90_000, &config);
    joiner.join(Instant::ZERO, 0);
    // The request is lost on the way.
    drain(&mut joiner);
    let mut buf = [0u8; MTU];
    let mut now = Instant::ZERO;
    for _ in 0..20 {
        now = now + Duration::from_millis(100);
        joiner.handle_timeout(now);
        while let Some(t) = joiner.poll_transmit(&mut buf) {
            if t.to == 0 {
                let _ = seed.handle_datagram(now, 90_000, &buf[..t.len]);
            }
        }
        while let Some(t) = seed.poll_transmit(&mut buf) {
            if t.to == 90_000 {
                let _ = joiner.handle_datagram(now, 0, &buf[..t.len]);
            }
        }
    }
    assert_eq!(joiner.stats().catch_up_rejoins, 1);
    // Its probes of others go nowhere here, so some may be suspect by now.
    assert_eq!(
        joiner.counts().total(),
        51,
        "every member of the seed's view"
    );
    assert_eq!(seed.member(&90_000).map(|m| m.state), Some(State::Alive));
}

#[test]
fn restarted_members_rejoin_a_warm_cluster_whole_while_one_state_datagram_in_ten_is_lost() {
    const MEMBERS: u32 = 1_000;
    let mut config = sim_config(Config::lan(), MEMBERS);
    config.push_pull_interval = secs(3600);
    let mut sim = Sim::warm(config, NetConfig::default(), MEMBERS, 11);
    sim.set_state_loss(0.1);
    sim.run_for(secs(2));
    let lost_before = sim.totals().lost;
    let (mut slowest, mut rounds) = (0u64, 0u64);
    for id in (7..MEMBERS).step_by(100) {
        sim.crash(id);
        sim.run_for(secs(1));
        sim.restart(id, 0);
        let took = (1..=50u64).find(|_| {
            sim.run_for(Duration::from_millis(100));
            sim.live_view(id).len() == MEMBERS as usize
        });
        let Some(took) = took else {
            panic!("member {id} lacks part of the view 5 s after rejoining (next push-pull: an hour away)");
        };
        slowest = slowest.max(took * 100);
        rounds += sim.node(id).map_or(0, |n| n.stats().catch_up_rounds);
    }
    let lost = sim.totals().lost - lost_before;
    println!("10 rejoins of {MEMBERS}: slowest full view after {slowest} ms; {lost} datagrams lost (those to crashed members too); {rounds} catch-up rounds");
    assert!(lost >= 3 && rounds >= 1, "the loss hit some answers");
}

/// Two members that agree on 2,000 others but for two: `a` knows member
/// 9,000, which `b` does not, and `b` holds member 7 at a newer incarnation.
/// Probing is off, so nothing but the periodic push-pull can change their
/// views. Runs `a`'s timers for `seconds` and shuttles every state-exchange
/// datagram between the two (whatever member `a` addressed it to); returns
/// the two nodes and the `State` messages each sent.
fn periodic_exchange(digest: bool, seconds: u64) -> (TestNode, TestNode, [usize; 2]) {
    let mut config = Config::lan().with_members(4096);
    config.probe_interval = secs(3600);
    config.push_pull_interval = secs(1);
    config.push_pull_digest = digest;
    let (mut a, mut b) = (lone_node(1, &config), lone_node(2, &config));
    for n in [&mut a, &mut b] {
        tell_alive(n, 1..2001, 3, |_| 5, 1);
    }
    tell_alive(&mut a, 9000..9001, 3, |_| 5, 1);
    tell_alive(&mut b, 7..8, 4, |_| 5, 1);
    drain(&mut a);
    drain(&mut b);
    let mut buf = [0u8; MTU];
    let mut states = [0usize; 2];
    let mut now = Instant::ZERO;
    let end = Instant::ZERO + secs(seconds);
    while now < end {
        now = a.poll_timeout().unwrap_or(end).min(end);
        a.handle_timeout(now);
        // Shuttle until both fall quiet.
        loop {
            let mut moved = false;
            for (from, i) in [(1u32, 0usize), (2, 1)] {
                let (src, dst) = if i == 0 {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                while let Some(t) = src.poll_transmit(&mut buf) {
                    let d = &buf[..t.len];
                    if !starts_state_exchange(d) {
                        continue;
                    }
                    moved = true;
                    states[i] += serf_core::wire::Decoder::<u32>::new(d, MTU)
                        .expect("our own datagram")
                        .filter(|m| matches!(m, Ok(Message::State { .. })))
                        .count();
                    dst.handle_datagram(now, from, d).expect("our own datagram");
                }
            }
            if !moved {
                break;
            }
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
    }
    (a, b, states)
}

#[test]
fn a_periodic_push_pull_by_digest_sends_only_the_buckets_that_differ() {
    // 2,001 members: the push-pull period scales to 7 × 1 s.
    let (a, b, digest) = periodic_exchange(true, 10);
    for n in [&a, &b] {
        assert_eq!(n.member(&9000).map(|m| m.state), Some(State::Alive));
        assert_eq!(n.member(&7).map(|m| m.incarnation), Some(4));
    }
    let (_, _, full) = periodic_exchange(false, 10);
    eprintln!("states sent a→b, b→a: by digest {digest:?}, full {full:?}");
    // Four of the 128 buckets differ (the two members above, and each
    // node's own record, which it refuted to a higher incarnation when told
    // of itself): about 4 × 2,001 / 128 = 63 members each way.
    assert!(
        digest[0] > 0 && digest[1] > 0,
        "both sides sent their buckets"
    );
    assert!(digest[0] < 150 && digest[1] < 150, "{digest:?}");
    assert!(full[0] > 2000 && full[1] > 2000, "{full:?}");

    // Agreeing now, the next exchange sends no state at all.
    let (_, _, twice) = periodic_exchange(true, 16);
    assert_eq!(twice, digest, "the second exchange sent nothing");
}
