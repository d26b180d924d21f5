//! The agent's event dispatcher: one thread that owns everything events flow
//! into after the protocol loop — the log line, the snapshot, the coalescer,
//! the handler workers and the RPC stream subscribers. Everything reaches it
//! as a [`Dispatch`] message on one channel, so nothing here is shared
//! between threads.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serf_core::EventKind;

use crate::coalesce::Coalescer;
use crate::event::AgentEvent;
use crate::handlers::{self, Handler, SelfInfo, Work};
use crate::lossy::LossySender;
use serf_runtime_std::member::{Commands, Output, QueryRequest, UserEvent};

/// A message for the dispatcher.
pub enum Dispatch {
    /// Something the protocol loop reported.
    Out(Output),
    /// A new RPC stream subscriber.
    Subscribe(LossySender<AgentEvent>),
    /// The subscriber with this id has gone: free its buffer now rather
    /// than at the next event.
    Unsubscribe(u64),
    /// New handlers and own tags (SIGHUP).
    Reload(Vec<Handler>, Vec<(String, String)>),
    /// The handler specs as (filter, script), for `stats`.
    Specs(Sender<Vec<(String, String)>>),
    /// Shutting down: flush every coalescing window, let the handlers run
    /// what they were given, then answer (within [`DRAIN_TIMEOUT`]).
    Drain(Sender<()>),
}

/// How long a shutdown waits for handlers still running.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where raw outputs are copied.
pub type Tee = Box<dyn FnMut(&Output) + Send>;

/// The dispatcher's state.
pub struct Dispatcher {
    me: SelfInfo,
    handlers: Vec<(Handler, Sender<Work>)>,
    subscribers: Vec<LossySender<AgentEvent>>,
    coalescer: Coalescer,
    commands: Commands,
    /// Sees every raw output (the snapshot records events uncoalesced).
    tee: Option<Tee>,
    ready: Vec<AgentEvent>,
}

impl Dispatcher {
    /// A dispatcher for the agent `me`, starting one worker per handler.
    pub fn new(
        me: SelfInfo,
        handlers: Vec<Handler>,
        coalescer: Coalescer,
        commands: Commands,
        tee: Option<Tee>,
    ) -> Dispatcher {
        let mut d = Dispatcher {
            me,
            handlers: Vec::new(),
            subscribers: Vec::new(),
            coalescer,
            commands,
            tee,
            ready: Vec::new(),
        };
        d.set_handlers(handlers);
        d
    }

    fn set_handlers(&mut self, handlers: Vec<Handler>) {
        // Dropping the old senders lets old workers finish their queue and end.
        self.handlers = handlers
            .into_iter()
            .map(|h| {
                let tx = handlers::spawn(h.clone(), self.commands.clone());
                (h, tx)
            })
            .collect();
    }

    /// Handles one message at `now`.
    pub fn handle(&mut self, now: Instant, msg: Dispatch) {
        match msg {
            Dispatch::Out(out) => {
                log_output(&out);
                if let Output::Member(e) = &out {
                    if e.kind == EventKind::Updated && e.member.name == self.me.name {
                        self.me.tags = e.member.tags.clone();
                    }
                }
                if let Some(tee) = &mut self.tee {
                    tee(&out);
                }
                if let Some(ev) = AgentEvent::from_output(&out) {
                    self.coalescer.push(now, ev, &mut self.ready);
                }
            }
            Dispatch::Subscribe(tx) => self.subscribers.push(tx),
            Dispatch::Unsubscribe(id) => {
                self.subscribers.retain(|s| s.id != id);
                crate::agent::process::trim_soon();
            }
            Dispatch::Reload(handlers, tags) => {
                self.me.tags = tags;
                self.set_handlers(handlers);
            }
            Dispatch::Specs(reply) => {
                let specs = self
                    .handlers
                    .iter()
                    .map(|(h, _)| {
                        let (f, s) = h.spec.split_once('=').unwrap_or(("*", &h.spec));
                        (f.to_string(), s.to_string())
                    })
                    .collect();
                let _ = reply.send(specs);
            }
            Dispatch::Drain(reply) => {
                self.coalescer.flush_all(&mut self.ready);
                self.deliver(now);
                let (tx, rx) = std::sync::mpsc::channel();
                let workers = self
                    .handlers
                    .iter()
                    .filter(|(_, w)| w.send(Work::Barrier(tx.clone())).is_ok())
                    .count();
                let deadline = Instant::now() + DRAIN_TIMEOUT;
                for _ in 0..workers {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if rx.recv_timeout(left).is_err() {
                        tracing::warn!(target: "agent", "Event handlers still running at shutdown");
                        break;
                    }
                }
                let _ = reply.send(());
                return;
            }
        }
        self.deliver(now);
    }

    /// Flushes due coalescing windows and hands ready events out.
    pub fn deliver(&mut self, now: Instant) {
        self.coalescer.poll(now, &mut self.ready);
        for ev in self.ready.drain(..) {
            self.subscribers
                .retain_mut(|s| s.offer_or_warn(ev.clone(), "events"));
            for (_, w) in &self.handlers {
                let _ = w.send(Work::Event(ev.clone(), self.me.clone()));
            }
        }
    }

    /// When [`Dispatcher::deliver`] has a window to flush.
    pub fn deadline(&self) -> Option<Instant> {
        self.coalescer.deadline()
    }

    /// Runs until every sender of `rx` is gone, then flushes what is left.
    pub fn run(mut self, rx: Receiver<Dispatch>) {
        loop {
            let wait = self.deadline().map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            match rx.recv_timeout(wait) {
                Ok(msg) => self.handle(Instant::now(), msg),
                Err(RecvTimeoutError::Timeout) => self.deliver(Instant::now()),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.coalescer.flush_all(&mut self.ready);
        self.deliver(Instant::now());
    }
}

/// One log line per cluster event, as Serf's agent logs them.
fn log_output(out: &Output) {
    match out {
        Output::Member(e) => {
            let what = match e.kind {
                EventKind::Joined => "EventMemberJoin",
                EventKind::Failed => "EventMemberFailed",
                EventKind::Left => "EventMemberLeave",
                EventKind::Updated => "EventMemberUpdate",
                EventKind::Reaped => "EventMemberReap",
                EventKind::Suspect => "suspect",
                EventKind::Alive => "alive again",
                EventKind::NameConflict => "name conflict",
                EventKind::ConflictWon => "won a name conflict",
                EventKind::ConflictLost => "minority in name conflict resolution, quitting",
            };
            tracing::info!(target: "serf", "{what}: {} {}", e.member.name, e.member.addr.ip());
        }
        Output::User(UserEvent { name, ltime, .. }) => {
            tracing::info!(target: "agent", "Received event: user-event: {name} (ltime {ltime})")
        }
        Output::Query(QueryRequest { name, .. }) => {
            tracing::info!(target: "agent", "Received event: query: {name}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serf_runtime_std::member::{MemberEvent, MemberInfo};
    use std::sync::mpsc;

    fn joined(name: &str) -> Dispatch {
        Dispatch::Out(Output::Member(MemberEvent {
            kind: EventKind::Joined,
            member: MemberInfo {
                name: name.into(),
                addr: "127.0.0.1:1".parse().unwrap(),
                status: "alive",
                tags: vec![],
                incarnation: 1,
                protocol: 5,
            },
        }))
    }

    #[test]
    fn subscribers_get_coalesced_events_and_the_tee_gets_every_output() {
        let (cmd, _) = mpsc::channel();
        let (tee, raw) = mpsc::channel();
        let mut d = Dispatcher::new(
            SelfInfo::default(),
            vec![],
            Coalescer::serf_agent(),
            Commands::new(cmd, None),
            Some(Box::new(move |o: &Output| {
                let _ = tee.send(o.clone());
            })),
        );
        let (tx, rx) = LossySender::new("test".into(), 16);
        let t = Instant::now();
        d.handle(t, Dispatch::Subscribe(tx));
        d.handle(t, joined("a"));
        d.handle(t, joined("b"));
        assert_eq!(raw.try_iter().count(), 2);
        assert!(rx.try_recv().is_err(), "held in the coalescing window");
        assert!(d.deadline().is_some());
        d.deliver(t + Duration::from_secs(1));
        match rx.try_recv().unwrap() {
            AgentEvent::Members { members, .. } => assert_eq!(members.len(), 2),
            e => panic!("{e:?}"),
        }
        drop(rx);
        d.handle(t + Duration::from_secs(5), joined("c"));
        d.deliver(t + Duration::from_secs(9));
        assert!(d.subscribers.is_empty(), "gone subscribers are dropped");
    }

    #[test]
    fn a_stream_that_stops_reading_loses_events_past_its_buffer_and_stalls_no_one() {
        let (cmd, _) = mpsc::channel();
        let mut d = Dispatcher::new(
            SelfInfo::default(),
            vec![],
            Coalescer::serf_agent(),
            Commands::new(cmd, None),
            None,
        );
        let (stuck, _stuck_rx) = LossySender::new("stuck".into(), crate::lossy::BUFFER);
        let (live, live_rx) = LossySender::new("live".into(), 4 * crate::lossy::BUFFER);
        let t = Instant::now();
        d.handle(t, Dispatch::Subscribe(stuck));
        d.handle(t, Dispatch::Subscribe(live));
        let events = 3 * crate::lossy::BUFFER;
        for i in 0..events {
            d.handle(
                t,
                Dispatch::Out(Output::User(UserEvent {
                    ltime: i as u64,
                    name: "deploy".into(),
                    payload: vec![],
                    coalesce: false,
                })),
            );
        }
        d.deliver(t + Duration::from_secs(1));
        assert_eq!(
            live_rx.try_iter().count(),
            events,
            "the reading stream gets all"
        );
        assert_eq!(
            d.subscribers[0].dropped,
            (events - crate::lossy::BUFFER) as u64
        );
        assert_eq!(d.subscribers.len(), 2, "a slow stream stays subscribed");
    }

    #[test]
    fn reload_replaces_handlers_and_own_tags() {
        let (cmd, _) = mpsc::channel();
        let h = |s: &str| Handler::parse(s).unwrap();
        let mut d = Dispatcher::new(
            SelfInfo::default(),
            vec![h("user=true")],
            Coalescer::serf_agent(),
            Commands::new(cmd, None),
            None,
        );
        let specs = |d: &mut Dispatcher| {
            let (tx, rx) = mpsc::channel();
            d.handle(Instant::now(), Dispatch::Specs(tx));
            rx.recv().unwrap()
        };
        assert_eq!(specs(&mut d), vec![("user".into(), "true".into())]);
        d.handle(
            Instant::now(),
            Dispatch::Reload(
                vec![h("query:load=uptime"), h("member-join=true")],
                vec![("role".into(), "db".into())],
            ),
        );
        assert_eq!(specs(&mut d).len(), 2);
        assert_eq!(d.me.tags, vec![("role".to_string(), "db".to_string())]);
    }
}
