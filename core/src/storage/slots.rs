//! The one bytes-and-lengths arena: `n` fixed-size byte slots over one
//! caller-provided buffer, with a length per slot (0: empty). The inbox, the
//! per-member metadata, the query outbox, the user broadcast payloads and the
//! replay log are all built on it.

use crate::storage::Store;

/// Fixed byte slots, each holding up to [`Slots::slot_len`] bytes.
pub(crate) struct Slots<S: Store> {
    bytes: S::Buf<u8>,
    lens: S::Buf<u16>,
    slot: usize,
}

impl<S: Store> Slots<S> {
    /// As many slots as `lens` has entries, each an equal share of `bytes`
    /// (at most `u16::MAX` bytes). Every slot starts empty.
    pub(crate) fn new(bytes: S::Buf<u8>, mut lens: S::Buf<u16>) -> Self {
        lens.fill(0);
        let slot = match lens.len() {
            0 => 0,
            n => (bytes.len() / n).min(u16::MAX as usize),
        };
        Slots { bytes, lens, slot }
    }

    /// Number of slots.
    pub(crate) fn count(&self) -> usize {
        self.lens.len()
    }

    /// Largest record a slot holds.
    pub(crate) fn slot_len(&self) -> usize {
        self.slot
    }

    /// Bytes held in slot `i` (0 when empty or out of range).
    pub(crate) fn len_of(&self, i: usize) -> usize {
        self.lens.get(i).copied().unwrap_or(0) as usize
    }

    /// The record in slot `i` (empty when out of range).
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let at = i * self.slot;
        self.bytes.get(at..at + self.len_of(i)).unwrap_or(&[])
    }

    /// Replaces slot `i` with what `write` puts into it (`write` returns the
    /// length written, or `None` when the record does not fit). On failure
    /// the slot is left empty and false returned.
    pub(crate) fn write_with(
        &mut self,
        i: usize,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        if i >= self.lens.len() {
            return false;
        }
        let at = i * self.slot;
        match write(&mut self.bytes[at..at + self.slot]) {
            Some(n) if n <= self.slot => {
                self.lens[i] = n as u16;
                true
            }
            _ => {
                self.lens[i] = 0;
                false
            }
        }
    }

    /// Copies `record` into slot `i`; false (slot emptied) if it is too long.
    #[cfg(test)]
    pub(crate) fn set(&mut self, i: usize, record: &[u8]) -> bool {
        self.write_with(i, |dst| {
            dst.get_mut(..record.len())?.copy_from_slice(record);
            Some(record.len())
        })
    }

    /// Empties slot `i`.
    pub(crate) fn clear(&mut self, i: usize) {
        if let Some(l) = self.lens.get_mut(i) {
            *l = 0;
        }
    }

    /// The first empty slot (a scan: only for the few-slot tables).
    pub(crate) fn first_empty(&self) -> Option<usize> {
        self.lens.iter().position(|&l| l == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::Heapless;

    #[test]
    fn records_longer_than_a_slot_are_refused_and_leave_it_empty() {
        let mut s = Slots::<Heapless>::new(Heapless::buf(8, 0u8), Heapless::buf(2, 0u16));
        assert_eq!((s.count(), s.slot_len()), (2, 4));
        assert!(s.set(1, b"abcd"));
        assert_eq!(s.get(1), b"abcd");
        assert!(!s.set(1, b"abcde"));
        assert_eq!(s.get(1), b"");
        assert_eq!(s.first_empty(), Some(0));
        assert!(s.set(0, b"x"));
        s.clear(0);
        assert_eq!(s.len_of(0), 0);
        assert_eq!(s.get(9), b"", "out of range reads as empty");
    }
}
