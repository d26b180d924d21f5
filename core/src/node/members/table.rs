//! The member table: compact slots, an open-addressing index from identity to
//! slot, and the probe walk over the slots (see [`super::walk`]).
//!
//! Per member (u32 identity): 12-byte slot + 1.25 × 4-byte index buckets =
//! 17 bytes.

use rand_core::RngCore;

use crate::identity::Identity;
use crate::node::audit::Violation;
use crate::node::members::digest::Digest;
use crate::node::members::walk::ProbeWalk;
use crate::rng::below;
use crate::storage::Store;
use crate::time::{coarse_age, Instant};

/// A member's SWIM state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum State {
    /// Answering probes.
    Alive = 1,
    /// Missed a probe; will be declared dead unless it refutes.
    Suspect = 2,
    /// Declared failed.
    Dead = 3,
    /// Left gracefully.
    Left = 4,
}

impl State {
    #[inline]
    fn from_bits(b: u32) -> Option<State> {
        // A table, not a match: read on every lookup of every message.
        const BY_BITS: [Option<State>; 8] = [
            None,
            Some(State::Alive),
            Some(State::Suspect),
            Some(State::Dead),
            Some(State::Left),
            None,
            None,
            None,
        ];
        BY_BITS[(b & 0x7) as usize]
    }
    /// Alive or suspect: still counted as a member by the failure detector.
    pub fn is_live(self) -> bool {
        matches!(self, State::Alive | State::Suspect)
    }
}

/// One record of the member table. Free slots have state bits 0 and keep the
/// next free slot number in `incarnation`. Past the table's high-water mark
/// slots are never read or written, so a runtime may provide them as
/// untouched zero pages (runtime-std's `Heap` does, for identities whose
/// all-zero bytes are valid).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slot<I> {
    id: I,
    incarnation: u32,
    /// bits 0..3 state, bits 3..6 Serf protocol version, bit 6 settled,
    /// bits 8..32 coarse time of the last state change.
    packed: u32,
}

const PROTOCOL_SHIFT: u32 = 3;
const PROTOCOL_MASK: u32 = 0x7 << PROTOCOL_SHIFT;
/// A suspect whose suspicion takes no more confirmations (cleared by any
/// state change): repeats of its rumour stop at the slot.
const SETTLED: u32 = 1 << 6;

impl<I> Slot<I> {
    /// The member's state (`None` for a free slot).
    pub fn state(&self) -> Option<State> {
        State::from_bits(self.packed)
    }
    /// The member's identity (meaningless for a free slot).
    pub fn id(&self) -> &I {
        &self.id
    }
    /// The member's incarnation.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }
    pub(crate) fn changed(&self) -> u32 {
        self.packed >> 8
    }
    /// The Serf protocol version the member speaks (0: not told yet).
    pub fn protocol(&self) -> u8 {
        ((self.packed & PROTOCOL_MASK) >> PROTOCOL_SHIFT) as u8
    }
    /// Suspect, and its suspicion takes no more confirmations.
    pub(crate) fn settled(&self) -> bool {
        self.packed & SETTLED != 0
    }
}

pub(crate) const EMPTY: u32 = u32::MAX;
const SLOT_BITS: u32 = 24;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Largest member capacity (slot numbers must fit the 24-bit index field).
pub const MAX_MEMBERS: usize = SLOT_MASK as usize;

/// Index buckets needed for a member capacity (load factor ≤ 0.8; the 8-bit
/// tags in each bucket keep probes from touching slots that do not match).
pub fn index_len(members: usize) -> usize {
    members + members / 4 + 1
}

/// How many buckets from its home a prefetch looks for a member's slot: a
/// line's worth (a successful lookup probes about three at the index's load
/// factor; the longer walks, rarer, are left to the lookup itself).
pub(crate) const PREFETCH_PROBES: usize = 16;

/// Counts by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Alive members (this node included).
    pub alive: u32,
    /// Suspect members.
    pub suspect: u32,
    /// Dead members still in the table.
    pub dead: u32,
    /// Left members still in the table.
    pub left: u32,
}

impl Counts {
    fn slot(&mut self, s: State) -> &mut u32 {
        match s {
            State::Alive => &mut self.alive,
            State::Suspect => &mut self.suspect,
            State::Dead => &mut self.dead,
            State::Left => &mut self.left,
        }
    }
    /// Alive + suspect.
    pub fn live(&self) -> u32 {
        self.alive + self.suspect
    }
    /// Everything in the table.
    pub fn total(&self) -> u32 {
        self.alive + self.suspect + self.dead + self.left
    }
}

/// The member table.
pub struct MemberTable<I: Identity, S: Store> {
    slots: S::Buf<Slot<I>>,
    /// Bucket = `tag << 24 | slot` (tag = 8 high hash bits), or `EMPTY`.
    index: S::Buf<u32>,
    walk: ProbeWalk,
    high: u32,
    free: u32,
    seed: u64,
    counts: Counts,
    digest: Digest,
}

/// Why an insert failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

impl<I: Identity, S: Store> MemberTable<I, S> {
    pub(crate) fn new(slots: S::Buf<Slot<I>>, index: S::Buf<u32>, seed: u64) -> Self {
        let mut t: Self = MemberTable {
            slots,
            index,
            walk: ProbeWalk::default(),
            high: 0,
            free: EMPTY,
            seed,
            counts: Counts::default(),
            digest: Digest::default(),
        };
        t.index.fill(EMPTY);
        t
    }

    /// Counts by state.
    pub fn counts(&self) -> Counts {
        self.counts
    }
    /// The digest of every member's identity, incarnation and state.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
    /// Slot numbers ever used (`0..high`); some may be free.
    pub fn high(&self) -> u32 {
        self.high
    }
    /// The slot at `i`.
    pub fn slot(&self, i: u32) -> &Slot<I> {
        &self.slots[i as usize]
    }

    #[inline]
    fn home(&self, h: u64) -> usize {
        (((h >> 32) * self.index.len() as u64) >> 32) as usize
    }

    fn tag(h: u64) -> u32 {
        ((h as u32) >> 24) << SLOT_BITS
    }

    /// Checks the counters against the slots and the index against the
    /// slots: every member is found by its name at its own slot.
    pub(crate) fn audit(&self) -> Result<(), Violation> {
        let mut counts = Counts::default();
        let mut digest = Digest::default();
        for (s, slot) in self.iter() {
            if let Some(state) = slot.state() {
                *counts.slot(state) += 1;
                digest.toggle(slot.id(), slot.incarnation(), state);
                if self.find(slot.id()) != Some(s) {
                    return Err(Violation::Index);
                }
            }
        }
        if counts != self.counts {
            return Err(Violation::Counts);
        }
        if digest != self.digest {
            return Err(Violation::Digest);
        }
        if counts.total() as usize > self.slots.len() {
            return Err(Violation::OverCapacity);
        }
        Ok(())
    }

    /// A 32-bit key for `id`'s name, as suspicions record their accusers:
    /// a repeated accusation is told apart without looking its accuser up.
    /// Never [`EMPTY`] (that means "no accuser").
    #[inline]
    pub(crate) fn accuser_key(&self, id: &I) -> u32 {
        let h = id.name_hash(self.seed);
        let key = (h ^ (h >> 32)) as u32;
        if key == EMPTY {
            EMPTY - 1
        } else {
            key
        }
    }

    /// Looks a member up by identity (name and address): O(1) expected.
    #[inline]
    pub fn find(&self, id: &I) -> Option<u32> {
        self.find_name(id)
            .filter(|&s| self.slots[s as usize].id == *id)
    }

    /// Where a lookup of `id` will read, for `at`: the index buckets from its
    /// home to [`PREFETCH_PROBES`] on (one line or two) or, reading those
    /// buckets, the slot of the first whose tag is `id`'s (nothing at an
    /// empty bucket or past the probes). At the index's load factor the home
    /// bucket often names another member (over a quarter of the homes of a
    /// full table, pinned by a test). See
    /// [`crate::Node::lookup_addresses`].
    #[inline]
    pub(crate) fn lookup_address(&self, id: &I, slot: bool, at: &mut impl FnMut(*const u8)) {
        let h = id.name_hash(self.seed);
        let home = self.home(h);
        let probes = self.index.get(home..).unwrap_or_default();
        let probes = &probes[..probes.len().min(PREFETCH_PROBES)];
        if !slot {
            for b in [probes.first(), probes.last()].into_iter().flatten() {
                at(b as *const u32 as *const u8);
            }
            return;
        }
        let tag = Self::tag(h);
        let found = probes
            .iter()
            .take_while(|&&e| e != EMPTY)
            .find(|&&e| e & !SLOT_MASK == tag);
        if let Some(s) = found.and_then(|e| self.slots.get((e & SLOT_MASK) as usize)) {
            at(s as *const Slot<I> as *const u8);
        }
    }

    /// Looks a member up by name only (whatever its address): O(1) expected.
    #[inline]
    pub fn find_name(&self, id: &I) -> Option<u32> {
        let h = id.name_hash(self.seed);
        let tag = Self::tag(h);
        let n = self.index.len();
        let mut b = self.home(h);
        for _ in 0..n {
            let e = self.index[b];
            if e == EMPTY {
                return None;
            }
            if e & !SLOT_MASK == tag {
                let s = e & SLOT_MASK;
                if self.slots[s as usize].id.same_name(id) {
                    return Some(s);
                }
            }
            b += 1;
            if b == n {
                b = 0;
            }
        }
        None
    }

    /// Inserts a new member (the caller has checked that no member has its
    /// name). A new slot falls at a random point of the probe walk's round.
    pub fn insert(
        &mut self,
        id: I,
        incarnation: u32,
        state: State,
        now: Instant,
    ) -> Result<u32, TableFull> {
        let s = if self.free != EMPTY {
            let s = self.free;
            self.free = self.slots[s as usize].incarnation;
            s
        } else if (self.high as usize) < self.slots.len() {
            let s = self.high;
            self.high += 1;
            s
        } else {
            return Err(TableFull);
        };
        let h = id.name_hash(self.seed);
        let n = self.index.len();
        let mut b = self.home(h);
        while self.index[b] != EMPTY {
            b += 1;
            if b == n {
                b = 0;
            }
        }
        self.index[b] = Self::tag(h) | s;
        self.digest.toggle(&id, incarnation, state);
        self.slots[s as usize] = Slot {
            id,
            incarnation,
            packed: (now.coarse() << 8) | state as u32,
        };
        *self.counts.slot(state) += 1;
        Ok(s)
    }

    /// Changes a member's state and incarnation, stamping the change time.
    #[inline]
    pub fn set(&mut self, s: u32, state: State, incarnation: u32, now: Instant) {
        let slot = &mut self.slots[s as usize];
        let old = State::from_bits(slot.packed);
        if let Some(old) = old {
            *self.counts.slot(old) -= 1;
        }
        self.digest.replace(
            &slot.id,
            old.map(|o| (slot.incarnation, o)),
            (incarnation, state),
        );
        slot.incarnation = incarnation;
        slot.packed = (now.coarse() << 8) | (slot.packed & PROTOCOL_MASK) | state as u32;
        *self.counts.slot(state) += 1;
    }

    /// Marks a suspect whose suspicion takes no more confirmations, until its
    /// state next changes.
    pub(crate) fn settle(&mut self, s: u32) {
        self.slots[s as usize].packed |= SETTLED;
    }

    /// Records the protocol version a member announced (values above 7 are
    /// kept as 7: no Serf protocol comes near it).
    #[inline]
    pub fn set_protocol(&mut self, s: u32, protocol: u8) {
        let slot = &mut self.slots[s as usize];
        let p = u32::from(protocol.min(7)) << PROTOCOL_SHIFT;
        slot.packed = (slot.packed & !PROTOCOL_MASK) | p;
    }

    /// Removes a member, freeing its slot (backward-shift deletion keeps probe
    /// sequences intact without tombstones).
    pub fn remove(&mut self, s: u32) {
        let Some(state) = self.slots[s as usize].state() else {
            return;
        };
        let n = self.index.len();
        let h = self.slots[s as usize].id.name_hash(self.seed);
        let mut i = self.home(h);
        while self.index[i] & SLOT_MASK != s || self.index[i] == EMPTY {
            i += 1;
            if i == n {
                i = 0;
            }
        }
        let mut j = i;
        loop {
            j += 1;
            if j == n {
                j = 0;
            }
            let e = self.index[j];
            if e == EMPTY {
                break;
            }
            let k = self.home(self.slots[(e & SLOT_MASK) as usize].id.name_hash(self.seed));
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.index[i] = e;
                i = j;
            }
        }
        self.index[i] = EMPTY;
        *self.counts.slot(state) -= 1;
        let slot = &mut self.slots[s as usize];
        self.digest.toggle(&slot.id, slot.incarnation, state);
        slot.packed = 0;
        slot.id = I::default();
        slot.incarnation = self.free;
        self.free = s;
    }

    /// The next slot of the probe walk (each round visits every used slot
    /// once in a fresh random order; some may be free). `None` when the table
    /// has never held a member.
    pub fn walk_next(&mut self, rng: &mut impl RngCore) -> Option<u32> {
        self.walk.next(self.high, rng)
    }

    /// A uniformly random used slot number (may be free or any state: the caller
    /// filters and retries a bounded number of times).
    pub fn random_slot(&self, rng: &mut impl RngCore) -> Option<u32> {
        (self.high > 0).then(|| below(rng, self.high))
    }

    /// Age of the member's last state change.
    pub fn age(&self, s: u32, now: Instant) -> core::time::Duration {
        coarse_age(now, self.slots[s as usize].changed())
    }

    /// Iterates over occupied slots (for the application's views; not used on any
    /// per-packet path).
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Slot<I>)> {
        self.slots[..self.high as usize]
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state().is_some())
            .map(|(i, s)| (i as u32, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::{Heapless, TestRng};

    fn table(cap: usize) -> MemberTable<u32, Heapless> {
        MemberTable::new(
            Heapless::buf(cap, Slot::default()),
            Heapless::buf(index_len(cap), 0),
            42,
        )
    }

    #[test]
    fn insert_find_remove_keep_index_consistent() {
        let mut t = table(64);
        for id in 0..64u32 {
            t.insert(id * 7919, 0, State::Alive, Instant::ZERO).unwrap();
        }
        assert_eq!(t.insert(1, 0, State::Alive, Instant::ZERO), Err(TableFull));
        for id in (0..64u32).step_by(3) {
            let s = t.find(&(id * 7919)).unwrap();
            t.remove(s);
        }
        for id in 0..64u32 {
            assert_eq!(t.find(&(id * 7919)).is_some(), id % 3 != 0, "id {id}");
        }
        assert_eq!(t.counts().alive, 64 - 22);
        let s = t.insert(5, 0, State::Alive, Instant::ZERO).unwrap();
        assert_eq!(t.find(&5), Some(s));
    }

    #[test]
    fn prefetch_address_is_the_members_own_slot_even_when_its_home_is_taken() {
        let cap = 4096;
        let mut t = table(cap);
        for id in 0..cap as u32 {
            t.insert(id, 0, State::Alive, Instant::ZERO).unwrap();
        }
        let slot_at = |id: u32| {
            let s = t.find(&id).unwrap();
            &t.slots[s as usize] as *const Slot<u32> as *const u8
        };
        let (mut own, mut home_taken) = (0, 0);
        for id in 0..cap as u32 {
            let home = t.home(id.name_hash(t.seed));
            if t.index[home] & SLOT_MASK != t.find(&id).unwrap() {
                home_taken += 1;
            }
            let mut at = None;
            t.lookup_address(&id, true, &mut |a| at = Some(a));
            if at == Some(slot_at(id)) {
                own += 1;
            }
        }
        // Full, the index is at its load factor of 0.8: many homes hold
        // another member, yet the walk finds nearly every member's slot.
        assert!(home_taken > cap / 4, "{home_taken} homes taken");
        assert!(own * 100 >= cap * 95, "{own} of {cap} own slots");
        let mut buckets = 0;
        t.lookup_address(&7, false, &mut |_| buckets += 1);
        assert_eq!(buckets, 2, "the first and the last bucket a walk reads");
    }

    #[test]
    fn walk_visits_every_slot_once_per_round() {
        let mut rng = TestRng(3);
        let mut t = table(50);
        for id in 0..50u32 {
            t.insert(id, 0, State::Alive, Instant::ZERO).unwrap();
        }
        for _round in 0..3 {
            let mut seen = [false; 50];
            for _ in 0..50 {
                let s = t.walk_next(&mut rng).unwrap();
                assert!(!seen[s as usize]);
                seen[s as usize] = true;
            }
        }
    }
}
