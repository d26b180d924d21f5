//! Any sequence of memberlist packets (raw bytes or well-formed messages),
//! stream messages (raw, or a push-pull of arbitrary node states), time
//! steps and commands into one node on HashiCorp's wire. After every step
//! the node's invariants hold (`Node::audit`); every packet it writes reads
//! back as memberlist packets without an error; every state it writes for a
//! stream is one complete stream message (`message_len` agrees) whose node
//! states all read.
#![no_main]

use std::net::SocketAddr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_core::query::QueryParams;
use serf_core::wire::hashicorp::serf::{encode_serf, encode_user_state, Clocks, SerfMessage};
use serf_core::wire::hashicorp::feed::StreamFeed;
use serf_core::wire::hashicorp::stream::{
    encode_header, encode_node, message_len, read_push_pull, sealed, Header, NodeState,
};
use serf_core::wire::hashicorp::{
    encode_compound, encode_message, read_packet, Accusation, Alive, HcMessage, Ping,
};
use serf_core::{Config, Identity, Instant, Node, StreamReply, StreamSide, Wire};
use serf_runtime_std::id::NodeId;

/// Names the fuzzer picks from (index 0 is the node itself).
const NAMES: [&[u8]; 6] = [b"me", b"a", b"b", b"c", b"d", b"e"];

fn name(i: u8) -> &'static [u8] {
    NAMES[i as usize % NAMES.len()]
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1 + i % 8], 7946))
}

/// One memberlist message with fields the fuzzer picks.
#[derive(Arbitrary, Debug)]
enum Part<'a> {
    Ping { seq: u32, node: u8 },
    Ack { seq: u32, payload: &'a [u8] },
    Nack { seq: u32 },
    Alive { node: u8, inc: u32, meta: &'a [u8], vsn: &'a [u8] },
    Suspect { node: u8, from: u8, inc: u32 },
    Dead { node: u8, from: u8, inc: u32 },
    Intent { node: u8, ltime: u64, leave: bool },
    Event { ltime: u64, name: &'a [u8], payload: &'a [u8] },
    User { bytes: &'a [u8] },
    /// `_serf_conflict` about a name, asked by another.
    Conflict { from: u8, about: u8, ltime: u64, id: u32 },
    /// A response (or ack) another asks us to forward.
    Relay { to: u8, from: u8, ltime: u64, id: u32, flags: u8, payload: &'a [u8] },
    /// A response whose payload reads as a conflict answer, or nearly.
    Answer { from: u8, ltime: u64, id: u32, payload: &'a [u8] },
}

#[derive(Arbitrary, Debug)]
struct PeerState {
    node: u8,
    inc: u32,
    state: u8,
}

#[derive(Arbitrary, Debug)]
enum Step<'a> {
    Raw { from: u8, bytes: &'a [u8] },
    Packet { from: u8, parts: Vec<Part<'a>> },
    RawStream { accepted: bool, piece: u8, bytes: &'a [u8] },
    PushPull { accepted: bool, piece: u8, join: bool, states: Vec<PeerState>, ltime: u64 },
    Advance { ms: u16 },
    Join { to: u8 },
    Leave,
    Event { name: &'a str, payload: &'a [u8] },
    Query { name: &'a str, payload: &'a [u8] },
}

fn part(p: &Part<'_>, buf: &mut [u8]) -> Option<usize> {
    let ip = [127, 0, 0, 1];
    let m = match *p {
        Part::Ping { seq, node } => HcMessage::Ping(Ping {
            seq,
            node: name(node),
            ..Ping::default()
        }),
        Part::Ack { seq, payload } => HcMessage::Ack { seq, payload },
        Part::Nack { seq } => HcMessage::Nack { seq },
        Part::Alive { node, inc, meta, vsn } => HcMessage::Alive(Alive {
            incarnation: inc,
            node: name(node),
            addr: &ip,
            port: 7946,
            meta,
            vsn,
        }),
        Part::Suspect { node, from, inc } => HcMessage::Suspect(Accusation {
            incarnation: inc,
            node: name(node),
            from: name(from),
        }),
        Part::Dead { node, from, inc } => HcMessage::Dead(Accusation {
            incarnation: inc,
            node: name(node),
            from: name(from),
        }),
        Part::Intent { node, ltime, leave } => {
            let i = serf_core::wire::hashicorp::serf::Intent {
                ltime,
                node: name(node),
                prune: false,
            };
            let s = if leave { SerfMessage::Leave(i) } else { SerfMessage::Join(i) };
            let mut body = [0u8; 512];
            let n = encode_serf(&s, &mut body).ok()?;
            return encode_message(&HcMessage::User(&body[..n]), buf).ok();
        }
        Part::Event { ltime, name, payload } => {
            let e = SerfMessage::UserEvent(serf_core::wire::hashicorp::serf::UserEvent {
                ltime,
                name,
                payload: Some(payload),
                cc: false,
            });
            let mut body = [0u8; 2048];
            let n = encode_serf(&e, &mut body).ok()?;
            return encode_message(&HcMessage::User(&body[..n]), buf).ok();
        }
        Part::User { bytes } => HcMessage::User(bytes),
        Part::Conflict { from, about, ltime, id } => {
            let q = SerfMessage::Query(serf_core::wire::hashicorp::serf::Query {
                ltime,
                id,
                addr: &ip,
                port: 7946,
                source_node: name(from),
                filters: &[0xc0],
                timeout_ns: 1_000_000_000,
                name: b"_serf_conflict",
                payload: Some(name(about)),
                ..Default::default()
            });
            return user(&q, buf);
        }
        Part::Relay { to, from, ltime, id, flags, payload } => {
            let r = SerfMessage::QueryResponse(response(from, ltime, id, flags, payload));
            let mut inner = [0u8; 2048];
            let n = encode_serf(&r, &mut inner).ok()?;
            let dest = addr(to);
            let ip = match dest.ip() {
                std::net::IpAddr::V4(v4) => v4.octets(),
                std::net::IpAddr::V6(_) => return None,
            };
            let relay = SerfMessage::Relay(serf_core::wire::hashicorp::relay::Relay {
                addr: &ip,
                port: dest.port(),
                name: name(to),
                inner: &inner[..n],
            });
            return user(&relay, buf);
        }
        Part::Answer { from, ltime, id, payload } => {
            let mut body = vec![6u8];
            body.extend_from_slice(payload);
            let r = SerfMessage::QueryResponse(response(from, ltime, id, 0, &body));
            return user(&r, buf);
        }
    };
    encode_message(&m, buf).ok()
}

fn response<'a>(
    from: u8,
    ltime: u64,
    id: u32,
    flags: u8,
    payload: &'a [u8],
) -> serf_core::wire::hashicorp::serf::QueryResponse<'a> {
    serf_core::wire::hashicorp::serf::QueryResponse {
        ltime,
        id,
        from: name(from),
        flags: u32::from(flags),
        payload: Some(payload),
    }
}

/// A Serf message as a memberlist user message.
fn user(m: &SerfMessage<'_>, buf: &mut [u8]) -> Option<usize> {
    let mut body = [0u8; 4096];
    let n = encode_serf(m, &mut body).ok()?;
    encode_message(&HcMessage::User(&body[..n]), buf).ok()
}

fn push_pull(states: &[PeerState], join: bool, ltime: u64) -> Vec<u8> {
    let mut body = vec![0u8; 64 + states.len() * 128];
    let ip = [127, 0, 0, 1];
    let vsn = [1, 5, 2, 2, 5, 5];
    let mut at = 0;
    for s in states {
        let ns = NodeState {
            name: name(s.node),
            addr: &ip,
            port: 7946,
            meta: &[],
            incarnation: s.inc,
            state: s.state % 4,
            vsn: &vsn,
        };
        at += encode_node(&ns, &mut body[at..]).expect("room for a state");
    }
    let clocks = Clocks {
        ltime,
        event_ltime: ltime,
        query_ltime: ltime,
    };
    let statuses = || states.iter().map(|s| (name(s.node), ltime, s.state % 4 == 3));
    // An event per state: the merge delivers Serf's event buffer too.
    let events = || {
        states
            .iter()
            .map(|s| (u64::from(s.inc), name(s.node), &b"payload"[..]))
    };
    let mut user = vec![0u8; 256 + states.len() * 128];
    let u = encode_user_state(&clocks, statuses, events, &mut user).expect("room for the clocks");
    let header = Header {
        nodes: states.len() as u32,
        user_state_len: u as u32,
        join,
    };
    let mut out = vec![0u8; 64];
    let h = encode_header(&header, &mut out).expect("a header fits");
    out.truncate(h);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(&user[..u]);
    out
}

type Fuzzed = Node<NodeId, Heap, SimRng>;

/// A stream message into the node; if it answers with its state, that
/// state is one whole stream message.
/// A stream message read whole (`piece` 0) or fed `piece` bytes at a time,
/// as the runtimes read a plain one.
fn stream(node: &mut Fuzzed, now: Instant, accepted: bool, piece: u8, message: &[u8]) {
    let side = if accepted {
        StreamSide::Accepted
    } else {
        StreamSide::Opened {
            join: false,
            replay: false,
        }
    };
    let mut reply = [0u8; 1024];
    let r = if piece > 0 && sealed(message) == Some(false) {
        let mut feed = Box::new(StreamFeed::new());
        let mut marks = vec![0u8; node.stream_marks_len()];
        let mut last = Ok(None);
        for p in message.chunks(usize::from(piece)) {
            last = node.feed_stream(now, addr(1), side, &mut feed, &mut marks, p, &mut reply);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        match last {
            Ok(Some(r)) => Ok(r),
            Ok(None) => return, // the message goes on past the input
            Err(e) => Err(e),
        }
    } else {
        let mut scratch = vec![0u8; node.stream_scratch_len(message.len())];
        node.handle_stream(now, addr(1), side, message, &mut scratch, &mut reply)
    };
    if let Ok(StreamReply::State { join }) = r {
        let mut out = vec![0u8; node.stream_state_len()];
        let n = node.write_stream_state(join, &mut out).expect("room");
        assert_eq!(message_len(&out[..n]), Ok(Some(n)));
    }
}

/// Everything the node wrote: packets must read cleanly, stream states
/// must be whole messages.
fn drain(node: &mut Fuzzed) {
    let mut buf = [0u8; 1400];
    let mut scratch = vec![0u8; 16 * 1400];
    while let Some(t) = node.poll_transmit(&mut buf) {
        let frame = read_packet(&buf[..t.len], &mut scratch, |_, m| {
            assert!(m.is_ok(), "the node wrote an unreadable message: {m:?}");
        });
        assert!(frame.is_ok(), "the node wrote an unreadable packet: {frame:?}");
    }
    while let Some(open) = node.poll_stream() {
        let mut out = vec![0u8; node.stream_state_len()];
        let n = node
            .write_stream_state(open.join, &mut out)
            .expect("the state fits the length the node asked for");
        assert_eq!(message_len(&out[..n]), Ok(Some(n)));
        let mut pp = read_push_pull(&out[..n]).expect("a push-pull");
        assert!(pp.by_ref().all(|s| s.is_ok()));
        assert!(matches!(pp.user_state(), Some(Ok(_))));
    }
    let mut delivery = vec![0u8; 64 * 1024];
    while node.poll_delivery(&mut delivery).is_some() {}
    while node.poll_event().is_some() {}
}

fuzz_target!(|steps: Vec<Step<'_>>| {
    let mut config = Config::lan().with_members(6);
    config.wire = Wire::HashiCorp;
    let me = NodeId::new("me", addr(0)).expect("a short name");
    let mut node = Fuzzed::new(me, config.clone(), buffers(&config), SimRng::new(1), Instant::ZERO)
        .expect("a node");
    let mut now = Instant::ZERO;
    for step in steps.iter().take(64) {
        match step {
            Step::Raw { from, bytes } => {
                let _ = node.handle_datagram(now, addr(*from), bytes);
            }
            Step::Packet { from, parts } => {
                let mut encoded = Vec::new();
                for p in parts.iter().take(16) {
                    let mut buf = [0u8; 2048];
                    if let Some(n) = part(p, &mut buf) {
                        encoded.push(buf[..n].to_vec());
                    }
                }
                let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
                let mut packet = vec![0u8; 64 * 1024];
                let n = match slices.len() {
                    0 => continue,
                    1 => {
                        packet[..slices[0].len()].copy_from_slice(slices[0]);
                        slices[0].len()
                    }
                    _ => encode_compound(&slices, &mut packet).unwrap_or(0),
                };
                let _ = node.handle_datagram(now, addr(*from), &packet[..n]);
            }
            Step::RawStream { accepted, piece, bytes } => {
                stream(&mut node, now, *accepted, *piece, bytes)
            }
            Step::PushPull {
                accepted,
                piece,
                join,
                states,
                ltime,
            } => {
                let message = push_pull(&states[..states.len().min(12)], *join, *ltime);
                stream(&mut node, now, *accepted, *piece, &message);
            }
            Step::Advance { ms } => {
                now = now + std::time::Duration::from_millis(u64::from(*ms));
                node.handle_timeout(now);
            }
            Step::Join { to } => node.join(now, addr(*to)),
            Step::Leave => node.leave(now),
            Step::Event { name, payload } => {
                let _ = node.user_event(name, payload, false);
            }
            Step::Query { name, payload } => {
                let _ = node.query(now, name, payload, &QueryParams::default());
            }
        }
        drain(&mut node);
        if let Err(v) = node.audit() {
            panic!("invariant broken after {step:?}: {v:?}");
        }
        assert!(node.members().all(|(id, _, _)| id.hashicorp().is_some()));
    }
});
