//! Events out and in: `event` fires one; `stream` and `monitor` subscribe to
//! events and logs.

use std::sync::mpsc;

use serf_runtime_std::member::Command;

use super::connection::{ask, write_obj, Connection, Writer};
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
        let rx = self.hub.subscribe();
        let writer = self.writer.clone();
        std::thread::spawn(move || forward(rx, writer, seq, filter));
        Ok(())
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
        let rx = logs.subscribe();
        let writer = self.writer.clone();
        std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                if line.level <= max {
                    let h = ResponseHeader { seq, error: "" };
                    if write_obj(&writer, &h, Some(&LogRecord { log: &line.text })).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(())
    }
}

/// Forwards hub outputs matching `filter` to a stream subscriber.
fn forward(
    rx: mpsc::Receiver<AgentEvent>,
    writer: Writer,
    seq: u64,
    filter: Vec<crate::handlers::Filter>,
) {
    let h = ResponseHeader { seq, error: "" };
    while let Ok(out) = rx.recv() {
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
