//! Real members on loopback sockets (127.net.x.y, one address each), on the
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

/// Member `i`'s address in loopback net `127.net.0.0/16`: its own IP (up
/// to 250 × 250 members).
pub fn addr(net: u8, i: usize) -> SocketAddr {
    SocketAddr::from(([127, net, (i / 250) as u8, (i % 250 + 1) as u8], 7946))
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
    /// The loopback net the members' addresses are in.
    pub net: u8,
}

impl Loopback {
    /// Starts `n` members with `config` on `engine`; their outputs are
    /// dropped (nothing here reads them).
    pub fn start(engine: Engine, n: usize, config: &Config, net: u8) -> std::io::Result<Loopback> {
        let ring = match engine {
            Engine::Std => None,
            Engine::Uring => Some(serf_runtime_uring::Runtime::builder().members(n).start()?),
        };
        let mut members = Vec::with_capacity(n);
        for i in 0..n {
            let b = Member::builder(&format!("m{i}"))
                .bind(addr(net, i))
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
            net,
        })
    }

    /// Every member but the seed joins member 0 (eight joins in flight at
    /// a time); returns how many joins succeeded.
    pub fn join_all(&self) -> usize {
        let seed = addr(self.net, 0);
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

    /// Every member but the seed joins member 0, `per_second` joins started
    /// each second (a fleet coming up, not all at once); a member whose join
    /// got no answer tries again (as `-retry-join` does), up to three rounds.
    /// Returns how many members joined.
    pub fn join_paced(&self, per_second: f64) -> usize {
        let mut todo: Vec<usize> = (1..self.commands.len()).collect();
        let mut joined = 0;
        for _round in 0..3 {
            let failed = self.join_round(&todo, per_second);
            joined += todo.len() - failed.len();
            if failed.is_empty() {
                break;
            }
            eprintln!("{} joins got no answer; trying those again", failed.len());
            todo = failed;
        }
        joined
    }

    /// One round of paced joins of the members `which`; returns those that
    /// did not join.
    fn join_round(&self, which: &[usize], per_second: f64) -> Vec<usize> {
        let seed = addr(self.net, 0);
        let gap = Duration::from_secs_f64(1.0 / per_second.max(0.01));
        let start = Instant::now();
        let mut replies = Vec::with_capacity(which.len());
        for (k, &i) in which.iter().enumerate() {
            let due = start + gap * k as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (tx, rx) = std::sync::mpsc::channel();
            if self.commands[i]
                .send(Command::Join(vec![seed], false, tx))
                .is_ok()
            {
                replies.push((i, rx));
            }
        }
        replies
            .into_iter()
            .filter(|(_, rx)| {
                rx.recv_timeout(Duration::from_secs(30))
                    .map_or(true, |o| o.joined == 0)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Sum over members of the counters of dropped work (a queue or table
    /// was full somewhere), by what was dropped; only those that are not zero.
    pub fn drops(&self) -> Vec<(&'static str, u64)> {
        let none = serf_core::Stats::default();
        let mut sum: Vec<(&'static str, u64)> = Vec::new();
        for s in self.commands.iter().filter_map(|c| ask(c, Command::Stats)) {
            for (what, _, n) in serf_runtime_std::member::dropped_counters(&none, &s) {
                match sum.iter_mut().find(|(w, _)| *w == what) {
                    Some((_, total)) => *total += n,
                    None => sum.push((what, n)),
                }
            }
        }
        sum
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
