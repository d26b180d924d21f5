//! The protocol loop: the thread that owns the node and its socket. It
//! sleeps until the next datagram, command or deadline, feeds the node, and
//! drains what the node produced (datagrams, events, deliveries), logging
//! what was dropped once a second.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant as StdInstant};

use serf_core::query::QueryError;
use serf_core::query::QueryParams;
use serf_core::wire::crypto::Key;
use serf_core::wire::DecodeError;
use serf_core::Stats;
use serf_core::{Config, Delivery, EventKind, Instant, State};

use super::{
    Command, Info, JoinFailure, JoinOutcome, KeyringHook, MemberEvent, MemberInfo, Output,
    QueryEvent, QueryRequest, Reply, StdNode, UserEvent,
};
use crate::id::NodeId;

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
        QueryError::UnknownQuery => "No pending queries matching ID".into(),
        QueryError::Busy => "too many queries or responses in flight; try again".into(),
        QueryError::FilterTooLarge => "the query's node or tag filters are too large".into(),
        QueryError::Reserved => "Queries cannot contain the '_serf_' prefix".into(),
    }
}

/// How long a join waits for a seed's state (Serf's TCP join timeout).
pub(super) const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The counters of lost or refused work that grew between two readings, as
/// (what, before, after).
pub(super) fn dropped_counters(a: &Stats, b: &Stats) -> Vec<(&'static str, u64, u64)> {
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
            "member metadata refused (over the size limit)",
            a.meta_rejected,
            b.meta_rejected,
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

/// What the protocol loop is told besides the node.
pub(super) struct LoopSettings {
    pub(super) broadcast_timeout: Duration,
    pub(super) on_keyring_change: Option<KeyringHook>,
}

pub(super) struct Loop {
    node: StdNode,
    socket: UdpSocket,
    epoch: StdInstant,
    outputs: Sender<Output>,
    queries: Vec<(u32, Sender<QueryEvent>)>,
    leave_waiter: Option<(Reply<()>, StdInstant)>,
    settings: LoopSettings,
    /// Each member's last known tags: a reaped member's event still names
    /// them (the core has freed them by then).
    last_tags: HashMap<String, Vec<(String, String)>>,
    /// Counters as last logged, and when (drops are logged once a second).
    logged: Stats,
    logged_at: StdInstant,
    recv: Vec<u8>,
    send: Vec<u8>,
    delivery: Vec<u8>,
}

impl Loop {
    pub(super) fn new(
        node: StdNode,
        socket: UdpSocket,
        epoch: StdInstant,
        outputs: Sender<Output>,
        settings: LoopSettings,
    ) -> Loop {
        let mtu = node.config().mtu;
        let big = serf_core::Sizes::for_config(node.config()).delivery_len();
        Loop {
            node,
            socket,
            epoch,
            outputs,
            queries: Vec::new(),
            leave_waiter: None,
            settings,
            last_tags: HashMap::new(),
            logged: Stats::default(),
            logged_at: StdInstant::now(),
            recv: vec![0; mtu + 1],
            send: vec![0; mtu],
            delivery: vec![0; big],
        }
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    pub(super) fn run(mut self, commands: Receiver<Command>) {
        // Serf reports its own join first.
        let me = self.node.local().clone();
        let _ = self.outputs.send(Output::Member(MemberEvent {
            kind: EventKind::Joined,
            member: self.info(&me),
        }));
        loop {
            // Commands first, without blocking.
            loop {
                match commands.try_recv() {
                    Ok(Command::Shutdown) => return,
                    Ok(c) => self.command(c),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            self.step(Duration::from_millis(20));
            self.finish_leave();
        }
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

    /// Waits up to `max` (or the next deadline) for a datagram, handles it and
    /// any due timers, and sends what results. Returns a refusal a peer sent
    /// us (for a join to report).
    fn step(&mut self, max: Duration) -> Option<(SocketAddr, serf_core::wire::crypto::Refusal)> {
        let now = self.now();
        let deadline = self.node.poll_timeout().unwrap_or(now + max);
        let wait = deadline
            .saturating_since(now)
            .clamp(Duration::from_millis(1), max);
        let _ = self.socket.set_read_timeout(Some(wait));
        let mut refused = None;
        // A datagram filling the whole buffer (MTU + 1) is refused by the core as oversized.
        match self.socket.recv_from(&mut self.recv) {
            Ok((n, from)) => {
                let now = self.now();
                match self.node.handle_datagram(now, from, &self.recv[..n]) {
                    Ok(()) => {}
                    Err(DecodeError::Refused(r)) => {
                        tracing::debug!(target: "memberlist", "{from} refused our datagram: {r}");
                        refused = Some((from, r));
                    }
                    Err(e) => {
                        tracing::debug!(target: "memberlist", "datagram from {from} dropped: {e}")
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => tracing::warn!(target: "memberlist", "receive failed: {e}"),
        }
        let now = self.now();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.flush();
        self.log_drops();
        refused
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
        self.logged = now;
    }

    fn flush(&mut self) {
        while let Some(t) = self.node.poll_transmit(&mut self.send) {
            // On Linux an ICMP "port unreachable" caused by an earlier datagram
            // (to a dead member) surfaces as an error on the next send, and
            // that send is lost: send it again once.
            let sent = match self.socket.send_to(&self.send[..t.len], t.to) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    self.socket.send_to(&self.send[..t.len], t.to)
                }
                r => r,
            };
            if let Err(e) = sent {
                tracing::warn!(target: "memberlist", "failed to send {} bytes to {}: {e}", t.len, t.to);
            }
        }
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
            addr: id.addr,
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

    /// Contacts every seed and waits (Serf's join timeout, 5 s) until each
    /// one's state arrived, resending to the silent ones once a second; the
    /// protocol keeps running meanwhile.
    fn join(&mut self, addrs: &[SocketAddr], replay: bool) -> JoinOutcome {
        let contact = |node: &mut StdNode, now, a| {
            if replay {
                node.join_replay(now, a)
            } else {
                node.join(now, a)
            }
        };
        let now = self.now();
        for a in addrs {
            tracing::debug!(target: "memberlist", "Initiating push/pull sync with: {a}");
            contact(&mut self.node, now, *a);
        }
        self.flush();
        let answered = |node: &StdNode, a: &SocketAddr| {
            node.members()
                .any(|(id, s, _)| id.addr == *a && s.is_live())
        };
        let mut refusals: HashMap<SocketAddr, String> = HashMap::new();
        let deadline = StdInstant::now() + JOIN_TIMEOUT;
        let mut retry = StdInstant::now() + Duration::from_secs(1);
        while StdInstant::now() < deadline && !addrs.iter().all(|a| answered(&self.node, a)) {
            if let Some((from, r)) = self.step(Duration::from_millis(10)) {
                if addrs.contains(&from) {
                    refusals.insert(from, r.to_string());
                }
            }
            if StdInstant::now() >= retry {
                let now = self.now();
                for a in addrs {
                    if !answered(&self.node, a) && !refusals.contains_key(a) {
                        contact(&mut self.node, now, *a);
                    }
                }
                retry += Duration::from_secs(1);
            }
            // Every silent seed refused us: waiting longer changes nothing.
            if addrs
                .iter()
                .all(|a| answered(&self.node, a) || refusals.contains_key(a))
            {
                break;
            }
        }
        let mut outcome = JoinOutcome::default();
        for a in addrs {
            if answered(&self.node, a) {
                outcome.joined += 1;
            } else {
                let reason = refusals
                    .remove(a)
                    .unwrap_or_else(|| format!("no answer within {} s", JOIN_TIMEOUT.as_secs()));
                tracing::warn!(target: "memberlist", "Failed to join {a}: {reason}");
                outcome.failures.push(JoinFailure { addr: *a, reason });
            }
        }
        outcome
    }

    fn command(&mut self, c: Command) {
        let now = self.now();
        match c {
            Command::Join(addrs, replay, reply) => {
                let outcome = self.join(&addrs, replay);
                let _ = reply.send(outcome);
            }
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
            Command::RestoreClocks(c) => {
                self.node.restore_member_clock(c.member);
                self.node.restore_event_clock(c.event);
                self.node.restore_query_clock(c.query);
            }
            Command::Shutdown => {}
        }
        self.flush();
    }
}
