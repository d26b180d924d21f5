//! Datagrams on their way out: a fixed slab of send slots, each with its
//! buffer, destination and `msghdr`, all at stable addresses so a `SendMsg`
//! entry can point at them until its completion. A full slab leaves the
//! rest of a node's datagrams queued in the node for the next pass.

use std::net::SocketAddr;

use crate::addr::RawAddr;

/// One datagram in flight.
pub(crate) struct SendSlot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    name: RawAddr,
    /// The member slot that sent it, and that slot's generation.
    pub(crate) owner: (u32, u32),
    pub(crate) to: SocketAddr,
    pub(crate) len: usize,
    /// Sent again once already (after a stale ICMP error).
    pub(crate) retried: bool,
}

pub(crate) struct Sends {
    slots: Box<[SendSlot]>,
    bufs: *mut u8,
    layout: std::alloc::Layout,
    buf_len: usize,
    free: Vec<u32>,
}

impl Sends {
    /// `count` slots of `buf_len` bytes.
    pub(crate) fn new(count: usize, buf_len: usize) -> std::io::Result<Sends> {
        let layout = std::alloc::Layout::from_size_align(count.max(1) * buf_len.max(1), 64)
            .map_err(std::io::Error::other)?;
        // SAFETY: non-zero size; checked for null below.
        let bufs = unsafe { std::alloc::alloc_zeroed(layout) };
        if bufs.is_null() {
            return Err(std::io::Error::other("cannot allocate the send buffers"));
        }
        let slot = || SendSlot {
            // SAFETY: msghdr and iovec are plain C structs; zero is valid.
            hdr: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            name: RawAddr::zeroed(),
            owner: (0, 0),
            to: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
            retried: false,
        };
        Ok(Sends {
            slots: (0..count).map(|_| slot()).collect(),
            bufs,
            layout,
            buf_len,
            free: (0..count as u32).rev().collect(),
        })
    }

    /// A free slot, if any.
    pub(crate) fn take(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// Gives slot `i` back.
    pub(crate) fn release(&mut self, i: u32) {
        self.free.push(i);
    }

    /// Slot `i`'s buffer, to write a datagram into.
    pub(crate) fn buf(&mut self, i: u32) -> &mut [u8] {
        let i = i as usize;
        assert!(i < self.slots.len());
        // SAFETY: in bounds; a slot's buffer is only written while the slot
        // is taken and not yet submitted.
        unsafe { std::slice::from_raw_parts_mut(self.bufs.add(i * self.buf_len), self.buf_len) }
    }

    pub(crate) fn slot(&self, i: u32) -> Option<&SendSlot> {
        self.slots.get(i as usize)
    }

    pub(crate) fn slot_mut(&mut self, i: u32) -> Option<&mut SendSlot> {
        self.slots.get_mut(i as usize)
    }

    /// Fills slot `i`'s header for `len` bytes to `to` and returns it for a
    /// `SendMsg` entry (valid until the slot is released).
    pub(crate) fn prepare(
        &mut self,
        i: u32,
        owner: (u32, u32),
        to: SocketAddr,
        len: usize,
    ) -> *const libc::msghdr {
        let base = {
            let i = i as usize;
            assert!(i < self.slots.len());
            // SAFETY: in bounds of the buffer allocation.
            unsafe { self.bufs.add(i * self.buf_len) }
        };
        let s = &mut self.slots[i as usize];
        s.owner = owner;
        s.to = to;
        s.len = len;
        s.retried = false;
        s.iov = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        let namelen = s.name.set(to);
        s.hdr.msg_name = (&mut s.name as *mut RawAddr).cast();
        s.hdr.msg_namelen = namelen;
        s.hdr.msg_iov = &mut s.iov;
        s.hdr.msg_iovlen = 1;
        &s.hdr
    }

    /// Slot `i`'s header again (for a retry).
    pub(crate) fn header(&self, i: u32) -> *const libc::msghdr {
        &self.slots[i as usize].hdr
    }
}

impl Drop for Sends {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.bufs, self.layout) }
    }
}
