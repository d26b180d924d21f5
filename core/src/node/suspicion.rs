//! Lifeguard's dynamic suspicion timeout and the bounded pool of running
//! suspicions, ordered by deadline in an indexed binary heap.
//!
//! A suspicion starts at the maximum timeout and shrinks towards the minimum as
//! independent members confirm it: `max − ln(C+1)/ln(k+1) · (max − min)`.

use crate::event::EventKind;
use crate::identity::Identity;
use crate::node::members::table::State;
use crate::node::members::table::EMPTY;
use crate::node::Node;
use crate::storage::map;
use crate::storage::Store;
use crate::time::Instant;
use core::time::Duration;
use rand_core::RngCore;

/// Most confirmations tracked per suspicion.
pub const MAX_CONFIRMATIONS: usize = 8;

/// Suspicion timeout bounds for a cluster of `n` members (memberlist's
/// `suspicionTimeout`: `mult · max(1, log10(max(1, n))) · interval`, kept to ms).
///
/// ```
/// use core::time::Duration;
/// let (min, max) = serf_core::lifeguard::timeouts(4, 6, 100, Duration::from_secs(1));
/// assert_eq!(min, Duration::from_secs(8));
/// assert_eq!(max, Duration::from_secs(48));
/// ```
pub fn timeouts(mult: u32, max_mult: u32, n: u32, interval: Duration) -> (Duration, Duration) {
    let scale = libm::log10(n.max(1) as f64).max(1.0);
    let ms = (mult as f64 * scale * interval.as_millis() as f64) as u64;
    let min = Duration::from_millis(ms);
    (min, min * max_mult)
}

/// The timeout after `c` of `k` expected confirmations (floored to ms, ≥ min).
pub fn remaining(c: u32, k: u32, min: Duration, max: Duration) -> Duration {
    if k == 0 {
        return min;
    }
    let frac = libm::log((c + 1) as f64) / libm::log((k + 1) as f64);
    let span = (max - min).as_secs_f64();
    let t = max.as_secs_f64() - frac * span;
    let ms = (t * 1000.0) as u64;
    Duration::from_millis(ms).max(min)
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn ms(m: u32) -> Duration {
    Duration::from_millis(u64::from(m))
}

/// What an accusation would be to a running suspicion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Confirmation {
    /// None runs, or it has all its confirmations.
    Closed,
    /// Its accuser is counted already.
    Repeat,
    /// It would count.
    New,
}

/// One running suspicion. Entry `i` also holds heap position `i`'s pool index.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Suspicion {
    slot: u32,
    start: Instant,
    deadline: Instant,
    /// Timeout bounds in milliseconds (4 bytes each, not a 16-byte `Duration`).
    min_ms: u32,
    max_ms: u32,
    k: u8,
    n: u8,
    /// The accusers counted, by [`MemberTable::accuser_key`] (not by slot:
    /// a repeat is recognised without looking its accuser up).
    ///
    /// [`MemberTable::accuser_key`]: crate::node::members::table::MemberTable::accuser_key
    confirmers: [u32; MAX_CONFIRMATIONS],
    /// Pool index stored at heap position `self`.
    heap_item: u32,
    /// This record's position in the heap.
    heap_pos: u32,
}

/// The suspicion pool.
pub struct Suspicions<S: Store> {
    pool: S::Buf<Suspicion>,
    map: S::Buf<u64>,
    len: u32,
    /// The root's deadline (`Instant::MAX` when none runs), kept here so that
    /// the timer checks of every wake-up read no pool record.
    earliest: Instant,
    /// Suspicions that could not start because the pool was full (their members
    /// are expired by the probe walk instead).
    pub overflowed: u64,
}

impl<S: Store> Suspicions<S> {
    pub(crate) fn new(pool: S::Buf<Suspicion>, mut map: S::Buf<u64>) -> Self {
        map::clear(&mut map);
        let mut s: Self = Suspicions {
            pool,
            map,
            len: 0,
            earliest: Instant::MAX,
            overflowed: 0,
        };
        for (i, e) in s.pool.iter_mut().enumerate() {
            e.heap_pos = EMPTY;
            e.heap_item = i as u32;
        }
        s
    }

    /// Running suspicions.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// True when none runs.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    // Heap position h holds pool index item(h). Free pool records are exactly
    // those at positions >= len, so allocation takes item(len).
    fn item(&self, h: u32) -> u32 {
        self.pool[h as usize].heap_item
    }
    fn key(&self, h: u32) -> Instant {
        self.pool[self.item(h) as usize].deadline
    }
    fn swap(&mut self, a: u32, b: u32) {
        let (ia, ib) = (self.item(a), self.item(b));
        self.pool[a as usize].heap_item = ib;
        self.pool[b as usize].heap_item = ia;
        self.pool[ib as usize].heap_pos = a;
        self.pool[ia as usize].heap_pos = b;
    }
    fn up(&mut self, mut h: u32) {
        while h > 0 {
            let p = (h - 1) / 2;
            if self.key(h) >= self.key(p) {
                break;
            }
            self.swap(h, p);
            h = p;
        }
        if h == 0 {
            // Only an entry rising to the root changes it.
            self.earliest = self.key(0);
        }
    }
    fn down(&mut self, mut h: u32) {
        loop {
            let l = 2 * h + 1;
            if l >= self.len {
                break;
            }
            let r = l + 1;
            let m = if r < self.len && self.key(r) < self.key(l) {
                r
            } else {
                l
            };
            if self.key(m) >= self.key(h) {
                break;
            }
            self.swap(h, m);
            h = m;
        }
    }
    fn remove_at(&mut self, h: u32) -> u32 {
        let item = self.item(h);
        let last = self.len - 1;
        self.swap(h, last);
        self.len -= 1;
        self.pool[item as usize].heap_pos = EMPTY;
        if h < self.len {
            self.down(h);
            self.up(h);
        }
        if self.len == 0 {
            // (Otherwise `up` above kept it: only an entry at the root changes it.)
            self.earliest = Instant::MAX;
        }
        map::remove(&mut self.map, self.pool[item as usize].slot);
        item
    }

    /// Starts a suspicion of member `slot` accused by the accuser keyed
    /// `from` ([`EMPTY`]: none counted). Returns false when
    /// the pool is full (counted).
    pub(crate) fn start(
        &mut self,
        slot: u32,
        from: u32,
        now: Instant,
        min: Duration,
        max: Duration,
        k: u32,
    ) -> bool {
        if map::get(&self.map, slot).is_some() {
            return true;
        }
        if self.len as usize >= self.pool.len() {
            self.overflowed += 1;
            return false;
        }
        let h = self.len;
        let item = self.item(h);
        let k = k.min(MAX_CONFIRMATIONS as u32);
        let timeout = if k == 0 { min } else { max };
        let mut confirmers = [EMPTY; MAX_CONFIRMATIONS];
        confirmers[0] = from;
        self.pool[item as usize] = Suspicion {
            slot,
            start: now,
            deadline: now + timeout,
            min_ms: millis(min),
            max_ms: millis(max),
            k: k as u8,
            n: 0,
            confirmers,
            heap_item: self.pool[item as usize].heap_item,
            heap_pos: h,
        };
        self.len += 1;
        self.up(h);
        map::insert(&mut self.map, slot, item);
        true
    }

    /// What an accusation of `slot` by the accuser keyed `from` would be to
    /// its suspicion (lets the caller skip looking the accuser up for the
    /// many repeats).
    pub(crate) fn confirmation(&self, slot: u32, from: u32) -> Confirmation {
        let Some(item) = map::get(&self.map, slot) else {
            return Confirmation::Closed;
        };
        let s = &self.pool[item as usize];
        if s.n >= s.k {
            Confirmation::Closed
        } else if s.confirmers[..(s.n as usize + 1).min(MAX_CONFIRMATIONS)].contains(&from) {
            Confirmation::Repeat
        } else {
            Confirmation::New
        }
    }

    /// Counts an independent confirmation from the accuser keyed `from`;
    /// returns true if it was new (the caller re-gossips it). The deadline
    /// shrinks accordingly.
    pub(crate) fn confirm(&mut self, slot: u32, from: u32) -> bool {
        let Some(item) = map::get(&self.map, slot) else {
            return false;
        };
        let s = &mut self.pool[item as usize];
        if from == EMPTY || s.n >= s.k {
            return false;
        }
        let seen = (s.n as usize + 1).min(MAX_CONFIRMATIONS);
        if s.confirmers[..seen].contains(&from) {
            return false;
        }
        s.n += 1;
        if (s.n as usize) < MAX_CONFIRMATIONS {
            s.confirmers[s.n as usize] = from;
        }
        let (min, max) = (ms(s.min_ms), ms(s.max_ms));
        let t = remaining(s.n as u32, s.k as u32, min, max);
        s.deadline = s.start + t;
        let h = s.heap_pos;
        self.up(h);
        true
    }

    /// Stops the suspicion of `slot` (refuted, or the member's state moved on).
    pub(crate) fn cancel(&mut self, slot: u32) {
        if let Some(item) = map::get(&self.map, slot) {
            let h = self.pool[item as usize].heap_pos;
            self.remove_at(h);
        }
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        debug_assert!(self.len == 0 || self.earliest == self.key(0));
        (self.len > 0).then_some(self.earliest)
    }

    /// Pops a suspicion whose deadline has passed, returning its member slot.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<u32> {
        debug_assert!(self.len == 0 || self.earliest == self.key(0));
        if self.len == 0 || self.earliest > now {
            return None;
        }
        let item = self.remove_at(0);
        Some(self.pool[item as usize].slot)
    }

    /// Confirmations counted so far for `slot`.
    pub fn confirmations(&self, slot: u32) -> Option<u32> {
        map::get(&self.map, slot).map(|i| self.pool[i as usize].n as u32)
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    pub(crate) fn on_suspect(&mut self, now: Instant, id: I, inc: u32, from: &I) {
        let Some(slot) = self.accused(now, &id, inc) else {
            return;
        };
        let s = self.members.slot(slot);
        let state = s.state();
        let news = match state {
            Some(State::Alive) => true,
            // Most repeats of a rumour reach a suspicion that already has all
            // its confirmations. The slot remembers that, so they cost neither
            // the suspicion's lookup nor the accuser's; a repeat of a counted
            // accuser costs no accuser lookup either.
            Some(State::Suspect) if self.config.lifeguard && !s.settled() => {
                let key = self.members.accuser_key(from);
                match self.suspicions.confirmation(slot, key) {
                    Confirmation::Closed => {
                        self.members.settle(slot);
                        false
                    }
                    Confirmation::Repeat => false,
                    Confirmation::New => true,
                }
            }
            // Old news about a dead or left member.
            _ => false,
        };
        if !news {
            return;
        }
        let from_slot = if *from == self.me {
            self.my_slot
        } else {
            self.members.find(from).unwrap_or(EMPTY)
        };
        match state {
            // Independent confirmations (from members we know) shorten the
            // timeout and are re-gossiped.
            Some(State::Suspect)
                if from_slot != EMPTY
                    && self
                        .suspicions
                        .confirm(slot, self.members.accuser_key(from)) =>
            {
                self.broadcasts.enqueue(slot, from_slot);
            }
            Some(State::Alive) => self.start_suspicion(now, slot, inc, from_slot),
            _ => {}
        }
    }

    pub(crate) fn start_suspicion(&mut self, now: Instant, slot: u32, inc: u32, from_slot: u32) {
        self.members.set(slot, State::Suspect, inc, now);
        let n = self.cluster_size();
        let c = &self.config;
        let (min, max) = timeouts(
            c.suspicion_mult,
            c.suspicion_max_timeout_mult,
            n,
            c.probe_interval,
        );
        let (max, k) = if c.lifeguard {
            let k = c.suspicion_mult.saturating_sub(2);
            (max, if n.saturating_sub(2) < k { 0 } else { k })
        } else {
            (min, 0)
        };
        let from = match from_slot {
            EMPTY => EMPTY,
            s => self.members.accuser_key(self.members.slot(s).id()),
        };
        self.suspicions.start(slot, from, now, min, max, k);
        self.broadcasts.enqueue(slot, from_slot);
        self.emit(EventKind::Suspect, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_shrink_the_timeout_logarithmically() {
        use core::time::Duration;
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        assert_eq!(remaining(0, 2, min, max), max);
        assert_eq!(remaining(1, 2, min, max), Duration::from_millis(11381));
        assert_eq!(remaining(2, 2, min, max), min);
    }
    use crate::storage::test_support::Heapless;

    fn pool(n: usize) -> Suspicions<Heapless> {
        Suspicions::new(
            Heapless::buf(n, Suspicion::default()),
            Heapless::buf(n * 2, 0),
        )
    }

    #[test]
    fn suspicion_timeout_shrinks_with_independent_confirmations() {
        let mut p = pool(4);
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        assert!(p.start(10, 1, Instant::ZERO, min, max, 2));
        assert_eq!(p.next_deadline(), Some(Instant::from_secs(24)));
        assert!(!p.confirm(10, 1), "the accuser does not confirm itself");
        assert!(p.confirm(10, 2));
        assert!(!p.confirm(10, 2), "duplicates do not count");
        assert_eq!(p.next_deadline(), Some(Instant::from_millis(11381)));
        assert!(p.confirm(10, 3));
        assert_eq!(p.next_deadline(), Some(Instant::from_secs(4)));
        assert!(!p.confirm(10, 4), "ignored once k is reached");
    }

    #[test]
    fn expiries_pop_in_deadline_order_and_cancel_removes() {
        let mut p = pool(8);
        let s = Duration::from_secs;
        for (slot, d) in [(1u32, 30u64), (2, 10), (3, 20), (4, 5)] {
            assert!(p.start(slot, EMPTY, Instant::ZERO, s(d), s(d), 0));
        }
        p.cancel(3);
        assert!(p.pop_expired(Instant::from_secs(4)).is_none());
        let mut order = [0u32; 3];
        for o in order.iter_mut() {
            *o = p.pop_expired(Instant::from_secs(100)).unwrap();
        }
        assert_eq!(order, [4, 2, 1]);
        assert!(p.is_empty());
        assert!(p.start(9, EMPTY, Instant::ZERO, s(1), s(1), 0));
        assert_eq!(p.pop_expired(Instant::from_secs(1)), Some(9));
    }

    #[test]
    fn cancelling_the_earliest_suspicion_moves_the_deadline_to_the_next() {
        let mut p = pool(4);
        let s = Duration::from_secs;
        assert!(p.start(1, EMPTY, Instant::ZERO, s(20), s(20), 0));
        assert!(p.start(2, EMPTY, Instant::ZERO, s(5), s(5), 0));
        assert_eq!(p.next_deadline(), Some(Instant::from_secs(5)));
        p.cancel(2);
        assert_eq!(p.next_deadline(), Some(Instant::from_secs(20)));
        assert!(p.pop_expired(Instant::from_secs(19)).is_none());
        p.cancel(1);
        assert_eq!(p.next_deadline(), None);
    }

    #[test]
    fn a_counted_accuser_is_a_repeat_and_a_suspicion_with_all_its_confirmations_is_closed() {
        let mut p = pool(4);
        let (min, max) = (Duration::from_secs(4), Duration::from_secs(24));
        assert_eq!(p.confirmation(10, 1), Confirmation::Closed, "none runs");
        assert!(p.start(10, 1, Instant::ZERO, min, max, 1));
        assert_eq!(p.confirmation(10, 1), Confirmation::Repeat, "the accuser");
        assert_eq!(p.confirmation(10, 2), Confirmation::New);
        assert!(p.confirm(10, 2));
        assert_eq!(p.confirmation(10, 3), Confirmation::Closed, "k = 1 reached");
    }

    #[test]
    fn full_pool_refuses_and_counts() {
        let mut p = pool(1);
        let s = Duration::from_secs(1);
        assert!(p.start(1, EMPTY, Instant::ZERO, s, s, 0));
        assert!(!p.start(2, EMPTY, Instant::ZERO, s, s, 0));
        assert_eq!(p.overflowed, 1);
    }
}
