//! A node's self-check: the invariants its rules keep, checked against its
//! state. O(capacity), so for fuzzing and tests only, never a protocol path.

use crate::identity::Identity;
use crate::node::gossip::BUCKETS;
use crate::node::members::table::{State, EMPTY};
use crate::node::suspicion::Confirmation;
use crate::node::{retransmit_limit_for, Node};
use crate::storage::Store;
use rand_core::RngCore;

/// An invariant that does not hold ([`Node::audit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// More members in the table than its capacity.
    OverCapacity,
    /// The per-state counters disagree with the slots.
    Counts,
    /// A member is not found by its own identity at its own slot.
    Index,
    /// The member table's digest disagrees with its slots.
    Digest,
    /// This node's own record is not alive (nor left, once leaving).
    SelfState,
    /// A broadcast queue's lists are inconsistent.
    Queue(&'static str),
    /// A queued broadcast was sent more times than any transmit limit allows.
    TransmitLimit,
    /// A member's broadcast handle does not name that member's entry.
    BroadcastHandle,
    /// More suspicions running than members, or a member marked settled
    /// whose suspicion still takes confirmations.
    Suspicions,
    /// The catch-up's received ranges are unsorted, overlapping or empty.
    CatchUp,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Checks the node's invariants: tables within capacity and consistent
    /// with their counters and indexes, its own member alive (left once it
    /// leaves), every queued broadcast below its transmit limit.
    ///
    /// Walks every table (O(capacity)): meant for fuzzing and tests.
    ///
    /// ```
    /// # use serf_core::{Buffers, Config, Instant, Node, Provide, Store};
    /// # struct Rng(u64);
    /// # impl rand_core::RngCore for Rng {
    /// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
    /// #     fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
    /// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
    /// # }
    /// # struct Heap;
    /// # impl Store for Heap { type Buf<T: 'static> = Vec<T>; }
    /// # impl Provide<Heap> for Heap {
    /// #     fn provide<T: Clone + 'static>(&mut self, n: usize, fill: T) -> Vec<T> { vec![fill; n] }
    /// # }
    /// let config = Config::lan().with_members(8);
    /// let buffers = Buffers::<u32, Heap>::new(&config, &mut Heap);
    /// let mut node = Node::new(1u32, config, buffers, Rng(1), Instant::ZERO).unwrap();
    /// node.join(Instant::ZERO, 2);
    /// assert_eq!(node.audit(), Ok(()));
    /// ```
    pub fn audit(&self) -> Result<(), Violation> {
        self.members.audit()?;
        let own = self.members.slot(self.my_slot).state();
        let own_ok = match own {
            Some(State::Alive) => true,
            Some(State::Left) => self.leaving,
            _ => false,
        };
        if !own_ok || self.members.find(&self.me) != Some(self.my_slot) {
            return Err(Violation::SelfState);
        }
        // The limit only grows with the cluster, and the cluster is at most
        // the table: no entry may have been sent that often.
        let capacity = self.config.capacity.members as u32;
        let most = retransmit_limit_for(&self.config, capacity).clamp(1, BUCKETS as u32 - 1);
        self.broadcasts.audit(most)?;
        self.user.queue.audit(most)?;
        let settled_but_open = self.members.iter().any(|(s, slot)| {
            slot.settled()
                && (slot.state() != Some(State::Suspect)
                    || self.suspicions.confirmation(s, EMPTY) != Confirmation::Closed)
        });
        if settled_but_open || self.suspicions.len() > self.config.capacity.members {
            return Err(Violation::Suspicions);
        }
        self.catch_up.audit()
    }
}
