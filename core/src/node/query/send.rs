//! Sending a query and ending it at its deadline (acks, responses and the
//! final done are delivered through the inbox; a conflict query is counted).

use crate::event::EventKind;
use crate::identity::Identity;
use crate::node::query::{flags, Outgoing, QueryError, QueryParams};
use crate::node::timers::Timer;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::{message_len, Message, Note};
use rand_core::RngCore;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Restores the query clock from a snapshot (older queries are ignored).
    pub fn restore_query_clock(&mut self, ltime: u64) {
        self.queries_seen.clock.restore(ltime);
        self.queries_seen.min_time = self.queries_seen.min_time.max(ltime.saturating_add(1));
    }

    /// The default query timeout for the current cluster size.
    pub fn default_query_timeout(&self) -> core::time::Duration {
        let n = self.cluster_size() as f64;
        let scale = libm::ceil(libm::log10(n + 1.0)).max(1.0) as u32;
        self.config.gossip_interval * self.config.query_timeout_mult * scale
    }

    /// Sends a query to the cluster (this node answers it too if it matches).
    /// Acks, responses and a final done arrive through [`Node::poll_delivery`].
    /// Returns the query id.
    pub fn query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: &QueryParams<'_, I>,
    ) -> Result<u32, QueryError> {
        if name.starts_with("_serf_") && !(name == "_serf_ping" && payload.is_empty()) {
            return Err(QueryError::Reserved);
        }
        self.send_query(now, name, payload, params)
    }

    pub(crate) fn send_query(
        &mut self,
        now: Instant,
        name: &str,
        payload: &[u8],
        params: &QueryParams<'_, I>,
    ) -> Result<u32, QueryError> {
        let mut nodes = [0u8; 512];
        let mut tags = [0u8; 512];
        let nodes_len = if params.nodes.is_empty() {
            0
        } else {
            crate::wire::encode_nodes(params.nodes, &mut nodes).ok_or(QueryError::FilterTooLarge)?
        };
        let tags_len = if params.tags.is_empty() {
            0
        } else {
            crate::wire::tags::encode(params.tags, &mut tags)
                .map_err(|_| QueryError::FilterTooLarge)?
        };
        let timeout = params
            .timeout
            .unwrap_or_else(|| self.default_query_timeout());
        let Some(slot) = self.outgoing.iter().position(|q| !q.used) else {
            return Err(QueryError::Busy);
        };
        let ltime = self.queries_seen.clock.time();
        let id = self.rng.next_u32();
        let m: Message<'_, I> = Message::Query {
            ltime,
            id,
            from: self.me.clone(),
            flags: if params.ack { flags::ACK } else { 0 },
            relay_factor: params.relay_factor,
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            nodes: &nodes[..nodes_len],
            tags: &tags[..tags_len],
            name,
            payload,
        };
        if message_len(&m) > self.config.query_size_limit {
            return Err(QueryError::TooLarge);
        }
        self.outgoing[slot] = Outgoing {
            id,
            ltime,
            deadline: now + timeout,
            acks: 0,
            responses: 0,
            used: true,
            conflict: name == "_serf_conflict",
            matching: 0,
        };
        let first = self
            .timers
            .get(Timer::Query)
            .map_or(now + timeout, |d| d.min(now + timeout));
        self.timers.set(Timer::Query, first);
        self.on_message(now, &self.me.addr(), m);
        Ok(id)
    }

    /// Ends queries whose deadline passed (a handful of slots, scanned).
    pub(crate) fn expire_queries(&mut self, now: Instant) {
        let mut any = false;
        let mut next: Option<Instant> = None;
        for i in 0..self.outgoing.len() {
            let q = &self.outgoing[i];
            if !q.used {
                continue;
            }
            if q.deadline > now {
                any = true;
                next = Some(next.map_or(q.deadline, |n| n.min(q.deadline)));
                continue;
            }
            let (id, _ltime) = (q.id, q.ltime);
            let (conflict, answers, matching) = (q.conflict, q.responses, q.matching);
            self.outgoing[i].used = false;
            if conflict {
                // Majority rule: at least half of the answers plus one must
                // name us at our address, or we yield the name.
                let won = answers == 0 || matching > answers / 2;
                let kind = if won {
                    EventKind::ConflictWon
                } else {
                    EventKind::ConflictLost
                };
                self.conflict_lost |= !won;
                self.emit(kind, self.my_slot);
                continue;
            }
            for r in self.reassembly.iter_mut() {
                if r.used && r.id == id {
                    r.used = false;
                    self.stats.responses_dropped += 1;
                }
            }
            self.inbox.note::<I>(&Note::QueryDone { id });
        }
        self.timers.set(Timer::Query, next);
        if !any {
            self.seen.clear();
        }
    }
}
