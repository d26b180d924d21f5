//! End to end, the RPC port under its clients: HashiCorp's own CLI, the
//! Python `serfclient`, `monitor`, and garbage that must not kill the agent.

use std::process::{Command, Stdio};
use std::time::Duration;

use serf_tests::agents::{serf, serf_bin, serial, text, wait_until, Cluster};

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
