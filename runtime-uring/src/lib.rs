//! `serf-runtime-uring`: one io_uring per thread driving any number of
//! `serf-core` members, each on its own UDP socket, behind the same
//! embedding API as the std runtime ([`Member`]).
//!
//! - Receive: one multishot `RecvMsg` per socket over one provided-buffer
//!   ring shared by all sockets; a receive the kernel ends (the ring ran dry:
//!   `ENOBUFS`) is re-armed and counted.
//! - Send: every datagram the members queued in a pass goes out as
//!   `SendMsg` entries in one submit.
//! - Time: every member's next deadline sits in one heap; the earliest is
//!   the timeout of the ring's wait.
//! - Commands from other threads arrive through one inbox and an eventfd the
//!   ring reads (see `inbox`), the only state shared between threads.
//!
//! ```
//! use std::time::Duration;
//! use serf_runtime_std::member::{Member, Output};
//! use serf_runtime_uring::Runtime;
//! # if let Err(e) = Runtime::builder().check() { eprintln!("skipped: {e}"); return Ok(()); }
//! let ring = Runtime::builder().members(2).start()?;
//! let local = "127.0.0.1:0".parse().unwrap();
//! let (a, _) = ring.spawn(Member::builder("ring-a").bind(local).config(serf_core::Config::local()))?;
//! let (b, b_events) = ring.spawn(Member::builder("ring-b").bind(local).config(serf_core::Config::local()))?;
//! assert_eq!(b.join(&[a.local_addr]), 1);
//! assert_eq!(b.members().len(), 2);
//! drop((a, b));
//! ring.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod addr;
mod bufring;
pub mod inbox;
mod probe;
mod ring;
mod sends;
mod timers;

/// The locks `inbox` uses (the loom model swaps in loom's).
mod sync {
    pub(crate) use std::sync::Mutex;
}

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use serf_runtime_std::member::{Commands, Member, MemberBuilder, Output};

use crate::inbox::{EventFd, Inbox};
use crate::ring::{NewMember, Ring, SharedInbox, Wake};

/// What the ring counted: traffic, and everything it had to drop or retry.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams handed to members.
    pub datagrams_received: AtomicU64,
    /// Datagrams the kernel reported sent.
    pub datagrams_sent: AtomicU64,
    /// Receives re-armed because the buffer ring ran dry (`ENOBUFS`).
    pub recv_rearms_enobufs: AtomicU64,
    /// Receive completions that failed or could not be parsed.
    pub recv_errors: AtomicU64,
    /// Datagrams larger than a receive buffer (dropped).
    pub recv_truncated: AtomicU64,
    /// Sends the kernel refused.
    pub send_errors: AtomicU64,
    /// Times the ring thread woke (each wake handles every completion
    /// that arrived meanwhile).
    pub wakes: AtomicU64,
    /// Passes where a member had more to send than free send slots (the
    /// rest stayed queued in the member for the next pass).
    pub send_stalls: AtomicU64,
}

impl Counters {
    fn bump(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of every counter.
    pub fn snapshot(&self) -> CounterValues {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterValues {
            datagrams_received: g(&self.datagrams_received),
            datagrams_sent: g(&self.datagrams_sent),
            recv_rearms_enobufs: g(&self.recv_rearms_enobufs),
            recv_errors: g(&self.recv_errors),
            recv_truncated: g(&self.recv_truncated),
            send_errors: g(&self.send_errors),
            send_stalls: g(&self.send_stalls),
            wakes: g(&self.wakes),
        }
    }
}

/// [`Counters`] read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterValues {
    /// See [`Counters::datagrams_received`].
    pub datagrams_received: u64,
    /// See [`Counters::datagrams_sent`].
    pub datagrams_sent: u64,
    /// See [`Counters::recv_rearms_enobufs`].
    pub recv_rearms_enobufs: u64,
    /// See [`Counters::recv_errors`].
    pub recv_errors: u64,
    /// See [`Counters::recv_truncated`].
    pub recv_truncated: u64,
    /// See [`Counters::send_errors`].
    pub send_errors: u64,
    /// See [`Counters::send_stalls`].
    pub send_stalls: u64,
    /// See [`Counters::wakes`].
    pub wakes: u64,
}

/// Sizes a ring; see [`Runtime::builder`].
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    members: usize,
    queue_depth: u32,
    receive_buffers: u16,
    sends: usize,
    datagram: usize,
    batch_window: std::time::Duration,
    timer_slack: std::time::Duration,
}

impl RuntimeBuilder {
    /// How many members the ring is sized for (receive buffers, send slots
    /// and queue depth scale with it; more can be added, sharing them).
    pub fn members(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.members = n;
        // One member (an agent) needs little: datagrams beyond the buffers
        // wait in the socket (the receive is re-armed and counted).
        self.receive_buffers = (n * 8).next_power_of_two().clamp(16, 1 << 15) as u16;
        self.sends = (n * 4).clamp(16, 1 << 15);
        self.queue_depth = (n * 2).next_power_of_two().clamp(64, 1 << 15) as u32;
        // Many members: let completions gather briefly so one wake handles
        // many (a few hundred µs is far below every protocol timeout).
        self.batch_window = std::time::Duration::ZERO;
        self.timer_slack = if n >= 16 {
            std::time::Duration::from_millis(1)
        } else {
            std::time::Duration::ZERO
        };
        self
    }

    /// How late a member's deadline may fire so that the deadlines of
    /// other members within that window fire in the same wake. Default:
    /// zero for fewer than 16 members, else 1 ms (every protocol timer is
    /// tens of milliseconds or more).
    pub fn timer_slack(mut self, d: std::time::Duration) -> Self {
        self.timer_slack = d;
        self
    }

    /// How long the ring lets completions gather once one arrived before it
    /// wakes (kernels with `IORING_FEAT_MIN_TIMEOUT`, 6.12+; ignored
    /// elsewhere). Default: zero (measured: the kernel's min-wait costs more CPU than it
    /// saves at a few hundred members).
    pub fn batch_window(mut self, d: std::time::Duration) -> Self {
        self.batch_window = d;
        self
    }

    /// The largest datagram a member may send or receive (default 1400,
    /// Serf's UDP limit). A member whose MTU is larger is refused.
    pub fn datagram(mut self, bytes: usize) -> Self {
        self.datagram = bytes.max(64);
        self
    }

    /// Bytes of each receive buffer: the kernel's header, the sender's
    /// name, and one byte past the largest datagram (so an oversized one is
    /// seen as such).
    fn receive_buffer_len(&self) -> usize {
        (RECVMSG_OUT_HEADER + addr::NAME_LEN + self.datagram + 1).next_multiple_of(64)
    }

    /// Whether a ring of this size can run on this kernel (the error says
    /// what is missing).
    pub fn check(&self) -> std::io::Result<()> {
        let uring = probe::open(self.queue_depth)?;
        let bufs = bufring::BufRing::new(self.receive_buffers, self.receive_buffer_len())?;
        bufs.register(&uring).map_err(probe::explain_buf_ring)?;
        drop(uring);
        Ok(())
    }

    /// Starts the ring thread.
    pub fn start(self) -> std::io::Result<Runtime> {
        let inbox: SharedInbox = Arc::new(Inbox::new(EventFd::new()?));
        let counters = Arc::new(Counters::default());
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let thread = {
            let inbox = inbox.clone();
            let counters = counters.clone();
            let cfg = self.clone();
            std::thread::Builder::new()
                .name("serf-ring".into())
                .spawn(move || match Ring::new(&cfg, inbox, counters) {
                    Ok(ring) => {
                        let _ = ready_tx.send(Ok(()));
                        ring.run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                })?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(std::io::Error::other("the ring thread died while starting"));
            }
        }
        Ok(Runtime {
            inbox,
            counters,
            thread: Some(thread),
            next_key: AtomicU32::new(0),
            datagram: self.datagram,
        })
    }
}

/// A ring thread driving members; see the crate docs.
pub struct Runtime {
    inbox: SharedInbox,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
    next_key: AtomicU32,
    datagram: usize,
}

impl Runtime {
    /// A builder sized for one member (the agent's case).
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            members: 1,
            queue_depth: 64,
            receive_buffers: 16,
            sends: 16,
            datagram: 1400,
            batch_window: std::time::Duration::ZERO,
            timer_slack: std::time::Duration::ZERO,
        }
        .members(1)
    }

    /// Binds and builds the member `b` describes and hands it to the ring;
    /// returns it with its event receiver, as [`MemberBuilder::start`] does.
    pub fn spawn(&self, b: MemberBuilder) -> std::io::Result<(Member, Receiver<Output>)> {
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return Err(std::io::Error::other(
                "the ring thread has stopped (its error was logged)",
            ));
        }
        let p = b.prepare()?;
        if p.host.mtu() > self.datagram {
            return Err(std::io::Error::other(format!(
                "the member's MTU ({}) exceeds this ring's datagram size ({})",
                p.host.mtu(),
                self.datagram
            )));
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let inbox = self.inbox.clone();
        let wake: serf_runtime_std::member::Waker = Arc::new(move || inbox.push(Wake::Ready(key)));
        let commands = Commands::new(cmd_tx, Some(wake));
        let mut host = p.host;
        // Accepted streams arrive as commands, which wake the ring.
        host.accept_through(commands.clone())?;
        self.inbox.push(Wake::Add(Box::new(NewMember {
            key,
            host,
            socket: p.socket,
            commands: cmd_rx,
            done: done_tx,
        })));
        let member = Member::from_parts(p.local_addr, commands, done_rx);
        Ok((member, p.outputs))
    }

    /// What the ring counted so far.
    pub fn counters(&self) -> CounterValues {
        self.counters.snapshot()
    }

    /// Stops the ring and every member on it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.inbox.push(Wake::Stop);
            let _ = t.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The kernel's `struct io_uring_recvmsg_out` at the start of every
/// multishot receive buffer (four u32 lengths and flags).
const RECVMSG_OUT_HEADER: usize = 16;
