//! A stream message's items (`wire::hashicorp::feed`) applied as they are
//! read: each node state merged into the table, then Serf's state (clocks,
//! left members, each member's intent at its status time, the event
//! buffer), or a small message (ping, error) answered. Streams are read
//! piece by piece ([`Node::feed_stream`]) or whole ([`Node::handle_stream`]);
//! both end here.

use super::announced;
use crate::identity::{HcNode, Identity};
use crate::node::hashicorp::{StreamReply, StreamSide};
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::crypto::FrameError;
use crate::wire::hashicorp::feed::{Clock, Item, Progress, StreamFeed};
use crate::wire::hashicorp::stream::{node_state, user_message};
use crate::wire::hashicorp::{decode_message, kind, HcError, HcMessage};
use crate::wire::tags::MAX_META;
use crate::wire::{wire_state, DecodeError};
use rand_core::RngCore;

/// One message being applied: where it came from, the left marks its Serf
/// state sets, and what its end calls for.
struct Merge<'m> {
    now: Instant,
    side: StreamSide,
    /// The label was checked already (an encrypted message's, outside it).
    labelled: bool,
    marks: &'m mut [u8],
    reply: &'m mut [u8],
    answer: Option<StreamReply>,
    failed: Option<DecodeError>,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// The bytes [`Node::feed_stream`] needs for a stream's left marks.
    pub fn stream_marks_len(&self) -> usize {
        self.left_marks_len()
    }

    /// Reads the next piece of a plain (unencrypted) stream message as it
    /// arrives, applying each node state and each entry of Serf's state as
    /// soon as it is whole: nothing is gathered, whatever the message's
    /// size. `feed` (one per stream, [`StreamFeed::new`]) keeps the reader's
    /// place; `marks` holds [`Node::stream_marks_len`] bytes. `Ok(None)`:
    /// more to come; `Ok(Some(reply))`: the message ended, answer as
    /// [`Node::handle_stream`] says. An encrypted message is read whole
    /// with [`Node::handle_stream`] (`wire::hashicorp::stream::sealed`
    /// tells which from its first bytes).
    ///
    /// ```
    /// # use serf_core::wire::hashicorp::feed::StreamFeed;
    /// # fn demo<I: serf_core::Identity, S: serf_core::Store, R: rand_core::RngCore>(
    /// #     node: &mut serf_core::Node<I, S, R>, from: I::Addr, pieces: &[&[u8]]) {
    /// let mut feed = Box::new(StreamFeed::new());
    /// let mut marks = vec![0u8; node.stream_marks_len()];
    /// let mut reply = [0u8; 1024];
    /// let now = serf_core::Instant::ZERO;
    /// for piece in pieces {
    ///     let side = serf_core::StreamSide::Accepted;
    ///     match node.feed_stream(now, from.clone(), side, &mut feed, &mut marks, piece, &mut reply) {
    ///         Ok(None) => continue,
    ///         Ok(Some(answer)) => { /* write what `answer` says, then close */ break }
    ///         Err(e) => { /* counted by the node; close */ break }
    ///     }
    /// }
    /// # }
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn feed_stream(
        &mut self,
        now: Instant,
        from: I::Addr,
        side: StreamSide,
        feed: &mut StreamFeed,
        marks: &mut [u8],
        bytes: &[u8],
        reply: &mut [u8],
    ) -> Result<Option<StreamReply>, DecodeError> {
        let _ = from;
        if !self.keyring.is_empty() {
            // memberlist refuses plaintext when it encrypts.
            return self
                .unreadable_stream(side, FrameError::Encryption, reply)
                .map(Some);
        }
        self.apply_stream(now, side, feed, marks, bytes, reply, false)
    }

    /// Feeds `bytes` to `feed` and applies its items.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_stream(
        &mut self,
        now: Instant,
        side: StreamSide,
        feed: &mut StreamFeed,
        marks: &mut [u8],
        bytes: &[u8],
        reply: &mut [u8],
        labelled: bool,
    ) -> Result<Option<StreamReply>, DecodeError> {
        let mut m = Merge {
            now,
            side,
            labelled,
            marks,
            reply,
            answer: None,
            failed: None,
        };
        let read = feed.feed(bytes, &mut |item| self.on_stream_item(&mut m, item));
        if let Some(e) = m.failed {
            return Err(e);
        }
        match read {
            Ok(Progress::More) => Ok(None),
            Ok(Progress::Done) => match (m.answer, feed.header()) {
                (Some(answer), _) => Ok(Some(answer)),
                (None, Some(h)) => Ok(Some(match side {
                    StreamSide::Accepted => StreamReply::State { join: h.join },
                    StreamSide::Opened { .. } => StreamReply::Close,
                })),
                (None, None) => self.malformed_stream(),
            },
            Err(HcError::Kind(kind::ENCRYPT)) => self
                .unreadable_stream(side, FrameError::Encryption, m.reply)
                .map(Some),
            Err(_) => self.malformed_stream(),
        }
    }

    fn malformed_stream(&mut self) -> Result<Option<StreamReply>, DecodeError> {
        self.stats.decode_errors += 1;
        Err(DecodeError::Malformed)
    }

    /// One item of a stream message; an error ends the message (the reason
    /// is left in `m.failed`).
    fn on_stream_item(&mut self, m: &mut Merge<'_>, item: Item<'_>) -> Result<(), HcError> {
        let now = m.now;
        match item {
            Item::Label(label) => {
                let ours = self.config.label.as_ref().map_or(&[][..], |l| l.as_bytes());
                if !m.labelled && label != ours {
                    self.stats.frames_rejected += 1;
                    m.failed = Some(DecodeError::Frame(FrameError::Label));
                    return Err(HcError::Msgpack);
                }
            }
            Item::Header(_) => m.marks.fill(0),
            Item::Node(s) => {
                let node = HcNode {
                    name: s.name,
                    ip: s.addr,
                    port: s.port,
                };
                let mut meta = [0u8; MAX_META];
                let Some((id, n)) = announced::<I>(node, s.meta, &mut meta) else {
                    self.stats.decode_errors += 1;
                    return Ok(());
                };
                let state = match s.state {
                    node_state::ALIVE => wire_state::ALIVE,
                    node_state::SUSPECT => wire_state::SUSPECT,
                    node_state::DEAD => wire_state::DEAD,
                    _ => wire_state::LEFT,
                };
                let protocol = s.vsn.get(5).copied().unwrap_or(self.config.protocol);
                self.on_state(now, id, s.incarnation, state, &meta[..n], protocol);
            }
            // Serf witnesses one less than the peer's clocks: they are the
            // stamps its next intent, event and query get.
            Item::Clock(Clock::Member, t) => self.intents.clock.witness(t.saturating_sub(1)),
            Item::Clock(Clock::Event, t) => {
                self.user_events.clock.restore(t);
                if let StreamSide::Opened {
                    join: true,
                    replay: false,
                } = m.side
                {
                    // Our join (without replay): what the cluster saw is
                    // history (`EventLTime` comes before `Events`).
                    self.user_events.joined_at(t);
                }
            }
            Item::Clock(Clock::Query, t) => self.queries_seen.clock.restore(t),
            Item::Left(name) => {
                // Marked by slot, so that no name is searched for again.
                if let Some(s) = self.named(name).and_then(|n| self.members.find(&n)) {
                    if let Some(b) = m.marks.get_mut(s as usize / 8) {
                        *b |= 1 << (s % 8);
                    }
                }
            }
            Item::Status(name, ltime) => {
                // Each member's intent at its status time: a leave for those
                // the peer lists as left, a join for the others.
                let Some(node) = self.named(name) else {
                    return Ok(());
                };
                let left = self.members.find(&node).is_some_and(|s| {
                    m.marks
                        .get(s as usize / 8)
                        .is_some_and(|b| b & (1 << (s % 8)) != 0)
                });
                self.on_intent(now, ltime, node, left, false);
            }
            Item::Event(ltime, name, payload) => {
                if let Ok(name) = core::str::from_utf8(name) {
                    self.on_received_event(now, ltime, name, payload, false);
                }
            }
            Item::Message(message) => m.answer = Some(self.on_stream_message(m, message)?),
        }
        Ok(())
    }

    /// A small message on a stream: memberlist's error response to our
    /// stream, or a ping (the fallback probe) answered with an ack.
    fn on_stream_message(
        &mut self,
        m: &mut Merge<'_>,
        message: &[u8],
    ) -> Result<StreamReply, HcError> {
        let fail = |m: &mut Merge<'_>, e: DecodeError| {
            m.failed = Some(e);
            HcError::Msgpack
        };
        if message.first() == Some(&kind::USER) {
            // A Serf message too large (for memberlist) to go in a packet.
            let Ok(serf) = user_message(message) else {
                self.stats.decode_errors += 1;
                return Err(fail(m, DecodeError::Malformed));
            };
            self.on_serf(m.now, serf);
            return Ok(StreamReply::Close);
        }
        match (decode_message(message), m.side) {
            (Ok(HcMessage::Err(text)), StreamSide::Opened { .. }) => {
                let n = text.len().min(m.reply.len());
                m.reply[..n].copy_from_slice(&text[..n]);
                Ok(StreamReply::RemoteError(n))
            }
            (Ok(HcMessage::Ping(p)), _) => {
                let mine = self.me.hashicorp().is_some_and(|me| me.name == p.node);
                if !(mine || p.node.is_empty()) {
                    self.stats.misdirected += 1;
                    return Ok(StreamReply::Close);
                }
                let ack = HcMessage::Ack {
                    seq: p.seq,
                    payload: &[],
                };
                match self.seal_stream_reply(&ack, m.reply) {
                    Ok(n) => Ok(StreamReply::Bytes(n)),
                    Err(e) => Err(fail(m, e)),
                }
            }
            (Ok(_), _) => {
                self.stats.hashicorp_untranslated += 1;
                Ok(StreamReply::Close)
            }
            (Err(_), _) => {
                self.stats.decode_errors += 1;
                Err(fail(m, DecodeError::Malformed))
            }
        }
    }
}
