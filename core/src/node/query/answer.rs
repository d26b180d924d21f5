//! Receiving a query: de-duplication, re-broadcast, filters, the ack, the
//! answer (`respond`, in chunks when large) and relayed copies.

use crate::identity::Identity;
use crate::node::members::table::{State, EMPTY};
use crate::node::output::Transmission;
use crate::node::query::{flags, passes, response_flags, Incoming, QueryError, MAX_CHUNKS};
use crate::node::user_events::dedup::Verdict;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::tags::Tags;
use crate::wire::{decode_message, encode_message, Message};
use rand_core::RngCore;

/// Largest relayed response, encoded on the stack: an Ethernet frame's
/// payload. With a larger `mtu`, bigger responses go direct only (counted in
/// `relays_skipped`).
pub(crate) const MAX_RELAYED: usize = 1500;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// A query, received or sent by this node.
    pub(crate) fn on_query(&mut self, now: Instant, m: &Message<'_, I>) {
        let Message::Query {
            ltime,
            id,
            from,
            flags: qflags,
            relay_factor,
            timeout_ms,
            nodes,
            tags,
            name,
            payload,
        } = m
        else {
            return;
        };
        if self.queries_seen.observe(*ltime, "", &id.to_le_bytes()) != Verdict::New {
            return;
        }
        if qflags & flags::NO_BROADCAST == 0 && self.user.enqueue(m).is_err() {
            self.stats.user_broadcasts_dropped += 1;
        }
        let mine = Tags::new(self.meta.get(self.my_slot));
        if !passes(&self.me, mine, nodes, tags, self.config.tag_matcher) {
            return;
        }
        let deadline = now + core::time::Duration::from_millis(*timeout_ms as u64);
        if qflags & flags::ACK != 0 {
            let ack: Message<'_, I> = Message::QueryResponse {
                ltime: *ltime,
                id: *id,
                from: self.me.clone(),
                flags: response_flags::ACK,
                index: 0,
                total: 1,
                total_len: 0,
                offset: 0,
                payload: &[],
            };
            if let Some(slot) = self.outbox.put(&ack) {
                self.queue(Transmission::Outbox {
                    to: from.addr(),
                    slot,
                });
            }
            if *relay_factor > 0 {
                self.relay_copies(&ack, from, *relay_factor as usize);
            }
        }
        // Remember it for `respond`; a full table gives way to the oldest.
        let slot = match self
            .incoming
            .iter()
            .position(|q| !q.used || q.deadline <= now)
        {
            Some(s) => s,
            None => {
                self.stats.queries_dropped += 1;
                let mut oldest = 0;
                for (i, q) in self.incoming.iter().enumerate() {
                    if q.deadline < self.incoming[oldest].deadline {
                        oldest = i;
                    }
                }
                oldest
            }
        };
        self.incoming[slot] = Incoming {
            id: *id,
            ltime: *ltime,
            origin: from.clone(),
            deadline,
            relay_factor: *relay_factor,
            used: true,
        };
        if name.starts_with("_serf_") {
            self.internal_query(now, *id, from, name, payload);
        } else {
            self.inbox.push(m);
        }
    }

    /// Answers a query delivered by [`Node::poll_delivery`], once, before its
    /// deadline. Responses above one datagram go in chunks.
    pub fn respond(&mut self, now: Instant, id: u32, payload: &[u8]) -> Result<(), QueryError> {
        let Some(q) = self
            .incoming
            .iter()
            .position(|q| q.used && q.id == id && q.deadline > now)
        else {
            return Err(QueryError::UnknownQuery);
        };
        let limit = self
            .config
            .query_response_size_limit
            .min(self.config.capacity.reassembly_bytes.max(1024));
        if payload.len() > limit {
            self.stats.responses_too_large += 1;
            return Err(QueryError::ResponseTooLarge);
        }
        let Incoming {
            ltime,
            origin,
            relay_factor,
            ..
        } = self.incoming[q].clone();
        // Chunk size: what a datagram holds after the framing (label,
        // encryption), the version byte and the response header.
        let header = self.encoded_len(&Message::QueryResponse {
            ltime,
            id,
            from: self.me.clone(),
            flags: 0,
            index: u16::MAX,
            total: u16::MAX,
            total_len: u32::MAX,
            offset: u32::MAX,
            payload: &[],
        });
        let room = self.plain_mtu().saturating_sub(1);
        let chunk = room.saturating_sub(header + 3).max(1);
        // A relayed copy wraps the response in a relay message, so a response
        // relayed in one datagram must leave room for that wrapper too.
        let relay_wrapper = self.encoded_len(&Message::Relay {
            dest: origin.clone(),
            inner: &[],
        }) + 2;
        let relays = if relay_factor > 0 && payload.len() + relay_wrapper <= chunk {
            relay_factor as usize
        } else {
            0
        };
        if relay_factor > 0 && relays == 0 {
            // Serf refuses to relay a response that does not fit one message;
            // the direct copy still goes out.
            self.stats.relays_skipped += 1;
        }
        let chunks = payload.len().div_ceil(chunk).max(1);
        if chunks > 1 && self.config.wire == crate::config::Wire::HashiCorp {
            self.stats.responses_too_large += 1;
            return Err(QueryError::ResponseOverPacket);
        }
        if chunks as u32 > MAX_CHUNKS || self.outbox.free() < chunks * (1 + relays) {
            return Err(QueryError::Busy);
        }
        self.incoming[q].used = false;
        let to = origin.addr();
        for (k, part) in payload
            .chunks(chunk)
            .enumerate()
            .chain(core::iter::once((0, &[][..])).take((payload.is_empty()) as usize))
        {
            let m: Message<'_, I> = Message::QueryResponse {
                ltime,
                id,
                from: self.me.clone(),
                flags: 0,
                index: k as u16,
                total: chunks as u16,
                total_len: payload.len() as u32,
                offset: (k * chunk) as u32,
                payload: part,
            };
            // A full outbox counts the refusal (`outbox_dropped`).
            if let Some(slot) = self.outbox.put(&m) {
                self.queue(Transmission::Outbox {
                    to: to.clone(),
                    slot,
                });
            }
            if relays > 0 {
                self.relay_copies(&m, &origin, relays);
            }
        }
        Ok(())
    }

    /// Sends `m` to `origin` through `n` random alive members too.
    pub(crate) fn relay_copies(&mut self, m: &Message<'_, I>, origin: &I, n: usize) {
        // The relayed response must fit the relayer's datagram (checked by
        // `respond`); the buffer only bounds the stack.
        let mut buf = [0u8; MAX_RELAYED];
        let cap = self.plain_mtu().min(MAX_RELAYED);
        let Some(len) = encode_message(m, &mut buf[..cap]) else {
            self.stats.relays_skipped += 1;
            return;
        };
        let inner = &buf[..len];
        let origin_slot = self.members.find(origin).unwrap_or(EMPTY);
        let mut picked = [EMPTY; 8];
        let k = self.random_members(&mut picked, n, origin_slot, |node, s| {
            node.members.slot(s).state() == Some(State::Alive)
        });
        for &s in &picked[..k] {
            let via = self.members.slot(s).id().addr();
            let relay: Message<'_, I> = Message::Relay {
                dest: origin.clone(),
                inner,
            };
            if let Some(slot) = self.outbox.put(&relay) {
                self.queue(Transmission::Outbox { to: via, slot });
            }
        }
    }

    /// Forwards a relayed query response to its destination.
    pub(crate) fn on_relay(&mut self, dest: I, inner: &[u8]) {
        // Only query responses are relayed: nothing else can be reflected.
        match decode_message::<I>(inner) {
            Some(Message::QueryResponse { .. }) => {
                // A full outbox counts the refusal (`outbox_dropped`).
                if let Some(slot) = self.outbox.put_raw(inner) {
                    self.stats.relays_forwarded += 1;
                    self.queue(Transmission::Outbox {
                        to: dest.addr(),
                        slot,
                    });
                }
            }
            _ => self.stats.decode_errors += 1,
        }
    }
}
