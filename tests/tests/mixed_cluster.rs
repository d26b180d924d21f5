//! Mixed clusters: our agent (`-wire=hashicorp`) and HashiCorp's own
//! (`/usr/bin/serf`, installed by `.ci/run`) in one cluster, each joining
//! the other. Skipped, with a note, where HashiCorp's agent is missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serf_tests::agents::{fresh_dir, key, serial, text, wait_until, Cluster, Kind, HASHICORP_SERF};

fn hashicorp_installed() -> bool {
    let found = Path::new(HASHICORP_SERF).exists();
    if !found {
        eprintln!("skipped: {HASHICORP_SERF} is not installed (.ci/run installs Debian's serf)");
    }
    found
}

/// Ours on the even members, HashiCorp's on the odd ones.
fn alternating(n: usize) -> Vec<Kind> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                Kind::Ours
            } else {
                Kind::HashiCorp
            }
        })
        .collect()
}

/// The flags every member gets: ours speaks HashiCorp's wire; both tag
/// themselves with their kind and run handlers that record what they saw.
fn flags(kinds: &[Kind], dir: &Path, i: usize, more: &[String]) -> Vec<String> {
    let mut f = Vec::new();
    if kinds[i] == Kind::Ours {
        f.push("-wire=hashicorp".to_string());
    }
    let kind = if kinds[i] == Kind::Ours { "ours" } else { "hc" };
    f.extend(["-tag".into(), format!("kind={kind}")]);
    let role = if i < 2 { "web" } else { "db" };
    f.extend(["-tag".into(), format!("role={role}")]);
    let log = dir.join(format!("n{}.events", i + 1));
    f.extend([
        "-event-handler".into(),
        format!("user=echo \"$SERF_USER_EVENT $(cat)\" >> {}", log.display()),
        "-event-handler".into(),
        "query:load=echo \"$SERF_SELF_NAME\"".into(),
    ]);
    f.extend(more.iter().cloned());
    f
}

/// `members` as agent `observer` lists them, through HashiCorp's client or
/// ours: one "name address status tags" line per member, sorted.
fn view(c: &Cluster, observer: usize, hashicorps_cli: bool) -> BTreeSet<String> {
    let rpc = format!("-rpc-addr={}", c.agents[observer].rpc);
    let out = if hashicorps_cli {
        Command::new(HASHICORP_SERF)
            .args(["members", &rpc])
            .output()
            .unwrap()
    } else {
        c.cli(observer, &["members"])
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut w: Vec<&str> = l.split_whitespace().collect();
            if let Some(tags) = w.get_mut(3) {
                let mut t: Vec<&str> = tags.split(',').collect();
                t.sort();
                return format!("{} {} {} {}", w[0], w[1], w[2], t.join(","));
            }
            w.join(" ")
        })
        .collect()
}

/// Every agent lists `n` alive members, and every view (through both
/// clients) is the same.
fn agreed(c: &Cluster, n: usize) -> bool {
    let first = view(c, 0, false);
    first.len() == n
        && first.iter().all(|l| l.contains(" alive "))
        && (0..c.agents.len())
            .filter(|&i| c.agents[i].child.is_some())
            .all(|i| view(c, i, false) == first && view(c, i, true) == first)
}

/// Lines agent `i`'s user-event handler wrote.
fn events_seen(dir: &Path, i: usize) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("n{}.events", i + 1)))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Starts the cluster and joins it both ways: HashiCorp's n2 joins our n1,
/// our n3 joins HashiCorp's n2, HashiCorp's n4 joins our n3.
fn mixed(n: usize, dir: &Path, more: &[String]) -> Cluster {
    let kinds = alternating(n);
    let c = Cluster::start_kinds(&kinds, |i| flags(&kinds, dir, i, more));
    for i in 1..n {
        c.join(i, i - 1);
    }
    c
}

#[test]
fn ours_and_hashicorps_agents_join_each_other_agree_on_members_and_carry_events_and_queries() {
    if !hashicorp_installed() {
        return;
    }
    let _serial = serial();
    let dir = fresh_dir("mixed");
    let mut c = mixed(4, &dir, &[]);
    assert!(
        wait_until(Duration::from_secs(15), || agreed(&c, 4)),
        "views differ: {:?} / {:?}",
        view(&c, 0, false),
        view(&c, 1, true)
    );
    let tags = view(&c, 1, true);
    assert!(
        tags.iter()
            .any(|l| l.starts_with("n1 ") && l.contains("kind=ours") && l.contains("role=web")),
        "{tags:?}"
    );

    // What we gossip about HashiCorp's members is byte for byte what they
    // say of themselves (two tags, in their order): none refutes it.
    for i in [1, 3] {
        let log = std::fs::read_to_string(c.dir.join(format!("n{}.log", i + 1))).unwrap();
        assert!(
            !log.contains("Refuting an alive message"),
            "n{}: {log}",
            i + 1
        );
    }

    // An event fired at either kind runs every agent's handler once.
    assert!(c.cli(0, &["event", "from-ours", "a"]).status.success());
    assert!(c.cli(1, &["event", "from-hc", "b"]).status.success());
    let both = |i: usize| {
        let mut e = events_seen(&dir, i);
        e.sort();
        e == ["from-hc b", "from-ours a"]
    };
    assert!(
        wait_until(Duration::from_secs(10), || (0..4).all(both)),
        "{:?}",
        (0..4).map(|i| events_seen(&dir, i)).collect::<Vec<_>>()
    );

    // A query from either kind, filtered by tag, is acked and answered by
    // the matching agents of both kinds (n1 ours, n2 HashiCorp's).
    for asker in [0, 3] {
        let o = c.cli(
            asker,
            &[
                "query",
                "-format=json",
                "-tag",
                "role=web",
                "-timeout=3s",
                "load",
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut acks: Vec<String> = v["Acks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        acks.sort();
        assert_eq!(acks, ["n1", "n2"], "asked by n{}: {}", asker + 1, text(&o));
        let responses = v["Responses"].as_object().unwrap();
        assert_eq!(responses.len(), 2, "{}", text(&o));
        for (who, said) in responses {
            assert_eq!(said.as_str().unwrap().trim(), who, "{}", text(&o));
        }
    }

    // Coordinates cross: an estimate between a HashiCorp member and ours,
    // from either side.
    for asker in [0, 1] {
        let o = c.cli(asker, &["rtt", "n1", "n2"]);
        assert!(text(&o).contains("rtt:"), "{}", text(&o));
    }

    // A graceful leave of ours and a kill -9 of HashiCorp's are seen by all.
    assert!(c.cli(2, &["leave"]).status.success());
    c.kill(3);
    let settled = |c: &Cluster| {
        (0..2).all(|i| {
            c.status_of(i, "n3").as_deref() == Some("left")
                && c.status_of(i, "n4").as_deref() == Some("failed")
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || settled(&c)),
        "{:?} / {:?}",
        view(&c, 0, false),
        view(&c, 1, true)
    );
}

#[test]
fn an_encrypted_mixed_cluster_survives_hashicorps_key_rotation_and_a_snapshot_restart() {
    if !hashicorp_installed() {
        return;
    }
    let _serial = serial();
    let dir = fresh_dir("mixed-keys");
    let first = key(1);
    let kinds = alternating(4);
    let d = dir.clone();
    let mut c = Cluster::start_kinds(&kinds, |i| {
        let snap = d.join(format!("n{}.snapshot", i + 1));
        let more = [
            format!("-encrypt={first}"),
            format!("-snapshot={}", snap.display()),
        ];
        flags(&kinds, &d, i, &more)
    });
    for i in 1..4 {
        c.join(i, i - 1);
    }
    assert!(wait_until(Duration::from_secs(15), || agreed(&c, 4)));

    // Rotate with HashiCorp's own client through a HashiCorp member.
    let second = key(2);
    let keys = |args: &[&str]| {
        let rpc = format!("-rpc-addr={}", c.agents[1].rpc);
        let mut a = vec!["keys", rpc.as_str()];
        a.extend_from_slice(args);
        let o = Command::new(HASHICORP_SERF).args(&a).output().unwrap();
        assert!(o.status.success(), "keys {args:?}: {}", text(&o));
        text(&o)
    };
    keys(&["-install", &second]);
    keys(&["-use", &second]);
    keys(&["-remove", &first]);
    let listed = keys(&["-list"]);
    assert!(
        listed.contains(&second) && !listed.contains(&first),
        "{listed}"
    );
    // No member is lost, and the cluster still carries an event.
    std::thread::sleep(Duration::from_secs(3));
    assert!(agreed(&c, 4), "{:?}", view(&c, 0, false));
    assert!(c.cli(0, &["event", "after-rotation", "x"]).status.success());
    assert!(wait_until(Duration::from_secs(10), || (0..4).all(|i| {
        events_seen(&dir, i).iter().any(|e| e == "after-rotation x")
    })));

    // A HashiCorp agent killed and restarted from its snapshot rejoins.
    // (It starts with the first key on its command line but its keyring
    // is the cluster's, from the rotation it took part in.)
    c.kill(3);
    assert!(wait_until(Duration::from_secs(30), || c
        .status_of(0, "n4")
        .as_deref()
        == Some("failed")));
    let args = &mut c.agents[3].args;
    for a in args.iter_mut() {
        if a.starts_with("-encrypt=") {
            *a = format!("-encrypt={second}");
        }
    }
    c.restart(3);
    assert!(
        wait_until(Duration::from_secs(20), || agreed(&c, 4)),
        "{:?}",
        view(&c, 0, false)
    );
}

#[test]
fn untagged_members_of_either_kind_carry_serfs_empty_tags_and_nobody_refutes_them() {
    if !hashicorp_installed() {
        return;
    }
    let _serial = serial();
    let c = Cluster::start_kinds(&alternating(2), |_| Vec::new());
    c.join(1, 0);
    assert!(
        wait_until(Duration::from_secs(15), || c.alive_count(0) == 2
            && c.alive_count(1) == 2),
        "{}{}",
        c.members(0, &[]),
        c.members(1, &[])
    );
    // Gossip rounds pass: our n1 repeats HashiCorp's n2's alive message.
    std::thread::sleep(Duration::from_secs(6));
    let log = std::fs::read_to_string(c.dir.join("n2.log")).unwrap();
    assert!(!log.contains("Refuting an alive message"), "{log}");
    // HashiCorp reads our empty tags as none (not a bare `role=`).
    let o = Command::new(HASHICORP_SERF)
        .args(["members", &format!("-rpc-addr={}", c.agents[1].rpc)])
        .output()
        .unwrap();
    let listed = text(&o);
    let n1 = listed.lines().find(|l| l.starts_with("n1 ")).unwrap_or("");
    assert!(n1.contains("alive") && !n1.contains("role"), "{listed}");
}

/// Agent `i`'s log so far.
fn log_of(c: &Cluster, i: usize) -> String {
    std::fs::read_to_string(c.dir.join(format!("n{}.log", i + 1))).unwrap_or_default()
}

#[test]
fn relayed_responses_and_name_conflict_answers_cross_between_ours_and_hashicorps_agents() {
    if !hashicorp_installed() {
        return;
    }
    let _serial = serial();
    let dir = fresh_dir("mixed-internal");
    let c = mixed(4, &dir, &["-log-level=debug".to_string()]);
    assert!(wait_until(Duration::from_secs(15), || agreed(&c, 4)));

    // Only one kind answers each query, and each answer is relayed through
    // every other member: the relays the other kind forwards are the ones
    // the answering kind wrapped.
    let relayed = |asker: usize, kind: &str, hashicorps_cli: bool| {
        let rpc = format!("-rpc-addr={}", c.agents[asker].rpc);
        let filter = format!("kind={kind}");
        let args = [
            "query",
            rpc.as_str(),
            "-format=json",
            "-tag",
            filter.as_str(),
            "-relay-factor=3",
            "-timeout=3s",
            "load",
        ];
        let bin = if hashicorps_cli {
            HASHICORP_SERF
        } else {
            serf_tests::agents::serf_bin()
        };
        let o = Command::new(bin).args(args).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut from: Vec<String> = v["Responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        from.sort();
        from
    };
    // Ours answer (n1, n3); HashiCorp's n2 and n4 forward their relays.
    assert_eq!(relayed(1, "ours", true), ["n1", "n3"]);
    assert!(
        wait_until(Duration::from_secs(5), || [1, 3]
            .iter()
            .any(|&i| log_of(&c, i).contains("Relaying response to addr"))),
        "{}",
        log_of(&c, 1)
    );
    // HashiCorp's answer (n2, n4); ours forward theirs.
    assert_eq!(relayed(0, "hc", false), ["n2", "n4"]);
    assert!(
        wait_until(Duration::from_secs(5), || [0, 2]
            .iter()
            .any(|&i| log_of(&c, i).contains("Relayed"))),
        "{}",
        log_of(&c, 0)
    );
    for i in 0..4 {
        let log = log_of(&c, i);
        assert!(
            !log.contains("not carried") && !log.contains("Error decoding relay header"),
            "n{}: {log}",
            i + 1
        );
    }

    // A HashiCorp agent claiming our n1's name joins n1 itself. Both sides
    // ask the cluster; the others answer with their record of n1 (Serf's
    // member record from HashiCorp's agents and ours alike).
    let impostor = Cluster::start_kinds(&[Kind::HashiCorp], |_| vec!["-log-level=debug".into()]);
    let to = format!("{}:7946", c.agents[0].ip);
    let _ = impostor.cli(0, &["join", &to]);
    assert!(
        wait_until(Duration::from_secs(20), || log_of(&impostor, 0)
            .contains("minority in name conflict resolution, quitting [0 / 3]")),
        "{}",
        log_of(&impostor, 0)
    );
    assert!(
        wait_until(Duration::from_secs(20), || log_of(&c, 0)
            .contains("won a name conflict")),
        "{}",
        log_of(&c, 0)
    );

    // One of ours claiming HashiCorp's n2 joins our n1: the others answer
    // with HashiCorp's n2, so ours yields and quits (exit 0), as Serf's
    // agent does.
    let mut claim = Cluster::start_kinds(&[Kind::HashiCorp, Kind::Ours], |_| Vec::new());
    claim.kill(0);
    let _ = claim.cli(1, &["join", &to]);
    let mut exited = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            exited = claim.agents[1]
                .child
                .as_mut()
                .and_then(|ch| ch.try_wait().ok().flatten());
            exited.is_some()
        }),
        "{}",
        log_of(&claim, 1)
    );
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(0),
        "{}",
        log_of(&claim, 1)
    );
    let log = log_of(&claim, 1);
    assert!(
        log.contains("minority in name conflict resolution")
            && log.contains("Serf shutdown detected, quitting"),
        "{log}"
    );
    assert!(agreed(&c, 4), "{:?}", view(&c, 0, false));
}
