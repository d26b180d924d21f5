//! One client connection: its reader loop, the writer thread that owns the
//! socket's write half, and the command table that sends each request to its
//! function (one per command, in the files beside this one).

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{self, Sender, SyncSender, TrySendError};
use std::time::Duration;

use rmpv::Value;
use serde::Serialize;
use serf_runtime_std::member::{Command, Commands};

use super::frame::{read_object, Limits};
use super::records::ResponseHeader;
use super::request::{Body, Header};
use super::RpcConfig;
use crate::hub::Hub;

/// How long a command waits for the protocol loop's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses queued per connection before whoever answers waits for the
/// socket: a client that stops reading holds up its own connection (as with
/// HashiCorp's agent, whose handlers write synchronously), not the agent's
/// memory.
const WRITE_QUEUE: usize = 64;

/// Sends encoded responses to the connection's writer thread (which owns the
/// socket's write half), so the reader thread and stream forwarders never
/// share the socket.
#[derive(Clone)]
pub(crate) struct Writer(SyncSender<Out>);

/// What the writer thread is handed.
enum Out {
    /// An encoded message to write.
    Bytes(Vec<u8>),
    /// Answer once everything queued before is written.
    Written(Sender<()>),
    /// The connection is over: stop.
    Close,
}

impl Writer {
    /// Queues `bytes`; fails once the connection is gone.
    fn send(&self, bytes: Vec<u8>) -> Result<(), ()> {
        self.0.send(Out::Bytes(bytes)).map_err(drop)
    }

    /// Whether the writer thread still runs: a stream forwarder asks while
    /// idle, to stop once its client has gone.
    fn is_open(&self) -> bool {
        !matches!(
            self.0.try_send(Out::Bytes(Vec::new())),
            Err(TrySendError::Disconnected(_))
        )
    }

    /// The next entry a stream forwarder should write from `rx`; `None` once
    /// `rx` ends or this connection's writer has stopped (checked every
    /// second while idle, so a gone client's forwarder does not linger).
    pub(crate) fn next_from<T>(&self, rx: &mpsc::Receiver<T>) -> Option<T> {
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(v) => return Some(v),
                Err(mpsc::RecvTimeoutError::Timeout) if self.is_open() => {}
                Err(_) => return None,
            }
        }
    }

    /// Stops the writer thread once it gets here (without waiting).
    fn close(&self) {
        let _ = self.0.try_send(Out::Close);
    }

    /// Waits (at most a second) until everything queued so far is on the
    /// socket: before the agent exits after answering `leave`.
    pub(crate) fn wait_written(&self) {
        let (tx, rx) = mpsc::channel();
        if self.0.send(Out::Written(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// Starts a thread for this connection; without one (out of threads or
/// memory) the request fails with an error that ends the connection.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

fn writer_thread(stream: TcpStream) -> Result<Writer, String> {
    let (tx, rx) = mpsc::sync_channel::<Out>(WRITE_QUEUE);
    spawn("serf-rpc-writer", move || {
        // Each message is encoded whole, so it is written straight out.
        let mut w = stream;
        while let Ok(out) = rx.recv() {
            match out {
                Out::Bytes(bytes) => {
                    if w.write_all(&bytes).is_err() {
                        return;
                    }
                }
                Out::Written(done) => {
                    let _ = done.send(());
                }
                Out::Close => return,
            }
        }
    })?;
    Ok(Writer(tx))
}

/// A client connection's state.
pub(crate) struct Connection {
    reader: BufReader<TcpStream>,
    pub(super) writer: Writer,
    pub(super) commands: Commands,
    pub(super) hub: Hub,
    pub(super) config: RpcConfig,
    pub(super) handshake: bool,
    pub(super) authed: bool,
    /// The client's address, for the log.
    pub(super) peer: String,
    /// The last request header, which the next one is decoded over.
    header: Header,
}

/// Reads one request object, refusing oversized ones.
pub(crate) fn read_value(r: &mut impl Read) -> Result<Value, String> {
    read_object(r, Limits::REQUEST)
}

/// Sends `make`'s command to the protocol loop and waits for its answer.
pub(crate) fn ask<T>(
    commands: &Commands,
    make: impl FnOnce(Sender<T>) -> Command,
) -> Result<T, String> {
    ask_within(commands, ANSWER_TIMEOUT, make)
}

/// [`ask`] with its own time limit.
pub(crate) fn ask_within<T>(
    commands: &Commands,
    limit: Duration,
    make: impl FnOnce(Sender<T>) -> Command,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    commands
        .send(make(tx))
        .map_err(|_| "agent is shutting down".to_string())?;
    rx.recv_timeout(limit)
        .map_err(|_| format!("agent did not answer within {limit:?}"))
}

/// Writes a response header and optional body as one message, so records
/// of concurrent streams never interleave.
pub(crate) fn write_obj<T: Serialize>(
    w: &Writer,
    header: &ResponseHeader<'_>,
    body: Option<&T>,
) -> Result<(), String> {
    let mut bytes = Vec::new();
    rmp_serde::encode::write_named(&mut bytes, header).map_err(|e| e.to_string())?;
    if let Some(b) = body {
        rmp_serde::encode::write_named(&mut bytes, b).map_err(|e| e.to_string())?;
    }
    w.send(bytes).map_err(|_| "connection closed".to_string())
}

/// True for commands whose request carries a body.
fn has_body(command: &str) -> bool {
    !matches!(command, "members" | "leave" | "list-keys" | "stats")
}

impl Connection {
    pub(super) fn new(
        stream: TcpStream,
        commands: Commands,
        hub: Hub,
        config: RpcConfig,
    ) -> Result<Self, String> {
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "unknown client".to_string(), |a| a.to_string());
        let writer = writer_thread(stream.try_clone().map_err(|e| e.to_string())?)?;
        Ok(Connection {
            peer,
            // Requests are small: a small buffer per connection.
            reader: BufReader::with_capacity(1024, stream),
            writer,
            commands,
            hub,
            config,
            handshake: false,
            authed: false,
            header: Header::default(),
        })
    }

    /// Answers `seq` with a header only.
    pub(super) fn reply(&self, seq: u64, error: &str) -> Result<(), String> {
        write_obj::<()>(&self.writer, &ResponseHeader { seq, error }, None)
    }

    /// Answers `seq` with a header and a body.
    pub(super) fn reply_body<T: Serialize>(
        &self,
        seq: u64,
        error: &str,
        body: &T,
    ) -> Result<(), String> {
        write_obj(&self.writer, &ResponseHeader { seq, error }, Some(body))
    }

    /// Reads the current request's body.
    pub(super) fn body(&mut self) -> Result<Body, String> {
        Body::new(read_value(&mut self.reader)?)
    }

    /// Serves requests until the client goes or sends something bad, then
    /// ends the connection: answers already queued go out (within a
    /// second), the socket is shut so a writer stuck on a client that does
    /// not read fails at once, and the writer thread and the connection's
    /// streams stop.
    pub(super) fn run(mut self) {
        self.serve();
        self.writer.wait_written();
        let _ = self.reader.get_ref().shutdown(std::net::Shutdown::Both);
        self.writer.close();
        drop(self);
        crate::agent::process::trim_soon();
    }

    fn serve(&mut self) {
        loop {
            let decoded = read_value(&mut self.reader).and_then(|v| self.header.update(&v));
            if let Err(e) = decoded {
                // Closed, garbage or oversized: drop this client only.
                if !e.contains("failed to fill whole buffer") {
                    tracing::error!(target: "agent.ipc", "failed to decode request header: {e}");
                }
                return;
            }
            let Header { command, seq } = self.header.clone();
            tracing::debug!(target: "agent.ipc", "Request: {command} (seq {seq})");
            if let Err(e) = self.dispatch(&command, seq) {
                tracing::error!(target: "agent.ipc", "Failed to evaluate request: {e}");
                return;
            }
        }
    }

    /// The command table: the handshake and auth gates, then one function
    /// per command.
    fn dispatch(&mut self, command: &str, seq: u64) -> Result<(), String> {
        if !self.handshake && command != "handshake" {
            self.reply(seq, "Handshake required")?;
            return Err("no handshake".into());
        }
        if !self.config.auth_key.is_empty()
            && !self.authed
            && !matches!(command, "handshake" | "auth")
        {
            // Serf reads (and discards) the body before refusing.
            if has_body(command) {
                self.body()?;
            }
            return self.reply(seq, "Authentication required");
        }
        match command {
            "handshake" => self.handshake(seq),
            "auth" => self.auth(seq),
            "event" => self.event(seq),
            "force-leave" => self.force_leave(seq),
            "join" => self.join(seq),
            "members" | "members-filtered" => self.members(seq, command),
            "tags" => self.tags(seq),
            "stream" => self.stream(seq),
            "monitor" => self.monitor(seq),
            "stop" => self.stop(seq),
            "leave" => self.leave(seq),
            "query" => self.query(seq),
            "respond" => self.respond(seq),
            "install-key" | "use-key" | "remove-key" | "list-keys" => self.keys(seq, command),
            "stats" => self.stats(seq),
            "get-coordinate" => self.get_coordinate(seq),
            _ => {
                self.reply(seq, "Unsupported command")?;
                Err("unsupported".into())
            }
        }
    }
}
