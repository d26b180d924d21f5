//! The agent's RPC port: HashiCorp Serf's IPC protocol version 1 (msgpack
//! objects over TCP, `{Command, Seq}` request headers, `{Seq, Error}` response
//! headers, field names as in Serf), so existing Serf clients work.
//!
//! Every connection runs in its own thread and talks to the protocol loop
//! through its command channel. Bad input closes that connection only.

use std::net::{TcpListener, TcpStream};

use serf_runtime_std::member::Commands;

use crate::hub::Hub;

mod client;
mod connection;
mod events;
mod frame;
mod info;
mod keys;
mod membership;
mod queries;
mod records;
mod request;
mod session;

pub use client::{get, get_bytes, get_str, get_u64, Client};
use connection::Connection;
pub use records::{base64_decode, base64_decode_strict, KeysBody};

/// RPC server settings.
#[derive(Clone)]
pub struct RpcConfig {
    /// Shared secret required by `auth` (empty: none).
    pub auth_key: String,
    /// The agent's log, for `monitor`.
    pub logs: Option<crate::log::Logs>,
    /// Rewrite tags here when they change.
    pub tags_file: Option<std::path::PathBuf>,
    /// How long `leave` waits for the member's answer: the leave itself may
    /// wait the broadcast timeout (twice: Serf's intent, then memberlist's),
    /// as HashiCorp's does, so the ordinary answer timeout is too short.
    pub leave_wait: std::time::Duration,
    /// How `join` turns an address into a socket address: the agent
    /// resolves names as Serf does ([`crate::cli::parse_join_addr`]); a
    /// fuzzer takes literal addresses only, so no input reaches DNS.
    pub resolve: fn(&str) -> Result<std::net::SocketAddr, String>,
}

/// Serves one connected client until it goes or sends something bad (on the
/// calling thread; the accept loop gives each client its own).
pub fn serve_client(stream: TcpStream, commands: Commands, hub: Hub, config: RpcConfig) {
    match Connection::new(stream, commands, hub, config) {
        Ok(c) => c.run(),
        Err(e) => tracing::error!(target: "agent.ipc", "cannot serve client: {e}"),
    }
}

/// Serves RPC connections on `listener` until the process exits.
pub fn serve(listener: TcpListener, commands: Commands, hub: Hub, config: RpcConfig) {
    let spawned = std::thread::Builder::new()
        .name("serf-rpc".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let stream = match stream {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors or memory: back off rather than
                        // spin; clients already connected keep being served.
                        tracing::error!(target: "agent.ipc", "failed to accept client: {e}");
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                };
                if let Ok(peer) = stream.peer_addr() {
                    tracing::info!(target: "agent.ipc", "Accepted client: {peer}");
                }
                let commands = commands.clone();
                let hub = hub.clone();
                let config = config.clone();
                let spawned = std::thread::Builder::new()
                    .name("serf-rpc-conn".into())
                    .spawn(
                        move || match Connection::new(stream, commands, hub, config) {
                            Ok(c) => c.run(),
                            Err(e) => {
                                tracing::error!(target: "agent.ipc", "cannot serve client: {e}")
                            }
                        },
                    );
                if let Err(e) = spawned {
                    tracing::error!(target: "agent.ipc", "cannot serve client (no thread): {e}");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(target: "agent.ipc", "RPC is not served (no thread): {e}");
    }
}
