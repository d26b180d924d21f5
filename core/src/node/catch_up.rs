//! Catching up after a join: which slot ranges of the seed's push-pull
//! answer arrived, and asking again for the ones that did not.
//!
//! A push-pull answer travels as fire-and-forget datagrams, each covering a
//! range of the sender's slots (`first..end`, the last one flagged). The
//! joiner records the ranges it got; once the answer falls quiet it asks for
//! the gaps (a lost join request is sent again instead), round after round
//! while rounds make progress. Without this a lost chunk would leave the
//! joiner blind to its members until the next periodic push-pull, 30 s or
//! more away. Periodic exchanges are not tracked: the next one repairs them.
//!
//! The sender's slots can change between the answer and a re-request (a
//! member reaped, another inserted); what that misses, gossip and the next
//! push-pull bring.

use crate::identity::Identity;
use crate::node::audit::Violation;
use crate::node::members::digest::Mask;
use crate::node::output::Transmission;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use rand_core::RngCore;

/// Disjoint received ranges kept; past that a chunk is not recorded (and so
/// asked for again, harmlessly).
pub(crate) const SPANS: usize = 16;
/// Re-request rounds in a row that may bring nothing new before giving up.
const IDLE_ROUNDS: u8 = 3;
/// Rounds at most, whatever they bring.
const MAX_ROUNDS: u8 = 32;

/// A range of the sender's slots, `first..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) first: u32,
    pub(crate) end: u32,
}

/// The join answer being tracked.
#[derive(Clone, Debug)]
struct Pull<A> {
    peer: A,
    session: u32,
    /// The join request's flags, for sending it again.
    join_flags: u8,
    /// Received ranges, sorted, disjoint and not adjacent.
    spans: [Span; SPANS],
    n: u8,
    /// Where the answer ends (from its last chunk).
    total: Option<u32>,
    deadline: Instant,
    rounds: u8,
    idle: u8,
    /// Slots covered when the last round was asked.
    covered_then: u64,
}

/// What the catch-up deadline calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Due<A> {
    /// Nothing (no answer tracked, or not yet due).
    Nothing,
    /// No answer at all: send the join request again.
    Rejoin { peer: A, session: u32, flags: u8 },
    /// Ask `peer` for the gaps.
    Resend { peer: A, session: u32 },
    /// Rounds stopped bringing anything: gaps remain.
    GaveUp,
}

/// The tracker (one join answer at a time; a newer join replaces it).
#[derive(Clone, Debug)]
pub(crate) struct CatchUp<A> {
    pull: Option<Pull<A>>,
}

impl<A: Clone + Eq> CatchUp<A> {
    pub(crate) const fn new() -> Self {
        CatchUp { pull: None }
    }

    /// Starts tracking the answer to join request `session` sent to `peer`.
    pub(crate) fn start(&mut self, peer: A, session: u32, join_flags: u8, deadline: Instant) {
        self.pull = Some(Pull {
            peer,
            session,
            join_flags,
            spans: [Span::default(); SPANS],
            n: 0,
            total: None,
            deadline,
            rounds: 0,
            idle: 0,
            covered_then: 0,
        });
    }

    /// The next deadline, if an answer is tracked.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.pull.as_ref().map(|p| p.deadline)
    }

    /// Records a chunk of `session` from `peer` covering `first..end`; the
    /// deadline moves to `quiet` (the answer is still flowing). Chunks of
    /// other exchanges are ignored.
    pub(crate) fn on_chunk(
        &mut self,
        peer: &A,
        session: u32,
        span: Span,
        last: bool,
        quiet: Instant,
    ) {
        let Some(p) = self.pull.as_mut() else {
            return;
        };
        if p.session != session || p.peer != *peer || span.first > span.end {
            return;
        }
        if last {
            p.total = Some(span.end);
        }
        if span.first < span.end {
            p.insert(span);
        }
        p.deadline = quiet;
    }

    /// Judges the tracked answer at its deadline; `retry` is the next one.
    pub(crate) fn expire(&mut self, now: Instant, retry: Instant) -> Due<A> {
        let Some(p) = self.pull.as_mut() else {
            return Due::Nothing;
        };
        if now < p.deadline {
            return Due::Nothing;
        }
        if p.n == 0 && p.total.is_none() {
            // Not a single chunk: the request (or the whole answer) was lost.
            if p.rounds >= IDLE_ROUNDS {
                self.pull = None;
                return Due::GaveUp;
            }
            p.rounds += 1;
            p.deadline = retry;
            return Due::Rejoin {
                peer: p.peer.clone(),
                session: p.session,
                flags: p.join_flags,
            };
        }
        if p.gaps().next().is_none() {
            self.pull = None;
            return Due::Nothing;
        }
        let covered = p.covered();
        if covered > p.covered_then {
            p.idle = 0;
        } else {
            p.idle += 1;
        }
        if p.idle >= IDLE_ROUNDS || p.rounds >= MAX_ROUNDS {
            self.pull = None;
            return Due::GaveUp;
        }
        p.covered_then = covered;
        p.rounds += 1;
        p.deadline = retry;
        Due::Resend {
            peer: p.peer.clone(),
            session: p.session,
        }
    }

    /// The missing ranges of the tracked answer (up to [`SPANS`] + 1).
    pub(crate) fn gaps(&self) -> impl Iterator<Item = Span> + '_ {
        self.pull.iter().flat_map(|p| p.gaps())
    }

    /// Received ranges sorted, disjoint, non-empty and within capacity.
    pub(crate) fn audit(&self) -> Result<(), Violation> {
        let Some(p) = &self.pull else {
            return Ok(());
        };
        let spans = p.spans.get(..p.n as usize).ok_or(Violation::CatchUp)?;
        let ordered = spans.windows(2).all(|w| w[0].end < w[1].first);
        if !ordered || spans.iter().any(|s| s.first >= s.end) {
            return Err(Violation::CatchUp);
        }
        Ok(())
    }
}

impl<A> Pull<A> {
    fn live(&self) -> &[Span] {
        &self.spans[..self.n as usize]
    }

    /// Adds `s`, merging it with every range it overlaps or touches.
    fn insert(&mut self, mut s: Span) {
        let n = self.n as usize;
        let i = self.live().iter().take_while(|r| r.end < s.first).count();
        let mut j = i;
        while j < n && self.spans[j].first <= s.end {
            s.first = s.first.min(self.spans[j].first);
            s.end = s.end.max(self.spans[j].end);
            j += 1;
        }
        if i == j {
            if n == SPANS {
                return;
            }
            self.spans.copy_within(i..n, i + 1);
            self.n += 1;
        } else {
            self.spans.copy_within(j..n, i + 1);
            self.n -= (j - i - 1) as u8;
        }
        self.spans[i] = s;
    }

    fn covered(&self) -> u64 {
        self.live().iter().map(|s| u64::from(s.end - s.first)).sum()
    }

    fn gaps(&self) -> impl Iterator<Item = Span> + '_ {
        let end = self.total.unwrap_or(u32::MAX);
        let mut at = 0u32;
        let mut spans = self.live().iter();
        let mut tail = true;
        core::iter::from_fn(move || loop {
            match spans.next() {
                Some(s) => {
                    let gap = Span {
                        first: at,
                        end: s.first.min(end),
                    };
                    at = at.max(s.end);
                    if gap.first < gap.end {
                        return Some(gap);
                    }
                }
                None if tail => {
                    tail = false;
                    if at < end {
                        return Some(Span { first: at, end });
                    }
                    return None;
                }
                None => return None,
            }
        })
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// The catch-up deadline: ask for the gaps, or send the join again.
    pub(crate) fn catch_up_timeout(&mut self, now: Instant) {
        let retry = now + self.config.probe_timeout;
        match self.catch_up.expire(now, retry) {
            Due::Nothing => {}
            Due::Rejoin {
                peer,
                session,
                flags,
            } => {
                self.stats.catch_up_rejoins += 1;
                self.push_pull(peer, session, flags, Mask::ALL);
            }
            Due::Resend { peer, session } => {
                self.stats.catch_up_rounds += 1;
                self.queue(Transmission::Resend { to: peer, session });
            }
            Due::GaveUp => self.stats.catch_up_abandoned += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn span(first: u32, end: u32) -> Span {
        Span { first, end }
    }

    fn tracker() -> CatchUp<u32> {
        let mut c = CatchUp::new();
        c.start(9, 77, 3, Instant::ZERO + Duration::from_secs(1));
        c
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn ranges_merge_whatever_order_they_arrive_in() {
        let mut c = tracker();
        for s in [span(20, 30), span(0, 10), span(40, 50), span(10, 20)] {
            c.on_chunk(&9, 77, s, false, at(10));
        }
        c.on_chunk(&9, 77, span(50, 60), true, at(10));
        assert_eq!(c.audit(), Ok(()));
        assert!(c.gaps().eq([span(30, 40)]));
        c.on_chunk(&9, 77, span(30, 40), false, at(10));
        assert_eq!(c.gaps().count(), 0);
        assert_eq!(c.expire(at(10), at(20)), Due::Nothing);
        assert_eq!(c.deadline(), None, "a complete answer is no longer tracked");
    }

    #[test]
    fn a_lost_last_chunk_leaves_the_tail_open() {
        let mut c = tracker();
        c.on_chunk(&9, 77, span(0, 10), false, at(10));
        assert!(c.gaps().eq([span(10, u32::MAX)]));
        assert_eq!(
            c.expire(at(10), at(20)),
            Due::Resend {
                peer: 9,
                session: 77
            }
        );
    }

    #[test]
    fn chunks_of_other_exchanges_or_peers_are_ignored() {
        let mut c = tracker();
        c.on_chunk(&9, 78, span(0, 10), true, at(10));
        c.on_chunk(&8, 77, span(0, 10), true, at(10));
        assert!(c.gaps().eq([span(0, u32::MAX)]));
    }

    #[test]
    fn no_answer_at_all_resends_the_join_then_gives_up() {
        let mut c = tracker();
        for round in 0..IDLE_ROUNDS {
            let now = at(1000 + 500 * round as u64);
            assert_eq!(
                c.expire(now, now + Duration::from_millis(500)),
                Due::Rejoin {
                    peer: 9,
                    session: 77,
                    flags: 3
                }
            );
        }
        assert_eq!(c.expire(at(9000), at(9500)), Due::GaveUp);
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn rounds_that_bring_nothing_end_in_giving_up() {
        let mut c = tracker();
        c.on_chunk(&9, 77, span(0, 10), false, at(10));
        let mut gave_up = false;
        for round in 0..10u64 {
            match c.expire(at(100 * (round + 1)), at(100 * (round + 2))) {
                Due::Resend { .. } => {}
                Due::GaveUp => {
                    gave_up = true;
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(gave_up);
    }

    #[test]
    fn more_ranges_than_kept_are_asked_for_again() {
        let mut c = tracker();
        for k in 0..(SPANS as u32 + 4) {
            c.on_chunk(&9, 77, span(k * 10, k * 10 + 5), false, at(10));
        }
        assert_eq!(c.audit(), Ok(()));
        assert_eq!(
            c.gaps().count(),
            SPANS,
            "15 between the kept ranges and the tail"
        );
        let tail = c.gaps().last();
        assert_eq!(tail, Some(span(SPANS as u32 * 10 - 5, u32::MAX)));
    }
}
