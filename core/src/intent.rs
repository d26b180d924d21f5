//! Join and leave intents (Serf's member-clock messages): each member's
//! latest intent time, its "leaving" flag, and a small buffer of intents about
//! members not yet known.

use crate::clock::LamportClock;
use crate::store::Store;

/// Leaving flag in a status word (the low 63 bits hold the intent time).
const LEAVING: u64 = 1 << 63;

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
    status: S::Buf<u64>,
    pending: S::Buf<Pending<I>>,
    next: usize,
    /// The member Lamport clock.
    pub clock: LamportClock,
}

impl<I: Clone + Eq + 'static, S: Store> Intents<I, S> {
    pub(crate) fn new(mut status: S::Buf<u64>, pending: S::Buf<Pending<I>>) -> Self {
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
        self.status.get(slot as usize).map_or(0, |s| s & !LEAVING)
    }
    /// True if `slot` announced (or was forced into) a leave.
    pub fn leaving(&self, slot: u32) -> bool {
        self.status
            .get(slot as usize)
            .is_some_and(|s| s & LEAVING != 0)
    }
    /// Records an intent for `slot` if newer; returns whether it was.
    pub(crate) fn apply(&mut self, slot: u32, ltime: u64, leave: bool) -> bool {
        let Some(s) = self.status.get_mut(slot as usize) else {
            return false;
        };
        if ltime <= *s & !LEAVING {
            return false;
        }
        *s = (ltime & !LEAVING) | if leave { LEAVING } else { 0 };
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
