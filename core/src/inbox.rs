//! Received user messages (raw broadcasts, user events) waiting for the
//! application, kept encoded in fixed chunks.

use crate::codec::Message;
use crate::store::Store;

/// A FIFO of user payloads; when full, the oldest is dropped and counted.
pub struct Inbox<S: Store> {
    arena: S::Buf<u8>,
    lens: S::Buf<u16>,
    chunk: usize,
    head: usize,
    len: usize,
    /// Payloads dropped (inbox full, or larger than a chunk).
    pub dropped: u64,
}

impl<S: Store> Inbox<S> {
    pub(crate) fn new(arena: S::Buf<u8>, lens: S::Buf<u16>) -> Self {
        let chunk = if lens.is_empty() {
            0
        } else {
            arena.len() / lens.len()
        };
        Inbox {
            arena,
            lens,
            chunk: chunk.min(u16::MAX as usize),
            head: 0,
            len: 0,
            dropped: 0,
        }
    }
    /// Payloads waiting.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Stores a message (encoded) for the application.
    pub(crate) fn push<I: serde::Serialize>(&mut self, m: &Message<'_, I>) {
        let cap = self.lens.len();
        if cap == 0 {
            self.dropped += 1;
            return;
        }
        if self.len == cap {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
            self.dropped += 1;
        }
        let i = (self.head + self.len) % cap;
        match postcard::to_slice(m, &mut self.arena[i * self.chunk..(i + 1) * self.chunk]) {
            Ok(b) => {
                self.lens[i] = b.len() as u16;
                self.len += 1;
            }
            Err(_) => self.dropped += 1,
        }
    }
    /// Copies the oldest payload into `out` and returns its length; a payload
    /// longer than `out` is truncated to fit.
    pub(crate) fn pop(&mut self, out: &mut [u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        let n = (self.lens[i] as usize).min(out.len());
        out[..n].copy_from_slice(&self.arena[i * self.chunk..i * self.chunk + n]);
        self.head = (self.head + 1) % self.lens.len();
        self.len -= 1;
        Some(n)
    }
}
