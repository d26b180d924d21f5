//! The provided-buffer ring every socket's multishot receive draws from:
//! `entries` buffers (a power of two) registered once as buffer group 0.
//! The kernel takes a buffer per datagram; the ring thread gives it back
//! after the node handled it, publishing the new tail once per pass.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// The buffer group every receive names.
pub(crate) const GROUP: u16 = 0;

pub(crate) struct BufRing {
    ring: *mut BufRingEntry,
    layout: Layout,
    mask: u16,
    /// The buffers themselves: raw memory, since the kernel writes into it
    /// behind Rust's back.
    bufs: *mut u8,
    bufs_layout: Layout,
    buf_len: usize,
    tail: u16,
}

impl BufRing {
    /// `entries` (a power of two, at most 32768) buffers of `buf_len` bytes,
    /// all handed to the kernel.
    pub(crate) fn new(entries: u16, buf_len: usize) -> std::io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 1 << 15 {
            return Err(std::io::Error::other(
                "receive buffers must be a power of two up to 32768",
            ));
        }
        let bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        // Buffer rings live in page-aligned memory.
        let layout = Layout::from_size_align(bytes, 4096).map_err(std::io::Error::other)?;
        // SAFETY: non-zero size; checked for null below.
        let ring = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if ring.is_null() {
            return Err(std::io::Error::other("cannot allocate the buffer ring"));
        }
        let bufs_layout = Layout::from_size_align(usize::from(entries) * buf_len.max(1), 64)
            .map_err(std::io::Error::other)?;
        // SAFETY: non-zero size; checked for null below.
        let bufs = unsafe { alloc_zeroed(bufs_layout) };
        if bufs.is_null() {
            // SAFETY: allocated just above with this layout.
            unsafe { dealloc(ring.cast(), layout) };
            return Err(std::io::Error::other("cannot allocate the receive buffers"));
        }
        let mut r = BufRing {
            ring,
            layout,
            mask: entries - 1,
            bufs,
            bufs_layout,
            buf_len,
            tail: 0,
        };
        for bid in 0..entries {
            r.recycle(bid);
        }
        r.publish();
        Ok(r)
    }

    /// Registers the ring with `uring` as [`GROUP`].
    pub(crate) fn register(&self, uring: &io_uring::IoUring) -> std::io::Result<()> {
        // SAFETY: the ring memory stays valid until `self` drops, and the
        // owner drops the io_uring (which unregisters it) first.
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                self.ring as u64,
                self.mask + 1,
                GROUP,
                0,
            )
        }
    }

    /// Buffer `bid`'s first `len` bytes, as the kernel filled them; `None`
    /// for an id or length the kernel could not have given.
    pub(crate) fn get(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid > self.mask || len > self.buf_len {
            return None;
        }
        // SAFETY: in bounds (checked above); the kernel finished writing
        // this buffer when it posted the completion naming it, and does not
        // touch it again until it is recycled.
        Some(unsafe {
            std::slice::from_raw_parts(self.bufs.add(usize::from(bid) * self.buf_len), len)
        })
    }

    /// Hands buffer `bid` back (visible to the kernel after [`Self::publish`]).
    pub(crate) fn recycle(&mut self, bid: u16) {
        let addr = self.bufs as u64 + (usize::from(bid) * self.buf_len) as u64;
        // SAFETY: the index is masked into the ring's `mask + 1` entries.
        let e = unsafe { &mut *self.ring.add(usize::from(self.tail & self.mask)) };
        e.set_addr(addr);
        e.set_len(self.buf_len as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Publishes every recycled buffer to the kernel.
    pub(crate) fn publish(&self) {
        // SAFETY: `ring` points at the initialised first entry; the tail
        // field is a u16 the kernel reads with acquire ordering.
        unsafe {
            let tail = BufRingEntry::tail(self.ring).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts.
        unsafe {
            dealloc(self.ring.cast(), self.layout);
            dealloc(self.bufs, self.bufs_layout);
        }
    }
}
