//! Member state rules: alive, dead and left acceptance by incarnation,
//! refutation, name conflicts, reaping; the member table and its metadata.

pub(crate) mod digest;
pub(crate) mod meta;
pub(crate) mod table;
pub(crate) mod walk;

use crate::event::{Event, EventKind};
use crate::identity::Identity;
use crate::node::members::table::{State, EMPTY};
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::tags::Tags;
use rand_core::RngCore;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Replaces this node's metadata (encoded tags, see [`crate::wire::tags`]): the
    /// incarnation goes up and every member receives the new record as an update.
    pub fn set_meta(
        &mut self,
        now: Instant,
        meta: &[u8],
    ) -> Result<(), crate::wire::tags::TagsTooLarge> {
        if meta.len() > self.meta.max_len() {
            return Err(crate::wire::tags::TagsTooLarge);
        }
        self.meta.set_own(self.my_slot, meta);
        let inc = self.incarnation().saturating_add(1);
        let state = if self.leaving {
            State::Left
        } else {
            State::Alive
        };
        self.members.set(self.my_slot, state, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        Ok(())
    }

    pub(crate) fn on_alive(&mut self, now: Instant, id: I, inc: u32, meta: &[u8], protocol: u8) {
        if id == self.me {
            // Someone holds a newer record of us than we do (we restarted), or
            // our incarnation with other tags: take a higher incarnation so
            // that our own record wins everywhere.
            let mine = self.incarnation();
            let stale = inc > mine || (inc == mine && meta != self.meta.get(self.my_slot));
            if stale && !self.leaving {
                self.refute(now, inc);
            }
            return;
        }
        let Some(slot) = self.members.find(&id) else {
            if let Some(holder) = self.members.find_name(&id) {
                // Same name, another address. A left holder gives the name up
                // (memberlist reclaims left names); otherwise it is a conflict.
                if self.members.slot(holder).state() == Some(State::Left) {
                    self.reap(holder);
                } else {
                    self.stats.name_conflicts += 1;
                    if holder == self.my_slot && self.config.resolve_name_conflicts {
                        self.resolve_conflict(now);
                    } else {
                        self.events.push_back(Event {
                            kind: EventKind::NameConflict,
                            member: id,
                            incarnation: inc,
                        });
                    }
                    return;
                }
            }
            match self.members.insert(id, inc, State::Alive, now) {
                Ok(slot) => {
                    self.meta.set(slot, meta);
                    self.members.set_protocol(slot, protocol);
                    self.intents.reset(slot);
                    if let Some((ltime, leave)) = self.intents.take(self.members.slot(slot).id()) {
                        self.intents.apply(slot, ltime, leave);
                    }
                    self.broadcasts.enqueue(slot, EMPTY);
                    self.emit(EventKind::Joined, slot);
                }
                Err(_) => self.stats.members_rejected += 1,
            }
            return;
        };
        let s = self.members.slot(slot);
        if inc <= s.incarnation() {
            return;
        }
        let prev = s.state();
        self.members.set(slot, State::Alive, inc, now);
        self.members.set_protocol(slot, protocol);
        if prev == Some(State::Suspect) {
            self.suspicions.cancel(slot);
        }
        let stored = self.meta.get(slot);
        let changed = stored.len() != meta.len() || (!meta.is_empty() && stored != meta);
        if changed {
            self.meta.set(slot, meta);
        }
        self.broadcasts.enqueue(slot, EMPTY);
        let kind = match prev {
            Some(State::Dead | State::Left) => EventKind::Joined,
            Some(State::Suspect) => EventKind::Alive,
            _ if changed => EventKind::Updated,
            // A bare incarnation bump (a refutation elsewhere) changes nothing
            // an application sees; memberlist does not notify either.
            _ => return,
        };
        self.emit(kind, slot);
    }

    /// The slot an accusation (suspect or dead) of `id` at incarnation `inc`
    /// is about. None when it is about us (refuted, unless we are leaving),
    /// about a member we do not know, or older than what we hold.
    pub(crate) fn accused(&mut self, now: Instant, id: &I, inc: u32) -> Option<u32> {
        if *id == self.me {
            if !self.leaving {
                self.refute(now, inc);
            }
            return None;
        }
        let slot = self.members.find(id)?;
        (inc >= self.members.slot(slot).incarnation()).then_some(slot)
    }

    pub(crate) fn on_dead(&mut self, now: Instant, id: I, inc: u32, from: &I, left: bool) {
        let Some(slot) = self.accused(now, &id, inc) else {
            return;
        };
        let s = self.members.slot(slot);
        if matches!(s.state(), Some(State::Dead | State::Left) | None) {
            return;
        }
        let from_slot = if left {
            slot
        } else {
            self.members.find(from).unwrap_or(EMPTY)
        };
        if left {
            self.members.set(slot, State::Left, inc, now);
            self.suspicions.cancel(slot);
            self.broadcasts.enqueue(slot, slot);
            self.emit(EventKind::Left, slot);
        } else {
            self.members.set(slot, State::Suspect, inc, now);
            self.declare_dead(now, slot, from_slot);
        }
    }

    pub(crate) fn declare_dead(&mut self, now: Instant, slot: u32, from_slot: u32) {
        let inc = self.members.slot(slot).incarnation();
        self.members.set(slot, State::Dead, inc, now);
        self.suspicions.cancel(slot);
        self.broadcasts.enqueue(slot, from_slot);
        self.emit(EventKind::Failed, slot);
    }

    pub(crate) fn refute(&mut self, now: Instant, accused: u32) {
        // Saturating: a wrapped incarnation would lose to every record of us
        // (memberlist wraps). At the last one a refutation can no longer win,
        // but our own record never goes back.
        let inc = self.incarnation().max(accused).saturating_add(1);
        self.members.set(self.my_slot, State::Alive, inc, now);
        self.broadcasts.enqueue(self.my_slot, EMPTY);
        self.stats.refutations += 1;
        if self.config.lifeguard {
            self.awareness.apply(1);
        }
    }

    pub(crate) fn reap(&mut self, slot: u32) {
        self.coordinates.forget(slot);
        self.meta.set(slot, &[]);
        self.intents.reset(slot);
        self.emit(EventKind::Reaped, slot);
        self.broadcasts.forget(slot);
        self.suspicions.cancel(slot);
        self.members.remove(slot);
    }

    /// A member's metadata (encoded tags).
    pub fn meta_of(&self, id: &I) -> Option<&[u8]> {
        self.members.find(id).map(|s| self.meta.get(s))
    }

    /// A member's tags.
    pub fn tags_of(&self, id: &I) -> Option<Tags<'_>> {
        self.meta_of(id).map(Tags::new)
    }
}
