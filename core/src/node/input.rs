//! Input: a received datagram is checked (size, refusal notice, label,
//! decryption), decoded message by message and dispatched by kind.

use crate::config::Wire;
use crate::identity::Identity;
use crate::node::catch_up::Span;
use crate::node::members::digest::Mask;
use crate::node::output::Transmission;
use crate::node::push_pull::Header;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::crypto::{self, FrameError};
use crate::wire::{DecodeError, Decoder, Message};
use rand_core::RngCore;

/// Least time between two refusal notices.
pub(crate) const REFUSAL_INTERVAL: core::time::Duration = core::time::Duration::from_millis(50);

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Handles one received datagram. Messages before a malformed one are
    /// applied; the rest of the datagram is dropped and the error returned.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: I::Addr,
        datagram: &[u8],
    ) -> Result<(), DecodeError> {
        self.stats.received += 1;
        if datagram.len() > self.config.mtu {
            self.stats.decode_errors += 1;
            return Err(DecodeError::Oversized(datagram.len()));
        }
        if self.config.wire == Wire::HashiCorp {
            return self.handle_hashicorp(now, from, datagram);
        }
        if datagram.first() == Some(&crypto::REFUSED) {
            // A peer refused what we sent it: report it, never answer it.
            self.stats.refusals_received += 1;
            return match crypto::Refusal::decode(datagram) {
                Some(r) => Err(DecodeError::Refused(r)),
                None => {
                    self.stats.decode_errors += 1;
                    Err(DecodeError::Malformed)
                }
            };
        }
        let framed = self.config.label.is_some()
            || !self.keyring.is_empty()
            || matches!(
                datagram.first(),
                Some(&crypto::LABELLED | &crypto::ENCRYPTED)
            );
        if !framed {
            return self.process(now, from, datagram);
        }
        let body = match crypto::strip_label(datagram, self.config.label.as_ref()) {
            Ok(b) => b,
            Err(e) => return self.refuse(now, from, e),
        };
        if self.keyring.is_empty() {
            if body.first() == Some(&crypto::ENCRYPTED) {
                return self.refuse(now, from, FrameError::Encryption);
            }
            return self.process(now, from, body);
        }
        // Decrypt into the scratch buffer (taken out of `self` while in use).
        let Some(mut scratch) = self.scratch.take() else {
            return self.refuse(now, from, FrameError::Decrypt);
        };
        let result = match crypto::open(
            body,
            &mut scratch,
            self.config.label.as_ref(),
            &self.keyring,
        ) {
            Ok(n) => self.process(now, from.clone(), &scratch[..n]),
            Err(e) => self.refuse(now, from, e),
        };
        self.scratch = Some(scratch);
        result
    }

    /// Refuses a datagram for its framing, and tells the sender why (at most
    /// one notice per [`REFUSAL_INTERVAL`]).
    pub(crate) fn refuse(
        &mut self,
        now: Instant,
        from: I::Addr,
        e: FrameError,
    ) -> Result<(), DecodeError> {
        self.stats.frames_rejected += 1;
        if now >= self.next_refusal {
            self.next_refusal = now + REFUSAL_INTERVAL;
            let refusal = crypto::Refusal::of(e, !self.keyring.is_empty());
            self.stats.refusals_sent += 1;
            self.queue(Transmission::Refusal { to: from, refusal });
        }
        Err(DecodeError::Frame(e))
    }

    /// Decodes and applies a plain datagram.
    pub(crate) fn process(
        &mut self,
        now: Instant,
        from: I::Addr,
        datagram: &[u8],
    ) -> Result<(), DecodeError> {
        let decoder = match Decoder::<I>::new(datagram, self.config.mtu) {
            Ok(d) => d,
            Err(e) => {
                self.stats.decode_errors += 1;
                return Err(e);
            }
        };
        for m in decoder {
            match m {
                Ok(m) => self.on_message(now, &from, m),
                Err(e) => {
                    self.stats.decode_errors += 1;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn on_message(&mut self, now: Instant, from: &I::Addr, m: Message<'_, I>) {
        match m {
            Message::Ping { seq, target } => self.on_ping(from, seq, target),
            Message::IndirectPing { seq, target, nack } => {
                self.on_indirect_ping(now, from, seq, target, nack)
            }
            Message::Ack { seq, coord } => self.on_ack(now, seq, coord),
            Message::Nack { seq } => self.probe.nacked(seq),
            Message::Alive {
                incarnation,
                node,
                meta,
                protocol,
            } => {
                self.stats.updates_received += 1;
                self.on_alive(now, node, incarnation, meta, protocol)
            }
            Message::Suspect {
                incarnation,
                node,
                from,
            } => {
                self.stats.updates_received += 1;
                self.on_suspect(now, node, incarnation, &from)
            }
            Message::Dead {
                incarnation,
                node,
                from,
            } => {
                self.stats.updates_received += 1;
                let left = from == node;
                self.on_dead(now, node, incarnation, &from, left)
            }
            Message::PushPull {
                session,
                flags,
                event_ltime,
                first,
                end,
            } => {
                let span = Span { first, end };
                let header = Header {
                    session,
                    flags,
                    event_ltime,
                    span,
                };
                self.on_push_pull(now, from, header)
            }
            Message::Resend {
                session,
                first,
                end,
            } => self.on_resend(from, session, Span { first, end }),
            Message::Digest { session, sums } => self.on_digest(from, session, sums),
            Message::Differ { session, buckets } => self.on_differ(from, session, Mask(buckets)),
            Message::State {
                node,
                incarnation,
                state,
                meta,
                protocol,
            } => self.on_state(now, node, incarnation, state, meta, protocol),
            Message::User(p) => self.inbox.push(&Message::<'_, I>::User(p)),
            Message::Event {
                ltime,
                name,
                payload,
                coalesce,
            } => self.on_received_event(now, ltime, name, payload, coalesce),
            m @ Message::Query { .. } => self.on_query(now, &m),
            Message::QueryResponse {
                ltime,
                id,
                from,
                flags,
                index,
                total,
                total_len,
                offset,
                payload,
            } => self.on_query_response(
                ltime, id, from, flags, index, total, total_len, offset, payload,
            ),
            Message::Relay { dest, inner } => self.on_relay(dest, inner),
            Message::Intent {
                ltime,
                node,
                leave,
                prune,
            } => self.on_intent(now, ltime, node, leave, prune),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::Buffers;
    use crate::config::Config;
    use crate::storage::test_support::{Heapless, TestRng};
    use crate::wire::Encoder;

    #[test]
    fn every_gossiped_membership_update_is_counted_news_or_not() {
        let config = Config::lan().with_members(8);
        let buffers = Buffers::new(&config, &mut Heapless);
        let mut n: Node<u32, Heapless, TestRng> =
            Node::new(1, config, buffers, TestRng(1), Instant::ZERO).unwrap();
        let mut buf = [0u8; 256];
        let mut enc = Encoder::new(&mut buf).unwrap();
        let alive = Message::Alive {
            incarnation: 0,
            node: 2u32,
            meta: &[],
            protocol: 5,
        };
        enc.push::<u32>(&alive);
        enc.push::<u32>(&Message::Suspect {
            incarnation: 0,
            node: 2,
            from: 3,
        });
        enc.push::<u32>(&alive); // old news, still work done
        enc.push::<u32>(&Message::Nack { seq: 9 }); // not a membership update
        let len = enc.len();
        n.handle_datagram(Instant::ZERO, 7, &buf[..len]).unwrap();
        assert_eq!(n.stats().updates_received, 3);
        assert_eq!(n.stats().received, 1);
    }
}
