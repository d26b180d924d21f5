//! Name conflicts: a second node claiming a taken name at another address is
//! ignored by the cluster, and resolves the conflict against itself by
//! Serf's majority rule (`_serf_conflict` query).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_core::{mix64, Config, EventKind, Identity, Instant, Node};

/// An identity with a name and an address, like the agent's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Named {
    name: u8,
    addr: u32,
}

impl Identity for Named {
    type Addr = u32;
    fn addr(&self) -> u32 {
        self.addr
    }
    fn hash_with(&self, seed: u64) -> u64 {
        mix64(((self.name as u64) << 32 | self.addr as u64) ^ seed)
    }
    fn name_hash(&self, seed: u64) -> u64 {
        mix64(self.name as u64 ^ seed)
    }
    fn same_name(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

type N = Node<Named, Heap, SimRng>;

struct Net {
    nodes: Vec<Option<N>>, // indexed by address
    wire: VecDeque<(u32, u32, Vec<u8>)>,
    events: Vec<(u32, EventKind, Named)>,
    now: Instant,
}

impl Net {
    /// Members 1..=4 (name = address) joined through 2 and settled for 10 s.
    fn settled_four() -> Net {
        let mut net = Net {
            nodes: (0..6).map(|_| None).collect(),
            wire: VecDeque::new(),
            events: Vec::new(),
            now: Instant::ZERO,
        };
        for (name, addr) in [(1, 1), (2, 2), (3, 3), (4, 4)] {
            net.start(name, addr);
        }
        for addr in [1, 3, 4] {
            net.join(addr, 2);
        }
        net.run(10_000);
        net
    }

    fn start(&mut self, name: u8, addr: u32) {
        let config = Config::local().with_members(16);
        let id = Named { name, addr };
        self.nodes[addr as usize] = Some(
            Node::new(
                id,
                config.clone(),
                buffers(&config),
                SimRng::new(addr as u64),
                self.now,
            )
            .unwrap(),
        );
    }
    fn run(&mut self, ms: u64) {
        let mut buf = [0u8; 1400];
        for _ in 0..ms / 5 {
            self.now = self.now + std::time::Duration::from_millis(5);
            for _ in 0..self.wire.len() {
                let (from, to, d) = self.wire.pop_front().unwrap();
                if let Some(n) = self.nodes[to as usize].as_mut() {
                    let _ = n.handle_datagram(self.now, from, &d);
                }
            }
            for (addr, slot) in self.nodes.iter_mut().enumerate() {
                let Some(n) = slot.as_mut() else { continue };
                if n.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.handle_timeout(self.now);
                }
                while let Some(t) = n.poll_transmit(&mut buf) {
                    self.wire
                        .push_back((addr as u32, t.to, buf[..t.len].to_vec()));
                }
                while let Some(e) = n.poll_event() {
                    self.events.push((addr as u32, e.kind, e.member));
                }
                while n.poll_delivery(&mut vec![0u8; 70_000]).is_some() {}
            }
        }
    }
    fn join(&mut self, addr: u32, seed: u32) {
        let now = self.now;
        self.nodes[addr as usize].as_mut().unwrap().join(now, seed);
    }
}

#[test]
fn impostor_with_a_taken_name_is_ignored_and_loses_the_majority_vote() {
    let mut net = Net::settled_four();
    for addr in 1..=4 {
        assert_eq!(
            net.nodes[addr].as_ref().unwrap().counts().alive,
            4,
            "node {addr}"
        );
    }
    // The impostor takes node 1's name at address 5 and joins through 3.
    net.start(1, 5);
    net.join(5, 3);
    net.run(20_000);
    let lost: Vec<_> = net
        .events
        .iter()
        .filter(|e| e.1 == EventKind::ConflictLost)
        .collect();
    assert_eq!(
        lost.len(),
        1,
        "{:?}",
        net.events
            .iter()
            .filter(|e| e.1 != EventKind::Joined)
            .collect::<Vec<_>>()
    );
    assert_eq!(lost[0].0, 5, "the impostor lost");
    assert!(
        net.events
            .iter()
            .all(|e| !(e.0 == 1 && e.1 == EventKind::ConflictLost)),
        "the original keeps its name"
    );
    for addr in 2..=4u32 {
        let n = net.nodes[addr as usize].as_ref().unwrap();
        assert!(
            n.member(&Named { name: 1, addr: 1 }).is_some(),
            "node {addr} keeps the original"
        );
        assert!(
            n.member(&Named { name: 1, addr: 5 }).is_none(),
            "node {addr} never admitted the impostor"
        );
    }
    assert!(
        net.events.iter().any(|e| e.1 == EventKind::NameConflict),
        "the conflict was reported"
    );
    assert!(net.nodes[5].as_ref().unwrap().conflict_lost());
    assert!(!net.nodes[1].as_ref().unwrap().conflict_lost());
}

#[test]
fn original_wins_when_the_impostor_contacts_it_directly() {
    let mut net = Net::settled_four();
    net.start(1, 5);
    net.join(5, 1); // straight to the node whose name it took
    net.run(20_000);
    let won: Vec<_> = net
        .events
        .iter()
        .filter(|e| e.1 == EventKind::ConflictWon)
        .map(|e| e.0)
        .collect();
    let lost: Vec<_> = net
        .events
        .iter()
        .filter(|e| e.1 == EventKind::ConflictLost)
        .map(|e| e.0)
        .collect();
    assert_eq!(
        won,
        vec![1],
        "the original asked the cluster and kept its name"
    );
    assert_eq!(lost, vec![5]);
}
