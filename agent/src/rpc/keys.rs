//! The key commands (`install-key`, `use-key`, `remove-key`, `list-keys`):
//! a keyring query across the cluster, answered as Serf's KeyManager does.

use std::collections::BTreeMap;
use std::sync::mpsc::{self};
use std::time::Duration;

use serf_core::query::{KeyOp, KeyResponse};
use serf_runtime_std::member::{Command, Commands, QueryEvent};

use super::connection::{ask, Connection};
use super::records::*;

impl Connection {
    /// Runs a key operation across the cluster.
    pub(super) fn keys(&mut self, seq: u64, command: &str) -> Result<(), String> {
        let (op, key) = match command {
            "install-key" => (KeyOp::Install, Some(self.body()?)),
            "use-key" => (KeyOp::Use, Some(self.body()?)),
            "remove-key" => (KeyOp::Remove, Some(self.body()?)),
            _ => (KeyOp::List, None),
        };
        let key = match key.map(|b| b.string("Key")).transpose()? {
            None => None,
            Some(k) => match base64_decode_strict(&k) {
                Ok(bytes) => Some(bytes),
                Err(e) => return self.reply_body(seq, &e, &KeysBody::default()),
            },
        };
        // Every node that applies the change persists its keyring
        // itself (the member loop writes its keyring file).
        let body = key_operation(&self.commands, op, key)?;
        // Serf's KeyManager wording.
        let err = if body.num_err > 0 {
            format!("{}/{} nodes reported failure", body.num_err, body.num_nodes)
        } else if body.num_resp < body.num_nodes {
            format!(
                "{}/{} nodes reported success",
                body.num_resp, body.num_nodes
            )
        } else {
            String::new()
        };
        self.reply_body(seq, &err, &body)
    }
}

/// Runs key operation `op` as a query and tallies the answers.
fn key_operation(commands: &Commands, op: KeyOp, key: Option<Vec<u8>>) -> Result<KeysBody, String> {
    let members = ask(commands, Command::Members)?;
    let num_nodes = members.iter().filter(|m| m.status == "alive").count() as i32;
    let (etx, erx) = mpsc::channel();
    let mut body = KeysBody {
        num_nodes,
        ..KeysBody::default()
    };
    if let Err(e) = ask(commands, |tx| Command::Keys(op, key, etx, tx))? {
        body.messages.insert("".into(), e);
        body.num_err = num_nodes;
        return Ok(body);
    }
    let mut keys: BTreeMap<String, i32> = BTreeMap::new();
    while let Ok(e) = erx.recv_timeout(Duration::from_secs(600)) {
        match e {
            QueryEvent::Response(from, payload) => {
                body.num_resp += 1;
                match KeyResponse::parse(&payload) {
                    Some(r) if r.ok => {
                        for k in r.keys() {
                            *keys.entry(base64_encode(k.as_bytes())).or_default() += 1;
                        }
                    }
                    Some(r) => {
                        body.num_err += 1;
                        body.messages.insert(from, r.message.to_string());
                    }
                    None => {
                        body.num_err += 1;
                        body.messages.insert(from, "malformed response".into());
                    }
                }
            }
            QueryEvent::Ack(_) => {}
            QueryEvent::Done => break,
        }
    }
    if op == KeyOp::List {
        body.keys = Some(keys);
    }
    Ok(body)
}
