//! Datagram bodies waiting to be sent (responses, chunks, relayed copies),
//! one MTU-sized slot each.

use serde::Serialize;

use crate::storage::slots::Slots;
use crate::storage::Store;
use crate::wire::{encode_message, Message};

/// The outbox: a slot per datagram body until `poll_transmit` sends it.
pub struct Outbox<S: Store> {
    slots: Slots<S>,
    free: usize,
    /// Datagrams refused because the outbox was full.
    pub dropped: u64,
}

impl<S: Store> Outbox<S> {
    pub(crate) fn new(bytes: S::Buf<u8>, lens: S::Buf<u16>) -> Self {
        let slots = Slots::new(bytes, lens);
        let free = slots.count();
        Outbox {
            slots,
            free,
            dropped: 0,
        }
    }
    /// Free slots.
    pub fn free(&self) -> usize {
        self.free
    }
    /// Stores a message; returns its slot.
    pub(crate) fn put<I: Serialize>(&mut self, m: &Message<'_, I>) -> Option<u16> {
        self.store(|dst| encode_message(m, dst).filter(|&n| n > 0))
    }
    /// Stores raw encoded message bytes; returns the slot.
    pub(crate) fn put_raw(&mut self, bytes: &[u8]) -> Option<u16> {
        if bytes.is_empty() || bytes.len() > self.slots.slot_len() {
            self.dropped += 1;
            return None;
        }
        self.store(|dst| {
            dst.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some(bytes.len())
        })
    }
    fn store(&mut self, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> Option<u16> {
        let Some(i) = self.slots.first_empty() else {
            self.dropped += 1;
            return None;
        };
        if !self.slots.write_with(i, write) {
            self.dropped += 1;
            return None;
        }
        self.free -= 1;
        Some(i as u16)
    }
    /// The bytes of slot `i`.
    pub(crate) fn get(&self, i: u16) -> &[u8] {
        self.slots.get(i as usize)
    }
    /// Frees slot `i`.
    pub(crate) fn release(&mut self, i: u16) {
        if self.slots.len_of(i as usize) != 0 {
            self.slots.clear(i as usize);
            self.free += 1;
        }
    }
}
