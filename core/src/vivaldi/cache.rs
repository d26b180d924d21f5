//! The bounded cache of other members' latest coordinates (and each one's
//! latency filter), keyed by member slot. Fed by probe acks; read by `rtt` and
//! `nearest`. When full, a random entry makes room.

use rand_core::RngCore;

use crate::rng::below;
use crate::storage::map;
use crate::storage::Store;
use crate::vivaldi::{Coordinate, LatencyFilter};

/// One cached peer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
///
/// Only plain numbers, so all-zero bytes are a valid entry: runtime-std's
/// `Heap` relies on that to hand this table over as untouched zero pages.
pub struct CacheEntry {
    /// Member slot (meaningless past the cache's length).
    pub(crate) slot: u32,
    /// The peer's latest coordinate.
    pub(crate) coord: Coordinate,
    /// RTT samples towards the peer.
    pub(crate) filter: LatencyFilter,
}

/// The cache.
pub struct CoordinateCache<S: Store> {
    entries: S::Buf<CacheEntry>,
    map: S::Buf<u64>,
    len: u32,
    /// Entries evicted to make room.
    pub evicted: u64,
}

impl<S: Store> CoordinateCache<S> {
    /// Entries past `len` are never read, so they are left as provided (a
    /// runtime may hand over untouched zero pages).
    pub(crate) fn new(entries: S::Buf<CacheEntry>, mut map: S::Buf<u64>) -> Self {
        map::clear(&mut map);
        CoordinateCache {
            entries,
            map,
            len: 0,
            evicted: 0,
        }
    }

    /// The coordinate cached for member `slot`.
    pub(crate) fn get(&self, slot: u32) -> Option<&Coordinate> {
        map::get(&self.map, slot).map(|i| &self.entries[i as usize].coord)
    }

    /// The entry for `slot`, created (evicting a random one if full) if absent.
    pub(crate) fn entry(&mut self, slot: u32, rng: &mut impl RngCore) -> Option<&mut CacheEntry> {
        if let Some(i) = map::get(&self.map, slot) {
            return Some(&mut self.entries[i as usize]);
        }
        let cap = self.entries.len() as u32;
        if cap == 0 {
            return None;
        }
        let i = if self.len < cap {
            self.len += 1;
            self.len - 1
        } else {
            let victim = below(rng, cap);
            let old = self.entries[victim as usize].slot;
            map::remove(&mut self.map, old);
            self.evicted += 1;
            victim
        };
        self.entries[i as usize] = CacheEntry {
            slot,
            coord: Coordinate::default(),
            filter: LatencyFilter::default(),
        };
        map::insert(&mut self.map, slot, i);
        Some(&mut self.entries[i as usize])
    }

    /// Drops what is known about `slot` (the member was reaped; Serf's ForgetNode).
    pub(crate) fn forget(&mut self, slot: u32) {
        let Some(i) = map::get(&self.map, slot) else {
            return;
        };
        map::remove(&mut self.map, slot);
        let last = self.len - 1;
        if i != last {
            let moved = self.entries[last as usize];
            self.entries[i as usize] = moved;
            map::insert(&mut self.map, moved.slot, i);
        }
        self.len -= 1;
    }

    /// Cached (slot, coordinate) pairs.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &Coordinate)> {
        self.entries[..self.len as usize]
            .iter()
            .map(|e| (e.slot, &e.coord))
    }
}
