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

mod buffers;
mod clock;
mod config;
mod event;
mod identity;
mod node;
mod rng;
mod stats;
pub mod storage;
mod time;
pub mod vivaldi;
pub mod wire;

/// Queries: parameters, errors, filters and keyring operations.
pub mod query {
    pub use crate::node::query::{
        simple_match, KeyOp, KeyResponse, QueryError, QueryParams, SimpleMatcher, TagMatcher,
        SIMPLE_MATCHER,
    };
}

/// Lifeguard's suspicion timeout formula (for tests and tools that reason
/// about detection times).
pub mod lifeguard {
    pub use crate::node::suspicion::timeouts;
}

pub use buffers::{Buffers, Sizes};
pub use config::{Capacity, Config, Wire};
pub use event::{Event, EventKind};
pub use identity::{hash_bytes, mix64, HcNode, Identity};
pub use node::members::table::{Counts, State};
pub use node::{
    BuildError, Clocks, Delivery, MemberState, Node, StreamOpen, StreamReply, StreamSide,
    Transmission, Transmit, Violation,
};
pub use rand_core;
pub use stats::Stats;
pub use storage::{Borrowed, Provide, Store};
pub use time::Instant;
pub use wire::tags::Tags;
pub use wire::{Key, KeyError, Keyring, Label};
