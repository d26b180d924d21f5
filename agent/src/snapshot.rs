//! Serf's snapshot file: an append-only log of members seen alive or gone,
//! the three Lamport clocks and a `leave` marker, compacted when it grows.
//! On start the agent replays it to rejoin previous members without `-join`
//! and to restore its clocks so that old events are not delivered again.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Compaction threshold floor (Serf: 128 KiB).
const MIN_COMPACT: u64 = 128 * 1024;

/// What a previous run left behind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Members last seen alive.
    pub alive: BTreeMap<String, SocketAddr>,
    /// Member clock.
    pub clock: u64,
    /// Event clock.
    pub event_clock: u64,
    /// Query clock.
    pub query_clock: u64,
    /// The previous run left the cluster gracefully.
    pub left: bool,
    /// Lines that could not be understood (skipped).
    pub bad_lines: usize,
}

/// An open snapshot.
pub struct Snapshot {
    path: PathBuf,
    file: File,
    written: u64,
    state: Replay,
}

impl Replay {
    fn apply(&mut self, line: &str) -> bool {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') || line.starts_with("coordinate:") {
            return true;
        }
        if line == "leave" {
            // The members known at the leave stay listed: `-rejoin` rejoins
            // them (Serf ignores the leave then); without it the agent
            // leaves them alone.
            self.left = true;
            return true;
        }
        let Some((kind, rest)) = line.split_once(": ") else {
            return false;
        };
        match kind {
            "alive" => {
                let Some((name, addr)) = rest.rsplit_once(' ') else {
                    return false;
                };
                match addr.parse() {
                    Ok(a) => {
                        self.alive.insert(name.to_string(), a);
                        self.left = false;
                        true
                    }
                    Err(_) => false,
                }
            }
            "not-alive" => {
                self.alive.remove(rest);
                true
            }
            "clock" => rest.parse().map(|v| self.clock = v).is_ok(),
            "event-clock" => rest.parse().map(|v| self.event_clock = v).is_ok(),
            "query-clock" => rest.parse().map(|v| self.query_clock = v).is_ok(),
            _ => false,
        }
    }
}

impl Snapshot {
    /// Opens (creating if needed) and replays `path`.
    pub fn open(path: &Path) -> std::io::Result<(Snapshot, Replay)> {
        let mut replay = Replay::default();
        if let Ok(f) = File::open(path) {
            for line in BufReader::new(f).lines() {
                match line {
                    Ok(l) if replay.apply(&l) => {}
                    _ => replay.bad_lines += 1,
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        let snap = Snapshot {
            path: path.to_path_buf(),
            file,
            written,
            state: replay.clone(),
        };
        Ok((snap, replay))
    }

    fn line(&mut self, s: &str) {
        if self.state.apply(s) && writeln!(self.file, "{s}").is_ok() {
            self.written += s.len() as u64 + 1;
        }
        let limit = MIN_COMPACT.max(2 * 128 * self.state.alive.len() as u64);
        if self.written > limit {
            let _ = self.compact();
        }
    }

    /// Records a member seen alive.
    pub fn alive(&mut self, name: &str, addr: SocketAddr) {
        if self.state.alive.get(name) != Some(&addr) {
            self.line(&format!("alive: {name} {addr}"));
        }
    }
    /// Records a member gone (failed, left, reaped).
    pub fn not_alive(&mut self, name: &str) {
        if self.state.alive.contains_key(name) {
            self.line(&format!("not-alive: {name}"));
        }
    }
    /// Records the clocks when they moved.
    pub fn clocks(&mut self, member: u64, event: u64, query: u64) {
        if member != self.state.clock {
            self.line(&format!("clock: {member}"));
        }
        if event != self.state.event_clock {
            self.line(&format!("event-clock: {event}"));
        }
        if query != self.state.query_clock {
            self.line(&format!("query-clock: {query}"));
        }
    }
    /// Records a graceful leave.
    pub fn leave(&mut self) {
        self.line("leave");
        let _ = self.file.sync_all();
    }
    /// Flushes to disk.
    pub fn sync(&mut self) {
        let _ = self.file.sync_data();
    }

    /// Rewrites the file with just the live state (via a temporary + rename).
    pub fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("compact");
        let mut f = File::create(&tmp)?;
        for (name, addr) in &self.state.alive {
            writeln!(f, "alive: {name} {addr}")?;
        }
        writeln!(f, "clock: {}", self.state.clock)?;
        writeln!(f, "event-clock: {}", self.state.event_clock)?;
        writeln!(f, "query-clock: {}", self.state.query_clock)?;
        if self.state.left {
            writeln!(f, "leave")?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.written = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_replays_members_clocks_and_leave_and_survives_garbage() {
        let path = std::env::temp_dir().join(format!("serf-snap-{}.snap", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let (mut s, r) = Snapshot::open(&path).unwrap();
            assert_eq!(r, Replay::default());
            s.alive("n1", "127.0.0.1:7946".parse().unwrap());
            s.alive("n2", "127.0.0.2:7946".parse().unwrap());
            s.not_alive("n1");
            s.clocks(5, 9, 3);
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"garbage line\nclock: x\n")
            .unwrap();
        let (mut s, r) = Snapshot::open(&path).unwrap();
        assert_eq!(r.alive.keys().collect::<Vec<_>>(), ["n2"]);
        assert_eq!((r.clock, r.event_clock, r.query_clock), (5, 9, 3));
        assert_eq!(r.bad_lines, 2);
        assert!(!r.left);
        s.compact().unwrap();
        s.leave();
        let (_, r) = Snapshot::open(&path).unwrap();
        assert!(r.left, "the leave is recorded");
        assert_eq!(
            r.alive.keys().collect::<Vec<_>>(),
            ["n2"],
            "members at the leave are kept for -rejoin"
        );
        assert_eq!(r.event_clock, 9);
        let _ = std::fs::remove_file(&path);
    }
}
