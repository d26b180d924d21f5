//! `serf-runtime-std`: drives `serf-core` with std UDP sockets and threads; the
//! `serf` agent, its RPC port (HashiCorp Serf's IPC protocol), event handlers
//! and the command line.
//!
//! Embedding a member in an application:
//!
//! ```no_run
//! use std::sync::mpsc;
//! use serf_runtime_std::id::NodeId;
//! use serf_runtime_std::member::{Command, Member, Output};
//! let (tx, events) = mpsc::channel();
//! let id = NodeId::new("app-1", "127.0.0.1:7946".parse().unwrap()).unwrap();
//! let member = Member::start(id, "127.0.0.1:7946".parse().unwrap(), serf_core::Config::lan(), tx).unwrap();
//! let (reply, joined) = mpsc::channel();
//! member.commands().send(Command::Join(vec!["127.0.0.2:7946".parse().unwrap()], reply)).unwrap();
//! println!("joined {} seeds", joined.recv().unwrap());
//! while let Ok(Output::Member(e)) = events.recv() {
//!     println!("{:?} {:?}", e.kind, e.member);
//! }
//! ```

pub mod agent;
pub mod cli;
pub mod config_file;
pub mod files;
pub mod handlers;
pub mod hub;
pub mod id;
pub mod log;
pub mod member;
pub mod rpc;
pub mod snapshot;
