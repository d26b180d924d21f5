//! Event handler scripts (Serf's `-event-handler`): filter grammar, the
//! environment and stdin Serf gives scripts, and a worker per handler so that
//! a slow script never blocks the protocol loop (events for one handler run
//! in order).

use std::io::Write;
use std::process::{Command as Proc, Stdio};
use std::sync::mpsc::{self, Sender};

use crate::event::AgentEvent;
use serf_runtime_std::member::{Command, Commands, QueryRequest, UserEvent};

/// One clause of a handler filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Event type (`*` for all).
    pub kind: String,
    /// For `user` / `query`: only this name.
    pub name: Option<String>,
}

const TYPES: [&str; 8] = [
    "member-join",
    "member-leave",
    "member-failed",
    "member-update",
    "member-reap",
    "user",
    "query",
    "*",
];

impl Filter {
    /// Parses `type[:name]` clauses separated by commas; `None` if invalid.
    pub fn parse_list(s: &str) -> Option<Vec<Filter>> {
        if s.is_empty() {
            return Some(vec![Filter {
                kind: "*".into(),
                name: None,
            }]);
        }
        s.split(',')
            .map(|part| {
                let (kind, name) = match part.split_once(':') {
                    Some((k, n)) => (k, Some(n.to_string())),
                    None => (part, None),
                };
                if !TYPES.contains(&kind) || (name.is_some() && !matches!(kind, "user" | "query")) {
                    return None;
                }
                Some(Filter {
                    kind: kind.to_string(),
                    name,
                })
            })
            .collect()
    }

    /// True if `ev` passes this clause.
    pub fn matches(&self, ev: &AgentEvent) -> bool {
        if self.kind == "*" {
            return true;
        }
        match ev {
            AgentEvent::User(UserEvent { name, .. })
            | AgentEvent::Query(QueryRequest { name, .. }) => {
                self.kind == ev.name() && self.name.as_ref().is_none_or(|n| n == name)
            }
            AgentEvent::Members { .. } => self.kind == ev.name(),
        }
    }
}

/// A parsed `-event-handler` value.
#[derive(Clone, Debug)]
pub struct Handler {
    /// Filter clauses.
    pub filters: Vec<Filter>,
    /// Shell script.
    pub script: String,
    /// The spec as given (for `stats`).
    pub spec: String,
}

impl Handler {
    /// Parses `[filter=]script` (split on the first `=`, as Serf does).
    pub fn parse(spec: &str) -> Result<Handler, String> {
        let (filter, script) = spec.split_once('=').unwrap_or(("*", spec));
        let filters = Filter::parse_list(filter)
            .ok_or_else(|| format!("invalid event handler filter {filter:?}"))?;
        if script.trim().is_empty() {
            return Err(format!("event handler {spec:?} has no script"));
        }
        Ok(Handler {
            filters,
            script: script.to_string(),
            spec: spec.to_string(),
        })
    }
}

/// What a handler script needs to know about the agent.
#[derive(Clone, Debug, Default)]
pub struct SelfInfo {
    /// Own name.
    pub name: String,
    /// Own tags.
    pub tags: Vec<(String, String)>,
}

fn escape(s: &str) -> String {
    s.replace('\t', "\\t").replace('\n', "\\n")
}

/// What a handler worker is given.
pub enum Work {
    /// Run the script for this event (if the filter passes it).
    Event(AgentEvent, SelfInfo),
    /// Answer once everything queued before this has run (shutdown waits
    /// for the handlers of the last events, such as its own leave).
    Barrier(Sender<()>),
}

/// Starts a worker thread for `h`; returns the sender that feeds it (the
/// worker ends once the sender is dropped and its queue is done).
pub fn spawn(h: Handler, commands: Commands) -> Sender<Work> {
    let (tx, rx) = mpsc::channel::<Work>();
    std::thread::spawn(move || {
        while let Ok(work) = rx.recv() {
            match work {
                Work::Event(ev, me) => {
                    if h.filters.iter().any(|f| f.matches(&ev)) {
                        run(&h, &me, &ev, &commands);
                    }
                }
                Work::Barrier(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    tx
}

/// Serf's stdin line for a member: `name<TAB>ip<TAB>role<TAB>k=v,k=v`.
fn member_line(m: &serf_runtime_std::member::MemberInfo) -> String {
    let role = m
        .tags
        .iter()
        .find(|(k, _)| k == "role")
        .map_or("", |(_, v)| v.as_str());
    let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}\t{}\t{}\t{}\n",
        escape(&m.name),
        m.addr.ip(),
        escape(role),
        escape(&tags.join(","))
    )
}

fn run(h: &Handler, me: &SelfInfo, ev: &AgentEvent, commands: &Commands) {
    let mut cmd = Proc::new("/bin/sh");
    cmd.arg("-c")
        .arg(&h.script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env("SERF_EVENT", ev.name())
        .env("SERF_SELF_NAME", &me.name);
    let role = me
        .tags
        .iter()
        .find(|(k, _)| k == "role")
        .map_or("", |(_, v)| v.as_str());
    cmd.env("SERF_SELF_ROLE", role);
    for (k, v) in &me.tags {
        let key: String = k
            .to_uppercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        cmd.env(format!("SERF_TAG_{key}"), v);
    }
    let stdin: Vec<u8> = match ev {
        AgentEvent::User(UserEvent {
            ltime,
            name,
            payload,
            ..
        }) => {
            cmd.env("SERF_USER_EVENT", name)
                .env("SERF_USER_LTIME", ltime.to_string());
            with_newline(payload)
        }
        AgentEvent::Query(QueryRequest {
            ltime,
            name,
            payload,
            ..
        }) => {
            cmd.env("SERF_QUERY_NAME", name)
                .env("SERF_QUERY_LTIME", ltime.to_string());
            with_newline(payload)
        }
        AgentEvent::Members { members, .. } => members
            .iter()
            .map(member_line)
            .collect::<String>()
            .into_bytes(),
    };
    let started = std::time::Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: "agent", "Error invoking script {:?}: {e}", h.script);
            return;
        }
    };
    if let Some(mut si) = child.stdin.take() {
        let _ = si.write_all(&stdin);
    }
    let Ok(output) = child.wait_with_output() else {
        return;
    };
    tracing::debug!(
        target: "agent",
        "Event '{}' script output: {}{}",
        ev.name(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if started.elapsed() > std::time::Duration::from_secs(1) {
        tracing::warn!(target: "agent", "Script {:?} slow, execution exceeding 1s", h.script);
    }
    if !output.status.success() {
        tracing::error!(target: "agent", "Error invoking script {:?}: {}", h.script, output.status);
    }
    if let AgentEvent::Query(QueryRequest { id, name, .. }) = ev {
        let mut resp = output.stdout;
        resp.extend_from_slice(&output.stderr);
        if output.status.success() && !resp.is_empty() {
            let (tx, rx) = mpsc::channel();
            if commands.send(Command::Respond(*id, resp, tx)).is_err() {
                return;
            }
            match rx.recv_timeout(std::time::Duration::from_secs(10)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(target: "agent", "Failed to respond to query 'query: {name}': {e}")
                }
                Err(_) => {
                    tracing::warn!(target: "agent", "Failed to respond to query 'query: {name}': the agent did not answer")
                }
            }
        }
    }
}

/// A payload as a script reads it on stdin: with a final newline (most
/// shells' `read` needs one), and nothing at all for an empty payload.
fn with_newline(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    if !v.is_empty() && v.last() != Some(&b'\n') {
        v.push(b'\n');
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_specs_follow_serfs_grammar() {
        let h = Handler::parse("query:load=uptime").unwrap();
        assert_eq!(
            h.filters,
            vec![Filter {
                kind: "query".into(),
                name: Some("load".into())
            }]
        );
        assert_eq!(h.script, "uptime");
        let h = Handler::parse("member-join,member-leave=./x.sh").unwrap();
        assert_eq!(h.filters.len(), 2);
        assert!(
            Handler::parse("echo a=b").is_err(),
            "a script with '=' needs a filter"
        );
        assert_eq!(Handler::parse("*=echo a=b").unwrap().script, "echo a=b");
        assert_eq!(Handler::parse("uptime").unwrap().filters[0].kind, "*");
        assert!(Handler::parse("bogus-type=x").is_err());
        assert!(Filter::parse_list("member-join:x").is_none());
        assert!(Filter::parse_list("nope").is_none());
    }
}
