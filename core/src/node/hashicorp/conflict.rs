//! Serf's name-conflict query on HashiCorp's wire: the question carries the
//! contested name, and each answer the answerer's whole record of whoever
//! it holds under that name (natively both are our compact identity).

use super::VSN;
use crate::identity::{HcNode, Identity};
use crate::node::members::table::State;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::hashicorp::bridge::tags_to_hashicorp;
use crate::wire::hashicorp::conflict::{
    decode_conflict_answer, encode_conflict_answer, status, HeldMember,
};
use crate::wire::hashicorp::serf::TAG_MAGIC;
use crate::wire::hashicorp::HcError;
use crate::wire::tags::MAX_META;
use rand_core::RngCore;

/// Room for an answer: the record's fixed fields, a name and the tags.
const ANSWER_MAX: usize = 2 * MAX_META + 512;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Answers Serf's `_serf_conflict` about `name` with whom we hold under
    /// it; as Serf, not when the name is ours.
    pub(crate) fn answer_conflict_hashicorp(&mut self, now: Instant, id: u32, name: &[u8]) {
        if self.me.hashicorp().is_some_and(|me| me.name == name) {
            return;
        }
        let mut out = [0u8; ANSWER_MAX];
        match self.conflict_answer(name, &mut out) {
            Ok(n) => {
                if self.respond(now, id, &out[..n]).is_err() {
                    self.stats.queries_dropped += 1;
                }
            }
            Err(_) => self.stats.queries_dropped += 1,
        }
    }

    fn conflict_answer(&self, name: &[u8], out: &mut [u8]) -> Result<usize, HcError> {
        let probe = I::from_hashicorp(HcNode {
            name,
            ..HcNode::default()
        });
        let Some(slot) = probe.and_then(|p| self.members.find_name(&p)) else {
            return encode_conflict_answer(None, out);
        };
        let record = self.members.slot(slot);
        let node = record.id().hashicorp().ok_or(HcError::Msgpack)?;
        let mut tags = [0u8; MAX_META + 16];
        let n = tags_to_hashicorp(self.meta.get(slot), &mut tags)?;
        let tags = match &tags[..n] {
            [TAG_MAGIC, map @ ..] => map,
            _ => &[0xc0],
        };
        let status = match record.state() {
            Some(State::Alive | State::Suspect) if self.intents.leaving(slot) => status::LEAVING,
            Some(State::Alive | State::Suspect) => status::ALIVE,
            Some(State::Dead) => status::FAILED,
            Some(State::Left) => status::LEFT,
            None => 0,
        };
        let held = HeldMember {
            name: node.name,
            addr: node.ip,
            port: node.port,
            tags,
            status,
            vsn: [VSN[0], VSN[1], VSN[2], VSN[3], VSN[4], record.protocol()],
        };
        encode_conflict_answer(Some(&held), out)
    }

    /// Whether a conflict answer holds us, at our address, under our name.
    pub(crate) fn conflict_answer_holds_me(&self, payload: &[u8]) -> bool {
        let Ok(Some(held)) = decode_conflict_answer(payload) else {
            return false;
        };
        I::from_hashicorp(HcNode {
            name: held.name,
            ip: held.addr,
            port: held.port,
        })
        .is_some_and(|i| i == self.me)
    }
}
