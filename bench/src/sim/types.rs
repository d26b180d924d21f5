//! The simulator's vocabulary: its network model, what it records, its
//! totals and the configuration its members run.

use std::time::Duration;

use serf_core::{Config, Event, Instant, Node};

use crate::heap::Heap;
use crate::rng::SimRng;

/// A simulated member.
pub type SimNode = Node<u32, Heap, SimRng>;

/// Network behaviour.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// One-way delay of every packet.
    pub latency: Duration,
    /// Extra uniform random delay in `0..jitter`.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(1),
            loss: 0.0,
        }
    }
}

/// What kind of user message was delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveredKind {
    /// A raw broadcast.
    User,
    /// A key operation changed the node's keyring.
    KeyringChanged,
    /// A user event.
    Event {
        /// Lamport time.
        ltime: u64,
    },
    /// A query to answer.
    Query {
        /// Query id.
        id: u32,
        /// Originator.
        from: u32,
    },
    /// An ack to our query.
    QueryAck {
        /// Query id.
        id: u32,
        /// Responder.
        from: u32,
    },
    /// A response to our query.
    QueryResponse {
        /// Query id.
        id: u32,
        /// Responder.
        from: u32,
    },
    /// Our query finished.
    QueryDone {
        /// Query id.
        id: u32,
    },
}

/// A user message delivered to `observer` at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// Virtual time.
    pub at: Instant,
    /// Which node delivered it.
    pub observer: u32,
    /// What it was.
    pub kind: DeliveredKind,
    /// Event or query name (empty otherwise).
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Answers queries in the simulator: `(node, query name, payload)` → response.
pub type Responder = Box<dyn FnMut(u32, &str, &[u8]) -> Option<Vec<u8>>>;

/// A membership event seen by `observer` at `at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Virtual time.
    pub at: Instant,
    /// Which node reported it.
    pub observer: u32,
    /// The event.
    pub event: Event<u32>,
}

/// Totals over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Datagrams sent.
    pub packets: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Datagrams lost (random loss, partitions, crashed receivers).
    pub lost: u64,
    /// Datagrams a node rejected as undecodable.
    pub rejected: u64,
    /// Node inputs processed (deliveries + wake-ups).
    pub steps: u64,
    /// Bytes of datagrams that carry state exchange (push-pull headers and
    /// member states; counted for plain datagrams only).
    pub pushpull_bytes: u64,
}

/// Optional per-link one-way delay (used by the Vivaldi evaluation).
pub type LatencyFn = Box<dyn Fn(u32, u32) -> Duration>;

/// The simulator's configuration: `profile` sized for `members` complete
/// members (membership, Lifeguard, intents, broadcasts, user events and
/// queries, coordinates and tags all on) with the tables that do not grow
/// with the cluster sized for what is in flight rather than for every member
/// at once: coordinates cached for a bounded set of peers, a tag pool that
/// fits this node's tags and a few others (simulated members carry none),
/// small user queues and rings. Every overflow is counted by the node.
pub fn sim_config(profile: Config, members: u32) -> Config {
    let mut config = profile.with_members(members as usize + 8);
    let c = &mut config.capacity;
    c.broadcasts = 512;
    c.suspicions = (members as usize / 64).clamp(64, 1024);
    c.events = 256;
    c.coordinates = 32;
    c.meta = 512;
    c.meta_pool = 2048;
    c.tagged = 8;
    c.reassembly_slots = 0;
    c.user_broadcasts = 8;
    c.user_payload = 640;
    c.outbox = 4;
    c.event_ring = 64;
    c.query_ring = 64;
    c.query_seen = 64;
    c.replay_events = 8;
    config
}
