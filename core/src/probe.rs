//! The failure detector's probe cycle (ping → indirect pings → suspect) and the
//! indirect probes this node relays for others.

use crate::identity::Identity;
use crate::store::Store;
use crate::time::Instant;

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
    end_at: Instant,
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
    /// `timeout_at`, and it is judged at `end_at`.
    pub fn start(target: I, seq: u32, sent: Instant, timeout_at: Instant, end_at: Instant) -> Self {
        Probe::Waiting(InFlight {
            target,
            seq,
            sent,
            timeout_at,
            end_at,
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

    /// When the probe is judged.
    pub fn end_at(&self) -> Option<Instant> {
        match self {
            Probe::Waiting(p) => Some(p.end_at),
            Probe::Idle => None,
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
    /// Requests refused because the table was full.
    pub dropped: u64,
}

impl<I: Identity, S: Store> Relays<I, S> {
    pub(crate) fn new(mut slots: S::Buf<Option<Relay<I>>>) -> Self {
        for s in slots.iter_mut() {
            *s = None;
        }
        Relays { slots, dropped: 0 }
    }
    pub(crate) fn insert(&mut self, r: Relay<I>) {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(s) => *s = Some(r),
            None => self.dropped += 1,
        }
    }
    pub(crate) fn take(&mut self, our_seq: u32) -> Option<Relay<I>> {
        self.slots
            .iter_mut()
            .find(|s| matches!(s, Some(r) if r.our_seq == our_seq))
            .and_then(Option::take)
    }
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Relay<I>> {
        self.slots
            .iter_mut()
            .find(|s| matches!(s, Some(r) if r.deadline <= now))
            .and_then(Option::take)
    }
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|r| r.deadline).min()
    }
}
