//! The membership commands: `join`, `members` (and `members-filtered`),
//! `force-leave`, `leave`, `tags`.

use std::collections::BTreeMap;

use serf_runtime_std::member::Command;

use super::connection::{ask, ask_within, Connection};
use super::records::*;

impl Connection {
    /// Joins the given addresses; answers how many answered.
    pub(super) fn join(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let existing = b.strings("Existing")?;
        let mut addrs = Vec::new();
        for e in &existing {
            match (self.config.resolve)(e) {
                Ok(a) => addrs.push(a),
                Err(err) => {
                    return self.reply_body(seq, &err, &JoinBody { num: 0 });
                }
            }
        }
        let replay = b.boolean("Replay")?;
        let outcome = ask(&self.commands, |tx| Command::Join(addrs, replay, tx))?;
        // As Serf: an error only when no seed answered.
        let err = if outcome.joined == 0 {
            outcome.describe()
        } else {
            String::new()
        };
        self.reply_body(
            seq,
            &err,
            &JoinBody {
                num: outcome.joined as i32,
            },
        )
    }

    /// The member list, filtered by status, name and tag expressions (anchored, as Serf anchors them) for `members-filtered`.
    pub(super) fn members(&mut self, seq: u64, command: &str) -> Result<(), String> {
        let filter = if command == "members-filtered" {
            Some(self.body()?)
        } else {
            None
        };
        let list = ask(&self.commands, Command::Members)?;
        let members = match &filter {
            None => list.iter().map(WireMember::from).collect(),
            Some(f) => {
                let anchored = |re: &str| regex_lite::Regex::new(&format!("^(?:{re})$"));
                let status = f.string("Status")?;
                let name = f.string("Name")?;
                let tags = f.string_map("Tags")?;
                let (Ok(sre), Ok(nre)) = (
                    anchored(if status.is_empty() { ".*" } else { &status }),
                    anchored(if name.is_empty() { ".*" } else { &name }),
                ) else {
                    return self.reply_body(
                        seq,
                        "invalid regular expression",
                        &MembersBody {
                            members: Vec::new(),
                        },
                    );
                };
                let mut tres = Vec::new();
                for (k, v) in &tags {
                    match anchored(v) {
                        Ok(r) => tres.push((k.clone(), r)),
                        Err(_) => {
                            return self.reply_body(
                                seq,
                                "invalid regular expression",
                                &MembersBody {
                                    members: Vec::new(),
                                },
                            )
                        }
                    }
                }
                list.iter()
                    .filter(|m| sre.is_match(m.status) && nre.is_match(&m.name))
                    .filter(|m| {
                        tres.iter().all(|(k, r)| {
                            r.is_match(m.tags.iter().find(|(tk, _)| tk == k).map_or("", |(_, v)| v))
                        })
                    })
                    .map(WireMember::from)
                    .collect()
            }
        };
        self.reply_body(seq, "", &MembersBody { members })
    }

    /// Forces a failed member out.
    pub(super) fn force_leave(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let (node, prune) = (b.string("Node")?, b.boolean("Prune")?);
        let ok = ask(&self.commands, |tx| Command::ForceLeave(node, prune, tx))?;
        self.reply(seq, if ok { "" } else { "node not found" })
    }

    /// Leaves the cluster gracefully, then shuts the agent down.
    pub(super) fn leave(&mut self, seq: u64) -> Result<(), String> {
        if let Err(e) = ask_within(&self.commands, self.config.leave_wait, Command::Leave) {
            return self.reply(seq, &e);
        }
        self.reply(seq, "")?;
        // The agent exits next: the answer must be on the socket first.
        self.writer.wait_written();
        self.hub.left();
        Ok(())
    }

    /// Sets and deletes tags (and rewrites the tags file).
    pub(super) fn tags(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let set = b.string_map("Tags")?;
        let delete = b.strings("DeleteTags")?;
        let info = ask(&self.commands, Command::Info)?;
        let mut tags: BTreeMap<String, String> = info.tags.into_iter().collect();
        for d in &delete {
            tags.remove(d);
        }
        tags.extend(set);
        let tags: Vec<(String, String)> = tags.into_iter().collect();
        match ask(&self.commands, |tx| Command::SetTags(tags.clone(), tx))? {
            Ok(()) => {
                if let Some(path) = &self.config.tags_file {
                    if let Err(e) = crate::files::write_tags(path, &tags) {
                        return self.reply(seq, &e);
                    }
                }
                self.reply(seq, "")
            }
            Err(e) => self.reply(seq, &e),
        }
    }
}
