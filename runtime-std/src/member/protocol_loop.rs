//! The std runtime's loop: one thread owning one [`Host`] and its UDP
//! socket. It sleeps until the next datagram or deadline (at most 20 ms, to
//! look at commands), feeds the host, and sends what the node queued.

use std::net::UdpSocket;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant as StdInstant};

use super::host::{Flow, Host};
use super::Command;

/// The longest the loop sleeps before looking at its commands.
const COMMAND_POLL: Duration = Duration::from_millis(20);

pub(super) struct Loop {
    host: Host,
    socket: UdpSocket,
    recv: Vec<u8>,
    send: Vec<u8>,
}

impl Loop {
    pub(super) fn new(host: Host, socket: UdpSocket) -> Loop {
        let mtu = host.mtu();
        Loop {
            host,
            socket,
            recv: vec![0; mtu + 1],
            send: vec![0; mtu],
        }
    }

    pub(super) fn run(mut self, commands: Receiver<Command>) {
        self.flush();
        loop {
            loop {
                match commands.try_recv() {
                    Ok(c) => {
                        if self.host.command(c) == Flow::Stop {
                            return;
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            // What the commands queued goes out before the loop sleeps.
            self.flush();
            self.step();
        }
    }

    /// Waits for a datagram until the host's deadline (or the command poll),
    /// hands it over, ticks the host and sends what resulted.
    fn step(&mut self) {
        let now = StdInstant::now();
        let wait = self
            .host
            .deadline()
            .map_or(COMMAND_POLL, |d| d.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), COMMAND_POLL);
        let _ = self.socket.set_read_timeout(Some(wait));
        match self.socket.recv_from(&mut self.recv) {
            Ok((n, from)) => self.host.datagram(from, &self.recv[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => tracing::warn!(target: "memberlist", "receive failed: {e}"),
        }
        self.host.tick();
        self.flush();
    }

    fn flush(&mut self) {
        while let Some(t) = self.host.poll_transmit(&mut self.send) {
            // On Linux an ICMP "port unreachable" caused by an earlier datagram
            // (to a dead member) surfaces as an error on the next send, and
            // that send is lost: send it again once.
            let sent = match self.socket.send_to(&self.send[..t.len], t.to) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    self.socket.send_to(&self.send[..t.len], t.to)
                }
                r => r,
            };
            if let Err(e) = sent {
                self.host.send_failed(t.to, t.len, &e);
            }
        }
    }
}
