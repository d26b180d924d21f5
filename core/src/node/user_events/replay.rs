//! Recent user events, kept encoded so that a joiner asking for them
//! (`serf join -replay`) can be sent them after the push-pull state, and so
//! that every push-pull carries them (Serf's event anti-entropy).
//!
//! A ring over fixed slots (`storage::slots`), each holding one encoded
//! `Event` message. Records are numbered by a running sequence, so a reader
//! that fell behind skips to the oldest one still kept.

use crate::storage::slots::Slots;
use crate::storage::Store;

/// Slot length for events whose name and payload total at most `limit`
/// bytes: the message kind, a 10-byte varint time, two 3-byte varint lengths
/// and the coalesce flag.
pub const fn slot_len(limit: usize) -> usize {
    1 + 10 + 3 + 3 + 1 + limit
}

/// A ring of encoded event messages.
pub struct EventLog<S: Store> {
    slots: Slots<S>,
    next: u64,
}

impl<S: Store> EventLog<S> {
    /// A log over `bytes`, one slot per entry of `lens`. No slots: it keeps
    /// nothing.
    pub(crate) fn new(bytes: S::Buf<u8>, lens: S::Buf<u16>) -> Self {
        EventLog {
            slots: Slots::new(bytes, lens),
            next: 0,
        }
    }

    /// Keeps the `len`-byte record `encode` writes into the next slot,
    /// evicting the oldest; a record longer than a slot is not kept, and the
    /// record it would have evicted stays.
    pub(crate) fn record_with(
        &mut self,
        len: usize,
        encode: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let n = self.slots.count() as u64;
        if n == 0 || len > self.slots.slot_len() {
            return false;
        }
        let kept = self.slots.write_with((self.next % n) as usize, encode);
        if kept {
            self.next += 1;
        }
        kept
    }

    /// The sequence number the next record gets.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// The oldest sequence number still kept.
    pub(crate) fn oldest(&self) -> u64 {
        self.next.saturating_sub(self.slots.count() as u64)
    }

    /// Every record kept, oldest first.
    pub(crate) fn records(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (self.oldest()..self.next).filter_map(|seq| self.get(seq))
    }

    /// The most bytes all kept records take, `per_record` extra bytes each.
    pub(crate) fn bound(&self, per_record: usize) -> usize {
        self.slots.count() * (self.slots.slot_len() + per_record)
    }

    /// Record `seq`, if still kept.
    pub(crate) fn get(&self, seq: u64) -> Option<&[u8]> {
        if seq >= self.next || seq < self.oldest() {
            return None;
        }
        Some(self.slots.get((seq % self.slots.count() as u64) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::Heapless;

    fn log(slots: usize, len: usize) -> EventLog<Heapless> {
        EventLog::new(Heapless::buf(slots * len, 0u8), Heapless::buf(slots, 0u16))
    }

    fn record(log: &mut EventLog<Heapless>, msg: &[u8]) -> bool {
        log.record_with(msg.len(), |dst| {
            dst.get_mut(..msg.len())?.copy_from_slice(msg);
            Some(msg.len())
        })
    }

    #[test]
    fn log_keeps_the_newest_records_and_refuses_oversized_ones() {
        let mut log = log(3, 6);
        assert!(log.get(0).is_none());
        for i in 0..5u8 {
            assert!(record(&mut log, &[i; 4]));
        }
        assert!(!record(&mut log, &[9; 7]), "7 bytes do not fit a slot of 6");
        assert_eq!((log.oldest(), log.next()), (2, 5));
        assert_eq!(log.get(2), Some(&[2u8; 4][..]));
        assert_eq!(log.get(4), Some(&[4u8; 4][..]));
        assert_eq!(log.get(5), None);
        assert_eq!(log.get(1), None);
    }

    #[test]
    fn empty_log_keeps_nothing() {
        let mut log = log(0, 64);
        assert!(!record(&mut log, b"x"));
        assert_eq!(log.get(0), None);
    }
}
