//! The wire format: every byte layout and every postcard call of the core.
//!
//! A datagram is one version byte followed by one or more postcard-encoded
//! [`Message`]s back to back (postcard values are self-delimiting, so a compound
//! packet needs no length table). Decoding borrows from the datagram (user
//! payloads are not copied), never allocates and never panics: every bad input
//! is a [`DecodeError`].

use serde::{Deserialize, Serialize};

use crate::vivaldi::Coordinate;

pub mod crypto;
pub mod digest;
mod gossip;
pub mod hashicorp;
pub(crate) mod seq;
pub mod tags;

pub use crypto::{Key, KeyError, Keyring, Label, Refusal};

/// Wire format version carried in the first byte of every datagram.
pub const VERSION: u8 = 1;

/// Member states as they travel in push-pull.
pub mod wire_state {
    /// Alive.
    pub const ALIVE: u8 = 1;
    /// Suspect.
    pub const SUSPECT: u8 = 2;
    /// Dead.
    pub const DEAD: u8 = 3;
    /// Left.
    pub const LEFT: u8 = 4;
}

/// Push-pull header flags.
pub mod push_pull_flags {
    /// The sender wants our state back.
    pub const WANT_REPLY: u8 = 1;
    /// The sender is joining (first contact).
    pub const JOIN: u8 = 2;
    /// This is the answer to a join.
    pub const JOIN_REPLY: u8 = 4;
    /// The joiner wants the recent user events replayed (and, in the
    /// answer: they follow).
    pub const REPLAY: u8 = 8;
    /// This chunk ends at the sender's last slot: the answer is complete
    /// once every range before it arrived.
    pub const LAST: u8 = 16;
}

/// One protocol message. Kinds and fields follow memberlist's message types.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(bound(serialize = "I: Serialize", deserialize = "I: Deserialize<'de>"))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Message<'a, I> {
    /// Direct probe of `target`, to be acked with `seq`.
    Ping {
        /// Sequence number echoed by the ack.
        seq: u32,
        /// The member the sender believes it is probing.
        target: I,
    },
    /// Please probe `target` for me and forward its ack (or a nack).
    IndirectPing {
        /// The requester's sequence number.
        seq: u32,
        /// Member to probe.
        target: I,
        /// Send a nack if the target does not answer in time.
        nack: bool,
    },
    /// Answer to a ping.
    Ack {
        /// The ping's sequence number.
        seq: u32,
        /// The responder's network coordinate (absent when relayed or disabled),
        /// left encoded until the ack turns out to matter.
        coord: Option<CoordBytes<'a>>,
    },
    /// An indirect probe got no answer from the target.
    Nack {
        /// The indirect ping's sequence number.
        seq: u32,
    },
    /// `node` is alive at `incarnation`, with metadata `meta` (encoded tags).
    Alive {
        /// Incarnation.
        incarnation: u32,
        /// The member.
        node: I,
        /// Encoded tags (see [`crate::wire::tags`]).
        meta: &'a [u8],
        /// The Serf protocol version it speaks (`Config::protocol`).
        protocol: u8,
    },
    /// `from` suspects `node` at `incarnation`.
    Suspect {
        /// Incarnation.
        incarnation: u32,
        /// The member.
        node: I,
        /// The accuser.
        from: I,
    },
    /// `from` declares `node` dead; `from == node` means it left.
    Dead {
        /// Incarnation.
        incarnation: u32,
        /// The member.
        node: I,
        /// The declarer.
        from: I,
    },
    /// Header of a push-pull datagram; `State` messages follow: the
    /// sender's member slots `first..end` (empty slots send nothing).
    PushPull {
        /// Exchange identifier.
        session: u32,
        /// [`push_pull_flags`].
        flags: u8,
        /// The sender's user-event clock.
        event_ltime: u64,
        /// First slot this chunk covers.
        first: u32,
        /// The slot after the last one it covers.
        end: u32,
    },
    /// One member's state inside a push-pull exchange.
    State {
        /// The member.
        node: I,
        /// Incarnation.
        incarnation: u32,
        /// [`wire_state`].
        state: u8,
        /// Encoded tags.
        meta: &'a [u8],
        /// The Serf protocol version it speaks.
        protocol: u8,
    },
    /// A user event (Serf message type 3), disseminated by every member that
    /// sees it for the first time.
    Event {
        /// Event clock time.
        ltime: u64,
        /// Event name.
        name: &'a str,
        /// Opaque payload.
        payload: &'a [u8],
        /// Coalescing allowed.
        coalesce: bool,
    },
    /// An opaque user broadcast.
    User(&'a [u8]),
    /// A query (Serf message type 4).
    Query {
        /// Query clock time.
        ltime: u64,
        /// Random id chosen by the originator.
        id: u32,
        /// The originator (responses go to its address).
        from: I,
        /// [`query_flags`].
        flags: u8,
        /// Responses also travel through this many random members.
        relay_factor: u8,
        /// Deadline after the query was sent, milliseconds.
        timeout_ms: u32,
        /// Node filter: an encoded list of identities (empty: no filter).
        nodes: &'a [u8],
        /// Tag filter: encoded (key, expression) pairs (empty: no filter).
        tags: &'a [u8],
        /// Query name.
        name: &'a str,
        /// Opaque payload.
        payload: &'a [u8],
    },
    /// An ack or (a chunk of) a response to a query (Serf message type 5).
    QueryResponse {
        /// The query's time.
        ltime: u64,
        /// The query's id.
        id: u32,
        /// The responder.
        from: I,
        /// [`response_flags`].
        flags: u8,
        /// Chunk number.
        index: u16,
        /// Chunks in the whole response.
        total: u16,
        /// Length of the whole response.
        total_len: u32,
        /// Where this chunk goes in the whole response.
        offset: u32,
        /// This chunk's bytes.
        payload: &'a [u8],
    },
    /// A join or leave intent stamped with the member clock (Serf types 0 and 1).
    Intent {
        /// Member clock time.
        ltime: u64,
        /// The member.
        node: I,
        /// Leave (true) or join (false).
        leave: bool,
        /// With a leave: erase the member everywhere (force-leave -prune).
        prune: bool,
    },
    /// Please forward `inner` (an encoded query response) to `dest` (Serf's relay).
    Relay {
        /// Final destination.
        dest: I,
        /// The encoded message to forward.
        inner: &'a [u8],
    },
    /// Please send your slots `first..end` of push-pull `session` again:
    /// their chunks were lost.
    Resend {
        /// The exchange.
        session: u32,
        /// First missing slot.
        first: u32,
        /// The slot after the last missing one.
        end: u32,
    },
    /// A periodic push-pull by difference: the sender's member-table digest
    /// ([`digest::SUMS_LEN`] bytes). The receiver answers with a
    /// [`Message::Differ`] and its own states in the buckets that differ.
    Digest {
        /// Exchange identifier.
        session: u32,
        /// Per-bucket sums ([`digest::sums_to_bytes`]).
        sums: &'a [u8],
    },
    /// The buckets where two digests differ: send me your states in them.
    Differ {
        /// The exchange.
        session: u32,
        /// Bit `b` set: bucket `b` differs.
        buckets: u128,
    },
}

impl<I> Message<'_, I> {
    /// A short name for the kind (benchmarks and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Ping { .. } => "ping",
            Message::IndirectPing { .. } => "indirect_ping",
            Message::Ack { .. } => "ack",
            Message::Nack { .. } => "nack",
            Message::Alive { .. } => "alive",
            Message::Suspect { .. } => "suspect",
            Message::Dead { .. } => "dead",
            Message::PushPull { .. } => "push_pull",
            Message::State { .. } => "state",
            Message::User(_) => "user",
            Message::Event { .. } => "event",
            Message::Query { .. } => "query",
            Message::QueryResponse { .. } => "query_response",
            Message::Relay { .. } => "relay",
            Message::Intent { .. } => "intent",
            Message::Resend { .. } => "resend",
            Message::Digest { .. } => "digest",
            Message::Differ { .. } => "differ",
        }
    }
}

/// Largest encoded coordinate.
pub const COORD_MAX: usize = 128;

/// A coordinate as an ack carries it: its own postcard bytes, borrowed from the
/// datagram and decoded only for the ack of our probe in flight (keeping every
/// decoded [`Message`] small).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CoordBytes<'a>(#[serde(borrow)] pub &'a [u8]);

impl<'a> CoordBytes<'a> {
    /// Encodes `c` into `buf`.
    pub fn encode(c: &Coordinate, buf: &'a mut [u8; COORD_MAX]) -> Option<CoordBytes<'a>> {
        postcard::to_slice(c, buf).ok().map(|b| CoordBytes(&*b))
    }
    /// Decodes the coordinate (`None` if the bytes are not one).
    pub fn decode(&self) -> Option<Coordinate> {
        postcard::from_bytes(self.0).ok()
    }
}

/// Why a datagram was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// No bytes at all.
    Empty,
    /// Unknown version byte.
    Version(u8),
    /// Longer than the configured MTU.
    Oversized(usize),
    /// A message that does not parse (truncated, bad tag, bad varint...).
    Malformed,
    /// Wrong label, missing or unexpected encryption, or undecryptable.
    Frame(crate::wire::crypto::FrameError),
    /// A peer's notice that it refused what we sent it.
    Refused(crate::wire::crypto::Refusal),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty datagram"),
            DecodeError::Version(v) => write!(f, "unsupported wire version {v}"),
            DecodeError::Oversized(n) => write!(f, "datagram of {n} bytes exceeds the MTU"),
            DecodeError::Malformed => write!(f, "malformed message"),
            DecodeError::Frame(e) => write!(f, "datagram refused: {e:?}"),
            DecodeError::Refused(r) => write!(f, "refused by the peer: {r}"),
        }
    }
}

/// Splits a datagram into messages.
///
/// ```
/// use serf_core::wire::{Decoder, Encoder, Message};
/// let mut buf = [0u8; 64];
/// let mut enc = Encoder::new(&mut buf).unwrap();
/// assert!(enc.push::<u32>(&Message::Ack { seq: 9, coord: None }));
/// let n = enc.len();
/// let mut dec = Decoder::<u32>::new(&buf[..n], 1400).unwrap();
/// assert_eq!(dec.next(), Some(Ok(Message::Ack { seq: 9, coord: None })));
/// assert_eq!(dec.next(), None);
/// ```
pub struct Decoder<'a, I> {
    rest: &'a [u8],
    _id: core::marker::PhantomData<I>,
}

impl<'a, I: for<'de> Deserialize<'de>> Decoder<'a, I> {
    /// Checks the envelope (size, version) of `datagram`.
    pub fn new(datagram: &'a [u8], mtu: usize) -> Result<Self, DecodeError> {
        if datagram.len() > mtu {
            return Err(DecodeError::Oversized(datagram.len()));
        }
        match datagram.split_first() {
            None => Err(DecodeError::Empty),
            Some((&VERSION, rest)) if !rest.is_empty() => Ok(Decoder {
                rest,
                _id: core::marker::PhantomData,
            }),
            Some((&VERSION, _)) => Err(DecodeError::Malformed),
            Some((&v, _)) => Err(DecodeError::Version(v)),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a, I: for<'de> Deserialize<'de>> Decoder<'a, I> {
    /// The next message as postcard's derived reader alone reads it, without
    /// the hand-read gossip messages (`gossip.rs`): the `decode` fuzz target
    /// checks both readers agree on any input.
    pub fn next_derived(&mut self) -> Option<Result<Message<'a, I>, DecodeError>> {
        if self.rest.is_empty() {
            return None;
        }
        match postcard::take_from_bytes::<Message<'a, I>>(self.rest) {
            Ok((m, rest)) => {
                self.rest = rest;
                Some(Ok(m))
            }
            Err(_) => {
                self.rest = &[];
                Some(Err(DecodeError::Malformed))
            }
        }
    }
}

impl<'a, I: for<'de> Deserialize<'de>> Iterator for Decoder<'a, I> {
    type Item = Result<Message<'a, I>, DecodeError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let taken = match gossip::take::<I>(self.rest) {
            Some(fast) => fast,
            None => postcard::take_from_bytes::<Message<'a, I>>(self.rest).map_err(|_| ()),
        };
        match taken {
            Ok((m, rest)) => {
                self.rest = rest;
                Some(Ok(m))
            }
            Err(_) => {
                self.rest = &[];
                Some(Err(DecodeError::Malformed))
            }
        }
    }
}

/// Writes messages into a caller buffer.
pub struct Encoder<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Encoder<'b> {
    /// Starts a datagram (writes the version byte); `None` if `buf` is empty.
    pub fn new(buf: &'b mut [u8]) -> Option<Self> {
        let first = buf.first_mut()?;
        *first = VERSION;
        Some(Encoder { buf, pos: 1 })
    }
    /// Appends a message if it fits; returns false (and writes nothing) otherwise.
    pub fn push<I: Serialize>(&mut self, m: &Message<'_, I>) -> bool {
        match postcard::to_slice(m, &mut self.buf[self.pos..]) {
            Ok(used) => {
                self.pos += used.len();
                true
            }
            Err(_) => false,
        }
    }
    /// Leaves `len` bytes for a message that [`Encoder::fill`] writes once
    /// what follows it is known; `None` if they do not fit.
    pub fn hole(&mut self, len: usize) -> Option<Hole> {
        if self.remaining() < len {
            return None;
        }
        let hole = Hole { at: self.pos, len };
        self.pos += len;
        Some(hole)
    }
    /// Writes `m` into `hole` and closes the gap behind it. If `m` is longer
    /// than the hole, the hole is removed and false returned.
    pub fn fill<I: Serialize>(&mut self, hole: Hole, m: &Message<'_, I>) -> bool {
        let Hole { at, len } = hole;
        let used = postcard::to_slice(m, &mut self.buf[at..at + len])
            .map(|b| b.len())
            .ok();
        let used_len = used.unwrap_or(0);
        self.buf.copy_within(at + len..self.pos, at + used_len);
        self.pos -= len - used_len;
        used.is_some()
    }
    /// Appends already-encoded message bytes if they fit.
    pub fn push_raw(&mut self, bytes: &[u8]) -> bool {
        match self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos += bytes.len();
                true
            }
            None => false,
        }
    }

    /// Bytes written so far, version byte included.
    pub fn len(&self) -> usize {
        self.pos
    }
    /// True if only the version byte was written.
    pub fn is_empty(&self) -> bool {
        self.pos <= 1
    }
    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Room an [`Encoder`] left for a message written later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
    at: usize,
    len: usize,
}

/// Query flags on the wire.
pub mod query_flags {
    /// The originator wants acks.
    pub const ACK: u8 = 1;
    /// Receivers must not re-broadcast.
    pub const NO_BROADCAST: u8 = 2;
}

/// Response flags on the wire.
pub mod response_flags {
    /// An ack, not a response.
    pub const ACK: u8 = 1;
    /// Bits no sender sets (they once marked local inbox records): a response
    /// carrying them is malformed.
    pub const RESERVED: u8 = 0xC0;
}

/// A record the node leaves in its own inbox for the application. Notes never
/// travel: they are kept apart from received messages, so no wire message
/// can pose as one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note<I> {
    /// Our query's deadline passed.
    QueryDone {
        /// Query id.
        id: u32,
    },
    /// A response reassembled from chunks, waiting in reassembly slot `slot`.
    Reassembled {
        /// Query id.
        id: u32,
        /// The responder.
        from: I,
        /// Reassembly slot.
        slot: u16,
        /// Response length.
        len: u32,
    },
}

/// Encodes one message (without a datagram's version byte) into `buf`;
/// the length written, or `None` if it does not fit.
pub(crate) fn encode_message<I: Serialize>(m: &Message<'_, I>, buf: &mut [u8]) -> Option<usize> {
    postcard::to_slice(m, buf).ok().map(|b| b.len())
}

/// Decodes one message that fills `bytes` (a stored or relayed record).
pub(crate) fn decode_message<'a, I: Deserialize<'a>>(bytes: &'a [u8]) -> Option<Message<'a, I>> {
    postcard::from_bytes(bytes).ok()
}

/// Encoded size of one message (without a datagram's version byte),
/// counted without writing it anywhere.
pub(crate) fn message_len<I: Serialize>(m: &Message<'_, I>) -> usize {
    postcard::serialize_with_flavor(m, postcard::ser_flavors::Size::default()).unwrap_or(usize::MAX)
}

/// Encodes an inbox note.
pub(crate) fn encode_note<I: Serialize>(n: &Note<I>, buf: &mut [u8]) -> Option<usize> {
    postcard::to_slice(n, buf).ok().map(|b| b.len())
}

/// Decodes an inbox note.
pub(crate) fn decode_note<'a, I: Deserialize<'a>>(bytes: &'a [u8]) -> Option<Note<I>> {
    postcard::from_bytes(bytes).ok()
}

/// Encodes an identity (the answer to a name-conflict query).
pub(crate) fn encode_identity<I: Serialize>(id: &I, buf: &mut [u8]) -> Option<usize> {
    postcard::to_slice(id, buf).ok().map(|b| b.len())
}

/// Decodes an identity.
pub(crate) fn decode_identity<'a, I: Deserialize<'a>>(bytes: &'a [u8]) -> Option<I> {
    postcard::from_bytes(bytes).ok()
}

/// Encodes a query's node filter list.
pub fn encode_nodes<I: Serialize>(nodes: &[I], buf: &mut [u8]) -> Option<usize> {
    postcard::to_slice(nodes, buf).ok().map(|b| b.len())
}

/// Variant tags (postcard writes a variant's index as its first byte) of
/// the messages a state exchange starts with.
const PUSH_PULL_TAG: u8 = 7;
const STATE_TAG: u8 = 8;
const DIGEST_TAG: u8 = 16;
const DIFFER_TAG: u8 = 17;

/// True if a plain datagram's first message belongs to a state exchange (a
/// push-pull header, a member state, a digest or its answer), read from its tag alone: traffic
/// accounting that must not cost a decode per datagram.
pub fn starts_state_exchange(datagram: &[u8]) -> bool {
    matches!(
        datagram,
        [
            VERSION,
            PUSH_PULL_TAG | STATE_TAG | DIGEST_TAG | DIFFER_TAG,
            ..
        ]
    )
}

/// Iterates over an encoded node filter list (malformed input ends it).
pub type NodeList<'a, I> = seq::Seq<'a, I>;

#[cfg(test)]
mod tests;
