//! End-to-end: real `serf` agents on 127.0.0.x addresses, driven through the
//! command line (ours and, when installed, HashiCorp's).
//!
//! The agent binary belongs to `serf-runtime-std`; it is built (or found
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
            "serf-runtime-std",
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
fn agent_with_the_wrong_key_cannot_join() {
    let _serial = serial();
    let good = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let bad = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    let c = Cluster::start(3, |i| {
        vec![format!("-encrypt={}", if i == 2 { bad } else { good })]
    });
    c.join(1, 0);
    let o = c.cli(2, &["join", &c.agents[0].ip]);
    assert!(
        !o.status.success(),
        "joining with the wrong key must fail: {}",
        text(&o)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(!c.members(0, &[]).contains("n3"));
    assert_eq!(c.members(2, &[]).lines().count(), 1);
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
            "-retry-max=2",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("Max join retry exhausted"),
        "{}",
        text(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}
