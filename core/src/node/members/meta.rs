//! Member metadata (encoded tags) in one shared pool, so a member costs what
//! its tags take and a member without tags costs nothing.
//!
//! Each tagged member has one contiguous extent `[slot u32][len u16][bytes]`
//! appended at the pool's tail and found through a map from member slot to
//! offset. A replaced or removed extent becomes a hole; when the tail runs
//! out, one pass slides the live extents down. Live bytes are kept to three
//! quarters of the pool, so at least a quarter is reclaimed by each pass and
//! the moving costs O(1) per byte stored. This node's own tags have room set
//! aside: other members' tags can never crowd them out.

use crate::node::members::table::EMPTY;
use crate::storage::map;
use crate::storage::Store;

/// Extent header: the member slot and the tag length.
pub(crate) const HEADER: usize = 6;
/// Slot field of a hole.
const HOLE: u32 = u32::MAX;

/// Bitset words for `members` member slots (none when tags are off).
pub(crate) fn flag_words(members: usize, max_len: usize) -> usize {
    if max_len == 0 {
        0
    } else {
        members.div_ceil(64)
    }
}

/// The metadata pool.
pub struct MetaTable<S: Store> {
    pool: S::Buf<u8>,
    /// Member slot → extent offset; twice the buckets of the extents allowed.
    map: S::Buf<u64>,
    /// One bit per member slot: has an extent. Most members carry no tags, and
    /// this small bitset stays in cache where the map would cost a miss.
    tagged: S::Buf<u64>,
    max_len: usize,
    tail: usize,
    live: usize,
    extents: usize,
    /// This node's slot and its extent's size (set aside in the budget).
    own: u32,
    own_size: usize,
    /// Metadata refused for being longer than the limit or for lack of room.
    pub rejected: u64,
}

impl<S: Store> MetaTable<S> {
    pub(crate) fn new(
        pool: S::Buf<u8>,
        mut map: S::Buf<u64>,
        mut tagged: S::Buf<u64>,
        max_len: usize,
    ) -> Self {
        map::clear(&mut map);
        tagged.fill(0);
        MetaTable {
            pool,
            map,
            tagged,
            max_len,
            tail: 0,
            live: 0,
            extents: 0,
            own: EMPTY,
            own_size: 0,
            rejected: 0,
        }
    }

    /// Pool bytes a configuration needs for this node's own tags to always fit.
    pub(crate) fn pool_needed(max_len: usize) -> usize {
        if max_len == 0 {
            0
        } else {
            (HEADER + max_len) * 4 / 3 + 1
        }
    }

    /// Largest metadata kept per member.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Pool bytes in use by live extents (headers included).
    #[cfg(test)]
    fn live_bytes(&self) -> usize {
        self.live
    }

    fn has(&self, slot: u32) -> bool {
        self.tagged
            .get(slot as usize / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn mark(&mut self, slot: u32, on: bool) {
        if let Some(w) = self.tagged.get_mut(slot as usize / 64) {
            let bit = 1u64 << (slot % 64);
            if on {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    /// The metadata of `slot` (empty when it has none).
    pub fn get(&self, slot: u32) -> &[u8] {
        if !self.has(slot) {
            return &[];
        }
        map::get(&self.map, slot)
            .and_then(|off| {
                let off = off as usize;
                let len = self.len_at(off);
                self.pool.get(off + HEADER..off + HEADER + len)
            })
            .unwrap_or(&[])
    }

    /// Stores this node's own metadata (`slot` is this node's): always fits
    /// when it is within the limit.
    pub(crate) fn set_own(&mut self, slot: u32, meta: &[u8]) -> bool {
        self.own = slot;
        self.store(slot, meta)
    }

    /// Stores metadata for another member's `slot`; too long or no room →
    /// keeps what it had, counts, returns false.
    pub(crate) fn set(&mut self, slot: u32, meta: &[u8]) -> bool {
        self.store(slot, meta)
    }

    fn store(&mut self, slot: u32, meta: &[u8]) -> bool {
        let old = if self.has(slot) {
            map::get(&self.map, slot).map(|o| o as usize)
        } else {
            None
        };
        let old_size = old.map_or(0, |o| HEADER + self.len_at(o));
        if old_size == HEADER + meta.len() && !meta.is_empty() {
            if let Some(off) = old {
                self.pool[off + HEADER..off + old_size].copy_from_slice(meta);
            }
            return true;
        }
        if meta.is_empty() {
            if let Some(off) = old {
                self.release(slot, off, old_size);
            }
            return true;
        }
        let need = HEADER + meta.len();
        if meta.len() > self.max_len || !self.has_room(slot, old_size, need, old.is_none()) {
            self.rejected += 1;
            return false;
        }
        if let Some(off) = old {
            self.release(slot, off, old_size);
        }
        if self.tail + need > self.pool.len() {
            self.compact();
        }
        let off = self.tail;
        let Some(extent) = self.pool.get_mut(off..off + need) else {
            // Unreachable: the budget keeps a quarter of the pool free.
            self.rejected += 1;
            return false;
        };
        extent[..4].copy_from_slice(&slot.to_le_bytes());
        extent[4..HEADER].copy_from_slice(&(meta.len() as u16).to_le_bytes());
        extent[HEADER..].copy_from_slice(meta);
        self.tail += need;
        self.live += need;
        self.extents += 1;
        if slot == self.own {
            self.own_size = need;
        }
        self.mark(slot, true);
        map::insert(&mut self.map, slot, off as u32)
    }

    /// Whether `need` bytes (replacing `old_size`) fit the budget. Other
    /// members may use three quarters of the pool minus the room kept for
    /// this node's tags, and all but one map entry.
    fn has_room(&self, slot: u32, old_size: usize, need: usize, new_extent: bool) -> bool {
        let budget = self.pool.len() - self.pool.len() / 4;
        let entries = self.map.len() / 2;
        let extents = self.extents + usize::from(new_extent);
        if slot == self.own {
            return self.live - old_size + need <= budget && extents <= entries;
        }
        let kept = HEADER + self.max_len;
        let others = self.live - self.own_size - old_size + need;
        let other_extents = extents - usize::from(self.own_size > 0);
        others + kept <= budget && other_extents < entries
    }

    fn release(&mut self, slot: u32, off: usize, size: usize) {
        self.pool[off..off + 4].copy_from_slice(&HOLE.to_le_bytes());
        self.live -= size;
        self.extents -= 1;
        if slot == self.own {
            self.own_size = 0;
        }
        if off + size == self.tail {
            self.tail = off;
        }
        self.mark(slot, false);
        map::remove(&mut self.map, slot);
    }

    /// Slides every live extent down over the holes.
    fn compact(&mut self) {
        let (mut read, mut write) = (0, 0);
        while read < self.tail {
            let size = HEADER + self.len_at(read);
            let slot = u32::from_le_bytes([
                self.pool[read],
                self.pool[read + 1],
                self.pool[read + 2],
                self.pool[read + 3],
            ]);
            if slot != HOLE {
                if write != read {
                    self.pool.copy_within(read..read + size, write);
                    map::insert(&mut self.map, slot, write as u32);
                }
                write += size;
            }
            read += size;
        }
        self.tail = write;
    }

    fn len_at(&self, off: usize) -> usize {
        match self.pool.get(off + 4..off + HEADER) {
            Some(b) => u16::from_le_bytes([b[0], b[1]]) as usize,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::Heapless;

    fn pool(bytes: usize, tagged: usize, max_len: usize) -> MetaTable<Heapless> {
        MetaTable::new(
            Heapless::buf(bytes, 0),
            Heapless::buf(tagged * 2, 0),
            Heapless::buf(flag_words(64, max_len), 0),
            max_len,
        )
    }

    #[test]
    fn member_without_tags_takes_no_pool_bytes() {
        let mut m = pool(1024, 8, 64);
        assert!(m.set(3, &[]));
        assert_eq!(m.get(3), &[] as &[u8]);
        assert_eq!(m.live_bytes(), 0);
    }

    #[test]
    fn churned_tags_are_compacted_and_stay_readable() {
        let mut m = pool(4096, 64, 100);
        assert!(m.set_own(0, b"self"));
        for round in 0..200u32 {
            for slot in 1..20u32 {
                let len = ((slot + round) % 40 + 1) as usize;
                let tag = [(slot + round) as u8; 40];
                assert!(m.set(slot, &tag[..len]), "round {round} slot {slot}");
            }
            for slot in 1..20u32 {
                let len = ((slot + round) % 40 + 1) as usize;
                assert_eq!(m.get(slot), &[(slot + round) as u8; 40][..len]);
            }
        }
        assert_eq!(m.get(0), b"self");
        for slot in 1..20u32 {
            assert!(m.set(slot, &[]));
        }
        assert_eq!(m.live_bytes(), HEADER + 4);
    }

    #[test]
    fn full_pool_refuses_others_but_never_this_nodes_tags() {
        let mut m = pool(MetaTable::<Heapless>::pool_needed(64) + 200, 16, 64);
        let mut slot = 1;
        while m.set(slot, &[7; 64]) {
            slot += 1;
        }
        assert!(m.rejected > 0);
        assert_eq!(
            m.get(slot),
            &[] as &[u8],
            "the refused member keeps nothing"
        );
        assert!(m.set_own(0, &[1; 64]), "room kept for this node's own tags");
        assert_eq!(m.get(0), &[1; 64]);
        assert_eq!(m.get(1), &[7; 64], "earlier members keep theirs");
    }

    #[test]
    fn over_long_tags_are_refused_and_the_old_ones_kept() {
        let mut m = pool(4096, 8, 16);
        assert!(m.set(2, b"role=web"));
        assert!(!m.set(2, &[0; 17]));
        assert_eq!(m.get(2), b"role=web");
        assert_eq!(m.rejected, 1);
    }
}
