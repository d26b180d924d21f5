//! Runs one `serf-core` member on a std UDP socket in its own thread.
//!
//! The protocol loop owns the node; everything else talks to it through a
//! command channel (each command carries its own reply channel) and receives
//! events through an output channel. No state is shared between threads, so
//! there is nothing to lock.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use serf_core::wire::DecodeError;
use serf_core::wire::crypto::Key;
use serf_core::query::QueryError;
use serf_core::query::{KeyOp, QueryParams};
use serf_core::Stats;
use serf_core::{Buffers, Provide, Store};
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
    /// The Serf protocol version it announced (2 to 5).
    pub protocol: u8,
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

/// What a join achieved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JoinOutcome {
    /// Seeds whose state arrived within the join timeout.
    pub joined: usize,
    /// Seeds that did not answer, each with the reason (a refusal the seed
    /// sent, worded as memberlist words it, or the timeout).
    pub failures: Vec<JoinFailure>,
}

/// One seed a join could not reach.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinFailure {
    /// The seed.
    pub addr: SocketAddr,
    /// Why.
    pub reason: String,
}

impl JoinOutcome {
    /// Serf's report of the failures: `N error(s) occurred:` and one
    /// `* Failed to join ADDR: reason` line per seed.
    pub fn describe(&self) -> String {
        let n = self.failures.len();
        let mut s = format!("{n} error{} occurred:", if n == 1 { "" } else { "s" });
        for f in &self.failures {
            s.push_str(&format!(
                "\n\t* Failed to join {}: {}",
                f.addr.ip(),
                f.reason
            ));
        }
        s
    }
}

/// Commands to the protocol loop.
pub enum Command {
    /// Join through addresses (replaying past events if asked); replies with
    /// how many answered within the wait, and why the others did not.
    Join(Vec<SocketAddr>, bool, Reply<JoinOutcome>),
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
            on_keyring_change: None,
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
        let settings = LoopSettings {
            broadcast_timeout: Duration::from_secs(5),
            on_keyring_change: None,
        };
        Member::spawn(id, socket, config, &[], settings, outputs)
    }

    fn spawn(
        id: NodeId,
        socket: UdpSocket,
        config: Config,
        tags: &[(String, String)],
        settings: LoopSettings,
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
            .spawn(move || Loop::new(node, socket, epoch, outputs, settings).run(rx))?;
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
        self.join_outcome(seeds).joined
    }

    /// Joins through `seeds`; says which answered and why the others did not.
    pub fn join_outcome(&self, seeds: &[SocketAddr]) -> JoinOutcome {
        self.ask(|r| Command::Join(seeds.to_vec(), false, r))
            .unwrap_or_default()
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
    on_keyring_change: Option<KeyringHook>,
}

/// Persists the keyring after a key operation (see
/// [`MemberBuilder::on_keyring_change`]). Immutable once built.
#[derive(Clone)]
struct KeyringHook(std::sync::Arc<PersistKeys>);

/// What persists a keyring: the keys, primary first.
type PersistKeys = dyn Fn(&[Vec<u8>]) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for KeyringHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyringHook")
    }
}

impl MemberBuilder {
    /// Called with the keys (primary first) whenever a cluster key operation
    /// changes this member's keyring, to persist them (Serf's
    /// `keyring_file`: every node rewrites its own). An error is logged.
    pub fn on_keyring_change(
        mut self,
        persist: impl Fn(&[Vec<u8>]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.on_keyring_change = Some(KeyringHook(std::sync::Arc::new(persist)));
        self
    }
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
        let settings = LoopSettings {
            broadcast_timeout: self.broadcast_timeout,
            on_keyring_change: self.on_keyring_change,
        };
        let m = Member::spawn(id, socket, self.config, &self.tags, settings, tx)?;
        Ok((m, rx))
    }
}

/// Serf's tag encoding of `tags`.
fn encode_tags(tags: &[(String, String)]) -> Result<Vec<u8>, String> {
    let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut buf = vec![0u8; serf_core::wire::tags::MAX_META];
    let n = serf_core::wire::tags::encode(&pairs, &mut buf).map_err(|_| "tags exceed 512 bytes")?;
    buf.truncate(n);
    Ok(buf)
}

/// A query refusal worded as Serf words it.
fn query_error(e: QueryError, config: &Config) -> String {
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
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The counters of lost or refused work that grew between two readings, as
/// (what, before, after).
fn dropped_counters(a: &Stats, b: &Stats) -> Vec<(&'static str, u64, u64)> {
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

fn to_query(queries: &[(u32, Sender<QueryEvent>)], id: u32, e: QueryEvent) {
    if let Some((_, tx)) = queries.iter().find(|(q, _)| *q == id) {
        let _ = tx.send(e);
    }
}

/// What the protocol loop is told besides the node.
struct LoopSettings {
    broadcast_timeout: Duration,
    on_keyring_change: Option<KeyringHook>,
}

struct Loop {
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
    fn new(
        node: StdNode,
        socket: UdpSocket,
        epoch: StdInstant,
        outputs: Sender<Output>,
        settings: LoopSettings,
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
