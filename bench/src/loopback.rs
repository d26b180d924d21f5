//! Real members on loopback sockets (127.10.x.y, one address each), on the
//! std runtime (a thread each) or on one io_uring ring, for `runtime-race`
//! and `ring-scale`: start them, join them through member 0, watch them
//! converge, and read the process's CPU time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serf_core::Config;
use serf_runtime_std::member::{Command, Commands, Info, Member};

/// Which runtime drives the members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// One thread and one blocking socket per member.
    Std,
    /// Every member on one io_uring ring thread.
    Uring,
}

impl Engine {
    /// From `std` or `uring`.
    pub fn parse(s: &str) -> Option<Engine> {
        match s {
            "std" => Some(Engine::Std),
            "uring" => Some(Engine::Uring),
            _ => None,
        }
    }

    /// `std` or `uring`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Std => "std",
            Engine::Uring => "uring",
        }
    }
}

/// Member `i`'s address: its own loopback IP (up to 250 × 250 members).
pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 10, (i / 250) as u8, (i % 250 + 1) as u8], 7946))
}

/// `profile` sized for `members` with the simulator's lean tables (tags
/// and coordinates bounded) and join-storm queue depths.
pub fn config(profile: Config, members: usize) -> Config {
    let mut c = crate::sim::sim_config(profile, members as u32);
    c.capacity.broadcasts = 4096;
    c.capacity.user_broadcasts = 64;
    c.capacity.outbox = 64;
    c
}

/// Members on loopback, and the ring driving them (if any).
pub struct Loopback {
    /// The members, member 0 the seed.
    pub members: Vec<Member>,
    /// Their command handles (shareable across threads).
    pub commands: Vec<Commands>,
    /// The ring, for the io_uring engine.
    pub ring: Option<serf_runtime_uring::Runtime>,
}

impl Loopback {
    /// Starts `n` members with `config` on `engine`; their outputs are
    /// dropped (nothing here reads them).
    pub fn start(engine: Engine, n: usize, config: &Config) -> std::io::Result<Loopback> {
        let ring = match engine {
            Engine::Std => None,
            Engine::Uring => Some(serf_runtime_uring::Runtime::builder().members(n).start()?),
        };
        let mut members = Vec::with_capacity(n);
        for i in 0..n {
            let b = Member::builder(&format!("m{i}"))
                .bind(addr(i))
                .config(config.clone());
            let (m, _outputs) = match &ring {
                None => b.start()?,
                Some(r) => r.spawn(b)?,
            };
            members.push(m);
        }
        let commands = members.iter().map(Member::commands).collect();
        Ok(Loopback {
            members,
            commands,
            ring,
        })
    }

    /// Every member but the seed joins member 0 (eight joins in flight at
    /// a time); returns how many joins succeeded.
    pub fn join_all(&self) -> usize {
        let seed = addr(0);
        let joined = std::sync::atomic::AtomicUsize::new(0);
        let rest = &self.commands[1..];
        let chunk = rest.len().div_ceil(8).max(1);
        std::thread::scope(|s| {
            for part in rest.chunks(chunk) {
                let joined = &joined;
                s.spawn(move || {
                    for c in part {
                        let (tx, rx) = std::sync::mpsc::channel();
                        if c.send(Command::Join(vec![seed], false, tx)).is_ok() {
                            if let Ok(o) = rx.recv() {
                                joined.fetch_add(o.joined, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        });
        joined.into_inner()
    }

    /// Each live member's counts (members with `None` have stopped).
    pub fn infos(&self) -> Vec<Option<Info>> {
        self.commands
            .iter()
            .map(|c| ask(c, Command::Info))
            .collect()
    }

    /// Waits until every live member counts `alive` members alive, or
    /// `limit` passes; returns the time it took.
    pub fn wait_alive(&self, alive: usize, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let all = self
                .infos()
                .into_iter()
                .flatten()
                .all(|i| alive_of(&i) == alive);
            if all {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// Sum over members of datagrams received plus sent.
    pub fn datagrams(&self) -> u64 {
        self.commands
            .iter()
            .filter_map(|c| ask(c, Command::Stats))
            .map(|s| s.received + s.sent)
            .sum()
    }

    /// Sum over members of probes started.
    pub fn probes(&self) -> u64 {
        self.commands
            .iter()
            .filter_map(|c| ask(c, Command::Stats))
            .map(|s| s.probes)
            .sum()
    }
}

/// Members counted alive in `i`.
pub fn alive_of(i: &Info) -> usize {
    i.members - i.failed - i.left
}

fn ask<T>(c: &Commands, make: impl FnOnce(std::sync::mpsc::Sender<T>) -> Command) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    c.send(make(tx)).ok()?;
    rx.recv_timeout(Duration::from_secs(10)).ok()
}

/// CPU seconds (user + system) this process has used.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}
