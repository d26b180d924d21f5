//! The agent's RPC port: HashiCorp Serf's IPC protocol version 1 (msgpack
//! objects over TCP, `{Command, Seq}` request headers, `{Seq, Error}` response
//! headers, field names as in Serf), so existing Serf clients work.
//!
//! Every connection runs in its own thread and talks to the protocol loop
//! through its command channel. Bad input closes that connection only.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use rmpv::Value;
use serde::Serialize;
use serf_core::query::{KeyOp, KeyResponse};

use crate::event::AgentEvent;
use crate::hub::Hub;
use serf_runtime_std::member::{
    Command, MemberInfo, QueryEvent, QueryRequest, QuerySpec, UserEvent,
};

/// Largest request object accepted (a query payload is at most a few KiB).
const MAX_OBJECT: u64 = 1 << 20;

/// RPC server settings.
#[derive(Clone, Default)]
pub struct RpcConfig {
    /// Shared secret required by `auth` (empty: none).
    pub auth_key: String,
    /// The agent's log, for `monitor`.
    pub logs: Option<crate::log::Logs>,
    /// Rewrite tags here when they change.
    pub tags_file: Option<std::path::PathBuf>,
}

/// Serves RPC connections on `listener` until the process exits.
pub fn serve(listener: TcpListener, commands: Sender<Command>, hub: Hub, config: RpcConfig) {
    std::thread::Builder::new()
        .name("serf-rpc".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Ok(peer) = stream.peer_addr() {
                    tracing::info!(target: "agent.ipc", "Accepted client: {peer}");
                }
                let commands = commands.clone();
                let hub = hub.clone();
                let config = config.clone();
                let _ = std::thread::Builder::new()
                    .name("serf-rpc-conn".into())
                    .spawn(move || {
                        let _ = Connection::new(stream, commands, hub, config).map(|c| c.run());
                    });
            }
        })
        .ok();
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ResponseHeader<'a> {
    seq: u64,
    error: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireMember {
    name: String,
    #[serde(with = "serde_bytes")]
    addr: Vec<u8>,
    port: u16,
    tags: BTreeMap<String, String>,
    status: String,
    protocol_min: u8,
    protocol_max: u8,
    protocol_cur: u8,
    delegate_min: u8,
    delegate_max: u8,
    delegate_cur: u8,
}

impl From<&MemberInfo> for WireMember {
    fn from(m: &MemberInfo) -> Self {
        let addr = match m.addr.ip() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        WireMember {
            name: m.name.clone(),
            addr,
            port: m.addr.port(),
            tags: m.tags.iter().cloned().collect(),
            status: m.status.to_string(),
            // memberlist's versions (ours speaks one wire) and Serf's, with
            // the version the member announced as current.
            protocol_min: 1,
            protocol_max: 5,
            protocol_cur: 2,
            delegate_min: 2,
            delegate_max: 5,
            delegate_cur: m.protocol,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MembersBody {
    members: Vec<WireMember>,
}

/// Sends encoded responses to the connection's writer thread (which owns the
/// socket's write half), so the reader thread and stream forwarders never
/// share the socket.
type Writer = Sender<Vec<u8>>;

fn writer_thread(stream: TcpStream) -> Writer {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut w = BufWriter::new(stream);
        while let Ok(bytes) = rx.recv() {
            if w.write_all(&bytes).and_then(|_| w.flush()).is_err() {
                return;
            }
        }
    });
    tx
}

struct Connection {
    reader: BufReader<TcpStream>,
    writer: Writer,
    commands: Sender<Command>,
    hub: Hub,
    config: RpcConfig,
    handshake: bool,
    authed: bool,
}

/// Reads one msgpack object, refusing oversized ones.
fn read_value(r: &mut impl Read) -> Result<Value, String> {
    let mut limited = r.take(MAX_OBJECT);
    rmpv::decode::read_value(&mut limited).map_err(|e| format!("malformed request: {e}"))
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn str_field(v: &Value, key: &str) -> String {
    field(v, key)
        .and_then(|x| x.as_str())
        .unwrap_or("")
        .to_string()
}

fn bytes_field(v: &Value, key: &str) -> Vec<u8> {
    match field(v, key) {
        Some(Value::Binary(b)) => b.clone(),
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => Vec::new(),
    }
}

fn bool_field(v: &Value, key: &str) -> bool {
    field(v, key).and_then(|x| x.as_bool()).unwrap_or(false)
}

fn u64_field(v: &Value, key: &str) -> u64 {
    field(v, key)
        .and_then(|x| x.as_u64().or_else(|| x.as_i64().map(|i| i.max(0) as u64)))
        .unwrap_or(0)
}

fn string_list(v: &Value, key: &str) -> Vec<String> {
    field(v, key)
        .and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: &Value, key: &str) -> Vec<(String, String)> {
    field(v, key)
        .and_then(|x| x.as_map())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn ask<T>(
    commands: &Sender<Command>,
    make: impl FnOnce(Sender<T>) -> Command,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    commands
        .send(make(tx))
        .map_err(|_| "agent is shutting down".to_string())?;
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| "agent did not answer".to_string())
}

fn write_obj<T: Serialize>(
    w: &Writer,
    header: &ResponseHeader<'_>,
    body: Option<&T>,
) -> Result<(), String> {
    // Header and body go out as one message, so records never interleave.
    let mut bytes = Vec::new();
    rmp_serde::encode::write_named(&mut bytes, header).map_err(|e| e.to_string())?;
    if let Some(b) = body {
        rmp_serde::encode::write_named(&mut bytes, b).map_err(|e| e.to_string())?;
    }
    w.send(bytes).map_err(|_| "connection closed".to_string())
}

impl Connection {
    fn new(
        stream: TcpStream,
        commands: Sender<Command>,
        hub: Hub,
        config: RpcConfig,
    ) -> std::io::Result<Self> {
        let writer = writer_thread(stream.try_clone()?);
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
            commands,
            hub,
            config,
            handshake: false,
            authed: false,
        })
    }

    fn reply(&self, seq: u64, error: &str) -> Result<(), String> {
        write_obj::<()>(&self.writer, &ResponseHeader { seq, error }, None)
    }

    fn reply_body<T: Serialize>(&self, seq: u64, error: &str, body: &T) -> Result<(), String> {
        write_obj(&self.writer, &ResponseHeader { seq, error }, Some(body))
    }

    fn run(mut self) {
        loop {
            let header = match read_value(&mut self.reader) {
                Ok(h) => h,
                Err(_) => return, // closed, garbage or oversized: drop this client only
            };
            let Some(command) = field(&header, "Command")
                .and_then(|c| c.as_str())
                .map(str::to_string)
            else {
                return;
            };
            let seq = u64_field(&header, "Seq");
            tracing::debug!(target: "agent.ipc", "Request: {command} (seq {seq})");
            if let Err(e) = self.dispatch(&command, seq) {
                tracing::debug!(target: "agent.ipc", "Closing client connection: {e}");
                return;
            }
        }
    }

    fn body(&mut self) -> Result<Value, String> {
        read_value(&mut self.reader)
    }

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
            "handshake" => {
                let b = self.body()?;
                if self.handshake {
                    return self.reply(seq, "Handshake already performed");
                }
                if u64_field(&b, "Version") != 1 {
                    return self.reply(seq, "Unsupported IPC version");
                }
                self.handshake = true;
                self.reply(seq, "")
            }
            "auth" => {
                let b = self.body()?;
                if str_field(&b, "AuthKey") == self.config.auth_key {
                    self.authed = true;
                    self.reply(seq, "")
                } else {
                    self.reply(seq, "Invalid authentication token")
                }
            }
            "event" => {
                let b = self.body()?;
                let (name, payload, coalesce) = (
                    str_field(&b, "Name"),
                    bytes_field(&b, "Payload"),
                    bool_field(&b, "Coalesce"),
                );
                match ask(&self.commands, |tx| {
                    Command::Event(name, payload, coalesce, tx)
                })? {
                    Ok(_) => self.reply(seq, ""),
                    Err(e) => self.reply(seq, &e),
                }
            }
            "force-leave" => {
                let b = self.body()?;
                let (node, prune) = (str_field(&b, "Node"), bool_field(&b, "Prune"));
                let ok = ask(&self.commands, |tx| Command::ForceLeave(node, prune, tx))?;
                self.reply(seq, if ok { "" } else { "node not found" })
            }
            "join" => {
                let b = self.body()?;
                let existing = string_list(&b, "Existing");
                let mut addrs = Vec::new();
                for e in &existing {
                    match crate::cli::parse_join_addr(e) {
                        Ok(a) => addrs.push(a),
                        Err(err) => {
                            #[derive(Serialize)]
                            #[serde(rename_all = "PascalCase")]
                            struct Num {
                                num: i32,
                            }
                            return self.reply_body(seq, &err, &Num { num: 0 });
                        }
                    }
                }
                let replay = bool_field(&b, "Replay");
                let outcome = ask(&self.commands, |tx| Command::Join(addrs, replay, tx))?;
                #[derive(Serialize)]
                #[serde(rename_all = "PascalCase")]
                struct Num {
                    num: i32,
                }
                // As Serf: an error only when no seed answered.
                let err = if outcome.joined == 0 {
                    outcome.describe()
                } else {
                    String::new()
                };
                self.reply_body(
                    seq,
                    &err,
                    &Num {
                        num: outcome.joined as i32,
                    },
                )
            }
            "members" | "members-filtered" => {
                let filter = if command == "members-filtered" {
                    Some(self.body()?)
                } else {
                    None
                };
                let list = ask(&self.commands, Command::Members)?;
                let members = match &filter {
                    None => list.iter().map(WireMember::from).collect(),
                    Some(f) => {
                        let anchored = |re: &str| regex_lite::Regex::new(&format!("^(?:{re})$"));
                        let status = str_field(f, "Status");
                        let name = str_field(f, "Name");
                        let tags = string_map(f, "Tags");
                        let (Ok(sre), Ok(nre)) = (
                            anchored(if status.is_empty() { ".*" } else { &status }),
                            anchored(if name.is_empty() { ".*" } else { &name }),
                        ) else {
                            return self.reply_body(
                                seq,
                                "invalid regular expression",
                                &MembersBody {
                                    members: Vec::new(),
                                },
                            );
                        };
                        let mut tres = Vec::new();
                        for (k, v) in &tags {
                            match anchored(v) {
                                Ok(r) => tres.push((k.clone(), r)),
                                Err(_) => {
                                    return self.reply_body(
                                        seq,
                                        "invalid regular expression",
                                        &MembersBody {
                                            members: Vec::new(),
                                        },
                                    )
                                }
                            }
                        }
                        list.iter()
                            .filter(|m| sre.is_match(m.status) && nre.is_match(&m.name))
                            .filter(|m| {
                                tres.iter().all(|(k, r)| {
                                    r.is_match(
                                        m.tags
                                            .iter()
                                            .find(|(tk, _)| tk == k)
                                            .map_or("", |(_, v)| v),
                                    )
                                })
                            })
                            .map(WireMember::from)
                            .collect()
                    }
                };
                self.reply_body(seq, "", &MembersBody { members })
            }
            "tags" => {
                let b = self.body()?;
                let set = string_map(&b, "Tags");
                let delete = string_list(&b, "DeleteTags");
                let info = ask(&self.commands, Command::Info)?;
                let mut tags: BTreeMap<String, String> = info.tags.into_iter().collect();
                for d in &delete {
                    tags.remove(d);
                }
                tags.extend(set);
                let tags: Vec<(String, String)> = tags.into_iter().collect();
                match ask(&self.commands, |tx| Command::SetTags(tags.clone(), tx))? {
                    Ok(()) => {
                        if let Some(path) = &self.config.tags_file {
                            if let Err(e) = crate::files::write_tags(path, &tags) {
                                return self.reply(seq, &e);
                            }
                        }
                        self.reply(seq, "")
                    }
                    Err(e) => self.reply(seq, &e),
                }
            }
            "stream" => {
                let b = self.body()?;
                let filter = str_field(&b, "Type");
                let Some(filter) = crate::handlers::Filter::parse_list(&filter) else {
                    return self.reply(seq, "Invalid event filter");
                };
                self.reply(seq, "")?;
                let rx = self.hub.subscribe();
                let writer = self.writer.clone();
                std::thread::spawn(move || stream(rx, writer, seq, filter));
                Ok(())
            }
            "monitor" => {
                let b = self.body()?;
                let level = str_field(&b, "LogLevel");
                let Some(max) =
                    crate::log::parse_level(if level.is_empty() { "info" } else { &level })
                else {
                    return self.reply(seq, &format!("Unknown log level: {level}"));
                };
                let Some(logs) = &self.config.logs else {
                    return self.reply(seq, "Monitor is not available");
                };
                self.reply(seq, "")?;
                let rx = logs.subscribe();
                let writer = self.writer.clone();
                std::thread::spawn(move || {
                    #[derive(Serialize)]
                    #[serde(rename_all = "PascalCase")]
                    struct Log<'a> {
                        log: &'a str,
                    }
                    while let Ok(line) = rx.recv() {
                        if line.level <= max {
                            let h = ResponseHeader { seq, error: "" };
                            if write_obj(&writer, &h, Some(&Log { log: &line.text })).is_err() {
                                return;
                            }
                        }
                    }
                });
                Ok(())
            }
            "stop" => {
                let _ = self.body()?;
                self.reply(seq, "")
            }
            "leave" => {
                ask(&self.commands, Command::Leave)?;
                self.reply(seq, "")?;
                self.hub.left();
                Ok(())
            }
            "query" => {
                let b = self.body()?;
                let timeout = u64_field(&b, "Timeout");
                let spec = QuerySpec {
                    name: str_field(&b, "Name"),
                    payload: bytes_field(&b, "Payload"),
                    nodes: string_list(&b, "FilterNodes"),
                    tags: string_map(&b, "FilterTags"),
                    ack: bool_field(&b, "RequestAck"),
                    relay_factor: u64_field(&b, "RelayFactor").min(255) as u8,
                    timeout: (timeout > 0).then(|| Duration::from_nanos(timeout)),
                };
                let (etx, erx) = mpsc::channel();
                match ask(&self.commands, |tx| Command::Query(spec, etx, tx))? {
                    Err(e) => self.reply(seq, &e),
                    Ok(_) => {
                        self.reply(seq, "")?;
                        #[derive(Serialize)]
                        #[serde(rename_all = "PascalCase")]
                        struct Record<'a> {
                            r#type: &'a str,
                            from: &'a str,
                            #[serde(with = "serde_bytes")]
                            payload: &'a [u8],
                        }
                        while let Ok(e) = erx.recv_timeout(Duration::from_secs(600)) {
                            let h = ResponseHeader { seq, error: "" };
                            match e {
                                QueryEvent::Ack(from) => write_obj(
                                    &self.writer,
                                    &h,
                                    Some(&Record {
                                        r#type: "ack",
                                        from: &from,
                                        payload: &[],
                                    }),
                                )?,
                                QueryEvent::Response(from, p) => write_obj(
                                    &self.writer,
                                    &h,
                                    Some(&Record {
                                        r#type: "response",
                                        from: &from,
                                        payload: &p,
                                    }),
                                )?,
                                QueryEvent::Done => {
                                    write_obj(
                                        &self.writer,
                                        &h,
                                        Some(&Record {
                                            r#type: "done",
                                            from: "",
                                            payload: &[],
                                        }),
                                    )?;
                                    break;
                                }
                            }
                        }
                        Ok(())
                    }
                }
            }
            "respond" => {
                let b = self.body()?;
                let (id, payload) = (u64_field(&b, "ID") as u32, bytes_field(&b, "Payload"));
                match ask(&self.commands, |tx| Command::Respond(id, payload, tx))? {
                    Ok(()) => self.reply(seq, ""),
                    Err(e) => self.reply(seq, &e),
                }
            }
            "install-key" | "use-key" | "remove-key" | "list-keys" => {
                let (op, key) = match command {
                    "install-key" => (KeyOp::Install, Some(self.body()?)),
                    "use-key" => (KeyOp::Use, Some(self.body()?)),
                    "remove-key" => (KeyOp::Remove, Some(self.body()?)),
                    _ => (KeyOp::List, None),
                };
                let key = match key.map(|b| str_field(&b, "Key")) {
                    None => None,
                    Some(k) => match base64_decode_strict(&k) {
                        Ok(bytes) => Some(bytes),
                        Err(e) => return self.reply_body(seq, &e, &KeysBody::default()),
                    },
                };
                // Every node that applies the change persists its keyring
                // itself (the member loop writes its keyring file).
                let body = key_operation(&self.commands, op, key)?;
                // Serf's KeyManager wording.
                let err = if body.num_err > 0 {
                    format!("{}/{} nodes reported failure", body.num_err, body.num_nodes)
                } else if body.num_resp < body.num_nodes {
                    format!(
                        "{}/{} nodes reported success",
                        body.num_resp, body.num_nodes
                    )
                } else {
                    String::new()
                };
                self.reply_body(seq, &err, &body)
            }
            "stats" => {
                let info = ask(&self.commands, Command::Info)?;
                let mut stats: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
                stats.insert("agent", [("name".to_string(), info.name.clone())].into());
                stats.insert(
                    "runtime",
                    [
                        ("os".to_string(), std::env::consts::OS.to_string()),
                        ("arch".to_string(), std::env::consts::ARCH.to_string()),
                        (
                            "version".to_string(),
                            format!("rust serf {}", env!("CARGO_PKG_VERSION")),
                        ),
                        (
                            "max_procs".to_string(),
                            std::thread::available_parallelism()
                                .map_or(1, |n| n.get())
                                .to_string(),
                        ),
                        ("goroutines".to_string(), "0".to_string()),
                        (
                            "cpu_count".to_string(),
                            std::thread::available_parallelism()
                                .map_or(1, |n| n.get())
                                .to_string(),
                        ),
                    ]
                    .into(),
                );
                stats.insert(
                    "serf",
                    [
                        ("members", info.members.to_string()),
                        ("failed", info.failed.to_string()),
                        ("left", info.left.to_string()),
                        ("health_score", info.health_score.to_string()),
                        ("member_time", info.member_time.to_string()),
                        ("event_time", info.event_time.to_string()),
                        ("query_time", info.query_time.to_string()),
                        ("intent_queue", "0".to_string()),
                        ("event_queue", "0".to_string()),
                        ("query_queue", "0".to_string()),
                        ("encrypted", info.encrypted.to_string()),
                        ("coordinate_resets", info.coordinate_resets.to_string()),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                );
                stats.insert("tags", info.tags.into_iter().collect());
                stats.insert(
                    "event_handlers",
                    self.hub.handler_specs().into_iter().collect(),
                );
                self.reply_body(seq, "", &stats)
            }
            "get-coordinate" => {
                let b = self.body()?;
                let node = str_field(&b, "Node");
                let c = ask(&self.commands, |tx| Command::Coordinate(node, tx))?;
                #[derive(Serialize)]
                #[serde(rename_all = "PascalCase")]
                struct WireCoord {
                    vec: Vec<f64>,
                    error: f64,
                    adjustment: f64,
                    height: f64,
                }
                #[derive(Serialize)]
                #[serde(rename_all = "PascalCase")]
                struct CoordBody {
                    coord: WireCoord,
                    ok: bool,
                }
                let body = match c {
                    Some(c) => CoordBody {
                        coord: WireCoord {
                            vec: c.vec[..c.dims as usize].to_vec(),
                            error: c.error,
                            adjustment: c.adjustment,
                            height: c.height,
                        },
                        ok: true,
                    },
                    None => CoordBody {
                        coord: WireCoord {
                            vec: Vec::new(),
                            error: 0.0,
                            adjustment: 0.0,
                            height: 0.0,
                        },
                        ok: false,
                    },
                };
                self.reply_body(seq, "", &body)
            }
            _ => {
                self.reply(seq, "Unsupported command")?;
                Err("unsupported".into())
            }
        }
    }
}

fn has_body(command: &str) -> bool {
    !matches!(command, "members" | "leave" | "list-keys" | "stats")
}

/// Response body of the key commands.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct KeysBody {
    messages: BTreeMap<String, String>,
    keys: Option<BTreeMap<String, i32>>,
    num_nodes: i32,
    num_err: i32,
    num_resp: i32,
}

fn key_operation(
    commands: &Sender<Command>,
    op: KeyOp,
    key: Option<Vec<u8>>,
) -> Result<KeysBody, String> {
    let members = ask(commands, Command::Members)?;
    let num_nodes = members.iter().filter(|m| m.status == "alive").count() as i32;
    let (etx, erx) = mpsc::channel();
    let mut body = KeysBody {
        num_nodes,
        ..KeysBody::default()
    };
    if let Err(e) = ask(commands, |tx| Command::Keys(op, key, etx, tx))? {
        body.messages.insert("".into(), e);
        body.num_err = num_nodes;
        return Ok(body);
    }
    let mut keys: BTreeMap<String, i32> = BTreeMap::new();
    while let Ok(e) = erx.recv_timeout(Duration::from_secs(600)) {
        match e {
            QueryEvent::Response(from, payload) => {
                body.num_resp += 1;
                match KeyResponse::parse(&payload) {
                    Some(r) if r.ok => {
                        for k in r.keys() {
                            *keys.entry(base64_encode(k)).or_default() += 1;
                        }
                    }
                    Some(r) => {
                        body.num_err += 1;
                        body.messages.insert(from, r.message.to_string());
                    }
                    None => {
                        body.num_err += 1;
                        body.messages.insert(from, "malformed response".into());
                    }
                }
            }
            QueryEvent::Ack(_) => {}
            QueryEvent::Done => break,
        }
    }
    if op == KeyOp::List {
        body.keys = Some(keys);
    }
    Ok(body)
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Decodes standard base64, with Go's error wording.
pub fn base64_decode_strict(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("illegal base64 data at input byte {at}")
            }
            _ => format!("illegal base64 data at input byte {}", s.trim().len()),
        })
}

/// Decodes standard base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// Forwards hub outputs matching `filter` to a stream subscriber.
fn stream(
    rx: mpsc::Receiver<AgentEvent>,
    writer: Writer,
    seq: u64,
    filter: Vec<crate::handlers::Filter>,
) {
    let h = ResponseHeader { seq, error: "" };
    while let Ok(out) = rx.recv() {
        if !filter.iter().any(|f| f.matches(&out)) {
            continue;
        }
        let ok = match &out {
            AgentEvent::Members { kind, members } => {
                #[derive(Serialize)]
                #[serde(rename_all = "PascalCase")]
                struct Rec {
                    event: &'static str,
                    members: Vec<WireMember>,
                }
                write_obj(
                    &writer,
                    &h,
                    Some(&Rec {
                        event: kind.name(),
                        members: members.iter().map(WireMember::from).collect(),
                    }),
                )
                .is_ok()
            }
            AgentEvent::User(UserEvent {
                ltime,
                name,
                payload,
                coalesce,
            }) => {
                #[derive(Serialize)]
                #[serde(rename_all = "PascalCase")]
                struct Rec<'a> {
                    event: &'static str,
                    l_time: u64,
                    name: &'a str,
                    #[serde(with = "serde_bytes")]
                    payload: &'a [u8],
                    coalesce: bool,
                }
                write_obj(
                    &writer,
                    &h,
                    Some(&Rec {
                        event: "user",
                        l_time: *ltime,
                        name,
                        payload,
                        coalesce: *coalesce,
                    }),
                )
                .is_ok()
            }
            AgentEvent::Query(QueryRequest {
                id,
                ltime,
                name,
                payload,
            }) => {
                #[derive(Serialize)]
                #[serde(rename_all = "PascalCase")]
                struct Rec<'a> {
                    event: &'static str,
                    #[serde(rename = "ID")]
                    id: u64,
                    l_time: u64,
                    name: &'a str,
                    #[serde(with = "serde_bytes")]
                    payload: &'a [u8],
                }
                write_obj(
                    &writer,
                    &h,
                    Some(&Rec {
                        event: "query",
                        id: *id as u64,
                        l_time: *ltime,
                        name,
                        payload,
                    }),
                )
                .is_ok()
            }
        };
        if !ok {
            return;
        }
    }
}

/// Connects to an agent's RPC port and performs the handshake (and auth).
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    seq: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RequestHeader<'a> {
    command: &'a str,
    seq: u64,
}

impl Client {
    /// Connects, with Serf's 10 s timeout; every failure is worded
    /// `Error connecting to Serf agent: ...`, as Serf's commands word it.
    pub fn connect(addr: &str, auth: &str) -> Result<Client, String> {
        Client::open(addr, auth).map_err(|e| format!("Error connecting to Serf agent: {e}"))
    }

    fn open(addr: &str, auth: &str) -> Result<Client, String> {
        let sock: SocketAddr = addr
            .parse()
            .map_err(|_| format!("invalid RPC address {addr:?}: use IP:port"))?;
        let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
            .map_err(|e| format!("dial tcp {addr}: {e}"))?;
        let mut c = Client {
            reader: BufReader::new(stream.try_clone().map_err(|e| e.to_string())?),
            writer: BufWriter::new(stream),
            seq: 0,
        };
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Handshake {
            version: i32,
        }
        c.call("handshake", Some(&Handshake { version: 1 }))?;
        if !auth.is_empty() {
            #[derive(Serialize)]
            #[serde(rename_all = "PascalCase")]
            struct Auth<'a> {
                auth_key: &'a str,
            }
            c.call("auth", Some(&Auth { auth_key: auth }))?;
        }
        Ok(c)
    }

    /// Sends a request; returns the response header's error check.
    pub fn send<T: Serialize>(&mut self, command: &str, body: Option<&T>) -> Result<u64, String> {
        self.seq += 1;
        rmp_serde::encode::write_named(
            &mut self.writer,
            &RequestHeader {
                command,
                seq: self.seq,
            },
        )
        .map_err(|e| e.to_string())?;
        if let Some(b) = body {
            rmp_serde::encode::write_named(&mut self.writer, b).map_err(|e| e.to_string())?;
        }
        self.writer.flush().map_err(|e| e.to_string())?;
        Ok(self.seq)
    }

    /// Reads the next response header; `Err` carries the agent's error.
    pub fn header(&mut self) -> Result<(), String> {
        let h = read_value(&mut self.reader)?;
        let e = str_field(&h, "Error");
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Reads a body object.
    pub fn value(&mut self) -> Result<Value, String> {
        read_value(&mut self.reader)
    }

    /// Request + header.
    pub fn call<T: Serialize>(&mut self, command: &str, body: Option<&T>) -> Result<(), String> {
        self.send(command, body)?;
        self.header()
    }
}

/// Reads a string field of a response body.
pub fn get_str(v: &Value, key: &str) -> String {
    str_field(v, key)
}

/// Reads a byte field of a response body.
pub fn get_bytes(v: &Value, key: &str) -> Vec<u8> {
    bytes_field(v, key)
}

/// Reads an integer field of a response body.
pub fn get_u64(v: &Value, key: &str) -> u64 {
    u64_field(v, key)
}

/// Reads a field.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    field(v, key)
}
