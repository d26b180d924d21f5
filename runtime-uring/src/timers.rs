//! Every member's next deadline in one min-heap, so the ring waits exactly
//! until the earliest. A member's deadline moves after nearly every event;
//! instead of finding and moving its entry, a new one is pushed and the old
//! one goes stale (the member slot remembers which deadline is current).
//! Stale entries are skipped when they surface and purged in place when
//! they outnumber the members.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// A deadline for member slot `slot` of generation `gen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Due {
    pub(crate) at: Instant,
    pub(crate) slot: u32,
    pub(crate) gen: u32,
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Timers {
    pub(crate) fn with_capacity(n: usize) -> Timers {
        Timers {
            heap: BinaryHeap::with_capacity(n),
        }
    }

    pub(crate) fn push(&mut self, d: Due) {
        self.heap.push(Reverse(d));
    }

    /// The earliest deadline (perhaps a stale one: waking early is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    /// The earliest entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse(d)) if d.at <= now => self.heap.pop().map(|Reverse(d)| d),
            _ => None,
        }
    }

    /// Drops stale entries once there are more than `limit`, keeping the
    /// heap's memory bounded without allocating.
    pub(crate) fn purge(&mut self, limit: usize, current: impl Fn(&Due) -> bool) {
        if self.heap.len() > limit {
            self.heap.retain(|Reverse(d)| current(d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_deadline_surfaces_first_and_stale_ones_are_purged() {
        let t0 = Instant::now();
        let mut t = Timers::with_capacity(4);
        let at = |ms| t0 + Duration::from_millis(ms);
        t.push(Due {
            at: at(30),
            slot: 1,
            gen: 0,
        });
        t.push(Due {
            at: at(10),
            slot: 2,
            gen: 0,
        });
        t.push(Due {
            at: at(20),
            slot: 1,
            gen: 0,
        }); // slot 1 moved earlier
        assert_eq!(t.next(), Some(at(10)));
        assert_eq!(t.pop_due(at(5)), None);
        assert_eq!(t.pop_due(at(15)).map(|d| d.slot), Some(2));
        // Only slot 1's 20 ms entry is current.
        t.purge(1, |d| d.slot == 1 && d.at == at(20));
        assert_eq!(t.heap.len(), 1);
        assert_eq!(t.next(), Some(at(20)));
    }
}
