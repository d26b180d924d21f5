//! A memberlist packet in: label, decryption, CRC, decompression and
//! compounds (`wire::hashicorp::read_packet`), then each message translated
//! into the native one the node's rules take.

use super::announced;
use crate::identity::{HcNode, Identity};
use crate::node::query::answer::MAX_RELAYED;
use crate::node::query::KeyOp;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::crypto::FrameError;
use crate::wire::hashicorp::bridge::{
    coordinate_to_native, filters_to_native, key_request_to_native,
};
use crate::wire::hashicorp::relay::Relay;
use crate::wire::hashicorp::security::open_packet;
use crate::wire::hashicorp::serf::{decode_serf, SerfMessage};
use crate::wire::hashicorp::{read_packet, HcMessage};
use crate::wire::tags::MAX_META;
use crate::wire::{encode_message, CoordBytes, DecodeError, Message, COORD_MAX};
use rand_core::RngCore;

/// Room for a query's converted filters (Serf caps a whole query at 1 KiB).
const FILTERS_MAX: usize = 1024;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Handles one datagram on HashiCorp's wire. Framing errors (label,
    /// decryption, CRC, compression) drop the packet and are counted; a bad
    /// message inside a compound is counted and the others are still read,
    /// as memberlist does.
    pub(crate) fn handle_hashicorp(
        &mut self,
        now: Instant,
        from: I::Addr,
        datagram: &[u8],
    ) -> Result<(), DecodeError> {
        let (label, body) = self.strip_label(datagram)?;
        let Some(mut scratch) = self.scratch.take() else {
            self.stats.frames_rejected += 1;
            return Err(DecodeError::Frame(FrameError::Decrypt));
        };
        let (plain_buf, inflate) = scratch.split_at_mut(self.config.mtu);
        let plain = if self.keyring.is_empty() {
            Ok(body)
        } else {
            open_packet(body, plain_buf, label, &self.keyring).map(|n| &plain_buf[..n])
        };
        let result = match plain {
            Err(_) => {
                self.stats.frames_rejected += 1;
                Err(DecodeError::Frame(FrameError::Decrypt))
            }
            Ok(plain) => {
                let mut bad = false;
                let read = read_packet(plain, inflate, |_, m| match m {
                    Ok(m) => self.on_hashicorp(now, &from, m),
                    Err(_) => {
                        bad = true;
                        self.stats.decode_errors += 1;
                    }
                });
                match read {
                    Err(_) => {
                        self.stats.decode_errors += 1;
                        Err(DecodeError::Malformed)
                    }
                    Ok(_) if bad => Err(DecodeError::Malformed),
                    Ok(_) => Ok(()),
                }
            }
        };
        self.scratch = Some(scratch);
        result
    }

    /// One memberlist message, translated and handed to its rule.
    fn on_hashicorp(&mut self, now: Instant, from: &I::Addr, m: HcMessage<'_>) {
        let m = match m {
            HcMessage::Ping(p) => {
                let mine = self.me.hashicorp().is_some_and(|me| me.name == p.node);
                let target = if p.node.is_empty() || mine {
                    Some(self.me.clone())
                } else {
                    self.named_or_new(p.node)
                };
                match target {
                    Some(target) => Message::Ping { seq: p.seq, target },
                    None => return self.bad_hashicorp(),
                }
            }
            HcMessage::IndirectPing(p) => {
                let target = I::from_hashicorp(HcNode {
                    name: p.node,
                    ip: p.target,
                    port: p.port,
                });
                match target {
                    Some(target) => Message::IndirectPing {
                        seq: p.seq,
                        target,
                        nack: p.nack,
                    },
                    None => return self.bad_hashicorp(),
                }
            }
            HcMessage::Ack { seq, payload } => {
                let mut cbuf = [0u8; COORD_MAX];
                let coord = match payload {
                    [] => None,
                    p => coordinate_to_native(p, &mut cbuf).ok(),
                };
                let coord = coord.map(|n| CoordBytes(&cbuf[..n]));
                return self.on_ack(now, seq, coord);
            }
            HcMessage::Nack { seq } => return self.probe.nacked(seq),
            HcMessage::Alive(a) => {
                let node = HcNode {
                    name: a.node,
                    ip: a.addr,
                    port: a.port,
                };
                let mut meta = [0u8; MAX_META];
                let Some((id, n)) = announced::<I>(node, a.meta, &mut meta) else {
                    return self.bad_hashicorp();
                };
                // The delegate's current version is Serf's protocol.
                let protocol = a.vsn.get(5).copied().unwrap_or(self.config.protocol);
                self.stats.updates_received += 1;
                return self.on_alive(now, id, a.incarnation, &meta[..n], protocol);
            }
            HcMessage::Suspect(a) | HcMessage::Dead(a) => {
                self.stats.updates_received += 1;
                let Some(node) = self.named(a.node) else {
                    self.stats.hashicorp_unknown += 1;
                    return;
                };
                let Some(accuser) = self.named_or_new(a.from) else {
                    return self.bad_hashicorp();
                };
                if matches!(m, HcMessage::Suspect(_)) {
                    return self.on_suspect(now, node, a.incarnation, &accuser);
                }
                let left = a.from == a.node;
                return self.on_dead(now, node, a.incarnation, &accuser, left);
            }
            HcMessage::User(bytes) => return self.on_serf(now, bytes),
            HcMessage::Err(_) => return self.bad_hashicorp(),
        };
        self.on_message(now, from, m);
    }

    /// A Serf message (a memberlist user message).
    pub(super) fn on_serf(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(m) = decode_serf(bytes) else {
            if bytes.first().is_some_and(|&k| (6..=8).contains(&k)) {
                // Conflict and key messages travel inside query responses
                // and queries; on their own they are not carried.
                self.stats.hashicorp_untranslated += 1;
                return;
            }
            return self.bad_hashicorp();
        };
        match m {
            SerfMessage::Leave(i) | SerfMessage::Join(i) => {
                let Some(node) = self.named_or_new(i.node) else {
                    return self.bad_hashicorp();
                };
                let leave = matches!(m, SerfMessage::Leave(_));
                self.on_intent(now, i.ltime, node, leave, i.prune);
            }
            SerfMessage::UserEvent(e) => {
                let Ok(name) = core::str::from_utf8(e.name) else {
                    return self.bad_hashicorp();
                };
                self.on_received_event(now, e.ltime, name, e.payload.unwrap_or(&[]), e.cc);
            }
            SerfMessage::Query(q) => {
                let origin = I::from_hashicorp(HcNode {
                    name: q.source_node,
                    ip: q.addr,
                    port: q.port,
                });
                let (mut nodes, mut tags) = ([0u8; FILTERS_MAX], [0u8; FILTERS_MAX]);
                let filters = filters_to_native::<I>(q.filters, &mut nodes, &mut tags);
                let (Some(origin), Ok(f), Ok(name), Ok(flags)) = (
                    origin,
                    filters,
                    core::str::from_utf8(q.name),
                    u8::try_from(q.flags),
                ) else {
                    return self.bad_hashicorp();
                };
                let timeout_ms = u32::try_from(q.timeout_ns / 1_000_000).unwrap_or(u32::MAX);
                let mut payload = q.payload.unwrap_or(&[]);
                if KeyOp::from_query_name(name).is_some_and(|op| op != KeyOp::List) {
                    // Serf's key request; natively the payload is the key.
                    match key_request_to_native(payload) {
                        Ok(key) => payload = key,
                        Err(_) => return self.bad_hashicorp(),
                    }
                }
                let m = Message::Query {
                    ltime: q.ltime,
                    id: q.id,
                    from: origin,
                    flags,
                    relay_factor: q.relay_factor,
                    timeout_ms,
                    nodes: &nodes[..f.nodes],
                    tags: &tags[..f.tags],
                    name,
                    payload,
                };
                self.on_query(now, &m);
            }
            SerfMessage::QueryResponse(r) => {
                let Some(responder) = self.named(r.from) else {
                    self.stats.hashicorp_unknown += 1;
                    return;
                };
                let (Ok(flags), payload) = (u8::try_from(r.flags), r.payload.unwrap_or(&[])) else {
                    return self.bad_hashicorp();
                };
                let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
                self.on_query_response(r.ltime, r.id, responder, flags, 0, 1, len, 0, payload);
            }
            SerfMessage::Relay(r) => self.on_hashicorp_relay(&r),
        }
    }

    /// A response (or ack) that a responder asks us to forward to the
    /// query's origin: translated, it takes the native relay's path.
    fn on_hashicorp_relay(&mut self, r: &Relay<'_>) {
        let Ok(SerfMessage::QueryResponse(resp)) = decode_serf(r.inner) else {
            // Serf relays nothing else; anything else must not be reflected.
            return self.bad_hashicorp();
        };
        let dest = I::from_hashicorp(HcNode {
            name: r.name,
            ip: r.addr,
            port: r.port,
        });
        let Ok(flags) = u8::try_from(resp.flags) else {
            return self.bad_hashicorp();
        };
        let (Some(dest), Some(from)) = (dest, self.named(resp.from)) else {
            self.stats.hashicorp_unknown += 1;
            return;
        };
        let payload = resp.payload.unwrap_or(&[]);
        let m: Message<'_, I> = Message::QueryResponse {
            ltime: resp.ltime,
            id: resp.id,
            from,
            flags,
            index: 0,
            total: 1,
            total_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            offset: 0,
            payload,
        };
        let mut buf = [0u8; MAX_RELAYED];
        match encode_message(&m, &mut buf) {
            Some(n) => self.on_relay(dest, &buf[..n]),
            None => self.stats.relays_skipped += 1,
        }
    }

    fn bad_hashicorp(&mut self) {
        self.stats.decode_errors += 1;
    }
}
