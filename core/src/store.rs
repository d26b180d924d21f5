//! Where the core's memory comes from.
//!
//! The core never allocates. Every table lives in a buffer the caller provides:
//! a borrowed slice (`&mut [T]`, e.g. a `static` or a stack array in a sidecar),
//! or an owned boxed slice in a std runtime. [`Store`] names the buffer type;
//! [`Buffers`] bundles one buffer per table, sized by [`Sizes::for_config`].

use core::marker::PhantomData;
use core::ops::DerefMut;

use crate::broadcast::Entry;
use crate::config::Config;
use crate::coordinates::CacheEntry;
use crate::event::Event;
use crate::events::EventSlot;
use crate::identity::Identity;
use crate::intent::Pending;
use crate::member::{index_len, Slot};
use crate::node::{Relay, Transmission};
use crate::query::{Incoming, Outgoing, Reassembly};
use crate::suspicion::Suspicion;

/// A family of slice-like buffers.
///
/// ```
/// use serf_core::store::{Borrowed, Store};
/// fn takes<S: Store>(b: S::Buf<u32>) -> usize { b.len() }
/// let mut a = [0u32; 4];
/// assert_eq!(takes::<Borrowed<'_>>(&mut a[..]), 4);
/// ```
pub trait Store {
    /// A buffer of `T`.
    type Buf<T: 'static>: DerefMut<Target = [T]>;
}

/// Buffers borrowed from the caller for `'a`.
pub struct Borrowed<'a>(PhantomData<&'a mut ()>);

impl<'a> Store for Borrowed<'a> {
    type Buf<T: 'static> = &'a mut [T];
}

/// Buffer lengths a [`Config`] needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Member slots.
    pub slots: usize,
    /// Member index buckets.
    pub index: usize,
    /// Probe order entries.
    pub order: usize,
    /// Membership broadcast entries.
    pub broadcasts: usize,
    /// Membership broadcast handles (one per member slot).
    pub broadcast_handles: usize,
    /// User broadcast entries.
    pub user_broadcasts: usize,
    /// User broadcast payload bytes.
    pub user_arena: usize,
    /// Suspicion records.
    pub suspicions: usize,
    /// Suspicion map buckets.
    pub suspicion_map: usize,
    /// Queued transmissions.
    pub transmits: usize,
    /// Queued events.
    pub events: usize,
    /// Relayed indirect probes.
    pub relays: usize,
    /// Received user payload bytes.
    pub inbox: usize,
    /// Received user payload lengths.
    pub inbox_lens: usize,
    /// Cached coordinates of other members.
    pub coordinates: usize,
    /// Coordinate cache map buckets.
    pub coordinate_map: usize,
    /// Tag bytes (members × per-member limit).
    pub meta: usize,
    /// Tag lengths (one per member).
    pub meta_lens: usize,
    /// Recent user-event records.
    pub event_ring: usize,
    /// Recent query records.
    pub query_ring: usize,
    /// Received queries.
    pub incoming: usize,
    /// Sent queries.
    pub outgoing: usize,
    /// Seen-responder set buckets.
    pub query_seen: usize,
    /// Reassembly records.
    pub reassembly: usize,
    /// Reassembly bytes.
    pub reassembly_bytes: usize,
    /// Outbox bytes.
    pub outbox: usize,
    /// Outbox lengths.
    pub outbox_lens: usize,
    /// Intent status words (one per member).
    pub intent_status: usize,
    /// Buffered intents about unknown members.
    pub pending_intents: usize,
    /// Decryption scratch (one MTU).
    pub scratch: usize,
    /// Recent user events kept for joiners that replay (slots × slot length).
    pub replay: usize,
}

impl Sizes {
    /// The lengths every buffer must have for `config`.
    pub fn for_config(config: &Config) -> Sizes {
        let c = &config.capacity;
        Sizes {
            slots: c.members,
            index: index_len(c.members),
            order: c.members,
            broadcasts: c.broadcasts,
            broadcast_handles: c.members,
            user_broadcasts: c.user_broadcasts,
            user_arena: c.user_broadcasts * c.user_payload,
            suspicions: c.suspicions,
            suspicion_map: c.suspicions * 2,
            transmits: c.transmits,
            events: c.events,
            relays: c.relays,
            inbox: c.user_broadcasts * c.user_payload,
            inbox_lens: c.user_broadcasts,
            coordinates: c.coordinates,
            coordinate_map: c.coordinates * 2,
            meta: c.members * c.meta,
            meta_lens: c.members,
            event_ring: c.event_ring,
            query_ring: c.query_ring,
            incoming: c.incoming_queries,
            outgoing: c.outgoing_queries,
            query_seen: c.query_seen,
            reassembly: c.reassembly_slots,
            reassembly_bytes: c.reassembly_slots * c.reassembly_bytes,
            outbox: c.outbox * config.mtu,
            outbox_lens: c.outbox,
            intent_status: c.members,
            pending_intents: c.pending_intents,
            scratch: config.mtu,
            replay: c.replay_events * crate::replay::slot_len(config.user_event_size_limit),
        }
    }

    /// Total bytes for identity type `I`.
    pub fn bytes<I: Identity>(&self) -> usize {
        use core::mem::size_of;
        self.slots * size_of::<Slot<I>>()
            + (self.index + self.order) * 4
            + (self.broadcasts + self.user_broadcasts) * size_of::<Entry>()
            + self.broadcast_handles * 2
            + self.suspicion_map * 8
            + self.user_arena
            + self.suspicions * size_of::<Suspicion>()
            + self.transmits * size_of::<Option<Transmission<I>>>()
            + self.events * size_of::<Option<Event<I>>>()
            + self.relays * size_of::<Option<Relay<I>>>()
            + self.inbox
            + self.inbox_lens * 2
            + self.coordinates * size_of::<CacheEntry>()
            + self.coordinate_map * 8
            + self.meta
            + self.meta_lens * 2
            + (self.event_ring + self.query_ring) * size_of::<EventSlot>()
            + self.incoming * size_of::<Incoming<I>>()
            + self.outgoing * size_of::<Outgoing>()
            + self.query_seen * 8
            + self.reassembly * size_of::<Reassembly<I>>()
            + self.reassembly_bytes
            + self.outbox
            + self.outbox_lens * 2
            + self.intent_status * 8
            + self.pending_intents * size_of::<Pending<I>>()
            + self.scratch
            + self.replay
    }
}

/// One buffer per table. Fields are public so a caller can build them from
/// arrays; [`crate::Node::new`] checks every length against [`Sizes`].
pub struct Buffers<I: Identity, S: Store> {
    /// Member slots.
    pub slots: S::Buf<Slot<I>>,
    /// Member index.
    pub index: S::Buf<u32>,
    /// Probe order.
    pub order: S::Buf<u32>,
    /// Membership broadcasts.
    pub broadcasts: S::Buf<Entry>,
    /// Membership broadcast handle per member slot.
    pub broadcast_handles: S::Buf<u16>,
    /// User broadcasts.
    pub user_broadcasts: S::Buf<Entry>,
    /// User broadcast payloads.
    pub user_arena: S::Buf<u8>,
    /// Suspicions.
    pub suspicions: S::Buf<Suspicion>,
    /// Suspicion map.
    pub suspicion_map: S::Buf<u64>,
    /// Outbound queue.
    pub transmits: S::Buf<Option<Transmission<I>>>,
    /// Event queue.
    pub events: S::Buf<Option<Event<I>>>,
    /// Indirect probes relayed for others.
    pub relays: S::Buf<Option<Relay<I>>>,
    /// Received user payloads.
    pub inbox: S::Buf<u8>,
    /// Their lengths.
    pub inbox_lens: S::Buf<u16>,
    /// Cached coordinates of other members.
    pub coordinates: S::Buf<CacheEntry>,
    /// Coordinate cache map.
    pub coordinate_map: S::Buf<u64>,
    /// Tag bytes.
    pub meta: S::Buf<u8>,
    /// Tag lengths.
    pub meta_lens: S::Buf<u16>,
    /// Recent user-event records.
    pub event_ring: S::Buf<EventSlot>,
    /// Recent query records.
    pub query_ring: S::Buf<EventSlot>,
    /// Received queries.
    pub incoming: S::Buf<Incoming<I>>,
    /// Sent queries.
    pub outgoing: S::Buf<Outgoing>,
    /// Seen-responder set.
    pub query_seen: S::Buf<u64>,
    /// Reassembly records.
    pub reassembly: S::Buf<Reassembly<I>>,
    /// Reassembly bytes.
    pub reassembly_bytes: S::Buf<u8>,
    /// Outbox bytes.
    pub outbox: S::Buf<u8>,
    /// Outbox lengths.
    pub outbox_lens: S::Buf<u16>,
    /// Intent status words.
    pub intent_status: S::Buf<u64>,
    /// Buffered intents.
    pub pending_intents: S::Buf<Pending<I>>,
    /// Decryption scratch.
    pub scratch: S::Buf<u8>,
    /// Recent user events for replay.
    pub replay: S::Buf<u8>,
}

/// Makes buffers for a [`Store`] (a std runtime implements this with boxed slices).
pub trait Provide<S: Store> {
    /// A buffer of `len` copies of `fill`.
    fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> S::Buf<T>;
}

impl<I: Identity, S: Store> Buffers<I, S> {
    /// Buffers sized for `config`, made by `p`.
    pub fn new(config: &Config, p: &mut impl Provide<S>) -> Self {
        let z = Sizes::for_config(config);
        Buffers {
            slots: p.provide(z.slots, Slot::default()),
            index: p.provide(z.index, 0),
            order: p.provide(z.order, 0),
            broadcasts: p.provide(z.broadcasts, Entry::default()),
            broadcast_handles: p.provide(z.broadcast_handles, 0),
            user_broadcasts: p.provide(z.user_broadcasts, Entry::default()),
            user_arena: p.provide(z.user_arena, 0),
            suspicions: p.provide(z.suspicions, Suspicion::default()),
            suspicion_map: p.provide(z.suspicion_map, 0),
            transmits: p.provide(z.transmits, None),
            events: p.provide(z.events, None),
            relays: p.provide(z.relays, None),
            inbox: p.provide(z.inbox, 0),
            inbox_lens: p.provide(z.inbox_lens, 0),
            coordinates: p.provide(z.coordinates, CacheEntry::default()),
            coordinate_map: p.provide(z.coordinate_map, 0),
            meta: p.provide(z.meta, 0),
            meta_lens: p.provide(z.meta_lens, 0),
            event_ring: p.provide(z.event_ring, EventSlot::default()),
            query_ring: p.provide(z.query_ring, EventSlot::default()),
            incoming: p.provide(z.incoming, Incoming::default()),
            outgoing: p.provide(z.outgoing, Outgoing::default()),
            query_seen: p.provide(z.query_seen, 0),
            reassembly: p.provide(z.reassembly, Reassembly::default()),
            reassembly_bytes: p.provide(z.reassembly_bytes, 0),
            outbox: p.provide(z.outbox, 0),
            outbox_lens: p.provide(z.outbox_lens, 0),
            intent_status: p.provide(z.intent_status, 0),
            pending_intents: p.provide(z.pending_intents, Pending::default()),
            scratch: p.provide(z.scratch, 0),
            replay: p.provide(z.replay, 0),
        }
    }

    /// The lengths these buffers actually have.
    pub fn sizes(&self) -> Sizes {
        Sizes {
            slots: self.slots.len(),
            index: self.index.len(),
            order: self.order.len(),
            broadcasts: self.broadcasts.len(),
            broadcast_handles: self.broadcast_handles.len(),
            user_broadcasts: self.user_broadcasts.len(),
            user_arena: self.user_arena.len(),
            suspicions: self.suspicions.len(),
            suspicion_map: self.suspicion_map.len(),
            transmits: self.transmits.len(),
            events: self.events.len(),
            relays: self.relays.len(),
            inbox: self.inbox.len(),
            inbox_lens: self.inbox_lens.len(),
            coordinates: self.coordinates.len(),
            coordinate_map: self.coordinate_map.len(),
            meta: self.meta.len(),
            meta_lens: self.meta_lens.len(),
            event_ring: self.event_ring.len(),
            query_ring: self.query_ring.len(),
            incoming: self.incoming.len(),
            outgoing: self.outgoing.len(),
            query_seen: self.query_seen.len(),
            reassembly: self.reassembly.len(),
            reassembly_bytes: self.reassembly_bytes.len(),
            outbox: self.outbox.len(),
            outbox_lens: self.outbox_lens.len(),
            intent_status: self.intent_status.len(),
            pending_intents: self.pending_intents.len(),
            scratch: self.scratch.len(),
            replay: self.replay.len(),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Unit tests (which run with std) keep their buffers in vectors.
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    pub struct Heapless;
    impl Store for Heapless {
        type Buf<T: 'static> = Vec<T>;
    }
    impl Heapless {
        pub fn buf<T: Clone + 'static>(len: usize, fill: T) -> Vec<T> {
            vec![fill; len]
        }
    }
    impl Provide<Heapless> for Heapless {
        fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> Vec<T> {
            Heapless::buf(len, fill)
        }
    }

    pub struct TestRng(pub u64);
    impl rand_core::RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            crate::identity::mix64(self.0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for b in dst {
                *b = self.next_u32() as u8;
            }
        }
    }
}
