//! Joins in progress: each seed is contacted at once and again every
//! second while silent; the reply goes out once every seed's state arrived,
//! every seed refused, or Serf's join timeout passed. Nothing here blocks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant as StdInstant};

use super::Host;
use crate::member::{JoinFailure, JoinOutcome, Reply};

/// How long a join waits for a seed's state (Serf's TCP join timeout).
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A join waiting for its seeds' state.
pub(super) struct PendingJoin {
    seeds: Vec<SocketAddr>,
    replay: bool,
    /// Seeds whose state arrived.
    answered: Vec<bool>,
    /// Refusals seeds sent us, worded for the report.
    refusals: HashMap<SocketAddr, String>,
    deadline: StdInstant,
    retry: StdInstant,
    reply: Reply<JoinOutcome>,
}

impl PendingJoin {
    /// When this join next needs a look: its retry or its deadline.
    pub(super) fn next_deadline(&self) -> StdInstant {
        self.retry.min(self.deadline)
    }
}

/// What a finished join achieved, seed by seed.
fn join_outcome(j: &mut PendingJoin) -> JoinOutcome {
    let mut outcome = JoinOutcome::default();
    for (&addr, &done) in j.seeds.iter().zip(&j.answered) {
        if done {
            outcome.joined += 1;
        } else {
            let reason = j
                .refusals
                .remove(&addr)
                .unwrap_or_else(|| format!("no answer within {} s", JOIN_TIMEOUT.as_secs()));
            tracing::warn!(target: "memberlist", "Failed to join {addr}: {reason}");
            outcome.failures.push(JoinFailure { addr, reason });
        }
    }
    outcome
}

impl Host {
    /// `from` refused our datagrams: every join waiting on it reports why.
    pub(super) fn join_refused(&mut self, from: SocketAddr, reason: String) {
        for j in &mut self.joins {
            if j.seeds.contains(&from) {
                j.refusals.insert(from, reason.clone());
            }
        }
    }

    /// A datagram came from `from`: a seed's state arrives as its datagrams,
    /// so only then can a join have progressed.
    pub(super) fn seed_spoke(&mut self, from: SocketAddr) {
        if self.joins.iter().any(|j| j.seeds.contains(&from)) {
            self.note_answers(from);
        }
    }

    /// Contacts every seed of a join.
    fn contact(&mut self, seeds: &[SocketAddr], replay: bool) {
        let now = self.now();
        for a in seeds {
            tracing::debug!(target: "memberlist", "Initiating push/pull sync with: {a}");
            if replay {
                self.node.join_replay(now, *a);
            } else {
                self.node.join(now, *a);
            }
        }
    }

    /// Starts a join: contacts every seed now; the reply goes out once each
    /// one's state arrived, each refused us, or Serf's join timeout (5 s)
    /// passed, with the silent ones contacted again once a second meanwhile.
    pub(super) fn start_join(
        &mut self,
        seeds: Vec<SocketAddr>,
        replay: bool,
        reply: Reply<JoinOutcome>,
    ) {
        self.contact(&seeds, replay);
        let now = StdInstant::now();
        self.joins.push(PendingJoin {
            answered: vec![false; seeds.len()],
            seeds,
            replay,
            refusals: HashMap::new(),
            deadline: now + JOIN_TIMEOUT,
            retry: now + Duration::from_secs(1),
            reply,
        });
        // A seed already known (a rejoin) counts at once.
        for i in 0..self.joins[self.joins.len() - 1].seeds.len() {
            let seed = self.joins[self.joins.len() - 1].seeds[i];
            self.note_answers(seed);
        }
        self.progress_joins();
    }

    /// Marks `seed` answered in every join waiting for it, once the node
    /// holds it as a live member.
    fn note_answers(&mut self, seed: SocketAddr) {
        let live = self
            .node
            .members()
            .any(|(id, s, _)| id.addr() == seed && s.is_live());
        if !live {
            return;
        }
        for j in &mut self.joins {
            for (a, done) in j.seeds.iter().zip(j.answered.iter_mut()) {
                *done |= *a == seed;
            }
        }
    }

    /// Replies to every join that is complete, refused or out of time, and
    /// contacts again the silent seeds of those whose retry came.
    pub(super) fn progress_joins(&mut self) {
        let now = StdInstant::now();
        let mut i = 0;
        while i < self.joins.len() {
            let j = &self.joins[i];
            let settled = j
                .seeds
                .iter()
                .zip(&j.answered)
                .all(|(a, done)| *done || j.refusals.contains_key(a));
            if settled || now >= j.deadline {
                let mut j = self.joins.swap_remove(i);
                let outcome = join_outcome(&mut j);
                let _ = j.reply.send(outcome);
                continue;
            }
            if now >= j.retry {
                let silent: Vec<SocketAddr> = j
                    .seeds
                    .iter()
                    .zip(&j.answered)
                    .filter(|(a, done)| !**done && !j.refusals.contains_key(*a))
                    .map(|(a, _)| *a)
                    .collect();
                let replay = j.replay;
                self.joins[i].retry += Duration::from_secs(1);
                self.contact(&silent, replay);
            }
            i += 1;
        }
    }
}
