//! The snapshot file: any sequence of records written through `Snapshot`
//! (member names and addresses as the network gives them), garbage lines
//! appended by something else, compactions and reopenings replays to what
//! was recorded; a crash that tears the last line loses that line only;
//! and any bytes at all replay without a panic.
#![no_main]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serf_agent::snapshot::{Replay, Snapshot};

#[derive(Arbitrary, Debug)]
enum Op<'a> {
    Alive {
        name: &'a str,
        ip: [u8; 4],
        port: u16,
    },
    NotAlive {
        name: &'a str,
    },
    Clocks {
        member: u64,
        event: u64,
        query: u64,
    },
    Leave,
    Compact,
    /// A line no one wrote through `Snapshot` (it can never parse: it
    /// starts with a NUL byte).
    Garbage(&'a [u8]),
    Reopen,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    raw: &'a [u8],
    ops: Vec<Op<'a>>,
    /// Bytes cut off the end before the last reopening (a torn write).
    tear: u8,
}

/// What the file should replay to.
#[derive(Default, Debug)]
struct Model {
    alive: BTreeMap<String, SocketAddr>,
    clocks: (u64, u64, u64),
    left: bool,
}

fn check(r: &Replay, m: &Model) {
    assert_eq!(r.alive, m.alive);
    assert_eq!((r.clock, r.event_clock, r.query_clock), m.clocks);
    assert_eq!(r.left, m.left);
}

fuzz_target!(|input: Input<'_>| {
    // Any bytes replay, lines counted.
    let r = Replay::read(input.raw);
    assert!(r.bad_lines <= input.raw.iter().filter(|&&b| b == b'\n').count());
    assert!(r.torn_bytes <= input.raw.len());

    // tmpfs where there is one: the snapshot syncs on leave and compaction.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("serf-fuzz-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (mut snap, r) = Snapshot::open(&path).unwrap();
    let mut m = Model::default();
    check(&r, &m);
    let mut garbage = 0;
    for op in input.ops {
        match op {
            Op::Alive { name, ip, port } => {
                let addr = SocketAddr::from((ip, port));
                snap.alive(name, addr);
                if !name.contains(['\n', '\r']) && m.alive.get(name) != Some(&addr) {
                    m.alive.insert(name.to_string(), addr);
                    m.left = false;
                }
            }
            Op::NotAlive { name } => {
                snap.not_alive(name);
                if !name.contains(['\n', '\r']) {
                    m.alive.remove(name);
                }
            }
            Op::Clocks {
                member,
                event,
                query,
            } => {
                snap.clocks(member, event, query);
                m.clocks = (member, event, query);
            }
            Op::Leave => {
                snap.leave();
                m.left = true;
            }
            Op::Compact => {
                snap.compact().unwrap();
                garbage = 0;
            }
            Op::Garbage(bytes) => {
                let mut line = vec![0u8];
                line.extend(bytes.iter().filter(|&&b| b != b'\n'));
                line.push(b'\n');
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(&line).unwrap();
                garbage += 1;
            }
            Op::Reopen => {
                drop(snap);
                let (s, r) = Snapshot::open(&path).unwrap();
                check(&r, &m);
                assert_eq!(r.bad_lines, garbage);
                snap = s;
            }
        }
    }
    drop(snap);

    // A crash mid-write leaves part of the last line: that line is skipped,
    // everything before it replays as written.
    let bytes = std::fs::read(&path).unwrap();
    let cut = bytes.len().saturating_sub(input.tear as usize);
    if input.tear > 0 && cut < bytes.len() {
        let kept = &bytes[..cut];
        let whole = kept.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let before = Replay::read(&kept[..whole]);
        let torn = Replay::read(kept);
        assert_eq!(torn.torn_bytes, cut - whole);
        assert_eq!(
            (
                &torn.alive,
                torn.clock,
                torn.event_clock,
                torn.query_clock,
                torn.left
            ),
            (
                &before.alive,
                before.clock,
                before.event_clock,
                before.query_clock,
                before.left
            ),
            "a torn line changed what replays"
        );
        std::fs::write(&path, kept).unwrap();
        let (mut s, r) = Snapshot::open(&path).unwrap();
        assert_eq!(r.torn_bytes, cut - whole);
        // What is written after the tear reads back whole.
        s.clocks(u64::MAX, 1, 2);
        drop(s);
        let (_, r) = Snapshot::open(&path).unwrap();
        assert_eq!(
            (r.clock, r.event_clock, r.query_clock, r.torn_bytes),
            (u64::MAX, 1, 2, 0)
        );
    }
    let _ = std::fs::remove_file(&path);
});
