//! Internal queries answered in the core: `_serf_conflict` (whom we hold
//! under a name) and the keyring operations (install, use, remove, list),
//! worded as Serf words its answers.

use crate::config::Wire;
use crate::identity::Identity;
use crate::node::query::{KeyOp, KeyResponse, QueryError, QueryParams};
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::crypto::{self, Key, KeyError, Keyring};
use crate::wire::encode_identity;
use crate::wire::hashicorp::bridge::key_response_to_hashicorp;
use rand_core::RngCore;

/// Why a key operation was refused here, worded as Serf and memberlist word it
/// (operators compare these answers across implementations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyRefusal {
    /// Install, use or remove on a node without encryption.
    NoEncryption,
    /// List on a node without encryption.
    ListWithoutEncryption,
    /// The keyring refused the change.
    Key(KeyError),
}

impl KeyRefusal {
    fn message(self) -> &'static str {
        match self {
            KeyRefusal::NoEncryption => "No keyring to modify (encryption not enabled)",
            KeyRefusal::ListWithoutEncryption => "Keyring is empty (encryption not enabled)",
            KeyRefusal::Key(KeyError::Length) => "key size must be 16, 24 or 32 bytes",
            KeyRefusal::Key(KeyError::Full) => "keyring is full",
            KeyRefusal::Key(KeyError::Unknown) => "Requested key is not in the keyring",
            KeyRefusal::Key(KeyError::Primary) => "Removing the primary key is not allowed",
        }
    }
}

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// The keyring in force.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Installs a key locally.
    pub fn install_key(&mut self, key: Key) -> Result<(), KeyError> {
        self.keyring.install(key)
    }

    /// Makes an installed key the primary locally.
    pub fn use_key(&mut self, key: &Key) -> Result<(), KeyError> {
        self.keyring.use_key(key)
    }

    /// Removes a key locally.
    pub fn remove_key(&mut self, key: &Key) -> Result<(), KeyError> {
        self.keyring.remove(key)
    }

    /// Runs a keyring operation on every member through an internal query;
    /// each member's [`KeyResponse`] arrives as a query response.
    pub fn key_query(
        &mut self,
        now: Instant,
        op: KeyOp,
        key: Option<&Key>,
    ) -> Result<u32, QueryError> {
        let payload = key.map_or(&[][..], |k| k.as_bytes());
        self.send_query(now, op.query_name(), payload, &QueryParams::default())
    }

    /// Someone else claims our name: ask the cluster whom it believes
    /// (Serf's `_serf_conflict` query; the majority decides at the deadline).
    pub(crate) fn resolve_conflict(&mut self, now: Instant) {
        if self.conflict_lost || self.outgoing.iter().any(|q| q.used && q.conflict) {
            return;
        }
        let params = QueryParams {
            ack: false,
            ..QueryParams::default()
        };
        // Natively the asker is the subject; Serf names it in the payload.
        let me = match self.config.wire {
            Wire::Native => None,
            Wire::HashiCorp => self.me.hashicorp().map(|h| h.name),
        };
        let mut name = [0u8; 256];
        let len = match me {
            Some(n) if n.len() <= name.len() => {
                name[..n.len()].copy_from_slice(n);
                n.len()
            }
            Some(_) => {
                self.stats.queries_dropped += 1;
                return;
            }
            None => 0,
        };
        if self
            .send_query(now, "_serf_conflict", &name[..len], &params)
            .is_err()
        {
            self.stats.queries_dropped += 1;
        }
    }

    /// Performs an internal query's work here and answers it.
    pub(crate) fn internal_query(
        &mut self,
        now: Instant,
        id: u32,
        from: &I,
        name: &str,
        payload: &[u8],
    ) {
        if name == "_serf_conflict" && self.config.wire == Wire::HashiCorp {
            // Serf asks about the name in the payload.
            return self.answer_conflict_hashicorp(now, id, payload);
        }
        if name == "_serf_conflict" {
            // Tell the asker whom we hold under its name (not asked of itself).
            if *from == self.me {
                return;
            }
            let mut out = [0u8; 512];
            let held = self
                .members
                .find_name(from)
                .map(|s| self.members.slot(s).id().clone());
            let len = held
                .and_then(|h| encode_identity(&h, &mut out))
                .unwrap_or(0);
            if self.respond(now, id, &out[..len]).is_err() {
                self.stats.queries_dropped += 1;
            }
            return;
        }
        let Some(op) = KeyOp::from_query_name(name) else {
            return; // `_serf_ping` and unknown internal names: the ack is the answer
        };
        let mut out = [0u8; 1 + crypto::MAX_KEYS * 33];
        // Serf's answers (and wording): a node without encryption has no
        // keyring to change, and must not start encrypting because asked to.
        let result = match (op, Key::new(payload)) {
            _ if self.keyring.is_empty() => Err(match op {
                KeyOp::List => KeyRefusal::ListWithoutEncryption,
                _ => KeyRefusal::NoEncryption,
            }),
            (KeyOp::List, _) => {
                let mut n = 1;
                for k in self.keyring.keys() {
                    let b = k.as_bytes();
                    out[n] = b.len() as u8;
                    out[n + 1..n + 1 + b.len()].copy_from_slice(b);
                    n += 1 + b.len();
                }
                Ok(n)
            }
            (_, Err(e)) => Err(KeyRefusal::Key(e)),
            (KeyOp::Install, Ok(k)) => self.keyring.install(k).map(|_| 1).map_err(KeyRefusal::Key),
            (KeyOp::Use, Ok(k)) => self.keyring.use_key(&k).map(|_| 1).map_err(KeyRefusal::Key),
            // Removing a key that is not installed changes nothing and
            // succeeds, as in memberlist.
            (KeyOp::Remove, Ok(k)) => match self.keyring.remove(&k) {
                Ok(()) | Err(KeyError::Unknown) => Ok(1),
                Err(e) => Err(KeyRefusal::Key(e)),
            },
        };
        if result.is_ok() && op != KeyOp::List {
            // The runtime persists the keyring (Serf rewrites its keyring
            // file on every node that applies a change).
            self.keyring_changed = true;
        }
        let len = match result {
            Ok(n) => {
                out[0] = 1;
                n
            }
            Err(e) => {
                out[0] = 0;
                let msg = e.message().as_bytes();
                out[1..1 + msg.len()].copy_from_slice(msg);
                1 + msg.len()
            }
        };
        debug_assert!(KeyResponse::parse(&out[..len]).is_some());
        let mut hc = [0u8; 1024];
        let answer = match self.config.wire {
            Wire::Native => &out[..len],
            Wire::HashiCorp => match key_response_to_hashicorp(&out[..len], &mut hc) {
                Ok(n) => &hc[..n],
                Err(_) => {
                    self.stats.queries_dropped += 1;
                    return;
                }
            },
        };
        if self.respond(now, id, answer).is_err() {
            self.stats.queries_dropped += 1;
        }
    }
}
