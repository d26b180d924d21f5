//! Per-member metadata (encoded tags), one slot per member slot.

use crate::storage::slots::Slots;
use crate::storage::Store;

/// The metadata side table.
pub struct MetaTable<S: Store> {
    slots: Slots<S>,
    /// Metadata refused for being longer than a slot.
    pub rejected: u64,
}

impl<S: Store> MetaTable<S> {
    pub(crate) fn new(bytes: S::Buf<u8>, lens: S::Buf<u16>) -> Self {
        MetaTable {
            slots: Slots::new(bytes, lens),
            rejected: 0,
        }
    }
    /// Largest metadata kept per member.
    pub fn max_len(&self) -> usize {
        self.slots.slot_len()
    }
    /// The metadata of `slot`.
    pub fn get(&self, slot: u32) -> &[u8] {
        self.slots.get(slot as usize)
    }
    /// Stores metadata for `slot`; too long → stores nothing, counts, returns false.
    pub(crate) fn set(&mut self, slot: u32, meta: &[u8]) -> bool {
        if self.slots.set(slot as usize, meta) {
            return true;
        }
        self.rejected += 1;
        meta.is_empty()
    }
}
