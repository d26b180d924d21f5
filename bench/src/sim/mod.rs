//! A deterministic discrete-event simulator of many `serf-core` members.
//!
//! One thread, a virtual clock, and a 4-ary heap of packet deliveries and node
//! wake-ups keyed by (time, sequence number). Every random choice (node RNGs,
//! loss, latency jitter) comes from generators seeded from one seed, so the same
//! seed replays the same run event for event. Members are `u32` identities that
//! double as addresses.

use std::collections::VecDeque;
use std::time::Duration;

use serf_core::wire::starts_state_exchange;
use serf_core::{Config, Delivery, EventKind, Instant, Node, Sizes, State, Store};

use crate::heap::{buffers, Heap};
use crate::rng::SimRng;

mod queue;
mod tell;
mod types;
pub use tell::tell_alive;
pub use types::*;

use queue::{EventQueue, Scheduled};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Deliver { to: u32, from: u32, packet: u32 },
    Wake { node: u32 },
}

/// Events taken ahead of time to prefetch what their nodes will read:
/// enough to keep several cache misses in flight.
const LOOK_AHEAD: usize = 8;

/// Asks the CPU to bring the line at `p` into its caches (the store's hint).
fn prefetch(p: *const u8) {
    <Heap as Store>::prefetch(p);
}

/// The simulator.
pub struct Sim {
    now: Instant,
    configs: Vec<Config>,
    net: NetConfig,
    seed: u64,
    nodes: Vec<Option<SimNode>>,
    incarnations: Vec<u32>,
    wake_at: Vec<Instant>,
    groups: Vec<u32>,
    /// Per member: how long each of its stalls lasts, in ms (0: not slow).
    slow_ms: Vec<u32>,
    /// Per member: the phase of its stalls, in ms.
    slow_phase: Vec<u32>,
    queue: EventQueue,
    /// The next few events, taken out of the heap so that what they will
    /// read can be prefetched (empty between runs): see [`Sim::run_until`].
    ahead: VecDeque<Scheduled>,
    seq: u64,
    rng: SimRng,
    packets: Vec<Vec<u8>>,
    free_packets: Vec<u32>,
    buf: Vec<u8>,
    log: Vec<Record>,
    deliveries: Vec<Delivered>,
    delivery_buf: Vec<u8>,
    /// Datagrams a node produced in the current flush: (to, packet slot).
    outgoing: Vec<(u32, u32)>,
    responder: Option<Responder>,
    record: bool,
    latency_fn: Option<LatencyFn>,
    /// Extra loss for datagrams of a state exchange (push-pull chunks).
    state_loss: f64,
    totals: Totals,
}

impl Sim {
    /// `n` members (ids `0..n`) with `config`, none joined yet.
    pub fn new(config: Config, net: NetConfig, n: u32, seed: u64) -> Sim {
        Sim::with_configs(net, n, seed, |_| config.clone())
    }

    /// `n` members, member `id` configured by `config_of(id)` (keys, labels...).
    pub fn with_configs(
        net: NetConfig,
        n: u32,
        seed: u64,
        config_of: impl Fn(u32) -> Config,
    ) -> Sim {
        let configs: Vec<Config> = (0..n).map(&config_of).collect();
        let config = configs.first().cloned().unwrap_or_else(Config::lan);
        let mut sim = Sim {
            now: Instant::ZERO,
            buf: vec![0; config.mtu],
            configs,
            delivery_buf: vec![0; Sizes::for_config(&config).delivery_len()],
            net,
            seed,
            nodes: Vec::with_capacity(n as usize),
            incarnations: vec![0; n as usize],
            wake_at: vec![Instant::MAX; n as usize],
            groups: vec![0; n as usize],
            slow_ms: vec![0; n as usize],
            slow_phase: vec![0; n as usize],
            queue: EventQueue::default(),
            ahead: VecDeque::with_capacity(LOOK_AHEAD),
            seq: 0,
            rng: SimRng::new(seed ^ 0x5157),
            packets: Vec::new(),
            free_packets: Vec::new(),
            log: Vec::new(),
            deliveries: Vec::new(),
            outgoing: Vec::new(),
            responder: None,
            record: true,
            latency_fn: None,
            state_loss: 0.0,
            totals: Totals::default(),
        };
        for id in 0..n {
            let node = sim.make_node(id);
            sim.nodes.push(Some(node));
            sim.flush(id);
        }
        sim
    }

    fn make_node(&mut self, id: u32) -> SimNode {
        let restarts = self.incarnations[id as usize];
        let rng = SimRng::new(
            self.seed.wrapping_mul(0x9E37_79B9).wrapping_add(id as u64) ^ ((restarts as u64) << 40),
        );
        let config = self.configs[id as usize].clone();
        Node::new(id, config.clone(), buffers(&config), rng, self.now)
            .expect("simulator config builds")
    }

    /// Answers queries with `f` (none answered by default).
    pub fn set_responder(&mut self, f: Responder) {
        self.responder = Some(f);
    }

    /// `n` members that all join through member 0, run until every member sees
    /// all the others alive (at most `limit` virtual seconds, retrying lost
    /// joins as an agent's retry-join would). `None` if they do not converge.
    pub fn converged(config: Config, n: u32, seed: u64, limit: u64) -> Option<Sim> {
        let mut sim = Sim::new(config, NetConfig::default(), n, seed);
        for i in 1..n {
            sim.join(i, 0);
        }
        let all: Vec<u32> = (0..n).collect();
        for t in 0..limit {
            if sim.all_see_alive(&all) {
                return Some(sim);
            }
            if t % 5 == 4 {
                for i in 1..n {
                    if sim.node(i).is_some_and(|x| x.counts().total() == 1) {
                        sim.join(i, 0);
                    }
                }
            }
            sim.run_for(Duration::from_secs(1));
        }
        sim.all_see_alive(&all).then_some(sim)
    }

    /// `n` members that already know each other, as after a long join: every
    /// node is told of every other member through the real decoder (alive
    /// datagrams at time zero) before the run starts, so the steady state can
    /// be measured at any size without paying for a join storm. Each node
    /// then settles ([`serf_core::Node::settle`]): the news it was told is
    /// old to everyone, and its push-pulls fall at random points of the
    /// interval for the cluster's size, as after a long join.
    pub fn warm(config: Config, net: NetConfig, n: u32, seed: u64) -> Sim {
        let mut sim = Sim::new(config, net, n, seed);
        let protocols: Vec<u8> = sim.configs.iter().map(|c| c.protocol).collect();
        for id in 0..n {
            if let Some(node) = sim.nodes[id as usize].as_mut() {
                tell_alive(node, 0..n, 0, |m| protocols[m as usize], id);
                node.settle(Instant::ZERO);
            }
            sim.flush(id);
        }
        sim
    }

    /// Stops recording events (large runs).
    pub fn set_recording(&mut self, on: bool) {
        self.record = on;
    }
    /// Changes the network.
    pub fn set_net(&mut self, net: NetConfig) {
        self.net = net;
    }
    /// Makes `id` a slow member (the Lifeguard paper's slow message
    /// processing): for `stall` out of every `2 × stall` (at a random phase)
    /// the datagrams that reach it wait, and are handled in arrival order
    /// when the stall ends, while its timers keep firing on time. So its
    /// acks go out late, its own probes seem to fail, and its suspicion
    /// timers can fire before it has read the refutations waiting for it.
    /// Zero: not slow.
    pub fn set_slow(&mut self, id: u32, stall: Duration) {
        let ms = u32::try_from(stall.as_millis()).unwrap_or(u32::MAX / 2);
        let phase = self.rng.below(u64::from(ms) * 2 + 1) as u32;
        if let (Some(s), Some(p)) = (
            self.slow_ms.get_mut(id as usize),
            self.slow_phase.get_mut(id as usize),
        ) {
            *s = ms;
            *p = phase;
        }
    }

    /// When `id`'s current stall ends, if it is stalled at `now`.
    fn stalled_until(&self, id: u32, now: Instant) -> Option<Instant> {
        let stall = u64::from(*self.slow_ms.get(id as usize)?);
        if stall == 0 {
            return None;
        }
        let ms = now.saturating_since(Instant::ZERO).as_millis() as u64;
        let t = (ms + u64::from(self.slow_phase[id as usize])) % (2 * stall);
        (t < stall).then(|| now + Duration::from_millis(stall - t))
    }
    /// Loses this share of the plain datagrams that belong to a state
    /// exchange (push-pull chunks), on top of the network's loss.
    pub fn set_state_loss(&mut self, p: f64) {
        self.state_loss = p;
    }
    /// Sets a per-link one-way delay function (replaces latency + jitter).
    pub fn set_latency_fn(&mut self, f: LatencyFn) {
        self.latency_fn = Some(f);
    }
    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }
    /// Number of member ids.
    pub fn len(&self) -> u32 {
        self.nodes.len() as u32
    }
    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
    /// The node with `id`, unless crashed.
    pub fn node(&self, id: u32) -> Option<&SimNode> {
        self.nodes[id as usize].as_ref()
    }
    /// The node with `id`, mutably, unless crashed. Call [`Sim::flush`] after
    /// driving it directly.
    pub fn node_mut(&mut self, id: u32) -> Option<&mut SimNode> {
        self.nodes[id as usize].as_mut()
    }
    /// Events recorded so far.
    pub fn log(&self) -> &[Record] {
        &self.log
    }
    /// User messages delivered so far.
    pub fn deliveries(&self) -> &[Delivered] {
        &self.deliveries
    }
    /// Totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// `id` joins through `seed`.
    pub fn join(&mut self, id: u32, seed: u32) {
        let now = self.now;
        if let Some(n) = self.nodes[id as usize].as_mut() {
            n.join(now, seed);
        }
        self.flush(id);
    }

    /// `id` leaves gracefully (it keeps running so its broadcast goes out).
    pub fn leave(&mut self, id: u32) {
        let now = self.now;
        if let Some(n) = self.nodes[id as usize].as_mut() {
            n.leave(now);
        }
        self.flush(id);
    }

    /// `id` stops without a word (packets to it are lost).
    pub fn crash(&mut self, id: u32) {
        self.nodes[id as usize] = None;
        self.wake_at[id as usize] = Instant::MAX;
    }

    /// `id` starts afresh (incarnation 0, empty table) and joins through `seed`.
    pub fn restart(&mut self, id: u32, seed: u32) {
        self.incarnations[id as usize] += 1;
        let node = self.make_node(id);
        self.nodes[id as usize] = Some(node);
        self.join(id, seed);
    }

    /// Splits the network: packets flow only between members of equal group.
    pub fn partition(&mut self, group_of: impl Fn(u32) -> u32) {
        for (i, g) in self.groups.iter_mut().enumerate() {
            *g = group_of(i as u32);
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.groups.fill(0);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    /// Runs until virtual time `end`.
    ///
    /// The next [`LOOK_AHEAD`] events wait in `ahead` (in order), and what
    /// each event will read is prefetched in stages as it moves up (its
    /// node's parts, [`Node::hot_addresses`], and datagram, then its
    /// lookups' index buckets, then their slots, [`Node::lookup_addresses`]),
    /// so that the cache misses of several nodes overlap instead of coming
    /// one after another. Events run in exactly the heap's order: an event
    /// queued meanwhile that falls before the look-ahead's first runs first,
    /// and the look-ahead is only topped up from the heap's front while that
    /// front falls after its last.
    pub fn run_until(&mut self, end: Instant) {
        let mut ahead = std::mem::take(&mut self.ahead);
        loop {
            while ahead.len() < LOOK_AHEAD {
                let Some(&next) = self.queue.peek() else {
                    break;
                };
                if next.at > end || ahead.back().is_some_and(|last| next.before(last)) {
                    break;
                }
                self.queue.pop();
                ahead.push_back(next);
                // The node's parts and the datagram, a look-ahead before
                // they are read.
                let (Action::Deliver { to: node, .. } | Action::Wake { node }) = next.action;
                if let Some(n) = self.nodes[node as usize].as_ref() {
                    n.hot_addresses(prefetch);
                }
                if let Action::Deliver { packet, .. } = next.action {
                    prefetch(self.packets[packet as usize].as_ptr());
                }
            }
            // Index buckets are prefetched half the look-ahead before their
            // datagram is handled, and the slots they name just before.
            for (at, slots) in [(LOOK_AHEAD / 2, false), (1, true)] {
                if let Some(Scheduled {
                    action: Action::Deliver { to, packet, .. },
                    ..
                }) = ahead.get(at)
                {
                    if let Some(n) = self.nodes[*to as usize].as_ref() {
                        n.lookup_addresses(&self.packets[*packet as usize], slots, prefetch);
                    }
                }
            }
            let from_heap = match (self.queue.peek(), ahead.front()) {
                (Some(h), Some(a)) => h.before(a),
                (Some(_), None) => true,
                (None, _) => false,
            };
            let next = if from_heap {
                match self.queue.peek() {
                    Some(h) if h.at <= end => self.queue.pop(),
                    _ => None,
                }
            } else {
                ahead.pop_front()
            };
            let Some(Scheduled { at, action, .. }) = next else {
                break;
            };
            self.now = at;
            self.step(action);
        }
        self.ahead = ahead;
        self.now = end;
    }

    fn step(&mut self, action: Action) {
        self.totals.steps += 1;
        let now = self.now;
        if let Action::Deliver { to, .. } = action {
            if let Some(until) = self.stalled_until(to, now) {
                // A stalled member reads nothing until the stall ends.
                self.push(until, action);
                return;
            }
        }
        match action {
            Action::Wake { node } => {
                if self.wake_at[node as usize] != now {
                    return; // superseded
                }
                self.wake_at[node as usize] = Instant::MAX;
                if let Some(n) = self.nodes[node as usize].as_mut() {
                    n.handle_timeout(now);
                    self.flush(node);
                }
            }
            Action::Deliver { to, from, packet } => {
                let data = std::mem::take(&mut self.packets[packet as usize]);
                if let Some(n) = self.nodes[to as usize].as_mut() {
                    if n.handle_datagram(now, from, &data).is_err() {
                        self.totals.rejected += 1;
                    }
                    self.flush(to);
                } else {
                    self.totals.lost += 1;
                }
                self.packets[packet as usize] = data;
                self.free_packets.push(packet);
            }
        }
    }

    fn push(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            action,
        });
    }

    /// Drains `id`'s outputs: user messages into the log (answering queries
    /// through the responder), datagrams into the network, events into the
    /// log, and its next deadline into the queue.
    pub fn flush(&mut self, id: u32) {
        let now = self.now;
        let Some(node) = self.nodes[id as usize].as_mut() else {
            return;
        };
        let mut answers: Vec<(u32, Vec<u8>)> = Vec::new();
        while let Some(d) = node.poll_delivery(&mut self.delivery_buf) {
            let (kind, name, payload) = match d {
                Delivery::User(p) => (DeliveredKind::User, String::new(), p.to_vec()),
                Delivery::Event {
                    ltime,
                    name,
                    payload,
                    ..
                } => (
                    DeliveredKind::Event { ltime },
                    name.to_string(),
                    payload.to_vec(),
                ),
                Delivery::Query {
                    id: qid,
                    from,
                    name,
                    payload,
                    ..
                } => {
                    if let Some(r) = self.responder.as_mut().and_then(|f| f(id, name, payload)) {
                        answers.push((qid, r));
                    }
                    (
                        DeliveredKind::Query { id: qid, from },
                        name.to_string(),
                        payload.to_vec(),
                    )
                }
                Delivery::QueryAck { id: qid, from } => (
                    DeliveredKind::QueryAck { id: qid, from },
                    String::new(),
                    Vec::new(),
                ),
                Delivery::QueryResponse {
                    id: qid,
                    from,
                    payload,
                } => (
                    DeliveredKind::QueryResponse { id: qid, from },
                    String::new(),
                    payload.to_vec(),
                ),
                Delivery::QueryDone { id: qid } => (
                    DeliveredKind::QueryDone { id: qid },
                    String::new(),
                    Vec::new(),
                ),
                Delivery::KeyringChanged => {
                    (DeliveredKind::KeyringChanged, String::new(), Vec::new())
                }
            };
            if self.record {
                self.deliveries.push(Delivered {
                    at: now,
                    observer: id,
                    kind,
                    name,
                    payload,
                });
            }
        }
        for (qid, r) in answers {
            let _ = node.respond(now, qid, &r);
        }
        // Each datagram is written straight into a packet slot; the network
        // decides its fate (in order) once the node is drained.
        let mut out = std::mem::take(&mut self.outgoing);
        out.clear();
        let mtu = self.buf.len();
        loop {
            let packet = match self.free_packets.pop() {
                Some(p) => p,
                None => {
                    self.packets.push(Vec::with_capacity(mtu));
                    (self.packets.len() - 1) as u32
                }
            };
            let slot = &mut self.packets[packet as usize];
            slot.resize(mtu, 0);
            match node.poll_transmit(slot) {
                Some(t) => {
                    slot.truncate(t.len);
                    out.push((t.to, packet));
                }
                None => {
                    self.free_packets.push(packet);
                    break;
                }
            }
        }
        while let Some(event) = node.poll_event() {
            if self.record {
                self.log.push(Record {
                    at: now,
                    observer: id,
                    event,
                });
            }
        }
        let next = node.poll_timeout();
        for &(to, packet) in &out {
            self.send(id, to, packet);
        }
        self.outgoing = out;
        if let Some(t) = next {
            let t = t.max(now);
            if t < self.wake_at[id as usize] || self.wake_at[id as usize] < now {
                self.wake_at[id as usize] = t;
                self.push(t, Action::Wake { node: id });
            }
        }
    }

    /// Puts the datagram in `packet` on the network (or loses it, freeing
    /// the slot).
    fn send(&mut self, from: u32, to: u32, packet: u32) {
        let now = self.now;
        let len = self.packets[packet as usize].len() as u64;
        self.totals.packets += 1;
        self.totals.bytes += len;
        let state = starts_state_exchange(&self.packets[packet as usize]);
        if state {
            self.totals.pushpull_bytes += len;
        }
        let lost = to as usize >= self.groups.len()
            || self.groups[to as usize] != self.groups[from as usize]
            || (self.net.loss > 0.0 && self.rng.unit() < self.net.loss)
            || (state && self.state_loss > 0.0 && self.rng.unit() < self.state_loss);
        if lost {
            self.totals.lost += 1;
            self.free_packets.push(packet);
            return;
        }
        let delay = match &self.latency_fn {
            Some(f) => f(from, to),
            None => {
                let j = self.net.jitter.as_nanos() as u64;
                let extra = if j > 0 { self.rng.below(j) } else { 0 };
                self.net.latency + Duration::from_nanos(extra)
            }
        };

        self.seq += 1;
        self.queue.push(Scheduled {
            at: now + delay,
            seq: self.seq,
            action: Action::Deliver { to, from, packet },
        });
    }

    /// `observer`'s view: every member it knows with its state, sorted by id.
    pub fn view(&self, observer: u32) -> Vec<(u32, State)> {
        let Some(n) = self.node(observer) else {
            return Vec::new();
        };
        let mut v: Vec<(u32, State)> = n.members().map(|(id, s, _)| (*id, s)).collect();
        v.sort_unstable();
        v
    }

    /// `observer`'s live members (alive or suspect), sorted.
    pub fn live_view(&self, observer: u32) -> Vec<u32> {
        self.view(observer)
            .into_iter()
            .filter(|(_, s)| s.is_live())
            .map(|(id, _)| id)
            .collect()
    }

    /// True if every running member sees exactly `expect` as alive members
    /// (alive or suspect) and nobody else as alive.
    pub fn all_see_alive(&self, expect: &[u32]) -> bool {
        self.see_exactly(&self.running(), expect)
    }

    /// True if each of `members` sees exactly `members` as alive (others may
    /// run apart, e.g. a member with the wrong key).
    pub fn all_see_alive_among(&self, members: &[u32]) -> bool {
        self.see_exactly(members, members)
    }

    fn see_exactly(&self, observers: &[u32], expect: &[u32]) -> bool {
        let mut want = expect.to_vec();
        want.sort_unstable();
        observers.iter().all(|&i| self.live_view(i) == want)
    }

    /// Ids of running members.
    pub fn running(&self) -> Vec<u32> {
        (0..self.len())
            .filter(|&i| self.node(i).is_some())
            .collect()
    }

    /// The first time each observer reported `kind` about `member` after `since`.
    pub fn first_reports(
        &self,
        member: u32,
        kind: EventKind,
        since: Instant,
    ) -> Vec<(u32, Instant)> {
        let mut seen: Vec<(u32, Instant)> = Vec::new();
        for r in &self.log {
            if r.at >= since
                && r.event.member == member
                && r.event.kind == kind
                && !seen.iter().any(|(o, _)| *o == r.observer)
            {
                seen.push((r.observer, r.at));
            }
        }
        seen
    }

    /// Count of `kind` events (about anyone) since `since`.
    pub fn count(&self, kind: EventKind, since: Instant) -> usize {
        self.log
            .iter()
            .filter(|r| r.at >= since && r.event.kind == kind)
            .count()
    }
}
