//! Queries: the public parameters and errors, the responder and originator
//! tables and the seen-set. The rules live beside them: `send` (asking and
//! ending), `answer` (receiving, acking, responding, relaying), `responses`
//! (acks and answers for our queries, reassembly), `internal` (conflict and
//! keyring queries), `filter` (node and tag filters), `outbox`.

pub(crate) mod answer;
mod filter;
mod internal;
pub(crate) mod outbox;
mod responses;
mod send;

pub use crate::wire::{query_flags as flags, response_flags};
pub(crate) use filter::passes;
pub use filter::{simple_match, SimpleMatcher, TagMatcher, SIMPLE_MATCHER};
pub(crate) use outbox::Outbox;

use core::time::Duration;

use crate::identity::mix64;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::crypto::{Key, MAX_KEYS};
use crate::wire::hashicorp::bridge::{each_key, key_response_from_hashicorp};
use crate::wire::hashicorp::serf::serf_kind::KEY_RESPONSE;

/// How a query is sent.
#[derive(Clone, Debug)]
pub struct QueryParams<'a, I> {
    /// Only these members answer (empty: everyone).
    pub nodes: &'a [I],
    /// Only members whose tag `key` matches the expression answer.
    pub tags: &'a [(&'a str, &'a str)],
    /// Ask every matching member for an ack.
    pub ack: bool,
    /// Responses also travel through this many random members.
    pub relay_factor: u8,
    /// Deadline (default: gossip interval × 16 × ceil(log10(N + 1))).
    pub timeout: Option<Duration>,
}

impl<I> Default for QueryParams<'_, I> {
    fn default() -> Self {
        QueryParams {
            nodes: &[],
            tags: &[],
            ack: true,
            relay_factor: 0,
            timeout: None,
        }
    }
}

/// Why a query or response could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The encoded query exceeds the query size limit.
    TooLarge,
    /// The response exceeds the response size limit.
    ResponseTooLarge,
    /// On HashiCorp's wire, the response does not fit one packet (only the
    /// native wire carries a response in chunks).
    ResponseOverPacket,
    /// No pending query with that id (or already answered, or past its deadline).
    UnknownQuery,
    /// Tables or the outbox are full right now.
    Busy,
    /// The filter lists do not fit their encoding buffers.
    FilterTooLarge,
    /// Names starting `_serf_` are internal (except `_serf_ping` with no payload).
    Reserved,
}

/// Cluster-wide keyring operations (internal queries, as Serf's `keys` command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOp {
    /// Add a key everywhere.
    Install,
    /// Make a key the primary everywhere.
    Use,
    /// Remove a key everywhere.
    Remove,
    /// Report every member's keys.
    List,
}

impl KeyOp {
    /// The internal query name.
    pub fn query_name(self) -> &'static str {
        match self {
            KeyOp::Install => "_serf_install-key",
            KeyOp::Use => "_serf_use-key",
            KeyOp::Remove => "_serf_remove-key",
            KeyOp::List => "_serf_list-keys",
        }
    }
    /// The operation an internal query name stands for.
    pub fn from_query_name(name: &str) -> Option<KeyOp> {
        [KeyOp::Install, KeyOp::Use, KeyOp::Remove, KeyOp::List]
            .into_iter()
            .find(|op| op.query_name() == name)
    }
}

/// A member's answer to a key operation: natively `[1 = ok | 0 = failed]`
/// then, on failure, a message, or for `List` the keys as `len, bytes`
/// pairs; from a HashiCorp member, Serf's `messageKeyResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyResponse<'a> {
    /// The operation succeeded there.
    pub ok: bool,
    /// Failure message (empty on success).
    pub message: &'a str,
    keys: &'a [u8],
    hashicorp: bool,
}

impl<'a> KeyResponse<'a> {
    /// Parses a response payload (`None` if malformed).
    pub fn parse(payload: &'a [u8]) -> Option<Self> {
        let (&status, rest) = payload.split_first()?;
        match status {
            1 => Some(KeyResponse {
                ok: true,
                message: "",
                keys: rest,
                hashicorp: false,
            }),
            0 => Some(KeyResponse {
                ok: false,
                message: core::str::from_utf8(rest).ok()?,
                keys: &[],
                hashicorp: false,
            }),
            KEY_RESPONSE => {
                let (ok, message, keys) = key_response_from_hashicorp(payload).ok()?;
                Some(KeyResponse {
                    ok,
                    message: core::str::from_utf8(message).ok()?,
                    keys,
                    hashicorp: true,
                })
            }
            _ => None,
        }
    }
    /// The keys listed (for `List`); malformed ones are left out.
    pub fn keys(&self) -> impl Iterator<Item = Key> + 'a {
        let mut listed: [Option<Key>; MAX_KEYS] = Default::default();
        let mut n = 0;
        let mut add = |bytes: &[u8]| {
            if let (Some(slot), Ok(k)) = (listed.get_mut(n), Key::new(bytes)) {
                *slot = Some(k);
                n += 1;
            }
        };
        if self.hashicorp {
            let _ = each_key(self.keys, &mut add);
        } else {
            let mut rest = self.keys;
            while let Some((&len, tail)) = rest.split_first() {
                let Some(key) = tail.get(..len as usize) else {
                    break;
                };
                add(key);
                rest = &tail[len as usize..];
            }
        }
        listed.into_iter().flatten()
    }
}

/// A query this node received and may answer.
#[derive(Clone, Debug, Default)]
pub struct Incoming<I> {
    pub(crate) id: u32,
    pub(crate) ltime: u64,
    pub(crate) origin: I,
    pub(crate) deadline: Instant,
    pub(crate) relay_factor: u8,
    pub(crate) used: bool,
}

/// A query this node sent, awaiting acks and responses.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    /// An internal name-conflict query (answers are counted, not delivered).
    pub(crate) conflict: bool,
    /// Conflict answers naming us at our address.
    pub(crate) matching: u32,
    pub(crate) id: u32,
    pub(crate) ltime: u64,
    pub(crate) deadline: Instant,
    pub(crate) acks: u32,
    pub(crate) responses: u32,
    pub(crate) used: bool,
}

/// A response being reassembled from chunks.
#[derive(Clone, Debug, Default)]
pub struct Reassembly<I> {
    pub(crate) id: u32,
    pub(crate) from: I,
    pub(crate) total_len: u32,
    pub(crate) chunks: u16,
    pub(crate) received: u64,
    pub(crate) used: bool,
}

/// Most chunks a response may have (one bit each in [`Reassembly`]).
pub const MAX_CHUNKS: u32 = 64;

/// A set of (query, responder, kind) keys, so relayed copies count once.
pub struct SeenSet<S: Store> {
    buckets: S::Buf<u64>,
    len: usize,
}

impl<S: Store> SeenSet<S> {
    pub(crate) fn new(mut buckets: S::Buf<u64>) -> Self {
        buckets.fill(0);
        SeenSet { buckets, len: 0 }
    }
    /// Inserts; returns false if already present or the set is full.
    pub(crate) fn insert(&mut self, key: u64) -> bool {
        let key = key | 1; // 0 marks an empty bucket
        let n = self.buckets.len();
        if n == 0 || self.len * 4 >= n * 3 {
            return false;
        }
        let mut b = (mix64(key) % n as u64) as usize;
        loop {
            match self.buckets[b] {
                0 => {
                    self.buckets[b] = key;
                    self.len += 1;
                    return true;
                }
                k if k == key => return false,
                _ => b = if b + 1 == n { 0 } else { b + 1 },
            }
        }
    }
    /// Empties the set (when no query is outstanding).
    pub(crate) fn clear(&mut self) {
        if self.len > 0 {
            self.buckets.fill(0);
            self.len = 0;
        }
    }
}
