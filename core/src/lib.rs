//! `serf-core`: a `#![no_std]`, allocation-free, sans-IO SWIM + Lifeguard
//! membership engine.
//!
//! The runtime feeds it datagrams ([`Node::handle_datagram`]) and time
//! ([`Node::handle_timeout`]) and drains what it produces: datagrams
//! ([`Node::poll_transmit`], written into the caller's buffer), membership
//! events ([`Node::poll_event`]), received user messages ([`Node::poll_delivery`])
//! and the next deadline ([`Node::poll_timeout`]). Time, randomness and every
//! byte of memory come from the caller; every table has a fixed capacity.
//!
//! See `ARCHITECTURE.md` for where each protocol rule lives.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "arbitrary")]
extern crate std;

pub mod awareness;
pub mod broadcast;
pub mod clock;
pub mod codec;
pub mod config;
pub mod coordinates;
pub mod crypto;
pub mod event;
pub mod events;
pub mod identity;
pub mod inbox;
pub mod intent;
mod map;
pub mod member;
pub mod meta;
pub mod node;
pub mod probe;
pub mod query;
pub mod replay;
pub mod ring;
pub mod rng;
pub mod seq;
pub mod stats;
pub mod store;
pub mod suspicion;
pub mod tags;
pub mod time;
pub mod vivaldi;

pub use config::{Capacity, Config};
pub use event::{Event, EventKind};
pub use identity::{hash_bytes, mix64, Identity};
pub use member::State;
pub use node::{BuildError, Clocks, Delivery, MemberState, Node, Transmission, Transmit};
pub use rand_core;
pub use stats::Stats;
pub use time::Instant;
