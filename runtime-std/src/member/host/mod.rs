//! What every runtime does around the node, apart from sockets: commands
//! from the application, outputs to it (member events, user events, query
//! requests and answers), joins and leaves in progress, and logging what was
//! dropped. A runtime owns the socket and the waiting; it hands the host
//! each datagram and command, calls [`Host::tick`] when
//! [`Host::deadline`] passes, and sends what [`Host::poll_transmit`] yields.
//! Nothing here blocks, so one thread can drive many hosts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant as StdInstant};

use serf_core::query::QueryError;
use serf_core::query::QueryParams;
use serf_core::wire::crypto::Key;
use serf_core::wire::DecodeError;
use serf_core::Stats;
use serf_core::{Config, Delivery, EventKind, Instant, State};

mod join;
mod streams;

use super::{
    Command, Info, KeyringHook, MemberEvent, MemberInfo, Output, QueryEvent, QueryRequest, Reply,
    StdNode, UserEvent,
};
use crate::id::NodeId;
use join::PendingJoin;
use streams::Streams;

/// Serf's tag encoding of `tags`.
pub(super) fn encode_tags(tags: &[(String, String)]) -> Result<Vec<u8>, String> {
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut buf = vec![0u8; serf_core::wire::tags::MAX_META];
    let n = serf_core::wire::tags::encode(&pairs, &mut buf).map_err(|_| "tags exceed 512 bytes")?;
    buf.truncate(n);
    Ok(buf)
}

/// A query refusal worded as Serf words it.
pub(super) fn query_error(e: QueryError, config: &Config) -> String {
    match e {
        QueryError::TooLarge => format!("query exceeds limit of {} bytes", config.query_size_limit),
        QueryError::ResponseTooLarge => format!(
            "response exceeds limit of {} bytes",
            config.query_response_size_limit
        ),
        QueryError::ResponseOverPacket => {
            "response does not fit one packet on HashiCorp's wire (-wire=native carries it in chunks)".into()
        }
        QueryError::UnknownQuery => "No pending queries matching ID".into(),
        QueryError::Busy => "too many queries or responses in flight; try again".into(),
        QueryError::FilterTooLarge => "the query's node or tag filters are too large".into(),
        QueryError::Reserved => "Queries cannot contain the '_serf_' prefix".into(),
    }
}

/// The counters of lost or refused work that grew between two readings, as
/// (what, before, after): the one list the runtimes log and the benches sum.
pub fn dropped_counters(a: &Stats, b: &Stats) -> Vec<(&'static str, u64, u64)> {
    [
        (
            "datagrams failed to decode",
            a.decode_errors,
            b.decode_errors,
        ),
        (
            "datagrams refused for their label or encryption",
            a.frames_rejected,
            b.frames_rejected,
        ),
        (
            "refusal notices received from peers",
            a.refusals_received,
            b.refusals_received,
        ),
        (
            "new members refused (member table full)",
            a.members_rejected,
            b.members_rejected,
        ),
        (
            "membership broadcasts dropped (queue full)",
            a.broadcasts_dropped,
            b.broadcasts_dropped,
        ),
        (
            "user broadcasts dropped (queue full)",
            a.user_broadcasts_dropped,
            b.user_broadcasts_dropped,
        ),
        (
            "outbound datagrams dropped",
            a.transmits_dropped,
            b.transmits_dropped,
        ),
        (
            "events dropped (queue full)",
            a.events_dropped,
            b.events_dropped,
        ),
        (
            "indirect probe requests refused (relay table full)",
            a.relays_dropped,
            b.relays_dropped,
        ),
        (
            "received user messages dropped (inbox full)",
            a.inbox_dropped,
            b.inbox_dropped,
        ),
        ("queries dropped", a.queries_dropped, b.queries_dropped),
        (
            "large query responses dropped (incomplete or no reassembly slot)",
            a.responses_dropped,
            b.responses_dropped,
        ),
        (
            "replies dropped (outbox full)",
            a.outbox_dropped,
            b.outbox_dropped,
        ),
        (
            "query responses refused (over query_response_size_limit)",
            a.responses_too_large,
            b.responses_too_large,
        ),
        (
            "relayed response copies skipped (too large to relay)",
            a.relays_skipped,
            b.relays_skipped,
        ),
        (
            "replayed events skipped (too large for a datagram)",
            a.replay_skipped,
            b.replay_skipped,
        ),
        (
            "user events ignored while a join waited for its seed's event clock",
            a.events_ignored_joining,
            b.events_ignored_joining,
        ),
        (
            "member metadata refused (over the size limit)",
            a.meta_rejected,
            b.meta_rejected,
        ),
        (
            "join answers given up on with push-pull chunks still missing",
            a.catch_up_abandoned,
            b.catch_up_abandoned,
        ),
        (
            "HashiCorp-wire messages not carried (no counterpart on the other wire)",
            a.hashicorp_untranslated,
            b.hashicorp_untranslated,
        ),
        (
            "HashiCorp-wire messages dropped (did not fit the packet)",
            a.hashicorp_overflow,
            b.hashicorp_overflow,
        ),
    ]
    .into_iter()
    .filter(|(_, before, after)| after > before)
    .collect()
}

pub(super) fn to_query(queries: &[(u32, Sender<QueryEvent>)], id: u32, e: QueryEvent) {
    if let Some((_, tx)) = queries.iter().find(|(q, _)| *q == id) {
        let _ = tx.send(e);
    }
}

/// What the host is told besides the node.
pub(super) struct LoopSettings {
    pub(super) broadcast_timeout: Duration,
    pub(super) on_keyring_change: Option<KeyringHook>,
}

/// Whether the runtime should keep driving a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// The application asked this member to stop (or dropped it).
    Stop,
}

/// One member's node and everything around it but the socket; see the
/// module docs.
pub struct Host {
    node: StdNode,
    epoch: StdInstant,
    outputs: Sender<Output>,
    queries: Vec<(u32, Sender<QueryEvent>)>,
    leave_waiter: Option<(Reply<()>, StdInstant)>,
    joins: Vec<PendingJoin>,
    settings: LoopSettings,
    /// Each member's last known tags: a reaped member's event still names
    /// them (the core has freed them by then).
    last_tags: HashMap<String, Vec<(String, String)>>,
    /// Counters as last logged, and when (drops are logged once a second).
    logged: Stats,
    logged_at: StdInstant,
    delivery: Vec<u8>,
    send_failures: u64,
    /// TCP streams (HashiCorp's wire only).
    streams: Streams,
}

impl Host {
    pub(super) fn new(
        node: StdNode,
        epoch: StdInstant,
        outputs: Sender<Output>,
        settings: LoopSettings,
    ) -> Host {
        let big = serf_core::Sizes::for_config(node.config()).delivery_len();
        let host = Host {
            node,
            epoch,
            outputs,
            queries: Vec::new(),
            leave_waiter: None,
            joins: Vec::new(),
            settings,
            last_tags: HashMap::new(),
            logged: Stats::default(),
            logged_at: StdInstant::now(),
            delivery: vec![0; big],
            send_failures: 0,
            streams: Streams::default(),
        };
        // Serf reports its own join first.
        let me = host.node.local().clone();
        let _ = host.outputs.send(Output::Member(MemberEvent {
            kind: EventKind::Joined,
            member: host.info(&me),
        }));
        host
    }

    /// The node's largest datagram: receive buffers need one byte more (a
    /// datagram filling the whole buffer is refused as oversized), send
    /// buffers this many.
    pub fn mtu(&self) -> usize {
        self.node.config().mtu
    }

    /// The node's counters.
    pub fn stats(&self) -> Stats {
        self.node.stats()
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// When [`Host::tick`] next has work: the node's next timer, a join's
    /// retry or deadline, a leave's timeout.
    pub fn deadline(&self) -> Option<StdInstant> {
        let node = self
            .node
            .poll_timeout()
            .map(|t| self.epoch + Duration::from_nanos(t.as_nanos()));
        let joins = self.joins.iter().map(PendingJoin::next_deadline);
        let leave = self
            .leave_waiter
            .as_ref()
            .map(|(_, since)| *since + self.settings.broadcast_timeout);
        let streams = self.streams.deadline();
        node.into_iter()
            .chain(joins)
            .chain(leave)
            .chain(streams)
            .min()
    }

    /// Feeds one received datagram to the node.
    pub fn datagram(&mut self, from: SocketAddr, bytes: &[u8]) {
        let now = self.now();
        match self.node.handle_datagram(now, from, bytes) {
            Ok(()) => {}
            Err(DecodeError::Refused(r)) => {
                tracing::debug!(target: "memberlist", "{from} refused our datagram: {r}");
                self.join_refused(from, r.to_string());
            }
            Err(e) => {
                tracing::debug!(target: "memberlist", "datagram from {from} dropped: {e}")
            }
        }
        self.seed_spoke(from);
        self.drain();
    }

    /// Runs due timers, finishes joins and leaves whose time came, drains
    /// events and logs drops. Call it whenever [`Host::deadline`] passed
    /// (calling it early is harmless).
    pub fn tick(&mut self) {
        let now = self.now();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.pump_streams();
        self.progress_joins();
        self.finish_leave();
        self.drain();
        self.log_drops();
    }

    /// Accepts memberlist's TCP streams on `listener` (bound to the
    /// member's own address): HashiCorp's wire joins and push-pulls there.
    pub fn listen(&mut self, listener: std::net::TcpListener) -> std::io::Result<()> {
        self.streams = Streams::listening(listener)?;
        Ok(())
    }

    /// Hands the listener to an accept thread that passes each connection
    /// in as a [`Command::Stream`] through `commands` (whose waker wakes a
    /// sleeping runtime), so an idle member is not woken to look at it.
    /// Without a listener, nothing happens.
    pub fn accept_through(&mut self, commands: super::Commands) -> std::io::Result<()> {
        self.streams.accept_through(commands)
    }

    /// Streams that failed (refused, reset, timed out or unreadable).
    pub fn stream_failures(&self) -> u64 {
        self.streams.failures
    }

    /// The next datagram to send, written at the start of `buf` (at least
    /// [`Host::mtu`] bytes).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<serf_core::Transmit<SocketAddr>> {
        self.node.poll_transmit(buf)
    }

    /// Records a datagram the socket refused to send (counted and logged).
    pub fn send_failed(&mut self, to: SocketAddr, len: usize, e: &std::io::Error) {
        self.send_failures += 1;
        tracing::warn!(target: "memberlist", "failed to send {len} bytes to {to}: {e} ({} send failures in all)", self.send_failures);
    }

    /// Datagrams the socket refused to send.
    pub fn send_failures(&self) -> u64 {
        self.send_failures
    }

    /// Answers a pending leave once its broadcast went out, the broadcast
    /// timeout passed, or there is no one left to tell.
    fn finish_leave(&mut self) {
        let Some((_, since)) = &self.leave_waiter else {
            return;
        };
        let c = self.node.counts();
        let me = self.node.local().clone();
        let me_live = self.node.member(&me).is_some_and(|m| m.state.is_live());
        // No one else to tell: a lone member leaves at once.
        let alone = c.alive + c.suspect <= me_live as u32;
        if alone
            || self.node.pending_broadcasts() == 0
            || since.elapsed() > self.settings.broadcast_timeout
        {
            if let Some((reply, _)) = self.leave_waiter.take() {
                // Serf reports its own leave to its handlers too.
                let me = self.node.local().clone();
                let mut member = self.info(&me);
                member.status = "left";
                let _ = self.outputs.send(Output::Member(MemberEvent {
                    kind: EventKind::Left,
                    member,
                }));
                let _ = reply.send(());
            }
        }
    }

    /// Logs (at most once a second) every counter of lost or refused work
    /// that grew: nothing is dropped without a word.
    fn log_drops(&mut self) {
        if self.logged_at.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.logged_at = StdInstant::now();
        let now = self.node.stats();
        for (what, before, after) in dropped_counters(&self.logged, &now) {
            tracing::warn!(target: "memberlist", "{} {what} since the last report ({after} in all)", after - before);
        }
        let relayed = now.relays_forwarded - self.logged.relays_forwarded;
        if relayed > 0 {
            tracing::debug!(target: "serf", "Relayed {relayed} query responses to their askers");
        }
        self.logged = now;
    }

    /// Hands the application what the node produced: member events, user
    /// events, query requests and answers.
    fn drain(&mut self) {
        while let Some(e) = self.node.poll_event() {
            let mut member = self.info(&e.member);
            member.incarnation = e.incarnation;
            // Failed, left and reaped members' tags are gone from the core;
            // their events still carry the last ones known, as Serf's do.
            match e.kind {
                EventKind::Joined | EventKind::Updated | EventKind::Alive => {
                    self.last_tags
                        .insert(member.name.clone(), member.tags.clone());
                }
                EventKind::Reaped => {
                    member.tags = self.last_tags.remove(&member.name).unwrap_or_default();
                }
                _ if member.tags.is_empty() => {
                    member.tags = self
                        .last_tags
                        .get(&member.name)
                        .cloned()
                        .unwrap_or_default();
                }
                _ => {}
            }
            let _ = self.outputs.send(Output::Member(MemberEvent {
                kind: e.kind,
                member,
            }));
        }
        while let Some(d) = self.node.poll_delivery(&mut self.delivery) {
            match d {
                Delivery::User(_) => {}
                Delivery::Event {
                    ltime,
                    name,
                    payload,
                    coalesce,
                } => {
                    let _ = self.outputs.send(Output::User(UserEvent {
                        ltime,
                        name: name.to_string(),
                        payload: payload.to_vec(),
                        coalesce,
                    }));
                }
                Delivery::Query {
                    id,
                    ltime,
                    name,
                    payload,
                    ..
                } => {
                    let _ = self.outputs.send(Output::Query(QueryRequest {
                        id,
                        ltime,
                        name: name.to_string(),
                        payload: payload.to_vec(),
                    }));
                }
                Delivery::QueryAck { id, from } => {
                    to_query(&self.queries, id, QueryEvent::Ack(from.name().to_string()))
                }
                Delivery::QueryResponse { id, from, payload } => to_query(
                    &self.queries,
                    id,
                    QueryEvent::Response(from.name().to_string(), payload.to_vec()),
                ),
                Delivery::QueryDone { id } => {
                    to_query(&self.queries, id, QueryEvent::Done);
                    self.queries.retain(|(q, _)| *q != id);
                }
                Delivery::KeyringChanged => self.persist_keyring(),
            }
        }
    }

    /// Hands the keyring to the persistence hook after a key operation
    /// changed it.
    fn persist_keyring(&self) {
        let Some(hook) = &self.settings.on_keyring_change else {
            return;
        };
        let keys: Vec<Vec<u8>> = self
            .node
            .keyring()
            .keys()
            .map(|k| k.as_bytes().to_vec())
            .collect();
        if let Err(e) = (hook.0)(&keys) {
            tracing::error!(target: "serf", "Failed to write keyring file: {e}");
        }
    }

    /// `id` as the application sees it (a member no longer known counts as left).
    fn info(&self, id: &NodeId) -> MemberInfo {
        let (status, incarnation) = match self.node.member(id) {
            None => ("left", 0),
            Some(serf_core::MemberState {
                state,
                incarnation: inc,
            }) => {
                let leaving = self.node.member_leaving(id);
                let status = match state {
                    State::Alive | State::Suspect if leaving => "leaving",
                    State::Alive | State::Suspect => "alive",
                    State::Dead => "failed",
                    State::Left => "left",
                };
                (status, inc)
            }
        };
        let tags = self
            .node
            .tags_of(id)
            .map(|t| t.map(|(k, v)| (k.to_string(), v.to_string())).collect())
            .unwrap_or_default();
        MemberInfo {
            name: id.name().to_string(),
            addr: id.addr(),
            status,
            tags,
            incarnation,
            protocol: self.node.protocol_of(id).unwrap_or(0),
        }
    }

    fn find(&self, name: &str) -> Option<NodeId> {
        self.node
            .members()
            .map(|(id, _, _)| id)
            .find(|id| id.name() == name)
            .cloned()
    }

    /// Applies one command from the application; [`Flow::Stop`] once it asks
    /// the member to stop.
    pub fn command(&mut self, c: Command) -> Flow {
        if let Command::Shutdown = c {
            return Flow::Stop;
        }
        self.apply(c);
        self.drain();
        Flow::Continue
    }

    fn apply(&mut self, c: Command) {
        let now = self.now();
        match c {
            Command::Stream(stream, peer) => self.adopt_stream(stream, peer),
            Command::Join(addrs, replay, reply) => self.start_join(addrs, replay, reply),
            Command::Leave(reply) => {
                self.node.leave(now);
                self.leave_waiter = Some((reply, StdInstant::now()));
            }
            Command::Event(name, payload, coalesce, reply) => {
                let r = self
                    .node
                    .user_event(&name, &payload, coalesce)
                    .map_err(|_| {
                        format!(
                            "user event exceeds the size limit of {} bytes",
                            self.node.config().user_event_size_limit
                        )
                    });
                let _ = reply.send(r);
            }
            Command::Query(spec, events, reply) => {
                // Unknown names match no one (an all-unknown filter is refused below).
                let nodes: Vec<NodeId> = spec.nodes.iter().filter_map(|n| self.find(n)).collect();
                let tags: Vec<(&str, &str)> = spec
                    .tags
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let params = QueryParams {
                    nodes: &nodes,
                    tags: &tags,
                    ack: spec.ack,
                    relay_factor: spec.relay_factor,
                    timeout: spec.timeout,
                };
                let r = if !spec.nodes.is_empty() && nodes.is_empty() {
                    Err("no known member matches the node filter".to_string())
                } else {
                    self.node
                        .query(now, &spec.name, &spec.payload, &params)
                        .map_err(|e| query_error(e, self.node.config()))
                };
                if let Ok(id) = r {
                    self.queries.push((id, events));
                }
                let _ = reply.send(r);
            }
            Command::Respond(id, payload, reply) => {
                let r = self
                    .node
                    .respond(now, id, &payload)
                    .map_err(|e| query_error(e, self.node.config()));
                let _ = reply.send(r);
            }
            Command::Members(reply) => {
                let ids: Vec<NodeId> = self.node.members().map(|(id, _, _)| id.clone()).collect();
                let list = ids.iter().map(|id| self.info(id)).collect();
                let _ = reply.send(list);
            }
            Command::SetTags(tags, reply) => {
                let r = encode_tags(&tags).and_then(|meta| {
                    self.node
                        .set_meta(now, &meta)
                        .map_err(|_| "tags exceed 512 bytes".to_string())
                });
                if r.is_ok() {
                    // Serf reports a member-update for the local node too
                    // (handlers then see the new SERF_TAG_* values).
                    let me = self.node.local().clone();
                    let _ = self.outputs.send(Output::Member(MemberEvent {
                        kind: EventKind::Updated,
                        member: self.info(&me),
                    }));
                }
                let _ = reply.send(r);
            }
            Command::Coordinate(name, reply) => {
                let c = self.find(&name).and_then(|id| self.node.coordinate_of(&id));
                let _ = reply.send(c);
            }
            Command::Info(reply) => {
                let c = self.node.counts();
                let serf_core::Clocks {
                    member: m,
                    event: e,
                    query: q,
                } = self.node.clocks();
                let me = self.node.local().clone();
                let info = Info {
                    name: me.name().to_string(),
                    members: c.total() as usize,
                    failed: c.dead as usize,
                    left: c.left as usize,
                    health_score: self.node.health_score(),
                    member_time: m,
                    event_time: e,
                    query_time: q,
                    encrypted: !self.node.keyring().is_empty(),
                    coordinate_resets: self.node.stats().coordinate_resets,
                    tags: self
                        .node
                        .tags_of(&me)
                        .map(|t| t.map(|(k, v)| (k.to_string(), v.to_string())).collect())
                        .unwrap_or_default(),
                };
                let _ = reply.send(info);
            }
            Command::ForceLeave(name, prune, reply) => {
                let ok = self
                    .find(&name)
                    .is_some_and(|id| self.node.force_leave(now, &id, prune));
                let _ = reply.send(ok);
            }
            Command::Keys(op, key, events, reply) => {
                let key = match key.map(|k| Key::new(&k)) {
                    Some(Err(_)) => {
                        let _ = reply.send(Err("key must be 16, 24 or 32 bytes".into()));
                        return;
                    }
                    Some(Ok(k)) => Some(k),
                    None => None,
                };
                let r = self
                    .node
                    .key_query(now, op, key.as_ref())
                    .map_err(|e| query_error(e, self.node.config()));
                if let Ok(id) = r {
                    self.queries.push((id, events));
                }
                let _ = reply.send(r);
            }
            Command::LocalKeys(reply) => {
                let keys = self
                    .node
                    .keyring()
                    .keys()
                    .map(|k| k.as_bytes().to_vec())
                    .collect();
                let _ = reply.send(keys);
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.node.stats());
            }
            Command::RestoreClocks(c) => {
                self.node.restore_member_clock(c.member);
                self.node.restore_event_clock(c.event);
                self.node.restore_query_clock(c.query);
            }
            Command::Shutdown => {}
        }
    }
}
