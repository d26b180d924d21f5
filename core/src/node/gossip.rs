//! Transmit-limited broadcast queues.
//!
//! Entries sit in buckets by transmit count, so "fewest sent first" and "drop the
//! most sent when full" are O(1) (a bitmask of non-empty buckets). Within a
//! bucket the newest comes first, as memberlist orders equal counts.
//! Membership broadcasts are keyed by member slot: a newer message about a member
//! replaces the queued one (the message is encoded from the member's current
//! record at send time, so no bytes are stored). User broadcasts keep their
//! payload in a fixed slot (`storage::slots`).

use crate::identity::Identity;
use crate::node::audit::Violation;
use crate::node::members::table::State;
use crate::node::members::table::EMPTY;
use crate::node::output::Transmission;
use crate::node::timers::Timer;
use crate::node::Node;
use crate::storage::slots::Slots;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::encode_message;
use crate::wire::Message;
use rand_core::RngCore;

/// Transmit-count buckets; retransmit limits are clamped below this.
pub const BUCKETS: usize = 64;

/// A queued broadcast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    prev: u32,
    next: u32,
    /// Member slot (membership queue) or unused (user queue).
    pub(crate) subject: u32,
    /// Accuser slot for suspect / dead messages (`EMPTY` = this node).
    pub(crate) from: u32,
    transmits: u8,
    used: bool,
}

/// Counters a queue keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries dropped because the queue was full.
    pub dropped: u64,
    /// Entries queued.
    pub queued: u64,
}

/// The bucketed list structure shared by both queues.
pub struct Queue<S: Store> {
    entries: S::Buf<Entry>,
    heads: [u32; BUCKETS],
    tails: [u32; BUCKETS],
    nonempty: u64,
    free: u32,
    len: u32,
    /// Counters.
    pub stats: QueueStats,
}

impl<S: Store> Queue<S> {
    pub(crate) fn new(entries: S::Buf<Entry>) -> Self {
        let mut q = Queue {
            entries,
            heads: [EMPTY; BUCKETS],
            tails: [EMPTY; BUCKETS],
            nonempty: 0,
            free: EMPTY,
            len: 0,
            stats: QueueStats::default(),
        };
        q.clear();
        q
    }

    /// Drops every queued entry (not counted as dropped: nothing was lost
    /// that the caller did not mean to drop).
    pub(crate) fn clear(&mut self) {
        let n = self.entries.len();
        for (i, e) in self.entries.iter_mut().enumerate() {
            *e = Entry {
                next: if i + 1 < n { i as u32 + 1 } else { EMPTY },
                ..Entry::default()
            };
        }
        self.heads = [EMPTY; BUCKETS];
        self.tails = [EMPTY; BUCKETS];
        self.nonempty = 0;
        self.free = if n > 0 { 0 } else { EMPTY };
        self.len = 0;
    }

    /// True when nothing is queued.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Queued entries.
    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub(crate) fn entry(&self, e: u32) -> &Entry {
        &self.entries[e as usize]
    }
    pub(crate) fn entry_mut(&mut self, e: u32) -> &mut Entry {
        &mut self.entries[e as usize]
    }

    #[inline(always)]
    fn link(&mut self, e: u32, bucket: usize) {
        let head = self.heads[bucket];
        {
            let en = &mut self.entries[e as usize];
            en.prev = EMPTY;
            en.next = head;
            en.transmits = bucket as u8;
        }
        if head != EMPTY {
            self.entries[head as usize].prev = e;
        } else {
            self.tails[bucket] = e;
        }
        self.heads[bucket] = e;
        self.nonempty |= 1 << bucket;
    }

    #[inline(always)]
    fn unlink(&mut self, e: u32) {
        let Entry {
            prev,
            next,
            transmits,
            ..
        } = self.entries[e as usize];
        let bucket = transmits as usize;
        if prev == EMPTY {
            self.heads[bucket] = next;
            if next == EMPTY {
                self.nonempty &= !(1 << bucket);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != EMPTY {
            self.entries[next as usize].prev = prev;
        } else {
            self.tails[bucket] = prev;
        }
    }

    /// Takes a free entry, dropping the most-transmitted one (the oldest among
    /// equals, as memberlist prunes) if the queue is full.
    /// Returns the new entry and the dropped one (whose key the caller unmaps).
    #[inline(always)]
    fn alloc(&mut self) -> Option<(u32, Option<u32>)> {
        let mut dropped = None;
        if self.free == EMPTY {
            if self.nonempty == 0 {
                return None; // zero capacity
            }
            let bucket = 63 - self.nonempty.leading_zeros() as usize;
            let victim = self.tails[bucket];
            self.release(victim);
            self.stats.dropped += 1;
            dropped = Some(victim);
        }
        let e = self.free;
        self.free = self.entries[e as usize].next;
        self.entries[e as usize].used = true;
        self.len += 1;
        self.stats.queued += 1;
        self.link(e, 0);
        Some((e, dropped))
    }

    /// Unlinks and frees an entry.
    #[inline(always)]
    pub(crate) fn release(&mut self, e: u32) {
        if !self.entries[e as usize].used {
            return;
        }
        self.unlink(e);
        let en = &mut self.entries[e as usize];
        en.used = false;
        en.next = self.free;
        self.free = e;
        self.len -= 1;
    }

    /// Resets an entry's transmit count to zero (a newer message replaced it).
    fn renew(&mut self, e: u32) {
        self.unlink(e);
        self.link(e, 0);
    }

    /// Records one more transmission; frees the entry once it reaches `limit`.
    /// Returns true if the entry was freed.
    pub(crate) fn sent(&mut self, e: u32, limit: u32) -> bool {
        let t = self.entries[e as usize].transmits as u32 + 1;
        if t >= limit.clamp(1, BUCKETS as u32 - 1) {
            self.release(e);
            true
        } else {
            self.unlink(e);
            self.link(e, t as usize);
            false
        }
    }

    /// Starts a walk in fewest-transmitted-first order.
    pub(crate) fn cursor(&self) -> Cursor {
        let mut c = Cursor {
            bucket: 0,
            entry: EMPTY,
        };
        c.seek(self, 0);
        c
    }
}

impl<S: Store> Queue<S> {
    /// Checks the bucket lists against the counters: every linked entry is
    /// used and in the bucket of its transmit count, below `max_transmits`;
    /// the lists and the free list together hold every entry once.
    pub(crate) fn audit(&self, max_transmits: u32) -> Result<(), Violation> {
        let mut linked = 0usize;
        for bucket in 0..BUCKETS {
            let mut e = self.heads[bucket];
            if (e == EMPTY) == (self.nonempty & (1 << bucket) != 0) {
                return Err(Violation::Queue("bucket mask disagrees with its list"));
            }
            let mut prev = EMPTY;
            while e != EMPTY {
                let en = self
                    .entries
                    .get(e as usize)
                    .ok_or(Violation::Queue("link out of range"))?;
                if !en.used || en.transmits as usize != bucket || en.prev != prev {
                    return Err(Violation::Queue("entry linked in the wrong place"));
                }
                if u32::from(en.transmits) >= max_transmits {
                    return Err(Violation::TransmitLimit);
                }
                linked += 1;
                if linked > self.entries.len() {
                    return Err(Violation::Queue("list loops"));
                }
                prev = e;
                e = en.next;
            }
            if self.tails[bucket] != prev {
                return Err(Violation::Queue("tail is not the last entry"));
            }
        }
        let mut free = 0usize;
        let mut e = self.free;
        while e != EMPTY {
            let en = self
                .entries
                .get(e as usize)
                .ok_or(Violation::Queue("free link out of range"))?;
            if en.used {
                return Err(Violation::Queue("used entry on the free list"));
            }
            free += 1;
            if free > self.entries.len() {
                return Err(Violation::Queue("free list loops"));
            }
            e = en.next;
        }
        if linked != self.len as usize || linked + free != self.entries.len() {
            return Err(Violation::Queue("length disagrees with the lists"));
        }
        Ok(())
    }
}

impl<S: Store> MemberBroadcasts<S> {
    /// The queue's own checks, and every member's handle names an entry
    /// about that member (and each entry is named by its member).
    pub(crate) fn audit(&self, max_transmits: u32) -> Result<(), Violation> {
        self.queue.audit(max_transmits)?;
        let mut handled = 0usize;
        for (slot, &h) in self.handles.iter().enumerate() {
            if h == NO_ENTRY {
                continue;
            }
            let en = self
                .queue
                .entries
                .get(h as usize)
                .ok_or(Violation::BroadcastHandle)?;
            if !en.used || en.subject as usize != slot {
                return Err(Violation::BroadcastHandle);
            }
            handled += 1;
        }
        if handled != self.queue.len() {
            return Err(Violation::BroadcastHandle);
        }
        Ok(())
    }
}

/// A position in a queue walk (valid while the queue is not modified).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    bucket: usize,
    entry: u32,
}

impl Cursor {
    fn seek<S: Store>(&mut self, q: &Queue<S>, from: usize) {
        let rest = if from >= BUCKETS {
            0
        } else {
            q.nonempty >> from << from
        };
        if rest == 0 {
            self.entry = EMPTY;
            self.bucket = BUCKETS;
        } else {
            self.bucket = rest.trailing_zeros() as usize;
            self.entry = q.heads[self.bucket];
        }
    }
    /// The current entry, advancing past it.
    pub(crate) fn next<S: Store>(&mut self, q: &Queue<S>) -> Option<u32> {
        if self.entry == EMPTY {
            return None;
        }
        let e = self.entry;
        let n = q.entries[e as usize].next;
        if n == EMPTY {
            self.seek(q, self.bucket + 1);
        } else {
            self.entry = n;
        }
        Some(e)
    }
}

/// No queued broadcast for this member.
const NO_ENTRY: u16 = u16::MAX;

/// Largest membership broadcast queue (entry numbers are kept as `u16`).
pub const MAX_BROADCASTS: usize = NO_ENTRY as usize;

/// Membership broadcasts: one per member at most, found through a 2-byte
/// handle per member slot (no hashing on the hot path).
pub struct MemberBroadcasts<S: Store> {
    /// The queue.
    pub queue: Queue<S>,
    handles: S::Buf<u16>,
}

impl<S: Store> MemberBroadcasts<S> {
    pub(crate) fn new(entries: S::Buf<Entry>, mut handles: S::Buf<u16>) -> Self {
        handles.fill(NO_ENTRY);
        MemberBroadcasts {
            queue: Queue::new(entries),
            handles,
        }
    }

    /// Queues (or renews) the broadcast about member `slot`, accused by `from`.
    pub(crate) fn enqueue(&mut self, slot: u32, from: u32) {
        let h = self.handles[slot as usize];
        if h != NO_ENTRY {
            let e = h as u32;
            self.queue.renew(e);
            self.queue.entry_mut(e).from = from;
            return;
        }
        let Some((e, dropped)) = self.queue.alloc() else {
            return;
        };
        if let Some(d) = dropped {
            let subject = self.queue.entry(d).subject;
            self.handles[subject as usize] = NO_ENTRY;
        }
        let en = self.queue.entry_mut(e);
        en.subject = slot;
        en.from = from;
        self.handles[slot as usize] = e as u16;
    }

    /// Drops every queued membership broadcast.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.handles.fill(NO_ENTRY);
    }

    /// Forgets the broadcast about `slot` (the member was removed).
    pub(crate) fn forget(&mut self, slot: u32) {
        let h = self.handles[slot as usize];
        if h != NO_ENTRY {
            self.queue.release(h as u32);
            self.handles[slot as usize] = NO_ENTRY;
        }
    }

    /// Records a transmission of entry `e`.
    pub(crate) fn sent(&mut self, e: u32, limit: u32) {
        let subject = self.queue.entry(e).subject;
        if self.queue.sent(e, limit) {
            self.handles[subject as usize] = NO_ENTRY;
        }
    }

    #[cfg(test)]
    fn handle(&self, slot: u32) -> Option<u32> {
        let h = self.handles[slot as usize];
        (h != NO_ENTRY).then_some(h as u32)
    }
}

/// User broadcasts with payloads in fixed slots (one per queue entry).
pub struct UserBroadcasts<S: Store> {
    /// The queue.
    pub queue: Queue<S>,
    payloads: Slots<S>,
}

/// A user payload that cannot be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadTooLarge;

impl<S: Store> UserBroadcasts<S> {
    pub(crate) fn new(entries: S::Buf<Entry>, bytes: S::Buf<u8>, lens: S::Buf<u16>) -> Self {
        UserBroadcasts {
            queue: Queue::new(entries),
            payloads: Slots::new(bytes, lens),
        }
    }

    /// Queues a message (encoded into its entry's slot) for dissemination.
    pub(crate) fn enqueue<I: serde::Serialize>(
        &mut self,
        m: &Message<'_, I>,
    ) -> Result<(), PayloadTooLarge> {
        let Some((e, _)) = self.queue.alloc() else {
            return Err(PayloadTooLarge);
        };
        if self
            .payloads
            .write_with(e as usize, |dst| encode_message(m, dst))
        {
            Ok(())
        } else {
            self.queue.release(e);
            Err(PayloadTooLarge)
        }
    }

    /// The encoded message of entry `e`.
    pub(crate) fn payload(&self, e: u32) -> &[u8] {
        self.payloads.get(e as usize)
    }
}

/// Attempts at drawing random members for gossip / indirect probes.
pub(crate) const DRAW_ATTEMPTS: usize = 32;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Up to `want` distinct random members (never us or `exclude`) that pass
    /// `ok`, into `out`; returns how many. Bounded draws, no scan of the table.
    pub(crate) fn random_members(
        &mut self,
        out: &mut [u32],
        want: usize,
        exclude: u32,
        ok: impl Fn(&Self, u32) -> bool,
    ) -> usize {
        let want = want.min(out.len());
        let mut n = 0usize;
        for _ in 0..DRAW_ATTEMPTS {
            if n >= want {
                break;
            }
            let Some(s) = self.members.random_slot(&mut self.rng) else {
                break;
            };
            if s == self.my_slot || s == exclude || out[..n].contains(&s) || !ok(self, s) {
                continue;
            }
            out[n] = s;
            n += 1;
        }
        n
    }

    pub(crate) fn gossip_tick(&mut self, now: Instant) {
        self.timers
            .set(Timer::Gossip, now + self.config.gossip_interval);
        if self.pending_broadcasts() == 0 {
            return;
        }
        let mut picked = [EMPTY; 16];
        let n =
            self.random_members(
                &mut picked,
                self.config.gossip_nodes,
                EMPTY,
                |node, s| match node.members.slot(s).state() {
                    Some(State::Alive | State::Suspect) => true,
                    Some(State::Dead) => {
                        node.members.age(s, now) < node.config.gossip_to_the_dead_time
                    }
                    _ => false,
                },
            );
        for &s in &picked[..n] {
            let to = self.members.slot(s).id().clone();
            self.queue(Transmission::Gossip { to });
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::storage::test_support::Heapless;

    fn members(cap: usize) -> MemberBroadcasts<Heapless> {
        MemberBroadcasts::new(
            Heapless::buf(cap, Entry::default()),
            Heapless::buf(16, 0u16),
        )
    }

    fn walk(q: &Queue<Heapless>) -> std::vec::Vec<u32> {
        let mut c = q.cursor();
        let mut v = std::vec::Vec::new();
        while let Some(e) = c.next(q) {
            v.push(q.entry(e).subject);
        }
        v
    }

    #[test]
    fn fewest_transmitted_first_and_newest_first_within_count() {
        let mut b = members(8);
        b.enqueue(1, EMPTY);
        b.enqueue(2, EMPTY);
        let e2 = b.handle(2).unwrap();
        b.sent(e2, 10);
        b.enqueue(3, EMPTY);
        assert_eq!(walk(&b.queue), [3, 1, 2]);
    }

    #[test]
    fn newer_message_about_member_replaces_queued_one() {
        let mut b = members(8);
        b.enqueue(1, EMPTY);
        let e = b.handle(1).unwrap();
        b.sent(e, 10);
        b.sent(e, 10);
        b.enqueue(1, 5);
        assert_eq!(b.queue.len(), 1);
        assert_eq!(b.queue.entry(e).transmits, 0);
        assert_eq!(b.queue.entry(e).from, 5);
    }

    #[test]
    fn full_queue_drops_most_transmitted_and_counts() {
        let mut b = members(2);
        b.enqueue(1, EMPTY);
        let e1 = b.handle(1).unwrap();
        b.sent(e1, 10);
        b.enqueue(2, EMPTY);
        b.enqueue(3, EMPTY);
        assert_eq!(b.queue.stats.dropped, 1);
        assert!(b.handle(1).is_none());
        assert_eq!(walk(&b.queue), [3, 2]);
    }

    #[test]
    fn full_queue_drops_oldest_among_equally_transmitted() {
        let mut b = members(2);
        b.enqueue(1, EMPTY);
        b.enqueue(2, EMPTY);
        b.enqueue(3, EMPTY);
        assert!(b.handle(1).is_none(), "the oldest went");
        assert_eq!(walk(&b.queue), [3, 2]);
    }

    #[test]
    fn entry_is_freed_at_transmit_limit() {
        let mut b = members(4);
        b.enqueue(9, EMPTY);
        let e = b.handle(9).unwrap();
        for _ in 0..3 {
            b.sent(e, 3);
        }
        assert!(b.queue.is_empty());
        assert!(b.handle(9).is_none());
    }
}
