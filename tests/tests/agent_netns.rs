//! Agents on separate hosts: each in its own network namespace, joined by
//! veth pairs to a bridge, with nftables dropping what the scenario says
//! (a partition, random loss). Needs root, `ip` and `nft`; without them
//! every test says why and passes without running.
//!
//! `SERF_NETNS_LOSS_SECONDS` sets how long the loss scenario runs (CI: 30;
//! the figure: 300).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serf_tests::agents::{serf_bin, serial, wait_until};
use serf_tests::relay::Relay;

/// Namespaces `serf-<tag>-0` (the bridge) and `serf-<tag>-1..=n` (the
/// hosts, 10.77.<net>.i), removed on drop with the agents in them.
struct Hosts {
    tag: String,
    net: u8,
    n: usize,
    agents: Vec<Option<Child>>,
    dir: std::path::PathBuf,
}

fn run(args: &[&str]) -> Result<(), String> {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

/// Why these tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces need it)".into());
    }
    for tool in ["ip", "nft"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!(
                "`{tool}` is not installed (.ci/run installs nftables)"
            ));
        }
    }
    None
}

macro_rules! require_hosts {
    () => {
        if let Some(why) = unavailable() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

impl Hosts {
    fn ns(&self, i: usize) -> String {
        format!("serf-{}-{i}", self.tag)
    }
    fn ip(&self, i: usize) -> String {
        format!("10.77.{}.{i}", self.net)
    }

    /// Hosts running agents with the default flags.
    fn new(n: usize, net: u8) -> Hosts {
        let mut h = Hosts::network(n, net);
        h.start(|_| Vec::new());
        h
    }

    /// The namespaces and their links, no agents yet. The bridge's own
    /// namespace has address `10.77.<net>.100` (for a relay).
    fn network(n: usize, net: u8) -> Hosts {
        let h = Hosts {
            tag: format!("{}{net}", std::process::id()),
            net,
            n,
            agents: Vec::new(),
            dir: serf_tests::agents::fresh_dir(&format!("netns{net}")),
        };
        let hub = h.ns(0);
        let setup = || -> Result<(), String> {
            run(&["ip", "netns", "add", &hub])?;
            run(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"])?;
            run(&["ip", "-n", &hub, "link", "set", "br0", "up"])?;
            let relay_cidr = format!("{}/24", h.ip(100));
            run(&["ip", "-n", &hub, "addr", "add", &relay_cidr, "dev", "br0"])?;
            for i in 1..=n {
                let ns = h.ns(i);
                let port = format!("v{i}");
                run(&["ip", "netns", "add", &ns])?;
                run(&[
                    "ip", "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                    "netns", &ns,
                ])?;
                run(&[
                    "ip", "-n", &hub, "link", "set", &port, "master", "br0", "up",
                ])?;
                let cidr = format!("{}/24", h.ip(i));
                run(&["ip", "-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
                run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
                run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
                run(&[
                    "ip", "netns", "exec", &ns, "nft", "add", "table", "inet", "serf",
                ])?;
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "nft",
                    "add chain inet serf input { type filter hook input priority 0 ; }",
                ])?;
            }
            Ok(())
        };
        if let Err(e) = setup() {
            drop(h);
            panic!("setting up namespaces: {e}");
        }
        h
    }

    /// Starts an agent on every host, host `i` with `extra(i)` flags too.
    fn start(&mut self, extra: impl Fn(usize) -> Vec<String>) {
        let n = self.n;
        let h = self;
        for i in 1..=n {
            let log = std::fs::File::create(h.dir.join(format!("n{i}.log"))).unwrap();
            let bind = format!("-bind={}:7946", h.ip(i));
            let child = Command::new("ip")
                .args(["netns", "exec", &h.ns(i), serf_bin(), "agent"])
                .args([&format!("-node=n{i}"), &bind, "-rpc-addr=127.0.0.1:7373"])
                .args(["-reconnect-interval=5s"])
                .args(extra(i))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            h.agents.push(Some(child));
        }
        for i in 1..=n {
            assert!(
                wait_until(Duration::from_secs(10), || h.cli(i, &["members"]).is_some()),
                "agent {i} did not start: {}",
                h.log(i)
            );
        }
    }

    /// A CLI command on host `i`; its stdout if it succeeded.
    fn cli(&self, i: usize, args: &[&str]) -> Option<String> {
        let o = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), serf_bin(), args[0]])
            .arg("-rpc-addr=127.0.0.1:7373") // flags before arguments, as Go parses them
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("n{i}.log"))).unwrap_or_default()
    }

    /// How many members host `i` lists with `status`.
    fn count(&self, i: usize, status: &str) -> usize {
        self.cli(i, &["members", &format!("-status={status}")])
            .map_or(0, |o| o.lines().filter(|l| !l.trim().is_empty()).count())
    }

    /// Runs an nftables command in host `i`'s namespace.
    fn nft(&self, i: usize, command: &str) {
        run(&["ip", "netns", "exec", &self.ns(i), "nft", command]).unwrap();
    }

    /// Adds an nftables rule to host `i`'s input chain.
    fn rule(&self, i: usize, rule: &str) {
        self.nft(i, &format!("add rule inet serf input {rule}"));
    }

    fn flush_rules(&self, i: usize) {
        self.nft(i, "flush chain inet serf input");
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for c in self.agents.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for i in 0..=self.n {
            let _ = run(&["ip", "netns", "del", &self.ns(i)]);
        }
    }
}

/// Joins every host to host 1 and waits for the full view everywhere.
fn converge(h: &Hosts) {
    for i in 2..=h.n {
        let seed = format!("{}:7946", h.ip(1));
        assert!(h.cli(i, &["join", &seed]).is_some(), "join from {i}");
    }
    let all = wait_until(Duration::from_secs(20), || {
        (1..=h.n).all(|i| h.count(i, "alive") == h.n)
    });
    assert!(all, "no full view: {:?}", h.cli(1, &["members"]));
}

#[test]
fn a_partition_between_hosts_splits_the_cluster_and_heals_into_one_view() {
    require_hosts!();
    let _serial = serial();
    let h = Hosts::new(3, 1);
    converge(&h);
    // Host 3 and hosts 1, 2 stop hearing each other, both ways.
    let (a, b) = (h.ip(1), h.ip(2));
    h.rule(3, &format!("ip saddr {{ {a}, {b} }} drop"));
    let c = h.ip(3);
    h.rule(1, &format!("ip saddr {c} drop"));
    h.rule(2, &format!("ip saddr {c} drop"));
    let started = Instant::now();
    let split = wait_until(Duration::from_secs(60), || {
        h.count(1, "failed") == 1 && h.count(2, "failed") == 1 && h.count(3, "failed") == 2
    });
    assert!(
        split,
        "both sides see the other failed: {:?}",
        h.cli(3, &["members"])
    );
    let detect = started.elapsed();
    for i in 1..=3 {
        h.flush_rules(i);
    }
    let healed_at = Instant::now();
    let healed = wait_until(Duration::from_secs(90), || {
        (1..=3).all(|i| h.count(i, "alive") == 3)
    });
    assert!(healed, "one view again: {:?}", h.cli(3, &["members"]));
    println!(
        "partition seen on both sides after {:.1} s; healed into one view {:.1} s after it ended",
        detect.as_secs_f64(),
        healed_at.elapsed().as_secs_f64()
    );
}

#[test]
fn five_percent_loss_between_hosts_causes_no_false_failures() {
    require_hosts!();
    let _serial = serial();
    let seconds: u64 = std::env::var("SERF_NETNS_LOSS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let h = Hosts::new(4, 2);
    converge(&h);
    for i in 1..=4 {
        h.rule(i, "meta l4proto udp numgen random mod 100 < 5 drop");
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut samples = 0;
    while Instant::now() < end {
        for i in 1..=4 {
            assert_eq!(
                h.count(i, "alive"),
                4,
                "host {i} lost a member under 5% loss: {:?}",
                h.cli(i, &["members"])
            );
        }
        samples += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    for i in 1..=4 {
        let log = h.log(i);
        assert!(
            !log.contains("member-failed"),
            "host {i} declared a member failed:\n{log}"
        );
    }
    println!("{seconds} s at 5% loss on every host: {samples} checks, no member failed");
}

#[test]
fn latency_added_between_hosts_shows_in_serf_rtt_within_a_quarter() {
    require_hosts!();
    let _serial = serial();
    const ONE_WAY: Duration = Duration::from_millis(25);
    let mut h = Hosts::network(2, 3);
    let targets: Vec<_> = (1..=2)
        .map(|i| format!("{}:7946", h.ip(i)).parse().unwrap())
        .collect();
    let hub_ip = h.ip(100).parse().unwrap();
    let relay = Relay::start(hub_ip, &targets, ONE_WAY, Some(&h.ns(0))).expect("relay starts");
    let fronts = relay.fronts().to_vec();
    // Each agent advertises its relay front, so every datagram between
    // them waits ONE_WAY in the relay.
    h.start(|i| vec![format!("-advertise={}", fronts[i - 1])]);
    let seed = fronts[0].to_string();
    assert!(
        h.cli(2, &["join", &seed]).is_some(),
        "join through the relay"
    );
    let joined = wait_until(Duration::from_secs(20), || {
        h.count(1, "alive") == 2 && h.count(2, "alive") == 2
    });
    assert!(
        joined,
        "joined through the relay: {:?}",
        h.cli(1, &["members"])
    );
    let added = 2.0 * ONE_WAY.as_secs_f64() * 1000.0;
    let started = Instant::now();
    let (mut within, mut readings) = (0, Vec::new());
    while started.elapsed() < Duration::from_secs(120) && within < 3 {
        std::thread::sleep(Duration::from_secs(2));
        let Some(out) = h.cli(1, &["rtt", "n1", "n2"]) else {
            continue;
        };
        // "Estimated n1 <-> n2 rtt: 50.123 ms"
        let Some(ms) = out
            .split("rtt:")
            .nth(1)
            .and_then(|r| r.trim().trim_end_matches("ms").trim().parse::<f64>().ok())
        else {
            continue;
        };
        readings.push(ms);
        within = if (ms - added).abs() <= 0.25 * added {
            within + 1
        } else {
            0
        };
    }
    let from_2 = h.cli(2, &["rtt", "n2", "n1"]).unwrap_or_default();
    println!(
        "added RTT {added:.1} ms: serf rtt read {readings:.1?} over {:.0} s; from n2: {}; relayed {} datagrams, {} send errors",
        started.elapsed().as_secs_f64(),
        from_2.trim(),
        relay.counts().relayed.load(std::sync::atomic::Ordering::Relaxed),
        relay.counts().send_errors.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(
        within >= 3,
        "three readings in a row within 25% of {added} ms: {readings:?}"
    );
}
