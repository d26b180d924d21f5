//! The end-to-end harness: real `serf` agents as child processes on
//! 127.0.0.x addresses, each cluster in its own address block, driven through
//! the command line. Agent tests take [`serial`] first: on a 2-core machine a
//! dozen clusters at once would upset their failure-detection timing.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// The `serf` binary under test.
pub fn serf_bin() -> &'static str {
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

/// `-runtime=X` when `SERF_TEST_RUNTIME=X` is set (`.ci/run` runs the
/// article's tour once more on the std runtime; the default, auto, takes
/// io_uring where the kernel has it).
pub fn runtime_flag() -> Option<String> {
    std::env::var("SERF_TEST_RUNTIME")
        .ok()
        .filter(|r| !r.is_empty())
        .map(|r| format!("-runtime={r}"))
}

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which agent a cluster member runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Ours ([`serf_bin`]).
    Ours,
    /// HashiCorp's (`/usr/bin/serf`, installed by `.ci/run`).
    HashiCorp,
}

/// HashiCorp's agent, if installed.
pub const HASHICORP_SERF: &str = "/usr/bin/serf";

impl Kind {
    fn bin(self) -> &'static str {
        match self {
            Kind::Ours => serf_bin(),
            Kind::HashiCorp => HASHICORP_SERF,
        }
    }
}

pub struct Agent {
    pub kind: Kind,
    pub name: String,
    pub ip: String,
    pub rpc: String,
    pub args: Vec<String>,
    pub child: Option<Child>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Cluster {
    pub agents: Vec<Agent>,
    pub dir: PathBuf,
}

/// (second address octet, block number) for one cluster: gossip addresses
/// `127.{pid-derived}.{block}.x` never collide within a run.
pub fn block() -> (u16, u16) {
    let b = NEXT_BLOCK.fetch_add(1, Ordering::SeqCst);
    ((std::process::id() % 200) as u16 + 20, b)
}

impl Cluster {
    pub fn start(n: usize, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        Cluster::start_kinds(&vec![Kind::Ours; n], extra)
    }

    /// A cluster whose member `i` runs `kinds[i]`'s agent (ours with the
    /// runtime flag, HashiCorp's without).
    pub fn start_kinds(kinds: &[Kind], extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        // Every value below derives from this cluster's own block number, so
        // clusters of tests running in parallel never share addresses.
        let (second, b) = block();
        let dir = std::env::temp_dir().join(format!("serf-agents-{}-{b}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut agents = Vec::new();
        for (i, &kind) in kinds.iter().enumerate() {
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
            if kind == Kind::Ours {
                args.extend(runtime_flag());
            }
            args.extend(extra(i));
            let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
            let child = Command::new(kind.bin())
                .args(&args)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            agents.push(Agent {
                kind,
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
    pub fn kill(&mut self, i: usize) {
        if let Some(ch) = self.agents[i].child.as_mut() {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let log = std::fs::File::create(
            self.dir
                .join(format!("{}-restart.log", self.agents[i].name)),
        )
        .unwrap();
        let child = Command::new(self.agents[i].kind.bin())
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
    pub fn join(&self, i: usize, j: usize) {
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
    pub fn cli(&self, i: usize, args: &[&str]) -> Output {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.insert(1.min(v.len()), format!("-rpc-addr={}", self.agents[i].rpc));
        serf(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }
    pub fn members(&self, i: usize, extra: &[&str]) -> String {
        let mut args = vec!["members"];
        args.extend_from_slice(extra);
        String::from_utf8_lossy(&self.cli(i, &args).stdout).to_string()
    }
    /// How many members `observer` lists as alive.
    pub fn alive_count(&self, observer: usize) -> usize {
        self.members(observer, &["-status=alive"]).lines().count()
    }
    pub fn status_of(&self, observer: usize, name: &str) -> Option<String> {
        self.members(observer, &[])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
    }
}

pub fn serf(args: &[&str]) -> Output {
    Command::new(serf_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A base64 key for tests.
pub fn key(byte: u8) -> String {
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

/// An empty scratch directory `serf-{name}-{pid}-{block}` in the temp dir,
/// unique to this test (the block number comes from [`block`]).
pub fn fresh_dir(name: &str) -> PathBuf {
    let (_, b) = block();
    let dir = std::env::temp_dir().join(format!("serf-{name}-{}-{b}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a writable temp dir");
    dir
}
