//! A bounded FIFO over a caller buffer of `Option<T>`.

use crate::storage::Store;

/// Fixed-capacity queue; `push_back` on a full ring drops the oldest entry.
pub struct Ring<T: 'static, S: Store> {
    buf: S::Buf<Option<T>>,
    head: usize,
    len: usize,
    /// Entries dropped because the ring was full.
    pub dropped: u64,
}

impl<T: 'static, S: Store> Ring<T, S> {
    pub(crate) fn new(mut buf: S::Buf<Option<T>>) -> Self {
        for e in buf.iter_mut() {
            *e = None;
        }
        Ring {
            buf,
            head: 0,
            len: 0,
            dropped: 0,
        }
    }
    /// Appends, dropping (and counting) the oldest entry when full; returns
    /// the dropped entry.
    pub(crate) fn push_back(&mut self, v: T) -> Option<T> {
        let cap = self.buf.len();
        if cap == 0 {
            self.dropped += 1;
            return Some(v);
        }
        let mut evicted = None;
        if self.len == cap {
            evicted = self.buf[self.head].take();
            self.head = wrap(self.head + 1, cap);
            self.len -= 1;
            self.dropped += 1;
        }
        let at = wrap(self.head + self.len, cap);
        self.buf[at] = Some(v);
        self.len += 1;
        evicted
    }
    /// Puts an entry back at the front (after a `pop_front`, so there is room).
    pub(crate) fn push_front(&mut self, v: T) {
        let cap = self.buf.len();
        if cap == 0 || self.len == cap {
            self.dropped += 1;
            return;
        }
        self.head = wrap(self.head + cap - 1, cap);
        self.buf[self.head] = Some(v);
        self.len += 1;
    }
    /// The oldest entry.
    pub(crate) fn front(&self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        self.buf[self.head].as_ref()
    }
    /// Removes the oldest entry.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let v = self.buf[self.head].take();
        self.head = wrap(self.head + 1, self.buf.len());
        self.len -= 1;
        v
    }
}

/// `i mod cap` for `i < 2 * cap` without a division (hot on every event).
fn wrap(i: usize, cap: usize) -> usize {
    if i >= cap {
        i - cap
    } else {
        i
    }
}
