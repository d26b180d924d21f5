//! The RPC port reads requests as HashiCorp's agent (go-msgpack) reads them.
//! Each scenario writes the same bytes to our agent and, when Debian's serf is
//! installed, to HashiCorp's, and compares what comes back: the response
//! headers in order, each body, and where the agent closed the connection.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rmpv::Value;
use serf_tests::agents::{block, serial, wait_until, Cluster};

/// What a client sees: `Header(seq, error)`, `Body` (any other object), then
/// the connection closing.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Seen {
    Header(u64, String),
    Body,
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

fn header(command: &str, seq: u64) -> Value {
    map(&[("Command", command.into()), ("Seq", seq.into())])
}

fn handshake() -> Vec<Value> {
    vec![header("handshake", 1), map(&[("Version", 1.into())])]
}

/// Writes `objects`, closes the write half, and reads until the agent closes.
fn transcript(rpc: &str, objects: &[Value]) -> Vec<Seen> {
    let mut s = TcpStream::connect(rpc).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = Vec::new();
    for o in objects {
        rmpv::encode::write_value(&mut bytes, o).unwrap();
    }
    s.write_all(&bytes).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let mut r = &all[..];
    let mut seen = Vec::new();
    while let Ok(v) = rmpv::decode::read_value(&mut r) {
        let keys: Vec<_> = v
            .as_map()
            .map(|m| m.iter().filter_map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        if keys.len() == 2 && keys.contains(&"Seq") && keys.contains(&"Error") {
            let get = |k: &str| {
                v.as_map()
                    .unwrap()
                    .iter()
                    .find(|(n, _)| n.as_str() == Some(k))
            };
            seen.push(Seen::Header(
                get("Seq").and_then(|(_, v)| v.as_u64()).unwrap_or(u64::MAX),
                get("Error")
                    .and_then(|(_, v)| v.as_str())
                    .unwrap_or("?")
                    .to_string(),
            ));
        } else {
            seen.push(Seen::Body);
        }
    }
    seen
}

fn ok(seq: u64) -> Seen {
    Seen::Header(seq, String::new())
}

/// HashiCorp's agent on a fresh address, if installed.
struct Hashicorp {
    child: Child,
    rpc: String,
}

impl Drop for Hashicorp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hashicorp() -> Option<Hashicorp> {
    if !std::path::Path::new("/usr/bin/serf").exists() {
        eprintln!("HashiCorp serf is not installed (.ci/run installs it): comparing with the expected transcripts only");
        return None;
    }
    let (second, b) = block();
    let rpc = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let child = Command::new("/usr/bin/serf")
        .args([
            "agent",
            "-node=hashicorp",
            &format!("-bind=127.{second}.{b}.1:7946"),
            &format!("-rpc-addr={rpc}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let h = Hashicorp { child, rpc };
    wait_until(Duration::from_secs(10), || {
        TcpStream::connect(&h.rpc).is_ok()
    });
    Some(h)
}

/// Runs one scenario on our agent (checked against `expected`) and on
/// HashiCorp's (checked against ours).
fn scenario(
    ours: &str,
    theirs: Option<&Hashicorp>,
    name: &str,
    objects: Vec<Value>,
    expected: &[Seen],
) {
    let mine = transcript(ours, &objects);
    assert_eq!(mine, expected, "{name}: our agent");
    if let Some(h) = theirs {
        assert_eq!(
            transcript(&h.rpc, &objects),
            mine,
            "{name}: HashiCorp's agent differs"
        );
    }
}

#[test]
fn rpc_requests_decode_as_hashicorps_agent_decodes_them() {
    let _serial = serial();
    let c = Cluster::start(1, |_| vec![]);
    let h = hashicorp();
    let (ours, theirs) = (c.agents[0].rpc.as_str(), h.as_ref());

    // An empty body map after a command without a body decodes as the next
    // header over the previous one: the command runs again, same seq.
    let mut o = handshake();
    o.extend([header("members", 2), Value::Map(vec![]), header("stats", 3)]);
    scenario(
        ours,
        theirs,
        "empty map after members",
        o,
        &[
            ok(1),
            ok(2),
            Seen::Body,
            ok(2),
            Seen::Body,
            ok(3),
            Seen::Body,
        ],
    );

    // Field names are case-sensitive ("seq" is not "Seq", so Seq keeps 1);
    // unknown fields are skipped whatever they hold.
    let mut o = handshake();
    o.push(map(&[
        ("Command", "stats".into()),
        ("seq", 9.into()),
        (
            "Extra",
            Value::Array(vec![1.into(), map(&[("x", Value::Nil)])]),
        ),
    ]));
    scenario(
        ours,
        theirs,
        "case and unknown fields",
        o,
        &[ok(1), ok(1), Seen::Body],
    );

    // Byte fields take str as well as bin; nil reads as empty.
    let mut o = handshake();
    for (seq, payload) in [
        (5, "v2".into()),
        (6, Value::Binary(b"v3".to_vec())),
        (7, Value::Nil),
    ] {
        o.push(header("event", seq));
        o.push(map(&[
            ("Name", "deploy".into()),
            ("Payload", payload),
            ("Coalesce", false.into()),
        ]));
    }
    scenario(
        ours,
        theirs,
        "byte fields",
        o,
        &[ok(1), ok(5), ok(6), ok(7)],
    );

    // A nil header decodes as the zero header: no command.
    let mut o = handshake();
    o.extend([Value::Nil, header("stats", 3)]);
    scenario(
        ours,
        theirs,
        "nil header",
        o,
        &[ok(1), Seen::Header(0, "Unsupported command".into())],
    );

    // String fields take bin too, where HashiCorp's agent (0.8.2) closes the
    // connection: a superset no client can depend on failing.
    let mut o = handshake();
    o.push(map(&[
        ("Command", Value::Binary(b"stats".to_vec())),
        ("Seq", 5.into()),
    ]));
    o.push(header("members-filtered", 6));
    o.push(map(&[
        ("Status", Value::Binary(b"alive".to_vec())),
        ("Tags", Value::Map(vec![])),
    ]));
    assert_eq!(
        transcript(ours, &o),
        [ok(1), ok(5), Seen::Body, ok(6), Seen::Body]
    );
    if let Some(h) = theirs {
        assert_eq!(
            transcript(&h.rpc, &o),
            [ok(1)],
            "HashiCorp's agent now takes bin strings"
        );
    }

    // A command that does not exist: Serf's error, then the connection closes.
    let mut o = handshake();
    o.extend([header("nope", 4), header("stats", 5)]);
    scenario(
        ours,
        theirs,
        "unsupported command",
        o,
        &[ok(1), Seen::Header(4, "Unsupported command".into())],
    );

    // A value of the wrong type fails the decode: closed without an answer.
    let mut o = handshake();
    o.extend([
        map(&[("Command", "stats".into()), ("Seq", "two".into())]),
        header("stats", 3),
    ]);
    scenario(ours, theirs, "mistyped seq", o, &[ok(1)]);

    // A command before the handshake is refused and the connection closed.
    scenario(
        ours,
        theirs,
        "no handshake",
        vec![header("stats", 1)],
        &[Seen::Header(1, "Handshake required".into())],
    );
}
