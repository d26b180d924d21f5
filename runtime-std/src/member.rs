//! Runs one `serf-core` member on a std UDP socket in its own thread.
//!
//! The protocol loop owns the node; everything else talks to it through a
//! command channel (each command carries its own reply channel) and receives
//! events through an output channel. No state is shared between threads, so
//! there is nothing to lock.

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use serf_core::crypto::Key;
use serf_core::query::{KeyOp, QueryParams};
use serf_core::store::{Buffers, Provide, Store};
use serf_core::vivaldi::Coordinate;
use serf_core::{Config, Delivery, EventKind, Instant, Node, State};

use crate::id::NodeId;

/// Boxed-slice buffers.
pub struct Heap;
impl Store for Heap {
    type Buf<T: 'static> = Box<[T]>;
}
impl Provide<Heap> for Heap {
    fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> Box<[T]> {
        vec![fill; len].into_boxed_slice()
    }
}

/// A small seeded generator (SplitMix64), seeded from the OS hasher keys.
pub struct Rng(u64);
impl Rng {
    /// A generator seeded from process randomness.
    pub fn from_os() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id() as u64);
        Rng(h.finish())
    }
}
impl rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        serf_core::mix64(self.0)
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for c in d.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// The node type the runtime drives.
pub type StdNode = Node<NodeId, Heap, Rng>;

/// A member as the application sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberInfo {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: SocketAddr,
    /// Serf status: alive, leaving, left, failed (suspect shows as alive, as Serf).
    pub status: &'static str,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Incarnation.
    pub incarnation: u32,
}

/// A membership event with the member as it is right after it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberEvent {
    /// What happened (the core's kinds, including suspect and conflicts).
    pub kind: EventKind,
    /// The member, with its tags and status.
    pub member: MemberInfo,
}

/// A user event as delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct UserEvent {
    /// Event clock time.
    pub ltime: u64,
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Sent with coalescing allowed.
    pub coalesce: bool,
}

/// A query this member is asked to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryRequest {
    /// Local query id (for [`Command::Respond`]).
    pub id: u32,
    /// Query clock time.
    pub ltime: u64,
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Something that happened, for the agent (handlers, RPC streams).
#[derive(Clone, Debug)]
pub enum Output {
    /// A membership event.
    Member(MemberEvent),
    /// A user event.
    User(UserEvent),
    /// A query to answer.
    Query(QueryRequest),
}

/// What a query originator hears.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryEvent {
    /// A member acked.
    Ack(String),
    /// A member answered.
    Response(String, Vec<u8>),
    /// The deadline passed.
    Done,
}

/// Query parameters as the command line and RPC give them.
#[derive(Clone, Debug, Default)]
pub struct QuerySpec {
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Only these node names.
    pub nodes: Vec<String>,
    /// Tag filters (key, regex).
    pub tags: Vec<(String, String)>,
    /// Request acks.
    pub ack: bool,
    /// Relay factor.
    pub relay_factor: u8,
    /// Timeout (None: default).
    pub timeout: Option<Duration>,
}

/// Counters and state for `info` / `stats`.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// Own name.
    pub name: String,
    /// Members by status.
    pub members: usize,
    /// Failed members.
    pub failed: usize,
    /// Left members.
    pub left: usize,
    /// Health score.
    pub health_score: u32,
    /// Lamport clocks.
    pub member_time: u64,
    /// Event clock.
    pub event_time: u64,
    /// Query clock.
    pub query_time: u64,
    /// Encrypted.
    pub encrypted: bool,
    /// Coordinate resets.
    pub coordinate_resets: u64,
    /// Own tags.
    pub tags: Vec<(String, String)>,
}

type Reply<T> = Sender<T>;

/// Commands to the protocol loop.
pub enum Command {
    /// Join through addresses; replies with how many answered within the wait.
    Join(Vec<SocketAddr>, bool, Reply<usize>),
    /// Leave gracefully; replies when the broadcasts went out (or timed out).
    Leave(Reply<()>),
    /// Fire a user event.
    Event(String, Vec<u8>, bool, Reply<Result<u64, String>>),
    /// Send a query; its events go to the given sender.
    Query(QuerySpec, Sender<QueryEvent>, Reply<Result<u32, String>>),
    /// Answer a query.
    Respond(u32, Vec<u8>, Reply<Result<(), String>>),
    /// List members.
    Members(Reply<Vec<MemberInfo>>),
    /// Replace tags.
    SetTags(Vec<(String, String)>, Reply<Result<(), String>>),
    /// A member's coordinate.
    Coordinate(String, Reply<Option<Coordinate>>),
    /// Agent info.
    Info(Reply<Info>),
    /// Force a member out.
    ForceLeave(String, bool, Reply<bool>),
    /// Keyring operation across the cluster; replies with (ok, failed, messages, keys).
    Keys(
        KeyOp,
        Option<Vec<u8>>,
        Sender<QueryEvent>,
        Reply<Result<u32, String>>,
    ),
    /// This node's keys, primary first.
    LocalKeys(Reply<Vec<Vec<u8>>>),
    /// Restore the Lamport clocks from a snapshot (member, event, query).
    RestoreClocks(u64, u64, u64),
    /// Stop the loop.
    Shutdown,
}

/// A running member.
pub struct Member {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    /// The address actually bound.
    pub local_addr: SocketAddr,
}

impl Member {
    /// A builder for a member named `name` (binds 0.0.0.0:7946 and the LAN
    /// profile unless told otherwise).
    pub fn builder(name: &str) -> MemberBuilder {
        MemberBuilder {
            name: name.to_string(),
            bind: SocketAddr::from(([0, 0, 0, 0], 7946)),
            advertise: None,
            config: Config::lan(),
            tags: Vec::new(),
            broadcast_timeout: Duration::from_secs(5),
        }
    }

    /// Binds `bind`, advertises `id`, and starts the protocol loop. Events go to
    /// `outputs`.
    pub fn start(
        id: NodeId,
        bind: SocketAddr,
        config: Config,
        outputs: Sender<Output>,
    ) -> std::io::Result<Member> {
        let socket = UdpSocket::bind(bind)?;
        Member::spawn(id, socket, config, &[], Duration::from_secs(5), outputs)
    }

    fn spawn(
        id: NodeId,
        socket: UdpSocket,
        config: Config,
        tags: &[(String, String)],
        broadcast_timeout: Duration,
        outputs: Sender<Output>,
    ) -> std::io::Result<Member> {
        let local_addr = socket.local_addr()?;
        let epoch = StdInstant::now();
        let buffers = Buffers::<NodeId, Heap>::new(&config, &mut Heap);
        let mut node = Node::new(id, config, buffers, Rng::from_os(), Instant::ZERO)
            .map_err(|e| std::io::Error::other(format!("invalid configuration: {e:?}")))?;
        if !tags.is_empty() {
            let meta = encode_tags(tags).map_err(std::io::Error::other)?;
            node.set_meta(Instant::ZERO, &meta)
                .map_err(|_| std::io::Error::other("tags exceed 512 bytes"))?;
        }
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("serf-protocol".into())
            .spawn(move || Loop::new(node, socket, epoch, outputs, broadcast_timeout).run(rx))?;
        Ok(Member {
            commands: tx,
            thread: Some(thread),
            local_addr,
        })
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.commands.send(make(tx)).ok()?;
        rx.recv().ok()
    }

    /// Joins through `seeds`; returns how many answered.
    pub fn join(&self, seeds: &[SocketAddr]) -> usize {
        self.ask(|r| Command::Join(seeds.to_vec(), false, r))
            .unwrap_or(0)
    }

    /// Leaves gracefully (returns once the leave has been gossiped, or after
    /// the broadcast timeout).
    pub fn leave(&self) {
        self.ask(Command::Leave);
    }

    /// Every known member (this one included).
    pub fn members(&self) -> Vec<MemberInfo> {
        self.ask(Command::Members).unwrap_or_default()
    }

    /// Replaces this member's tags.
    pub fn set_tags(&self, tags: &[(&str, &str)]) -> Result<(), String> {
        let tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.ask(|r| Command::SetTags(tags, r))
            .unwrap_or_else(|| Err("member stopped".into()))
    }

    /// Sends a user event to the cluster; returns its event time.
    pub fn user_event(&self, name: &str, payload: &[u8], coalesce: bool) -> Result<u64, String> {
        self.ask(|r| Command::Event(name.to_string(), payload.to_vec(), coalesce, r))
            .unwrap_or_else(|| Err("member stopped".into()))
    }

    /// Starts a query; acks, responses and the end arrive on the receiver.
    pub fn query(&self, spec: QuerySpec) -> Result<Receiver<QueryEvent>, String> {
        let (tx, rx) = mpsc::channel();
        self.ask(|r| Command::Query(spec, tx, r))
            .unwrap_or_else(|| Err("member stopped".into()))?;
        Ok(rx)
    }

    /// A sender for commands (cheap to clone, for RPC connections).
    pub fn commands(&self) -> Sender<Command> {
        self.commands.clone()
    }

    /// Stops the loop and waits for it.
    pub fn shutdown(mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Builds an embedded [`Member`]; see [`Member::builder`].
#[derive(Clone, Debug)]
pub struct MemberBuilder {
    name: String,
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    config: Config,
    tags: Vec<(String, String)>,
    broadcast_timeout: Duration,
}

impl MemberBuilder {
    /// The UDP address to bind (port 0: any free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }
    /// The address others should use (default: the bound address).
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }
    /// The protocol configuration (profile, keyring, label, capacities).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// How long a leave waits for its broadcast to go out (default 5 s, as Serf).
    pub fn broadcast_timeout(mut self, d: Duration) -> Self {
        self.broadcast_timeout = d;
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }
    /// Binds, starts the member and returns it with its event receiver.
    pub fn start(self) -> std::io::Result<(Member, Receiver<Output>)> {
        let socket = UdpSocket::bind(self.bind)?;
        let advertise = match self.advertise {
            Some(a) => a,
            None => socket.local_addr()?,
        };
        let id = NodeId::new(&self.name, advertise)
            .ok_or_else(|| std::io::Error::other("invalid node name"))?;
        let (tx, rx) = mpsc::channel();
        let m = Member::spawn(
            id,
            socket,
            self.config,
            &self.tags,
            self.broadcast_timeout,
            tx,
        )?;
        Ok((m, rx))
    }
}

/// Serf's tag encoding of `tags`.
fn encode_tags(tags: &[(String, String)]) -> Result<Vec<u8>, String> {
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut buf = vec![0u8; serf_core::tags::MAX_META];
    let n = serf_core::tags::encode(&pairs, &mut buf).map_err(|_| "tags exceed 512 bytes")?;
    buf.truncate(n);
    Ok(buf)
}

fn to_query(queries: &[(u32, Sender<QueryEvent>)], id: u32, e: QueryEvent) {
    if let Some((_, tx)) = queries.iter().find(|(q, _)| *q == id) {
        let _ = tx.send(e);
    }
}

struct Loop {
    node: StdNode,
    socket: UdpSocket,
    epoch: StdInstant,
    outputs: Sender<Output>,
    queries: Vec<(u32, Sender<QueryEvent>)>,
    leave_waiter: Option<(Reply<()>, StdInstant)>,
    broadcast_timeout: Duration,
    recv: Vec<u8>,
    send: Vec<u8>,
    delivery: Vec<u8>,
}

impl Loop {
    fn new(
        node: StdNode,
        socket: UdpSocket,
        epoch: StdInstant,
        outputs: Sender<Output>,
        broadcast_timeout: Duration,
    ) -> Loop {
        let mtu = node.config().mtu;
        let big = node
            .config()
            .capacity
            .reassembly_bytes
            .max(node.config().capacity.user_payload);
        Loop {
            node,
            socket,
            epoch,
            outputs,
            queries: Vec::new(),
            leave_waiter: None,
            broadcast_timeout,
            recv: vec![0; mtu + 1],
            send: vec![0; mtu],
            delivery: vec![0; big],
        }
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    fn run(mut self, commands: Receiver<Command>) {
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
            let now = self.now();
            let deadline = self
                .node
                .poll_timeout()
                .unwrap_or(now + Duration::from_millis(50));
            let wait = deadline
                .saturating_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            let _ = self.socket.set_read_timeout(Some(wait));
            match self.socket.recv_from(&mut self.recv) {
                Ok((n, from)) => {
                    let now = self.now();
                    // A datagram filling the whole buffer was larger than the MTU.
                    let _ = self.node.handle_datagram(now, from, &self.recv[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {}
            }
            let now = self.now();
            if self.node.poll_timeout().is_some_and(|t| t <= now) {
                self.node.handle_timeout(now);
            }
            self.flush();
            if let Some((_, since)) = &self.leave_waiter {
                if self.node.pending_broadcasts() == 0 || since.elapsed() > self.broadcast_timeout {
                    if let Some((reply, _)) = self.leave_waiter.take() {
                        let _ = reply.send(());
                    }
                }
            }
        }
    }

    /// Waits up to `max` (or the next deadline) for a datagram, handles it and
    /// any due timers, and sends what results.
    fn step(&mut self, max: Duration) {
        let now = self.now();
        let deadline = self.node.poll_timeout().unwrap_or(now + max);
        let wait = deadline
            .saturating_since(now)
            .clamp(Duration::from_millis(1), max);
        let _ = self.socket.set_read_timeout(Some(wait));
        // A datagram filling the whole buffer (MTU + 1) is refused by the core as oversized.
        if let Ok((n, from)) = self.socket.recv_from(&mut self.recv) {
            let now = self.now();
            let _ = self.node.handle_datagram(now, from, &self.recv[..n]);
        }
        let now = self.now();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(t) = self.node.poll_transmit(&mut self.send) {
            // On Linux an ICMP "port unreachable" caused by an earlier datagram
            // (to a dead member) surfaces as an error on the next send, and
            // that send is lost: send it again once.
            if let Err(e) = self.socket.send_to(&self.send[..t.len], t.to) {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    let _ = self.socket.send_to(&self.send[..t.len], t.to);
                }
            }
        }
        while let Some(e) = self.node.poll_event() {
            let mut member = self.info(&e.member);
            member.incarnation = e.incarnation;
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
            }
        }
    }

    /// `id` as the application sees it (a member no longer known counts as left).
    fn info(&self, id: &NodeId) -> MemberInfo {
        let (status, incarnation) = match self.node.member(id) {
            None => ("left", 0),
            Some((state, inc)) => {
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
        }
    }

    fn find(&self, name: &str) -> Option<NodeId> {
        self.node
            .members()
            .map(|(id, _, _)| id)
            .find(|id| id.name() == name)
            .cloned()
    }

    fn command(&mut self, c: Command) {
        let now = self.now();
        match c {
            Command::Join(addrs, replay, reply) => {
                let join = |node: &mut StdNode, now, a| {
                    if replay {
                        node.join_replay(now, a)
                    } else {
                        node.join(now, a)
                    }
                };
                for a in &addrs {
                    join(&mut self.node, now, *a);
                }
                self.flush();
                // Count contacted seeds: those that answered (their state
                // arrived) within Serf's join timeout; the loop keeps running
                // meanwhile. A lost push-pull is retried once a second.
                let answered = |node: &StdNode, a: &SocketAddr| {
                    node.members()
                        .any(|(id, s, _)| id.addr == *a && s.is_live())
                };
                let deadline = StdInstant::now() + Duration::from_secs(5);
                let mut retry = StdInstant::now() + Duration::from_secs(1);
                while StdInstant::now() < deadline && !addrs.iter().all(|a| answered(&self.node, a))
                {
                    self.step(Duration::from_millis(10));
                    if StdInstant::now() >= retry {
                        let now = self.now();
                        let missing: Vec<SocketAddr> = addrs
                            .iter()
                            .filter(|a| !answered(&self.node, a))
                            .copied()
                            .collect();
                        for a in missing {
                            join(&mut self.node, now, a);
                        }
                        retry += Duration::from_secs(1);
                    }
                }
                let joined = addrs.iter().filter(|a| answered(&self.node, a)).count();
                let _ = reply.send(joined);
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
                let nodes: Vec<NodeId> = spec.nodes.iter().filter_map(|n| self.find(n)).collect();
                if nodes.len() < spec.nodes.len() {
                    // Unknown names cannot match anyone; keep the filter non-empty.
                }
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
                        .map_err(|e| format!("query refused: {e:?}"))
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
                    .map_err(|e| format!("{e:?}"));
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
                let (m, e, q) = self.node.clocks();
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
                    .map_err(|e| format!("{e:?}"));
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
            Command::RestoreClocks(m, e, q) => {
                self.node.restore_member_clock(m);
                self.node.restore_event_clock(e);
                self.node.restore_query_clock(q);
            }
            Command::Shutdown => {}
        }
        self.flush();
    }
}
