//! Delivery: what the application receives. Received user messages (raw
//! broadcasts, user events, queries, answers) and the node's own notes wait
//! in the inbox, encoded in fixed slots, until `poll_delivery` decodes them
//! into the caller's buffer; membership events wait for `poll_event`.

use serde::Serialize;

use crate::event::Event;
use crate::identity::Identity;
use crate::node::query::response_flags;
use crate::node::Node;
use crate::storage::slots::Slots;
use crate::storage::Store;
use crate::wire::Message;
use crate::wire::{decode_message, decode_note, encode_message, encode_note, Note};
use rand_core::RngCore;

/// What an inbox record holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Record {
    /// A message as received (or made here), encoded as on the wire.
    #[default]
    Message,
    /// A [`Note`] this node made for its application.
    Note,
}

/// A FIFO of user payloads; when full, the oldest is dropped and counted.
pub struct Inbox<S: Store> {
    slots: Slots<S>,
    kinds: S::Buf<Record>,
    head: usize,
    len: usize,
    /// Payloads dropped (inbox full, or larger than a slot).
    pub dropped: u64,
}

impl<S: Store> Inbox<S> {
    pub(crate) fn new(bytes: S::Buf<u8>, lens: S::Buf<u16>, kinds: S::Buf<Record>) -> Self {
        Inbox {
            slots: Slots::new(bytes, lens),
            kinds,
            head: 0,
            len: 0,
            dropped: 0,
        }
    }
    /// Stores a message (encoded) for the application.
    pub(crate) fn push<I: Serialize>(&mut self, m: &Message<'_, I>) {
        self.store(Record::Message, |dst| encode_message(m, dst));
    }
    /// Stores a note for the application.
    pub(crate) fn note<I: Serialize>(&mut self, n: &Note<I>) {
        self.store(Record::Note, |dst| encode_note(n, dst));
    }
    fn store(&mut self, kind: Record, write: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let cap = self.slots.count().min(self.kinds.len());
        if cap == 0 {
            self.dropped += 1;
            return;
        }
        if self.len == cap {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
            self.dropped += 1;
        }
        let i = (self.head + self.len) % cap;
        if self.slots.write_with(i, write) {
            self.kinds[i] = kind;
            self.len += 1;
        } else {
            self.dropped += 1;
        }
    }
    /// Copies the oldest record into `out` and returns its kind and length; a
    /// record longer than `out` is truncated to fit.
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> Option<(Record, usize)> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        let rec = self.slots.get(i);
        let n = rec.len().min(out.len());
        out[..n].copy_from_slice(&rec[..n]);
        self.head = (self.head + 1) % self.slots.count().min(self.kinds.len());
        self.len -= 1;
        Some((self.kinds[i], n))
    }
}

/// A user message for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery<'b, I> {
    /// A raw broadcast payload ([`Node::broadcast`]).
    User(&'b [u8]),
    /// A user event ([`Node::user_event`]), delivered once per member.
    Event {
        /// Lamport time.
        ltime: u64,
        /// Name.
        name: &'b str,
        /// Payload.
        payload: &'b [u8],
        /// Coalescing allowed.
        coalesce: bool,
    },
    /// A query to answer with [`Node::respond`] before its deadline.
    Query {
        /// Query id (pass to `respond`).
        id: u32,
        /// Lamport time.
        ltime: u64,
        /// The originator.
        from: I,
        /// Name.
        name: &'b str,
        /// Payload.
        payload: &'b [u8],
    },
    /// A member acknowledged our query.
    QueryAck {
        /// Query id.
        id: u32,
        /// Who.
        from: I,
    },
    /// A member answered our query (reassembled if it came in chunks).
    QueryResponse {
        /// Query id.
        id: u32,
        /// Who.
        from: I,
        /// The response.
        payload: &'b [u8],
    },
    /// Our query's deadline passed: no more acks or responses will come.
    QueryDone {
        /// Query id.
        id: u32,
    },
    /// A cluster key operation changed this node's keyring: persist
    /// [`Node::keyring`] now (Serf rewrites its keyring file on every node).
    KeyringChanged,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// The next membership event.
    pub fn poll_event(&mut self) -> Option<Event<I>> {
        self.events.pop_front()
    }

    /// The next received user message (raw broadcast or user event), decoded
    /// from a copy in `buf` (which must hold `capacity.user_payload` bytes).
    pub fn poll_delivery<'b>(&mut self, buf: &'b mut [u8]) -> Option<Delivery<'b, I>> {
        if core::mem::take(&mut self.keyring_changed) {
            return Some(Delivery::KeyringChanged);
        }
        let (record, n) = self.inbox.pop(buf)?;
        if record == Record::Note {
            return match decode_note::<I>(&buf[..n]) {
                Some(Note::QueryDone { id }) => Some(Delivery::QueryDone { id }),
                Some(Note::Reassembled {
                    id,
                    from,
                    slot,
                    len,
                }) => {
                    // The response waits in its reassembly slot.
                    let cap = self.config.capacity.reassembly_bytes;
                    let n = (len as usize).min(buf.len()).min(cap);
                    if n < len as usize {
                        self.stats.decode_errors += 1; // caller buffer too small
                    }
                    let at = slot as usize * cap;
                    buf[..n].copy_from_slice(&self.reassembly_bytes[at..at + n]);
                    if let Some(r) = self.reassembly.get_mut(slot as usize) {
                        r.used = false;
                    }
                    Some(Delivery::QueryResponse {
                        id,
                        from,
                        payload: &buf[..n],
                    })
                }
                None => {
                    self.stats.decode_errors += 1;
                    None
                }
            };
        }
        let bytes: &'b [u8] = &buf[..n];
        match decode_message::<I>(bytes) {
            Some(Message::Query {
                id,
                ltime,
                from,
                name,
                payload,
                ..
            }) => Some(Delivery::Query {
                id,
                ltime,
                from,
                name,
                payload,
            }),
            Some(Message::QueryResponse {
                id,
                from,
                flags,
                payload,
                ..
            }) => {
                if flags & response_flags::ACK != 0 {
                    Some(Delivery::QueryAck { id, from })
                } else {
                    Some(Delivery::QueryResponse { id, from, payload })
                }
            }
            Some(Message::User(p)) => Some(Delivery::User(p)),
            Some(Message::Event {
                ltime,
                name,
                payload,
                coalesce,
            }) => Some(Delivery::Event {
                ltime,
                name,
                payload,
                coalesce,
            }),
            // Truncated by a short `buf`: counted, skipped.
            _ => {
                self.stats.decode_errors += 1;
                None
            }
        }
    }
}
