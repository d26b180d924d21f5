//! `stats` (the agent's runtime figures) and `get-coordinate`.

use std::collections::BTreeMap;

use serf_runtime_std::member::Command;

use super::connection::{ask, Connection};
use super::records::*;

impl Connection {
    /// The agent's statistics, grouped as Serf groups them.
    pub(super) fn stats(&mut self, seq: u64) -> Result<(), String> {
        let info = ask(&self.commands, Command::Info)?;
        let mut stats: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        stats.insert("agent", [("name".to_string(), info.name.clone())].into());
        stats.insert(
            "runtime",
            [
                ("os".to_string(), std::env::consts::OS.to_string()),
                ("arch".to_string(), std::env::consts::ARCH.to_string()),
                (
                    "version".to_string(),
                    format!("rust serf {}", env!("CARGO_PKG_VERSION")),
                ),
                (
                    "max_procs".to_string(),
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get())
                        .to_string(),
                ),
                ("goroutines".to_string(), "0".to_string()),
                (
                    "cpu_count".to_string(),
                    std::thread::available_parallelism()
                        .map_or(1, |n| n.get())
                        .to_string(),
                ),
            ]
            .into(),
        );
        stats.insert(
            "serf",
            [
                ("members", info.members.to_string()),
                ("failed", info.failed.to_string()),
                ("left", info.left.to_string()),
                ("health_score", info.health_score.to_string()),
                ("member_time", info.member_time.to_string()),
                ("event_time", info.event_time.to_string()),
                ("query_time", info.query_time.to_string()),
                ("intent_queue", "0".to_string()),
                ("event_queue", "0".to_string()),
                ("query_queue", "0".to_string()),
                ("encrypted", info.encrypted.to_string()),
                ("coordinate_resets", info.coordinate_resets.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        );
        stats.insert("tags", info.tags.into_iter().collect());
        stats.insert(
            "event_handlers",
            self.hub.handler_specs().into_iter().collect(),
        );
        self.reply_body(seq, "", &stats)
    }

    /// A member's network coordinate.
    pub(super) fn get_coordinate(&mut self, seq: u64) -> Result<(), String> {
        let b = self.body()?;
        let node = b.string("Node")?;
        let c = ask(&self.commands, |tx| Command::Coordinate(node, tx))?;

        let body = match c {
            Some(c) => CoordBody {
                coord: WireCoord {
                    vec: c.vec[..c.dims as usize].to_vec(),
                    error: c.error,
                    adjustment: c.adjustment,
                    height: c.height,
                },
                ok: true,
            },
            None => CoordBody {
                coord: WireCoord {
                    vec: Vec::new(),
                    error: 0.0,
                    adjustment: 0.0,
                    height: 0.0,
                },
                ok: false,
            },
        };
        self.reply_body(seq, "", &body)
    }
}
