//! Per-member metadata (encoded tags) in fixed chunks, one per member slot.

use crate::store::Store;

/// The metadata side table.
pub struct MetaTable<S: Store> {
    bytes: S::Buf<u8>,
    lens: S::Buf<u16>,
    chunk: usize,
    /// Metadata refused for being longer than a chunk.
    pub rejected: u64,
}

impl<S: Store> MetaTable<S> {
    pub(crate) fn new(bytes: S::Buf<u8>, mut lens: S::Buf<u16>) -> Self {
        lens.fill(0);
        let chunk = if lens.is_empty() {
            0
        } else {
            bytes.len() / lens.len()
        };
        MetaTable {
            bytes,
            lens,
            chunk: chunk.min(u16::MAX as usize),
            rejected: 0,
        }
    }
    /// Largest metadata kept per member.
    pub fn max_len(&self) -> usize {
        self.chunk
    }
    /// The metadata of `slot`.
    pub fn get(&self, slot: u32) -> &[u8] {
        let at = slot as usize * self.chunk;
        let n = self.lens.get(slot as usize).copied().unwrap_or(0) as usize;
        self.bytes.get(at..at + n).unwrap_or(&[])
    }
    /// Stores metadata for `slot`; too long → stores nothing, counts, returns false.
    pub(crate) fn set(&mut self, slot: u32, meta: &[u8]) -> bool {
        let s = slot as usize;
        if meta.len() > self.chunk || s >= self.lens.len() {
            if s < self.lens.len() {
                self.lens[s] = 0;
            }
            self.rejected += 1;
            return meta.is_empty();
        }
        let at = s * self.chunk;
        self.bytes[at..at + meta.len()].copy_from_slice(meta);
        self.lens[s] = meta.len() as u16;
        true
    }
}
