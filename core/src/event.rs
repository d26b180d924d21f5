//! What the core tells the application about members.

/// The kind of a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A member appeared (new, or back after failing or leaving).
    Joined,
    /// A member's record changed without a state change (a newer incarnation).
    Updated,
    /// A member is suspected of failure.
    Suspect,
    /// A suspected member refuted and is alive again.
    Alive,
    /// A member was declared failed.
    Failed,
    /// A member left gracefully.
    Left,
    /// A failed or left member was removed from the table.
    Reaped,
    /// `member` claims a name we know at another address (ignored).
    NameConflict,
    /// Another node holds our name and the cluster sided with it: the
    /// runtime should shut this node down (Serf's conflict resolution).
    ConflictLost,
    /// Another node claimed our name; the cluster sided with us.
    ConflictWon,
}

/// A membership event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<I> {
    /// What happened.
    pub kind: EventKind,
    /// To whom.
    pub member: I,
    /// The member's incarnation at the time.
    pub incarnation: u32,
}
