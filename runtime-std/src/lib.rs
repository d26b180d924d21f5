//! `serf-runtime-std`: drives one `serf-core` member with a std UDP socket and
//! a protocol thread, behind the embedding API [`member::Member`]. The `serf`
//! agent and command line live above it, in `serf-agent`.
//!
//! Embedding a member in an application (no agent, no RPC): a builder for
//! the member, events on a channel, methods for join, leave, tags, events and
//! queries. This example runs two members on loopback:
//!
//! ```
//! use std::time::Duration;
//! use serf_runtime_std::member::{Member, Output};
//! let local = "127.0.0.1:0".parse().unwrap();
//! let (a, _a_events) = Member::builder("app-a").bind(local).tag("role", "web")
//!     .config(serf_core::Config::local()).start()?;
//! let (b, b_events) = Member::builder("app-b").bind(local)
//!     .config(serf_core::Config::local()).start()?;
//! assert_eq!(b.join(&[a.local_addr]), 1);
//! a.user_event("deploy", b"v2", false)?;
//! // b hears its own join, a's join, then the event.
//! let mut heard = Vec::new();
//! while let Ok(out) = b_events.recv_timeout(Duration::from_secs(5)) {
//!     match out {
//!         Output::Member(e) => heard.push(format!("{:?} {}", e.kind, e.member.name)),
//!         Output::User(e) => {
//!             heard.push(format!("{} {}", e.name, String::from_utf8_lossy(&e.payload)));
//!             break;
//!         }
//!         Output::Query(_) => {}
//!     }
//! }
//! assert_eq!(heard, ["Joined app-b", "Joined app-a", "deploy v2"]);
//! let a_seen_by_b = b.members().into_iter().find(|m| m.name == "app-a").unwrap();
//! assert_eq!(a_seen_by_b.tags, [("role".to_string(), "web".to_string())]);
//! a.leave();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod id;
pub mod member;
