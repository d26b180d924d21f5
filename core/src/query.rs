//! Queries: filters, the responder and originator tables, the outbox that
//! holds responses (and relayed copies) until they are sent, and reassembly of
//! responses larger than one datagram.

use core::time::Duration;

use serde::Serialize;

use crate::identity::{mix64, Identity};
use crate::seq::Seq;
use crate::store::Store;
use crate::tags::Tags;
use crate::time::Instant;

/// Query flags on the wire.
pub mod flags {
    /// The originator wants acks.
    pub const ACK: u8 = 1;
    /// Receivers must not re-broadcast.
    pub const NO_BROADCAST: u8 = 2;
}

/// Response flags on the wire.
pub mod response_flags {
    /// An ack, not a response.
    pub const ACK: u8 = 1;
}

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

/// A member's answer to a key operation: `[1 = ok | 0 = failed]` then, on
/// failure, a message, or for `List` the keys as `len, bytes` pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyResponse<'a> {
    /// The operation succeeded there.
    pub ok: bool,
    /// Failure message (empty on success).
    pub message: &'a str,
    keys: &'a [u8],
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
            }),
            0 => Some(KeyResponse {
                ok: false,
                message: core::str::from_utf8(rest).ok()?,
                keys: &[],
            }),
            _ => None,
        }
    }
    /// The keys listed (for `List`).
    pub fn keys(&self) -> impl Iterator<Item = &'a [u8]> {
        let mut rest = self.keys;
        core::iter::from_fn(move || {
            let (&n, tail) = rest.split_first()?;
            let key = tail.get(..n as usize)?;
            rest = &tail[n as usize..];
            Some(key)
        })
    }
}

/// Encodes a node filter list.
pub fn encode_nodes<I: Serialize>(nodes: &[I], buf: &mut [u8]) -> Option<usize> {
    postcard::to_slice(nodes, buf).ok().map(|b| b.len())
}

/// Iterates over an encoded node filter list (malformed input ends it).
pub type NodeList<'a, I> = Seq<'a, I>;

/// Decides whether a tag value matches a filter expression. Serf uses Go
/// regular expressions (unanchored); the core ships [`SimpleMatcher`] and the
/// std runtime plugs in full regular expressions.
pub trait TagMatcher: core::fmt::Debug + Sync {
    /// True if `value` matches `expr`.
    fn matches(&self, expr: &str, value: &str) -> bool;
}

/// The built-in matcher ([`simple_match`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleMatcher;

impl TagMatcher for SimpleMatcher {
    fn matches(&self, expr: &str, value: &str) -> bool {
        simple_match(expr, value)
    }
}

/// The built-in matcher as a `'static` trait object for [`crate::Config`].
pub static SIMPLE_MATCHER: SimpleMatcher = SimpleMatcher;

/// True if a member named `me` with tags `mine` passes the filters.
pub fn passes<I: Identity>(
    me: &I,
    mine: Tags<'_>,
    nodes: &[u8],
    tag_filter: &[u8],
    matcher: &dyn TagMatcher,
) -> bool {
    if !nodes.is_empty() && !NodeList::<I>::new(nodes).any(|n| n == *me) {
        return false;
    }
    Tags::new(tag_filter).all(|(key, expr)| matcher.matches(expr, mine.get(key).unwrap_or("")))
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

/// Datagram bodies waiting to be sent (responses, chunks, relayed copies),
/// one MTU-sized slot each.
pub struct Outbox<S: Store> {
    bytes: S::Buf<u8>,
    lens: S::Buf<u16>,
    slot: usize,
    free: usize,
    /// Datagrams refused because the outbox was full.
    pub dropped: u64,
}

impl<S: Store> Outbox<S> {
    pub(crate) fn new(bytes: S::Buf<u8>, mut lens: S::Buf<u16>) -> Self {
        lens.fill(0);
        let slot = if lens.is_empty() {
            0
        } else {
            bytes.len() / lens.len()
        };
        let free = lens.len();
        Outbox {
            bytes,
            lens,
            slot,
            free,
            dropped: 0,
        }
    }
    /// Free slots.
    pub fn free(&self) -> usize {
        self.free
    }
    /// Stores a message; returns its slot.
    pub(crate) fn put<I: Serialize>(&mut self, m: &crate::codec::Message<'_, I>) -> Option<u16> {
        let Some(i) = self.lens.iter().position(|&l| l == 0) else {
            self.dropped += 1;
            return None;
        };
        let at = i * self.slot;
        match postcard::to_slice(m, &mut self.bytes[at..at + self.slot]) {
            Ok(b) if !b.is_empty() => {
                self.lens[i] = b.len() as u16;
                self.free -= 1;
                Some(i as u16)
            }
            _ => {
                self.dropped += 1;
                None
            }
        }
    }
    /// Stores raw encoded message bytes; returns the slot.
    pub(crate) fn put_raw(&mut self, bytes: &[u8]) -> Option<u16> {
        if bytes.is_empty() || bytes.len() > self.slot {
            self.dropped += 1;
            return None;
        }
        let Some(i) = self.lens.iter().position(|&l| l == 0) else {
            self.dropped += 1;
            return None;
        };
        let at = i * self.slot;
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
        self.lens[i] = bytes.len() as u16;
        self.free -= 1;
        Some(i as u16)
    }
    /// The bytes of slot `i`.
    pub(crate) fn get(&self, i: u16) -> &[u8] {
        let at = i as usize * self.slot;
        &self.bytes[at..at + self.lens[i as usize] as usize]
    }
    /// Frees slot `i`.
    pub(crate) fn release(&mut self, i: u16) {
        if self.lens[i as usize] != 0 {
            self.lens[i as usize] = 0;
            self.free += 1;
        }
    }
}

/// A small unanchored pattern matcher for tag filters in `no_std` (the std
/// runtime plugs in full regular expressions): literals, `.`, `*` (after an
/// atom), `^`, `$` and top-level `|`.
///
/// ```
/// use serf_core::query::simple_match;
/// assert!(simple_match("web", "frontend-web-1"));
/// assert!(simple_match("^db$|^cache$", "cache"));
/// assert!(!simple_match("^db$", "db2"));
/// assert!(simple_match("us-.*-1", "us-east-1"));
/// assert!(simple_match("", "anything"));
/// ```
pub fn simple_match(expr: &str, value: &str) -> bool {
    expr.split('|')
        .any(|alt| match_alt(alt.as_bytes(), value.as_bytes()))
}

fn match_alt(p: &[u8], v: &[u8]) -> bool {
    if let Some(rest) = p.strip_prefix(b"^") {
        return match_here(rest, v);
    }
    (0..=v.len()).any(|i| match_here(p, &v[i..]))
}

fn match_here(p: &[u8], v: &[u8]) -> bool {
    match p {
        [] => true,
        [b'$'] => v.is_empty(),
        [c, b'*', rest @ ..] => {
            let mut i = 0;
            loop {
                if match_here(rest, &v[i..]) {
                    return true;
                }
                if i < v.len() && (*c == b'.' || v[i] == *c) {
                    i += 1;
                } else {
                    return false;
                }
            }
        }
        [c, rest @ ..] => !v.is_empty() && (*c == b'.' || *c == v[0]) && match_here(rest, &v[1..]),
    }
}
