//! Serf's event coalescing for handlers and RPC streams: bursts of member
//! events become one batch per type, bursts of coalescible user events keep
//! only the newest per name.
//!
//! Each kind has its own window: the first event opens it, the window
//! flushes after the coalesce period or once no event came for the quiescent
//! period, whichever is first. Time is passed in, so the rules are tested
//! without sleeping.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use serf_agent::coalesce::Coalescer;
//! use serf_agent::event::AgentEvent;
//! let mut c = Coalescer::serf_agent();
//! let t0 = Instant::now();
//! let mut out = Vec::new();
//! use serf_runtime_std::member::UserEvent;
//! let ev = |ltime| AgentEvent::User(UserEvent { ltime, name: "deploy".into(), payload: vec![], coalesce: true });
//! c.push(t0, ev(1), &mut out);
//! c.push(t0, ev(2), &mut out);
//! assert!(out.is_empty());
//! c.poll(t0 + Duration::from_secs(1), &mut out);
//! assert_eq!(out, vec![ev(2)]);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::event::{AgentEvent, MemberKind};
use serf_runtime_std::member::{MemberInfo, UserEvent};

/// One coalescing window.
#[derive(Debug)]
struct Window {
    period: Duration,
    quiescent: Duration,
    /// When the coalesce period ends (None: no window open).
    until: Option<Instant>,
    /// When the quiet period ends.
    quiet_until: Option<Instant>,
}

impl Window {
    fn new((period, quiescent): (Duration, Duration)) -> Window {
        Window {
            period,
            quiescent,
            until: None,
            quiet_until: None,
        }
    }
    fn enabled(&self) -> bool {
        !self.period.is_zero()
    }
    /// An event arrived: open the window if needed, restart the quiet timer.
    fn touch(&mut self, now: Instant) {
        self.until.get_or_insert(now + self.period);
        self.quiet_until = Some(now + self.quiescent);
    }
    fn deadline(&self) -> Option<Instant> {
        match (self.until, self.quiet_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    /// True (and the window closed) if it is time to flush.
    fn take_due(&mut self, now: Instant) -> bool {
        if self.deadline().is_some_and(|d| d <= now) {
            self.until = None;
            self.quiet_until = None;
            return true;
        }
        false
    }
}

/// The coalescer between the protocol loop and the agent's consumers.
#[derive(Debug)]
pub struct Coalescer {
    members: Window,
    users: Window,
    /// The latest event per member in the open window.
    latest: BTreeMap<String, (MemberKind, MemberInfo)>,
    /// The type last delivered per member (a repeat is suppressed, as Serf).
    delivered: HashMap<String, MemberKind>,
    /// Per user-event name: the highest time seen and the events at it.
    user_latest: BTreeMap<String, (u64, Vec<AgentEvent>)>,
}

impl Coalescer {
    /// A coalescer with (coalesce period, quiescent period) for member and
    /// user events; a zero period turns that kind's coalescing off.
    pub fn new(members: (Duration, Duration), users: (Duration, Duration)) -> Coalescer {
        Coalescer {
            members: Window::new(members),
            users: Window::new(users),
            latest: BTreeMap::new(),
            delivered: HashMap::new(),
            user_latest: BTreeMap::new(),
        }
    }

    /// The agent's settings: 3 s / 1 s for both kinds, as Serf's agent.
    pub fn serf_agent() -> Coalescer {
        let w = (Duration::from_secs(3), Duration::from_secs(1));
        Coalescer::new(w, w)
    }

    /// Takes one event; what may go out right away is appended to `out`.
    pub fn push(&mut self, now: Instant, ev: AgentEvent, out: &mut Vec<AgentEvent>) {
        match ev {
            AgentEvent::Members { kind, members } if self.members.enabled() => {
                self.members.touch(now);
                for m in members {
                    self.latest.insert(m.name.clone(), (kind, m));
                }
            }
            AgentEvent::User(UserEvent {
                ltime,
                ref name,
                coalesce: true,
                ..
            }) if self.users.enabled() => {
                self.users.touch(now);
                match self.user_latest.get_mut(name) {
                    Some((t, evs)) if *t == ltime => evs.push(ev),
                    Some((t, _)) if *t > ltime => {}
                    _ => {
                        self.user_latest.insert(name.clone(), (ltime, vec![ev]));
                    }
                }
            }
            other => out.push(other),
        }
    }

    /// When [`Coalescer::poll`] has something to flush.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.members.deadline(), self.users.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Flushes the windows that are due.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<AgentEvent>) {
        if self.members.take_due(now) {
            self.flush_members(out);
        }
        if self.users.take_due(now) {
            for (_, (_, evs)) in std::mem::take(&mut self.user_latest) {
                out.extend(evs);
            }
        }
    }

    /// Flushes everything now (at shutdown).
    pub fn flush_all(&mut self, out: &mut Vec<AgentEvent>) {
        self.members.until = None;
        self.members.quiet_until = None;
        self.users.until = None;
        self.users.quiet_until = None;
        self.flush_members(out);
        for (_, (_, evs)) in std::mem::take(&mut self.user_latest) {
            out.extend(evs);
        }
    }

    fn flush_members(&mut self, out: &mut Vec<AgentEvent>) {
        let mut batches: BTreeMap<MemberKind, Vec<MemberInfo>> = BTreeMap::new();
        for (name, (kind, m)) in std::mem::take(&mut self.latest) {
            let repeat = self.delivered.get(&name) == Some(&kind);
            if repeat && kind != MemberKind::Update {
                continue;
            }
            if kind == MemberKind::Reap {
                // Forget reaped members, so this map stays bounded.
                self.delivered.remove(&name);
            } else {
                self.delivered.insert(name, kind);
            }
            batches.entry(kind).or_default().push(m);
        }
        for (kind, members) in batches {
            out.push(AgentEvent::Members { kind, members });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serf_runtime_std::member::QueryRequest;

    fn member(name: &str, status: &'static str) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            status,
            tags: vec![],
            incarnation: 1,
            protocol: 5,
        }
    }
    fn members(kind: MemberKind, names: &[&str]) -> AgentEvent {
        AgentEvent::Members {
            kind,
            members: names.iter().map(|n| member(n, "alive")).collect(),
        }
    }
    fn user(ltime: u64, name: &str, payload: &str, coalesce: bool) -> AgentEvent {
        AgentEvent::User(UserEvent {
            ltime,
            name: name.into(),
            payload: payload.into(),
            coalesce,
        })
    }
    fn names(ev: &AgentEvent) -> Vec<String> {
        match ev {
            AgentEvent::Members { members, .. } => members.iter().map(|m| m.name.clone()).collect(),
            _ => vec![],
        }
    }
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn member_burst_becomes_one_batch_per_type_after_quiet_period() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        c.push(t, members(MemberKind::Join, &["a"]), &mut out);
        c.push(t, members(MemberKind::Join, &["b"]), &mut out);
        c.push(t, members(MemberKind::Failed, &["c"]), &mut out);
        assert!(out.is_empty());
        assert_eq!(c.deadline(), Some(t + S));
        c.poll(t + S / 2, &mut out);
        assert!(out.is_empty(), "still inside the quiet period");
        c.poll(t + S, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name(), "member-join");
        assert_eq!(names(&out[0]), ["a", "b"]);
        assert_eq!(out[1].name(), "member-failed");
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn steady_stream_is_flushed_at_the_coalesce_period() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        for i in 0..10u32 {
            let now = t + S / 2 * i;
            c.push(
                now,
                members(MemberKind::Join, &[&format!("m{i}")]),
                &mut out,
            );
            c.poll(now, &mut out);
            if !out.is_empty() {
                // The quiet timer never fires; the 3 s window does.
                assert_eq!(now, t + 3 * S);
                assert_eq!(names(&out[0]).len(), 7);
                return;
            }
        }
        panic!("never flushed");
    }

    #[test]
    fn latest_type_per_member_wins_and_repeats_are_suppressed() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        c.push(t, members(MemberKind::Join, &["a"]), &mut out);
        c.push(t, members(MemberKind::Failed, &["a"]), &mut out);
        c.poll(t + S, &mut out);
        assert_eq!(out, vec![members(MemberKind::Failed, &["a"])]);
        out.clear();
        // The same type again for a: nothing; an update always goes out.
        let t = t + 10 * S;
        c.push(t, members(MemberKind::Failed, &["a"]), &mut out);
        c.push(t, members(MemberKind::Update, &["b"]), &mut out);
        c.poll(t + S, &mut out);
        assert_eq!(out, vec![members(MemberKind::Update, &["b"])]);
        out.clear();
        c.push(t + 5 * S, members(MemberKind::Update, &["b"]), &mut out);
        c.poll(t + 6 * S, &mut out);
        assert_eq!(out.len(), 1, "updates are never suppressed");
    }

    #[test]
    fn reaped_member_is_forgotten_so_a_rejoin_is_reported() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        for (i, k) in [MemberKind::Join, MemberKind::Reap, MemberKind::Join]
            .into_iter()
            .enumerate()
        {
            c.push(t + 5 * S * i as u32, members(k, &["a"]), &mut out);
            c.poll(t + 5 * S * i as u32 + S, &mut out);
        }
        assert_eq!(out.len(), 3);
        assert!(c.delivered.len() == 1);
    }

    #[test]
    fn user_events_keep_all_at_the_newest_time_per_name() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        c.push(t, user(5, "deploy", "old", true), &mut out);
        c.push(t, user(7, "deploy", "x", true), &mut out);
        c.push(t, user(7, "deploy", "y", true), &mut out);
        c.push(t, user(6, "deploy", "late", true), &mut out);
        c.push(t, user(2, "restart", "r", true), &mut out);
        assert!(out.is_empty());
        c.poll(t + S, &mut out);
        assert_eq!(
            out,
            vec![
                user(7, "deploy", "x", true),
                user(7, "deploy", "y", true),
                user(2, "restart", "r", true)
            ]
        );
    }

    #[test]
    fn uncoalesced_user_events_and_queries_pass_straight_through() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        c.push(t, user(1, "deploy", "a", false), &mut out);
        let q = AgentEvent::Query(QueryRequest {
            id: 1,
            ltime: 1,
            name: "load".into(),
            payload: vec![],
        });
        c.push(t, q.clone(), &mut out);
        assert_eq!(out, vec![user(1, "deploy", "a", false), q]);
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn zero_periods_turn_coalescing_off() {
        let z = (Duration::ZERO, Duration::ZERO);
        let mut c = Coalescer::new(z, z);
        let t = Instant::now();
        let mut out = vec![];
        c.push(t, members(MemberKind::Join, &["a"]), &mut out);
        c.push(t, user(1, "e", "", true), &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn flush_all_empties_both_windows() {
        let mut c = Coalescer::serf_agent();
        let t = Instant::now();
        let mut out = vec![];
        c.push(t, members(MemberKind::Leave, &["a"]), &mut out);
        c.push(t, user(1, "e", "", true), &mut out);
        c.flush_all(&mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(c.deadline(), None);
    }
}
