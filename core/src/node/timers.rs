//! Timers: every deadline the node keeps, named by [`Timer`]. The periodic
//! ticks live in the [`TimerTable`]; the other deadlines belong to the tables
//! that own them (the suspicion heap, the relay table, the probe in flight,
//! the sent queries) and are read from there. `poll_timeout` is the earliest
//! of them all; `handle_timeout` runs each in [`Timer::ALL`] order.

use crate::identity::Identity;
use crate::node::members::table::State;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use rand_core::RngCore;

/// A deadline of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The next probe (paused while leaving).
    Probe,
    /// The next gossip round.
    Gossip,
    /// The next periodic push-pull.
    PushPull,
    /// The next reconnect attempt to a failed member.
    Reconnect,
    /// The probe in flight's direct-ack deadline (indirect probes follow).
    IndirectProbe,
    /// The earliest suspicion timeout.
    Suspicion,
    /// The earliest relayed indirect probe's deadline (a nack follows).
    Relay,
    /// The earliest sent query's deadline.
    Query,
}

impl Timer {
    /// Every timer, in the order `handle_timeout` runs them: failures first
    /// (so a probe never targets a member that just failed), then probe
    /// deadlines, then the periodic ticks.
    pub(crate) const ALL: [Timer; 8] = [
        Timer::Suspicion,
        Timer::Relay,
        Timer::Query,
        Timer::IndirectProbe,
        Timer::Probe,
        Timer::Gossip,
        Timer::PushPull,
        Timer::Reconnect,
    ];
    /// The periodic ticks, kept in the [`TimerTable`].
    const PERIODIC: usize = 4;
}

/// When each periodic tick next runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerTable {
    at: [Instant; Timer::PERIODIC],
}

impl TimerTable {
    /// Every periodic tick due at `at`.
    pub(crate) fn new(at: [Instant; Timer::PERIODIC]) -> Self {
        TimerTable { at }
    }
    /// When periodic timer `t` runs next (`None` for the others).
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at.get(t as usize).copied()
    }
    /// Sets periodic timer `t` (the others are not kept here).
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        debug_assert!((t as usize) < Timer::PERIODIC);
        if let Some(slot) = self.at.get_mut(t as usize) {
            *slot = at;
        }
    }
    /// True if periodic timer `t` is due at `now`.
    fn due(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| now >= at)
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in Timer::ALL {
            self.fire(t, now);
        }
    }

    /// When [`Node::handle_timeout`] next has work (`None` only when there is
    /// nothing to time at all). Outbound datagrams are polled separately.
    pub fn poll_timeout(&self) -> Option<Instant> {
        Timer::ALL.iter().filter_map(|&t| self.deadline(t)).min()
    }

    /// Timer `t`'s next deadline, as `poll_timeout` reports it.
    fn deadline(&self, t: Timer) -> Option<Instant> {
        match t {
            Timer::Probe if self.leaving => None,
            Timer::Probe | Timer::Gossip | Timer::PushPull | Timer::Reconnect => self.timers.get(t),
            Timer::IndirectProbe => self.probe.timeout_at(),
            Timer::Suspicion => self.suspicions.next_deadline(),
            Timer::Relay => self.relays.next_deadline(),
            // A handful of slots, scanned.
            Timer::Query => self
                .outgoing
                .iter()
                .filter(|q| q.used)
                .map(|q| q.deadline)
                .min(),
        }
    }

    /// Runs timer `t` if it is due. The table-owned deadlines check
    /// themselves; a periodic tick runs once its time has come (the probe
    /// tick too while leaving: it still judges the probe in flight).
    fn fire(&mut self, t: Timer, now: Instant) {
        match t {
            Timer::Suspicion => {
                while let Some(slot) = self.suspicions.pop_expired(now) {
                    if self.members.slot(slot).state() == Some(State::Suspect) {
                        self.declare_dead(now, slot, self.my_slot);
                    }
                }
            }
            Timer::Relay => self.expire_relays(now),
            Timer::Query => self.expire_queries(now),
            Timer::IndirectProbe => self.probe_timeout(now),
            Timer::Probe if self.timers.due(t, now) => self.probe_tick(now),
            Timer::Gossip if self.timers.due(t, now) => self.gossip_tick(now),
            Timer::PushPull if self.timers.due(t, now) => self.push_pull_tick(now),
            Timer::Reconnect if self.timers.due(t, now) => self.reconnect_tick(now),
            Timer::Probe | Timer::Gossip | Timer::PushPull | Timer::Reconnect => {}
        }
    }
}
