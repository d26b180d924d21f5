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

/// Declares every table once — name, element type, fill value and length for
/// a configuration — and generates [`Sizes`], [`Buffers`] and their methods
/// from that one list.
macro_rules! tables {
    (
        ($config:ident, $c:ident);
        $( $(#[doc = $doc:literal])* $name:ident : $ty:ty = $fill:expr, $len:expr; )*
    ) => {
        /// Buffer lengths a [`Config`] needs (in elements).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Sizes {
            $( $(#[doc = $doc])* pub $name: usize, )*
        }

        impl Sizes {
            /// The lengths every buffer must have for `config`.
            pub fn for_config($config: &Config) -> Sizes {
                let $c = &$config.capacity;
                Sizes { $( $name: $len, )* }
            }

            /// Total bytes for identity type `I`.
            pub fn bytes<I: Identity>(&self) -> usize {
                0 $( + self.$name * core::mem::size_of::<$ty>() )*
            }

            /// The first buffer whose length differs from `got`'s.
            pub fn mismatch(&self, got: &Sizes) -> Option<&'static str> {
                $( if self.$name != got.$name { return Some(stringify!($name)); } )*
                None
            }
        }

        /// One buffer per table. Fields are public so a caller can build them
        /// from arrays; [`crate::Node::new`] checks every length against [`Sizes`].
        pub struct Buffers<I: Identity, S: Store> {
            $( $(#[doc = $doc])* pub $name: S::Buf<$ty>, )*
        }

        impl<I: Identity, S: Store> Buffers<I, S> {
            /// Buffers sized for `config`, made by `p`.
            pub fn new(config: &Config, p: &mut impl Provide<S>) -> Self {
                let z = Sizes::for_config(config);
                Buffers { $( $name: p.provide(z.$name, $fill), )* }
            }

            /// The lengths these buffers actually have.
            pub fn sizes(&self) -> Sizes {
                Sizes { $( $name: self.$name.len(), )* }
            }
        }
    };
}

tables! {
    (config, c);
    /// Member slots.
    slots: Slot<I> = Slot::default(), c.members;
    /// Member index buckets.
    index: u32 = 0, index_len(c.members);
    /// Probe order entries.
    order: u32 = 0, c.members;
    /// Membership broadcast entries.
    broadcasts: Entry = Entry::default(), c.broadcasts;
    /// Membership broadcast handles (one per member slot).
    broadcast_handles: u16 = 0, c.members;
    /// User broadcast entries.
    user_broadcasts: Entry = Entry::default(), c.user_broadcasts;
    /// User broadcast payload bytes.
    user_arena: u8 = 0, c.user_broadcasts * c.user_payload;
    /// Suspicion records.
    suspicions: Suspicion = Suspicion::default(), c.suspicions;
    /// Suspicion map buckets.
    suspicion_map: u64 = 0, c.suspicions * 2;
    /// Queued transmissions.
    transmits: Option<Transmission<I>> = None, c.transmits;
    /// Queued events.
    events: Option<Event<I>> = None, c.events;
    /// Relayed indirect probes.
    relays: Option<Relay<I>> = None, c.relays;
    /// Received user payload bytes.
    inbox: u8 = 0, c.user_broadcasts * c.user_payload;
    /// Received user payload lengths.
    inbox_lens: u16 = 0, c.user_broadcasts;
    /// Cached coordinates of other members.
    coordinates: CacheEntry = CacheEntry::default(), c.coordinates;
    /// Coordinate cache map buckets.
    coordinate_map: u64 = 0, c.coordinates * 2;
    /// Tag bytes (members × per-member limit).
    meta: u8 = 0, c.members * c.meta;
    /// Tag lengths (one per member).
    meta_lens: u16 = 0, c.members;
    /// Recent user-event records.
    event_ring: EventSlot = EventSlot::default(), c.event_ring;
    /// Recent query records.
    query_ring: EventSlot = EventSlot::default(), c.query_ring;
    /// Received queries.
    incoming: Incoming<I> = Incoming::default(), c.incoming_queries;
    /// Sent queries.
    outgoing: Outgoing = Outgoing::default(), c.outgoing_queries;
    /// Seen-responder set buckets.
    query_seen: u64 = 0, c.query_seen;
    /// Reassembly records.
    reassembly: Reassembly<I> = Reassembly::default(), c.reassembly_slots;
    /// Reassembly bytes.
    reassembly_bytes: u8 = 0, c.reassembly_slots * c.reassembly_bytes;
    /// Outbox bytes.
    outbox: u8 = 0, c.outbox * config.mtu;
    /// Outbox lengths.
    outbox_lens: u16 = 0, c.outbox;
    /// Intent status words (one per member).
    intent_status: u64 = 0, c.members;
    /// Buffered intents about unknown members.
    pending_intents: Pending<I> = Pending::default(), c.pending_intents;
    /// Decryption scratch (one MTU).
    scratch: u8 = 0, config.mtu;
    /// Recent user events kept for push-pull and replay (slots × slot length).
    replay: u8 = 0, c.replay_events * crate::replay::slot_len(config.user_event_size_limit);
}

/// Makes buffers for a [`Store`] (a std runtime implements this with boxed slices).
pub trait Provide<S: Store> {
    /// A buffer of `len` copies of `fill`.
    fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> S::Buf<T>;
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
