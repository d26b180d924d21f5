//! Events as event handlers and RPC streams see them, in Serf's shape: member
//! events carry a batch of members of one type (coalescing fills the batch),
//! user events and queries one at a time.

use serf_core::EventKind;

use serf_runtime_std::member::{MemberInfo, Output, QueryRequest, UserEvent};

/// Serf's member event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberKind {
    /// `member-join` (also a failed member that came back).
    Join,
    /// `member-leave`.
    Leave,
    /// `member-failed`.
    Failed,
    /// `member-update` (tags changed).
    Update,
    /// `member-reap`.
    Reap,
}

impl MemberKind {
    /// The Serf kind for a core event (`None` for kinds Serf does not report:
    /// suspicion, name conflicts).
    pub fn of(kind: EventKind) -> Option<MemberKind> {
        match kind {
            EventKind::Joined | EventKind::Alive => Some(MemberKind::Join),
            EventKind::Left => Some(MemberKind::Leave),
            EventKind::Failed => Some(MemberKind::Failed),
            EventKind::Updated => Some(MemberKind::Update),
            EventKind::Reaped => Some(MemberKind::Reap),
            _ => None,
        }
    }

    /// Serf's type string.
    pub fn name(self) -> &'static str {
        match self {
            MemberKind::Join => "member-join",
            MemberKind::Leave => "member-leave",
            MemberKind::Failed => "member-failed",
            MemberKind::Update => "member-update",
            MemberKind::Reap => "member-reap",
        }
    }
}

/// One event for handlers and streams.
#[derive(Clone, Debug, PartialEq)]
pub enum AgentEvent {
    /// Members that joined, left, failed, changed or were reaped.
    Members {
        /// The type shared by the batch.
        kind: MemberKind,
        /// The members, as they were right after the event.
        members: Vec<MemberInfo>,
    },
    /// A user event.
    User(UserEvent),
    /// A query for this agent to answer.
    Query(QueryRequest),
}

impl AgentEvent {
    /// The agent-facing form of a runtime output (`None` for core-only kinds).
    pub fn from_output(out: &Output) -> Option<AgentEvent> {
        Some(match out {
            Output::Member(e) => AgentEvent::Members {
                kind: MemberKind::of(e.kind)?,
                members: vec![e.member.clone()],
            },
            Output::User(e) => AgentEvent::User(e.clone()),
            Output::Query(q) => AgentEvent::Query(q.clone()),
        })
    }

    /// Serf's type string (`SERF_EVENT`, the stream's `Event` field).
    pub fn name(&self) -> &'static str {
        match self {
            AgentEvent::Members { kind, .. } => kind.name(),
            AgentEvent::User(_) => "user",
            AgentEvent::Query(_) => "query",
        }
    }
}
