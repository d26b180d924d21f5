//! Push-pull anti-entropy at scale: a node joining a 10,000-member cluster
//! learns all of it through MTU-sized datagrams, with no unbounded buffer.

use serf_core::wire::{Encoder, Message};
use serf_core::{Config, Instant, MemberState, State};
use serf_tests::lone_node;

#[test]
fn joining_a_ten_thousand_member_cluster_learns_all_of_it() {
    const MEMBERS: u32 = 10_000;
    // The seed (id 0) knows 10,000 members (itself, 9,990 alive, 5 dead, 4 left).
    let mut seed = lone_node(0, &Config::lan().with_members(10_016));
    let mut buf = [0u8; 1400];
    let mut id = 1;
    while id < MEMBERS {
        let mut enc = Encoder::new(&mut buf).unwrap();
        while id < MEMBERS
            && enc.push::<u32>(&Message::Alive {
                incarnation: 3,
                node: id,
                meta: &[],
                protocol: 5,
            })
        {
            id += 1;
        }
        let n = enc.len();
        seed.handle_datagram(Instant::ZERO, 1, &buf[..n]).unwrap();
    }
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
