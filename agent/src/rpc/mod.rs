//! The agent's RPC port: HashiCorp Serf's IPC protocol version 1 (msgpack
//! objects over TCP, `{Command, Seq}` request headers, `{Seq, Error}` response
//! headers, field names as in Serf), so existing Serf clients work.
//!
//! Every connection runs in its own thread and talks to the protocol loop
//! through its command channel. Bad input closes that connection only.

use std::net::TcpListener;

use serf_runtime_std::member::Commands;

use crate::hub::Hub;

mod client;
mod connection;
mod events;
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
}

/// Serves RPC connections on `listener` until the process exits.
pub fn serve(listener: TcpListener, commands: Commands, hub: Hub, config: RpcConfig) {
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
