//! End to end, behaviours found side by side with HashiCorp's agent
//! (Debian's serf 0.9.4); each test says what HashiCorp does.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serf_tests::agents::{
    block, fresh_dir, key, serf, serf_bin, serial, text, wait_until, Cluster,
};

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
    let dir = fresh_dir("rotate");
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
        // Responses travel in chunks on our native wire only (HashiCorp's
        // refuses one over a packet: hashicorp_wire.rs pins that).
        let mut v = vec![
            format!("-encrypt={k}"),
            "-label=prod".into(),
            "-wire=native".into(),
        ];
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
    let dir = fresh_dir("life");
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
        "n2 sees:\n{}n1 sees:\n{}",
        c.members(1, &[]),
        c.members(0, &[])
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
    let out = fresh_dir("cli");
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
    // `cat >` creates the file before it writes: wait for the bytes, not the file.
    assert!(wait_until(Duration::from_secs(10), || payload("dash")
        .is_ok_and(|p| p == b"-x\n")
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
    let dir = fresh_dir("flags");
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
    let out = fresh_dir("out");
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
