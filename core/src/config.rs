//! Timings (memberlist's LAN / WAN / local profiles) and fixed capacities.

use core::time::Duration;

use crate::vivaldi::VivaldiConfig;

/// Protocol timings and the fixed capacities of every table.
///
/// ```
/// use serf_core::Config;
/// let c = Config::lan();
/// assert_eq!(c.probe_interval.as_secs(), 1);
/// assert_eq!(Config::wan().suspicion_mult, 6);
/// assert_eq!(Config::local().gossip_interval.as_millis(), 100);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Time between probes (scaled by the health score).
    pub probe_interval: Duration,
    /// Time to wait for a direct ack before asking peers for indirect probes.
    pub probe_timeout: Duration,
    /// Number of peers asked to probe on our behalf.
    pub indirect_checks: usize,
    /// Broadcast transmit limit = `retransmit_mult * ceil(log10(N + 1))`,
    /// at least `gossip_nodes`.
    pub retransmit_mult: u32,
    /// Suspicion timeout minimum multiplier.
    pub suspicion_mult: u32,
    /// Suspicion maximum = this × minimum.
    pub suspicion_max_timeout_mult: u32,
    /// Full state exchange period (scaled up for clusters above 32 members).
    pub push_pull_interval: Duration,
    /// Periodic push-pull by difference: trade member-table digests first,
    /// then only the states of the buckets that differ (joins always send
    /// everything). Off = memberlist's full exchange every time.
    pub push_pull_digest: bool,
    /// Gossip period.
    pub gossip_interval: Duration,
    /// Peers gossiped to each gossip period.
    pub gossip_nodes: usize,
    /// Dead members keep receiving gossip this long (so they can refute).
    pub gossip_to_the_dead_time: Duration,
    /// Health score ceiling (score ranges over `0..awareness_max_multiplier`).
    pub awareness_max_multiplier: u32,
    /// Lifeguard (health awareness, dynamic suspicion, nacks, buddy system). Off = plain SWIM.
    pub lifeguard: bool,
    /// Largest datagram we send; larger inbound datagrams are rejected.
    pub mtu: usize,
    /// A failed member is removed from the table after this long (Serf's ReconnectTimeout).
    pub dead_reap_timeout: Duration,
    /// A left member is removed after this long (Serf's TombstoneTimeout).
    pub left_reap_timeout: Duration,
    /// Every this often, with probability failed / alive, a push-pull goes to a
    /// random failed member (Serf's ReconnectInterval): this heals partitions.
    pub reconnect_interval: Duration,
    /// Vivaldi network coordinates on probe acks (Serf's `!DisableCoordinates`).
    pub coordinates: bool,
    /// Coordinate tuning.
    pub vivaldi: VivaldiConfig,
    /// Largest user event, name plus payload (Serf's UserEventSizeLimit).
    pub user_event_size_limit: usize,
    /// Largest encoded query (Serf's QuerySizeLimit).
    pub query_size_limit: usize,
    /// Largest query response (Serf's QueryResponseSizeLimit is 1024; larger
    /// responses travel in chunks, up to `capacity.reassembly_bytes`).
    pub query_response_size_limit: usize,
    /// Query timeout = gossip interval × this × ceil(log10(N + 1)).
    pub query_timeout_mult: u32,
    /// The Serf protocol version this node announces (2 to 5; Serf's
    /// `-protocol`). Every version speaks the same wire here; members show it.
    pub protocol: u8,
    /// Someone else claiming our name starts a `_serf_conflict` vote (Serf's
    /// default); off (`disable_name_resolution`), it is only reported.
    pub resolve_name_conflicts: bool,
    /// Tag filter matcher; the std runtime plugs in regular expressions.
    pub tag_matcher: &'static dyn crate::node::query::TagMatcher,
    /// Keys for AES-GCM encryption (empty: plaintext); the first encrypts.
    pub keyring: crate::wire::crypto::Keyring,
    /// Cluster label bound into every datagram; clusters with different
    /// labels never exchange state.
    pub label: Option<crate::wire::crypto::Label>,
    /// Which wire format datagrams use: this project's own, or HashiCorp
    /// memberlist's (to sit in a cluster of HashiCorp Serf agents).
    pub wire: Wire,
    /// Fixed capacities.
    pub capacity: Capacity,
}

/// A node's wire format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    /// This project's own compact format (clusters of ours, the simulator).
    #[default]
    Native,
    /// HashiCorp memberlist's msgpack packets with Serf's messages inside; the
    /// identity type must implement [`crate::Identity::hashicorp`].
    HashiCorp,
}

/// Capacities fixed at construction; nothing grows beyond them.
#[derive(Clone, Debug, PartialEq)]
pub struct Capacity {
    /// Members the table holds, this node included (at most 2^24 − 1).
    pub members: usize,
    /// Queued membership broadcasts.
    pub broadcasts: usize,
    /// Queued user broadcasts.
    pub user_broadcasts: usize,
    /// Bytes per queued or received user message (an encoded user event of
    /// the size limit plus its header must fit).
    pub user_payload: usize,
    /// Concurrent suspicion timers.
    pub suspicions: usize,
    /// Queued outbound datagrams.
    pub transmits: usize,
    /// Queued events for the application.
    pub events: usize,
    /// Indirect probes served concurrently for other members.
    pub relays: usize,
    /// Other members' coordinates cached for `rtt` and `nearest`.
    pub coordinates: usize,
    /// Longest encoded tags kept per member (Serf allows 512; 0 disables tags).
    pub meta: usize,
    /// Bytes of the pool all members' tags share (each tagged member takes its
    /// tags' length plus 6; three quarters of the pool can be in use).
    pub meta_pool: usize,
    /// Members that may carry tags at once (this node included).
    pub tagged: usize,
    /// Recent user-event times remembered for de-duplication (Serf: 512).
    pub event_ring: usize,
    /// Recent query times remembered for de-duplication (Serf: 512).
    pub query_ring: usize,
    /// Received queries this node may still answer.
    pub incoming_queries: usize,
    /// Queries this node sent that are still collecting answers.
    pub outgoing_queries: usize,
    /// (query, responder) pairs remembered so relayed copies count once.
    pub query_seen: usize,
    /// Responses larger than a datagram being reassembled at once.
    pub reassembly_slots: usize,
    /// Largest reassembled response, bytes (default 64 KiB).
    pub reassembly_bytes: usize,
    /// Datagrams (responses, chunks, relays) waiting to be sent.
    pub outbox: usize,
    /// Intents about not-yet-known members kept (Serf's recent intents).
    pub pending_intents: usize,
    /// Recent user events kept to replay to joiners that ask (`join -replay`).
    pub replay_events: usize,
}

impl Capacity {
    /// Capacities sized for a cluster of up to `members` members.
    pub fn for_members(members: usize) -> Capacity {
        Capacity {
            members,
            broadcasts: members.clamp(16, 4096),
            user_broadcasts: 64,
            user_payload: 1100,
            suspicions: (members / 4).clamp(8, 4096),
            transmits: 64,
            events: (members * 2).clamp(32, 8192),
            relays: 16,
            coordinates: members,
            meta: 512,
            meta_pool: members * 512,
            tagged: members,
            event_ring: 512,
            query_ring: 512,
            incoming_queries: 64,
            outgoing_queries: 8,
            query_seen: (members * 4).clamp(64, 1 << 16),
            reassembly_slots: 2,
            reassembly_bytes: 64 * 1024,
            outbox: 64,
            pending_intents: 128,
            replay_events: 64,
        }
    }
}

impl Config {
    /// memberlist's `DefaultLANConfig`.
    pub fn lan() -> Config {
        Config {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            retransmit_mult: 4,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            push_pull_interval: Duration::from_secs(30),
            push_pull_digest: true,
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: Duration::from_secs(30),
            awareness_max_multiplier: 8,
            lifeguard: true,
            mtu: 1400,
            dead_reap_timeout: Duration::from_secs(24 * 3600),
            left_reap_timeout: Duration::from_secs(24 * 3600),
            reconnect_interval: Duration::from_secs(30),
            coordinates: true,
            vivaldi: VivaldiConfig::default(),
            user_event_size_limit: 512,
            query_size_limit: 1024,
            query_response_size_limit: 1024,
            query_timeout_mult: 16,
            resolve_name_conflicts: true,
            protocol: 5,
            tag_matcher: &crate::node::query::SIMPLE_MATCHER,
            keyring: crate::wire::crypto::Keyring::default(),
            label: None,
            wire: Wire::Native,
            capacity: Capacity::for_members(1024),
        }
    }

    /// memberlist's `DefaultWANConfig`.
    pub fn wan() -> Config {
        Config {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            suspicion_mult: 6,
            push_pull_interval: Duration::from_secs(60),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: 4,
            gossip_to_the_dead_time: Duration::from_secs(60),
            ..Config::lan()
        }
    }

    /// memberlist's `DefaultLocalConfig` (loopback / one host).
    pub fn local() -> Config {
        Config {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            retransmit_mult: 2,
            suspicion_mult: 3,
            push_pull_interval: Duration::from_secs(15),
            gossip_interval: Duration::from_millis(100),
            gossip_to_the_dead_time: Duration::from_secs(15),
            ..Config::lan()
        }
    }

    /// A profile by name (`lan`, `wan` or `local`).
    pub fn profile(name: &str) -> Option<Config> {
        match name {
            "lan" => Some(Config::lan()),
            "wan" => Some(Config::wan()),
            "local" => Some(Config::local()),
            _ => None,
        }
    }

    /// The same config with capacities sized for `members`.
    pub fn with_members(mut self, members: usize) -> Config {
        self.capacity = Capacity::for_members(members);
        self
    }
}
