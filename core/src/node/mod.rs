//! One member: ties the table, probing, suspicion, dissemination and push-pull
//! together behind a sans-IO API (handle input, poll output, poll timeout).

use crate::node::output::USER_ENTRY;
use crate::node::timers::TimerTable;
use rand_core::RngCore;

pub(crate) mod audit;
mod awareness;
pub(crate) mod catch_up;
mod coordinates;
pub(crate) mod delivery;
pub(crate) mod gossip;
pub(crate) mod hashicorp;
mod input;
pub(crate) mod intent;
pub(crate) mod members;
pub(crate) mod output;
mod prefetch;
pub(crate) mod probe;
pub(crate) mod push_pull;
pub(crate) mod query;
pub(crate) mod suspicion;
mod timers;
pub(crate) mod user_events;

pub use audit::Violation;
pub use delivery::Delivery;
pub use hashicorp::{StreamOpen, StreamReply, StreamSide};
pub use output::{Transmission, Transmit};

use crate::buffers::{Buffers, Sizes};
use crate::config::{Config, Wire};
use crate::event::{Event, EventKind};
use crate::identity::Identity;
use crate::node::awareness::Awareness;
use crate::node::catch_up::CatchUp;
use crate::node::delivery::Inbox;
use crate::node::gossip::{MemberBroadcasts, UserBroadcasts, MAX_BROADCASTS};
use crate::node::intent::Intents;
use crate::node::members::meta::MetaTable;
use crate::node::members::table::{Counts, MemberTable, State, EMPTY, MAX_MEMBERS};
use crate::node::probe::{Probe, Relays};
use crate::node::query::{Incoming, Outbox, Outgoing, Reassembly, SeenSet};
use crate::node::suspicion::Suspicions;
use crate::node::user_events::dedup::UserEvents;
use crate::node::user_events::replay::EventLog;
use crate::rng::jitter;
use crate::stats::Stats;
use crate::storage::ring::Ring;
use crate::storage::Store;
use crate::time::Instant;
use crate::vivaldi::cache::CoordinateCache;
use crate::vivaldi::Client;
use crate::wire::crypto::Keyring;

/// The three Lamport clocks of a node ([`Node::clocks`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clocks {
    /// Member intents (joins and leaves).
    pub member: u64,
    /// User events.
    pub event: u64,
    /// Queries.
    pub query: u64,
}

/// What a node knows of one member ([`Node::member`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// Its SWIM state.
    pub state: State,
    /// Its incarnation.
    pub incarnation: u32,
}

/// Why a node could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// A buffer's length does not match [`Sizes::for_config`].
    BufferSize(&'static str),
    /// Capacity of zero or above the member table's limit (2^24 − 1).
    Capacity,
    /// MTU too small to carry a message.
    Mtu,
    /// [`crate::config::Wire::HashiCorp`] with an identity that cannot travel
    /// on it ([`Identity::hashicorp`] is `None`).
    Wire,
}

/// One cluster member.
///
/// ```
/// use serf_core::{Config, Instant, Node};
/// use serf_core::{Buffers, Provide, Store};
/// # struct Rng(u64);
/// # impl rand_core::RngCore for Rng {
/// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
/// #     fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
/// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
/// # }
/// // Any buffer type works; a std program can use vectors.
/// struct Heap;
/// impl Store for Heap { type Buf<T: 'static> = Vec<T>; }
/// impl Provide<Heap> for Heap {
///     fn provide<T: Clone + 'static>(&mut self, n: usize, fill: T) -> Vec<T> { vec![fill; n] }
/// }
/// let config = Config::lan().with_members(8);
/// let buffers = Buffers::<u32, Heap>::new(&config, &mut Heap);
/// let mut node = Node::new(1u32, config, buffers, Rng(1), Instant::ZERO).unwrap();
/// node.join(Instant::ZERO, 2);
/// let mut buf = [0u8; 1400];
/// let t = node.poll_transmit(&mut buf).unwrap();
/// assert_eq!(t.to, 2);
/// assert!(node.poll_timeout().is_some());
/// ```
pub struct Node<I: Identity, S: Store, R: RngCore> {
    config: Config,
    me: I,
    my_slot: u32,
    rng: R,
    members: MemberTable<I, S>,
    broadcasts: MemberBroadcasts<S>,
    user: UserBroadcasts<S>,
    suspicions: Suspicions<S>,
    transmits: Ring<Transmission<I>, S>,
    events: Ring<Event<I>, S>,
    inbox: Inbox<S>,
    relays: Relays<I, S>,
    vivaldi: Client,
    coordinates: CoordinateCache<S>,
    meta: MetaTable<S>,
    user_events: UserEvents<S>,
    queries_seen: UserEvents<S>,
    incoming: S::Buf<Incoming<I>>,
    outgoing: S::Buf<Outgoing>,
    seen: SeenSet<S>,
    reassembly: S::Buf<Reassembly<I>>,
    reassembly_bytes: S::Buf<u8>,
    outbox: Outbox<S>,
    intents: Intents<I, S>,
    keyring: Keyring,
    /// A key query changed the keyring since the last `poll_delivery`.
    keyring_changed: bool,
    /// No refusal notice goes out before this (they are rate limited, so a
    /// flood of bad datagrams cannot turn us into a reflector).
    next_refusal: Instant,
    scratch: Option<S::Buf<u8>>,
    /// Streams for the runtime to open (HashiCorp's wire only).
    streams: hashicorp::Streams<I::Addr>,
    /// Entries piggybacked on the datagram being written (see `piggyback`).
    piggybacked: S::Buf<u32>,
    event_log: EventLog<S>,
    conflict_lost: bool,
    probe: Probe<I>,
    /// The join answer being tracked for lost chunks.
    catch_up: CatchUp<I::Addr>,
    awareness: Awareness,
    seq: u32,
    timers: TimerTable,
    leaving: bool,
    stats: Stats,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Builds a node named `me`, alive at incarnation 0, at time `now`.
    pub fn new(
        me: I,
        config: Config,
        buffers: Buffers<I, S>,
        mut rng: R,
        now: Instant,
    ) -> Result<Self, BuildError> {
        if config.capacity.members == 0
            || config.capacity.members > MAX_MEMBERS
            || config.capacity.broadcasts > MAX_BROADCASTS
            || config.capacity.user_broadcasts >= USER_ENTRY as usize
            || (config.capacity.meta > 0
                && (config.capacity.tagged == 0
                    || config.capacity.meta_pool
                        < MetaTable::<S>::pool_needed(config.capacity.meta)))
        {
            return Err(BuildError::Capacity);
        }
        if config.mtu < 64 {
            return Err(BuildError::Mtu);
        }
        if config.wire == Wire::HashiCorp && me.hashicorp().is_none() {
            return Err(BuildError::Wire);
        }
        check_sizes(&Sizes::for_config(&config), &buffers.sizes())?;
        let vivaldi = Client::new(config.vivaldi.clone());
        let config_keyring = config.keyring.clone();
        let _config_event_limit = config.user_event_size_limit;
        let meta_limit = config.capacity.meta;
        let seed = rng.next_u64();
        let mut members = MemberTable::new(buffers.slots, buffers.index, seed);
        // memberlist starts a node at incarnation 1 and ignores an alive at
        // 0 about a member it has not seen (its new entries hold 0).
        let first = u32::from(config.wire == crate::config::Wire::HashiCorp);
        let my_slot = members
            .insert(me.clone(), first, State::Alive, now)
            .map_err(|_| BuildError::Capacity)?;
        members.set_protocol(my_slot, config.protocol);
        let mut node = Node {
            // Probe, gossip, push-pull, reconnect: the order of `Timer`.
            timers: TimerTable::new([
                now + jitter(&mut rng, config.probe_interval),
                now + jitter(&mut rng, config.gossip_interval),
                now + jitter(&mut rng, config.push_pull_interval),
                now + jitter(&mut rng, config.reconnect_interval),
            ]),
            awareness: Awareness::new(config.awareness_max_multiplier),
            config,
            me,
            my_slot,
            rng,
            members,
            broadcasts: MemberBroadcasts::new(buffers.broadcasts, buffers.broadcast_handles),
            user: UserBroadcasts::new(
                buffers.user_broadcasts,
                buffers.user_arena,
                buffers.user_lens,
            ),
            suspicions: Suspicions::new(buffers.suspicions, buffers.suspicion_map),
            transmits: Ring::new(buffers.transmits),
            events: Ring::new(buffers.events),
            inbox: Inbox::new(buffers.inbox, buffers.inbox_lens, buffers.inbox_kinds),
            relays: Relays::new(buffers.relays),
            vivaldi,
            coordinates: CoordinateCache::new(buffers.coordinates, buffers.coordinate_map),
            meta: MetaTable::new(
                buffers.meta,
                buffers.meta_map,
                buffers.meta_flags,
                meta_limit,
            ),
            user_events: UserEvents::new(buffers.event_ring),
            queries_seen: UserEvents::new(buffers.query_ring),
            incoming: buffers.incoming,
            outgoing: buffers.outgoing,
            seen: SeenSet::new(buffers.query_seen),
            reassembly: buffers.reassembly,
            reassembly_bytes: buffers.reassembly_bytes,
            outbox: Outbox::new(buffers.outbox, buffers.outbox_lens),
            intents: Intents::new(buffers.intent_status, buffers.pending_intents),
            keyring: config_keyring,
            keyring_changed: false,
            next_refusal: now,
            scratch: Some(buffers.scratch),
            streams: hashicorp::Streams::default(),
            piggybacked: buffers.piggybacked,
            event_log: EventLog::new(buffers.replay, buffers.replay_lens),
            conflict_lost: false,
            probe: Probe::Idle,
            catch_up: CatchUp::new(),
            seq: 0,
            leaving: false,
            stats: Stats::default(),
        };
        node.broadcasts.enqueue(my_slot, EMPTY);
        Ok(node)
    }

    // ---------------------------------------------------------------- commands

    /// The three Lamport clocks.
    ///
    /// ```
    /// # use serf_core::{Clocks, Config, Instant, Node};
    /// # use serf_core::{Buffers, Provide, Store};
    /// # struct Heap;
    /// # impl Store for Heap { type Buf<T: 'static> = Vec<T>; }
    /// # impl Provide<Heap> for Heap {
    /// #     fn provide<T: Clone + 'static>(&mut self, n: usize, v: T) -> Vec<T> { vec![v; n] }
    /// # }
    /// # struct Rng(u64);
    /// # impl serf_core::rand_core::RngCore for Rng {
    /// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
    /// #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15); serf_core::mix64(self.0) }
    /// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
    /// # }
    /// let config = Config::lan().with_members(8);
    /// let buffers = Buffers::<u32, Heap>::new(&config, &mut Heap);
    /// let mut node = Node::new(1u32, config, buffers, Rng(1), Instant::ZERO).unwrap();
    /// let before: Clocks = node.clocks();
    /// node.user_event("deploy", b"v1", false).unwrap();
    /// assert_eq!(node.clocks().event, before.event + 1, "each event ticks the clock");
    /// assert_eq!(node.clocks().member, before.member);
    /// ```
    pub fn clocks(&self) -> Clocks {
        Clocks {
            member: self.intents.clock.time(),
            event: self.user_events.clock.time(),
            query: self.queries_seen.clock.time(),
        }
    }

    // ------------------------------------------------------------------ inputs

    // ----------------------------------------------------------------- outputs

    // ------------------------------------------------------------------- views

    /// This node's identity.
    pub fn local(&self) -> &I {
        &self.me
    }
    /// This node's incarnation.
    pub fn incarnation(&self) -> u32 {
        self.members.slot(self.my_slot).incarnation()
    }
    /// Lifeguard health score (0 = healthy).
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }
    /// Member counts by state (this node included).
    pub fn counts(&self) -> Counts {
        self.members.counts()
    }
    /// The Serf protocol version a member announced (0: not told).
    pub fn protocol_of(&self, id: &I) -> Option<u8> {
        let s = self.members.find(id)?;
        Some(self.members.slot(s).protocol())
    }
    /// A member's state and incarnation, if it is in the table.
    pub fn member(&self, id: &I) -> Option<MemberState> {
        let s = self.members.find(id)?;
        let slot = self.members.slot(s);
        Some(MemberState {
            state: slot.state()?,
            incarnation: slot.incarnation(),
        })
    }
    /// Every member in the table (this node included), in slot order.
    pub fn members(&self) -> impl Iterator<Item = (&I, State, u32)> {
        self.members
            .iter()
            .filter_map(|(_, s)| Some((s.id(), s.state()?, s.incarnation())))
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.broadcasts_dropped = self.broadcasts.queue.stats.dropped;
        s.user_broadcasts_dropped = self.user.queue.stats.dropped;
        s.suspicions_overflowed = self.suspicions.overflowed;
        s.events_too_old = self.user_events.too_old;
        s.event_duplicates = self.user_events.duplicates;
        s.events_ignored_joining = self.user_events.ignored_joining;
        s.transmits_dropped = self.transmits.dropped;
        s.events_dropped = self.events.dropped;
        s.relays_dropped = self.relays.dropped;
        s.inbox_dropped = self.inbox.dropped;
        s.meta_rejected = self.meta.rejected;
        s.outbox_dropped = self.outbox.dropped;
        let v = self.vivaldi.stats();
        s.coordinate_updates = v.updates;
        s.coordinate_rejected = v.rejected;
        s.coordinate_resets = v.resets;
        s
    }
    /// Broadcasts still queued (membership and user).
    pub fn pending_broadcasts(&self) -> usize {
        self.broadcasts.queue.len() + self.user.queue.len()
    }
    /// True once this node lost a name conflict: the runtime should stop it.
    pub fn conflict_lost(&self) -> bool {
        self.conflict_lost
    }
    /// True after [`Node::leave`].
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }
    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Running suspicions.
    pub fn suspicions(&self) -> usize {
        self.suspicions.len()
    }

    // --------------------------------------------------------------- internals

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    pub(crate) fn emit(&mut self, kind: EventKind, slot: u32) {
        let s = self.members.slot(slot);
        self.events.push_back(Event {
            kind,
            member: s.id().clone(),
            incarnation: s.incarnation(),
        });
    }

    /// Live members, for the log-scaled formulas (at least 1).
    pub(crate) fn cluster_size(&self) -> u32 {
        self.members.counts().live().max(1)
    }

    /// memberlist's limit, but never below one gossip round's fan-out: with
    /// the local profile's multiplier of 2, a 4-member cluster would send a
    /// suspicion to 2 of its 3 gossip targets — one of them the suspect
    /// itself — and a member could miss it altogether (seen with real agents).
    pub(crate) fn retransmit_limit(&self) -> u32 {
        retransmit_limit_for(&self.config, self.cluster_size())
    }
}

/// [`Node::retransmit_limit`] for a cluster of `n` live members.
pub(crate) fn retransmit_limit_for(config: &Config, n: u32) -> u32 {
    let limit = config.retransmit_mult * libm::ceil(libm::log10(n as f64 + 1.0)) as u32;
    limit.max(config.gossip_nodes as u32)
}

fn check_sizes(want: &Sizes, got: &Sizes) -> Result<(), BuildError> {
    match want.mismatch(got) {
        Some(name) => Err(BuildError::BufferSize(name)),
        None => Ok(()),
    }
}
