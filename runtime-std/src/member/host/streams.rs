//! TCP streams for HashiCorp's wire: memberlist joins and push-pulls over
//! TCP on the member's own port. Only bytes move here: a plain message is
//! handed to the node's `feed_stream` piece by piece as it arrives (never
//! gathered); an encrypted one is gathered until `message_len` says it is
//! whole, for `handle_stream`. What a message means, and what goes back, is
//! the node's to say. Sockets are non-blocking and polled from
//! [`Host::tick`]; a connect runs on a short helper thread so that an
//! unreachable peer never stalls the loop.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant as StdInstant};

use serf_core::wire::hashicorp::feed::StreamFeed;
use serf_core::wire::hashicorp::stream::{message_len, sealed};
use serf_core::wire::DecodeError;
use serf_core::{StreamReply, StreamSide};

use super::Host;
use crate::member::{Command, Commands};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// memberlist's `TCPTimeout`: a stream that takes longer is dropped.
const STREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle listener is looked at, until an accept thread takes it
/// ([`Host::accept_through`]).
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// How often busy streams are looked at.
const BUSY_POLL: Duration = Duration::from_millis(1);
/// Streams open at once; more connections wait in the kernel's backlog.
const MAX_STREAMS: usize = 32;
/// Read size.
const CHUNK: usize = 16 * 1024;

enum Phase {
    /// Writing `out[sent..]`; then reading the answer (`true`) or closing.
    Writing { then_read: bool },
    /// Reading one message.
    Reading,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    side: StreamSide,
    phase: Phase,
    input: Vec<u8>,
    /// Reads a plain message piece by piece (an encrypted one is gathered
    /// in `input` and read whole).
    feed: Option<Box<StreamFeed>>,
    marks: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    deadline: StdInstant,
}

struct Connecting {
    result: Receiver<std::io::Result<TcpStream>>,
    to: SocketAddr,
    join: bool,
    replay: bool,
}

/// The member's TCP listener and its streams in progress.
#[derive(Default)]
pub(crate) struct Streams {
    listener: Option<TcpListener>,
    conns: Vec<Conn>,
    connecting: Vec<Connecting>,
    acceptor: Option<Acceptor>,
    /// Streams that failed (refused, reset, timed out, unreadable).
    pub(crate) failures: u64,
}

/// The thread blocked in `accept` on the member's listener.
struct Acceptor {
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Acceptor {
    /// Stops the thread: a connection of our own wakes its `accept`, so the
    /// port is free again once the member is gone.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut to = self.addr;
        if to.ip().is_unspecified() {
            to.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        if TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Streams {
    /// Streams over `listener` (non-blocking).
    pub(crate) fn listening(listener: TcpListener) -> std::io::Result<Streams> {
        listener.set_nonblocking(true)?;
        Ok(Streams {
            listener: Some(listener),
            ..Streams::default()
        })
    }

    /// Moves the listener to an accept thread feeding `commands`.
    pub(crate) fn accept_through(&mut self, commands: Commands) -> std::io::Result<()> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        listener.set_nonblocking(false)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("serf-accept".into())
            .spawn(move || loop {
                let accepted = listener.accept();
                if flag.load(Ordering::SeqCst) {
                    return;
                }
                match accepted {
                    Ok((stream, peer)) => {
                        if commands.send(Command::Stream(stream, peer)).is_err() {
                            return; // the member stopped
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "memberlist", "accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })?;
        self.acceptor = Some(Acceptor {
            stop,
            addr,
            thread: Some(thread),
        });
        Ok(())
    }

    /// When the streams next need a look.
    pub(crate) fn deadline(&self) -> Option<StdInstant> {
        let now = StdInstant::now();
        if !self.conns.is_empty() || !self.connecting.is_empty() {
            Some(now + BUSY_POLL)
        } else {
            self.listener.as_ref().map(|_| now + ACCEPT_POLL)
        }
    }
}

impl Host {
    /// Opens the streams the node asked for, accepts connections, and moves
    /// every stream's bytes as far as the sockets allow.
    pub(super) fn pump_streams(&mut self) {
        while let Some(open) = self.node.poll_stream() {
            let (tx, rx) = mpsc::channel();
            let to = open.to;
            let spawned = std::thread::Builder::new()
                .name("serf-connect".into())
                .spawn(move || {
                    let _ = tx.send(TcpStream::connect_timeout(&to, STREAM_TIMEOUT));
                });
            match spawned {
                Ok(_) => self.streams.connecting.push(Connecting {
                    result: rx,
                    to,
                    join: open.join,
                    replay: open.replay,
                }),
                Err(e) => self.stream_failed(to, &format!("cannot start a connect: {e}")),
            }
        }
        self.finish_connects();
        self.accept();
        let mut i = 0;
        while i < self.streams.conns.len() {
            if self.pump(i) {
                i += 1;
            } else {
                self.streams.conns.swap_remove(i);
            }
        }
    }

    fn finish_connects(&mut self) {
        let mut i = 0;
        while i < self.streams.connecting.len() {
            let c = &self.streams.connecting[i];
            let (to, join, replay) = (c.to, c.join, c.replay);
            let result = match c.result.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Err(TryRecvError::Disconnected) => {
                    Err(std::io::Error::other("connect thread ended"))
                }
            };
            self.streams.connecting.swap_remove(i);
            let stream = match result.and_then(|s| s.set_nonblocking(true).map(|()| s)) {
                Ok(s) => s,
                Err(e) => {
                    self.stream_failed(to, &format!("cannot connect: {e}"));
                    continue;
                }
            };
            tracing::debug!(target: "memberlist", "Initiating push/pull sync with: {to}");
            let mut out = vec![0u8; self.node.stream_state_len()];
            let Some(n) = self.node.write_stream_state(join, &mut out) else {
                self.stream_failed(to, "our state did not fit its buffer");
                continue;
            };
            out.truncate(n);
            self.streams.conns.push(Conn {
                stream,
                peer: to,
                side: StreamSide::Opened { join, replay },
                phase: Phase::Writing { then_read: true },
                input: Vec::new(),
                feed: None,
                marks: Vec::new(),
                out,
                sent: 0,
                deadline: StdInstant::now() + STREAM_TIMEOUT,
            });
        }
    }

    fn accept(&mut self) {
        while self.streams.conns.len() < MAX_STREAMS {
            let accepted = match &self.streams.listener {
                Some(listener) => listener.accept(),
                None => return,
            };
            match accepted {
                Ok((stream, peer)) => self.adopt_stream(stream, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(target: "memberlist", "accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Moves stream `i` along; false once it is finished (or failed).
    fn pump(&mut self, i: usize) -> bool {
        let peer = self.streams.conns[i].peer;
        if StdInstant::now() >= self.streams.conns[i].deadline {
            self.stream_failed(peer, "timed out");
            return false;
        }
        loop {
            let c = &mut self.streams.conns[i];
            match c.phase {
                Phase::Writing { then_read } => match c.stream.write(&c.out[c.sent..]) {
                    Ok(n) => {
                        c.sent += n;
                        if c.sent < c.out.len() {
                            continue;
                        }
                        if !then_read {
                            let _ = c.stream.flush();
                            return false;
                        }
                        c.phase = Phase::Reading;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(e) => {
                        self.stream_failed(peer, &format!("write failed: {e}"));
                        return false;
                    }
                },
                Phase::Reading => {
                    let mut chunk = [0u8; CHUNK];
                    match c.stream.read(&mut chunk) {
                        Ok(0) => {
                            self.stream_failed(peer, "closed before a whole message");
                            return false;
                        }
                        Ok(n) if c.feed.is_some() => {
                            if let Some(done) = self.stream_piece(i, &chunk[..n]) {
                                return done;
                            }
                        }
                        Ok(n) => {
                            c.input.extend_from_slice(&chunk[..n]);
                            if sealed(&c.input) == Some(false) {
                                // Plain: read as it comes, never gathered.
                                c.feed = Some(Box::new(StreamFeed::new()));
                                c.marks = vec![0u8; self.node.stream_marks_len()];
                                let input = std::mem::take(&mut c.input);
                                if let Some(done) = self.stream_piece(i, &input) {
                                    return done;
                                }
                                continue;
                            }
                            match message_len(&c.input) {
                                Ok(None) => continue,
                                Ok(Some(len)) if c.input.len() >= len => {
                                    return self.stream_message(i, len);
                                }
                                Ok(Some(_)) => continue,
                                Err(e) => {
                                    self.stream_failed(peer, &format!("unreadable: {e:?}"));
                                    return false;
                                }
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                        Err(e) => {
                            self.stream_failed(peer, &format!("read failed: {e}"));
                            return false;
                        }
                    }
                }
            }
        }
    }

    /// Takes on a connection a peer opened to us; beyond [`MAX_STREAMS`] at
    /// once it is closed (counted and logged: the peer retries later).
    pub(super) fn adopt_stream(&mut self, stream: TcpStream, peer: SocketAddr) {
        if self.streams.conns.len() >= MAX_STREAMS {
            self.stream_failed(peer, "too many streams at once");
            return;
        }
        if let Err(e) = stream.set_nonblocking(true) {
            self.stream_failed(peer, &format!("cannot use the connection: {e}"));
            return;
        }
        tracing::debug!(target: "memberlist", "Stream connection from={peer}");
        self.streams.conns.push(Conn {
            stream,
            peer,
            side: StreamSide::Accepted,
            phase: Phase::Reading,
            input: Vec::new(),
            feed: None,
            marks: Vec::new(),
            out: Vec::new(),
            sent: 0,
            deadline: StdInstant::now() + STREAM_TIMEOUT,
        });
        self.pump_streams();
    }

    /// A whole message arrived on stream `i`: the node handles it and says
    /// what goes back.
    fn stream_message(&mut self, i: usize, len: usize) -> bool {
        let now = self.now();
        let c = &mut self.streams.conns[i];
        let (peer, side) = (c.peer, c.side);
        let input = std::mem::take(&mut c.input);
        let mut scratch = vec![0u8; self.node.stream_scratch_len(len)];
        let mut reply = vec![0u8; 1024];
        let r = self
            .node
            .handle_stream(now, peer, side, &input[..len], &mut scratch, &mut reply);
        drop(scratch);
        self.stream_answer(i, r, reply)
    }

    /// The next piece of a plain message on stream `i`: `None` while the
    /// message goes on, else whether the stream is still in use.
    fn stream_piece(&mut self, i: usize, piece: &[u8]) -> Option<bool> {
        let now = self.now();
        let c = &mut self.streams.conns[i];
        let (peer, side) = (c.peer, c.side);
        let (Some(feed), marks) = (c.feed.as_deref_mut(), &mut c.marks) else {
            return Some(false);
        };
        let mut reply = [0u8; 1024];
        let r = self
            .node
            .feed_stream(now, peer, side, feed, marks, piece, &mut reply);
        if let Ok(None) = r {
            // Members merged so far are the application's to see.
            self.drain();
            return None;
        }
        let r = r.map(|answer| answer.unwrap_or(StreamReply::Close));
        Some(self.stream_answer(i, r, reply.to_vec()))
    }

    /// What the node made of a whole message on stream `i`, carried out.
    fn stream_answer(
        &mut self,
        i: usize,
        r: Result<StreamReply, DecodeError>,
        mut reply: Vec<u8>,
    ) -> bool {
        let peer = self.streams.conns[i].peer;
        let side = self.streams.conns[i].side;
        self.streams.conns[i].feed = None;
        if let StreamSide::Opened { .. } = side {
            self.seed_spoke(peer);
        }
        self.drain();
        let out = match r {
            Ok(StreamReply::Close) => return false,
            Ok(StreamReply::Bytes(n)) => {
                reply.truncate(n);
                reply
            }
            Ok(StreamReply::Refused { len, why }) => {
                // As memberlist: logged, and the peer is told why.
                self.streams.failures += 1;
                tracing::error!(target: "memberlist", "failed to receive: {why} from={peer}");
                reply.truncate(len);
                reply
            }
            Ok(StreamReply::RemoteError(n)) => {
                let why = format!("remote error: {}", String::from_utf8_lossy(&reply[..n]));
                self.stream_failed(peer, &why);
                self.join_refused(peer, why);
                return false;
            }
            Ok(StreamReply::State { join }) => {
                let mut out = vec![0u8; self.node.stream_state_len()];
                match self.node.write_stream_state(join, &mut out) {
                    Some(n) => {
                        out.truncate(n);
                        out
                    }
                    None => {
                        self.stream_failed(peer, "our state did not fit its buffer");
                        return false;
                    }
                }
            }
            Err(DecodeError::Refused(why)) => {
                // Our stream's answer is unreadable: a join says why.
                self.stream_failed(peer, why.text());
                self.join_refused(peer, why.to_string());
                return false;
            }
            Err(e) => {
                self.stream_failed(peer, &format!("message refused: {e}"));
                return false;
            }
        };
        let c = &mut self.streams.conns[i];
        c.out = out;
        c.sent = 0;
        c.phase = Phase::Writing { then_read: false };
        self.pump(i)
    }

    fn stream_failed(&mut self, peer: SocketAddr, why: &str) {
        self.streams.failures += 1;
        tracing::warn!(target: "memberlist", "stream with {peer} failed: {why} ({} stream failures in all)", self.streams.failures);
    }
}
