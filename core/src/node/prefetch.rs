//! Addresses a caller may prefetch before it hands the node its next input:
//! what that input's handling will read first. Nothing here changes the
//! node; a caller driving many nodes on one thread (a simulator) overlaps
//! the cache misses of several nodes instead of taking them one by one.

use crate::config::Wire;
use crate::identity::Identity;
use crate::node::Node;
use crate::storage::Store;
use crate::wire::{Decoder, Message};
use rand_core::RngCore;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Calls `at` with the address of each member-table entry that handling
    /// `datagram` will look up first (for its alive, suspect and dead
    /// messages): the index buckets their lookups probe (the first and last
    /// of a line's worth), or with `slots` the slots those buckets name for
    /// them (reading the buckets). Changes nothing. A simulator prefetches
    /// them a few datagrams ahead. Framed (labelled or encrypted) datagrams
    /// and HashiCorp's wire are not read.
    ///
    /// ```
    /// # use serf_core::{Buffers, Config, Instant, Node, Provide, Store};
    /// # use serf_core::wire::{Encoder, Message};
    /// # struct Heap;
    /// # impl Store for Heap { type Buf<T: 'static> = Vec<T>; }
    /// # impl Provide<Heap> for Heap {
    /// #     fn provide<T: Clone + 'static>(&mut self, n: usize, v: T) -> Vec<T> { vec![v; n] }
    /// # }
    /// # struct Rng(u64);
    /// # impl serf_core::rand_core::RngCore for Rng {
    /// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
    /// #     fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
    /// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
    /// # }
    /// let config = Config::lan().with_members(16);
    /// let buffers = Buffers::new(&config, &mut Heap);
    /// let mut node = Node::new(1u32, config, buffers, Rng(7), Instant::ZERO).unwrap();
    /// let mut buf = [0u8; 64];
    /// let mut enc = Encoder::new(&mut buf).unwrap();
    /// enc.push::<u32>(&Message::Suspect { incarnation: 0, node: 2, from: 3 });
    /// let len = enc.len();
    /// let mut buckets = 0;
    /// node.lookup_addresses(&buf[..len], false, |_| buckets += 1);
    /// assert!((1..=2).contains(&buckets), "one message: its index buckets");
    /// let mut slots = 0;
    /// node.lookup_addresses(&buf[..len], true, |_| slots += 1);
    /// assert!(slots <= 1, "a slot only where the bucket names one");
    /// ```
    pub fn lookup_addresses(&self, datagram: &[u8], slots: bool, mut at: impl FnMut(*const u8)) {
        if self.config.wire == Wire::HashiCorp
            || self.config.label.is_some()
            || !self.keyring.is_empty()
        {
            return;
        }
        let Ok(decoder) = Decoder::<I>::new(datagram, self.config.mtu) else {
            return;
        };
        for m in decoder {
            let id = match &m {
                Ok(Message::Alive { node, .. })
                | Ok(Message::Suspect { node, .. })
                | Ok(Message::Dead { node, .. }) => node,
                Ok(_) => continue,
                Err(_) => break,
            };
            self.members.lookup_address(id, slots, &mut at);
        }
    }

    /// Calls `at` with the address of each part of the node itself that
    /// every wake-up and every datagram reads first: its timers, probe,
    /// suspicion and relay tables, broadcast and output queues, counters,
    /// config, keyring (is there a key?), catch-up and own identity.
    /// Changes nothing. A simulator prefetches them for the events it will
    /// run next; the node is several kilobytes, and its parts are cold each
    /// time one of many thousand nodes runs.
    ///
    /// ```
    /// # use serf_core::{Buffers, Config, Instant, Node, Provide, Store};
    /// # struct Heap;
    /// # impl Store for Heap { type Buf<T: 'static> = Vec<T>; }
    /// # impl Provide<Heap> for Heap {
    /// #     fn provide<T: Clone + 'static>(&mut self, n: usize, v: T) -> Vec<T> { vec![v; n] }
    /// # }
    /// # struct Rng(u64);
    /// # impl serf_core::rand_core::RngCore for Rng {
    /// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
    /// #     fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
    /// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
    /// # }
    /// let config = Config::lan().with_members(16);
    /// let buffers = Buffers::new(&config, &mut Heap);
    /// let node = Node::new(1u32, config, buffers, Rng(7), Instant::ZERO).unwrap();
    /// let (start, end) = (&node as *const _ as usize, &node as *const _ as usize + core::mem::size_of_val(&node));
    /// let mut parts = 0;
    /// node.hot_addresses(|a| {
    ///     assert!((start..end).contains(&(a as usize)), "inside the node");
    ///     parts += 1;
    /// });
    /// assert!(parts > 0);
    /// ```
    pub fn hot_addresses(&self, mut at: impl FnMut(*const u8)) {
        fn addr<T>(part: &T) -> *const u8 {
            (part as *const T).cast()
        }
        for a in [
            addr(&self.timers),
            addr(&self.probe),
            addr(&self.suspicions),
            addr(&self.relays),
            addr(&self.members),
            addr(&self.broadcasts),
            addr(&self.user),
            addr(&self.transmits),
            addr(&self.events),
            addr(&self.awareness),
            addr(&self.stats),
            addr(&self.config),
            addr(&self.keyring),
            addr(&self.inbox),
            addr(&self.catch_up),
            addr(&self.me),
        ] {
            at(a);
        }
    }
}
