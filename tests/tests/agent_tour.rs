//! End to end, the article's story: real `serf` agents on 127.0.0.x join,
//! run handlers, detect failures, keep snapshots and keyring files, coalesce
//! and replay events, and give up on seeds that never answer.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serf_tests::agents::{block, fresh_dir, serf_bin, serial, text, wait_until, Cluster};

#[test]
fn five_agents_join_transitively_and_run_the_articles_commands() {
    let _serial = serial();
    // The LAN profile, as the article's users run it: the local profile's
    // retransmit limit (2 copies per member for < 10 members, as memberlist)
    // can leave a member without the query in a 5-member cluster.
    let c = Cluster::start(5, |i| {
        vec![
            "-profile=lan".into(),
            "-tag".into(),
            "role=ichabod".into(),
            "-tag".into(),
            format!("region=r{}", i + 1),
            "-event-handler".into(),
            "query:load=echo load-of-$SERF_SELF_NAME".into(),
            "-event-handler".into(),
            "user:deploy=printf '%s %s %s %s ' \"$SERF_EVENT\" \"$SERF_USER_EVENT\" \"$SERF_SELF_ROLE\" \"$SERF_TAG_REGION\" > $OUT_DIR/$SERF_SELF_NAME.event; cat >> $OUT_DIR/$SERF_SELF_NAME.event".into(),
        ]
    });
    // Transitive introductions: each agent only meets its predecessor.
    for i in 1..5 {
        let o = c.cli(i, &["join", &c.agents[i - 1].ip]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("Successfully joined cluster by contacting 1 nodes."));
    }
    assert!(
        wait_until(Duration::from_secs(15), || c.alive_count(0) == 5),
        "{}",
        c.members(0, &[])
    );
    let alive = c.members(4, &["-status=alive"]);
    for a in &c.agents {
        assert!(alive.contains(&a.name), "{alive}");
    }
    assert!(
        alive.contains("region=r3,role=ichabod"),
        "tags are listed: {alive}"
    );
    // serf query load: five acks, five responses from the handler.
    // A generous deadline: handler scripts start slowly on a loaded CI machine.
    let q = text(&c.cli(0, &["query", "-timeout", "10s", "load"]));
    assert!(q.contains("Query 'load' dispatched"), "{q}");
    assert!(
        q.contains("Total Acks: 5") && q.contains("Total Responses: 5"),
        "{q}"
    );
    assert!(q.contains("Response from 'n3': load-of-n3"), "{q}");
    // rtt between two other members (coordinates arrive with n1's own probes,
    // so the first few seconds after joining may not have them yet).
    assert!(wait_until(Duration::from_secs(15), || c
        .cli(0, &["rtt", "n2", "n4"])
        .status
        .success()));
    let r = text(&c.cli(0, &["rtt", "n2", "n4"]));
    assert!(
        r.starts_with("Estimated n2 <-> n4 rtt: ") && r.trim_end().ends_with(" ms"),
        "{r}"
    );
    // Ours beyond Serf: the nearest members by estimated RTT.
    assert!(
        wait_until(Duration::from_secs(15), || c
            .members(0, &["-nearest", "2"])
            .lines()
            .count()
            == 2),
        "{}",
        c.members(0, &["-nearest", "2"])
    );
    let near = c.members(0, &["-nearest", "2"]);
    assert!(
        near.lines()
            .all(|l| l.contains("rtt=") && !l.starts_with("n1 ")),
        "{near}"
    );
    // tags -set propagates.
    assert!(c.cli(2, &["tags", "-set", "zone=blue"]).status.success());
    assert!(wait_until(Duration::from_secs(10), || c
        .members(0, &["-tag", "zone=blue"])
        .contains("n3")));
    assert!(c.dir.exists());
}

#[test]
fn user_event_runs_the_handler_with_serfs_environment() {
    let _serial = serial();
    let out = std::env::temp_dir().join(format!("serf-handler-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&out);
    let o = out.display().to_string();
    let c = Cluster::start(2, move |i| {
        vec![
            "-tag".into(),
            "role=web".into(),
            "-tag".into(),
            format!("region=r{}", i + 1),
            "-event-handler".into(),
            format!("user:deploy=printf '%s|%s|%s|%s|%s|' \"$SERF_EVENT\" \"$SERF_USER_EVENT\" \"$SERF_SELF_ROLE\" \"$SERF_TAG_REGION\" \"$SERF_SELF_NAME\" > {o}/$SERF_SELF_NAME.txt; cat >> {o}/$SERF_SELF_NAME.txt"),
        ]
    });
    c.join(1, 0);
    let e = text(&c.cli(0, &["event", "deploy", "v42"]));
    assert!(
        e.contains("Event 'deploy' dispatched! Coalescing enabled: true"),
        "{e}"
    );
    let file = out.join("n2.txt");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.ends_with('\n'))
    }));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "user|deploy|web|r2|n2|v42\n"
    );
    // Handlers see the agent's tags as they are now.
    assert!(c.cli(1, &["tags", "-set", "region=zz"]).status.success());
    assert!(c.cli(0, &["event", "deploy", "v43"]).status.success());
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&file).is_ok_and(|s| s.contains("v43"))
    }));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "user|deploy|web|zz|n2|v43\n"
    );
}

#[test]
fn killed_agent_is_failed_and_a_leaving_agent_is_left() {
    let _serial = serial();
    let mut c = Cluster::start(4, |_| vec![]);
    for i in 1..4 {
        c.join(i, 0);
    }
    // Every member knows every other before the kill (a member that never
    // heard of n4 cannot report it failed).
    assert!(wait_until(Duration::from_secs(20), || (0..4)
        .all(|i| c.alive_count(i) == 4)));
    c.kill(3); // kill -9
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(45), || (0..3)
            .all(|i| c.status_of(i, "n4").as_deref() == Some("failed"))),
        "{}",
        c.members(0, &[])
    );
    println!(
        "kill -9 seen as failed by every survivor after {:?}",
        t.elapsed()
    );
    // graceful leave
    let l = text(&c.cli(2, &["leave"]));
    assert!(l.contains("Graceful leave complete"), "{l}");
    assert!(
        wait_until(Duration::from_secs(15), || (0..2)
            .all(|i| c.status_of(i, "n3").as_deref() == Some("left"))),
        "{}",
        c.members(0, &[])
    );
}

#[test]
fn agent_with_the_wrong_key_or_none_cannot_join_and_is_told_why() {
    let _serial = serial();
    let good = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let bad = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    let c = Cluster::start(4, |i| match i {
        2 => vec![format!("-encrypt={bad}")],
        3 => vec![],
        _ => vec![format!("-encrypt={good}")],
    });
    c.join(1, 0);
    // HashiCorp's agent names the cause, in these words.
    let o = c.cli(2, &["join", &c.agents[0].ip]);
    assert!(
        !o.status.success(),
        "the wrong key must not join: {}",
        text(&o)
    );
    assert!(
        text(&o).contains(&format!(
            "Error joining the cluster: 1 error occurred:\n\t* Failed to join {}: No installed keys could decrypt the message",
            c.agents[0].ip
        )),
        "{}",
        text(&o)
    );
    let o = c.cli(3, &["join", &c.agents[0].ip]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("Remote state is encrypted and encryption is not configured"),
        "{}",
        text(&o)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(!c.members(0, &[]).contains("n3") && !c.members(0, &[]).contains("n4"));
    assert_eq!(c.members(2, &[]).lines().count(), 1);
    assert_eq!(c.members(3, &[]).lines().count(), 1);
}

#[test]
fn agent_restarted_with_its_snapshot_rejoins_without_join() {
    let _serial = serial();
    let snap = std::env::temp_dir().join(format!("serf-e2e-{}.snapshot", std::process::id()));
    let _ = std::fs::remove_file(&snap);
    let path = snap.display().to_string();
    let mut c = Cluster::start(3, move |i| {
        if i == 2 {
            vec![format!("-snapshot={path}")]
        } else {
            vec![]
        }
    });
    c.join(1, 0);
    c.join(2, 1);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(2) == 3));
    std::thread::sleep(Duration::from_millis(1500)); // let the snapshot record the members
    c.restart(2); // kill -9, start again with the same flags: no -join
    assert!(
        wait_until(Duration::from_secs(15), || c.alive_count(2) == 3),
        "restarted agent sees: {}",
        c.members(2, &[])
    );
    let snapshot = std::fs::read_to_string(&snap).unwrap();
    assert!(
        snapshot.contains("alive: n1 ") && snapshot.contains("clock: "),
        "{snapshot}"
    );
    let _ = std::fs::remove_file(&snap);
}

/// `serf info`'s `event_time` on agent `i`.
fn event_time(c: &Cluster, i: usize) -> u64 {
    let o = c.cli(i, &["info"]);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("event_time = "))
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn agent_killed_mid_snapshot_write_skips_the_torn_line_keeps_its_clocks_and_rejoins() {
    let _serial = serial();
    let dir = fresh_dir("torn");
    let snap = dir.join("n2.snap");
    let path = snap.display().to_string();
    let mut c = Cluster::start(2, move |i| {
        if i == 1 {
            vec![format!("-snapshot={path}")]
        } else {
            vec![]
        }
    });
    c.join(1, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(1) == 2));
    for i in 0..12 {
        assert!(c
            .cli(0, &["event", "tick", &i.to_string()])
            .status
            .success());
    }
    assert!(wait_until(Duration::from_secs(10), || event_time(&c, 1) >= 12));
    std::thread::sleep(Duration::from_millis(1500)); // the snapshot records it
    let before = event_time(&c, 1);

    // kill -9 while a line was half written: "event-clock: 1" is what is
    // left of, say, "event-clock: 13" — it must not read as a clock of 1.
    c.kill(1);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&snap)
        .unwrap();
    std::io::Write::write_all(&mut f, b"event-clock: 1").unwrap();
    drop(f);
    c.restart(1); // the same flags: no -join
    assert!(
        wait_until(Duration::from_secs(15), || c.alive_count(1) == 2),
        "restarted agent sees: {}",
        c.members(1, &[])
    );
    let log = std::fs::read_to_string(c.dir.join("n2-restart.log")).unwrap_or_default();
    assert!(log.contains("skipped a torn last line"), "{log}");
    assert!(
        event_time(&c, 1) >= before,
        "event clock went back from {before} to {}",
        event_time(&c, 1)
    );
    // A new event is delivered (its time is above the restored clock)...
    assert!(c.cli(0, &["event", "after", "1"]).status.success());
    assert!(wait_until(Duration::from_secs(10), || event_time(&c, 1) > before));
    // ...and what the restarted agent wrote did not run on from the torn line.
    std::thread::sleep(Duration::from_millis(1500));
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(
        !text.contains("event-clock: 1alive") && !text.contains("event-clock: 1clock"),
        "{text}"
    );
    for line in text.lines() {
        assert!(
            [
                "alive: ",
                "not-alive: ",
                "clock: ",
                "event-clock: ",
                "query-clock: ",
                "leave"
            ]
            .iter()
            .any(|p| line.starts_with(p)),
            "unreadable snapshot line {line:?} in\n{text}"
        );
    }
}

#[test]
fn tags_file_and_keyring_file_are_loaded_and_rewritten_on_change() {
    let _serial = serial();
    let dir = fresh_dir("persist");
    let tags = dir.join("tags.json");
    let keys = dir.join("keys.json");
    std::fs::write(&tags, r#"{"role": "db"}"#).unwrap();
    std::fs::write(&keys, r#"["QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="]"#).unwrap();
    let (t, k) = (tags.display().to_string(), keys.display().to_string());
    let c = Cluster::start(2, move |i| {
        if i == 0 {
            vec![format!("-tags-file={t}"), format!("-keyring-file={k}")]
        } else {
            vec!["-encrypt=QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=".into()]
        }
    });
    c.join(1, 0);
    assert!(wait_until(Duration::from_secs(10), || c
        .members(1, &[])
        .contains("role=db")));
    assert!(c.cli(0, &["tags", "-set", "zone=a"]).status.success());
    let written = std::fs::read_to_string(&tags).unwrap();
    assert!(
        written.contains("\"zone\":\"a\"") && written.contains("\"role\":\"db\""),
        "{written}"
    );
    let o = c.cli(
        0,
        &[
            "keys",
            "-install",
            "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&keys).unwrap();
    assert!(written.contains("QkJC"), "{written}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn member_joins_reach_a_handler_as_one_coalesced_batch_and_sighup_reloads_handlers_and_tags() {
    let _serial = serial();
    let dir = fresh_dir("reload");
    let conf = dir.join("agent.json");
    let d = dir.display().to_string();
    // Before the reload: member-join events go to joins.txt (one line per
    // member, one run per batch).
    let write_conf = |handler: String, role: &str| {
        let v = serde_json::json!({
            "event_handlers": [handler],
            "tags": {"role": role},
            "log_level": "info",
        });
        std::fs::write(&conf, v.to_string()).unwrap();
    };
    write_conf(
        format!("member-join=cat >> {d}/joins.txt; echo run >> {d}/runs.txt"),
        "old",
    );
    let cf = conf.display().to_string();
    let mut c = Cluster::start(4, move |i| {
        if i == 0 {
            vec![format!("-config-file={cf}")]
        } else {
            vec!["-tag".into(), format!("rack=r{i}")]
        }
    });
    for j in 1..4 {
        c.join(0, j);
    }
    let joins = dir.join("joins.txt");
    assert!(wait_until(Duration::from_secs(15), || {
        std::fs::read_to_string(&joins).is_ok_and(|s| s.lines().count() >= 4)
    }));
    std::thread::sleep(Duration::from_secs(2));
    let lines = std::fs::read_to_string(&joins).unwrap();
    // n1's own join and the three others, each exactly once, Serf's format.
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert!(
        lines.contains(&format!("n3\t{}\t\track=r2\n", c.agents[2].ip)),
        "{lines}"
    );
    assert!(
        lines.contains("n1\t") && lines.contains("\told\trole=old\n"),
        "{lines}"
    );
    let runs = std::fs::read_to_string(dir.join("runs.txt")).unwrap();
    assert!(
        runs.lines().count() < 4,
        "joins within the window were coalesced into fewer runs: {runs}"
    );

    // Reload: a user-event handler instead, a new role, a debug log level.
    write_conf(
        format!("user=echo \"$SERF_SELF_ROLE\" >> {d}/after.txt"),
        "new",
    );
    let pid = c.agents[0].child.as_ref().unwrap().id();
    let hup = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(wait_until(Duration::from_secs(10), || c
        .members(1, &["-tag", "role=new"])
        .contains("n1")));
    assert!(c
        .cli(1, &["event", "-coalesce=false", "hello"])
        .status
        .success());
    let after = dir.join("after.txt");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&after).is_ok_and(|s| s == "new\n")
    }));
    // The old handler is gone: a new member's join no longer reaches joins.txt.
    c.kill(3);
    c.restart(3);
    c.join(3, 0);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(std::fs::read_to_string(&joins).unwrap(), lines);
    // A configuration that no longer parses is refused and the agent lives on.
    std::fs::write(&conf, "{ not json").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(c.cli(0, &["members"]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn join_replay_runs_handlers_for_past_events_and_a_plain_join_does_not() {
    let _serial = serial();
    let out = fresh_dir("replay");
    let o = out.display().to_string();
    let c = Cluster::start(3, move |_| {
        vec![
            "-event-handler".into(),
            format!("user=cat >> {o}/$SERF_SELF_NAME.txt"),
        ]
    });
    for v in ["one", "two"] {
        assert!(c
            .cli(0, &["event", "-coalesce=false", "deploy", v])
            .status
            .success());
    }
    let n1 = out.join("n1.txt");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&n1).is_ok_and(|s| s == "one\ntwo\n")
    }));
    let o = c.cli(1, &["join", "-replay", &c.agents[0].ip]);
    assert!(text(&o).contains("Successfully joined cluster by contacting 1 nodes."));
    c.join(2, 0);
    let n2 = out.join("n2.txt");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&n2).is_ok_and(|s| s.lines().count() == 2)
    }));
    let mut got: Vec<String> = std::fs::read_to_string(&n2)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    assert_eq!(got, ["one", "two"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !out.join("n3.txt").exists(),
        "a join without -replay runs no handler for old events"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn retry_join_gives_up_after_retry_max_and_the_agent_exits_1() {
    let _serial = serial();
    let (second, b) = block();
    let rpc = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let out = Command::new(serf_bin())
        .args([
            "agent",
            "-node=lonely",
            &format!("-bind=127.{second}.{b}.1:7946"),
            &format!("-rpc-addr={rpc}"),
            // Nobody listens there.
            &format!("-retry-join=127.{second}.{b}.9:7946"),
            "-retry-interval=1s",
            "-retry-max=1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    // As HashiCorp's agent: the first attempt plus -retry-max retries, each
    // failure logged before the agent gives up.
    assert_eq!(
        log.matches("[WARN] memberlist: Failed to join 127.")
            .count(),
        2,
        "{log}"
    );
    assert_eq!(log.matches("Join failed: ").count(), 1, "{log}");
    let exhausted = log.find("Max join retry exhausted").expect("gives up");
    assert!(log.find("Join failed: ").unwrap() < exhausted, "{log}");
    assert!(started.elapsed() < Duration::from_secs(30));
}
