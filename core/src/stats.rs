//! Counters: every drop, rejection and bad input is counted, never silent.

/// Counters kept by a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handled.
    pub received: u64,
    /// Datagrams written.
    pub sent: u64,
    /// Gossiped membership updates (alive, suspect and dead messages)
    /// handled, news or not: the unit of a dissemination's work.
    pub updates_received: u64,
    /// Datagrams or messages that failed to decode.
    pub decode_errors: u64,
    /// Pings addressed to another identity.
    pub misdirected: u64,
    /// New members refused because the table was full.
    pub members_rejected: u64,
    /// Membership broadcasts dropped (queue full).
    pub broadcasts_dropped: u64,
    /// User broadcasts dropped (queue full).
    pub user_broadcasts_dropped: u64,
    /// Suspicions without a pool record.
    pub suspicions_overflowed: u64,
    /// Outbound datagrams dropped (queue full).
    pub transmits_dropped: u64,
    /// Events dropped (queue full).
    pub events_dropped: u64,
    /// Indirect probe requests refused (relay table full).
    pub relays_dropped: u64,
    /// Received user payloads dropped (inbox full).
    pub inbox_dropped: u64,
    /// Times this node refuted a suspicion or death of itself.
    pub refutations: u64,
    /// Probes started.
    pub probes: u64,
    /// Probes that got no ack.
    pub probe_failures: u64,
    /// Push-pulls sent to failed members to heal partitions.
    pub reconnects: u64,
    /// Vivaldi updates applied.
    pub coordinate_updates: u64,
    /// Vivaldi updates refused (bad RTT or peer coordinate).
    pub coordinate_rejected: u64,
    /// Times our coordinate turned invalid and was reset.
    pub coordinate_resets: u64,
    /// Member metadata refused for being over the per-member limit.
    pub meta_rejected: u64,
    /// User events dropped as older than the de-duplication ring.
    pub events_too_old: u64,
    /// Duplicate user events ignored.
    pub event_duplicates: u64,
    /// User events received while a join without replay waited for its
    /// seed's event clock, ignored (a copy arriving after the answer, by
    /// gossip or push-pull, is judged then).
    pub events_ignored_joining: u64,
    /// Received queries evicted before their deadline (table full).
    pub queries_dropped: u64,
    /// Query responses for no query of ours (late, or forged).
    pub stray_responses: u64,
    /// Large responses dropped (no reassembly slot, or incomplete at the deadline).
    pub responses_dropped: u64,
    /// Datagrams refused by the outbox (full).
    pub outbox_dropped: u64,
    /// Datagrams refused for their label or encryption (wrong cluster or key).
    pub frames_rejected: u64,
    /// Alive messages naming a known member at another address.
    pub name_conflicts: u64,
    /// Responses sent without the requested relays: with the relay wrapper
    /// they would not fit one datagram (Serf refuses such relays too).
    pub relays_skipped: u64,
    /// Relayed responses forwarded to their query's origin for a responder.
    pub relays_forwarded: u64,
    /// Responses refused for exceeding `query_response_size_limit`.
    pub responses_too_large: u64,
    /// Refusal notices sent to peers whose datagrams were refused for their
    /// label or encryption (rate limited).
    pub refusals_sent: u64,
    /// Refusal notices received: a peer could not read what we sent it.
    pub refusals_received: u64,
    /// Query acks and responses received again (relayed copies): ignored.
    pub response_duplicates: u64,
    /// Replayed events skipped: one alone did not fit a datagram.
    pub replay_skipped: u64,
    /// Join requests sent again: no chunk of the answer arrived.
    pub catch_up_rejoins: u64,
    /// Requests for the lost chunks of a join answer.
    pub catch_up_rounds: u64,
    /// Join answers given up on with chunks still missing (gossip and the
    /// next push-pull bring the rest).
    pub catch_up_abandoned: u64,
    /// HashiCorp wire: messages about members this node does not know
    /// (suspect, dead, query responses naming an unknown member), ignored
    /// as memberlist ignores them.
    pub hashicorp_unknown: u64,
    /// HashiCorp wire: messages with no counterpart on the other side (a
    /// native state exchange or opaque broadcast going out, a Serf message
    /// kind not handled coming in), not carried.
    pub hashicorp_untranslated: u64,
    /// HashiCorp wire: translated messages that did not fit the packet
    /// (HashiCorp's encoding is larger than ours), dropped.
    pub hashicorp_overflow: u64,
}
