//! The embedding API ([`Member`]) and the std runtime: one `serf-core`
//! member on a std UDP socket in its own thread.
//!
//! The runtime's loop owns the node (inside a [`Host`]); everything else
//! talks to it through a command channel (each command carries its own reply
//! channel) and receives events through an output channel. No state is
//! shared between threads, so there is nothing to lock. Other runtimes
//! (`serf-runtime-uring`) drive the same [`Host`] and hand out the same
//! [`Member`], built from [`MemberBuilder::prepare`] and [`Member::from_parts`].

use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as StdInstant};

use serf_core::{Buffers, Provide, Store};
use serf_core::{Config, Instant, Node};

use crate::id::NodeId;

mod host;
mod protocol_loop;
mod types;

pub use host::{dropped_counters, Flow, Host};
use host::{encode_tags, LoopSettings};
use protocol_loop::Loop;
use types::Reply;
pub use types::{
    Command, Info, JoinFailure, JoinOutcome, MemberEvent, MemberInfo, Output, QueryEvent,
    QueryRequest, QuerySpec, UserEvent,
};

/// Boxed-slice buffers.
///
/// Tables whose fill is all zero bytes come from zeroed allocations, which the
/// allocator takes straight from the kernel for large sizes: their pages stay
/// untouched (no resident memory) until the core writes a record there. Integer
/// tables get this from `vec!`; the member slots and the coordinate cache,
/// sized for the cluster's capacity but filled from the front, get it through
/// [`zero_fill`].
pub struct Heap;
impl Store for Heap {
    type Buf<T: 'static> = Box<[T]>;

    #[inline(always)]
    fn prefetch(at: *const u8) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `prefetcht0` reads nothing architecturally and cannot
        // fault, whatever the address; SSE is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = at;
    }
}
impl Provide<Heap> for Heap {
    fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> Box<[T]> {
        zero_fill(len, &fill).unwrap_or_else(|| vec![fill; len].into_boxed_slice())
    }
}

/// `len` zeroed records when `T` is one of the core's record types made only
/// of plain numbers (any bit pattern valid) and `fill` reads as all zeros;
/// `None` otherwise.
fn zero_fill<T: Clone + 'static>(len: usize, fill: &T) -> Option<Box<[T]>> {
    use serf_core::storage::{CacheEntry, Slot};
    use std::any::{Any, TypeId};
    let t = TypeId::of::<T>();
    if len == 0 || (t != TypeId::of::<Slot<NodeId>>() && t != TypeId::of::<CacheEntry>()) {
        return None;
    }
    // SAFETY: `Slot<NodeId>` (integers and a `NodeId` of byte arrays and
    // integers) and `CacheEntry` (integers, floats and arrays of them) have
    // no references, enums, bools or other types with invalid bit patterns,
    // so all-zero bytes are a valid value of either; `new_zeroed_slice`
    // returns exactly that.
    let zeroed = unsafe { Box::<[T]>::new_zeroed_slice(len).assume_init() };
    let same = |a: &dyn Any, b: &dyn Any| match (
        a.downcast_ref::<Slot<NodeId>>(),
        b.downcast_ref::<Slot<NodeId>>(),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => matches!(
            (a.downcast_ref::<CacheEntry>(), b.downcast_ref::<CacheEntry>()),
            (Some(a), Some(b)) if a == b
        ),
    };
    // Only when the zero value is the requested fill (the core's fills are).
    same(&zeroed[0], fill).then_some(zeroed)
}

/// A small seeded generator (SplitMix64), seeded from the OS hasher keys.
pub struct Rng(u64);
impl Rng {
    /// A generator from a fixed seed (reproducible runs and tests).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }
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

/// Sends commands to a member's loop; cheap to clone (RPC connections,
/// handlers and the snapshot writer each hold one).
#[derive(Clone)]
pub struct Commands {
    tx: Sender<Command>,
    wake: Option<Waker>,
}

/// Called after each command is queued, for a runtime whose thread sleeps
/// in the kernel rather than on the channel.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

impl Commands {
    /// Commands into `tx`; `wake` (if any) runs after each one is queued.
    pub fn new(tx: Sender<Command>, wake: Option<Waker>) -> Commands {
        Commands { tx, wake }
    }

    /// Queues `c` for the loop; fails once the member stopped.
    pub fn send(&self, c: Command) -> Result<(), MemberStopped> {
        self.tx.send(c).map_err(|_| MemberStopped)?;
        if let Some(w) = &self.wake {
            w();
        }
        Ok(())
    }
}

/// A command could not be queued: the member's loop has stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberStopped;

impl std::fmt::Display for MemberStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("member stopped")
    }
}

impl std::error::Error for MemberStopped {}

/// How a [`Member`] waits for its loop to stop.
enum Stopped {
    /// The std runtime's own thread.
    Thread(JoinHandle<()>),
    /// A shared loop (a ring) drops the sender once it let the member go.
    Signal(Receiver<()>),
}

/// A running member.
pub struct Member {
    commands: Commands,
    stopped: Option<Stopped>,
    /// The address actually bound.
    pub local_addr: SocketAddr,
}

/// A member bound and built but not yet driven: what a runtime needs to run
/// it (see [`MemberBuilder::prepare`]).
pub struct Prepared {
    /// The bound socket.
    pub socket: UdpSocket,
    /// The node and everything around it.
    pub host: Host,
    /// Where the host's outputs arrive (hand it to the application).
    pub outputs: Receiver<Output>,
    /// The bound address.
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
        let socket = bind_retrying(bind)?;
        let settings = LoopSettings {
            broadcast_timeout: Duration::from_secs(5),
            on_keyring_change: None,
        };
        let host = build_host(id, config, &[], settings, outputs)?;
        Member::spawn(host, socket)
    }

    /// A member driven by another runtime: `commands` reach its loop, and
    /// `done` disconnects once the loop let it go.
    pub fn from_parts(local_addr: SocketAddr, commands: Commands, done: Receiver<()>) -> Member {
        Member {
            commands,
            stopped: Some(Stopped::Signal(done)),
            local_addr,
        }
    }

    fn spawn(mut host: Host, socket: UdpSocket) -> std::io::Result<Member> {
        let local_addr = socket.local_addr()?;
        let (tx, rx) = mpsc::channel();
        host.accept_through(Commands::new(tx.clone(), None))?;
        let thread = std::thread::Builder::new()
            .name("serf-protocol".into())
            .spawn(move || Loop::new(host, socket).run(rx))?;
        Ok(Member {
            commands: Commands::new(tx, None),
            stopped: Some(Stopped::Thread(thread)),
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

    /// The node's counters: datagrams in and out, and everything dropped.
    pub fn stats(&self) -> Option<serf_core::Stats> {
        self.ask(Command::Stats)
    }

    /// A sender for commands (cheap to clone, for RPC connections).
    pub fn commands(&self) -> Commands {
        self.commands.clone()
    }

    /// Stops the loop and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        match self.stopped.take() {
            Some(Stopped::Thread(t)) => {
                let _ = t.join();
            }
            Some(Stopped::Signal(done)) => {
                let _ = done.recv();
            }
            None => {}
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `addr`, waiting up to a second while it is in use: a member that
/// ran on io_uring and was killed keeps its socket until the kernel has torn
/// its ring down, a few milliseconds after the process is gone, so a restart
/// right after a crash would otherwise fail.
fn bind_retrying(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let deadline = StdInstant::now() + Duration::from_secs(1);
    loop {
        match UdpSocket::bind(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && StdInstant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// The node for `id`, with `tags` set, inside a host reporting to `outputs`.
fn build_host(
    id: NodeId,
    config: Config,
    tags: &[(String, String)],
    settings: LoopSettings,
    outputs: Sender<Output>,
) -> std::io::Result<Host> {
    let epoch = StdInstant::now();
    let buffers = Buffers::<NodeId, Heap>::new(&config, &mut Heap);
    let mut node = Node::new(id, config, buffers, Rng::from_os(), Instant::ZERO)
        .map_err(|e| std::io::Error::other(format!("invalid configuration: {e:?}")))?;
    if !tags.is_empty() {
        let meta = encode_tags(tags).map_err(std::io::Error::other)?;
        node.set_meta(Instant::ZERO, &meta)
            .map_err(|_| std::io::Error::other("tags exceed 512 bytes"))?;
    }
    Ok(Host::new(node, epoch, outputs, settings))
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
    /// Binds, starts the member on the std runtime (its own thread) and
    /// returns it with its event receiver.
    pub fn start(self) -> std::io::Result<(Member, Receiver<Output>)> {
        let p = self.prepare()?;
        let m = Member::spawn(p.host, p.socket)?;
        Ok((m, p.outputs))
    }

    /// Binds the socket and builds the node without starting a loop, for a
    /// runtime to drive.
    pub fn prepare(self) -> std::io::Result<Prepared> {
        let socket = bind_retrying(self.bind)?;
        let local_addr = socket.local_addr()?;
        let advertise = self.advertise.unwrap_or(local_addr);
        let id = NodeId::new(&self.name, advertise)
            .ok_or_else(|| std::io::Error::other("invalid node name"))?;
        let (tx, rx) = mpsc::channel();
        let settings = LoopSettings {
            broadcast_timeout: self.broadcast_timeout,
            on_keyring_change: self.on_keyring_change,
        };
        let wire = self.config.wire;
        let mut host = build_host(id, self.config, &self.tags, settings, tx)?;
        if wire == serf_core::Wire::HashiCorp {
            // memberlist takes joins and push-pulls over TCP on the same port.
            host.listen(std::net::TcpListener::bind(local_addr)?)?;
        }
        Ok(Prepared {
            socket,
            host,
            outputs: rx,
            local_addr,
        })
    }
}

#[cfg(test)]
mod heap_tests {
    use super::*;
    use serf_core::storage::{CacheEntry, Slot};

    #[test]
    fn zero_filled_tables_hold_exactly_the_requested_fill() {
        let slots = Heap.provide(1024, Slot::<NodeId>::default());
        assert!(slots.iter().all(|s| *s == Slot::default()));
        assert_eq!(slots[0].id().addr(), "0.0.0.0:0".parse().unwrap());
        let cache = Heap.provide(300, CacheEntry::default());
        assert!(cache.iter().all(|e| *e == CacheEntry::default()));
        // A fill that is not the zero value is written out as given.
        let id = NodeId::new("web-1", "10.0.0.1:7946".parse().unwrap()).unwrap();
        let named = Heap.provide(3, id.clone());
        assert!(named.iter().all(|n| *n == id));
    }
}
