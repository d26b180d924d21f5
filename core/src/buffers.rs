//! The one list of the core's tables: each table's name, element type, fill
//! value and length for a configuration. [`Sizes`] and [`Buffers`] are
//! generated from it, so a new table is added in one place.

use crate::config::Config;
use crate::event::Event;
use crate::identity::Identity;
use crate::node::delivery::Record;
use crate::node::gossip::Entry;
use crate::node::intent::Pending;
use crate::node::members::meta::flag_words;
use crate::node::members::table::{index_len, Slot};
use crate::node::output::piggyback_len;
use crate::node::probe::Relay;
use crate::node::query::{Incoming, Outgoing, Reassembly};
use crate::node::suspicion::Suspicion;
use crate::node::user_events::dedup::EventSlot;
use crate::node::user_events::replay::slot_len;
use crate::node::Transmission;
use crate::storage::{Provide, Store};
use crate::vivaldi::cache::CacheEntry;

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

            /// Calls `f` with each table's name and bytes for identity type `I`.
            pub fn each_table<I: Identity>(&self, mut f: impl FnMut(&'static str, usize)) {
                $( f(stringify!($name), self.$name * core::mem::size_of::<$ty>()); )*
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
    /// Membership broadcast entries.
    broadcasts: Entry = Entry::default(), c.broadcasts;
    /// Membership broadcast handles (one per member slot).
    broadcast_handles: u16 = 0, c.members;
    /// User broadcast entries.
    user_broadcasts: Entry = Entry::default(), c.user_broadcasts;
    /// User broadcast payload bytes.
    user_arena: u8 = 0, c.user_broadcasts * c.user_payload;
    /// User broadcast payload lengths.
    user_lens: u16 = 0, c.user_broadcasts;
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
    /// What each received record is (message or the node's own note).
    inbox_kinds: Record = Record::default(), c.user_broadcasts;
    /// Cached coordinates of other members.
    coordinates: CacheEntry = CacheEntry::default(), c.coordinates;
    /// Coordinate cache map buckets.
    coordinate_map: u64 = 0, c.coordinates * 2;
    /// The shared tag pool.
    meta: u8 = 0, c.meta_pool;
    /// Tag map buckets (member slot → pool offset).
    meta_map: u64 = 0, c.tagged * 2;
    /// Which member slots carry tags (one bit each).
    meta_flags: u64 = 0, flag_words(c.members, c.meta);
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
    intent_status: u32 = 0, c.members;
    /// Buffered intents about unknown members.
    pending_intents: Pending<I> = Pending::default(), c.pending_intents;
    /// Broadcasts piggybacked on the datagram being written.
    piggybacked: u32 = 0, piggyback_len(config.mtu);
    /// Decryption scratch: one MTU; on HashiCorp's wire also room for a
    /// decompressed packet and for translating the native messages out.
    scratch: u8 = 0, crate::node::hashicorp::scratch_len(config);
    /// Recent user events kept for push-pull and replay (slots × slot length).
    replay: u8 = 0, c.replay_events * slot_len(config.user_event_size_limit);
    /// Lengths of the recent user events kept.
    replay_lens: u16 = 0, c.replay_events;
}

impl Sizes {
    /// Bytes a [`crate::Node::poll_delivery`] buffer needs: the largest record
    /// the inbox keeps or a whole reassembled response, whichever is larger.
    pub fn delivery_len(&self) -> usize {
        let per = |bytes: usize, n: usize| bytes.checked_div(n).unwrap_or(0);
        per(self.inbox, self.inbox_lens)
            .min(u16::MAX as usize)
            .max(per(self.reassembly_bytes, self.reassembly))
    }
}
