//! A userspace UDP and TCP relay that holds every datagram (and every
//! chunk of a stream) for a fixed one-way delay: latency between agents on
//! a kernel without `netem`.
//!
//! Member `i` advertises the relay's front `i` instead of its own address.
//! A datagram from `x` to front `i` leaves, `delay` later, from a back
//! socket the relay keeps for `x`, towards member `i`'s real address; what
//! member `i` sends to that back socket returns to `x`, from front `i`,
//! `delay` later. Each direction is delayed, so a round trip gains twice
//! the delay. Each front also listens for TCP on its port (memberlist's
//! joins and push-pulls are streams to the advertised address): a
//! connection to front `i` is piped to member `i`, each chunk delayed.
//!
//! ```no_run
//! use std::time::Duration;
//! let targets = ["127.0.0.1:7946".parse().unwrap()];
//! let relay = serf_tests::relay::Relay::start("127.0.0.1".parse().unwrap(), &targets, Duration::from_millis(25), None).unwrap();
//! println!("advertise {}", relay.fronts()[0]);
//! ```

use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the relay did.
#[derive(Debug, Default)]
pub struct RelayCounts {
    /// Datagrams forwarded.
    pub relayed: AtomicU64,
    /// Datagrams a socket refused to send, and streams that could not be
    /// accepted or connected (counted, never silent).
    pub send_errors: AtomicU64,
    /// TCP connections piped.
    pub streams: AtomicU64,
}

/// A running relay; stops when dropped.
pub struct Relay {
    fronts: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    counts: Arc<RelayCounts>,
    thread: Option<JoinHandle<()>>,
}

/// Which way a socket relays.
enum Side {
    /// Front `i`: datagrams from anyone towards member `i`.
    Front(usize),
    /// Member `i`'s answers to the sender this back socket stands for.
    Back { member: usize, sender: SocketAddr },
}

/// A datagram waiting for its time.
struct Held {
    due: Instant,
    seq: u64,
    socket: usize,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    /// Earliest first (the heap is a max-heap).
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

impl Relay {
    /// Starts a relay on `ip` for `targets`, inside network namespace
    /// `netns` (by name, as `ip netns` knows it) when given.
    pub fn start(
        ip: IpAddr,
        targets: &[SocketAddr],
        delay: Duration,
        netns: Option<&str>,
    ) -> io::Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(RelayCounts::default());
        let (tx, rx) = mpsc::channel();
        let targets = targets.to_vec();
        let netns = netns.map(|n| format!("/var/run/netns/{n}"));
        let (s, c) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            let setup = || -> io::Result<Vec<(UdpSocket, TcpListener)>> {
                if let Some(path) = &netns {
                    enter_netns(path)?;
                }
                targets.iter().map(|_| bind_front(ip)).collect()
            };
            match setup() {
                Ok(fronts) => {
                    let addrs = fronts.iter().map(|f| f.0.local_addr()).collect();
                    let _ = tx.send(addrs);
                    let (udp, tcp): (Vec<_>, Vec<_>) = fronts.into_iter().unzip();
                    // Spawned here, so it and its pipes share the namespace.
                    let acceptor = {
                        let (t, s, c) = (targets.clone(), s.clone(), c.clone());
                        std::thread::spawn(move || accept_loop(tcp, &t, delay, &s, &c))
                    };
                    relay_loop(ip, udp, &targets, delay, &s, &c);
                    let _ = acceptor.join();
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        let fronts = rx
            .recv()
            .map_err(|_| io::Error::other("relay thread ended"))??;
        Ok(Relay {
            fronts,
            stop,
            counts,
            thread: Some(thread),
        })
    }

    /// The address member `i` advertises.
    pub fn fronts(&self) -> &[SocketAddr] {
        &self.fronts
    }

    /// Its counters.
    pub fn counts(&self) -> &RelayCounts {
        &self.counts
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the calling thread into the network namespace at `path`.
fn enter_netns(path: &str) -> io::Result<()> {
    let f = std::fs::File::open(path)?;
    // SAFETY: setns on a namespace file descriptor we hold open; it changes
    // only this thread's network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A UDP front and a TCP listener on the same port.
fn bind_front(ip: IpAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = io::Error::other("no port free for both UDP and TCP");
    for _ in 0..32 {
        let udp = UdpSocket::bind((ip, 0))?;
        match TcpListener::bind((ip, udp.local_addr()?.port())) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok((udp, tcp));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Accepts on every front until stopped; each connection gets its pipe.
fn accept_loop(
    listeners: Vec<TcpListener>,
    targets: &[SocketAddr],
    delay: Duration,
    stop: &Arc<AtomicBool>,
    counts: &Arc<RelayCounts>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut idle = true;
        for (member, l) in listeners.iter().enumerate() {
            match l.accept() {
                Ok((client, _)) => {
                    idle = false;
                    let (to, c) = (targets[member], counts.clone());
                    std::thread::spawn(move || pipe(client, to, delay, &c));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    counts.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Pipes `client` to a new connection to `target`, both ways delayed.
fn pipe(client: TcpStream, target: SocketAddr, delay: Duration, counts: &RelayCounts) {
    let connected = client.set_nonblocking(false).and_then(|()| {
        let server = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
        Ok((client.try_clone()?, server.try_clone()?, server))
    });
    let Ok((client_back, server_back, server)) = connected else {
        counts.send_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    counts.streams.fetch_add(1, Ordering::Relaxed);
    let there = std::thread::spawn(move || delayed_copy(client, server, delay));
    delayed_copy(server_back, client_back, delay);
    let _ = there.join();
}

/// Copies `from` into `to`, each chunk `delay` after it was read; an end
/// (or an error) on `from` ends `to`'s writing side when the rest is out.
fn delayed_copy(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    // memberlist's stream timeout: a silent peer does not pin the thread.
    let _ = from.set_read_timeout(Some(Duration::from_secs(10)));
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, bytes) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0u8; 65_536];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
}

fn relay_loop(
    ip: IpAddr,
    fronts: Vec<UdpSocket>,
    targets: &[SocketAddr],
    delay: Duration,
    stop: &AtomicBool,
    counts: &RelayCounts,
) {
    let mut sockets: Vec<(UdpSocket, Side)> = fronts
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, Side::Front(i)))
        .collect();
    let mut backs: HashMap<(usize, SocketAddr), usize> = HashMap::new();
    let mut held = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while held.peek().is_some_and(|h: &Held| h.due <= now) {
            let Some(h) = held.pop() else { break };
            match sockets[h.socket].0.send_to(&h.bytes, h.to) {
                Ok(_) => counts.relayed.fetch_add(1, Ordering::Relaxed),
                Err(_) => counts.send_errors.fetch_add(1, Ordering::Relaxed),
            };
        }
        let wait = held
            .peek()
            .map_or(Duration::from_millis(50), |h| {
                h.due.saturating_duration_since(now)
            })
            .min(Duration::from_millis(50));
        let mut fds: Vec<libc::pollfd> = sockets
            .iter()
            .map(|(s, _)| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Round up: waking a little late keeps the delay at least `delay`.
        let ms = wait.as_micros().div_ceil(1000) as libc::c_int;
        // SAFETY: `fds` is a live array of `fds.len()` pollfd records.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if ready <= 0 {
            continue;
        }
        let arrived = Instant::now();
        for (k, fd) in fds.iter().enumerate() {
            if fd.revents & libc::POLLIN == 0 {
                continue;
            }
            while let Ok((n, from)) = sockets[k].0.recv_from(&mut buf) {
                let (socket, to) = match sockets[k].1 {
                    Side::Front(member) => {
                        let back = match backs.get(&(member, from)) {
                            Some(&b) => b,
                            None => {
                                let Ok(s) = UdpSocket::bind((ip, 0)) else {
                                    counts.send_errors.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                };
                                let _ = s.set_nonblocking(true);
                                sockets.push((
                                    s,
                                    Side::Back {
                                        member,
                                        sender: from,
                                    },
                                ));
                                backs.insert((member, from), sockets.len() - 1);
                                sockets.len() - 1
                            }
                        };
                        (back, targets[member])
                    }
                    Side::Back { member, sender } => (member, sender),
                };
                seq += 1;
                held.push(Held {
                    due: arrived + delay,
                    seq,
                    socket,
                    to,
                    bytes: buf[..n].to_vec(),
                });
            }
        }
    }
}
