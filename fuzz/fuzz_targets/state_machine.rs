//! Any sequence of datagrams (raw bytes, or well-formed messages, sealed
//! with the cluster key or not), time steps and commands into one node with
//! small tables. After every step the node's invariants hold
//! (`Node::audit`: tables within capacity and consistent, its own member
//! alive unless it left, broadcasts below their transmit limits), no
//! member's incarnation goes down while it stays in the table (a member
//! reaped or pruned in a step may come back new), and with a
//! keyring set a datagram that fails to decrypt changes nothing.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_core::query::QueryParams;
use serf_core::wire::crypto::{self, Key, Keyring};
use serf_core::wire::{DecodeError, Encoder, Message};
use serf_core::{Config, EventKind, Instant, Node, State};

const KEY: [u8; 16] = *b"fuzzing-key-0001";
const OTHER_KEY: [u8; 16] = *b"a-stranger-key-1";

#[derive(Arbitrary, Debug)]
enum Step<'a> {
    /// Bytes as they come.
    Raw {
        from: u8,
        bytes: &'a [u8],
    },
    /// Messages encoded as a peer would, sealed with the cluster's key, a
    /// stranger's key, or not at all.
    Messages {
        from: u8,
        messages: Vec<Message<'a, u32>>,
        seal: Seal,
    },
    /// Time passes (up to about 65 s) and the node's timers run.
    Advance {
        ms: u16,
    },
    Join {
        to: u8,
    },
    Leave,
    ForceLeave {
        member: u8,
        prune: bool,
    },
    Event {
        name: &'a str,
        payload: &'a [u8],
        coalesce: bool,
    },
    Query {
        name: &'a str,
        payload: &'a [u8],
        ack: bool,
    },
    Respond {
        id: u32,
        payload: &'a [u8],
    },
    Tags {
        meta: &'a [u8],
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Seal {
    Plain,
    ClusterKey,
    StrangerKey,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    keyed: bool,
    members: u8,
    steps: Vec<Step<'a>>,
}

/// What a datagram that is refused must leave alone.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    members: Vec<(u32, State, u32)>,
    incarnation: u32,
    clocks: serf_core::Clocks,
    pending: usize,
    suspicions: usize,
    leaving: bool,
}

type Fuzzed = Node<u32, Heap, SimRng>;

fn fingerprint(node: &Fuzzed) -> Fingerprint {
    let mut members: Vec<_> = node.members().map(|(id, s, i)| (*id, s, i)).collect();
    members.sort_by_key(|m| m.0);
    Fingerprint {
        members,
        incarnation: node.incarnation(),
        clocks: node.clocks(),
        pending: node.pending_broadcasts(),
        suspicions: node.suspicions(),
        leaving: node.is_leaving(),
    }
}

fn ring(key: &[u8]) -> Keyring {
    let mut r = Keyring::default();
    r.install(Key::new(key).unwrap()).unwrap();
    r
}

/// Encodes `messages` into one datagram, framed as `seal` says.
fn datagram(messages: &[Message<'_, u32>], seal: Seal, nonce: u8, out: &mut [u8; 1400]) -> usize {
    let keyring = match seal {
        Seal::Plain => Keyring::default(),
        Seal::ClusterKey => ring(&KEY),
        Seal::StrangerKey => ring(&OTHER_KEY),
    };
    let head = crypto::header_len(None, &keyring);
    let room = out.len() - head - crypto::trailer_len(&keyring);
    let mut plain = [0u8; 1400];
    let Some(mut enc) = Encoder::new(&mut plain[..room]) else {
        return 0;
    };
    for m in messages {
        enc.push(m);
    }
    let n = enc.len();
    out[head..head + n].copy_from_slice(&plain[..n]);
    crypto::seal(out, n, None, &keyring, [nonce; crypto::NONCE]).unwrap_or(0)
}

fuzz_target!(|input: Input<'_>| {
    let capacity = 2 + input.members as usize % 15;
    let config = Config::lan().with_members(capacity);
    let mut node: Fuzzed = Node::new(
        1,
        config.clone(),
        buffers(&config),
        SimRng::new(1),
        Instant::ZERO,
    )
    .unwrap();
    if input.keyed {
        node.install_key(Key::new(&KEY).unwrap()).unwrap();
    }
    let mut now = 0u64;
    let mut out = [0u8; 1400];
    let mut frame = [0u8; 1400];
    let mut seen: HashMap<u32, u32> = HashMap::new();
    let mut incarnation = node.incarnation();
    for (i, step) in input.steps.into_iter().enumerate() {
        let t = Instant::from_nanos(now);
        let before = input.keyed.then(|| fingerprint(&node));
        let result = match step {
            Step::Raw { from, bytes } => Some(node.handle_datagram(t, from as u32, bytes)),
            Step::Messages {
                from,
                messages,
                seal,
            } => {
                let n = datagram(&messages, seal, i as u8, &mut frame);
                Some(node.handle_datagram(t, from as u32, &frame[..n]))
            }
            Step::Advance { ms } => {
                now += ms as u64 * 1_000_000;
                node.handle_timeout(Instant::from_nanos(now));
                None
            }
            Step::Join { to } => {
                node.join(t, to as u32);
                None
            }
            Step::Leave => {
                node.leave(t);
                None
            }
            Step::ForceLeave { member, prune } => {
                node.force_leave(t, &(member as u32), prune);
                None
            }
            Step::Event {
                name,
                payload,
                coalesce,
            } => {
                let _ = node.user_event(name, payload, coalesce);
                None
            }
            Step::Query { name, payload, ack } => {
                let params = QueryParams {
                    ack,
                    ..QueryParams::default()
                };
                let _ = node.query(t, name, payload, &params);
                None
            }
            Step::Respond { id, payload } => {
                let _ = node.respond(t, id, payload);
                None
            }
            Step::Tags { meta } => {
                let _ = node.set_meta(t, meta);
                None
            }
        };
        if let (Some(before), Some(Err(DecodeError::Frame(_)))) = (&before, &result) {
            assert_eq!(
                before,
                &fingerprint(&node),
                "a datagram that failed its framing changed the node"
            );
        }
        while node.poll_transmit(&mut out).is_some() {}
        // A member removed in this step (reaped, pruned) may come back as a
        // new member with any incarnation: only continuous presence counts.
        let mut removed = Vec::new();
        while let Some(e) = node.poll_event() {
            if e.kind == EventKind::Reaped {
                removed.push(e.member);
            }
        }
        while node.poll_delivery(&mut out).is_some() {}

        if let Err(v) = node.audit() {
            panic!("invariant broken after step {i}: {v:?}");
        }
        assert!(
            node.incarnation() >= incarnation,
            "own incarnation went down"
        );
        incarnation = node.incarnation();
        let mut now_seen = HashMap::new();
        for (id, _, inc) in node.members() {
            if let Some(&was) = seen.get(id).filter(|_| !removed.contains(id)) {
                assert!(inc >= was, "member {id}: incarnation {was} -> {inc}");
            }
            now_seen.insert(*id, inc);
        }
        seen = now_seen;
    }
});
