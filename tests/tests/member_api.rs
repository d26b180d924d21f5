//! The embedding API behaves the same on both runtimes: every scenario here
//! runs on the std runtime and on an io_uring ring.

use std::time::Duration;

use serf_core::EventKind;
use serf_runtime_std::member::{Output, QueryEvent, QuerySpec};
use serf_tests::agents::wait_until;
use serf_tests::runtimes::{builder, each_runtime, next_output, status_of};

#[test]
fn members_join_through_a_seed_and_see_each_others_tags() {
    each_runtime(|rt| {
        let (a, _) = rt.start(builder("tags-a").tag("role", "web"));
        let (b, _) = rt.member("tags-b");
        let (c, _) = rt.member("tags-c");
        assert_eq!(b.join(&[a.local_addr]), 1, "{}", rt.name());
        assert_eq!(c.join(&[b.local_addr]), 1, "{}", rt.name());
        assert!(
            wait_until(Duration::from_secs(10), || c.members().len() == 3
                && a.members().len() == 3),
            "no full view on {}",
            rt.name()
        );
        let seen = c
            .members()
            .into_iter()
            .find(|m| m.name == "tags-a")
            .unwrap();
        assert_eq!(seen.tags, [("role".to_string(), "web".to_string())]);
    });
}

#[test]
fn a_join_to_a_silent_address_reports_why() {
    each_runtime(|rt| {
        let (a, _) = rt.member("silent-a");
        let nobody = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let outcome = a.join_outcome(&[nobody.local_addr().unwrap()]);
        assert_eq!(outcome.joined, 0, "{}", rt.name());
        assert_eq!(outcome.failures.len(), 1);
        assert!(
            outcome.failures[0].reason.contains("no answer"),
            "{outcome:?}"
        );
    });
}

#[test]
fn a_user_event_reaches_the_other_member_once() {
    each_runtime(|rt| {
        let (a, _) = rt.member("ev-a");
        let (b, b_out) = rt.member("ev-b");
        assert_eq!(b.join(&[a.local_addr]), 1);
        a.user_event("deploy", b"v2", false).unwrap();
        let got = next_output(&b_out, Duration::from_secs(5), |o| match o {
            Output::User(e) => Some((e.name, e.payload)),
            _ => None,
        });
        assert_eq!(
            got,
            Some(("deploy".into(), b"v2".to_vec())),
            "{}",
            rt.name()
        );
        let again = next_output(&b_out, Duration::from_millis(500), |o| match o {
            Output::User(e) => Some(e.name),
            _ => None,
        });
        assert_eq!(again, None, "delivered twice on {}", rt.name());
    });
}

#[test]
fn a_query_is_answered_by_the_member_it_reaches() {
    each_runtime(|rt| {
        let (a, _) = rt.member("q-a");
        let (b, b_out) = rt.member("q-b");
        assert_eq!(b.join(&[a.local_addr]), 1);
        let answers = a
            .query(QuerySpec {
                name: "load".into(),
                ack: true,
                timeout: Some(Duration::from_secs(3)),
                ..QuerySpec::default()
            })
            .unwrap();
        let asked = next_output(&b_out, Duration::from_secs(3), |o| match o {
            Output::Query(q) => Some(q),
            _ => None,
        })
        .expect("b was asked");
        assert_eq!(asked.name, "load");
        let cmd = b.commands();
        let (tx, rx) = std::sync::mpsc::channel();
        cmd.send(serf_runtime_std::member::Command::Respond(
            asked.id,
            b"0.5".to_vec(),
            tx,
        ))
        .unwrap();
        assert_eq!(rx.recv().unwrap(), Ok(()));
        let mut acked = false;
        let mut response = None;
        while let Ok(e) = answers.recv_timeout(Duration::from_secs(5)) {
            match e {
                QueryEvent::Ack(from) => acked |= from == "q-b",
                QueryEvent::Response(from, p) => response = Some((from, p)),
                QueryEvent::Done => break,
            }
        }
        assert!(acked, "no ack on {}", rt.name());
        assert_eq!(
            response,
            Some(("q-b".into(), b"0.5".to_vec())),
            "{}",
            rt.name()
        );
    });
}

#[test]
fn new_tags_reach_the_others_as_an_update() {
    each_runtime(|rt| {
        let (a, a_out) = rt.member("up-a");
        let (b, _) = rt.member("up-b");
        assert_eq!(b.join(&[a.local_addr]), 1);
        b.set_tags(&[("role", "db")]).unwrap();
        let updated = next_output(&a_out, Duration::from_secs(5), |o| match o {
            Output::Member(e) if e.kind == EventKind::Updated && e.member.name == "up-b" => {
                Some(e.member.tags)
            }
            _ => None,
        });
        assert_eq!(
            updated,
            Some(vec![("role".into(), "db".into())]),
            "{}",
            rt.name()
        );
    });
}

#[test]
fn a_leave_shows_as_left_and_a_crash_as_failed() {
    each_runtime(|rt| {
        let (a, _) = rt.member("lv-a");
        let (b, _) = rt.member("lv-b");
        let (c, _) = rt.member("lv-c");
        assert_eq!(b.join(&[a.local_addr]), 1);
        assert_eq!(c.join(&[a.local_addr]), 1);
        assert!(wait_until(Duration::from_secs(10), || a.members().len() == 3));
        b.leave();
        drop(b);
        drop(c); // gone without a word
        let ok = wait_until(Duration::from_secs(20), || {
            status_of(&a, "lv-b") == Some("left") && status_of(&a, "lv-c") == Some("failed")
        });
        assert!(
            ok,
            "on {}: b {:?}, c {:?}",
            rt.name(),
            status_of(&a, "lv-b"),
            status_of(&a, "lv-c")
        );
    });
}

#[test]
fn stats_count_the_traffic_both_ways() {
    each_runtime(|rt| {
        let (a, _) = rt.member("st-a");
        let (b, _) = rt.member("st-b");
        assert_eq!(b.join(&[a.local_addr]), 1);
        assert!(wait_until(Duration::from_secs(5), || {
            let s = a.stats().unwrap_or_default();
            s.received > 2 && s.sent > 2
        }));
    });
}
