//! What crosses the member's channels: commands (each with its reply
//! channel), outputs (member events, user events, queries) and the records
//! they carry.

use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::Duration;

use serf_core::query::KeyOp;
use serf_core::vivaldi::Coordinate;
use serf_core::EventKind;

/// A member as the application sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberInfo {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: SocketAddr,
    /// Serf status: alive, leaving, left, failed (suspect shows as alive, as Serf).
    pub status: &'static str,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Incarnation.
    pub incarnation: u32,
    /// The Serf protocol version it announced (2 to 5).
    pub protocol: u8,
}

/// A membership event with the member as it is right after it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberEvent {
    /// What happened (the core's kinds, including suspect and conflicts).
    pub kind: EventKind,
    /// The member, with its tags and status.
    pub member: MemberInfo,
}

/// A user event as delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct UserEvent {
    /// Event clock time.
    pub ltime: u64,
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Sent with coalescing allowed.
    pub coalesce: bool,
}

/// A query this member is asked to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryRequest {
    /// Local query id (for [`Command::Respond`]).
    pub id: u32,
    /// Query clock time.
    pub ltime: u64,
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Something that happened, for the agent (handlers, RPC streams).
#[derive(Clone, Debug)]
pub enum Output {
    /// A membership event.
    Member(MemberEvent),
    /// A user event.
    User(UserEvent),
    /// A query to answer.
    Query(QueryRequest),
}

/// What a query originator hears.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryEvent {
    /// A member acked.
    Ack(String),
    /// A member answered.
    Response(String, Vec<u8>),
    /// The deadline passed.
    Done,
}

/// Query parameters as the command line and RPC give them.
#[derive(Clone, Debug, Default)]
pub struct QuerySpec {
    /// Name.
    pub name: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Only these node names.
    pub nodes: Vec<String>,
    /// Tag filters (key, regex).
    pub tags: Vec<(String, String)>,
    /// Request acks.
    pub ack: bool,
    /// Relay factor.
    pub relay_factor: u8,
    /// Timeout (None: default).
    pub timeout: Option<Duration>,
}

/// Counters and state for `info` / `stats`.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// Own name.
    pub name: String,
    /// Members by status.
    pub members: usize,
    /// Failed members.
    pub failed: usize,
    /// Left members.
    pub left: usize,
    /// Health score.
    pub health_score: u32,
    /// Lamport clocks.
    pub member_time: u64,
    /// Event clock.
    pub event_time: u64,
    /// Query clock.
    pub query_time: u64,
    /// Encrypted.
    pub encrypted: bool,
    /// Coordinate resets.
    pub coordinate_resets: u64,
    /// Own tags.
    pub tags: Vec<(String, String)>,
}

pub(crate) type Reply<T> = Sender<T>;

/// What a join achieved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JoinOutcome {
    /// Seeds whose state arrived within the join timeout.
    pub joined: usize,
    /// Seeds that did not answer, each with the reason (a refusal the seed
    /// sent, worded as memberlist words it, or the timeout).
    pub failures: Vec<JoinFailure>,
}

/// One seed a join could not reach.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinFailure {
    /// The seed.
    pub addr: SocketAddr,
    /// Why.
    pub reason: String,
}

impl JoinOutcome {
    /// Serf's report of the failures: `N error(s) occurred:` and one
    /// `* Failed to join ADDR: reason` line per seed.
    pub fn describe(&self) -> String {
        let n = self.failures.len();
        let mut s = format!("{n} error{} occurred:", if n == 1 { "" } else { "s" });
        for f in &self.failures {
            s.push_str(&format!(
                "\n\t* Failed to join {}: {}",
                f.addr.ip(),
                f.reason
            ));
        }
        s
    }
}

/// Commands to the protocol loop.
pub enum Command {
    /// A TCP connection accepted on the member's port (HashiCorp's wire),
    /// handed over by the accept thread.
    Stream(std::net::TcpStream, SocketAddr),
    /// Join through addresses (replaying past events if asked); replies with
    /// how many answered within the wait, and why the others did not.
    Join(Vec<SocketAddr>, bool, Reply<JoinOutcome>),
    /// Leave gracefully; replies when the broadcasts went out (or timed out).
    Leave(Reply<()>),
    /// Fire a user event.
    Event(String, Vec<u8>, bool, Reply<Result<u64, String>>),
    /// Send a query; its events go to the given sender.
    Query(QuerySpec, Sender<QueryEvent>, Reply<Result<u32, String>>),
    /// Answer a query.
    Respond(u32, Vec<u8>, Reply<Result<(), String>>),
    /// List members.
    Members(Reply<Vec<MemberInfo>>),
    /// Replace tags.
    SetTags(Vec<(String, String)>, Reply<Result<(), String>>),
    /// A member's coordinate.
    Coordinate(String, Reply<Option<Coordinate>>),
    /// Agent info.
    Info(Reply<Info>),
    /// Force a member out.
    ForceLeave(String, bool, Reply<bool>),
    /// Keyring operation across the cluster; replies with (ok, failed, messages, keys).
    Keys(
        KeyOp,
        Option<Vec<u8>>,
        Sender<QueryEvent>,
        Reply<Result<u32, String>>,
    ),
    /// This node's keys, primary first.
    LocalKeys(Reply<Vec<Vec<u8>>>),
    /// The node's counters (traffic, drops).
    Stats(Reply<serf_core::Stats>),
    /// Restore the Lamport clocks from a snapshot.
    RestoreClocks(serf_core::Clocks),
    /// Stop the loop.
    Shutdown,
}
