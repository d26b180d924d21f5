//! Recent user events, kept encoded so that a joiner asking for them
//! (`serf join -replay`) can be sent them after the push-pull state.
//!
//! Fixed slots in one caller-provided byte buffer: slot `i` holds a 2-byte
//! length and one encoded `Event` message. Records are numbered by a running
//! sequence, so a reader that fell behind skips to the oldest one still kept.
//!
//! ```
//! use serf_core::replay::EventLog;
//! let mut buf = [0u8; 2 * 16];
//! let mut log = EventLog::new(&mut buf[..], 16);
//! log.record(b"first");
//! log.record(b"second");
//! log.record(b"third"); // evicts "first"
//! assert_eq!(log.oldest(), 1);
//! assert_eq!(log.get(1), Some(&b"second"[..]));
//! assert_eq!(log.get(0), None);
//! ```

use core::ops::DerefMut;

/// Slot length for events whose name and payload total at most `limit`
/// bytes: the length prefix, the message kind, a 10-byte varint time, two
/// 3-byte varint lengths and the coalesce flag.
pub const fn slot_len(limit: usize) -> usize {
    2 + 1 + 10 + 3 + 3 + 1 + limit
}

/// A ring of encoded event messages.
pub struct EventLog<B> {
    bytes: B,
    slot_len: usize,
    slots: u64,
    next: u64,
}

impl<B: DerefMut<Target = [u8]>> EventLog<B> {
    /// A log over `bytes`, in slots of `slot_len` bytes (2 of them hold the
    /// record's length). An empty buffer keeps nothing.
    pub fn new(bytes: B, slot_len: usize) -> Self {
        let slot_len = slot_len.clamp(3, u16::MAX as usize + 2);
        let slots = (bytes.len() / slot_len) as u64;
        EventLog {
            bytes,
            slot_len,
            slots,
            next: 0,
        }
    }

    /// Keeps `msg`, evicting the oldest record if full; a record too large
    /// for a slot is not kept (returns false).
    pub fn record(&mut self, msg: &[u8]) -> bool {
        self.record_with(|slot| {
            let dst = slot.get_mut(..msg.len())?;
            dst.copy_from_slice(msg);
            Some(msg.len())
        })
    }

    /// Keeps the record `encode` writes into the next slot (it returns the
    /// length written, or `None` if the record does not fit: nothing is kept).
    pub fn record_with(&mut self, encode: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        if self.slots == 0 {
            return false;
        }
        let at = (self.next % self.slots) as usize * self.slot_len;
        let slot = &mut self.bytes[at..at + self.slot_len];
        match encode(&mut slot[2..]) {
            Some(n) if n <= self.slot_len - 2 => {
                slot[..2].copy_from_slice(&(n as u16).to_le_bytes());
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    /// The sequence number the next record gets.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// The oldest sequence number still kept.
    pub fn oldest(&self) -> u64 {
        self.next.saturating_sub(self.slots)
    }

    /// Record `seq`, if still kept.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        if seq >= self.next || seq < self.oldest() {
            return None;
        }
        let at = (seq % self.slots) as usize * self.slot_len;
        let slot = &self.bytes[at..at + self.slot_len];
        let len = u16::from_le_bytes([slot[0], slot[1]]) as usize;
        slot.get(2..2 + len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_the_newest_records_and_refuses_oversized_ones() {
        let mut buf = [0u8; 3 * 8];
        let mut log = EventLog::new(&mut buf[..], 8);
        assert!(log.get(0).is_none());
        for i in 0..5u8 {
            assert!(log.record(&[i; 4]));
        }
        assert!(!log.record(&[9; 7]), "7 + 2 bytes do not fit a slot of 8");
        assert_eq!((log.oldest(), log.next()), (2, 5));
        assert_eq!(log.get(2), Some(&[2u8; 4][..]));
        assert_eq!(log.get(4), Some(&[4u8; 4][..]));
        assert_eq!(log.get(5), None);
        assert_eq!(log.get(1), None);
    }

    #[test]
    fn empty_log_keeps_nothing() {
        let mut log = EventLog::new(&mut [][..], 64);
        assert!(!log.record(b"x"));
        assert_eq!(log.get(0), None);
    }
}
