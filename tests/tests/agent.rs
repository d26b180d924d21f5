//! End-to-end: real `serf` agents on 127.0.0.x addresses, driven through the
//! command line (ours and, when installed, HashiCorp's).
//!
//! The agent binary belongs to `serf-agent`; it is built (or found
//! fresh) once per run with the same cargo that runs these tests, or taken
//! from `SERF_BIN`.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The `serf` binary under test.
fn serf_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("SERF_BIN") {
            return p;
        }
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "-p",
            "serf-agent",
            "--bin",
            "serf",
            "--message-format=json-render-diagnostics",
        ]);
        // The profile these tests are built with (optimised: agents run
        // real-time protocol timers on a shared 2-core machine).
        cmd.arg("--profile").arg(if cfg!(debug_assertions) {
            "test"
        } else {
            "release"
        });
        let o = cmd.stderr(Stdio::inherit()).output().expect("run cargo");
        assert!(o.status.success(), "building the serf binary failed");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"]["name"] == "serf")
            .find_map(|v| v["executable"].as_str().map(str::to_string))
            .expect("cargo reported no serf executable")
    })
}

/// Distinct address blocks per test so tests can run in parallel.
static NEXT_BLOCK: AtomicU16 = AtomicU16::new(0);

/// Agent tests run one at a time: each starts real processes whose timing
/// (failure detection, handler scripts) suffers on a 2-core machine when a
/// dozen clusters run at once.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Agent {
    name: String,
    ip: String,
    rpc: String,
    args: Vec<String>,
    child: Option<Child>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Cluster {
    agents: Vec<Agent>,
    dir: PathBuf,
}

/// (third address octet, RPC port base, block number) for one cluster.
/// (second address octet, block number) for one cluster: gossip addresses
/// 127.<pid-derived>.<block>.x never collide within a run.
fn block() -> (u16, u16) {
    let b = NEXT_BLOCK.fetch_add(1, Ordering::SeqCst);
    ((std::process::id() % 200) as u16 + 20, b)
}

impl Cluster {
    fn start(n: usize, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        // Every value below derives from this cluster's own block number, so
        // clusters of tests running in parallel never share addresses.
        let (second, b) = block();
        let dir = std::env::temp_dir().join(format!("serf-agents-{}-{b}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut agents = Vec::new();
        for i in 0..n {
            let ip = format!("127.{second}.{b}.{}", i + 1);
            // A port the OS just handed out is free (barring a rare race).
            let rpc = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .to_string();
            let name = format!("n{}", i + 1);
            let mut args = vec![
                "agent".to_string(),
                format!("-node={name}"),
                format!("-bind={ip}:7946"),
                format!("-rpc-addr={rpc}"),
                "-profile=local".to_string(),
            ];
            args.extend(extra(i));
            let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
            let child = Command::new(serf_bin())
                .args(&args)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            agents.push(Agent {
                name,
                ip,
                rpc,
                args,
                child: Some(child),
            });
        }
        let c = Cluster { agents, dir };
        for a in &c.agents {
            wait_until(Duration::from_secs(10), || {
                serf(&["members", &format!("-rpc-addr={}", a.rpc)])
                    .status
                    .success()
            });
        }
        c
    }
    fn kill(&mut self, i: usize) {
        if let Some(ch) = self.agents[i].child.as_mut() {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }
    fn restart(&mut self, i: usize) {
        self.kill(i);
        let log = std::fs::File::create(
            self.dir
                .join(format!("{}-restart.log", self.agents[i].name)),
        )
        .unwrap();
        let child = Command::new(serf_bin())
            .args(&self.agents[i].args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.agents[i].child = Some(child);
        let rpc = self.agents[i].rpc.clone();
        wait_until(Duration::from_secs(10), || {
            serf(&["members", &format!("-rpc-addr={rpc}")])
                .status
                .success()
        });
    }
    /// `serf join` from agent `i` to agent `j`, asserting success.
    fn join(&self, i: usize, j: usize) {
        let o = self.cli(i, &["join", &self.agents[j].ip]);
        assert!(
            o.status.success(),
            "join {} -> {}: {}",
            self.agents[i].name,
            self.agents[j].name,
            text(&o)
        );
    }
    /// Runs `serf ARGS` against agent `i`. The RPC flag goes right after
    /// the command name: flags end at the first argument, as in Go.
    fn cli(&self, i: usize, args: &[&str]) -> Output {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.insert(1.min(v.len()), format!("-rpc-addr={}", self.agents[i].rpc));
        serf(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }
    fn members(&self, i: usize, extra: &[&str]) -> String {
        let mut args = vec!["members"];
        args.extend_from_slice(extra);
        String::from_utf8_lossy(&self.cli(i, &args).stdout).to_string()
    }
    /// How many members `observer` lists as alive.
    fn alive_count(&self, observer: usize) -> usize {
        self.members(observer, &["-status=alive"]).lines().count()
    }
    fn status_of(&self, observer: usize, name: &str) -> Option<String> {
        self.members(observer, &[])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
    }
}

fn serf(args: &[&str]) -> Output {
    Command::new(serf_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

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
fn bad_flags_and_garbage_rpc_input_never_kill_the_agent() {
    let _serial = serial();
    let o = serf(&["agent", "-bind=not-an-address"]);
    assert!(
        !o.status.success() && text(&o).contains("invalid bind"),
        "{}",
        text(&o)
    );
    let o = serf(&["members", "-bogus"]);
    assert!(!o.status.success() && text(&o).contains("not defined"));
    let c = Cluster::start(1, |_| vec![]);
    use std::io::Write;
    for garbage in [
        &b"\xc1\xc1\xc1"[..],
        b"\x81\xa7Command\xa4nope\xa3Seq\x01",
        &[0xdd, 0xff, 0xff, 0xff, 0xff],
        b"",
    ] {
        if let Ok(mut s) = std::net::TcpStream::connect(&c.agents[0].rpc) {
            let _ = s.write_all(garbage);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        c.members(0, &[]).contains("n1"),
        "the agent still serves other clients"
    );
}

#[test]
fn hashicorps_cli_reads_members_sends_events_and_runs_queries_through_our_rpc() {
    let _serial = serial();
    let hashicorp = std::path::Path::new("/usr/bin/serf");
    if !hashicorp.exists() {
        eprintln!("HashiCorp serf is not installed (.ci/run installs it); skipping");
        return;
    }
    let c = Cluster::start(2, |_| {
        vec![
            "-event-handler".into(),
            "query:load=echo up".into(),
            "-tag".into(),
            "role=web".into(),
        ]
    });
    c.join(1, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(0) == 2));
    let rpc = format!("-rpc-addr={}", c.agents[0].rpc);
    // Go's flag parsing stops at the first argument: flags go right after the command.
    let run = |args: &[&str]| {
        text(
            &Command::new(hashicorp)
                .arg(args[0])
                .arg(&rpc)
                .args(&args[1..])
                .output()
                .unwrap(),
        )
    };
    let m = run(&["members", "-status=alive", "-tag", "role=web"]);
    assert!(
        m.contains("n1") && m.contains("n2") && m.contains("role=web"),
        "{m}"
    );
    let e = run(&["event", "deploy", "x"]);
    assert!(e.contains("Event 'deploy' dispatched"), "{e}");
    let q = run(&["query", "load"]);
    assert!(
        q.contains("Total Acks: 2")
            && q.contains("Total Responses: 2")
            && q.contains("Response from 'n2': up"),
        "{q}"
    );
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

#[test]
fn python_serfclient_reads_members_sends_events_and_reads_stats() {
    let _serial = serial();
    let Ok(python) = std::env::var("SERF_PYTHON") else {
        eprintln!("SERF_PYTHON (a python with serfclient) is not set (.ci/run sets it); skipping");
        return;
    };
    let c = Cluster::start(2, |_| vec!["-tag".into(), "role=py".into()]);
    c.join(1, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(0) == 2));
    let port = c.agents[0].rpc.rsplit_once(':').unwrap().1.to_string();
    let script = format!(
        r#"
from serfclient import client
c = client.SerfClient(host='127.0.0.1', port={port})
m = c.members()
assert m.head['Error'] == '', m.head
names = sorted(x['Name'] for x in m.body['Members'])
assert names == ['n1', 'n2'], names
assert all(x['Tags']['role'] == 'py' and x['Status'] == 'alive' for x in m.body['Members'])
assert c.event('deploy', 'v1').head['Error'] == ''
assert c.stats().body['agent']['name'] == 'n1'
print('serfclient ok')
"#
    );
    let out = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("serfclient ok"));
}

#[test]
fn monitor_streams_the_agents_log() {
    let _serial = serial();
    let c = Cluster::start(2, |_| vec![]);
    let mut mon = Command::new(serf_bin())
        .args(["monitor", &format!("-rpc-addr={}", c.agents[0].rpc)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.join(1, 0);
    std::thread::sleep(Duration::from_secs(2));
    let _ = mon.kill();
    let out = mon.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("[INFO] serf: EventMemberJoin: n2"), "{log}");
}

#[test]
fn tags_file_and_keyring_file_are_loaded_and_rewritten_on_change() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("serf-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    let (_, b) = block();
    let dir = std::env::temp_dir().join(format!("serf-reload-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
    let out = std::env::temp_dir().join(format!("serf-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
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

// ---------------------------------------------------------------- parity
// Behaviours found side by side with HashiCorp's agent (Debian's serf
// 0.9.4); each test says what HashiCorp does.

/// A base64 key for tests.
fn key(byte: u8) -> String {
    use std::fmt::Write;
    // 16 bytes of `byte`, base64 by hand (no dependency).
    let raw = [byte; 16];
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in raw.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                let _ = write!(out, "{}", A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn keys_on_an_unencrypted_cluster_are_refused_by_every_agent_and_the_cluster_stays_whole() {
    let _serial = serial();
    let c = Cluster::start(3, |_| vec![]);
    c.join(1, 0);
    c.join(2, 0);
    assert!(wait_until(Duration::from_secs(10), || (0..3)
        .all(|i| c.alive_count(i) == 3)));
    // HashiCorp: every node answers "No keyring to modify (encryption not
    // enabled)", nothing changes, exit 1.
    let o = c.cli(0, &["keys", "-install", &key(9)]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    for n in ["n1", "n2", "n3"] {
        assert!(
            t.contains(&format!(
                "failed:  {n}  No keyring to modify (encryption not enabled)"
            )),
            "{t}"
        );
    }
    assert!(
        t.contains("Error installing key: 3/3 nodes reported failure"),
        "{t}"
    );
    assert!(!t.contains('|'), "columns, not pipes: {t}");
    let o = c.cli(0, &["keys", "-list"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("Keyring is empty (encryption not enabled)"),
        "{t}"
    );
    assert!(
        t.contains("Failed to gather member keys: 3/3 nodes reported failure"),
        "{t}"
    );
    // The split came within ~15 s: well past it, everyone is still alive
    // and nobody encrypts.
    std::thread::sleep(Duration::from_secs(8));
    for i in 0..3 {
        assert_eq!(c.alive_count(i), 3, "{}", c.members(i, &[]));
        assert!(text(&c.cli(i, &["info"])).contains("encrypted = false"));
    }
}

#[test]
fn key_rotation_rewrites_every_agents_keyring_file_and_a_restarted_peer_rejoins() {
    let _serial = serial();
    let (_, b) = block();
    let dir = std::env::temp_dir().join(format!("serf-rotate-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (k1, k2) = (key(1), key(2));
    for i in 0..3 {
        std::fs::write(dir.join(format!("k{i}.json")), format!("[\"{k1}\"]")).unwrap();
    }
    let d = dir.display().to_string();
    let mut c = Cluster::start(3, move |i| vec![format!("-keyring-file={d}/k{i}.json")]);
    c.join(1, 0);
    c.join(2, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(0) == 3));
    // Through one agent; HashiCorp rewrites every node's keyring file.
    for (op, k, said) in [
        ("-install", &k2, "Successfully installed key!"),
        ("-use", &k2, "Successfully changed primary key!"),
        ("-remove", &k1, "Successfully removed key!"),
    ] {
        let o = c.cli(0, &["keys", op, k]);
        assert!(
            o.status.success() && text(&o).contains(said),
            "{op}: {}",
            text(&o)
        );
    }
    for i in 0..3 {
        let file = std::fs::read_to_string(dir.join(format!("k{i}.json"))).unwrap();
        let keys: Vec<String> = serde_json::from_str(&file).unwrap();
        assert_eq!(keys, std::slice::from_ref(&k2), "agent {i}'s keyring file");
    }
    // Serf's -list layout: key, then [holders/members], aligned.
    let o = c.cli(0, &["keys", "-list"]);
    assert!(o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!("\n{k2}  [3/3]\n")),
        "{}",
        text(&o)
    );
    let o = c.cli(0, &["keys", "-remove", &k2]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("failed:  n1  Removing the primary key is not allowed"),
        "{}",
        text(&o)
    );
    // A peer restarted from its keyring file speaks the new key.
    c.restart(2);
    c.join(2, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(2) == 3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn encrypted_cluster_carries_a_20000_byte_response_and_logs_one_over_the_limit() {
    let _serial = serial();
    let (_, b) = block();
    let conf = std::env::temp_dir().join(format!("serf-big-{}-{b}.json", std::process::id()));
    std::fs::write(&conf, r#"{"query_response_size_limit": 65536}"#).unwrap();
    let cf = conf.display().to_string();
    let k = key(5);
    let c = Cluster::start(3, move |i| {
        let mut v = vec![format!("-encrypt={k}"), "-label=prod".into()];
        if i < 2 {
            v.push(format!("-config-file={cf}"));
        }
        v.push("-event-handler".into());
        v.push("query:big=head -c 20000 /dev/zero | tr '\\0' a".into());
        v
    });
    c.join(1, 0);
    c.join(2, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(0) == 3));
    let o = c.cli(0, &["query", "-format=json", "-node=n2", "-node=n3", "big"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let n2 = v["Responses"]["n2"].as_str().unwrap_or("");
    assert_eq!(
        n2.len(),
        20_000,
        "the chunked, encrypted answer arrived whole"
    );
    assert!(n2.bytes().all(|c| c == b'a'));
    // n3 keeps Serf's 1024-byte limit: it says why it did not answer.
    assert!(v["Responses"].get("n3").is_none(), "{v}");
    let log = std::fs::read_to_string(c.dir.join("n3.log")).unwrap();
    assert!(
        log.contains(
            "Failed to respond to query 'query: big': response exceeds limit of 1024 bytes"
        ),
        "{log}"
    );
    let _ = std::fs::remove_file(&conf);
}

#[test]
fn leaving_agents_exit_promptly_run_their_own_member_leave_and_rejoin_from_the_snapshot() {
    let _serial = serial();
    let (_, b) = block();
    let dir = std::env::temp_dir().join(format!("serf-life-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let mut c = Cluster::start(2, move |i| {
        let mut v = vec!["-broadcast-timeout=30s".to_string()];
        if i == 1 {
            v.push(format!("-snapshot={d}/n2.snap"));
            v.push("-event-handler".into());
            v.push(format!("echo \"$SERF_EVENT $(cut -f1)\" >> {d}/events"));
        }
        v
    });
    c.join(1, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(1) == 2));
    std::thread::sleep(Duration::from_millis(1500)); // the snapshot records n1
                                                     // SIGINT: a graceful leave, exit 0 (HashiCorp: 0 after about 1 s).
    let child = c.agents[1].child.as_mut().unwrap();
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not exit within the broadcast timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    c.agents[1].child = None;
    // Its catch-all handler ran for its own leave (as HashiCorp's does).
    let events = std::fs::read_to_string(dir.join("events")).unwrap_or_default();
    assert!(events.contains("member-leave n2"), "{events}");
    assert!(wait_until(Duration::from_secs(10), || c
        .status_of(0, "n2")
        .as_deref()
        == Some("left")));
    // Restart with the snapshot and -rejoin (no -join): it rejoins n1.
    let mut args = c.agents[1].args.clone();
    args.push("-rejoin".into());
    c.agents[1].args = args;
    c.restart(1);
    assert!(
        wait_until(Duration::from_secs(10), || c.alive_count(1) == 2
            && c.alive_count(0) == 2),
        "{}",
        c.members(1, &[])
    );
    // A lone agent leaves at once rather than waiting the broadcast timeout,
    // through `serf leave` too.
    c.kill(1);
    let t = Instant::now();
    let o = c.cli(0, &["leave"]);
    assert!(text(&o).contains("Graceful leave complete"), "{}", text(&o));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "leave waited {:?}",
        t.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_logging_shows_debug_lines_on_stdout_and_in_monitor() {
    let _serial = serial();
    let c = Cluster::start(1, |_| vec!["-log-level=debug".into()]);
    assert!(c.cli(0, &["members"]).status.success());
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(c.dir.join("n1.log"))
            .is_ok_and(|l| l.contains("[DEBUG] agent.ipc: Request: members-filtered"))
    }));
    // monitor -log-level=debug replays recent debug lines and streams new ones.
    let mut mon = Command::new(serf_bin())
        .args([
            "monitor",
            &format!("-rpc-addr={}", c.agents[0].rpc),
            "-log-level=debug",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let _ = mon.kill();
    let out = mon.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[DEBUG]"),
        "{}",
        text(&out)
    );
}

#[test]
fn command_line_follows_serfs_conventions_for_help_usage_and_arguments() {
    let _serial = serial();
    let (_, b) = block();
    let out = std::env::temp_dir().join(format!("serf-cli-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display().to_string();
    let c = Cluster::start(1, move |_| {
        vec![
            "-event-handler".into(),
            format!("user=cat > {o}/$SERF_USER_EVENT.payload"),
        ]
    });
    // -h, -help, --help: the command's usage on stderr, exit 0 (keygen too).
    for cmd in [
        "members", "keys", "event", "query", "agent", "keygen", "tags", "rtt",
    ] {
        for h in ["-h", "--help"] {
            let r = serf(&[cmd, h]);
            assert_eq!(r.status.code(), Some(0), "{cmd} {h}: {}", text(&r));
            assert!(
                String::from_utf8_lossy(&r.stderr).starts_with(&format!("Usage: serf {cmd}")),
                "{cmd} {h}: {}",
                text(&r)
            );
        }
    }
    // An unknown flag: named on stderr, usage on stdout, exit 1.
    let r = serf(&["members", "-bogus"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("flag provided but not defined: -bogus"));
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("Usage: serf members"));
    // A payload may start with '-': flags end at the first argument.
    assert!(c.cli(0, &["event", "dash", "-x"]).status.success());
    assert!(c
        .cli(0, &["event", "-coalesce=false", "empty"])
        .status
        .success());
    let payload = |name: &str| std::fs::read(out.join(format!("{name}.payload")));
    assert!(wait_until(Duration::from_secs(10), || payload("dash")
        .is_ok()
        && payload("empty").is_ok()));
    assert_eq!(payload("dash").unwrap(), b"-x\n");
    assert_eq!(
        payload("empty").unwrap(),
        b"",
        "no payload: empty stdin, as HashiCorp"
    );
    // Argument errors name the problem and show the usage.
    let r = c.cli(0, &["event", "a", "b", "c"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r)
        .contains("Too many command line arguments. Only a name and payload must be specified."));
    assert!(text(&r).contains("Usage: serf event"));
    // Tags need a key.
    let r = c.cli(0, &["tags", "-set", "=v"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(text(&r).contains("Invalid tag: '=v'"), "{}", text(&r));
    // A query over the size limit is refused before anything is dispatched.
    let big = "q".repeat(2000);
    let r = c.cli(0, &["query", "big", &big]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r).contains("query exceeds limit of 1024 bytes"),
        "{}",
        text(&r)
    );
    assert!(!text(&r).contains("dispatched"), "{}", text(&r));
    // Error prefixes, as Serf's.
    let r = serf(&["members", "-rpc-addr=127.0.0.1:1"]);
    assert!(
        text(&r).starts_with("Error connecting to Serf agent: "),
        "{}",
        text(&r)
    );
    // reachability -verbose lists every ack and the timing.
    let r = text(&c.cli(0, &["reachability", "-verbose"]));
    assert!(
        r.contains("\tAck from 'n1'") && r.contains("Query time: "),
        "{r}"
    );
    assert!(r.contains("Successfully contacted all live nodes"), "{r}");
    // monitor tells when the agent goes away.
    let mon = Command::new(serf_bin())
        .args(["monitor", &format!("-rpc-addr={}", c.agents[0].rpc)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut c = c;
    c.kill(0);
    let done = mon.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("has exited or crashed."),
        "{}",
        text(&done)
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn agent_flags_and_config_files_accept_what_hashicorps_agent_accepts() {
    let _serial = serial();
    let (second, b) = block();
    let dir = std::env::temp_dir().join(format!("serf-flags-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("neutral.json");
    // Serf keys at their neutral values (a HashiCorp configuration file).
    std::fs::write(
        &conf,
        r#"{"enable_syslog": false, "statsd_addr": "", "statsite_addr": "", "interface": "",
            "discover": "", "syslog_facility": "LOCAL0", "disable_name_resolution": false}"#,
    )
    .unwrap();
    let rpc = |i: u16| format!("127.0.0.1:{}", 20000 + (b % 100) * 50 + i);
    // Starts an agent, waits for its RPC port, returns (child, log path).
    let start = |args: &[String], log: &str| {
        let path = dir.join(log);
        let f = std::fs::File::create(&path).unwrap();
        let child = Command::new(serf_bin())
            .args(args)
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        (child, path)
    };
    let (mut a, log) = start(
        &[
            "agent".into(),
            "-node=".into(), // empty: the host name, as Serf
            format!("-bind=localhost:{}", 7000 + b % 1000),
            format!("-rpc-addr={}", rpc(1)),
            format!("-config-file={}", conf.display()),
            "-protocol=3".into(),
            "-role=old".into(),
        ],
        "a.log",
    );
    let ok = wait_until(Duration::from_secs(10), || {
        serf(&["members", &format!("-rpc-addr={}", rpc(1))])
            .status
            .success()
    });
    let _ = a.kill();
    let _ = a.wait();
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(ok, "the agent started: {l}");
    assert!(
        l.contains("Bind addr: '127.0.0.1:"),
        "localhost resolved: {l}"
    );
    assert!(
        l.contains("\"statsd_addr\" ignored"),
        "neutral keys are named: {l}"
    );
    assert!(
        l.contains("Deprecation warning: 'Role' has been replaced with 'Tags'"),
        "{l}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(l.contains(&format!("Node name: '{}'", host.trim())), "{l}");
    // -iface binds to the interface's address.
    let (mut a, log) = start(
        &[
            "agent".into(),
            "-node=i".into(),
            "-iface=lo".into(),
            format!("-bind=0.0.0.0:{}", 7000 + b % 1000),
            format!("-rpc-addr={}", rpc(2)),
        ],
        "b.log",
    );
    let ok = wait_until(Duration::from_secs(10), || {
        serf(&["members", &format!("-rpc-addr={}", rpc(2))])
            .status
            .success()
    });
    let _ = a.kill();
    let _ = a.wait();
    let l = std::fs::read_to_string(&log).unwrap();
    assert!(ok && l.contains("Bind addr: '127.0.0.1:"), "{l}");
    // Bare -syslog is a switch; the lines reach the syslog socket.
    let sock = dir.join("log.sock");
    let daemon = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let f = std::fs::File::create(dir.join("c.log")).unwrap();
    let mut a = Command::new(serf_bin())
        .args([
            "agent",
            "-syslog",
            "-node=s",
            &format!("-bind=127.{second}.{b}.3:7946"),
            &format!("-rpc-addr={}", rpc(3)),
        ])
        .env("SERF_SYSLOG_SOCKET", &sock)
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap();
    let mut buf = [0u8; 1024];
    let got = daemon
        .recv(&mut buf)
        .map(|n| String::from_utf8_lossy(&buf[..n]).to_string());
    let _ = a.kill();
    let _ = a.wait();
    let got = got.unwrap_or_else(|e| {
        panic!(
            "no syslog line: {e}: {}",
            std::fs::read_to_string(dir.join("c.log")).unwrap()
        )
    });
    assert!(got.starts_with("<134>serf["), "LOCAL0 info: {got}");
    // Things this agent lacks are refused by name, never half-accepted.
    let r = serf(&["agent", "-discover=cluster"]);
    assert!(
        text(&r).contains("mDNS discovery is not supported"),
        "{}",
        text(&r)
    );
    let r = serf(&["agent", "-advertise=bogus.invalid"]);
    assert!(
        text(&r).contains("invalid advertise address"),
        "{}",
        text(&r)
    );
    std::fs::write(&conf, r#"{"statsd_addr": "127.0.0.1:8125"}"#).unwrap();
    let r = serf(&["agent", &format!("-config-file={}", conf.display())]);
    assert!(
        !r.status.success() && text(&r).contains("statsd is not supported"),
        "{}",
        text(&r)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn members_output_matches_hashicorps_json_protocol_and_handler_formats() {
    let _serial = serial();
    let (_, b) = block();
    let out = std::env::temp_dir().join(format!("serf-out-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display().to_string();
    let mut c = Cluster::start(2, move |i| {
        if i == 0 {
            vec![
                "-event-handler".into(),
                format!("member-reap=cat >> {o}/reap"),
            ]
        } else {
            vec![
                "-protocol=3".into(),
                "-tag".into(),
                "role=db".into(),
                "-tag".into(),
                "dc=x".into(),
            ]
        }
    });
    c.join(1, 0);
    assert!(wait_until(Duration::from_secs(10), || c.alive_count(0) == 2));
    // JSON: "addr" carries the port, as HashiCorp prints it.
    let j: serde_json::Value =
        serde_json::from_slice(&c.cli(0, &["members", "-format=json"]).stdout).unwrap();
    let n2 = j["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "n2")
        .unwrap()
        .clone();
    assert_eq!(n2["addr"], format!("{}:7946", c.agents[1].ip));
    assert_eq!(n2["port"], 7946);
    assert_eq!(n2["protocol"]["version"], 3, "the version n2 announced");
    let d = c.members(0, &["-detailed"]);
    assert!(
        d.lines()
            .any(|l| l.starts_with("n2 ") && l.contains("Protocol Version: 3")),
        "{d}"
    );
    assert!(
        d.lines()
            .any(|l| l.starts_with("n1 ") && l.contains("Protocol Version: 5")),
        "{d}"
    );
    // member-reap: the handler's line keeps the role and tags.
    c.kill(1);
    assert!(wait_until(Duration::from_secs(30), || c
        .status_of(0, "n2")
        .as_deref()
        == Some("failed")));
    assert!(c.cli(0, &["force-leave", "-prune", "n2"]).status.success());
    let reap = out.join("reap");
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&reap).is_ok_and(|s| !s.is_empty())
    }));
    let line = std::fs::read_to_string(&reap).unwrap();
    assert!(
        line.starts_with(&format!("n2\t{}\tdb\t", c.agents[1].ip)),
        "{line:?}"
    );
    assert!(
        line.contains("role=db") && line.contains("dc=x"),
        "{line:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
