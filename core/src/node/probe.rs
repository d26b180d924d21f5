//! The failure detector's probe cycle (ping → indirect pings → suspect) and the
//! indirect probes this node relays for others.

use crate::identity::Identity;
use crate::node::members::table::{State, EMPTY};
use crate::node::output::Transmission;
use crate::node::timers::Timer;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::CoordBytes;
use rand_core::RngCore;

/// The probe in flight, if any. One probe runs per probe interval.
#[derive(Clone, Debug, Default)]
pub enum Probe<I> {
    /// Nothing in flight.
    #[default]
    Idle,
    /// Waiting for an ack.
    Waiting(InFlight<I>),
}

/// A probe awaiting its ack.
#[derive(Clone, Debug)]
pub struct InFlight<I> {
    target: I,
    seq: u32,
    sent: Instant,
    timeout_at: Instant,
    indirect: bool,
    acked: bool,
    expected_nacks: u32,
    nacks: u32,
}

/// A probe that ended without an ack.
#[derive(Clone, Debug)]
pub struct Failed<I> {
    /// Probed member.
    pub target: I,
    /// Nacks we asked for.
    pub expected_nacks: u32,
    /// Nacks that arrived.
    pub nacks: u32,
}

impl<I> Probe<I> {
    /// A probe of `target` sent at `sent`; indirect probes go out at
    /// `timeout_at`, and it is judged at the next probe tick.
    pub fn start(target: I, seq: u32, sent: Instant, timeout_at: Instant) -> Self {
        Probe::Waiting(InFlight {
            target,
            seq,
            sent,
            timeout_at,
            indirect: false,
            acked: false,
            expected_nacks: 0,
            nacks: 0,
        })
    }

    /// The direct-ack deadline, while it matters.
    pub fn timeout_at(&self) -> Option<Instant> {
        match self {
            Probe::Waiting(p) if !p.acked && !p.indirect => Some(p.timeout_at),
            _ => None,
        }
    }

    /// Records an ack for `seq`; returns the round-trip time if it matched.
    pub fn acked(&mut self, seq: u32, now: Instant) -> Option<core::time::Duration> {
        match self {
            Probe::Waiting(p) if p.seq == seq && !p.acked => {
                p.acked = true;
                Some(now.saturating_since(p.sent))
            }
            _ => None,
        }
    }

    /// Records a nack for `seq`.
    pub fn nacked(&mut self, seq: u32) {
        if let Probe::Waiting(p) = self {
            if p.seq == seq && !p.acked {
                p.nacks += 1;
            }
        }
    }

    /// The target, if the direct ack is overdue and no indirect probe went out yet.
    pub fn due_for_indirect(&self, now: Instant) -> Option<&I> {
        match self {
            Probe::Waiting(p) if !p.acked && !p.indirect && now >= p.timeout_at => Some(&p.target),
            _ => None,
        }
    }

    /// Marks the indirect probes as sent, expecting `nacks` nacks.
    pub fn indirect_sent(&mut self, nacks: u32) {
        if let Probe::Waiting(p) = self {
            p.indirect = true;
            p.expected_nacks = nacks;
        }
    }

    /// The member being probed.
    pub fn target(&self) -> Option<&I> {
        match self {
            Probe::Waiting(p) => Some(&p.target),
            Probe::Idle => None,
        }
    }

    /// The probe's sequence number (0 when idle).
    pub fn seq(&self) -> u32 {
        match self {
            Probe::Waiting(p) => p.seq,
            Probe::Idle => 0,
        }
    }

    /// Ends the probe; returns it if it failed.
    pub fn finish(&mut self) -> Option<Failed<I>> {
        match core::mem::take(self) {
            Probe::Waiting(p) if !p.acked => Some(Failed {
                target: p.target,
                expected_nacks: p.expected_nacks,
                nacks: p.nacks,
            }),
            _ => None,
        }
    }
}

/// An indirect probe this node performs for another member.
#[derive(Clone, Debug, PartialEq)]
pub struct Relay<I: Identity> {
    /// Who asked.
    pub requester: I::Addr,
    /// Their sequence number (echoed in the forwarded ack or the nack).
    pub their_seq: u32,
    /// Our ping's sequence number.
    pub our_seq: u32,
    /// Send a nack at the deadline if no ack came.
    pub nack: bool,
    /// When to give up.
    pub deadline: Instant,
}

/// Relays in flight (a small fixed table; scanned, it holds a handful).
pub struct Relays<I: Identity, S: Store> {
    slots: S::Buf<Option<Relay<I>>>,
    /// The earliest deadline (`Instant::MAX` when none is in flight), kept
    /// here so that the timer checks of every wake-up scan no table.
    earliest: Instant,
    /// Requests refused because the table was full.
    pub dropped: u64,
}

impl<I: Identity, S: Store> Relays<I, S> {
    pub(crate) fn new(mut slots: S::Buf<Option<Relay<I>>>) -> Self {
        for s in slots.iter_mut() {
            *s = None;
        }
        Relays {
            slots,
            earliest: Instant::MAX,
            dropped: 0,
        }
    }
    fn refresh(&mut self) {
        let earliest = self.slots.iter().flatten().map(|r| r.deadline).min();
        self.earliest = earliest.unwrap_or(Instant::MAX);
    }
    pub(crate) fn insert(&mut self, r: Relay<I>) {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(s) => {
                self.earliest = self.earliest.min(r.deadline);
                *s = Some(r);
            }
            None => self.dropped += 1,
        }
    }
    pub(crate) fn take(&mut self, our_seq: u32) -> Option<Relay<I>> {
        let r = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Some(r) if r.our_seq == our_seq))
            .and_then(Option::take);
        if r.is_some() {
            self.refresh();
        }
        r
    }
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Relay<I>> {
        if self.earliest > now {
            return None;
        }
        let r = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Some(r) if r.deadline <= now))
            .and_then(Option::take);
        self.refresh();
        r
    }
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        (self.earliest != Instant::MAX).then_some(self.earliest)
    }
}

/// Slots inspected per probe tick while looking for a probe target.
pub(crate) const WALK_LIMIT: usize = 32;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// A ping: ack it if it is for us (with our coordinate).
    #[inline]
    pub(crate) fn on_ping(&mut self, from: &I::Addr, seq: u32, target: I) {
        if target == self.me {
            self.queue(Transmission::Ack {
                to: from.clone(),
                seq,
                coord: true,
            });
        } else {
            self.stats.misdirected += 1;
        }
    }

    /// Someone asks us to probe `target` for it: ping it under our own
    /// sequence number and remember whom to answer.
    #[inline]
    pub(crate) fn on_indirect_ping(
        &mut self,
        now: Instant,
        from: &I::Addr,
        seq: u32,
        target: I,
        nack: bool,
    ) {
        let ours = self.next_seq();
        let deadline = now + self.config.probe_timeout;
        self.relays.insert(Relay {
            requester: from.clone(),
            their_seq: seq,
            our_seq: ours,
            nack,
            deadline,
        });
        self.queue(Transmission::Ping {
            target,
            seq: ours,
            suspect: None,
        });
    }

    /// An ack: for our probe (health score, RTT and coordinate) or for one
    /// we relay (forwarded without a coordinate: its RTT spans two hops).
    #[inline]
    pub(crate) fn on_ack(&mut self, now: Instant, seq: u32, coord: Option<CoordBytes<'_>>) {
        if let Some(rtt) = self.probe.acked(seq, now) {
            self.awareness.apply(-1);
            if let (true, Some(bytes)) = (self.config.coordinates, coord) {
                match bytes.decode() {
                    Some(c) => self.observe_coordinate(rtt, &c),
                    None => self.stats.decode_errors += 1,
                }
            }
        } else if let Some(r) = self.relays.take(seq) {
            self.queue(Transmission::Ack {
                to: r.requester,
                seq: r.their_seq,
                coord: false,
            });
        }
    }

    pub(crate) fn probe_tick(&mut self, now: Instant) {
        if let Some(failed) = self.probe.finish() {
            self.stats.probe_failures += 1;
            if self.config.lifeguard {
                let delta = if failed.expected_nacks > 0 {
                    failed.expected_nacks.saturating_sub(failed.nacks) as i32
                } else {
                    1
                };
                self.awareness.apply(delta);
            }
            if let Some(slot) = self.members.find(&failed.target) {
                let s = self.members.slot(slot);
                match s.state() {
                    Some(State::Alive) => {
                        let inc = s.incarnation();
                        self.start_suspicion(now, slot, inc, self.my_slot);
                    }
                    // Already suspected by someone else: our own failed probe
                    // is an independent confirmation (memberlist's
                    // suspectNode from ourselves), gossiped on.
                    Some(State::Suspect)
                        if self.config.lifeguard
                            && self
                                .suspicions
                                .confirm(slot, self.members.accuser_key(&self.me)) =>
                    {
                        self.broadcasts.enqueue(slot, self.my_slot);
                    }
                    _ => {}
                }
            }
        }
        let interval = if self.config.lifeguard {
            self.awareness.scale(self.config.probe_interval)
        } else {
            self.config.probe_interval
        };
        self.timers.set(Timer::Probe, now + interval);
        if self.leaving {
            return;
        }
        for _ in 0..WALK_LIMIT {
            let Some(slot) = self.members.walk_next(&mut self.rng) else {
                return;
            };
            if slot == self.my_slot {
                continue;
            }
            let s = self.members.slot(slot);
            match s.state() {
                Some(State::Alive) => {}
                Some(State::Suspect) => {
                    // Suspicions that found no room in the pool expire here.
                    let (_, max) = crate::node::suspicion::timeouts(
                        self.config.suspicion_mult,
                        self.config.suspicion_max_timeout_mult,
                        self.cluster_size(),
                        self.config.probe_interval,
                    );
                    if self.suspicions.confirmations(slot).is_none()
                        && self.members.age(slot, now) > max
                    {
                        self.declare_dead(now, slot, self.my_slot);
                        continue;
                    }
                }
                Some(State::Dead) => {
                    if self.members.age(slot, now) > self.config.dead_reap_timeout {
                        self.reap(slot);
                    }
                    continue;
                }
                Some(State::Left) => {
                    if self.members.age(slot, now) > self.config.left_reap_timeout {
                        self.reap(slot);
                    }
                    continue;
                }
                None => continue,
            }
            let s = self.members.slot(slot);
            let target = s.id().clone();
            let suspect = (self.config.lifeguard && s.state() == Some(State::Suspect))
                .then_some(s.incarnation());
            let seq = self.next_seq();
            self.probe = Probe::start(target.clone(), seq, now, now + self.config.probe_timeout);
            self.stats.probes += 1;
            self.queue(Transmission::Ping {
                target,
                seq,
                suspect,
            });
            return;
        }
    }

    pub(crate) fn probe_timeout(&mut self, now: Instant) {
        let Some(target) = self.probe.due_for_indirect(now) else {
            return;
        };
        let target = target.clone();
        let mut picked = [EMPTY; 8];
        let target_slot = self.members.find(&target).unwrap_or(EMPTY);
        let n = self.random_members(
            &mut picked,
            self.config.indirect_checks,
            target_slot,
            |node, s| node.members.slot(s).state() == Some(State::Alive),
        );
        let nack = self.config.lifeguard;
        let seq = self.probe.seq();
        for &s in &picked[..n] {
            let via = self.members.slot(s).id().clone();
            self.queue(Transmission::IndirectPing {
                via,
                target: target.clone(),
                seq,
                nack,
            });
        }
        self.probe.indirect_sent(if nack { n as u32 } else { 0 });
    }

    pub(crate) fn expire_relays(&mut self, now: Instant) {
        while let Some(r) = self.relays.pop_expired(now) {
            if r.nack {
                self.queue(Transmission::Nack {
                    to: r.requester,
                    seq: r.their_seq,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::Heapless;

    fn relay(our_seq: u32, secs: u64) -> Relay<u32> {
        Relay {
            requester: 9,
            their_seq: our_seq + 100,
            our_seq,
            nack: true,
            deadline: Instant::from_secs(secs),
        }
    }

    #[test]
    fn relay_deadline_is_the_earliest_in_flight_through_acks_and_expiries() {
        let mut r = Relays::<u32, Heapless>::new(Heapless::buf(2, None));
        assert_eq!(r.next_deadline(), None);
        r.insert(relay(1, 5));
        r.insert(relay(2, 3));
        r.insert(relay(3, 1));
        assert_eq!(r.dropped, 1, "the table holds two");
        assert_eq!(r.next_deadline(), Some(Instant::from_secs(3)));
        assert_eq!(r.take(2).map(|x| x.our_seq), Some(2), "acked");
        assert_eq!(r.next_deadline(), Some(Instant::from_secs(5)));
        assert!(r.pop_expired(Instant::from_secs(4)).is_none());
        assert_eq!(
            r.pop_expired(Instant::from_secs(5)).map(|x| x.our_seq),
            Some(1)
        );
        assert_eq!(r.next_deadline(), None);
    }
}
