//! The simulator's event queue: a 4-ary min-heap on (time, sequence).
//!
//! A binary heap of 10,000 nodes' wake-ups is 14 levels deep and each pop
//! walks all of them; with every node's tables thrashing the caches, the
//! lower levels miss on every pop. Four children per node halve the depth,
//! and the four sit side by side (two cache lines), so a pop takes about
//! half the misses. The order is exactly the binary heap's: (time, sequence)
//! is unique.

use serf_core::Instant;

use super::Action;

/// One scheduled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Scheduled {
    pub at: Instant,
    pub seq: u64,
    pub action: Action,
}

impl Scheduled {
    #[inline]
    pub fn before(&self, other: &Scheduled) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

const ARITY: usize = 4;

/// Events by (time, sequence), earliest first.
#[derive(Default)]
pub(super) struct EventQueue {
    heap: Vec<Scheduled>,
}

impl EventQueue {
    /// The earliest event.
    #[inline]
    pub fn peek(&self) -> Option<&Scheduled> {
        self.heap.first()
    }

    /// Schedules `e`.
    pub fn push(&mut self, e: Scheduled) {
        let mut h = self.heap.len();
        self.heap.push(e);
        while h > 0 {
            let p = (h - 1) / ARITY;
            if !e.before(&self.heap[p]) {
                break;
            }
            self.heap[h] = self.heap[p];
            h = p;
        }
        self.heap[h] = e;
    }

    /// Takes the earliest event.
    pub fn pop(&mut self) -> Option<Scheduled> {
        let last = self.heap.pop()?;
        let Some(&top) = self.heap.first() else {
            return Some(last);
        };
        // Sift the last event down from the root's hole.
        let n = self.heap.len();
        let mut h = 0;
        loop {
            let first = ARITY * h + 1;
            if first >= n {
                break;
            }
            let mut m = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.heap[c].before(&self.heap[m]) {
                    m = c;
                }
            }
            if !self.heap[m].before(&last) {
                break;
            }
            self.heap[h] = self.heap[m];
            h = m;
        }
        self.heap[h] = last;
        Some(top)
    }

    /// Events waiting.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    #[test]
    fn events_come_out_in_the_binary_heaps_order_whatever_the_interleaving() {
        let mut rng = SimRng::new(5);
        let mut q = EventQueue::default();
        let mut reference = BinaryHeap::new();
        let mut seq = 0;
        for round in 0..20_000u64 {
            // Pushes and pops interleaved, with many equal times (ties are
            // broken by sequence).
            if rng.below(3) != 0 || reference.is_empty() {
                seq += 1;
                let at = Instant::from_millis(round / 4 + rng.below(50));
                let action = Action::Wake {
                    node: rng.below(100) as u32,
                };
                q.push(Scheduled { at, seq, action });
                reference.push(Reverse((at, seq, action)));
            } else {
                let Reverse((at, seq, action)) = reference.pop().unwrap();
                assert_eq!(q.pop(), Some(Scheduled { at, seq, action }));
            }
            assert_eq!(q.len(), reference.len());
        }
        while let Some(Reverse((at, seq, action))) = reference.pop() {
            assert_eq!(q.peek().copied(), Some(Scheduled { at, seq, action }));
            assert_eq!(q.pop(), Some(Scheduled { at, seq, action }));
        }
        assert_eq!(q.pop(), None);
    }
}
