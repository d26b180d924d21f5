//! One member: ties the table, probing, suspicion, dissemination and push-pull
//! together behind a sans-IO API (handle input, poll output, poll timeout).

use rand_core::RngCore;

use crate::awareness::Awareness;
use crate::broadcast::{MemberBroadcasts, PayloadTooLarge, UserBroadcasts, MAX_BROADCASTS};
use crate::codec::{
    push_pull_flags, wire_state, CoordBytes, DecodeError, Decoder, Encoder, Message, COORD_MAX,
};
use crate::config::Config;
use crate::coordinates::CoordinateCache;
use crate::crypto::{self, FrameError, Key, KeyError, Keyring};
use crate::event::{Event, EventKind};
use crate::events::{UserEvents, Verdict};
use crate::identity::{mix64, Identity};
use crate::inbox::Inbox;
use crate::intent::Intents;
use crate::member::{Counts, MemberTable, State, EMPTY, MAX_MEMBERS};
use crate::meta::MetaTable;
use crate::probe::{Probe, Relays};
use crate::query::{
    flags, passes, response_flags, Incoming, Outbox, Outgoing, QueryError, QueryParams, Reassembly,
    SeenSet, MAX_CHUNKS,
};
use crate::query::{KeyOp, KeyResponse};
use crate::replay::EventLog;
use crate::ring::Ring;
use crate::rng::{below, jitter};
use crate::stats::Stats;
use crate::store::{Buffers, Sizes, Store};
use crate::suspicion::{self, Suspicions};
use crate::tags::Tags;
use crate::time::Instant;
use crate::vivaldi::{Client, Coordinate};

pub use crate::probe::Relay;

/// Slots inspected per probe tick while looking for a probe target.
const WALK_LIMIT: usize = 32;
/// Attempts at drawing random members for gossip / indirect probes.
const DRAW_ATTEMPTS: usize = 32;
/// Most broadcasts piggybacked in one datagram.
const MAX_PIGGYBACK: usize = 512;

/// A datagram waiting to be written by [`Node::poll_transmit`].
#[derive(Clone, Debug, PartialEq)]
pub enum Transmission<I: Identity> {
    /// Probe `target` (with a suspect message riding along: the buddy system).
    Ping {
        /// Probed member.
        target: I,
        /// Sequence number.
        seq: u32,
        /// Incarnation to accuse it at, if it is suspect.
        suspect: Option<u32>,
    },
    /// Ask `via` to probe `target`.
    IndirectPing {
        /// Helper.
        via: I,
        /// Probed member.
        target: I,
        /// Sequence number.
        seq: u32,
        /// Ask for a nack.
        nack: bool,
    },
    /// Answer a ping.
    Ack {
        /// Destination.
        to: I::Addr,
        /// Sequence number.
        seq: u32,
        /// Carry our coordinate (not on relayed acks: their RTT spans two hops).
        coord: bool,
    },
    /// Report an unanswered indirect probe.
    Nack {
        /// Destination.
        to: I::Addr,
        /// Sequence number.
        seq: u32,
    },
    /// A datagram of broadcasts only.
    Gossip {
        /// Destination.
        to: I,
    },
    /// A stored datagram body (query responses, chunks, relayed copies).
    Outbox {
        /// Destination.
        to: I::Addr,
        /// Outbox slot.
        slot: u16,
    },
    /// Our member states, from `cursor` on, in as many datagrams as it takes.
    PushPull {
        /// Destination.
        to: I::Addr,
        /// Exchange identifier.
        session: u32,
        /// Next slot to send.
        cursor: u32,
        /// Header flags.
        flags: u8,
    },
    /// A refusal notice (unframed) to a peer whose datagram we refused.
    Refusal {
        /// Destination.
        to: I::Addr,
        /// What was wrong with its datagram.
        refusal: crypto::Refusal,
    },
    /// Recorded user events from sequence `seq` on, after our push-pull
    /// state (anti-entropy for events, and `join -replay`).
    Replay {
        /// Destination.
        to: I::Addr,
        /// Next event-log record to send.
        seq: u64,
    },
}

/// A user message for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery<'b, I> {
    /// A raw broadcast payload ([`Node::broadcast`]).
    User(&'b [u8]),
    /// A user event ([`Node::user_event`]), delivered once per member.
    Event {
        /// Lamport time.
        ltime: u64,
        /// Name.
        name: &'b str,
        /// Payload.
        payload: &'b [u8],
        /// Coalescing allowed.
        coalesce: bool,
    },
    /// A query to answer with [`Node::respond`] before its deadline.
    Query {
        /// Query id (pass to `respond`).
        id: u32,
        /// Lamport time.
        ltime: u64,
        /// The originator.
        from: I,
        /// Name.
        name: &'b str,
        /// Payload.
        payload: &'b [u8],
    },
    /// A member acknowledged our query.
    QueryAck {
        /// Query id.
        id: u32,
        /// Who.
        from: I,
    },
    /// A member answered our query (reassembled if it came in chunks).
    QueryResponse {
        /// Query id.
        id: u32,
        /// Who.
        from: I,
        /// The response.
        payload: &'b [u8],
    },
    /// Our query's deadline passed: no more acks or responses will come.
    QueryDone {
        /// Query id.
        id: u32,
    },
    /// A cluster key operation changed this node's keyring: persist
    /// [`Node::keyring`] now (Serf rewrites its keyring file on every node).
    KeyringChanged,
}

/// Largest relayed response, encoded on the stack: an Ethernet frame's
/// payload. With a larger `mtu`, bigger responses go direct only (counted in
/// `relays_skipped`).
const MAX_RELAYED: usize = 1500;

/// Least time between two refusal notices.
const REFUSAL_INTERVAL: core::time::Duration = core::time::Duration::from_millis(50);

/// Inbox-only response flags (never valid on the wire).
const LOCAL_LARGE: u8 = 0x80;
const LOCAL_DONE: u8 = 0x40;

/// Why a key operation was refused here, worded as Serf and memberlist word it
/// (operators compare these answers across implementations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyRefusal {
    /// Install, use or remove on a node without encryption.
    NoEncryption,
    /// List on a node without encryption.
    ListWithoutEncryption,
    /// The keyring refused the change.
    Key(KeyError),
}

impl KeyRefusal {
    fn message(self) -> &'static str {
        match self {
            KeyRefusal::NoEncryption => "No keyring to modify (encryption not enabled)",
            KeyRefusal::ListWithoutEncryption => "Keyring is empty (encryption not enabled)",
            KeyRefusal::Key(KeyError::Length) => "key size must be 16, 24 or 32 bytes",
            KeyRefusal::Key(KeyError::Full) => "keyring is full",
            KeyRefusal::Key(KeyError::Unknown) => "Requested key is not in the keyring",
            KeyRefusal::Key(KeyError::Primary) => "Removing the primary key is not allowed",
        }
    }
}

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

/// A datagram written into the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit<A> {
    /// Destination address.
    pub to: A,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}

/// Why a node could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// A buffer's length does not match [`Sizes::for_config`].
    BufferSize(&'static str),
    /// Capacity of zero or above [`MAX_MEMBERS`].
    Capacity,
    /// MTU too small to carry a message.
    Mtu,
}

/// One cluster member.
///
/// ```
/// use serf_core::{Config, Instant, Node};
/// use serf_core::store::{Buffers, Provide, Store};
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
    event_log: EventLog<S::Buf<u8>>,
    conflict_lost: bool,
    probe: Probe<I>,
    awareness: Awareness,
    seq: u32,
    next_probe: Instant,
    next_gossip: Instant,
    next_push_pull: Instant,
    next_reconnect: Instant,
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
        {
            return Err(BuildError::Capacity);
        }
        if config.mtu < 64 {
            return Err(BuildError::Mtu);
        }
        check_sizes(&Sizes::for_config(&config), &buffers.sizes())?;
        let vivaldi = Client::new(config.vivaldi.clone());
        let config_keyring = config.keyring.clone();
        let config_event_limit = config.user_event_size_limit;
        let seed = rng.next_u64();
        let mut members = MemberTable::new(buffers.slots, buffers.index, buffers.order, seed);
        let my_slot = members
            .insert(me.clone(), 0, State::Alive, now, &mut rng)
            .map_err(|_| BuildError::Capacity)?;
        members.set_protocol(my_slot, config.protocol);
        let mut node = Node {
            next_probe: now + jitter(&mut rng, config.probe_interval),
            next_gossip: now + jitter(&mut rng, config.gossip_interval),
            next_push_pull: now + jitter(&mut rng, config.push_pull_interval),
            next_reconnect: now + jitter(&mut rng, config.reconnect_interval),
            awareness: Awareness::new(config.awareness_max_multiplier),
            config,
            me,
            my_slot,
            rng,
            members,
            broadcasts: MemberBroadcasts::new(buffers.broadcasts, buffers.broadcast_handles),
            user: UserBroadcasts::new(buffers.user_broadcasts, buffers.user_arena),
            suspicions: Suspicions::new(buffers.suspicions, buffers.suspicion_map),
            transmits: Ring::new(buffers.transmits),
            events: Ring::new(buffers.events),
            inbox: Inbox::new(buffers.inbox, buffers.inbox_lens),
            relays: Relays::new(buffers.relays),
            vivaldi,
            coordinates: CoordinateCache::new(buffers.coordinates, buffers.coordinate_map),
            meta: MetaTable::new(buffers.meta, buffers.meta_lens),
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
            event_log: EventLog::new(buffers.replay, crate::replay::slot_len(config_event_limit)),
            conflict_lost: false,
            probe: Probe::Idle,
            seq: 0,
            leaving: false,
            stats: Stats::default(),
        };
        node.broadcasts.enqueue(my_slot, EMPTY);
        Ok(node)
    }

    // ---------------------------------------------------------------- commands

    /// Contacts `addr` with a push-pull exchange (full state both ways).
    /// User events older than `addr`'s event clock are ignored from then on
    /// (Serf's join without `-replay`); see [`Node::join_replay`].
    pub fn join(&mut self, now: Instant, addr: I::Addr) {
        self.start_join(now, addr, 0);
    }

    /// Like [`Node::join`], but asks `addr` to send the user events it still
    /// keeps (Serf's `join -replay`): they are delivered like new events,
    /// except the ones this node has already seen.
    pub fn join_replay(&mut self, now: Instant, addr: I::Addr) {
        self.start_join(now, addr, push_pull_flags::REPLAY);
    }

    fn start_join(&mut self, _now: Instant, addr: I::Addr, extra: u8) {
        self.leaving = false;
        // Announce the join with the member clock (Serf's join intent).
        let ltime = self.intents.clock.time();
        self.intents.apply(self.my_slot, ltime, false);
        self.broadcast_intent(ltime, self.me.clone(), false, false);
        let session = self.next_seq();
        self.push_pull(
            addr,
            session,
            push_pull_flags::WANT_REPLY | push_pull_flags::JOIN | extra,
        );
    }

    /// Leaves gracefully: broadcasts that this node left and stops probing.
    /// The runtime keeps driving the node until [`Node::pending_broadcasts`]
    /// reaches zero (or its broadcast timeout passes).
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        // Serf's leave intent first, then memberlist's leave (dead from self).
        let ltime = self.intents.clock.time();
        self.intents.clock.increment();
        self.intents.apply(self.my_slot, ltime, true);
        self.broadcast_intent(ltime, self.me.clone(), true, false);
        let inc = self.members.slot(self.my_slot).incarnation();
        self.members.set(self.my_slot, State::Left, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        self.probe = Probe::Idle;
        self.next_gossip = now;
    }

    /// Replaces this node's metadata (encoded tags, see [`crate::tags`]): the
    /// incarnation goes up and every member receives the new record as an update.
    pub fn set_meta(&mut self, now: Instant, meta: &[u8]) -> Result<(), crate::tags::TagsTooLarge> {
        if meta.len() > self.meta.max_len() {
            return Err(crate::tags::TagsTooLarge);
        }
        self.meta.set(self.my_slot, meta);
        let inc = self.incarnation().wrapping_add(1);
        let state = if self.leaving {
            State::Left
        } else {
            State::Alive
        };
        self.members.set(self.my_slot, state, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        Ok(())
    }

    /// Forces a member out (`serf force-leave`): a leave intent marks a failed
    /// member left everywhere (with `prune`, erased); a live member refutes it.
    pub fn force_leave(&mut self, now: Instant, id: &I, prune: bool) -> bool {
        if *id == self.me || self.members.find(id).is_none() {
            return false;
        }
        let ltime = self.intents.clock.time();
        self.intents.clock.increment();
        self.on_intent(now, ltime, id.clone(), true, prune);
        true
    }

    /// True if member `id` announced (or was forced into) a leave and has not
    /// refuted it (Serf's "leaving" status).
    pub fn member_leaving(&self, id: &I) -> bool {
        self.members
            .find(id)
            .is_some_and(|s| self.intents.leaving(s))
    }

    /// Restores the member clock from a snapshot.
    pub fn restore_member_clock(&mut self, ltime: u64) {
        self.intents.clock.restore(ltime);
    }

    fn broadcast_intent(&mut self, ltime: u64, node: I, leave: bool, prune: bool) {
        let m: Message<'_, I> = Message::Intent {
            ltime,
            node,
            leave,
            prune,
        };
        if self.user.enqueue(&m).is_err() {
            self.stats.user_broadcasts_dropped += 1;
        }
    }

    /// A join or leave intent, received or made here.
    fn on_intent(&mut self, now: Instant, ltime: u64, node: I, leave: bool, prune: bool) {
        self.intents.clock.witness(ltime);
        if node == self.me {
            if ltime <= self.intents.ltime(self.my_slot) {
                return;
            }
            if leave && !self.leaving {
                // Someone says we are leaving: refute with a newer join intent.
                let t = self.intents.clock.time();
                self.intents.clock.increment();
                self.intents.apply(self.my_slot, t, false);
                self.stats.refutations += 1;
                self.broadcast_intent(t, node, false, false);
            } else if self.intents.apply(self.my_slot, ltime, leave) {
                self.broadcast_intent(ltime, node, leave, prune);
            }
            return;
        }
        let Some(slot) = self.members.find(&node) else {
            if self.intents.buffer(&node, ltime, leave) {
                self.broadcast_intent(ltime, node, leave, prune);
            }
            return;
        };
        if !self.intents.apply(slot, ltime, leave) {
            return; // old news (this also stops re-broadcast loops)
        }
        self.broadcast_intent(ltime, node, leave, prune);
        if !leave {
            return;
        }
        match self.members.slot(slot).state() {
            Some(State::Dead) => {
                let inc = self.members.slot(slot).incarnation();
                self.members.set(slot, State::Left, inc, now);
                self.broadcasts.enqueue(slot, slot);
                self.emit(EventKind::Left, slot);
                if prune {
                    self.reap(slot);
                }
            }
            Some(State::Left) if prune => self.reap(slot),
            _ => {}
        }
    }

    /// Queues a user payload for piggybacked dissemination.
    pub fn broadcast(&mut self, payload: &[u8]) -> Result<(), PayloadTooLarge> {
        self.user.enqueue(&Message::<'_, I>::User(payload))
    }

    /// Fires a user event: stamped with the event clock, delivered here and
    /// disseminated to every member, each delivering it once. Returns its
    /// Lamport time.
    pub fn user_event(
        &mut self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<u64, PayloadTooLarge> {
        if name.len() + payload.len() > self.config.user_event_size_limit {
            return Err(PayloadTooLarge);
        }
        let ltime = self.user_events.clock.time();
        self.user_events.clock.increment();
        let m: Message<'_, I> = Message::Event {
            ltime,
            name,
            payload,
            coalesce,
        };
        // Check it fits a broadcast before recording it as seen.
        self.user.enqueue(&m)?;
        self.on_event(ltime, name, payload, coalesce, false);
        Ok(ltime)
    }

    /// The three Lamport clocks.
    ///
    /// ```
    /// # use serf_core::{Clocks, Config, Instant, Node};
    /// # use serf_core::store::{Buffers, Provide, Store};
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

    /// Restores the query clock from a snapshot (older queries are ignored).
    pub fn restore_query_clock(&mut self, ltime: u64) {
        self.queries_seen.clock.restore(ltime);
        self.queries_seen.min_time = self.queries_seen.min_time.max(ltime.saturating_add(1));
    }

    /// The default query timeout for the current cluster size.
    pub fn default_query_timeout(&self) -> core::time::Duration {
        let n = self.cluster_size() as f64;
        let scale = libm::ceil(libm::log10(n + 1.0)).max(1.0) as u32;
        self.config.gossip_interval * self.config.query_timeout_mult * scale
    }

    /// The keyring in force.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }
    /// Installs a key locally.
    pub fn install_key(&mut self, key: Key) -> Result<(), KeyError> {
        self.keyring.install(key)
    }
    /// Makes an installed key the primary locally.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyError> {
        self.keyring.use_key(key)
    }
    /// Removes a key locally.
    pub fn remove_key(&mut self, key: &Key) -> Result<(), KeyError> {
        self.keyring.remove(key)
    }

    /// Runs a keyring operation on every member through an internal query;
    /// each member's [`KeyResponse`] arrives as a query response.
    pub fn key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        key: Option<&Key>,
    ) -> Result<u32, QueryError> {
        let payload = key.map_or(&[][..], |k| k.as_bytes());
        self.send_query(now, op.query_name(), payload, &QueryParams::default())
    }

    /// Someone else claims our name: ask the cluster whom it believes
    /// (Serf's `_serf_conflict` query; the majority decides at the deadline).
    fn resolve_conflict(&mut self, now: Instant) {
        if self.conflict_lost || self.outgoing.iter().any(|q| q.used && q.conflict) {
            return;
        }
        let params = QueryParams {
            ack: false,
            ..QueryParams::default()
        };
        if self
            .send_query(now, "_serf_conflict", &[], &params)
            .is_err()
        {
            self.stats.queries_dropped += 1;
        }
    }

    /// Performs an internal query's work here and answers it.
    fn internal_query(&mut self, now: Instant, id: u32, from: &I, name: &str, payload: &[u8]) {
        if name == "_serf_conflict" {
            // Tell the asker whom we hold under its name (not asked of itself).
            if *from == self.me {
                return;
            }
            let mut out = [0u8; 512];
            let held = self
                .members
                .find_name(from)
                .map(|s| self.members.slot(s).id().clone());
            let len = held
                .and_then(|h| postcard::to_slice(&h, &mut out).ok().map(|b| b.len()))
                .unwrap_or(0);
            if self.respond(now, id, &out[..len]).is_err() {
                self.stats.queries_dropped += 1;
            }
            return;
        }
        let Some(op) = KeyOp::from_query_name(name) else {
            return; // `_serf_ping` and unknown internal names: the ack is the answer
        };
        let mut out = [0u8; 1 + crypto::MAX_KEYS * 33];
        // Serf's answers (and wording): a node without encryption has no
        // keyring to change, and must not start encrypting because asked to.
        let result = match (op, Key::new(payload)) {
            _ if self.keyring.is_empty() => Err(match op {
                KeyOp::List => KeyRefusal::ListWithoutEncryption,
                _ => KeyRefusal::NoEncryption,
            }),
            (KeyOp::List, _) => {
                let mut n = 1;
                for k in self.keyring.keys() {
                    let b = k.as_bytes();
                    out[n] = b.len() as u8;
                    out[n + 1..n + 1 + b.len()].copy_from_slice(b);
                    n += 1 + b.len();
                }
                Ok(n)
            }
            (_, Err(e)) => Err(KeyRefusal::Key(e)),
            (KeyOp::Install, Ok(k)) => self.keyring.install(k).map(|_| 1).map_err(KeyRefusal::Key),
            (KeyOp::Use, Ok(k)) => self.keyring.use_key(&k).map(|_| 1).map_err(KeyRefusal::Key),
            // Removing a key that is not installed changes nothing and
            // succeeds, as in memberlist.
            (KeyOp::Remove, Ok(k)) => match self.keyring.remove(&k) {
                Ok(()) | Err(KeyError::Unknown) => Ok(1),
                Err(e) => Err(KeyRefusal::Key(e)),
            },
        };
        if result.is_ok() && op != KeyOp::List {
            // The runtime persists the keyring (Serf rewrites its keyring
            // file on every node that applies a change).
            self.keyring_changed = true;
        }
        let len = match result {
            Ok(n) => {
                out[0] = 1;
                n
            }
            Err(e) => {
                out[0] = 0;
                let msg = e.message().as_bytes();
                out[1..1 + msg.len()].copy_from_slice(msg);
                1 + msg.len()
            }
        };
        debug_assert!(KeyResponse::parse(&out[..len]).is_some());
        if self.respond(now, id, &out[..len]).is_err() {
            self.stats.queries_dropped += 1;
        }
    }

    /// Sends a query to the cluster (this node answers it too if it matches).
    /// Acks, responses and a final done arrive through [`Node::poll_delivery`].
    /// Returns the query id.
    pub fn query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: &QueryParams<'_, I>,
    ) -> Result<u32, QueryError> {
        if name.starts_with("_serf_") && !(name == "_serf_ping" && payload.is_empty()) {
            return Err(QueryError::Reserved);
        }
        self.send_query(now, name, payload, params)
    }

    fn send_query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: &QueryParams<'_, I>,
    ) -> Result<u32, QueryError> {
        let mut nodes = [0u8; 512];
        let mut tags = [0u8; 512];
        let nodes_len = if params.nodes.is_empty() {
            0
        } else {
            crate::query::encode_nodes(params.nodes, &mut nodes)
                .ok_or(QueryError::FilterTooLarge)?
        };
        let tags_len = if params.tags.is_empty() {
            0
        } else {
            crate::tags::encode(params.tags, &mut tags).map_err(|_| QueryError::FilterTooLarge)?
        };
        let timeout = params
            .timeout
            .unwrap_or_else(|| self.default_query_timeout());
        let Some(slot) = self.outgoing.iter().position(|q| !q.used) else {
            return Err(QueryError::Busy);
        };
        let ltime = self.queries_seen.clock.time();
        let id = self.rng.next_u32();
        let m: Message<'_, I> = Message::Query {
            ltime,
            id,
            from: self.me.clone(),
            flags: if params.ack { flags::ACK } else { 0 },
            relay_factor: params.relay_factor,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            nodes: &nodes[..nodes_len],
            tags: &tags[..tags_len],
            name,
            payload,
        };
        let mut sized = [0u8; 2048];
        match postcard::to_slice(&m, &mut sized) {
            Ok(b) if b.len() <= self.config.query_size_limit => {}
            _ => return Err(QueryError::TooLarge),
        }
        self.outgoing[slot] = Outgoing {
            id,
            ltime,
            deadline: now + timeout,
            acks: 0,
            responses: 0,
            used: true,
            conflict: name == "_serf_conflict",
            matching: 0,
        };
        self.on_message(now, &self.me.addr(), m);
        Ok(id)
    }

    /// Answers a query delivered by [`Node::poll_delivery`], once, before its
    /// deadline. Responses above one datagram go in chunks.
    pub fn respond(&mut self, now: Instant, id: u32, payload: &[u8]) -> Result<(), QueryError> {
        let Some(q) = self
            .incoming
            .iter()
            .position(|q| q.used && q.id == id && q.deadline > now)
        else {
            return Err(QueryError::UnknownQuery);
        };
        let limit = self
            .config
            .query_response_size_limit
            .min(self.config.capacity.reassembly_bytes.max(1024));
        if payload.len() > limit {
            self.stats.responses_too_large += 1;
            return Err(QueryError::ResponseTooLarge);
        }
        let Incoming {
            ltime,
            origin,
            relay_factor,
            ..
        } = self.incoming[q].clone();
        // Chunk size: what a datagram holds after the framing (label,
        // encryption), the version byte and the response header.
        let header = self.encoded_len(&Message::QueryResponse {
            ltime,
            id,
            from: self.me.clone(),
            flags: 0,
            index: u16::MAX,
            total: u16::MAX,
            total_len: u32::MAX,
            offset: u32::MAX,
            payload: &[],
        });
        let room = self.plain_mtu().saturating_sub(1);
        let chunk = room.saturating_sub(header + 3).max(1);
        // A relayed copy wraps the response in a relay message, so a response
        // relayed in one datagram must leave room for that wrapper too.
        let relay_wrapper = self.encoded_len(&Message::Relay {
            dest: origin.clone(),
            inner: &[],
        }) + 2;
        let relays = if relay_factor > 0 && payload.len() + relay_wrapper <= chunk {
            relay_factor as usize
        } else {
            0
        };
        if relay_factor > 0 && relays == 0 {
            // Serf refuses to relay a response that does not fit one message;
            // the direct copy still goes out.
            self.stats.relays_skipped += 1;
        }
        let chunks = payload.len().div_ceil(chunk).max(1);
        if chunks as u32 > MAX_CHUNKS || self.outbox.free() < chunks * (1 + relays) {
            return Err(QueryError::Busy);
        }
        self.incoming[q].used = false;
        let to = origin.addr();
        for (k, part) in payload
            .chunks(chunk)
            .enumerate()
            .chain(core::iter::once((0, &[][..])).take((payload.is_empty()) as usize))
        {
            let m: Message<'_, I> = Message::QueryResponse {
                ltime,
                id,
                from: self.me.clone(),
                flags: 0,
                index: k as u16,
                total: chunks as u16,
                total_len: payload.len() as u32,
                offset: (k * chunk) as u32,
                payload: part,
            };
            // A full outbox counts the refusal (`outbox_dropped`).
            if let Some(slot) = self.outbox.put(&m) {
                self.queue(Transmission::Outbox {
                    to: to.clone(),
                    slot,
                });
            }
            if relays > 0 {
                self.relay_copies(&m, &origin, relays);
            }
        }
        Ok(())
    }

    /// Bytes of a plain datagram that fit one MTU after this node's framing
    /// (label header, encryption header and tag).
    fn plain_mtu(&self) -> usize {
        let framing = crypto::header_len(self.config.label.as_ref(), &self.keyring)
            + crypto::trailer_len(&self.keyring);
        self.config.mtu.saturating_sub(framing)
    }

    /// Encoded size of one message (without the datagram's version byte).
    fn encoded_len(&self, m: &Message<'_, I>) -> usize {
        let mut tmp = [0u8; 512];
        postcard::to_slice(m, &mut tmp).map_or(512, |b| b.len())
    }

    /// Sends `m` to `origin` through `n` random alive members too.
    fn relay_copies(&mut self, m: &Message<'_, I>, origin: &I, n: usize) {
        // The relayed response must fit the relayer's datagram (checked by
        // `respond`); the buffer only bounds the stack.
        let mut buf = [0u8; MAX_RELAYED];
        let cap = self.plain_mtu().min(MAX_RELAYED);
        let Ok(inner) = postcard::to_slice(m, &mut buf[..cap]) else {
            self.stats.relays_skipped += 1;
            return;
        };
        let origin_slot = self.members.find(origin).unwrap_or(EMPTY);
        let mut picked = [EMPTY; 8];
        let k = self.random_members(&mut picked, n, origin_slot, |node, s| {
            node.members.slot(s).state() == Some(State::Alive)
        });
        for &s in &picked[..k] {
            let via = self.members.slot(s).id().addr();
            let relay: Message<'_, I> = Message::Relay {
                dest: origin.clone(),
                inner,
            };
            if let Some(slot) = self.outbox.put(&relay) {
                self.queue(Transmission::Outbox { to: via, slot });
            }
        }
    }

    /// Restores the event clock from a snapshot; events at or before the
    /// restored time are never delivered again.
    pub fn restore_event_clock(&mut self, ltime: u64) {
        self.user_events.clock.restore(ltime);
        self.user_events.min_time = self.user_events.min_time.max(ltime.saturating_add(1));
    }

    // ------------------------------------------------------------------ inputs

    /// Handles one received datagram. Messages before a malformed one are
    /// applied; the rest of the datagram is dropped and the error returned.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: I::Addr,
        datagram: &[u8],
    ) -> Result<(), DecodeError> {
        self.stats.received += 1;
        if datagram.len() > self.config.mtu {
            self.stats.decode_errors += 1;
            return Err(DecodeError::Oversized(datagram.len()));
        }
        if datagram.first() == Some(&crypto::REFUSED) {
            // A peer refused what we sent it: report it, never answer it.
            self.stats.refusals_received += 1;
            return match crypto::Refusal::decode(datagram) {
                Some(r) => Err(DecodeError::Refused(r)),
                None => {
                    self.stats.decode_errors += 1;
                    Err(DecodeError::Malformed)
                }
            };
        }
        let framed = self.config.label.is_some()
            || !self.keyring.is_empty()
            || matches!(
                datagram.first(),
                Some(&crypto::LABELLED | &crypto::ENCRYPTED)
            );
        if !framed {
            return self.process(now, from, datagram);
        }
        let body = match crypto::strip_label(datagram, self.config.label.as_ref()) {
            Ok(b) => b,
            Err(e) => return self.refuse(now, from, e),
        };
        if self.keyring.is_empty() {
            if body.first() == Some(&crypto::ENCRYPTED) {
                return self.refuse(now, from, FrameError::Encryption);
            }
            return self.process(now, from, body);
        }
        // Decrypt into the scratch buffer (taken out of `self` while in use).
        let Some(mut scratch) = self.scratch.take() else {
            return self.refuse(now, from, FrameError::Decrypt);
        };
        let result = match crypto::open(
            body,
            &mut scratch,
            self.config.label.as_ref(),
            &self.keyring,
        ) {
            Ok(n) => self.process(now, from.clone(), &scratch[..n]),
            Err(e) => self.refuse(now, from, e),
        };
        self.scratch = Some(scratch);
        result
    }

    /// Refuses a datagram for its framing, and tells the sender why (at most
    /// one notice per [`REFUSAL_INTERVAL`]).
    fn refuse(&mut self, now: Instant, from: I::Addr, e: FrameError) -> Result<(), DecodeError> {
        self.stats.frames_rejected += 1;
        if now >= self.next_refusal {
            self.next_refusal = now + REFUSAL_INTERVAL;
            let refusal = crypto::Refusal::of(e, !self.keyring.is_empty());
            self.stats.refusals_sent += 1;
            self.queue(Transmission::Refusal { to: from, refusal });
        }
        Err(DecodeError::Frame(e))
    }

    /// Decodes and applies a plain datagram.
    fn process(&mut self, now: Instant, from: I::Addr, datagram: &[u8]) -> Result<(), DecodeError> {
        let decoder = match Decoder::<I>::new(datagram, self.config.mtu) {
            Ok(d) => d,
            Err(e) => {
                self.stats.decode_errors += 1;
                return Err(e);
            }
        };
        for m in decoder {
            match m {
                Ok(m) => self.on_message(now, &from, m),
                Err(e) => {
                    self.stats.decode_errors += 1;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(slot) = self.suspicions.pop_expired(now) {
            if self.members.slot(slot).state() == Some(State::Suspect) {
                self.declare_dead(now, slot, self.my_slot);
            }
        }
        self.expire_relays(now);
        self.expire_queries(now);
        self.probe_timeout(now);
        if now >= self.next_probe {
            self.probe_tick(now);
        }
        if now >= self.next_gossip {
            self.gossip_tick(now);
        }
        if now >= self.next_push_pull {
            self.push_pull_tick(now);
        }
        if now >= self.next_reconnect {
            self.reconnect_tick(now);
        }
    }

    // ----------------------------------------------------------------- outputs

    /// Writes the next datagram into `buf` (at most MTU bytes are used).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit<I::Addr>> {
        let limit = buf.len().min(self.config.mtu);
        let head = crypto::header_len(self.config.label.as_ref(), &self.keyring);
        let tail = crypto::trailer_len(&self.keyring);
        if limit < head + tail + 64 {
            return None;
        }
        if let Some(Transmission::Refusal { .. }) = self.transmits.front() {
            if let Some(Transmission::Refusal { to, refusal }) = self.transmits.pop_front() {
                buf[..crypto::REFUSAL_LEN].copy_from_slice(&refusal.encode());
                self.stats.sent += 1;
                return Some(Transmit {
                    to,
                    len: crypto::REFUSAL_LEN,
                });
            }
        }
        let (to, len) = match self.poll_plain(&mut buf[head..limit - tail]) {
            Some(t) => t,
            // poll_plain stops in front of a refusal notice (it is not framed).
            None if matches!(self.transmits.front(), Some(Transmission::Refusal { .. })) => {
                return self.poll_transmit(buf)
            }
            None => return None,
        };
        let mut nonce = [0u8; crypto::NONCE];
        self.rng.fill_bytes(&mut nonce);
        match crypto::seal(
            &mut buf[..limit],
            len,
            self.config.label.as_ref(),
            &self.keyring,
            nonce,
        ) {
            Some(len) => Some(Transmit { to, len }),
            None => {
                self.stats.transmits_dropped += 1;
                None
            }
        }
    }

    /// The next datagram, unframed, written into `buf`.
    fn poll_plain(&mut self, buf: &mut [u8]) -> Option<(I::Addr, usize)> {
        while let Some(t) = self.transmits.pop_front() {
            let Some(mut enc) = Encoder::new(buf) else {
                self.transmits.push_front(t);
                return None;
            };
            let to = match t {
                // Not framed: `poll_transmit` writes it; stop in front of it.
                t @ Transmission::Refusal { .. } => {
                    self.transmits.push_front(t);
                    return None;
                }
                Transmission::Ping {
                    target,
                    seq,
                    suspect,
                } => {
                    enc.push(&Message::Ping {
                        seq,
                        target: target.clone(),
                    });
                    if let Some(incarnation) = suspect {
                        let from = self.me.clone();
                        enc.push(&Message::Suspect {
                            incarnation,
                            node: target.clone(),
                            from,
                        });
                    }
                    self.piggyback(&mut enc);
                    target.addr()
                }
                Transmission::IndirectPing {
                    via,
                    target,
                    seq,
                    nack,
                } => {
                    enc.push(&Message::IndirectPing { seq, target, nack });
                    self.piggyback(&mut enc);
                    via.addr()
                }
                Transmission::Ack { to, seq, coord } => {
                    let mut cbuf = [0u8; COORD_MAX];
                    let coord = if coord && self.config.coordinates {
                        CoordBytes::encode(self.vivaldi.coordinate(), &mut cbuf)
                    } else {
                        None
                    };
                    enc.push::<I>(&Message::Ack { seq, coord });
                    self.piggyback(&mut enc);
                    to
                }
                Transmission::Nack { to, seq } => {
                    enc.push::<I>(&Message::Nack { seq });
                    self.piggyback(&mut enc);
                    to
                }
                // Direct replies carry no piggyback: they mostly go to one
                // originator, where gossip would be wasted (as memberlist's
                // best-effort sends).
                Transmission::Outbox { to, slot } => {
                    let ok = enc.push_raw(self.outbox.get(slot));
                    self.outbox.release(slot);
                    if !ok {
                        self.stats.transmits_dropped += 1;
                        continue;
                    }
                    to
                }
                Transmission::Gossip { to } => {
                    self.piggyback(&mut enc);
                    if enc.is_empty() {
                        continue;
                    }
                    to.addr()
                }
                Transmission::PushPull {
                    to,
                    session,
                    cursor,
                    flags,
                } => {
                    let flags = if cursor == 0 { flags } else { 0 };
                    enc.push::<I>(&Message::PushPull {
                        session,
                        flags,
                        event_ltime: self.user_events.clock.time(),
                    });
                    let next = self.write_states(&mut enc, cursor);
                    if next < self.members.high() {
                        self.transmits.push_front(Transmission::PushPull {
                            to: to.clone(),
                            session,
                            cursor: next,
                            flags: 0,
                        });
                    }
                    to
                }
                Transmission::Replay { to, seq } => {
                    let mut seq = seq.max(self.event_log.oldest());
                    while let Some(rec) = self.event_log.get(seq) {
                        if !enc.push_raw(rec) {
                            if enc.is_empty() {
                                // Too big for any datagram under this
                                // framing: skip it rather than retry forever.
                                self.stats.replay_skipped += 1;
                                seq += 1;
                                continue;
                            }
                            break;
                        }
                        seq += 1;
                    }
                    if seq < self.event_log.next() {
                        self.transmits.push_front(Transmission::Replay {
                            to: to.clone(),
                            seq,
                        });
                    }
                    if enc.is_empty() {
                        continue;
                    }
                    to
                }
            };
            self.stats.sent += 1;
            return Some((to, enc.len()));
        }
        None
    }

    /// The next membership event.
    pub fn poll_event(&mut self) -> Option<Event<I>> {
        self.events.pop_front()
    }

    /// The next received user message (raw broadcast or user event), decoded
    /// from a copy in `buf` (which must hold `capacity.user_payload` bytes).
    pub fn poll_delivery<'b>(&mut self, buf: &'b mut [u8]) -> Option<Delivery<'b, I>> {
        if core::mem::take(&mut self.keyring_changed) {
            return Some(Delivery::KeyringChanged);
        }
        let n = self.inbox.pop(buf)?;
        // A reassembled response: the inbox holds a marker naming the slot.
        if let Ok(Message::QueryResponse {
            id,
            from,
            flags,
            index,
            total_len,
            ..
        }) = postcard::from_bytes::<Message<'_, I>>(&buf[..n])
        {
            if flags & LOCAL_DONE != 0 {
                return Some(Delivery::QueryDone { id });
            }
            if flags & LOCAL_LARGE != 0 {
                let len = (total_len as usize).min(buf.len());
                if len < total_len as usize {
                    self.stats.decode_errors += 1; // caller buffer too small
                }
                let at = index as usize * self.config.capacity.reassembly_bytes;
                buf[..len].copy_from_slice(&self.reassembly_bytes[at..at + len]);
                if let Some(r) = self.reassembly.get_mut(index as usize) {
                    r.used = false;
                }
                return Some(Delivery::QueryResponse {
                    id,
                    from,
                    payload: &buf[..len],
                });
            }
        }
        let bytes: &'b [u8] = &buf[..n];
        match postcard::from_bytes::<Message<'b, I>>(bytes) {
            Ok(Message::Query {
                id,
                ltime,
                from,
                name,
                payload,
                ..
            }) => Some(Delivery::Query {
                id,
                ltime,
                from,
                name,
                payload,
            }),
            Ok(Message::QueryResponse {
                id,
                from,
                flags,
                payload,
                ..
            }) => {
                if flags & response_flags::ACK != 0 {
                    Some(Delivery::QueryAck { id, from })
                } else {
                    Some(Delivery::QueryResponse { id, from, payload })
                }
            }
            Ok(Message::User(p)) => Some(Delivery::User(p)),
            Ok(Message::Event {
                ltime,
                name,
                payload,
                coalesce,
            }) => Some(Delivery::Event {
                ltime,
                name,
                payload,
                coalesce,
            }),
            // Truncated by a short `buf`: counted, skipped.
            _ => {
                self.stats.decode_errors += 1;
                None
            }
        }
    }

    /// When [`Node::handle_timeout`] next has work (`None` only when there is
    /// nothing to time at all). Outbound datagrams are polled separately.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self
            .next_gossip
            .min(self.next_push_pull)
            .min(self.next_reconnect);
        if !self.leaving {
            t = t.min(self.next_probe);
        }
        if let Some(d) = self.probe.timeout_at() {
            t = t.min(d);
        }
        if let Some(d) = self.suspicions.next_deadline() {
            t = t.min(d);
        }
        if let Some(d) = self.relays.next_deadline() {
            t = t.min(d);
        }
        if let Some(d) = self
            .outgoing
            .iter()
            .filter(|q| q.used)
            .map(|q| q.deadline)
            .min()
        {
            t = t.min(d);
        }
        Some(t)
    }

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

    /// A member's metadata (encoded tags).
    pub fn meta_of(&self, id: &I) -> Option<&[u8]> {
        self.members.find(id).map(|s| self.meta.get(s))
    }

    /// A member's tags.
    pub fn tags_of(&self, id: &I) -> Option<Tags<'_>> {
        self.meta_of(id).map(Tags::new)
    }

    /// This node's network coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        self.vivaldi.coordinate()
    }

    /// The latest coordinate known for `id` (this node's own for itself).
    pub fn coordinate_of(&self, id: &I) -> Option<Coordinate> {
        if *id == self.me {
            return Some(*self.vivaldi.coordinate());
        }
        let slot = self.members.find(id)?;
        self.coordinates.get(slot).copied()
    }

    /// Estimated round-trip time between two members this node has coordinates
    /// for (as `serf rtt a b`).
    pub fn rtt(&self, a: &I, b: &I) -> Option<core::time::Duration> {
        let (ca, cb) = (self.coordinate_of(a)?, self.coordinate_of(b)?);
        if !ca.is_compatible_with(&cb) {
            return None;
        }
        Some(core::time::Duration::from_secs_f64(
            ca.distance_to(&cb).max(0.0),
        ))
    }

    /// Fills `out` with the live members closest to this node by estimated RTT,
    /// nearest first; returns how many were written (at most `out.len()`).
    pub fn nearest(&self, out: &mut [(I, core::time::Duration)]) -> usize {
        let me = self.vivaldi.coordinate();
        let mut n = 0usize;
        for (slot, c) in self.coordinates.iter() {
            let s = self.members.slot(slot);
            let live = s.state().is_some_and(State::is_live);
            if slot == self.my_slot || !live || !me.is_compatible_with(c) {
                continue;
            }
            let d = core::time::Duration::from_secs_f64(me.distance_to(c).max(0.0));
            // Insert into the sorted prefix, dropping the farthest when full.
            let mut at = n;
            while at > 0 && out[at - 1].1 > d {
                at -= 1;
            }
            if at >= out.len() {
                continue;
            }
            let end = n.min(out.len() - 1);
            for k in (at..end).rev() {
                out[k + 1] = out[k].clone();
            }
            out[at] = (s.id().clone(), d);
            n = (n + 1).min(out.len());
        }
        n
    }

    // --------------------------------------------------------------- internals

    /// Queues a transmission; if the full queue evicts an outbox datagram,
    /// its slot is freed (the eviction is counted by the ring).
    fn queue(&mut self, t: Transmission<I>) {
        if let Some(Transmission::Outbox { slot, .. }) = self.transmits.push_back(t) {
            self.outbox.release(slot);
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn emit(&mut self, kind: EventKind, slot: u32) {
        let s = self.members.slot(slot);
        self.events.push_back(Event {
            kind,
            member: s.id().clone(),
            incarnation: s.incarnation(),
        });
    }

    /// Live members, for the log-scaled formulas (at least 1).
    fn cluster_size(&self) -> u32 {
        self.members.counts().live().max(1)
    }

    /// memberlist's limit, but never below one gossip round's fan-out: with
    /// the local profile's multiplier of 2, a 4-member cluster would send a
    /// suspicion to 2 of its 3 gossip targets — one of them the suspect
    /// itself — and a member could miss it altogether (seen with real agents).
    fn retransmit_limit(&self) -> u32 {
        let n = self.cluster_size() as f64;
        let limit = self.config.retransmit_mult * libm::ceil(libm::log10(n + 1.0)) as u32;
        limit.max(self.config.gossip_nodes as u32)
    }

    #[inline(always)]
    fn on_message(&mut self, now: Instant, from: &I::Addr, m: Message<'_, I>) {
        match m {
            Message::Ping { seq, target } => {
                if target == self.me {
                    self.queue(Transmission::Ack {
                        to: from.clone(),
                        seq,
                        coord: true,
                    });
                } else {
                    self.stats.misdirected += 1;
                }
            }
            Message::IndirectPing { seq, target, nack } => {
                let ours = self.next_seq();
                let deadline = now + self.config.probe_timeout;
                self.relays.insert(Relay {
                    requester: from.clone(),
                    their_seq: seq,
                    our_seq: ours,
                    nack,
                    deadline,
                });
                self.queue(Transmission::Ping {
                    target,
                    seq: ours,
                    suspect: None,
                });
            }
            Message::Ack { seq, coord } => {
                if let Some(rtt) = self.probe.acked(seq, now) {
                    self.awareness.apply(-1);
                    if let (true, Some(bytes)) = (self.config.coordinates, coord) {
                        match bytes.decode() {
                            Some(c) => self.observe_coordinate(rtt, &c),
                            None => self.stats.decode_errors += 1,
                        }
                    }
                } else if let Some(r) = self.relays.take(seq) {
                    self.queue(Transmission::Ack {
                        to: r.requester,
                        seq: r.their_seq,
                        coord: false,
                    });
                }
            }
            Message::Nack { seq } => self.probe.nacked(seq),
            Message::Alive {
                incarnation,
                node,
                meta,
                protocol,
            } => self.on_alive(now, node, incarnation, meta, protocol),
            Message::Suspect {
                incarnation,
                node,
                from,
            } => self.on_suspect(now, node, incarnation, &from),
            Message::Dead {
                incarnation,
                node,
                from,
            } => {
                let left = from == node;
                self.on_dead(now, node, incarnation, &from, left)
            }
            Message::PushPull {
                session,
                flags,
                event_ltime,
            } => {
                // The sender's clock is the stamp its next event gets, so
                // ours only needs to reach it (witnessing would add one per
                // exchange and make clocks creep apart).
                self.user_events.clock.restore(event_ltime);
                if flags & push_pull_flags::JOIN_REPLY != 0 && flags & push_pull_flags::REPLAY == 0
                {
                    // Our join without replay: the events the answering
                    // member had seen are history for us.
                    self.user_events.min_time = self.user_events.min_time.max(event_ltime);
                }
                if flags & push_pull_flags::WANT_REPLY != 0 {
                    let join = flags & push_pull_flags::JOIN != 0;
                    let reply_flags = if join {
                        push_pull_flags::JOIN_REPLY | (flags & push_pull_flags::REPLAY)
                    } else {
                        0
                    };
                    self.push_pull(from.clone(), session, reply_flags);
                }
            }
            Message::State {
                node,
                incarnation,
                state,
                meta,
                protocol,
            } => match state {
                wire_state::ALIVE => self.on_alive(now, node, incarnation, meta, protocol),
                wire_state::LEFT => {
                    let from = node.clone();
                    self.on_dead(now, node, incarnation, &from, true)
                }
                // memberlist downgrades a remote "dead" to suspect: we verify ourselves.
                wire_state::SUSPECT | wire_state::DEAD => {
                    let me = self.me.clone();
                    self.on_suspect(now, node, incarnation, &me)
                }
                _ => self.stats.decode_errors += 1,
            },
            Message::User(p) => self.inbox.push(&Message::<'_, I>::User(p)),
            Message::Event {
                ltime,
                name,
                payload,
                coalesce,
            } => self.on_event(ltime, name, payload, coalesce, true),
            m @ Message::Query { .. } => self.on_query(now, &m),
            Message::QueryResponse {
                ltime,
                id,
                from,
                flags,
                index,
                total,
                total_len,
                offset,
                payload,
            } => self.on_query_response(
                ltime, id, from, flags, index, total, total_len, offset, payload,
            ),
            Message::Relay { dest, inner } => self.on_relay(dest, inner),
            Message::Intent {
                ltime,
                node,
                leave,
                prune,
            } => self.on_intent(now, ltime, node, leave, prune),
        }
    }

    /// A query, received or sent by this node.
    fn on_query(&mut self, now: Instant, m: &Message<'_, I>) {
        let Message::Query {
            ltime,
            id,
            from,
            flags: qflags,
            relay_factor,
            timeout_ms,
            nodes,
            tags,
            name,
            payload,
        } = m
        else {
            return;
        };
        if self.queries_seen.observe(*ltime, "", &id.to_le_bytes()) != Verdict::New {
            return;
        }
        if qflags & flags::NO_BROADCAST == 0 && self.user.enqueue(m).is_err() {
            self.stats.user_broadcasts_dropped += 1;
        }
        let mine = Tags::new(self.meta.get(self.my_slot));
        if !passes(&self.me, mine, nodes, tags, self.config.tag_matcher) {
            return;
        }
        let deadline = now + core::time::Duration::from_millis(*timeout_ms as u64);
        if qflags & flags::ACK != 0 {
            let ack: Message<'_, I> = Message::QueryResponse {
                ltime: *ltime,
                id: *id,
                from: self.me.clone(),
                flags: response_flags::ACK,
                index: 0,
                total: 1,
                total_len: 0,
                offset: 0,
                payload: &[],
            };
            if let Some(slot) = self.outbox.put(&ack) {
                self.queue(Transmission::Outbox {
                    to: from.addr(),
                    slot,
                });
            }
            if *relay_factor > 0 {
                self.relay_copies(&ack, from, *relay_factor as usize);
            }
        }
        // Remember it for `respond`; a full table gives way to the oldest.
        let slot = match self
            .incoming
            .iter()
            .position(|q| !q.used || q.deadline <= now)
        {
            Some(s) => s,
            None => {
                self.stats.queries_dropped += 1;
                let mut oldest = 0;
                for (i, q) in self.incoming.iter().enumerate() {
                    if q.deadline < self.incoming[oldest].deadline {
                        oldest = i;
                    }
                }
                oldest
            }
        };
        self.incoming[slot] = Incoming {
            id: *id,
            ltime: *ltime,
            origin: from.clone(),
            deadline,
            relay_factor: *relay_factor,
            used: true,
        };
        if name.starts_with("_serf_") {
            self.internal_query(now, *id, from, name, payload);
        } else {
            self.inbox.push(m);
        }
    }

    /// An ack or response (chunk) for one of our queries.
    #[allow(clippy::too_many_arguments)]
    fn on_query_response(
        &mut self,
        ltime: u64,
        id: u32,
        from: I,
        rflags: u8,
        index: u16,
        total: u16,
        total_len: u32,
        offset: u32,
        payload: &[u8],
    ) {
        if rflags & (LOCAL_LARGE | LOCAL_DONE) != 0 {
            self.stats.decode_errors += 1;
            return;
        }
        let Some(q) = self
            .outgoing
            .iter()
            .position(|q| q.used && q.id == id && q.ltime == ltime)
        else {
            self.stats.stray_responses += 1;
            return;
        };
        let who = from.hash_with(0x51);
        let ack = rflags & response_flags::ACK != 0;
        if ack || total <= 1 {
            if !self
                .seen
                .insert(mix64(who ^ ((id as u64) << 1) ^ ack as u64))
            {
                // A relayed copy (or the seen set is full).
                self.stats.response_duplicates += 1;
                return;
            }
            let m: Message<'_, I> = Message::QueryResponse {
                ltime,
                id,
                from,
                flags: rflags,
                index: 0,
                total: 1,
                total_len: payload.len() as u32,
                offset: 0,
                payload,
            };
            if ack {
                self.outgoing[q].acks += 1;
            } else {
                self.outgoing[q].responses += 1;
            }
            if self.outgoing[q].conflict {
                let held = postcard::from_bytes::<I>(payload);
                if !ack && held.is_ok_and(|h| h == self.me) {
                    self.outgoing[q].matching += 1;
                }
                return;
            }
            self.inbox.push(&m);
            return;
        }
        // A chunk of a large response.
        let cap = self.config.capacity.reassembly_bytes;
        let end = offset as usize + payload.len();
        if total as u32 > MAX_CHUNKS
            || index >= total
            || total_len as usize > cap
            || end > total_len as usize
        {
            self.stats.decode_errors += 1;
            return;
        }
        let slot = match self
            .reassembly
            .iter()
            .position(|r| r.used && r.id == id && r.from == from)
        {
            Some(s) => s,
            None => {
                let Some(s) = self.reassembly.iter().position(|r| !r.used) else {
                    self.stats.responses_dropped += 1;
                    return;
                };
                self.reassembly[s] = Reassembly {
                    id,
                    from: from.clone(),
                    total_len,
                    chunks: total,
                    received: 0,
                    used: true,
                };
                s
            }
        };
        let r = &mut self.reassembly[slot];
        if r.total_len != total_len || r.chunks != total {
            self.stats.decode_errors += 1;
            return;
        }
        r.received |= 1 << index;
        let base = slot * cap;
        self.reassembly_bytes[base + offset as usize..base + end].copy_from_slice(payload);
        let complete = if total as u32 == 64 {
            u64::MAX
        } else {
            (1u64 << total) - 1
        };
        if self.reassembly[slot].received == complete {
            if !self.seen.insert(mix64(who ^ ((id as u64) << 1))) {
                self.reassembly[slot].used = false;
                return;
            }
            self.outgoing[q].responses += 1;
            let marker: Message<'_, I> = Message::QueryResponse {
                ltime,
                id,
                from,
                flags: LOCAL_LARGE,
                index: slot as u16,
                total,
                total_len,
                offset: 0,
                payload: &[],
            };
            self.inbox.push(&marker);
        }
    }

    /// Forwards a relayed query response to its destination.
    fn on_relay(&mut self, dest: I, inner: &[u8]) {
        // Only query responses are relayed: nothing else can be reflected.
        match postcard::from_bytes::<Message<'_, I>>(inner) {
            Ok(Message::QueryResponse { .. }) => {
                if let Some(slot) = self.outbox.put_raw(inner) {
                    self.queue(Transmission::Outbox {
                        to: dest.addr(),
                        slot,
                    });
                }
            }
            _ => self.stats.decode_errors += 1,
        }
    }

    /// Ends queries whose deadline passed (a handful of slots, scanned).
    fn expire_queries(&mut self, now: Instant) {
        let mut any = false;
        for i in 0..self.outgoing.len() {
            let q = &self.outgoing[i];
            if !q.used {
                continue;
            }
            if q.deadline > now {
                any = true;
                continue;
            }
            let (id, ltime) = (q.id, q.ltime);
            let (conflict, answers, matching) = (q.conflict, q.responses, q.matching);
            self.outgoing[i].used = false;
            if conflict {
                // Majority rule: at least half of the answers plus one must
                // name us at our address, or we yield the name.
                let won = answers == 0 || matching > answers / 2;
                let kind = if won {
                    EventKind::ConflictWon
                } else {
                    EventKind::ConflictLost
                };
                self.conflict_lost |= !won;
                self.emit(kind, self.my_slot);
                continue;
            }
            for r in self.reassembly.iter_mut() {
                if r.used && r.id == id {
                    r.used = false;
                    self.stats.responses_dropped += 1;
                }
            }
            let done: Message<'_, I> = Message::QueryResponse {
                ltime,
                id,
                from: self.me.clone(),
                flags: LOCAL_DONE,
                index: 0,
                total: 0,
                total_len: 0,
                offset: 0,
                payload: &[],
            };
            self.inbox.push(&done);
        }
        if !any {
            self.seen.clear();
        }
    }

    /// Queues our state for `to`, followed by the user events we keep — as
    /// Serf's push-pull carries its event buffer, so an event that gossip
    /// missed somewhere still arrives — except in the answer to a join
    /// without replay (the joiner would ignore them).
    fn push_pull(&mut self, to: I::Addr, session: u32, flags: u8) {
        self.queue(Transmission::PushPull {
            to: to.clone(),
            session,
            cursor: 0,
            flags,
        });
        let skip = flags & push_pull_flags::JOIN_REPLY != 0 && flags & push_pull_flags::REPLAY == 0;
        if !skip && self.event_log.next() > self.event_log.oldest() {
            self.queue(Transmission::Replay {
                to,
                seq: self.event_log.oldest(),
            });
        }
    }

    /// Keeps an encoded copy of a new user event for push-pull and replay.
    fn record_event(&mut self, m: &Message<'_, I>) {
        self.event_log
            .record_with(|slot| postcard::to_slice(m, slot).ok().map(|b| b.len()));
    }

    /// A user event, received (`rebroadcast`) or fired here.
    fn on_event(
        &mut self,
        ltime: u64,
        name: &str,
        payload: &[u8],
        coalesce: bool,
        rebroadcast: bool,
    ) {
        if self.user_events.observe(ltime, name, payload) != Verdict::New {
            return;
        }
        let m: Message<'_, I> = Message::Event {
            ltime,
            name,
            payload,
            coalesce,
        };
        self.inbox.push(&m);
        self.record_event(&m);
        if rebroadcast && self.user.enqueue(&m).is_err() {
            self.stats.user_broadcasts_dropped += 1;
        }
    }

    fn on_alive(&mut self, now: Instant, id: I, inc: u32, meta: &[u8], protocol: u8) {
        if id == self.me {
            // Someone holds a newer record of us than we do (we restarted), or
            // our incarnation with other tags: take a higher incarnation so
            // that our own record wins everywhere.
            let mine = self.incarnation();
            let stale = inc > mine || (inc == mine && meta != self.meta.get(self.my_slot));
            if stale && !self.leaving {
                self.refute(now, inc);
            }
            return;
        }
        let Some(slot) = self.members.find(&id) else {
            if let Some(holder) = self.members.find_name(&id) {
                // Same name, another address. A left holder gives the name up
                // (memberlist reclaims left names); otherwise it is a conflict.
                if self.members.slot(holder).state() == Some(State::Left) {
                    self.reap(holder);
                } else {
                    self.stats.name_conflicts += 1;
                    if holder == self.my_slot && self.config.resolve_name_conflicts {
                        self.resolve_conflict(now);
                    } else {
                        self.events.push_back(Event {
                            kind: EventKind::NameConflict,
                            member: id,
                            incarnation: inc,
                        });
                    }
                    return;
                }
            }
            match self
                .members
                .insert(id, inc, State::Alive, now, &mut self.rng)
            {
                Ok(slot) => {
                    self.meta.set(slot, meta);
                    self.members.set_protocol(slot, protocol);
                    self.intents.reset(slot);
                    if let Some((ltime, leave)) = self.intents.take(self.members.slot(slot).id()) {
                        self.intents.apply(slot, ltime, leave);
                    }
                    self.broadcasts.enqueue(slot, EMPTY);
                    self.emit(EventKind::Joined, slot);
                }
                Err(_) => self.stats.members_rejected += 1,
            }
            return;
        };
        let s = self.members.slot(slot);
        if inc <= s.incarnation() {
            return;
        }
        let prev = s.state();
        self.members.set(slot, State::Alive, inc, now);
        self.members.set_protocol(slot, protocol);
        if prev == Some(State::Suspect) {
            self.suspicions.cancel(slot);
        }
        let stored = self.meta.get(slot);
        let changed = stored.len() != meta.len() || (!meta.is_empty() && stored != meta);
        if changed {
            self.meta.set(slot, meta);
        }
        self.broadcasts.enqueue(slot, EMPTY);
        let kind = match prev {
            Some(State::Dead | State::Left) => EventKind::Joined,
            Some(State::Suspect) => EventKind::Alive,
            _ if changed => EventKind::Updated,
            // A bare incarnation bump (a refutation elsewhere) changes nothing
            // an application sees; memberlist does not notify either.
            _ => return,
        };
        self.emit(kind, slot);
    }

    fn on_suspect(&mut self, now: Instant, id: I, inc: u32, from: &I) {
        if id == self.me {
            if !self.leaving {
                self.refute(now, inc);
            }
            return;
        }
        let Some(slot) = self.members.find(&id) else {
            return;
        };
        let s = self.members.slot(slot);
        if inc < s.incarnation() {
            return;
        }
        let from_slot = if *from == self.me {
            self.my_slot
        } else {
            self.members.find(from).unwrap_or(EMPTY)
        };
        match s.state() {
            // Independent confirmations shorten the timeout and are re-gossiped.
            Some(State::Suspect)
                if self.config.lifeguard && self.suspicions.confirm(slot, from_slot) =>
            {
                self.broadcasts.enqueue(slot, from_slot);
            }
            Some(State::Alive) => self.start_suspicion(now, slot, inc, from_slot),
            _ => {}
        }
    }

    fn start_suspicion(&mut self, now: Instant, slot: u32, inc: u32, from_slot: u32) {
        self.members.set(slot, State::Suspect, inc, now);
        let n = self.cluster_size();
        let c = &self.config;
        let (min, max) = suspicion::timeouts(
            c.suspicion_mult,
            c.suspicion_max_timeout_mult,
            n,
            c.probe_interval,
        );
        let (max, k) = if c.lifeguard {
            let k = c.suspicion_mult.saturating_sub(2);
            (max, if n.saturating_sub(2) < k { 0 } else { k })
        } else {
            (min, 0)
        };
        self.suspicions.start(slot, from_slot, now, min, max, k);
        self.broadcasts.enqueue(slot, from_slot);
        self.emit(EventKind::Suspect, slot);
    }

    fn on_dead(&mut self, now: Instant, id: I, inc: u32, from: &I, left: bool) {
        if id == self.me {
            if !self.leaving {
                self.refute(now, inc);
            }
            return;
        }
        let Some(slot) = self.members.find(&id) else {
            return;
        };
        let s = self.members.slot(slot);
        if inc < s.incarnation() || matches!(s.state(), Some(State::Dead | State::Left) | None) {
            return;
        }
        let from_slot = if left {
            slot
        } else {
            self.members.find(from).unwrap_or(EMPTY)
        };
        if left {
            self.members.set(slot, State::Left, inc, now);
            self.suspicions.cancel(slot);
            self.broadcasts.enqueue(slot, slot);
            self.emit(EventKind::Left, slot);
        } else {
            self.members.set(slot, State::Suspect, inc, now);
            self.declare_dead(now, slot, from_slot);
        }
    }

    fn declare_dead(&mut self, now: Instant, slot: u32, from_slot: u32) {
        let inc = self.members.slot(slot).incarnation();
        self.members.set(slot, State::Dead, inc, now);
        self.suspicions.cancel(slot);
        self.broadcasts.enqueue(slot, from_slot);
        self.emit(EventKind::Failed, slot);
    }

    fn refute(&mut self, now: Instant, accused: u32) {
        let inc = self.incarnation().max(accused).wrapping_add(1);
        self.members.set(self.my_slot, State::Alive, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        self.stats.refutations += 1;
        if self.config.lifeguard {
            self.awareness.apply(1);
        }
    }

    fn probe_tick(&mut self, now: Instant) {
        if let Some(failed) = self.probe.finish() {
            self.stats.probe_failures += 1;
            if self.config.lifeguard {
                let delta = if failed.expected_nacks > 0 {
                    failed.expected_nacks.saturating_sub(failed.nacks) as i32
                } else {
                    1
                };
                self.awareness.apply(delta);
            }
            if let Some(slot) = self.members.find(&failed.target) {
                let s = self.members.slot(slot);
                match s.state() {
                    Some(State::Alive) => {
                        let inc = s.incarnation();
                        self.start_suspicion(now, slot, inc, self.my_slot);
                    }
                    // Already suspected by someone else: our own failed probe
                    // is an independent confirmation (memberlist's
                    // suspectNode from ourselves), gossiped on.
                    Some(State::Suspect)
                        if self.config.lifeguard && self.suspicions.confirm(slot, self.my_slot) =>
                    {
                        self.broadcasts.enqueue(slot, self.my_slot);
                    }
                    _ => {}
                }
            }
        }
        let interval = if self.config.lifeguard {
            self.awareness.scale(self.config.probe_interval)
        } else {
            self.config.probe_interval
        };
        self.next_probe = now + interval;
        if self.leaving {
            return;
        }
        for _ in 0..WALK_LIMIT {
            let Some(slot) = self.members.walk_next(&mut self.rng) else {
                return;
            };
            if slot == self.my_slot {
                continue;
            }
            let s = self.members.slot(slot);
            match s.state() {
                Some(State::Alive) => {}
                Some(State::Suspect) => {
                    // Suspicions that found no room in the pool expire here.
                    let (_, max) = suspicion::timeouts(
                        self.config.suspicion_mult,
                        self.config.suspicion_max_timeout_mult,
                        self.cluster_size(),
                        self.config.probe_interval,
                    );
                    if self.suspicions.confirmations(slot).is_none()
                        && self.members.age(slot, now) > max
                    {
                        self.declare_dead(now, slot, self.my_slot);
                        continue;
                    }
                }
                Some(State::Dead) => {
                    if self.members.age(slot, now) > self.config.dead_reap_timeout {
                        self.reap(slot);
                    }
                    continue;
                }
                Some(State::Left) => {
                    if self.members.age(slot, now) > self.config.left_reap_timeout {
                        self.reap(slot);
                    }
                    continue;
                }
                None => continue,
            }
            let s = self.members.slot(slot);
            let target = s.id().clone();
            let suspect = (self.config.lifeguard && s.state() == Some(State::Suspect))
                .then_some(s.incarnation());
            let seq = self.next_seq();
            self.probe = Probe::start(
                target.clone(),
                seq,
                now,
                now + self.config.probe_timeout,
                self.next_probe,
            );
            self.stats.probes += 1;
            self.queue(Transmission::Ping {
                target,
                seq,
                suspect,
            });
            return;
        }
    }

    /// Feeds a direct probe's RTT and the target's coordinate to Vivaldi and
    /// caches the coordinate for `rtt` / `nearest`.
    fn observe_coordinate(&mut self, rtt: core::time::Duration, c: &Coordinate) {
        if self.vivaldi.validate(c, rtt.as_secs_f64()).is_err() {
            return; // counted; nothing cached for a bad coordinate
        }
        let Some(target) = self.probe.target() else {
            return;
        };
        let Some(slot) = self.members.find(target) else {
            return;
        };
        let Some(entry) = self.coordinates.entry(slot, &mut self.rng) else {
            return;
        };
        if self
            .vivaldi
            .update(c, rtt.as_secs_f64(), &mut entry.filter, &mut self.rng)
            .is_ok()
        {
            entry.coord = *c;
        }
    }

    fn reap(&mut self, slot: u32) {
        self.coordinates.forget(slot);
        self.intents.reset(slot);
        self.emit(EventKind::Reaped, slot);
        self.broadcasts.forget(slot);
        self.suspicions.cancel(slot);
        self.members.remove(slot);
    }

    fn probe_timeout(&mut self, now: Instant) {
        let Some(target) = self.probe.due_for_indirect(now) else {
            return;
        };
        let target = target.clone();
        let mut picked = [EMPTY; 8];
        let target_slot = self.members.find(&target).unwrap_or(EMPTY);
        let n = self.random_members(
            &mut picked,
            self.config.indirect_checks,
            target_slot,
            |node, s| node.members.slot(s).state() == Some(State::Alive),
        );
        let nack = self.config.lifeguard;
        let seq = self.probe.seq();
        for &s in &picked[..n] {
            let via = self.members.slot(s).id().clone();
            self.queue(Transmission::IndirectPing {
                via,
                target: target.clone(),
                seq,
                nack,
            });
        }
        self.probe.indirect_sent(if nack { n as u32 } else { 0 });
    }

    fn expire_relays(&mut self, now: Instant) {
        while let Some(r) = self.relays.pop_expired(now) {
            if r.nack {
                self.queue(Transmission::Nack {
                    to: r.requester,
                    seq: r.their_seq,
                });
            }
        }
    }

    /// Up to `want` distinct random members (never us or `exclude`) that pass
    /// `ok`, into `out`; returns how many. Bounded draws, no scan of the table.
    fn random_members(
        &mut self,
        out: &mut [u32],
        want: usize,
        exclude: u32,
        ok: impl Fn(&Self, u32) -> bool,
    ) -> usize {
        let want = want.min(out.len());
        let mut n = 0usize;
        for _ in 0..DRAW_ATTEMPTS {
            if n >= want {
                break;
            }
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                break;
            };
            if s == self.my_slot || s == exclude || out[..n].contains(&s) || !ok(self, s) {
                continue;
            }
            out[n] = s;
            n += 1;
        }
        n
    }

    fn gossip_tick(&mut self, now: Instant) {
        self.next_gossip = now + self.config.gossip_interval;
        if self.pending_broadcasts() == 0 {
            return;
        }
        let mut picked = [EMPTY; 16];
        let n =
            self.random_members(
                &mut picked,
                self.config.gossip_nodes,
                EMPTY,
                |node, s| match node.members.slot(s).state() {
                    Some(State::Alive | State::Suspect) => true,
                    Some(State::Dead) => {
                        node.members.age(s, now) < node.config.gossip_to_the_dead_time
                    }
                    _ => false,
                },
            );
        for &s in &picked[..n] {
            let to = self.members.slot(s).id().clone();
            self.queue(Transmission::Gossip { to });
        }
    }

    fn push_pull_tick(&mut self, now: Instant) {
        let n = self.cluster_size();
        let scale = if n > 32 {
            libm::ceil(libm::log2(n as f64) - libm::log2(32.0)) as u32 + 1
        } else {
            1
        };
        self.next_push_pull = now + self.config.push_pull_interval * scale;
        if self.leaving {
            return;
        }
        for _ in 0..DRAW_ATTEMPTS {
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                return;
            };
            if s != self.my_slot && self.members.slot(s).state() == Some(State::Alive) {
                let to = self.members.slot(s).id().addr();
                let session = self.next_seq();
                self.push_pull(to, session, push_pull_flags::WANT_REPLY);
                return;
            }
        }
    }

    /// Serf's reconnect: with probability failed / alive, push-pull with a
    /// random failed member, so that the two sides of a healed partition meet.
    fn reconnect_tick(&mut self, now: Instant) {
        self.next_reconnect = now + self.config.reconnect_interval;
        let c = self.members.counts();
        if self.leaving || c.dead == 0 {
            return;
        }
        let alive = c.alive.max(1);
        if below(&mut self.rng, alive) >= c.dead {
            return;
        }
        for _ in 0..DRAW_ATTEMPTS {
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                return;
            };
            if self.members.slot(s).state() == Some(State::Dead) {
                let to = self.members.slot(s).id().addr();
                let session = self.next_seq();
                self.stats.reconnects += 1;
                self.push_pull(to, session, push_pull_flags::WANT_REPLY);
                return;
            }
        }
    }

    /// Writes `State` messages from slot `cursor` on; returns the next cursor.
    fn write_states(&self, enc: &mut Encoder<'_>, cursor: u32) -> u32 {
        let mut at = cursor;
        while at < self.members.high() {
            let s = self.members.slot(at);
            if let Some(state) = s.state() {
                let m = Message::State {
                    node: s.id().clone(),
                    incarnation: s.incarnation(),
                    state: match state {
                        State::Alive => wire_state::ALIVE,
                        State::Suspect => wire_state::SUSPECT,
                        State::Dead => wire_state::DEAD,
                        State::Left => wire_state::LEFT,
                    },
                    meta: if state.is_live() {
                        self.meta.get(at)
                    } else {
                        &[]
                    },
                    protocol: s.protocol(),
                };
                if !enc.push(&m) {
                    break;
                }
            }
            at += 1;
        }
        at
    }

    /// Fills the rest of a datagram with queued broadcasts, alternating between
    /// membership and user messages so that neither starves the other.
    fn piggyback(&mut self, enc: &mut Encoder<'_>) {
        let mut sent_m = [0u32; MAX_PIGGYBACK];
        let mut sent_u = [0u32; MAX_PIGGYBACK];
        let (mut nm, mut nu) = (0usize, 0usize);
        let mut cm = self.broadcasts.queue.cursor();
        let mut cu = self.user.queue.cursor();
        let (mut m_done, mut u_done) = (false, false);
        let mut misses = 0;
        while !(m_done && u_done) && misses < 8 && enc.remaining() > 1 {
            if !m_done {
                match cm.next(&self.broadcasts.queue) {
                    Some(e) if nm < MAX_PIGGYBACK => {
                        if self.encode_membership(enc, e) {
                            sent_m[nm] = e;
                            nm += 1;
                        } else {
                            misses += 1;
                        }
                    }
                    _ => m_done = true,
                }
            }
            if !u_done {
                match cu.next(&self.user.queue) {
                    Some(e) if nu < MAX_PIGGYBACK => {
                        if enc.push_raw(self.user.payload(e)) {
                            sent_u[nu] = e;
                            nu += 1;
                        } else {
                            misses += 1;
                        }
                    }
                    _ => u_done = true,
                }
            }
        }
        let limit = self.retransmit_limit();
        for &e in &sent_m[..nm] {
            self.broadcasts.sent(e, limit);
        }
        for &e in &sent_u[..nu] {
            self.user.queue.sent(e, limit);
        }
    }

    fn encode_membership(&self, enc: &mut Encoder<'_>, e: u32) -> bool {
        let entry = self.broadcasts.queue.entry(e);
        let s = self.members.slot(entry.subject);
        let node = s.id().clone();
        let incarnation = s.incarnation();
        let from = || {
            if entry.from == EMPTY || entry.from >= self.members.high() {
                self.me.clone()
            } else {
                self.members.slot(entry.from).id().clone()
            }
        };
        let m = match s.state() {
            Some(State::Alive) => Message::Alive {
                incarnation,
                node,
                meta: self.meta.get(entry.subject),
                protocol: s.protocol(),
            },
            Some(State::Suspect) => Message::Suspect {
                incarnation,
                node,
                from: from(),
            },
            Some(State::Dead) => Message::Dead {
                incarnation,
                node,
                from: from(),
            },
            Some(State::Left) => Message::Dead {
                incarnation,
                from: node.clone(),
                node,
            },
            None => return true, // freed since queued: nothing to say, let it drain
        };
        enc.push(&m)
    }
}

fn check_sizes(want: &Sizes, got: &Sizes) -> Result<(), BuildError> {
    match want.mismatch(got) {
        Some(name) => Err(BuildError::BufferSize(name)),
        None => Ok(()),
    }
}
