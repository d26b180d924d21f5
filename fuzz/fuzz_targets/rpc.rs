//! Any byte stream from an RPC client: the agent's request reader (frame
//! limits, headers decoded over the previous one, typed body fields) and
//! its command table, answered by a real protocol loop (runtime-std, on a
//! loopback socket). The session must end cleanly — answered or closed —
//! without a panic or an allocation sized by the input.
//!
//! Two commands are kept off the real node so one node serves every input:
//! `join` reaches no address (the fuzzer's resolver takes literals only and
//! the seeds are dropped before the node sees them), and `leave` is
//! answered at once rather than leaving.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serf_agent::hub::Hub;
use serf_agent::rpc::{serve_client, RpcConfig};
use serf_runtime_std::member::{Command, Commands, Member};

struct Harness {
    listener: TcpListener,
    commands: Commands,
    hub: Hub,
    config: RpcConfig,
    _member: Member,
}

/// Literal addresses only: fuzz input never reaches DNS.
fn literal(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|e| format!("invalid address {s:?}: {e}"))
}

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        let builder = || {
            Member::builder("fuzz")
                .bind("127.0.0.1:0".parse().unwrap())
                .tag("role", "fuzz")
        };
        // On io_uring a command wakes the loop at once (the std loop looks
        // every 20 ms, which would bound this target to ~50 commands/s).
        let ring = serf_runtime_uring::Runtime::builder().start().ok();
        let (member, outputs) = match &ring {
            Some(r) => r.spawn(builder()),
            None => builder().start(),
        }
        .expect("a loopback member");
        std::mem::forget(ring); // runs for the whole process
                                // Everything goes to the real node except what would make it leave
                                // or reach out.
        let node = member.commands();
        let (tx, rx) = mpsc::channel::<Command>();
        std::thread::spawn(move || {
            for c in rx {
                let c = match c {
                    Command::Join(_, replay, reply) => Command::Join(Vec::new(), replay, reply),
                    Command::Leave(reply) => {
                        let _ = reply.send(());
                        continue;
                    }
                    Command::Shutdown => continue,
                    c => c,
                };
                if node.send(c).is_err() {
                    return;
                }
            }
        });
        let (dispatch, dispatch_rx) = mpsc::channel();
        {
            // The node's events reach `stream` subscribers as in the agent.
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                while let Ok(o) = outputs.recv() {
                    let _ = dispatch.send(serf_agent::dispatch::Dispatch::Out(o));
                }
            });
        }
        let (control, control_rx) = mpsc::channel();
        let commands = Commands::new(tx, None);
        let dispatcher = serf_agent::dispatch::Dispatcher::new(
            serf_agent::handlers::SelfInfo {
                name: "fuzz".into(),
                tags: vec![("role".into(), "fuzz".into())],
            },
            Vec::new(),
            serf_agent::coalesce::Coalescer::serf_agent(),
            commands.clone(),
            None,
        );
        std::thread::spawn(move || dispatcher.run(dispatch_rx));
        std::thread::spawn(move || while control_rx.recv().is_ok() {});
        Mutex::new(Harness {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            commands,
            hub: Hub::new(dispatch, control),
            config: RpcConfig {
                auth_key: String::new(),
                logs: None,
                tags_file: None,
                leave_wait: Duration::from_secs(1),
                resolve: literal,
            },
            _member: member,
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness().lock().unwrap();
    let mut client = TcpStream::connect(h.listener.local_addr().unwrap()).unwrap();
    let (server, _) = h.listener.accept().unwrap();
    // Whatever the agent answers is read (and dropped) as it comes.
    let mut reader = client.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    client.write_all(data).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut config = h.config.clone();
    if data.first().is_some_and(|b| b & 1 == 1) {
        config.auth_key = "fuzz-secret".into(); // the auth gate too
    }
    serve_client(server, h.commands.clone(), h.hub.clone(), config);
    drop(client);
    drain.join().unwrap();
});
