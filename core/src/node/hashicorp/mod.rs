//! HashiCorp's wire ([`crate::config::Wire::HashiCorp`]): datagrams in
//! memberlist's format are translated into the native messages the node's
//! rules handle (`input.rs`), and the native datagrams the node writes are
//! translated into memberlist packets (`output.rs`). The rules themselves are
//! the same on both wires.

mod conflict;
mod input;
mod merge;
mod output;
mod stream;

pub(crate) use stream::Streams;
pub use stream::{StreamOpen, StreamReply, StreamSide};

use crate::config::{Config, Wire};
use crate::identity::{HcNode, Identity};
use crate::node::Node;
use crate::storage::Store;
use crate::wire::hashicorp::bridge::tags_to_native;
use rand_core::RngCore;

/// Room for a decompressed packet, in MTUs (memberlist compresses packets
/// with LZW; msgpack compresses about 2–3×).
const INFLATE_MTUS: usize = 7;

/// The scratch buffer a node needs: one MTU natively (decryption); on
/// HashiCorp's wire one MTU for decryption (or the native datagram being
/// translated) and [`INFLATE_MTUS`] more for decompression (or the
/// translated messages).
pub(crate) const fn scratch_len(config: &Config) -> usize {
    match config.wire {
        Wire::Native => config.mtu,
        Wire::HashiCorp => config.mtu * (1 + INFLATE_MTUS),
    }
}

/// The versions an alive message (and a conflict answer) announces:
/// memberlist protocol 1–5 at 2 (what Serf runs), then Serf's own protocol
/// range; the current one follows.
const VSN: [u8; 5] = [1, 5, 2, 2, 5];

/// A member a memberlist record announces (an alive message or a push-pull
/// node state): its identity, and its tags in the native encoding written
/// to `meta` (their length); `None` if either cannot be read.
fn announced<I: Identity>(node: HcNode<'_>, tags: &[u8], meta: &mut [u8]) -> Option<(I, usize)> {
    let id = I::from_hashicorp(node)?;
    let n = tags_to_native(tags, meta).ok()?;
    Some((id, n))
}

/// memberlist's label header: this type byte, a length byte, the label.
const HAS_LABEL: u8 = crate::wire::hashicorp::kind::HAS_LABEL;

/// The label a packet carries and the rest of it.
fn split_label(packet: &[u8]) -> Option<(&[u8], &[u8])> {
    match packet {
        [HAS_LABEL, len, rest @ ..] if *len > 0 && rest.len() >= usize::from(*len) => {
            Some(rest.split_at(usize::from(*len)))
        }
        [HAS_LABEL, ..] => None,
        _ => Some((&[], packet)),
    }
}

/// Writes memberlist's label header for `label` (nothing when empty) at the
/// start of `buf`, which has room for it.
fn write_label(buf: &mut [u8], label: &[u8]) {
    if !label.is_empty() {
        buf[0] = HAS_LABEL;
        buf[1] = label.len() as u8;
        buf[2..2 + label.len()].copy_from_slice(label);
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Checks a packet's or stream message's label against ours; returns
    /// the label and what follows it (a mismatch is counted).
    fn strip_label<'a>(
        &mut self,
        bytes: &'a [u8],
    ) -> Result<(&'a [u8], &'a [u8]), crate::wire::DecodeError> {
        let ours = self.config.label.as_ref().map_or(&[][..], |l| l.as_bytes());
        match split_label(bytes) {
            Some((label, body)) if label == ours => Ok((label, body)),
            _ => {
                self.stats.frames_rejected += 1;
                Err(crate::wire::DecodeError::Frame(
                    crate::wire::crypto::FrameError::Label,
                ))
            }
        }
    }

    /// The member HashiCorp's wire names `name`: ourselves, or whoever in
    /// the table carries that name.
    fn named(&self, name: &[u8]) -> Option<I> {
        if self.me.hashicorp().is_some_and(|me| me.name == name) {
            return Some(self.me.clone());
        }
        let probe = I::from_hashicorp(HcNode {
            name,
            ..HcNode::default()
        })?;
        let slot = self.members.find_name(&probe)?;
        Some(self.members.slot(slot).id().clone())
    }

    /// Like [`Node::named`], but a member we do not know is still named (by
    /// name alone, at no address), for messages that may come before it.
    fn named_or_new(&self, name: &[u8]) -> Option<I> {
        self.named(name).or_else(|| {
            I::from_hashicorp(HcNode {
                name,
                ..HcNode::default()
            })
        })
    }
}
