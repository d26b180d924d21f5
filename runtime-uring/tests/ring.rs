//! The ring runtime end to end on loopback: members on one ring join,
//! gossip, leave, and go away cleanly.

use std::time::{Duration, Instant};

use serf_core::Config;
use serf_runtime_std::member::{Member, Output};
use serf_runtime_uring::Runtime;

fn ring_or_skip(members: usize) -> Option<Runtime> {
    match Runtime::builder().members(members).start() {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("skipped: io_uring unavailable here: {e}");
            None
        }
    }
}

fn local(name: &str) -> serf_runtime_std::member::MemberBuilder {
    Member::builder(name)
        .bind("127.0.0.1:0".parse().unwrap())
        .config(Config::local())
}

#[test]
fn two_members_on_one_ring_join_and_hear_each_others_events() {
    let Some(ring) = ring_or_skip(2) else { return };
    let (a, _a_events) = ring.spawn(local("ring-a")).unwrap();
    let (b, b_events) = ring.spawn(local("ring-b")).unwrap();
    assert_eq!(b.join(&[a.local_addr]), 1);
    a.user_event("deploy", b"v2", false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut heard = None;
    while Instant::now() < deadline {
        if let Ok(Output::User(e)) = b_events.recv_timeout(Duration::from_millis(100)) {
            heard = Some((e.name, e.payload));
            break;
        }
    }
    assert_eq!(heard, Some(("deploy".to_string(), b"v2".to_vec())));
    let names: Vec<String> = a.members().into_iter().map(|m| m.name).collect();
    assert!(names.contains(&"ring-b".to_string()), "{names:?}");
    let c = ring.counters();
    assert!(c.datagrams_received > 0 && c.datagrams_sent > 0, "{c:?}");
    a.leave();
    drop(a);
    drop(b);
    ring.shutdown();
}

#[test]
fn a_dropped_member_goes_and_the_other_sees_it_fail() {
    let Some(ring) = ring_or_skip(2) else { return };
    let (a, _) = ring.spawn(local("fail-a")).unwrap();
    let (b, _) = ring.spawn(local("fail-b")).unwrap();
    assert_eq!(b.join(&[a.local_addr]), 1);
    drop(b); // no leave: a crash as far as a knows
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = a
            .members()
            .into_iter()
            .find(|m| m.name == "fail-b")
            .map(|m| m.status);
        if status == Some("failed") {
            break;
        }
        assert!(Instant::now() < deadline, "fail-b never failed: {status:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_member_whose_mtu_exceeds_the_ring_is_refused_with_a_reason() {
    let Some(ring) = ring_or_skip(1) else { return };
    let mut cfg = Config::local();
    cfg.mtu = 9000;
    let err = ring.spawn(local("big").config(cfg)).err().expect("refused");
    assert!(err.to_string().contains("MTU"), "{err}");
}
