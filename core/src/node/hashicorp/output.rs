//! A memberlist packet out: the node writes its next native datagram into
//! the scratch buffer, each message is translated into memberlist's (or
//! Serf's) and the parts go out as one message or a compound, encrypted
//! with the primary key and labelled as memberlist frames them.

use super::{write_label, VSN};
use crate::identity::{HcNode, Identity};
use crate::node::output::Transmit;
use crate::node::query::answer::MAX_RELAYED;
use crate::node::query::KeyOp;
use crate::node::Node;
use crate::storage::Store;
use crate::wire::crypto::{MAX_LABEL, NONCE, TAG};
use crate::wire::hashicorp::bridge::{
    coordinate_to_hashicorp, filters_to_hashicorp, key_request_to_hashicorp, tags_to_hashicorp,
};
use crate::wire::hashicorp::relay::Relay;
use crate::wire::hashicorp::security::{seal_packet, HEADER};
use crate::wire::hashicorp::serf::{self as hc_serf, encode_serf, SerfMessage};
use crate::wire::hashicorp::{
    encode_compound, encode_message, kind, Accusation, Alive, HcError, HcMessage, IndirectPing,
    Ping, Source,
};
use crate::wire::tags::MAX_META;
use crate::wire::{decode_message as decode_native, Decoder, Message};
use rand_core::RngCore;

/// Most parts in one compound (memberlist's limit is 255).
const MAX_PARTS: usize = 64;
/// Room for one translated filter list or coordinate.
const FIELD_MAX: usize = 1024;
/// A compound's header: its type byte and part count.
const COMPOUND_HEAD: usize = 2;

/// A translated message's place in the parts buffer.
#[derive(Clone, Copy, Default)]
struct Part {
    start: usize,
    len: usize,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// [`Node::poll_transmit`] on HashiCorp's wire.
    pub(crate) fn poll_hashicorp(&mut self, buf: &mut [u8]) -> Option<Transmit<I::Addr>> {
        let limit = buf.len().min(self.config.mtu);
        // A copy, so that the node can be borrowed while the label is used.
        let mut label_buf = [0u8; MAX_LABEL];
        let label = self.config.label.as_ref().map_or(&[][..], |l| l.as_bytes());
        label_buf[..label.len()].copy_from_slice(label);
        let label = &label_buf[..label.len()];
        let label_len = if label.is_empty() { 0 } else { 2 + label.len() };
        let sealed = !self.keyring.is_empty();
        let framing = label_len + if sealed { HEADER + TAG } else { 0 };
        let room = limit.checked_sub(framing)?;
        let mut scratch = self.scratch.take()?;
        let mtu = self.config.mtu;
        let mut out = None;
        while out.is_none() {
            let (native, parts) = scratch.split_at_mut(mtu);
            // Ours is the more compact encoding: fill about a third of the
            // room with native messages, so that their translation fits.
            let budget = (room * 2 / 5).max(64).min(native.len());
            let Some((to, len)) = self.poll_plain(&mut native[..budget]) else {
                break;
            };
            let body = label_len + if sealed { HEADER } else { 0 };
            let n = self.translate(&native[..len], parts, &mut buf[body..body + room]);
            if n == 0 {
                continue;
            }
            out = self
                .frame(buf, label, body, n)
                .map(|len| Transmit { to, len });
        }
        self.scratch = Some(scratch);
        out
    }

    /// Encrypts (if a key is installed) and labels the `len` bytes at
    /// `buf[body..]`; returns the packet's length.
    fn frame(&mut self, buf: &mut [u8], label: &[u8], body: usize, len: usize) -> Option<usize> {
        let label_len = if label.is_empty() { 0 } else { 2 + label.len() };
        let mut total = body + len;
        if let Some(key) = self.keyring.primary() {
            let mut nonce = [0u8; NONCE];
            self.rng.fill_bytes(&mut nonce);
            match seal_packet(&mut buf[label_len..], len, label, key, nonce) {
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

    /// Translates a native datagram into one memberlist message or a
    /// compound in `out`; returns its length (0: nothing to send). What
    /// has no counterpart or does not fit is counted.
    fn translate(&mut self, native: &[u8], work: &mut [u8], out: &mut [u8]) -> usize {
        let Ok(decoder) = Decoder::<I>::new(native, native.len()) else {
            self.stats.transmits_dropped += 1;
            return 0;
        };
        let mut parts = [Part::default(); MAX_PARTS];
        let (mut count, mut used, mut size) = (0, 0, COMPOUND_HEAD);
        for m in decoder {
            let Ok(m) = m else {
                self.stats.transmits_dropped += 1;
                break;
            };
            match self.encode_hashicorp(&m, &mut work[used..]) {
                Ok(0) => self.stats.hashicorp_untranslated += 1,
                Ok(len) if count < MAX_PARTS && size + 2 + len <= out.len() => {
                    parts[count] = Part { start: used, len };
                    count += 1;
                    used += len;
                    size += 2 + len;
                }
                Ok(_) | Err(HcError::TooLarge) => self.stats.hashicorp_overflow += 1,
                Err(_) => self.stats.transmits_dropped += 1,
            }
        }
        match count {
            0 => 0,
            1 => {
                let p = parts[0];
                out[..p.len].copy_from_slice(&work[p.start..p.start + p.len]);
                p.len
            }
            _ => {
                let mut slices: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
                for (s, p) in slices.iter_mut().zip(&parts[..count]) {
                    *s = &work[p.start..p.start + p.len];
                }
                encode_compound(&slices[..count], out).unwrap_or_else(|_| {
                    self.stats.hashicorp_overflow += count as u64;
                    0
                })
            }
        }
    }

    /// Writes `m` as memberlist (or Serf) writes it; `Ok(0)` if it has no
    /// counterpart there (a native state exchange, an opaque broadcast, a
    /// response in chunks).
    fn encode_hashicorp(&self, m: &Message<'_, I>, buf: &mut [u8]) -> Result<usize, HcError> {
        let me = self.me.hashicorp().ok_or(HcError::Msgpack)?;
        let source = Source {
            addr: me.ip,
            port: me.port,
            node: me.name,
        };
        let hc = match m {
            Message::Ping { seq, target } => HcMessage::Ping(Ping {
                seq: *seq,
                node: hc_name(target)?,
                source,
            }),
            Message::IndirectPing { seq, target, nack } => {
                let t = target.hashicorp().ok_or(HcError::Msgpack)?;
                HcMessage::IndirectPing(IndirectPing {
                    seq: *seq,
                    target: t.ip,
                    port: t.port,
                    node: t.name,
                    nack: *nack,
                    source,
                })
            }
            Message::Ack { seq, coord } => {
                let mut payload = [0u8; FIELD_MAX];
                let c = coord.and_then(|c| c.decode());
                let n = match c {
                    Some(c) => coordinate_to_hashicorp(&c, &mut payload)?,
                    None => 0,
                };
                let ack = HcMessage::Ack {
                    seq: *seq,
                    payload: &payload[..n],
                };
                return encode_message(&ack, buf);
            }
            Message::Nack { seq } => HcMessage::Nack { seq: *seq },
            Message::Alive {
                incarnation,
                node,
                meta,
                protocol,
            } => {
                let HcNode { name, ip, port } = node.hashicorp().ok_or(HcError::Msgpack)?;
                let mut hc_meta = [0u8; MAX_META + 16];
                let n = tags_to_hashicorp(meta, &mut hc_meta)?;
                let vsn = [
                    VSN[0],
                    VSN[1],
                    VSN[2],
                    VSN[3],
                    VSN[4],
                    (*protocol).clamp(2, 5),
                ];
                let alive = HcMessage::Alive(Alive {
                    incarnation: *incarnation,
                    node: name,
                    addr: ip,
                    port,
                    meta: &hc_meta[..n],
                    vsn: &vsn,
                });
                return encode_message(&alive, buf);
            }
            Message::Suspect {
                incarnation,
                node,
                from,
            } => HcMessage::Suspect(Accusation {
                incarnation: *incarnation,
                node: hc_name(node)?,
                from: hc_name(from)?,
            }),
            Message::Dead {
                incarnation,
                node,
                from,
            } => HcMessage::Dead(Accusation {
                incarnation: *incarnation,
                node: hc_name(node)?,
                from: hc_name(from)?,
            }),
            m => return self.encode_serf_message(m, buf),
        };
        encode_message(&hc, buf)
    }

    /// The Serf-layer messages, as memberlist user messages.
    fn encode_serf_message(&self, m: &Message<'_, I>, buf: &mut [u8]) -> Result<usize, HcError> {
        let (head, body) = buf.split_first_mut().ok_or(HcError::TooLarge)?;
        *head = kind::USER;
        let mut filters = [0u8; FIELD_MAX];
        let mut request = [0u8; 64];
        let serf = match m {
            Message::Intent {
                ltime,
                node,
                leave,
                prune,
            } => {
                let i = hc_serf::Intent {
                    ltime: *ltime,
                    node: hc_name(node)?,
                    prune: *prune,
                };
                if *leave {
                    SerfMessage::Leave(i)
                } else {
                    SerfMessage::Join(i)
                }
            }
            Message::Event {
                ltime,
                name,
                payload,
                coalesce,
            } => SerfMessage::UserEvent(hc_serf::UserEvent {
                ltime: *ltime,
                name: name.as_bytes(),
                payload: Some(payload),
                cc: *coalesce,
            }),
            Message::Query {
                ltime,
                id,
                from,
                flags,
                relay_factor,
                timeout_ms,
                nodes,
                tags,
                name,
                payload,
            } => {
                let origin = from.hashicorp().ok_or(HcError::Msgpack)?;
                let mut payload: &[u8] = payload;
                if KeyOp::from_query_name(name).is_some_and(|op| op != KeyOp::List) {
                    // Natively the payload is the key; Serf wraps it.
                    let n = key_request_to_hashicorp(payload, &mut request)?;
                    payload = &request[..n];
                }
                let mut one = [0u8; FIELD_MAX];
                let n = filters_to_hashicorp::<I>(nodes, tags, &mut filters, &mut one)?;
                SerfMessage::Query(hc_serf::Query {
                    ltime: *ltime,
                    id: *id,
                    addr: origin.ip,
                    port: origin.port,
                    source_node: origin.name,
                    filters: &filters[..n],
                    flags: u32::from(*flags),
                    relay_factor: *relay_factor,
                    timeout_ns: u64::from(*timeout_ms) * 1_000_000,
                    name: name.as_bytes(),
                    payload: Some(payload),
                })
            }
            Message::QueryResponse {
                ltime,
                id,
                from,
                flags,
                total: 1,
                payload,
                ..
            } => SerfMessage::QueryResponse(hc_serf::QueryResponse {
                ltime: *ltime,
                id: *id,
                from: hc_name(from)?,
                flags: u32::from(*flags),
                payload: Some(payload),
            }),
            Message::Relay { dest, inner } => return self.encode_relay(dest, inner, buf),
            _ => return Ok(0),
        };
        Ok(1 + encode_serf(&serf, body)?)
    }

    /// A native relay (a response to forward to `dest`) as Serf's: the
    /// response translated, behind a header naming `dest`.
    fn encode_relay(&self, dest: &I, inner: &[u8], buf: &mut [u8]) -> Result<usize, HcError> {
        let (head, body) = buf.split_first_mut().ok_or(HcError::TooLarge)?;
        *head = kind::USER;
        let m = decode_native::<I>(inner).ok_or(HcError::Msgpack)?;
        let mut translated = [0u8; MAX_RELAYED];
        // Only single-datagram responses are relayed (`respond` checks).
        let n = self.encode_serf_message(&m, &mut translated)?;
        let (Some(&kind::USER), Some(response)) = (translated.first(), translated.get(1..n)) else {
            return Ok(0);
        };
        let to = dest.hashicorp().ok_or(HcError::Msgpack)?;
        let relay = SerfMessage::Relay(Relay {
            addr: to.ip,
            port: to.port,
            name: to.name,
            inner: response,
        });
        Ok(1 + encode_serf(&relay, body)?)
    }
}

/// The name HashiCorp's wire knows `id` by.
fn hc_name<I: Identity>(id: &I) -> Result<&[u8], HcError> {
    id.hashicorp().map(|h| h.name).ok_or(HcError::Msgpack)
}
