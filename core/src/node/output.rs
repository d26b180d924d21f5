//! Output: queued transmissions become datagrams (per-kind encoding, then
//! piggybacked broadcasts filling the rest, then framing and encryption).

use crate::config::Wire;
use crate::identity::Identity;
use crate::node::gossip::Cursor;
use crate::node::members::digest::Mask;
use crate::node::members::table::{Slot, State, EMPTY};
use crate::node::Node;
use crate::storage::Store;
use crate::wire::crypto::{self};
use crate::wire::digest::{sums_to_bytes, SUMS_LEN};
use crate::wire::{message_len, push_pull_flags, CoordBytes, Encoder, Message, COORD_MAX};
use rand_core::RngCore;

/// The shortest message a datagram carries (a kind byte and one field byte).
const MIN_MESSAGE: usize = 2;

/// Length of the piggybacked-entries list: the most broadcasts one datagram
/// of `mtu` bytes can hold.
pub(crate) const fn piggyback_len(mtu: usize) -> usize {
    mtu / MIN_MESSAGE
}

/// Marks a user-queue entry in the piggybacked-entries list.
pub(crate) const USER_ENTRY: u32 = 1 << 31;

/// Queued membership broadcasts whose member slots are prefetched before a
/// datagram is filled: about as many misses as one core keeps in flight.
const PREFETCH_BROADCASTS: usize = 12;

/// A datagram waiting to be written by [`Node::poll_transmit`].
#[derive(Clone, Debug, PartialEq)]
pub enum Transmission<I: Identity> {
    /// Probe `target` (with a suspect message riding along: the buddy system).
    Ping {
        /// Probed member.
        target: I,
        /// Sequence number.
        seq: u32,
        /// Incarnation to accuse it at, if it is suspect.
        suspect: Option<u32>,
    },
    /// Ask `via` to probe `target`.
    IndirectPing {
        /// Helper.
        via: I,
        /// Probed member.
        target: I,
        /// Sequence number.
        seq: u32,
        /// Ask for a nack.
        nack: bool,
    },
    /// Answer a ping.
    Ack {
        /// Destination.
        to: I::Addr,
        /// Sequence number.
        seq: u32,
        /// Carry our coordinate (not on relayed acks: their RTT spans two hops).
        coord: bool,
    },
    /// Report an unanswered indirect probe.
    Nack {
        /// Destination.
        to: I::Addr,
        /// Sequence number.
        seq: u32,
    },
    /// A datagram of broadcasts only.
    Gossip {
        /// Destination.
        to: I,
    },
    /// A stored datagram body (query responses, chunks, relayed copies).
    Outbox {
        /// Destination.
        to: I::Addr,
        /// Outbox slot.
        slot: u16,
    },
    /// Our member states in slots `cursor..end`, in as many datagrams as it
    /// takes.
    PushPull {
        /// Destination.
        to: I::Addr,
        /// Exchange identifier.
        session: u32,
        /// Next slot to send.
        cursor: u32,
        /// Where to stop (`u32::MAX`: the whole table).
        end: u32,
        /// Header flags.
        flags: u8,
        /// Only members in these digest buckets ([`Mask::ALL`]: everyone).
        mask: Mask,
    },
    /// Our member-table digest: a periodic push-pull by difference.
    Digest {
        /// Destination.
        to: I::Addr,
        /// Exchange identifier.
        session: u32,
    },
    /// The digest buckets where the sender's digest differs from ours.
    Differ {
        /// Destination.
        to: I::Addr,
        /// The exchange.
        session: u32,
        /// The differing buckets.
        mask: Mask,
    },
    /// A request for the ranges of a join answer that did not arrive.
    Resend {
        /// The member that answered.
        to: I::Addr,
        /// The exchange.
        session: u32,
    },
    /// A refusal notice (unframed) to a peer whose datagram we refused.
    Refusal {
        /// Destination.
        to: I::Addr,
        /// What was wrong with its datagram.
        refusal: crypto::Refusal,
    },
    /// Recorded user events from sequence `seq` on, after our push-pull
    /// state (anti-entropy for events, and `join -replay`).
    Replay {
        /// Destination.
        to: I::Addr,
        /// Next event-log record to send.
        seq: u64,
    },
}

/// A datagram written into the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit<A> {
    /// Destination address.
    pub to: A,
    /// Bytes written at the start of the buffer.
    pub len: usize,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Writes the next datagram into `buf` (at most MTU bytes are used).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit<I::Addr>> {
        if self.config.wire == Wire::HashiCorp {
            return self.poll_hashicorp(buf);
        }
        let limit = buf.len().min(self.config.mtu);
        let head = crypto::header_len(self.config.label.as_ref(), &self.keyring);
        let tail = crypto::trailer_len(&self.keyring);
        if limit < head + tail + 64 {
            return None;
        }
        if let Some(Transmission::Refusal { .. }) = self.transmits.front() {
            if let Some(Transmission::Refusal { to, refusal }) = self.transmits.pop_front() {
                buf[..crypto::REFUSAL_LEN].copy_from_slice(&refusal.encode());
                self.stats.sent += 1;
                return Some(Transmit {
                    to,
                    len: crypto::REFUSAL_LEN,
                });
            }
        }
        let (to, len) = match self.poll_plain(&mut buf[head..limit - tail]) {
            Some(t) => t,
            // poll_plain stops in front of a refusal notice (it is not framed).
            None if matches!(self.transmits.front(), Some(Transmission::Refusal { .. })) => {
                return self.poll_transmit(buf)
            }
            None => return None,
        };
        let mut nonce = [0u8; crypto::NONCE];
        self.rng.fill_bytes(&mut nonce);
        match crypto::seal(
            &mut buf[..limit],
            len,
            self.config.label.as_ref(),
            &self.keyring,
            nonce,
        ) {
            Some(len) => Some(Transmit { to, len }),
            None => {
                self.stats.transmits_dropped += 1;
                None
            }
        }
    }

    /// The next datagram, unframed, written into `buf`.
    pub(crate) fn poll_plain(&mut self, buf: &mut [u8]) -> Option<(I::Addr, usize)> {
        while let Some(t) = self.transmits.pop_front() {
            let Some(mut enc) = Encoder::new(buf) else {
                self.transmits.push_front(t);
                return None;
            };
            let to = match t {
                // Not framed: `poll_transmit` writes it; stop in front of it.
                t @ Transmission::Refusal { .. } => {
                    self.transmits.push_front(t);
                    return None;
                }
                Transmission::Ping {
                    target,
                    seq,
                    suspect,
                } => {
                    enc.push(&Message::Ping {
                        seq,
                        target: target.clone(),
                    });
                    if let Some(incarnation) = suspect {
                        let from = self.me.clone();
                        enc.push(&Message::Suspect {
                            incarnation,
                            node: target.clone(),
                            from,
                        });
                    }
                    self.piggyback(&mut enc);
                    target.addr()
                }
                Transmission::IndirectPing {
                    via,
                    target,
                    seq,
                    nack,
                } => {
                    enc.push(&Message::IndirectPing { seq, target, nack });
                    self.piggyback(&mut enc);
                    via.addr()
                }
                Transmission::Ack { to, seq, coord } => {
                    let mut cbuf = [0u8; COORD_MAX];
                    let coord = if coord && self.config.coordinates {
                        CoordBytes::encode(self.vivaldi.coordinate(), &mut cbuf)
                    } else {
                        None
                    };
                    enc.push::<I>(&Message::Ack { seq, coord });
                    self.piggyback(&mut enc);
                    to
                }
                Transmission::Nack { to, seq } => {
                    enc.push::<I>(&Message::Nack { seq });
                    self.piggyback(&mut enc);
                    to
                }
                // Direct replies carry no piggyback: they mostly go to one
                // originator, where gossip would be wasted (as memberlist's
                // best-effort sends).
                Transmission::Outbox { to, slot } => {
                    let ok = enc.push_raw(self.outbox.get(slot));
                    self.outbox.release(slot);
                    if !ok {
                        self.stats.transmits_dropped += 1;
                        continue;
                    }
                    to
                }
                Transmission::Gossip { to } => {
                    self.piggyback(&mut enc);
                    if enc.is_empty() {
                        continue;
                    }
                    to.addr()
                }
                Transmission::PushPull {
                    to,
                    session,
                    cursor,
                    end,
                    flags,
                    mask,
                } => {
                    // The header names the range the chunk covers, known
                    // once its states are written; its room is sized for
                    // the widest end it can name.
                    let stop = end.min(self.members.high());
                    let mut header = Message::PushPull {
                        session,
                        flags: flags | push_pull_flags::LAST,
                        event_ltime: self.user_events.clock.time(),
                        first: cursor,
                        end: stop,
                    };
                    let Some(hole) = enc.hole(message_len(&header)) else {
                        self.stats.transmits_dropped += 1;
                        continue;
                    };
                    let next = self.write_states(&mut enc, cursor, stop, mask);
                    if let Message::PushPull {
                        flags: f, end: e, ..
                    } = &mut header
                    {
                        *e = next;
                        if next < self.members.high() {
                            *f &= !push_pull_flags::LAST;
                        }
                    }
                    enc.fill::<I>(hole, &header);
                    if next < stop {
                        // Later chunks carry the answer's flags, not the
                        // request's (it is acted on once).
                        self.transmits.push_front(Transmission::PushPull {
                            to: to.clone(),
                            session,
                            cursor: next,
                            end,
                            flags: flags & !(push_pull_flags::WANT_REPLY | push_pull_flags::JOIN),
                            mask,
                        });
                    }
                    to
                }
                Transmission::Digest { to, session } => {
                    let mut sums = [0u8; SUMS_LEN];
                    sums_to_bytes(self.members.digest().sums(), &mut sums);
                    if !enc.push::<I>(&Message::Digest {
                        session,
                        sums: &sums,
                    }) {
                        // A framing too tight for the digest: exchange
                        // everything instead.
                        self.push_pull(to, session, push_pull_flags::WANT_REPLY, Mask::ALL);
                        continue;
                    }
                    to
                }
                Transmission::Differ { to, session, mask } => {
                    if !enc.push::<I>(&Message::Differ {
                        session,
                        buckets: mask.0,
                    }) {
                        self.stats.transmits_dropped += 1;
                        continue;
                    }
                    to
                }
                Transmission::Resend { to, session } => {
                    for gap in self.catch_up.gaps() {
                        let m: Message<'_, I> = Message::Resend {
                            session,
                            first: gap.first,
                            end: gap.end,
                        };
                        if !enc.push(&m) {
                            break;
                        }
                    }
                    if enc.is_empty() {
                        continue;
                    }
                    to
                }
                Transmission::Replay { to, seq } => {
                    let mut seq = seq.max(self.event_log.oldest());
                    while let Some(rec) = self.event_log.get(seq) {
                        if !enc.push_raw(rec) {
                            if enc.is_empty() {
                                // Too big for any datagram under this
                                // framing: skip it rather than retry forever.
                                self.stats.replay_skipped += 1;
                                seq += 1;
                                continue;
                            }
                            break;
                        }
                        seq += 1;
                    }
                    if seq < self.event_log.next() {
                        self.transmits.push_front(Transmission::Replay {
                            to: to.clone(),
                            seq,
                        });
                    }
                    if enc.is_empty() {
                        continue;
                    }
                    to
                }
            };
            self.stats.sent += 1;
            return Some((to, enc.len()));
        }
        None
    }

    /// Bytes of a plain datagram that fit one MTU after this node's framing
    /// (label header, encryption header and tag).
    pub(crate) fn plain_mtu(&self) -> usize {
        let framing = crypto::header_len(self.config.label.as_ref(), &self.keyring)
            + crypto::trailer_len(&self.keyring);
        self.config.mtu.saturating_sub(framing)
    }

    /// Encoded size of one message (without the datagram's version byte).
    pub(crate) fn encoded_len(&self, m: &Message<'_, I>) -> usize {
        message_len(m)
    }

    /// Queues a transmission; if the full queue evicts an outbox datagram,
    /// its slot is freed (the eviction is counted by the ring).
    pub(crate) fn queue(&mut self, t: Transmission<I>) {
        if let Some(Transmission::Outbox { slot, .. }) = self.transmits.push_back(t) {
            self.outbox.release(slot);
        }
    }

    /// Fills the rest of a datagram with queued broadcasts, alternating between
    /// membership and user messages so that neither starves the other. What
    /// went out is counted once the datagram is full (counting moves entries
    /// between buckets, which would upset the walk).
    pub(crate) fn piggyback(&mut self, enc: &mut Encoder<'_>) {
        let cap = self.piggybacked.len();
        let mut n = 0usize;
        let mut cm = self.broadcasts.queue.cursor();
        self.prefetch_broadcast_members(cm);
        let mut cu = self.user.queue.cursor();
        let (mut m_done, mut u_done) = (false, false);
        let mut misses = 0;
        while !(m_done && u_done) && misses < 8 && enc.remaining() > 1 {
            if !m_done {
                match cm.next(&self.broadcasts.queue) {
                    Some(e) if n < cap => {
                        if self.encode_membership(enc, e) {
                            self.piggybacked[n] = e;
                            n += 1;
                        } else {
                            misses += 1;
                        }
                    }
                    _ => m_done = true,
                }
            }
            if !u_done {
                match cu.next(&self.user.queue) {
                    Some(e) if n < cap => {
                        if enc.push_raw(self.user.payload(e)) {
                            self.piggybacked[n] = e | USER_ENTRY;
                            n += 1;
                        } else {
                            misses += 1;
                        }
                    }
                    _ => u_done = true,
                }
            }
        }
        let limit = self.retransmit_limit();
        for i in 0..n {
            match self.piggybacked[i] {
                e if e & USER_ENTRY != 0 => {
                    self.user.queue.sent(e & !USER_ENTRY, limit);
                }
                e => self.broadcasts.sent(e, limit),
            }
        }
    }

    /// Hints the member slots the next queued membership broadcasts from
    /// `cursor` will read (subject and accuser): each is a cold line of a
    /// large table, and asking for them together overlaps their misses.
    fn prefetch_broadcast_members(&self, mut cursor: Cursor) {
        let q = &self.broadcasts.queue;
        let high = self.members.high();
        let slot = |s: u32| (self.members.slot(s) as *const Slot<I>).cast::<u8>();
        for _ in 0..PREFETCH_BROADCASTS {
            let Some(e) = cursor.next(q) else { break };
            let entry = q.entry(e);
            if entry.subject < high {
                S::prefetch(slot(entry.subject));
            }
            if entry.from != EMPTY && entry.from < high {
                S::prefetch(slot(entry.from));
            }
        }
    }

    pub(crate) fn encode_membership(&self, enc: &mut Encoder<'_>, e: u32) -> bool {
        let entry = self.broadcasts.queue.entry(e);
        let s = self.members.slot(entry.subject);
        let node = s.id().clone();
        let incarnation = s.incarnation();
        let from = || {
            if entry.from == EMPTY || entry.from >= self.members.high() {
                self.me.clone()
            } else {
                self.members.slot(entry.from).id().clone()
            }
        };
        let m = match s.state() {
            Some(State::Alive) => Message::Alive {
                incarnation,
                node,
                meta: self.meta.get(entry.subject),
                protocol: s.protocol(),
            },
            Some(State::Suspect) => Message::Suspect {
                incarnation,
                node,
                from: from(),
            },
            Some(State::Dead) => Message::Dead {
                incarnation,
                node,
                from: from(),
            },
            Some(State::Left) => Message::Dead {
                incarnation,
                from: node.clone(),
                node,
            },
            None => return true, // freed since queued: nothing to say, let it drain
        };
        enc.push(&m)
    }
}
