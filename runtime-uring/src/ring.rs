//! The ring thread: one io_uring driving every member added to it. Each
//! member's socket has one multishot `RecvMsg` over the shared buffer ring;
//! everything the members queue in a pass goes out as `SendMsg` entries in
//! one submit; the earliest of all members' deadlines is the wait's timeout.
//! Nothing here knows the protocol: datagrams, commands and deadlines go to
//! each member's [`Host`].

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use serf_runtime_std::member::{Command, Flow, Host};

use crate::addr::{self, NAME_LEN};
use crate::bufring::{BufRing, GROUP};
use crate::inbox::{EventFd, Inbox};
use crate::sends::Sends;
use crate::timers::{Due, Timers};
use crate::{Counters, RuntimeBuilder};

/// What reaches the ring thread from other threads.
pub(crate) enum Wake {
    /// A member to drive.
    Add(Box<NewMember>),
    /// A member has commands queued.
    Ready(u32),
    /// Stop the ring (every member with it).
    Stop,
}

/// A prepared member handed to the ring.
pub(crate) struct NewMember {
    pub(crate) key: u32,
    pub(crate) host: Host,
    pub(crate) socket: UdpSocket,
    pub(crate) commands: Receiver<Command>,
    /// Dropped when the ring lets the member go (its `Member` waits on it).
    pub(crate) done: Sender<()>,
}

pub(crate) type SharedInbox = Arc<Inbox<Wake, EventFd>>;

// user_data: kind in the top byte; for receives the member slot's
// generation and index below it, for sends the send slot.
const RECV: u64 = 1 << 56;
const SEND: u64 = 2 << 56;
const WAKE: u64 = 3 << 56;
const CANCEL: u64 = 4 << 56;
const KIND: u64 = 0xff << 56;

/// Completions a batched wait asks for before the window even ends.
const BATCH: usize = 256;

fn recv_data(slot: u32, gen: u32) -> u64 {
    RECV | (u64::from(gen) << 24) | u64::from(slot)
}

/// A member the ring drives.
struct Slot {
    key: u32,
    host: Host,
    socket: UdpSocket,
    commands: Receiver<Command>,
    _done: Sender<()>,
    /// The deadline the timer heap holds for this member.
    armed: Option<Instant>,
    dirty: bool,
    /// Its multishot receive is in flight.
    receiving: bool,
    /// Stopping: waits for its receive to end, then goes.
    closing: bool,
}

pub(crate) struct Ring {
    // Declared first so it drops (unregistering the buffer ring) before the
    // memory it points at.
    uring: IoUring,
    bufs: BufRing,
    sends: Sends,
    slots: Vec<Option<Slot>>,
    gens: Vec<u32>,
    free_slots: Vec<u32>,
    by_key: HashMap<u32, u32>,
    timers: Timers,
    dirty: Vec<u32>,
    inbox: SharedInbox,
    wake_buf: Box<u64>,
    /// The header every multishot receive names (only its name and control
    /// lengths matter to the kernel).
    recv_hdr: Box<libc::msghdr>,
    cqes: Vec<(u64, i32, u32)>,
    pending: Vec<Wake>,
    counters: Arc<Counters>,
    /// The batch window in µs (0: wake at the first completion).
    min_wait_us: u32,
    /// How late a deadline may fire so that neighbours fire with it.
    slack: std::time::Duration,
}

impl Ring {
    pub(crate) fn new(
        cfg: &RuntimeBuilder,
        inbox: SharedInbox,
        counters: Arc<Counters>,
    ) -> std::io::Result<Ring> {
        let uring = crate::probe::open(cfg.queue_depth)?;
        let uring_min_timeout = uring.params().is_feature_min_timeout();
        let bufs = BufRing::new(cfg.receive_buffers, cfg.receive_buffer_len())?;
        bufs.register(&uring)
            .map_err(crate::probe::explain_buf_ring)?;
        // SAFETY: msghdr is a plain C struct; zero is valid.
        let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        recv_hdr.msg_namelen = NAME_LEN as libc::socklen_t;
        Ok(Ring {
            uring,
            bufs,
            sends: Sends::new(cfg.sends, cfg.datagram)?,
            slots: Vec::with_capacity(cfg.members),
            gens: Vec::with_capacity(cfg.members),
            free_slots: Vec::new(),
            by_key: HashMap::with_capacity(cfg.members),
            timers: Timers::with_capacity(cfg.members * 4 + 16),
            dirty: Vec::with_capacity(cfg.members),
            inbox,
            wake_buf: Box::new(0),
            recv_hdr,
            cqes: Vec::with_capacity(usize::from(cfg.receive_buffers) + cfg.sends + 16),
            pending: Vec::new(),
            counters,
            slack: cfg.timer_slack,
            min_wait_us: if uring_min_timeout {
                cfg.batch_window.as_micros().min(u128::from(u32::MAX)) as u32
            } else {
                0
            },
        })
    }

    /// Runs until told to stop (or the ring fails). Members still queued
    /// for it are let go too, so no `Member` waits on a ring that is gone.
    pub(crate) fn run(mut self) {
        self.drive();
        let mut left = Vec::new();
        self.inbox.drain_into(&mut left);
        drop(left);
    }

    fn drive(&mut self) {
        self.arm_wake();
        loop {
            if let Err(e) = self.wait() {
                tracing::error!(target: "serf", "io_uring wait failed, the ring stops: {e}");
                return;
            }
            self.counters.bump(&self.counters.wakes);
            if !self.reap() {
                return;
            }
            self.run_timers();
            self.flush();
            self.bufs.publish();
            let live = self.slots.len() - self.free_slots.len();
            self.timers.purge(live * 2 + 16, |d| {
                self.slots
                    .get(d.slot as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.armed == Some(d.at) && self.gens[d.slot as usize] == d.gen)
            });
        }
    }

    /// Submits what is queued and sleeps until a completion or the earliest
    /// deadline.
    fn wait(&mut self) -> std::io::Result<()> {
        let now = Instant::now();
        // With a batch window, ask for many completions: the kernel returns
        // once the window passed with at least one, or the deadline came.
        let want = if self.min_wait_us > 0 { BATCH } else { 1 };
        // Deadlines within the window of the earliest fire together.
        let r = match self.timers.next().map(|at| at + self.slack) {
            Some(at) if at <= now => self.uring.submit().map(drop),
            Some(at) => {
                let d = at - now;
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new()
                    .min_wait_usec(self.min_wait_us)
                    .timespec(&ts);
                self.uring
                    .submitter()
                    .submit_with_args(want, &args)
                    .map(drop)
            }
            None if self.min_wait_us > 0 => {
                let args = types::SubmitArgs::new().min_wait_usec(self.min_wait_us);
                self.uring
                    .submitter()
                    .submit_with_args(want, &args)
                    .map(drop)
            }
            None => self.uring.submit_and_wait(1).map(drop),
        };
        match r {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// Pushes `e`, submitting first when the queue is full.
    fn push(&mut self, e: squeue::Entry) {
        loop {
            // SAFETY: every pointer an entry names (headers, buffers, the
            // wake buffer) lives in `self` at a stable address until its
            // completion is reaped.
            if unsafe { self.uring.submission().push(&e) }.is_ok() {
                return;
            }
            if let Err(err) = self.uring.submit() {
                if err.raw_os_error() != Some(libc::EBUSY) {
                    tracing::error!(target: "serf", "io_uring submit failed: {err}");
                    return;
                }
            }
        }
    }

    fn arm_wake(&mut self) {
        let fd = self.inbox.signal().raw();
        let e = opcode::Read::new(types::Fd(fd), (&mut *self.wake_buf as *mut u64).cast(), 8)
            .build()
            .user_data(WAKE);
        self.push(e);
    }

    fn arm_recv(&mut self, slot: u32) {
        let gen = self.gens[slot as usize];
        let Some(s) = self.slots[slot as usize].as_mut() else {
            return;
        };
        s.receiving = true;
        let fd = s.socket.as_raw_fd();
        let e = opcode::RecvMsgMulti::new(types::Fd(fd), &*self.recv_hdr, GROUP)
            .build()
            .user_data(recv_data(slot, gen));
        self.push(e);
    }

    /// Handles every completion; `false` once the ring was told to stop.
    fn reap(&mut self) -> bool {
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.extend(
            self.uring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        let mut go_on = true;
        for &(data, res, flags) in &cqes {
            match data & KIND {
                RECV => self.received(data, res, flags),
                SEND => self.sent((data & !KIND) as u32, res),
                WAKE => go_on &= self.woken(res),
                _ => {} // cancellations: the receive's own completion follows
            }
        }
        cqes.clear();
        self.cqes = cqes;
        go_on
    }

    fn received(&mut self, data: u64, res: i32, flags: u32) {
        let slot = (data & 0xff_ffff) as u32;
        let gen = ((data >> 24) & 0xffff_ffff) as u32;
        let bid = cqueue::buffer_select(flags);
        if self.gens.get(slot as usize) != Some(&gen) {
            // A completion for a slot since reused: just give the buffer back.
            if let Some(b) = bid {
                self.bufs.recycle(b);
            }
            return;
        }
        if res >= 0 {
            if let Some(b) = bid {
                self.deliver(slot, b, res as usize);
                self.bufs.recycle(b);
            }
        } else if res == -libc::ENOBUFS {
            // The buffer ring ran dry; the receive ended and is re-armed below.
            self.counters.bump(&self.counters.recv_rearms_enobufs);
        } else if res != -libc::ECANCELED {
            self.counters.bump(&self.counters.recv_errors);
            tracing::warn!(target: "memberlist", "receive failed: {}", std::io::Error::from_raw_os_error(-res));
        }
        if !cqueue::more(flags) {
            let Some(s) = self.slots[slot as usize].as_mut() else {
                return;
            };
            s.receiving = false;
            if s.closing {
                self.release(slot);
            } else {
                self.arm_recv(slot);
            }
        }
    }

    /// Hands the datagram in buffer `bid` to member `slot`.
    fn deliver(&mut self, slot: u32, bid: u16, len: usize) {
        let Some(buf) = self.bufs.get(bid, len) else {
            self.counters.bump(&self.counters.recv_errors);
            return;
        };
        let Ok(msg) = types::RecvMsgOut::parse(buf, &self.recv_hdr) else {
            self.counters.bump(&self.counters.recv_errors);
            return;
        };
        if msg.is_payload_truncated() {
            // Larger than any datagram the node accepts.
            self.counters.bump(&self.counters.recv_truncated);
            tracing::debug!(target: "memberlist", "oversized datagram dropped");
            return;
        }
        let Some(from) = addr::parse(msg.name_data()) else {
            self.counters.bump(&self.counters.recv_errors);
            return;
        };
        let Some(s) = self.slots[slot as usize].as_mut() else {
            return;
        };
        self.counters.bump(&self.counters.datagrams_received);
        s.host.datagram(from, msg.payload_data());
        self.touched(slot);
    }

    fn sent(&mut self, i: u32, res: i32) {
        let Some(s) = self.sends.slot(i) else {
            return;
        };
        let (owner, gen) = s.owner;
        let (to, len, retried) = (s.to, s.len, s.retried);
        if res == -libc::ECONNREFUSED && !retried {
            // A stale ICMP error from an earlier datagram surfaced on this
            // send; the datagram itself did not go: send it once more.
            if let Some(s) = self.sends.slot_mut(i) {
                s.retried = true;
            }
            let fd = self
                .slots
                .get(owner as usize)
                .and_then(Option::as_ref)
                .map(|s| s.socket.as_raw_fd());
            if let (Some(fd), true) = (fd, self.gens.get(owner as usize) == Some(&gen)) {
                let e = opcode::SendMsg::new(types::Fd(fd), self.sends.header(i))
                    .build()
                    .user_data(SEND | u64::from(i));
                self.push(e);
                return;
            }
        }
        self.sends.release(i);
        if res < 0 {
            self.counters.bump(&self.counters.send_errors);
            if self.gens.get(owner as usize) == Some(&gen) {
                if let Some(s) = self.slots[owner as usize].as_mut() {
                    s.host
                        .send_failed(to, len, &std::io::Error::from_raw_os_error(-res));
                }
            }
        } else {
            self.counters.bump(&self.counters.datagrams_sent);
        }
    }

    /// Takes what other threads queued; `false` on a stop request.
    fn woken(&mut self, res: i32) -> bool {
        if res < 0 && res != -libc::EAGAIN && res != -libc::EINTR {
            tracing::error!(target: "serf", "reading the ring's eventfd failed: {}", std::io::Error::from_raw_os_error(-res));
        }
        let mut pending = std::mem::take(&mut self.pending);
        self.inbox.drain_into(&mut pending);
        let mut go_on = true;
        for w in pending.drain(..) {
            match w {
                Wake::Add(m) => self.add(*m),
                Wake::Ready(key) => self.commands(key),
                Wake::Stop => go_on = false,
            }
        }
        self.pending = pending;
        self.arm_wake();
        go_on
    }

    fn add(&mut self, m: NewMember) {
        let NewMember {
            key,
            host,
            socket,
            commands,
            done,
        } = m;
        let slot = Slot {
            key,
            host,
            socket,
            commands,
            _done: done,
            armed: None,
            dirty: false,
            receiving: false,
            closing: false,
        };
        let i = match self.free_slots.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.gens.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(key, i);
        self.arm_recv(i);
        self.touched(i);
        // Commands may have arrived before the member did.
        self.commands(key);
    }

    /// Applies every command queued for member `key`.
    fn commands(&mut self, key: u32) {
        let Some(&i) = self.by_key.get(&key) else {
            return;
        };
        let Some(s) = self.slots[i as usize].as_mut() else {
            return;
        };
        let mut stop = false;
        loop {
            match s.commands.try_recv() {
                Ok(c) => {
                    if s.host.command(c) == Flow::Stop {
                        stop = true;
                        break;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    stop = true;
                    break;
                }
            }
        }
        self.touched(i);
        if stop {
            self.close(i);
        }
    }

    /// Starts letting member `i` go: its receive is cancelled and the slot
    /// freed when the receive's last completion arrives.
    fn close(&mut self, i: u32) {
        let gen = self.gens[i as usize];
        let Some(s) = self.slots[i as usize].as_mut() else {
            return;
        };
        if s.closing {
            return;
        }
        s.closing = true;
        if s.receiving {
            let e = opcode::AsyncCancel::new(recv_data(i, gen))
                .build()
                .user_data(CANCEL);
            self.push(e);
        } else {
            self.release(i);
        }
    }

    fn release(&mut self, i: u32) {
        if let Some(s) = self.slots[i as usize].take() {
            self.by_key.remove(&s.key);
            self.gens[i as usize] = self.gens[i as usize].wrapping_add(1);
            self.free_slots.push(i);
        }
    }

    /// Member `i` may have datagrams to send and a new deadline; both are
    /// looked at once per pass, in [`Self::flush`].
    fn touched(&mut self, i: u32) {
        let Some(s) = self.slots[i as usize].as_mut() else {
            return;
        };
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(i);
        }
    }

    /// Puts member `i`'s current deadline in the heap if it moved.
    fn rearm(&mut self, i: u32) {
        let gen = self.gens[i as usize];
        let Some(s) = self.slots[i as usize].as_mut() else {
            return;
        };
        let at = s.host.deadline();
        if at != s.armed {
            s.armed = at;
            if let Some(at) = at {
                self.timers.push(Due { at, slot: i, gen });
            }
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(d) = self.timers.pop_due(now) {
            if self.gens.get(d.slot as usize) != Some(&d.gen) {
                continue;
            }
            let Some(s) = self.slots[d.slot as usize].as_mut() else {
                continue;
            };
            if s.armed != Some(d.at) {
                continue; // stale
            }
            s.armed = None;
            s.host.tick();
            self.touched(d.slot);
        }
    }

    /// Queues every datagram the touched members produced as `SendMsg`
    /// entries; they go out with the next wait's submit.
    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        let mut keep = 0;
        for n in 0..dirty.len() {
            let i = dirty[n];
            let drained = self.drain_member(i);
            self.rearm(i);
            if !drained {
                // Out of send slots: the rest waits in the node.
                dirty[keep] = i;
                keep += 1;
            }
        }
        dirty.truncate(keep);
        self.dirty = dirty;
    }

    /// Moves member `i`'s queued datagrams into send slots; `false` if the
    /// slots ran out first.
    fn drain_member(&mut self, i: u32) -> bool {
        let gen = self.gens[i as usize];
        loop {
            let Some(s) = self.slots[i as usize].as_mut() else {
                return true;
            };
            let Some(k) = self.sends.take() else {
                self.counters.bump(&self.counters.send_stalls);
                return false;
            };
            let Some(t) = s.host.poll_transmit(self.sends.buf(k)) else {
                self.sends.release(k);
                s.dirty = false;
                return true;
            };
            let fd = s.socket.as_raw_fd();
            let hdr = self.sends.prepare(k, (i, gen), t.to, t.len);
            let e = opcode::SendMsg::new(types::Fd(fd), hdr)
                .build()
                .user_data(SEND | u64::from(k));
            self.push(e);
        }
    }
}
