//! Acks and responses for our queries: duplicates from relays counted once,
//! chunks reassembled, conflict answers counted.

use crate::config::Wire;
use crate::identity::{mix64, Identity};
use crate::node::query::{response_flags, Reassembly, MAX_CHUNKS};
use crate::node::Node;
use crate::storage::Store;
use crate::wire::{decode_identity, Message, Note};
use rand_core::RngCore;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// An ack or response (chunk) for one of our queries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_query_response(
        &mut self,
        ltime: u64,
        id: u32,
        from: I,
        rflags: u8,
        index: u16,
        total: u16,
        total_len: u32,
        offset: u32,
        payload: &[u8],
    ) {
        if rflags & response_flags::RESERVED != 0 {
            self.stats.decode_errors += 1;
            return;
        }
        let Some(q) = self
            .outgoing
            .iter()
            .position(|q| q.used && q.id == id && q.ltime == ltime)
        else {
            self.stats.stray_responses += 1;
            return;
        };
        let who = from.hash_with(0x51);
        let ack = rflags & response_flags::ACK != 0;
        if ack || total <= 1 {
            if !self
                .seen
                .insert(mix64(who ^ ((id as u64) << 1) ^ ack as u64))
            {
                // A relayed copy (or the seen set is full).
                self.stats.response_duplicates += 1;
                return;
            }
            let m: Message<'_, I> = Message::QueryResponse {
                ltime,
                id,
                from,
                flags: rflags,
                index: 0,
                total: 1,
                total_len: payload.len() as u32,
                offset: 0,
                payload,
            };
            if ack {
                self.outgoing[q].acks += 1;
            } else {
                self.outgoing[q].responses += 1;
            }
            if self.outgoing[q].conflict {
                let mine = match self.config.wire {
                    Wire::Native => decode_identity::<I>(payload).is_some_and(|h| h == self.me),
                    Wire::HashiCorp => self.conflict_answer_holds_me(payload),
                };
                if !ack && mine {
                    self.outgoing[q].matching += 1;
                }
                return;
            }
            self.inbox.push(&m);
            return;
        }
        // A chunk of a large response.
        let cap = self.config.capacity.reassembly_bytes;
        let end = offset as usize + payload.len();
        if total as u32 > MAX_CHUNKS
            || index >= total
            || total_len as usize > cap
            || end > total_len as usize
        {
            self.stats.decode_errors += 1;
            return;
        }
        let slot = match self
            .reassembly
            .iter()
            .position(|r| r.used && r.id == id && r.from == from)
        {
            Some(s) => s,
            None => {
                let Some(s) = self.reassembly.iter().position(|r| !r.used) else {
                    self.stats.responses_dropped += 1;
                    return;
                };
                self.reassembly[s] = Reassembly {
                    id,
                    from: from.clone(),
                    total_len,
                    chunks: total,
                    received: 0,
                    used: true,
                };
                s
            }
        };
        let r = &mut self.reassembly[slot];
        if r.total_len != total_len || r.chunks != total {
            self.stats.decode_errors += 1;
            return;
        }
        r.received |= 1 << index;
        let base = slot * cap;
        self.reassembly_bytes[base + offset as usize..base + end].copy_from_slice(payload);
        let complete = if total as u32 == 64 {
            u64::MAX
        } else {
            (1u64 << total) - 1
        };
        if self.reassembly[slot].received == complete {
            if !self.seen.insert(mix64(who ^ ((id as u64) << 1))) {
                self.reassembly[slot].used = false;
                return;
            }
            self.outgoing[q].responses += 1;
            self.inbox.note(&Note::Reassembled {
                id,
                from,
                slot: slot as u16,
                len: total_len,
            });
        }
    }
}
