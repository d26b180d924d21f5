//! Events out and in: `event` fires one; `stream` and `monitor` subscribe to
//! events and logs.

use crate::hub::Subscription;

use serf_runtime_std::member::Command;

use super::connection::{ask, spawn, write_obj, Connection, Writer};
use super::records::*;
use crate::event::AgentEvent;
use serf_runtime_std::member::{QueryRequest, UserEvent};

impl Connection {
    /// Fires a user event.
    pub(super) fn event(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let (name, payload, coalesce) = (
            b.string("Name")?,
            b.bytes("Payload")?,
            b.boolean("Coalesce")?,
        );
        match ask(&self.commands, |tx| {
            Command::Event(name, payload, coalesce, tx)
        })? {
            Ok(_) => self.reply(seq, ""),
            Err(e) => self.reply(seq, &e),
        }
    }

    /// Streams events matching a filter until the connection ends.
    pub(super) fn stream(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let filter = b.string("Type")?;
        let Some(filter) = crate::handlers::Filter::parse_list(&filter) else {
            return self.reply(seq, "Invalid event filter");
        };
        self.reply(seq, "")?;
        let sub = self.hub.subscribe(self.peer.clone());
        let writer = self.writer.clone();
        spawn("serf-rpc-stream", move || {
            forward(sub, writer, seq, filter);
            crate::agent::process::trim_soon(); // its buffered events are freed now
        })
    }

    /// Streams log lines at or above a level.
    pub(super) fn monitor(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let level = b.string("LogLevel")?;
        let Some(max) = crate::log::parse_level(if level.is_empty() { "info" } else { &level })
        else {
            return self.reply(seq, &format!("Unknown log level: {level}"));
        };
        let Some(logs) = &self.config.logs else {
            return self.reply(seq, "Monitor is not available");
        };
        self.reply(seq, "")?;
        let rx = logs.subscribe(self.peer.clone());
        let writer = self.writer.clone();
        spawn("serf-rpc-monitor", move || {
            while let Some(line) = writer.next_from(&rx) {
                if line.level <= max {
                    let h = ResponseHeader { seq, error: "" };
                    if write_obj(&writer, &h, Some(&LogRecord { log: &line.text })).is_err() {
                        break;
                    }
                }
            }
            drop(rx);
            crate::agent::process::trim_soon();
        })
    }
}

/// Forwards hub outputs matching `filter` to a stream subscriber.
fn forward(sub: Subscription, writer: Writer, seq: u64, filter: Vec<crate::handlers::Filter>) {
    let h = ResponseHeader { seq, error: "" };
    while let Some(out) = writer.next_from(sub.events()) {
        if !filter.iter().any(|f| f.matches(&out)) {
            continue;
        }
        let ok = match &out {
            AgentEvent::Members { kind, members } => write_obj(
                &writer,
                &h,
                Some(&MemberEventRecord {
                    event: kind.name(),
                    members: members.iter().map(WireMember::from).collect(),
                }),
            )
            .is_ok(),
            AgentEvent::User(UserEvent {
                ltime,
                name,
                payload,
                coalesce,
            }) => write_obj(
                &writer,
                &h,
                Some(&UserEventRecord {
                    event: "user",
                    l_time: *ltime,
                    name,
                    payload,
                    coalesce: *coalesce,
                }),
            )
            .is_ok(),
            AgentEvent::Query(QueryRequest {
                id,
                ltime,
                name,
                payload,
            }) => write_obj(
                &writer,
                &h,
                Some(&QueryEventRecord {
                    event: "query",
                    id: *id as u64,
                    l_time: *ltime,
                    name,
                    payload,
                }),
            )
            .is_ok(),
        };
        if !ok {
            return;
        }
    }
}
