//! `serf-agent`: the `serf` agent and command line above the runtimes —
//! flags and Serf's JSON configuration files, the RPC port (HashiCorp Serf's
//! IPC protocol), event handlers and coalescing, snapshots, tags and keyring
//! files, logging (stdout, monitor, syslog) and signals.

pub mod agent;
pub mod cli;
pub mod coalesce;
pub mod config_file;
pub mod dispatch;
pub mod event;
pub mod files;
pub mod handlers;
pub mod hub;
pub mod log;
pub mod lossy;
pub mod netif;
pub mod rpc;
pub mod snapshot;
pub mod syslog;
pub mod usage;
