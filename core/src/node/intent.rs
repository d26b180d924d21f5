//! Join and leave intents (Serf's member-clock messages): each member's
//! latest intent time, its "leaving" flag, and a small buffer of intents about
//! members not yet known.

use crate::clock::LamportClock;
use crate::event::EventKind;
use crate::identity::Identity;
use crate::node::members::digest::Mask;
use crate::node::members::table::{State, EMPTY};
use crate::node::probe::Probe;
use crate::node::timers::Timer;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::{push_pull_flags, Message};
use rand_core::RngCore;

/// A status word: whether an intent was recorded, its leaving flag, and the
/// low 30 bits of its time. Every recorded time has been witnessed by the
/// member clock first, so it is at most the clock's time and the full value
/// is the latest one at or below the clock with those low bits: exact while a
/// member's last intent is less than 2^30 member-clock ticks old (a billion
/// joins and leaves cluster-wide). 4 bytes per member instead of 8.
const SET: u32 = 1 << 31;
const LEAVING: u32 = 1 << 30;
const TIME: u32 = LEAVING - 1;

/// The latest time at or below `clock` whose low bits are `low`.
fn widen(low: u32, clock: u64) -> u64 {
    let back = (clock as u32).wrapping_sub(low) & TIME;
    clock.saturating_sub(u64::from(back))
}

/// An intent about a member this node does not know yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pending<I> {
    pub(crate) node: I,
    pub(crate) ltime: u64,
    pub(crate) leave: bool,
    pub(crate) used: bool,
}

/// Per-member intent state and the member clock.
pub struct Intents<I: 'static, S: Store> {
    status: S::Buf<u32>,
    pending: S::Buf<Pending<I>>,
    next: usize,
    /// The member Lamport clock.
    pub clock: LamportClock,
}

impl<I: Clone + Eq + 'static, S: Store> Intents<I, S> {
    pub(crate) fn new(mut status: S::Buf<u32>, pending: S::Buf<Pending<I>>) -> Self {
        status.fill(0);
        Intents {
            status,
            pending,
            next: 0,
            clock: LamportClock::new(),
        }
    }
    /// The latest intent time recorded for `slot`.
    pub fn ltime(&self, slot: u32) -> u64 {
        match self.status.get(slot as usize) {
            Some(&s) if s & SET != 0 => widen(s & TIME, self.clock.time()),
            _ => 0,
        }
    }
    /// True if `slot` announced (or was forced into) a leave.
    pub fn leaving(&self, slot: u32) -> bool {
        self.status
            .get(slot as usize)
            .is_some_and(|s| s & LEAVING != 0)
    }
    /// Records an intent for `slot` if newer; returns whether it was.
    pub(crate) fn apply(&mut self, slot: u32, ltime: u64, leave: bool) -> bool {
        debug_assert!(
            ltime <= self.clock.time(),
            "intent times are witnessed first"
        );
        if ltime <= self.ltime(slot) {
            return false;
        }
        let Some(s) = self.status.get_mut(slot as usize) else {
            return false;
        };
        *s = SET | (ltime as u32 & TIME) | if leave { LEAVING } else { 0 };
        true
    }
    /// Clears `slot` (member removed or rejoined afresh).
    pub(crate) fn reset(&mut self, slot: u32) {
        if let Some(s) = self.status.get_mut(slot as usize) {
            *s = 0;
        }
    }
    /// Remembers an intent about an unknown member (latest time wins); returns
    /// whether it was new.
    pub(crate) fn buffer(&mut self, node: &I, ltime: u64, leave: bool) -> bool {
        if let Some(p) = self.pending.iter_mut().find(|p| p.used && p.node == *node) {
            if ltime <= p.ltime {
                return false;
            }
            p.ltime = ltime;
            p.leave = leave;
            return true;
        }
        let n = self.pending.len();
        if n == 0 {
            return false;
        }
        // Oldest-first replacement in a ring.
        let i = self.next % n;
        self.next = self.next.wrapping_add(1);
        self.pending[i] = Pending {
            node: node.clone(),
            ltime,
            leave,
            used: true,
        };
        true
    }
    /// Takes the buffered intent about `node`, if any.
    pub(crate) fn take(&mut self, node: &I) -> Option<(u64, bool)> {
        let p = self
            .pending
            .iter_mut()
            .find(|p| p.used && p.node == *node)?;
        p.used = false;
        Some((p.ltime, p.leave))
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Contacts `addr` with a push-pull exchange (full state both ways).
    /// User events older than `addr`'s event clock are ignored from then on
    /// (Serf's join without `-replay`); see [`Node::join_replay`]. Until
    /// `addr`'s answer tells that clock, a node that knows no other member
    /// yet ignores received events too (counted in
    /// [`crate::Stats::events_ignored_joining`]): gossip from members that
    /// already know it can outrun the answer.
    pub fn join(&mut self, now: Instant, addr: I::Addr) {
        self.start_join(now, addr, 0);
    }

    /// Like [`Node::join`], but asks `addr` to send the user events it still
    /// keeps (Serf's `join -replay`): they are delivered like new events,
    /// except the ones this node has already seen.
    pub fn join_replay(&mut self, now: Instant, addr: I::Addr) {
        self.start_join(now, addr, push_pull_flags::REPLAY);
    }

    pub(crate) fn start_join(&mut self, now: Instant, addr: I::Addr, extra: u8) {
        if self.members.slot(self.my_slot).state() == Some(State::Left) {
            // Joining again after a leave: alive at an incarnation above the
            // one the leave went out with, so members that saw it take us
            // back (found by the state-machine fuzzer: the node stayed
            // "left" while it thought it had rejoined).
            let inc = self.incarnation().saturating_add(1);
            self.members.set(self.my_slot, State::Alive, inc, now);
            self.broadcasts.enqueue(self.my_slot, EMPTY);
        }
        self.leaving = false;
        // Announce the join with the member clock (Serf's join intent).
        let ltime = self.intents.clock.time();
        self.intents.apply(self.my_slot, ltime, false);
        self.broadcast_intent(ltime, self.me.clone(), false, false);
        if extra & push_pull_flags::REPLAY == 0 && self.members.counts().live() <= 1 {
            // Only a node that knows nobody yet: one already in a cluster
            // keeps delivering what its cluster gossips, as Serf does.
            self.user_events.wait_for_join_answer(now);
        }
        if self.config.wire == crate::config::Wire::HashiCorp {
            // memberlist joins over a TCP stream the runtime carries.
            return self.open_stream(addr, true, extra & push_pull_flags::REPLAY != 0);
        }
        let session = self.next_seq();
        let flags = push_pull_flags::WANT_REPLY | push_pull_flags::JOIN | extra;
        let deadline = now + self.config.probe_timeout;
        self.catch_up.start(addr.clone(), session, flags, deadline);
        self.push_pull(addr, session, flags, Mask::ALL);
    }

    /// Leaves gracefully: broadcasts that this node left and stops probing.
    /// The runtime keeps driving the node until [`Node::pending_broadcasts`]
    /// reaches zero (or its broadcast timeout passes).
    pub fn leave(&mut self, now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        // Serf's leave intent first, then memberlist's leave (dead from self).
        let ltime = self.intents.clock.time();
        self.intents.clock.increment();
        self.intents.apply(self.my_slot, ltime, true);
        self.broadcast_intent(ltime, self.me.clone(), true, false);
        let inc = self.members.slot(self.my_slot).incarnation();
        self.members.set(self.my_slot, State::Left, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        self.probe = Probe::Idle;
        self.timers.set(Timer::Gossip, now);
    }

    /// Forces a member out (`serf force-leave`): a leave intent marks a failed
    /// member left everywhere (with `prune`, erased); a live member refutes it.
    pub fn force_leave(&mut self, now: Instant, id: &I, prune: bool) -> bool {
        if *id == self.me || self.members.find(id).is_none() {
            return false;
        }
        let ltime = self.intents.clock.time();
        self.intents.clock.increment();
        self.on_intent(now, ltime, id.clone(), true, prune);
        true
    }

    /// True if member `id` announced (or was forced into) a leave and has not
    /// refuted it (Serf's "leaving" status).
    pub fn member_leaving(&self, id: &I) -> bool {
        self.members
            .find(id)
            .is_some_and(|s| self.intents.leaving(s))
    }

    /// Restores the member clock from a snapshot. As Serf does, the saved
    /// time is witnessed: the next intent goes out after it, so a rejoin's
    /// join outranks the leave the snapshot ended with (the leave took the
    /// saved time itself).
    pub fn restore_member_clock(&mut self, ltime: u64) {
        self.intents.clock.witness(ltime);
    }

    pub(crate) fn broadcast_intent(&mut self, ltime: u64, node: I, leave: bool, prune: bool) {
        let m: Message<'_, I> = Message::Intent {
            ltime,
            node,
            leave,
            prune,
        };
        if self.user.enqueue(&m).is_err() {
            self.stats.user_broadcasts_dropped += 1;
        }
    }

    /// A join or leave intent, received or made here.
    pub(crate) fn on_intent(
        &mut self,
        now: Instant,
        ltime: u64,
        node: I,
        leave: bool,
        prune: bool,
    ) {
        self.intents.clock.witness(ltime);
        if node == self.me {
            if ltime <= self.intents.ltime(self.my_slot) {
                return;
            }
            if leave && !self.leaving {
                // Someone says we are leaving: refute with a newer join intent.
                let t = self.intents.clock.time();
                self.intents.clock.increment();
                self.intents.apply(self.my_slot, t, false);
                self.stats.refutations += 1;
                self.broadcast_intent(t, node, false, false);
            } else if self.intents.apply(self.my_slot, ltime, leave) {
                self.broadcast_intent(ltime, node, leave, prune);
            }
            return;
        }
        let Some(slot) = self.members.find(&node) else {
            if self.intents.buffer(&node, ltime, leave) {
                self.broadcast_intent(ltime, node, leave, prune);
            }
            return;
        };
        if !self.intents.apply(slot, ltime, leave) {
            return; // old news (this also stops re-broadcast loops)
        }
        self.broadcast_intent(ltime, node, leave, prune);
        if !leave {
            return;
        }
        match self.members.slot(slot).state() {
            Some(State::Dead) => {
                let inc = self.members.slot(slot).incarnation();
                self.members.set(slot, State::Left, inc, now);
                self.broadcasts.enqueue(slot, slot);
                self.emit(EventKind::Left, slot);
                if prune {
                    self.reap(slot);
                }
            }
            Some(State::Left) if prune => self.reap(slot),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::Heapless;

    fn intents(members: usize) -> Intents<u32, Heapless> {
        Intents::new(
            Heapless::buf(members, 0),
            Heapless::buf(4, Pending::default()),
        )
    }

    #[test]
    fn intent_times_survive_the_compact_status_word_past_2_pow_30() {
        let mut i = intents(2);
        let far = (1u64 << 32) + 12_345;
        i.clock.witness(far);
        assert!(i.apply(0, far, false));
        assert_eq!(i.ltime(0), far);
        assert!(!i.apply(0, far - 1, true), "an older intent is refused");
        i.clock.witness(far + (1 << 29));
        assert_eq!(i.ltime(0), far, "still exact half a window later");
        assert!(i.apply(0, far + 7, true));
        assert!(i.leaving(0));
        assert_eq!(i.ltime(0), far + 7);
    }

    #[test]
    fn unrecorded_member_has_no_intent_and_time_zero_is_refused() {
        let mut i = intents(1);
        assert_eq!(i.ltime(0), 0);
        assert!(!i.leaving(0));
        assert!(!i.apply(0, 0, true));
        assert!(i.apply(0, 1, false));
        assert_eq!(i.ltime(0), 1);
    }
}
