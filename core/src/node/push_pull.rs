//! Push-pull: full state exchange (joins, periodic anti-entropy) and Serf's
//! reconnect to failed members.

use crate::config::Wire;
use crate::identity::Identity;
use crate::node::catch_up::Span;
use crate::node::gossip::DRAW_ATTEMPTS;
use crate::node::members::digest::Mask;
use crate::node::members::table::State;
use crate::node::output::Transmission;
use crate::node::timers::Timer;
use crate::node::Node;
use crate::rng::below;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::digest::sums_from_bytes;
use crate::wire::{push_pull_flags, wire_state, Encoder, Message};
use core::time::Duration;
use rand_core::RngCore;

/// A push-pull chunk's header, as received.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub(crate) session: u32,
    pub(crate) flags: u8,
    pub(crate) event_ltime: u64,
    /// The sender's slots this chunk covers.
    pub(crate) span: Span,
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// A push-pull header: catch up with the sender's event clock and, if
    /// it wants one, answer with our state.
    #[inline]
    pub(crate) fn on_push_pull(&mut self, now: Instant, from: &I::Addr, header: Header) {
        let Header {
            session,
            flags,
            event_ltime,
            span,
        } = header;
        let last = flags & push_pull_flags::LAST != 0;
        let quiet = now + self.config.probe_timeout;
        self.catch_up.on_chunk(from, session, span, last, quiet);
        // The sender's clock is the stamp its next event gets, so ours only
        // needs to reach it (witnessing would add one per exchange and make
        // clocks creep apart).
        self.user_events.clock.restore(event_ltime);
        if flags & push_pull_flags::JOIN_REPLY != 0 && flags & push_pull_flags::REPLAY == 0 {
            // Our join without replay: the events the answering member had
            // seen are history for us.
            self.user_events.joined_at(event_ltime);
        }
        if flags & push_pull_flags::WANT_REPLY != 0 {
            let join = flags & push_pull_flags::JOIN != 0;
            let reply_flags = if join {
                push_pull_flags::JOIN_REPLY | (flags & push_pull_flags::REPLAY)
            } else {
                0
            };
            self.push_pull(from.clone(), session, reply_flags, Mask::ALL);
        }
    }

    /// A member's digest: tell it where we differ, and send our states there.
    pub(crate) fn on_digest(&mut self, from: &I::Addr, session: u32, sums: &[u8]) {
        let Some(theirs) = sums_from_bytes(sums) else {
            self.stats.decode_errors += 1;
            return;
        };
        let mask = self.members.digest().differ(&theirs);
        self.queue(Transmission::Differ {
            to: from.clone(),
            session,
            mask,
        });
        self.push_pull(from.clone(), session, 0, mask);
    }

    /// The answer to our digest: send our states in the buckets that differ.
    pub(crate) fn on_differ(&mut self, from: &I::Addr, session: u32, mask: Mask) {
        self.push_pull(from.clone(), session, 0, mask);
    }

    /// A member asks again for slots `span` of push-pull `session` (their
    /// chunks were lost).
    pub(crate) fn on_resend(&mut self, from: &I::Addr, session: u32, span: Span) {
        if span.first < span.end {
            self.queue(Transmission::PushPull {
                to: from.clone(),
                session,
                cursor: span.first,
                end: span.end,
                flags: 0,
                mask: Mask::ALL,
            });
        }
    }

    /// One member's state from a push-pull, merged into ours.
    #[inline]
    pub(crate) fn on_state(
        &mut self,
        now: Instant,
        node: I,
        incarnation: u32,
        state: u8,
        meta: &[u8],
        protocol: u8,
    ) {
        match state {
            wire_state::ALIVE => self.on_alive(now, node, incarnation, meta, protocol),
            wire_state::LEFT => {
                let from = node.clone();
                self.on_dead(now, node, incarnation, &from, true)
            }
            // memberlist downgrades a remote "dead" to suspect: we verify ourselves.
            wire_state::SUSPECT | wire_state::DEAD => {
                let me = self.me.clone();
                self.on_suspect(now, node, incarnation, &me)
            }
            _ => self.stats.decode_errors += 1,
        }
    }

    /// Queues our state for `to`, followed by the user events we keep — as
    /// Serf's push-pull carries its event buffer, so an event that gossip
    /// missed somewhere still arrives — except in the answer to a join
    /// without replay (the joiner would ignore them).
    pub(crate) fn push_pull(&mut self, to: I::Addr, session: u32, flags: u8, mask: Mask) {
        self.queue(Transmission::PushPull {
            to: to.clone(),
            session,
            cursor: 0,
            end: u32::MAX,
            flags,
            mask,
        });
        let skip = flags & push_pull_flags::JOIN_REPLY != 0 && flags & push_pull_flags::REPLAY == 0;
        if !skip && self.event_log.next() > self.event_log.oldest() {
            self.queue(Transmission::Replay {
                to,
                seq: self.event_log.oldest(),
            });
        }
    }

    /// memberlist's push-pull interval for the current cluster size: one more
    /// multiple of the configured interval for each doubling past 32 members.
    pub(crate) fn push_pull_period(&self) -> Duration {
        let n = self.cluster_size();
        let scale = if n > 32 {
            libm::ceil(libm::log2(n as f64) - libm::log2(32.0)) as u32 + 1
        } else {
            1
        };
        self.config.push_pull_interval * scale
    }

    pub(crate) fn push_pull_tick(&mut self, now: Instant) {
        self.timers
            .set(Timer::PushPull, now + self.push_pull_period());
        if self.leaving {
            return;
        }
        for _ in 0..DRAW_ATTEMPTS {
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                return;
            };
            if s != self.my_slot && self.members.slot(s).state() == Some(State::Alive) {
                let to = self.members.slot(s).id().addr();
                if self.config.wire == Wire::HashiCorp {
                    return self.open_stream(to, false, false);
                }
                let session = self.next_seq();
                if self.config.push_pull_digest {
                    self.queue(Transmission::Digest { to, session });
                } else {
                    self.push_pull(to, session, push_pull_flags::WANT_REPLY, Mask::ALL);
                }
                return;
            }
        }
    }

    /// Serf's reconnect: with probability failed / alive, push-pull with a
    /// random failed member, so that the two sides of a healed partition meet.
    pub(crate) fn reconnect_tick(&mut self, now: Instant) {
        self.timers
            .set(Timer::Reconnect, now + self.config.reconnect_interval);
        let c = self.members.counts();
        if self.leaving || c.dead == 0 {
            return;
        }
        let alive = c.alive.max(1);
        if below(&mut self.rng, alive) >= c.dead {
            return;
        }
        for _ in 0..DRAW_ATTEMPTS {
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                return;
            };
            if self.members.slot(s).state() == Some(State::Dead) {
                let to = self.members.slot(s).id().addr();
                self.stats.reconnects += 1;
                if self.config.wire == Wire::HashiCorp {
                    return self.open_stream(to, false, false);
                }
                let session = self.next_seq();
                self.push_pull(to, session, push_pull_flags::WANT_REPLY, Mask::ALL);
                return;
            }
        }
    }

    /// Writes `State` messages for the members of `mask` in slots
    /// `cursor..end` while they fit; returns the next cursor. A state too big
    /// for an empty datagram under this framing is skipped (and counted),
    /// never retried forever.
    pub(crate) fn write_states(
        &mut self,
        enc: &mut Encoder<'_>,
        cursor: u32,
        end: u32,
        mask: Mask,
    ) -> u32 {
        let mut at = cursor;
        let mut written = false;
        while at < end {
            let s = self.members.slot(at);
            if let Some(state) = s.state().filter(|_| mask.covers(s.id())) {
                let m = Message::State {
                    node: s.id().clone(),
                    incarnation: s.incarnation(),
                    state: match state {
                        State::Alive => wire_state::ALIVE,
                        State::Suspect => wire_state::SUSPECT,
                        State::Dead => wire_state::DEAD,
                        State::Left => wire_state::LEFT,
                    },
                    meta: if state.is_live() {
                        self.meta.get(at)
                    } else {
                        &[]
                    },
                    protocol: s.protocol(),
                };
                if !enc.push(&m) {
                    if written {
                        break;
                    }
                    self.stats.transmits_dropped += 1;
                } else {
                    written = true;
                }
            }
            at += 1;
        }
        at
    }
}
