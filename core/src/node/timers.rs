//! Timers: every deadline the node keeps, named by [`Timer`]. The periodic
//! ticks and the earliest sent query's deadline live in the [`TimerTable`];
//! the probe in flight, the suspicion heap and the relay table keep their own
//! deadlines, read from there. `poll_timeout` is the earliest of them all;
//! `handle_timeout` runs each in [`Timer::ALL`] order.

use crate::identity::Identity;
use crate::node::members::table::State;
use crate::node::Node;
use crate::rng::jitter;
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
    /// The earliest sent query's deadline.
    Query,
    /// The probe in flight's direct-ack deadline (indirect probes follow).
    IndirectProbe,
    /// The earliest suspicion timeout.
    Suspicion,
    /// The earliest relayed indirect probe's deadline (a nack follows).
    Relay,
    /// The join answer fell quiet: ask for its lost chunks.
    CatchUp,
}

impl Timer {
    /// Every timer, in the order `handle_timeout` runs them: failures first
    /// (so a probe never targets a member that just failed), then probe
    /// deadlines, then the periodic ticks.
    pub(crate) const ALL: [Timer; 9] = [
        Timer::Suspicion,
        Timer::Relay,
        Timer::Query,
        Timer::IndirectProbe,
        Timer::CatchUp,
        Timer::Probe,
        Timer::Gossip,
        Timer::PushPull,
        Timer::Reconnect,
    ];
    /// The periodic ticks (always set), first in the table.
    const PERIODIC: usize = 4;
    /// How many timers the [`TimerTable`] keeps.
    const KEPT: usize = 5;

    /// Where the [`TimerTable`] keeps timer `self` (`None`: another table
    /// owns that deadline).
    const fn kept(self) -> Option<usize> {
        match self {
            Timer::Probe => Some(0),
            Timer::Gossip => Some(1),
            Timer::PushPull => Some(2),
            Timer::Reconnect => Some(3),
            Timer::Query => Some(4),
            Timer::IndirectProbe | Timer::Suspicion | Timer::Relay | Timer::CatchUp => None,
        }
    }
}

/// The deadlines the node keeps itself: each periodic tick's next run and
/// the earliest sent query's deadline (`None`: no query out).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; Timer::KEPT],
}

impl TimerTable {
    /// Every periodic tick due at its time in `at`; no query out.
    pub(crate) fn new(at: [Instant; Timer::PERIODIC]) -> Self {
        let [probe, gossip, push_pull, reconnect] = at;
        TimerTable {
            at: [
                Some(probe),
                Some(gossip),
                Some(push_pull),
                Some(reconnect),
                None,
            ],
        }
    }
    /// When timer `t` runs next (`None` for those not kept here, or unset).
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t.kept()?]
    }
    /// Sets (or, with `None`, stops) timer `t`; only kept timers are stored.
    pub(crate) fn set(&mut self, t: Timer, at: impl Into<Option<Instant>>) {
        debug_assert!(t.kept().is_some(), "{t:?} is kept by its own table");
        if let Some(i) = t.kept() {
            self.at[i] = at.into();
        }
    }
    /// True if timer `t` is due at `now`.
    fn due(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| now >= at)
    }
    /// The earliest kept deadline; the probe tick (first in the table) is
    /// not counted while leaving, the gossip tick (second) not while there
    /// is nothing to gossip.
    fn earliest(&self, leaving: bool, gossip_idle: bool) -> Option<Instant> {
        let [probe, gossip, rest @ ..] = &self.at;
        let probe = if leaving { None } else { *probe };
        let gossip = if gossip_idle { None } else { *gossip };
        rest.iter().copied().fold(earlier(probe, gossip), earlier)
    }
}

/// The earlier of two optional deadlines.
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Treats the current view as long settled, as a node that has run for a
    /// while holds it: the membership news still queued for gossip is dropped
    /// (everyone has it) and the next push-pull falls at a random point of the
    /// interval for the current cluster size. For warm starts (a simulator
    /// that tells every node of every member at once); a node that really has
    /// just learned of members should gossip that news instead.
    ///
    /// ```
    /// # use serf_core::{Buffers, Config, Instant, Node, Provide, Store};
    /// # struct Heap;
    /// # impl Store for Heap { type Buf<T: 'static> = Vec<T>; }
    /// # impl Provide<Heap> for Heap {
    /// #     fn provide<T: Clone + 'static>(&mut self, n: usize, v: T) -> Vec<T> { vec![v; n] }
    /// # }
    /// # struct Rng(u64);
    /// # impl serf_core::rand_core::RngCore for Rng {
    /// #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
    /// #     fn next_u64(&mut self) -> u64 { self.0 = serf_core::mix64(self.0); self.0 }
    /// #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u32() as u8 } }
    /// # }
    /// let config = Config::lan().with_members(16);
    /// let buffers = Buffers::new(&config, &mut Heap);
    /// let mut node = Node::new(1u32, config, buffers, Rng(7), Instant::ZERO).unwrap();
    /// node.settle(Instant::ZERO);
    /// assert!(node.poll_timeout().is_some());
    /// ```
    pub fn settle(&mut self, now: Instant) {
        self.broadcasts.clear();
        let period = self.push_pull_period();
        self.timers
            .set(Timer::PushPull, now + jitter(&mut self.rng, period));
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for t in Timer::ALL {
            self.fire(t, now);
        }
    }

    /// When [`Node::handle_timeout`] next has work (`None` only when there is
    /// nothing to time at all). Outbound datagrams are polled separately.
    ///
    /// A gossip tick with nothing queued would send nothing, so it does not
    /// wake the node: an idle member wakes for its probes alone, and news
    /// queued after a skipped tick goes out at once (its tick is past due).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let kept = self
            .timers
            .earliest(self.leaving, self.pending_broadcasts() == 0);
        let owned = earlier(
            earlier(self.probe.timeout_at(), self.catch_up.deadline()),
            earlier(self.suspicions.next_deadline(), self.relays.next_deadline()),
        );
        earlier(kept, owned)
    }

    /// Runs timer `t` if it is due. The deadlines other tables own are
    /// checked there; a kept timer runs once its time has come (the probe
    /// tick too while leaving: it still judges the probe in flight).
    #[inline(always)]
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
            Timer::Query if self.timers.due(t, now) => self.expire_queries(now),
            Timer::IndirectProbe => self.probe_timeout(now),
            Timer::CatchUp => self.catch_up_timeout(now),
            Timer::Probe if self.timers.due(t, now) => self.probe_tick(now),
            Timer::Gossip if self.timers.due(t, now) => self.gossip_tick(now),
            Timer::PushPull if self.timers.due(t, now) => self.push_pull_tick(now),
            Timer::Reconnect if self.timers.due(t, now) => self.reconnect_tick(now),
            Timer::Probe | Timer::Gossip | Timer::PushPull | Timer::Reconnect | Timer::Query => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffers::Buffers;
    use crate::config::Config;
    use crate::node::query::QueryParams;
    use crate::node::Delivery;
    use crate::storage::test_support::{Heapless, TestRng};

    fn lone() -> Node<u32, Heapless, TestRng> {
        let config = Config::lan().with_members(8);
        let buffers = Buffers::new(&config, &mut Heapless);
        Node::new(1, config, buffers, TestRng(1), Instant::ZERO).unwrap()
    }

    #[test]
    fn query_deadline_wakes_the_node_and_ends_the_query() {
        let mut n = lone();
        let before = n.poll_timeout().unwrap();
        let params = QueryParams {
            timeout: Some(core::time::Duration::from_millis(50)),
            ..QueryParams::default()
        };
        let id = n.query(Instant::ZERO, "load", b"", &params).unwrap();
        let deadline = Instant::from_millis(50);
        assert_eq!(n.timers.get(Timer::Query), Some(deadline));
        assert_eq!(n.poll_timeout(), Some(before.min(deadline)));
        n.handle_timeout(deadline);
        assert_eq!(n.timers.get(Timer::Query), None, "no query out any more");
        let mut buf = [0u8; 2048];
        let mut done = false;
        while let Some(d) = n.poll_delivery(&mut buf) {
            done |= d == Delivery::QueryDone { id };
        }
        assert!(done, "the query ended at its deadline");
    }

    #[test]
    fn idle_gossip_tick_does_not_wake_the_node_but_queued_news_does() {
        let mut n = lone();
        n.settle(Instant::ZERO); // its own alive announcement is old news
        n.timers.set(Timer::Probe, Instant::from_millis(900));
        n.timers.set(Timer::Gossip, Instant::from_millis(200));
        assert_eq!(n.pending_broadcasts(), 0);
        assert_eq!(
            n.poll_timeout(),
            Some(Instant::from_millis(900)),
            "nothing to gossip"
        );
        n.user_event("deploy", b"v1", false).unwrap();
        assert_eq!(
            n.poll_timeout(),
            Some(Instant::from_millis(200)),
            "the gossip tick is due again once there is news"
        );
    }

    #[test]
    fn leaving_node_is_not_woken_for_probes() {
        let mut n = lone();
        n.timers.set(Timer::Probe, Instant::from_millis(1));
        assert_eq!(n.poll_timeout(), Some(Instant::from_millis(1)));
        n.leave(Instant::ZERO);
        assert!(n.poll_timeout() != Some(Instant::from_millis(1)));
    }
}
