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
use crate::event::{Event, EventKind};
use crate::identity::Identity;
use crate::inbox::Inbox;
use crate::member::{Counts, MemberTable, State, EMPTY, MAX_MEMBERS};
use crate::probe::{Probe, Relays};
use crate::ring::Ring;
use crate::rng::{below, jitter};
use crate::stats::Stats;
use crate::store::{Buffers, Sizes, Store};
use crate::suspicion::{self, Suspicions};
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
/// use serf_core::store::{Borrowed, Buffers};
/// # struct Rng(u64);
/// # impl rand_core::RngCore for Rng {
/// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
/// #     fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
/// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
/// # }
/// # let config = Config::lan().with_members(8);
/// # let z = serf_core::store::Sizes::for_config(&config);
/// # let (mut a, mut b, mut c) = ([Default::default(); 8], [0u32; 11], [0u32; 8]);
/// # let (mut d, mut e, mut f, mut g) = ([Default::default(); 16], [0u16; 8], [Default::default(); 64], [0u8; 64 * 512]);
/// # let (mut h, mut i) = ([Default::default(); 8], [0u64; 16]);
/// # let mut j: [Option<_>; 64] = core::array::from_fn(|_| None);
/// # let mut k: [Option<_>; 32] = core::array::from_fn(|_| None);
/// # let mut l: [Option<_>; 16] = core::array::from_fn(|_| None);
/// # let (mut m, mut n) = ([0u8; 64 * 512], [0u16; 64]);
/// # let (mut o, mut p) = ([Default::default(); 8], [0u64; 16]);
/// # let buffers = Buffers::<u32, Borrowed<'_>> { slots: &mut a, index: &mut b, order: &mut c,
/// #     broadcasts: &mut d, broadcast_handles: &mut e, user_broadcasts: &mut f, user_arena: &mut g,
/// #     suspicions: &mut h, suspicion_map: &mut i, transmits: &mut j, events: &mut k,
/// #     relays: &mut l, inbox: &mut m, inbox_lens: &mut n, coordinates: &mut o, coordinate_map: &mut p };
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
        let seed = rng.next_u64();
        let mut members = MemberTable::new(buffers.slots, buffers.index, buffers.order, seed);
        let my_slot = members
            .insert(me.clone(), 0, State::Alive, now, &mut rng)
            .map_err(|_| BuildError::Capacity)?;
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
    pub fn join(&mut self, _now: Instant, addr: I::Addr) {
        self.leaving = false;
        let session = self.next_seq();
        self.transmits.push_back(Transmission::PushPull {
            to: addr,
            session,
            cursor: 0,
            flags: push_pull_flags::WANT_REPLY | push_pull_flags::JOIN,
        });
    }

    /// Leaves gracefully: broadcasts that this node left and stops probing.
    /// The runtime keeps driving the node until [`Node::pending_broadcasts`]
    /// reaches zero (or its broadcast timeout passes).
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let inc = self.members.slot(self.my_slot).incarnation();
        self.members.set(self.my_slot, State::Left, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        self.probe = Probe::Idle;
        self.next_gossip = now;
    }

    /// Queues a user payload for piggybacked dissemination.
    pub fn broadcast(&mut self, payload: &[u8]) -> Result<(), PayloadTooLarge> {
        self.user.enqueue(payload)
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
        let buf = &mut buf[..limit];
        while let Some(t) = self.transmits.pop_front() {
            let Some(mut enc) = Encoder::new(buf) else {
                self.transmits.push_front(t);
                return None;
            };
            let to = match t {
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
                    enc.push::<I>(&Message::PushPull { session, flags });
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
            };
            self.stats.sent += 1;
            return Some(Transmit { to, len: enc.len() });
        }
        None
    }

    /// The next membership event.
    pub fn poll_event(&mut self) -> Option<Event<I>> {
        self.events.pop_front()
    }

    /// Copies the next received user payload into `out`; returns its length.
    pub fn poll_user(&mut self, out: &mut [u8]) -> Option<usize> {
        self.inbox.pop(out)
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
    /// A member's state and incarnation.
    pub fn member(&self, id: &I) -> Option<(State, u32)> {
        let s = self.members.find(id)?;
        let slot = self.members.slot(s);
        Some((slot.state()?, slot.incarnation()))
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
        s.transmits_dropped = self.transmits.dropped;
        s.events_dropped = self.events.dropped;
        s.relays_dropped = self.relays.dropped;
        s.inbox_dropped = self.inbox.dropped;
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

    fn retransmit_limit(&self) -> u32 {
        let n = self.cluster_size() as f64;
        self.config.retransmit_mult * libm::ceil(libm::log10(n + 1.0)) as u32
    }

    fn on_message(&mut self, now: Instant, from: &I::Addr, m: Message<'_, I>) {
        match m {
            Message::Ping { seq, target } => {
                if target == self.me {
                    self.transmits.push_back(Transmission::Ack {
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
                self.transmits.push_back(Transmission::Ping {
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
                    self.transmits.push_back(Transmission::Ack {
                        to: r.requester,
                        seq: r.their_seq,
                        coord: false,
                    });
                }
            }
            Message::Nack { seq } => self.probe.nacked(seq),
            Message::Alive { incarnation, node } => self.on_alive(now, node, incarnation),
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
            Message::PushPull { session, flags } => {
                if flags & push_pull_flags::WANT_REPLY != 0 {
                    self.transmits.push_back(Transmission::PushPull {
                        to: from.clone(),
                        session,
                        cursor: 0,
                        flags: 0,
                    });
                }
            }
            Message::State {
                node,
                incarnation,
                state,
            } => match state {
                wire_state::ALIVE => self.on_alive(now, node, incarnation),
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
            Message::User(p) => self.inbox.push(p),
        }
    }

    fn on_alive(&mut self, now: Instant, id: I, inc: u32) {
        if id == self.me {
            // Someone holds a newer record of us than we do (we restarted):
            // take a higher incarnation so that our alive wins everywhere.
            if inc > self.incarnation() && !self.leaving {
                self.refute(now, inc);
            }
            return;
        }
        let Some(slot) = self.members.find(&id) else {
            match self
                .members
                .insert(id, inc, State::Alive, now, &mut self.rng)
            {
                Ok(slot) => {
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
        if prev == Some(State::Suspect) {
            self.suspicions.cancel(slot);
        }
        self.broadcasts.enqueue(slot, EMPTY);
        let kind = match prev {
            Some(State::Dead | State::Left) => EventKind::Joined,
            Some(State::Suspect) => EventKind::Alive,
            _ => EventKind::Updated,
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
                if s.state() == Some(State::Alive) {
                    let inc = s.incarnation();
                    self.start_suspicion(now, slot, inc, self.my_slot);
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
            self.transmits.push_back(Transmission::Ping {
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
        let mut n = 0usize;
        let want = self.config.indirect_checks.min(picked.len());
        let target_slot = self.members.find(&target).unwrap_or(EMPTY);
        for _ in 0..DRAW_ATTEMPTS {
            if n >= want {
                break;
            }
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                break;
            };
            if s == self.my_slot || s == target_slot || picked[..n].contains(&s) {
                continue;
            }
            if self.members.slot(s).state() != Some(State::Alive) {
                continue;
            }
            picked[n] = s;
            n += 1;
        }
        let nack = self.config.lifeguard;
        let seq = self.probe.seq();
        for &s in &picked[..n] {
            let via = self.members.slot(s).id().clone();
            self.transmits.push_back(Transmission::IndirectPing {
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
                self.transmits.push_back(Transmission::Nack {
                    to: r.requester,
                    seq: r.their_seq,
                });
            }
        }
    }

    fn gossip_tick(&mut self, now: Instant) {
        self.next_gossip = now + self.config.gossip_interval;
        if self.pending_broadcasts() == 0 {
            return;
        }
        let mut picked = [EMPTY; 16];
        let want = self.config.gossip_nodes.min(picked.len());
        let mut n = 0usize;
        for _ in 0..DRAW_ATTEMPTS {
            if n >= want {
                break;
            }
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                break;
            };
            if s == self.my_slot || picked[..n].contains(&s) {
                continue;
            }
            let ok = match self.members.slot(s).state() {
                Some(State::Alive | State::Suspect) => true,
                Some(State::Dead) => self.members.age(s, now) < self.config.gossip_to_the_dead_time,
                _ => false,
            };
            if ok {
                picked[n] = s;
                n += 1;
            }
        }
        for &s in &picked[..n] {
            let to = self.members.slot(s).id().clone();
            self.transmits.push_back(Transmission::Gossip { to });
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
                self.transmits.push_back(Transmission::PushPull {
                    to,
                    session,
                    cursor: 0,
                    flags: push_pull_flags::WANT_REPLY,
                });
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
                self.transmits.push_back(Transmission::PushPull {
                    to,
                    session,
                    cursor: 0,
                    flags: push_pull_flags::WANT_REPLY,
                });
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
                        if enc.push(&Message::<'_, I>::User(self.user.payload(e))) {
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
            Some(State::Alive) => Message::Alive { incarnation, node },
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
    let pairs = [
        ("slots", want.slots, got.slots),
        ("index", want.index, got.index),
        ("order", want.order, got.order),
        ("broadcasts", want.broadcasts, got.broadcasts),
        (
            "broadcast_handles",
            want.broadcast_handles,
            got.broadcast_handles,
        ),
        ("user_broadcasts", want.user_broadcasts, got.user_broadcasts),
        ("user_arena", want.user_arena, got.user_arena),
        ("suspicions", want.suspicions, got.suspicions),
        ("suspicion_map", want.suspicion_map, got.suspicion_map),
        ("transmits", want.transmits, got.transmits),
        ("events", want.events, got.events),
        ("relays", want.relays, got.relays),
        ("inbox", want.inbox, got.inbox),
        ("inbox_lens", want.inbox_lens, got.inbox_lens),
        ("coordinates", want.coordinates, got.coordinates),
        ("coordinate_map", want.coordinate_map, got.coordinate_map),
    ];
    for (name, w, g) in pairs {
        if w != g {
            return Err(BuildError::BufferSize(name));
        }
    }
    Ok(())
}
