//! memberlist's TCP streams, sans-IO: a join, a periodic push-pull and a
//! reconnect become a [`StreamOpen`] the runtime carries (connect, write our
//! state from [`Node::write_stream_state`], read one message back); every
//! message read from a stream, ours or accepted, goes to
//! [`Node::feed_stream`] piece by piece (plain) or [`Node::handle_stream`]
//! whole (encrypted), which merge a push-pull member by member
//! (`merge.rs`) and say what to write back.

use super::write_label;
use crate::identity::Identity;
use crate::node::members::table::State;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::crypto::{FrameError, Refusal, NONCE, TAG};
use crate::wire::hashicorp::bridge::tags_to_hashicorp;
use crate::wire::hashicorp::feed::StreamFeed;
use crate::wire::hashicorp::serf::{encode_user_state, Clocks};
use crate::wire::hashicorp::stream::{
    self as hc_stream, encode_header, encode_node, node_state, seal_stream, Header, NodeState,
    SEALED_HEADER,
};
use crate::wire::hashicorp::{encode_message, kind, HcMessage};
use crate::wire::tags::MAX_META;
use crate::wire::{DecodeError, Message};
use rand_core::RngCore;

/// Streams waiting to be opened by the runtime.
const QUEUED: usize = 8;
/// The most one member adds to our push-pull: its node state (name up to
/// 255 bytes, meta up to 512 in Serf's encoding, field names) and its
/// entries in Serf's state (status time, maybe a left name).
const PER_MEMBER: usize = 1536;
/// What Serf's event buffer adds to one kept event: its batch's map and
/// time, the field names and the length prefixes.
const PER_EVENT: usize = 64;
/// Room for the push-pull header and Serf's clocks.
const FIXED: usize = 512;
/// Room kept in front of the push-pull header for the label and encryption
/// headers, and for the header itself.
const HEAD_ROOM: usize = 2 + 255 + SEALED_HEADER + 64;

/// A stream the runtime should open: connect to `to`, write what
/// [`Node::write_stream_state`] writes (with `join`), read one message and
/// hand it to [`Node::feed_stream`] as it arrives (or, encrypted, whole to
/// [`Node::handle_stream`]) as [`StreamSide::Opened`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOpen<A> {
    /// Where to connect.
    pub to: A,
    /// A join (the answering side treats the state as new).
    pub join: bool,
    /// A join that wants the cluster's past events (`join -replay`).
    pub replay: bool,
}

/// Which end of a stream a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamSide {
    /// A peer connected to us: the message is its request.
    Accepted,
    /// We connected ([`StreamOpen`]): the message is the answer.
    Opened {
        /// It was our join.
        join: bool,
        /// The join asked for past events ([`StreamOpen::replay`]).
        replay: bool,
    },
}

/// What to write back on the stream after [`Node::handle_stream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamReply {
    /// Nothing: close it.
    Close,
    /// Our state ([`Node::write_stream_state`] with this `join`), then close.
    State {
        /// Echo of the peer's join flag.
        join: bool,
    },
    /// The first `len` bytes of the reply buffer (an ack), then close.
    Bytes(usize),
    /// The peer's request could not be read (`why`); the first `len` bytes
    /// of the reply buffer tell it so (memberlist's error response), then
    /// close.
    Refused {
        /// Bytes of the error response.
        len: usize,
        /// What was wrong with the request.
        why: Refusal,
    },
    /// The peer answered our stream with an error: its text is the first
    /// `len` bytes of the reply buffer.
    RemoteError(usize),
}

/// The queue of streams to open.
pub(crate) struct Streams<A> {
    queue: [Option<StreamOpen<A>>; QUEUED],
}

impl<A> Default for Streams<A> {
    fn default() -> Self {
        Streams {
            queue: core::array::from_fn(|_| None),
        }
    }
}

impl<A> Streams<A> {
    /// Queues an open; false if the queue is full.
    fn push(&mut self, open: StreamOpen<A>) -> bool {
        match self.queue.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(open);
                true
            }
            None => false,
        }
    }
    fn pop(&mut self) -> Option<StreamOpen<A>> {
        let first = self.queue.iter_mut().find(|s| s.is_some())?;
        first.take()
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Asks the runtime for a push-pull stream to `to` (HashiCorp's wire).
    pub(crate) fn open_stream(&mut self, to: I::Addr, join: bool, replay: bool) {
        if !self.streams.push(StreamOpen { to, join, replay }) {
            self.stats.transmits_dropped += 1;
        }
    }

    /// The next stream to open (HashiCorp's wire only; natively, state
    /// exchanges travel in datagrams and this is always `None`).
    pub fn poll_stream(&mut self) -> Option<StreamOpen<I::Addr>> {
        self.streams.pop()
    }

    /// The buffer [`Node::write_stream_state`] needs: an upper bound for the
    /// members known now.
    pub fn stream_state_len(&self) -> usize {
        FIXED
            + HEAD_ROOM
            + TAG
            + self.members.counts().total() as usize * PER_MEMBER
            + self.event_log.bound(PER_EVENT)
    }

    /// The scratch buffer [`Node::handle_stream`] needs for a message of
    /// `len` bytes: room to decrypt it, and the left marks (decompression
    /// works in the reader's own window).
    pub fn stream_scratch_len(&self, len: usize) -> usize {
        len + self.left_marks_len()
    }

    /// Writes our push-pull state as a stream message (labelled and
    /// encrypted as this node's packets are) into `buf`, which must hold
    /// [`Node::stream_state_len`] bytes; returns its length.
    pub fn write_stream_state(&mut self, join: bool, buf: &mut [u8]) -> Option<usize> {
        let mut label_buf = [0u8; 255];
        let label = self.config.label.as_ref().map_or(&[][..], |l| l.as_bytes());
        label_buf[..label.len()].copy_from_slice(label);
        let label = &label_buf[..label.len()];
        let body_at = HEAD_ROOM;
        let Some(body) = buf.get_mut(body_at..) else {
            self.stats.transmits_dropped += 1;
            return None;
        };
        let Some((nodes, body_len, user_len)) = self.write_states_hc(body) else {
            self.stats.transmits_dropped += 1;
            return None;
        };
        let header = Header {
            nodes,
            user_state_len: user_len as u32,
            join,
        };
        let mut head = [0u8; 64];
        let head_len = encode_header(&header, &mut head).ok()?;
        // Label, then (encrypted) the header and body laid out in order.
        let label_len = if label.is_empty() { 0 } else { 2 + label.len() };
        let sealed = !self.keyring.is_empty();
        let plain_at = label_len + if sealed { SEALED_HEADER } else { 0 };
        buf[plain_at..plain_at + head_len].copy_from_slice(&head[..head_len]);
        buf.copy_within(body_at..body_at + body_len, plain_at + head_len);
        let plain_len = head_len + body_len;
        let mut total = plain_at + plain_len;
        if let Some(key) = self.keyring.primary() {
            let mut nonce = [0u8; NONCE];
            self.rng.fill_bytes(&mut nonce);
            match seal_stream(&mut buf[label_len..], plain_len, label, key, nonce) {
                Ok(n) => total = label_len + n,
                Err(_) => {
                    self.stats.transmits_dropped += 1;
                    return None;
                }
            }
        }
        write_label(buf, label);
        Some(total)
    }

    /// Our node states, then Serf's state, into `buf`; returns (states,
    /// bytes written, bytes of Serf's state).
    fn write_states_hc(&self, buf: &mut [u8]) -> Option<(u32, usize, usize)> {
        let (mut at, mut nodes) = (0usize, 0u32);
        let mut meta = [0u8; MAX_META + 16];
        for (slot, s) in self.members.iter() {
            let (Some(state), Some(h)) = (s.state(), s.id().hashicorp()) else {
                continue;
            };
            let meta_len = if state.is_live() {
                tags_to_hashicorp(self.meta.get(slot), &mut meta).ok()?
            } else {
                0
            };
            let vsn = [1, 5, 2, 2, 5, s.protocol().clamp(2, 5)];
            let ns = NodeState {
                name: h.name,
                addr: h.ip,
                port: h.port,
                meta: &meta[..meta_len],
                incarnation: s.incarnation(),
                state: match state {
                    State::Alive => node_state::ALIVE,
                    State::Suspect => node_state::SUSPECT,
                    State::Dead => node_state::DEAD,
                    State::Left => node_state::LEFT,
                },
                vsn: &vsn,
            };
            at += encode_node(&ns, buf.get_mut(at..)?).ok()?;
            nodes += 1;
        }
        let clocks = Clocks {
            ltime: self.intents.clock.time(),
            event_ltime: self.user_events.clock.time(),
            query_ltime: self.queries_seen.clock.time(),
        };
        let statuses = || {
            self.members.iter().filter_map(|(slot, s)| {
                let name = s.id().hashicorp()?.name;
                let left = s.state() == Some(State::Left);
                Some((name, self.intents.ltime(slot), left))
            })
        };
        // Serf's event buffer: the events we keep, so a joiner with
        // -replay (and anti-entropy) gets them.
        let events = || {
            self.event_log
                .records()
                .filter_map(|rec| match crate::wire::decode_message::<I>(rec) {
                    Some(Message::Event {
                        ltime,
                        name,
                        payload,
                        ..
                    }) => Some((ltime, name.as_bytes(), payload)),
                    _ => None,
                })
        };
        let user = encode_user_state(&clocks, statuses, events, buf.get_mut(at..)?).ok()?;
        Some((nodes, at + user, user))
    }

    /// One whole message read from a stream (`from`: the peer's address):
    /// opened if encrypted, then read as [`Node::feed_stream`] reads one (a
    /// push-pull merged member by member, a ping answered with an ack in
    /// `reply`). `scratch` must hold [`Node::stream_scratch_len`] bytes.
    pub fn handle_stream(
        &mut self,
        now: Instant,
        from: I::Addr,
        side: StreamSide,
        message: &[u8],
        scratch: &mut [u8],
        reply: &mut [u8],
    ) -> Result<StreamReply, DecodeError> {
        let _ = from;
        let (label, body) = self.strip_label(message)?;
        let encrypted = body.first() == Some(&kind::ENCRYPT);
        if encrypted == self.keyring.is_empty() {
            // memberlist refuses plaintext when it encrypts, and cannot
            // read ciphertext when it does not.
            return self.unreadable_stream(side, FrameError::Encryption, reply);
        }
        let marks_at = scratch.len().saturating_sub(self.left_marks_len());
        let (opened, marks) = scratch.split_at_mut(marks_at);
        let plain = if encrypted {
            match hc_stream::open_encrypted(body, opened, label, &self.keyring) {
                Ok(n) => &opened[..n],
                Err(_) => return self.unreadable_stream(side, FrameError::Decrypt, reply),
            }
        } else {
            body
        };
        // Read as a stream would be, in one piece.
        let mut feed = StreamFeed::new();
        match self.apply_stream(now, side, &mut feed, marks, plain, reply, true)? {
            Some(answer) => Ok(answer),
            None => {
                self.stats.decode_errors += 1;
                Err(DecodeError::Malformed)
            }
        }
    }

    /// A stream message we cannot read. A peer's request is answered as
    /// memberlist answers it, with an error response (sealed with our key,
    /// so a peer with the wrong key learns only that it cannot read it); an
    /// answer to our own stream is refused with memberlist's wording.
    pub(super) fn unreadable_stream(
        &mut self,
        side: StreamSide,
        e: FrameError,
        reply: &mut [u8],
    ) -> Result<StreamReply, DecodeError> {
        self.stats.frames_rejected += 1;
        let why = Refusal::reading(e, !self.keyring.is_empty());
        if side != StreamSide::Accepted {
            return Err(DecodeError::Refused(why));
        }
        let len = self.seal_stream_reply(&HcMessage::Err(why.text().as_bytes()), reply)?;
        Ok(StreamReply::Refused { len, why })
    }

    /// A bit per member slot, for the members a push-pull's Serf state says
    /// left (kept at the end of the stream scratch).
    pub(super) fn left_marks_len(&self) -> usize {
        self.config.capacity.members.div_ceil(8)
    }

    /// An ack (or any short message) framed for a stream into `reply`.
    pub(super) fn seal_stream_reply(
        &mut self,
        m: &HcMessage<'_>,
        reply: &mut [u8],
    ) -> Result<usize, DecodeError> {
        let label = self.config.label.as_ref().map_or(&[][..], |l| l.as_bytes());
        let label_len = if label.is_empty() { 0 } else { 2 + label.len() };
        let sealed = !self.keyring.is_empty();
        let at = label_len + if sealed { SEALED_HEADER } else { 0 };
        let too_small = DecodeError::Oversized(reply.len());
        let n = encode_message(m, reply.get_mut(at..).ok_or(too_small)?).map_err(|_| too_small)?;
        let mut total = at + n;
        if let Some(key) = self.keyring.primary() {
            let mut nonce = [0u8; NONCE];
            self.rng.fill_bytes(&mut nonce);
            total = label_len
                + seal_stream(&mut reply[label_len..], n, label, key, nonce)
                    .map_err(|_| too_small)?;
        }
        write_label(reply, label);
        Ok(total)
    }
}
