//! The foca race: both engines take the same updates, and `race-foca` runs
//! the same workload on each.

use std::process::Command;

use serf_bench::heap::buffers;
use serf_bench::race::{foca_packet, foca_with, our_packet, Discard};
use serf_bench::rng::SimRng;
use serf_core::{Config, Instant, Node};

#[test]
fn both_engines_apply_the_same_packet_of_updates() {
    let n = 300u32;
    let mut foca = foca_with(n, 1);
    let (packet, named) = foca_packet(
        &mut SimRng::new(4),
        n,
        &mut vec![0u16; n as usize + 1],
        1400,
    );
    assert!(packet.len() <= 1400 && named.len() > 100, "a full packet");
    foca.handle_data(&packet, Discard)
        .expect("foca takes its packet");
    let first = named[0];
    let m = foca
        .iter_members()
        .find(|m| m.id().0 == first)
        .expect("known member");
    assert_eq!(m.incarnation(), 1, "foca applied the update");

    let config = Config::lan().with_members(n as usize + 8);
    let mut ours = Node::new(
        0u32,
        config.clone(),
        buffers(&config),
        SimRng::new(2),
        Instant::ZERO,
    )
    .expect("node");
    let ids: Vec<u32> = (1..=n).collect();
    let mut start = vec![0u32; n as usize + 1];
    for chunk in ids.chunks(100) {
        let known = our_packet(chunk, &mut start, 1400);
        ours.handle_datagram(Instant::ZERO, 1, &known)
            .expect("alive news");
    }
    assert_eq!(ours.counts().alive, n + 1);
    let p = our_packet(&named, &mut start, 1400);
    ours.handle_datagram(Instant::ZERO, 1, &p)
        .expect("our packet");
    assert_eq!(
        ours.member(&first).map(|m| m.incarnation),
        Some(2),
        "ours applied the update"
    );
}

#[test]
fn race_foca_runs_the_workload_on_both_and_reports_both() {
    let out = Command::new(env!("CARGO_BIN_EXE_race-foca"))
        .args(["--members", "60", "--seconds", "80", "--json"])
        .output()
        .expect("run race-foca");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    let r: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("JSON line")).expect("JSON");
    for engine in ["ours", "foca"] {
        assert_eq!(r[engine]["killed"], 1, "{engine}");
        assert_eq!(
            r[engine]["incomplete"], 0,
            "{engine}: every survivor saw the kill"
        );
        assert!(r[engine]["speed"].as_f64().is_some_and(|s| s > 0.0));
        assert!(r[engine]["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0));
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_race-foca"))
        .args(["--engine", "nope"])
        .output()
        .expect("run race-foca");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--engine must be ours or foca"));
}
