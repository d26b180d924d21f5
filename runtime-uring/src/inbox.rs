//! The one piece of state shared between threads: the queue from
//! application threads (RPC connections, handlers, `Member` handles) into
//! the ring thread. A sender pushes under a lock and then signals; the ring
//! consumes the signal (an eventfd read that completes on the ring) before
//! it drains, so a push racing the drain leaves the signal set and is taken
//! on the next pass: nothing is lost, nothing waits on a lock for long.
//! `tests/loom_inbox.rs` model-checks exactly this protocol.

// The parent module says which mutex: std's here, loom's in the model.
use super::sync::Mutex;

use std::sync::PoisonError;

/// Wakes the consumer after a push.
pub trait Signal: Send + Sync {
    /// Marks the inbox non-empty (idempotent until consumed).
    fn notify(&self);
}

/// A multi-producer queue drained by one consumer that sleeps elsewhere.
pub struct Inbox<T, S> {
    queue: Mutex<Vec<T>>,
    signal: S,
}

impl<T, S: Signal> Inbox<T, S> {
    /// An empty inbox waking its consumer through `signal`.
    pub fn new(signal: S) -> Self {
        Inbox {
            queue: Mutex::new(Vec::new()),
            signal,
        }
    }

    /// Queues `item`, then wakes the consumer.
    pub fn push(&self, item: T) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
        self.signal.notify();
    }

    /// Moves everything queued to the end of `out`. The consumer calls this
    /// after it consumed the signal.
    pub fn drain_into(&self, out: &mut Vec<T>) {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        out.append(&mut q);
    }

    /// The signal, for the consumer to wait on.
    pub fn signal(&self) -> &S {
        &self.signal
    }
}

/// An eventfd: [`Signal::notify`] adds one; the ring thread's read of it
/// completes (and resets it) when anything was pushed.
pub struct EventFd(std::os::fd::OwnedFd);

impl EventFd {
    /// A fresh non-blocking eventfd.
    pub fn new() -> std::io::Result<EventFd> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain syscall; the fd is owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and nothing else owns it.
        Ok(EventFd(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }

    /// The raw descriptor, for the ring's read.
    pub fn raw(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.0.as_raw_fd()
    }
}

impl Signal for EventFd {
    fn notify(&self) {
        let one = 1u64.to_ne_bytes();
        // The counter only overflows after 2^64 - 2 unread notifies; a full
        // counter (EAGAIN) already means "wake up", so the result is moot.
        // SAFETY: writes 8 bytes from a live buffer to an owned fd.
        let _ = unsafe { libc::write(self.raw(), one.as_ptr().cast(), one.len()) };
    }
}
