//! `serf agent`: configuration from flags, the member, the RPC port, event
//! handlers, joins, and signals (SIGINT leaves gracefully, SIGTERM exits).

mod config;
pub(crate) mod process;
mod snapshot_writer;

pub use config::AgentConfig;
use snapshot_writer::{snapshot_thread, SnapMsg};

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use serf_core::{Config, EventKind};

use crate::coalesce::Coalescer;
use crate::dispatch::{Dispatch, Dispatcher};
use crate::handlers::SelfInfo;
use crate::hub::{Control, Hub};
use crate::rpc::{self, RpcConfig};
use crate::snapshot::Snapshot;
use config::RuntimeChoice;
use serf_runtime_std::member::{Command, Commands, Member, Output};

/// Runs the agent until it leaves or is signalled; returns the exit code.
pub fn run(argv: &[String]) -> i32 {
    process::lean();
    process::raise_file_limit();
    if crate::cli::wants_help(argv) {
        return crate::cli::report("agent", crate::cli::CliError::Help);
    }
    let cfg = match AgentConfig::from_args(argv) {
        Ok(c) => c,
        Err(e) if e.starts_with("flag ") => {
            return crate::cli::report("agent", crate::cli::CliError::Flag(e))
        }
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    match start(cfg, argv) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("==> Error starting agent: {e}");
            1
        }
    }
}

/// What drives the agent's member; the ring (if any) lives as long as the agent.
enum Driver {
    Std(Option<String>),
    Uring(#[allow(dead_code)] serf_runtime_uring::Runtime),
}

impl Driver {
    fn describe(&self) -> String {
        match self {
            Driver::Uring(_) => "io_uring".into(),
            Driver::Std(None) => "std".into(),
            Driver::Std(Some(why)) => format!("std (io_uring unavailable: {why})"),
        }
    }
}

/// Starts the member on the runtime `choice` names (auto: io_uring when
/// the kernel offers it, else std, saying why).
fn start_member(
    choice: RuntimeChoice,
    builder: serf_runtime_std::member::MemberBuilder,
    bind: SocketAddr,
) -> Result<(Driver, Member, mpsc::Receiver<Output>), String> {
    let bind_err = |e: std::io::Error| format!("cannot bind {bind}: {e}");
    let ring = match choice {
        RuntimeChoice::Std => Err("not chosen".to_string()),
        _ => serf_runtime_uring::Runtime::builder()
            .start()
            .map_err(|e| e.to_string()),
    };
    match (choice, ring) {
        (RuntimeChoice::Std, _) => {
            let (m, rx) = builder.start().map_err(bind_err)?;
            Ok((Driver::Std(None), m, rx))
        }
        (_, Ok(ring)) => {
            let (m, rx) = ring.spawn(builder).map_err(bind_err)?;
            Ok((Driver::Uring(ring), m, rx))
        }
        (RuntimeChoice::Uring, Err(why)) => Err(format!("-runtime=uring: {why}")),
        (_, Err(why)) => {
            let (m, rx) = builder.start().map_err(bind_err)?;
            Ok((Driver::Std(Some(why)), m, rx))
        }
    }
}

fn start(cfg: AgentConfig, argv: &[String]) -> Result<i32, String> {
    for w in &cfg.warnings {
        println!("==> {w}");
    }
    let syslog = cfg
        .syslog
        .map(|facility| {
            // SERF_SYSLOG_SOCKET: a daemon listening elsewhere (containers, tests).
            let path = std::env::var("SERF_SYSLOG_SOCKET")
                .unwrap_or_else(|_| crate::syslog::SOCKET.to_string());
            crate::syslog::Syslog::connect(&path, facility)
        })
        .transpose()?;
    println!("==> Starting Serf agent...");
    let logs = crate::log::init(cfg.log_level, syslog);
    let code = serve(cfg, argv, &logs);
    // Lines are printed by the log thread: the last ones ("Max join retry
    // exhausted") must be out before the process exits.
    logs.flush(Duration::from_secs(1));
    code
}

fn serve(cfg: AgentConfig, argv: &[String], logs: &crate::log::Logs) -> Result<i32, String> {
    let mut builder = Member::builder(&cfg.name)
        .bind(cfg.bind)
        .advertise(cfg.advertise)
        .config(cfg.config.clone())
        .broadcast_timeout(cfg.broadcast_timeout);
    for (k, v) in &cfg.tags {
        builder = builder.tag(k, v);
    }
    if let Some(path) = cfg.keyring_file.clone() {
        builder = builder.on_keyring_change(move |keys| {
            crate::files::write_keyring(&path, keys)?;
            tracing::info!(target: "serf", "Wrote keyring file {}", path.display());
            Ok(())
        });
    }
    let (runtime, member, out_rx) = start_member(cfg.runtime, builder, cfg.bind)?;
    let commands = member.commands();
    let snapshot = match &cfg.snapshot {
        None => None,
        Some(path) => {
            let (snap, replay) = Snapshot::open(path)
                .map_err(|e| format!("cannot open snapshot {}: {e}", path.display()))?;
            if replay.torn_bytes > 0 {
                eprintln!(
                    "==> Snapshot {}: skipped a torn last line ({} bytes; the previous run stopped mid-write)",
                    path.display(),
                    replay.torn_bytes
                );
            }
            if replay.bad_lines > 0 {
                eprintln!(
                    "==> Snapshot {}: skipped {} unreadable lines",
                    path.display(),
                    replay.bad_lines
                );
            }
            commands
                .send(Command::RestoreClocks(serf_core::Clocks {
                    member: replay.clock,
                    event: replay.event_clock,
                    query: replay.query_clock,
                }))
                .map_err(|_| "agent stopped")?;
            let (tx, leave_done) = snapshot_thread(snap, commands.clone());
            Some((tx, leave_done, replay))
        }
    };
    // The dispatcher owns handlers, streams and coalescing; the protocol
    // loop's outputs reach it through a forwarding thread.
    let (dispatch_tx, dispatch_rx) = mpsc::channel::<Dispatch>();
    // Once the protocol loop has stopped and its last outputs are forwarded,
    // the dispatcher drains (coalesced events, running handlers) and says so.
    let (drained_tx, drained) = mpsc::channel::<()>();
    let (control_tx, control) = mpsc::channel::<Control>();
    {
        let tx = dispatch_tx.clone();
        let control_tx = control_tx.clone();
        std::thread::spawn(move || {
            while let Ok(out) = out_rx.recv() {
                // Serf shuts down when the cluster sides with another
                // holder of our name, and its agent quits (exit 0).
                let lost = matches!(&out, Output::Member(e) if e.kind == EventKind::ConflictLost);
                if tx.send(Dispatch::Out(out)).is_err() {
                    return;
                }
                if lost {
                    tracing::warn!(target: "agent", "Serf shutdown detected, quitting");
                    let _ = control_tx.send(Control::Exit(0));
                }
            }
            let _ = tx.send(Dispatch::Drain(drained_tx));
        });
    }
    let hub = Hub::new(dispatch_tx, control_tx.clone());
    let me = SelfInfo {
        name: cfg.name.clone(),
        tags: cfg.tags.clone(),
    };
    let tee = snapshot.as_ref().map(|(tx, _, _)| {
        let tx = tx.clone();
        Box::new(move |o: &Output| {
            let _ = tx.send(SnapMsg::Out(o.clone()));
        }) as crate::dispatch::Tee
    });
    let dispatcher = Dispatcher::new(
        me,
        cfg.handlers.clone(),
        Coalescer::serf_agent(),
        commands.clone(),
        tee,
    );
    std::thread::spawn(move || dispatcher.run(dispatch_rx));
    let listener = TcpListener::bind(cfg.rpc_addr)
        .map_err(|e| format!("cannot listen for RPC on {}: {e}", cfg.rpc_addr))?;
    rpc::serve(
        listener,
        commands.clone(),
        hub.clone(),
        RpcConfig {
            logs: Some(logs.clone()),
            tags_file: cfg.tags_file.clone(),
            auth_key: cfg.rpc_auth.clone(),
            leave_wait: cfg.broadcast_timeout * 2 + Duration::from_secs(5),
            resolve: crate::cli::parse_join_addr,
        },
    );
    println!("==> Serf agent running!");
    println!("         Node name: '{}'", cfg.name);
    println!("         Bind addr: '{}'", member.local_addr);
    println!("        Advertise: '{}'", cfg.advertise);
    println!("          RPC addr: '{}'", cfg.rpc_addr);
    println!("         Encrypted: {}", !cfg.config.keyring.is_empty());
    println!("          Profile: {}", profile_name(&cfg.config));
    println!("           Runtime: {}", runtime.describe());
    if let Some((_, _, replay)) = &snapshot {
        let previous: Vec<SocketAddr> = replay
            .alive
            .iter()
            .filter(|(n, _)| **n != cfg.name)
            .map(|(_, a)| *a)
            .collect();
        if replay.left && !cfg.rejoin {
            tracing::info!(target: "serf", "Snapshot records a leave: not rejoining previous members (use -rejoin)");
        } else if previous.is_empty() {
            tracing::info!(target: "serf", "Snapshot names no previous members to rejoin");
        } else if cfg.join.is_empty() {
            let commands = commands.clone();
            tracing::info!(target: "serf", "Attempting re-join to previously known nodes: {previous:?}");
            std::thread::spawn(move || {
                for addr in previous {
                    let (tx, rx) = mpsc::channel();
                    if commands.send(Command::Join(vec![addr], false, tx)).is_err() {
                        return;
                    }
                    if rx.recv().unwrap_or_default().joined > 0 {
                        tracing::info!(target: "serf", "Re-joined to previously known node: {addr}");
                        return;
                    }
                }
                tracing::warn!(target: "serf", "Failed to re-join any previously known node");
            });
        }
    }
    if !cfg.join.is_empty() {
        println!("==> Joining cluster...(replay: {})", cfg.replay);
        let (tx, rx) = mpsc::channel();
        commands
            .send(Command::Join(cfg.join.clone(), cfg.replay, tx))
            .map_err(|_| "agent stopped")?;
        let outcome = rx.recv().map_err(|_| "agent stopped")?;
        if outcome.joined == 0 {
            return Err(outcome.describe());
        }
        println!(
            "==> Join completed. Synced with {} initial agents",
            outcome.joined
        );
    }
    if !cfg.retry_join.is_empty() {
        let replay = cfg.replay;
        let (addrs, interval, max, commands) = (
            cfg.retry_join.clone(),
            cfg.retry_interval,
            cfg.retry_max,
            commands.clone(),
        );
        let hub = hub.clone();
        std::thread::spawn(move || retry_join(&addrs, replay, interval, max, &commands, &hub));
    }
    // Signals arrive on the control channel (signal-hook's iterator thread),
    // like everything else here: no flags shared between threads.
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ]) {
        std::thread::spawn(move || {
            for s in signals.forever() {
                if control_tx.send(Control::Signal(s)).is_err() {
                    return;
                }
            }
        });
    }
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // After a graceful leave the handlers still get the last events (the
    // agent's own member-leave among them) before the process exits.
    let stop_after_leave = |member: Member| {
        member.shutdown();
        let _ = drained.recv_timeout(crate::dispatch::DRAIN_TIMEOUT + Duration::from_secs(1));
    };
    loop {
        let sig = match control.recv() {
            Ok(Control::Signal(s)) => s,
            Ok(Control::Exit(code)) => {
                member.shutdown();
                return Ok(code);
            }
            Ok(Control::Left) => {
                if let Some((tx, done, _)) = &snapshot {
                    let _ = tx.send(SnapMsg::Leave);
                    let _ = done.recv_timeout(Duration::from_secs(1));
                }
                stop_after_leave(member);
                return Ok(0);
            }
            Err(_) => {
                member.shutdown();
                return Ok(1);
            }
        };
        if sig == SIGHUP {
            println!("==> Caught signal: hangup");
            reload(argv, &commands, &hub, logs);
            continue;
        }
        println!(
            "==> Caught signal: {}",
            if sig == SIGINT {
                "interrupt"
            } else {
                "terminated"
            }
        );
        let graceful = (sig == SIGINT && !cfg.skip_leave_on_interrupt)
            || (sig == SIGTERM && cfg.leave_on_terminate);
        if !graceful {
            member.shutdown();
            return Ok(1);
        }
        println!("==> Gracefully shutting down agent...");
        let (tx, rx) = mpsc::channel();
        let _ = commands.send(Command::Leave(tx));
        // The loop answers once the leave is gossiped, at the broadcast
        // timeout, or at once when no one else is alive; a second signal
        // cuts the wait short (exit 1).
        let deadline = std::time::Instant::now() + cfg.broadcast_timeout + Duration::from_secs(1);
        loop {
            if rx.try_recv().is_ok() {
                // Recorded after the leave, so the snapshot's clock covers
                // the leave intent and a -rejoin's join intent outranks it.
                if let Some((tx, done, _)) = &snapshot {
                    let _ = tx.send(SnapMsg::Leave);
                    let _ = done.recv_timeout(Duration::from_secs(1));
                }
                stop_after_leave(member);
                return Ok(0);
            }
            if let Ok(Control::Signal(s)) = control.try_recv() {
                if s != SIGHUP {
                    member.shutdown();
                    return Ok(1);
                }
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!(target: "agent", "Leave timed out; shutting down anyway");
                member.shutdown();
                return Ok(1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Serf's retry-join: one attempt, then up to `max` retries (0: forever)
/// `interval` apart, each failure logged; exhausted, the agent exits 1.
fn retry_join(
    addrs: &[SocketAddr],
    replay: bool,
    interval: Duration,
    max: u32,
    commands: &Commands,
    hub: &Hub,
) {
    let mut failures = 0u32;
    loop {
        let (tx, rx) = mpsc::channel();
        if commands
            .send(Command::Join(addrs.to_vec(), replay, tx))
            .is_err()
        {
            return;
        }
        let outcome = rx.recv().unwrap_or_default();
        if outcome.joined > 0 {
            tracing::info!(target: "agent", "Join completed. Synced with {} initial agents", outcome.joined);
            return;
        }
        failures += 1;
        if max > 0 && failures > max {
            tracing::error!(target: "agent", "Max join retry exhausted, exiting");
            hub.request_exit(1);
            return;
        }
        tracing::warn!(
            target: "agent",
            "Join failed: {}, retrying in {:?}",
            outcome.describe(),
            interval
        );
        std::thread::sleep(interval);
    }
}

/// SIGHUP: reads the configuration again (same flags, files as they are
/// now) and applies what Serf reloads: the log level, event handlers and tags.
/// A configuration that no longer parses is reported and changes nothing.
fn reload(argv: &[String], commands: &Commands, hub: &Hub, logs: &crate::log::Logs) {
    println!("==> Reloading configuration...");
    let cfg = match AgentConfig::from_args(argv) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: "agent", "Failed to reload configs: {e}");
            return;
        }
    };
    logs.set_level(cfg.log_level);
    let (tx, rx) = mpsc::channel();
    if commands
        .send(Command::SetTags(cfg.tags.clone(), tx))
        .is_ok()
    {
        // With -tags-file the tags came from that file, so it is current.
        if let Ok(Err(e)) = rx.recv() {
            tracing::error!(target: "agent", "Failed to update tags: {e}");
        }
    }
    hub.reload(cfg.handlers, cfg.tags);
    tracing::info!(target: "agent", "Reloaded: log level, event handlers and tags");
}

fn profile_name(c: &Config) -> &'static str {
    if c.probe_interval.as_secs() == 5 {
        "wan"
    } else if c.probe_timeout == Duration::from_millis(200) {
        "local"
    } else {
        "lan"
    }
}
