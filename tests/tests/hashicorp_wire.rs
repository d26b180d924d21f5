//! The node on HashiCorp's wire (`Config::wire = Wire::HashiCorp`): packets
//! HashiCorp's agents sent (captured by `scripts/capture-hashicorp.py`) teach
//! it the cluster, and nodes of ours speaking memberlist's format probe,
//! gossip, carry events and queries and detect a crash among themselves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serf_core::query::QueryParams;
use serf_core::wire::hashicorp::serf::{decode_coordinate, decode_serf, SerfMessage};
use serf_core::wire::hashicorp::{encode_message, read_packet, HcMessage, Ping};
use serf_core::{Config, Delivery, EventKind, Instant, Key, Keyring, State};
use serf_runtime_std::id::NodeId;
use serf_tests::hcnet::{hc_alive, hc_id, hc_node, HcNet, HcTestNode};
use serf_tests::MTU;

fn packets_of(capture: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = capture;
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b]));
        out.push(&tail[..n]);
        rest = &tail[n..];
    }
    out
}

const PLAIN: &[u8] = include_bytes!("../../core/testdata/hashicorp/plain.bin");
const KEYED: &[u8] = include_bytes!("../../core/testdata/hashicorp/keyed.bin");

fn cluster_key() -> Keyring {
    let bytes: Vec<u8> = (0..32).collect();
    let mut ring = Keyring::default();
    ring.install(Key::new(&bytes).unwrap()).unwrap();
    ring
}

/// A node of ours beside the captured agents (hc0..hc2 on 127.0.0.61..63).
fn beside_the_capture(keyring: Keyring) -> HcTestNode {
    let mut config = Config::lan().with_members(16);
    config.keyring = keyring;
    let me = NodeId::new("ours", "127.0.0.64:7946".parse().unwrap()).unwrap();
    hc_node(me, &config, 7)
}

/// A member as the node sees it: address, state, `role` tag.
type Seen = (SocketAddr, State, String);

/// What a node learned from a capture.
struct Fed {
    members: BTreeMap<String, Seen>,
    events: Vec<String>,
    queries: Vec<String>,
}

/// Feeds every captured packet (from hc0's address, a millisecond apart).
fn feed(node: &mut HcTestNode, capture: &[u8]) -> Fed {
    let from: SocketAddr = "127.0.0.61:7946".parse().unwrap();
    let (mut events, mut queries) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    for (i, p) in packets_of(capture).into_iter().enumerate() {
        let now = Instant::ZERO + Duration::from_millis(i as u64);
        let _ = node.handle_datagram(now, from, p);
        while let Some(d) = node.poll_delivery(&mut buf) {
            match d {
                Delivery::Event { name, payload, .. } => {
                    events.push(format!("{name}={}", String::from_utf8_lossy(payload)))
                }
                Delivery::Query { name, .. } => queries.push(name.to_string()),
                _ => {}
            }
        }
        while node.poll_transmit(&mut buf).is_some() {}
    }
    let ids: Vec<_> = node.members().map(|(id, s, _)| (id.clone(), s)).collect();
    let members = ids
        .into_iter()
        .map(|(id, state)| {
            let role = node
                .tags_of(&id)
                .and_then(|t| t.get("role").map(str::to_string))
                .unwrap_or_default();
            (id.name().to_string(), (id.addr(), state, role))
        })
        .collect();
    Fed {
        members,
        events,
        queries,
    }
}

#[test]
fn captured_hashicorp_packets_teach_a_node_the_members_their_tags_the_event_and_the_query() {
    let mut node = beside_the_capture(Keyring::default());
    let Fed {
        members,
        events,
        queries,
    } = feed(&mut node, PLAIN);
    for i in 0..3 {
        let (addr, _, role) = &members[&format!("hc{i}")];
        assert_eq!(*addr, format!("127.0.0.6{}:7946", i + 1).parse().unwrap());
        assert_eq!(*role, format!("r{i}"), "Serf's tags became ours");
    }
    // The capture ends with every agent leaving.
    assert_eq!(members["hc2"].1, State::Left);
    assert_eq!(events, ["deploy=v1"], "the event, once");
    assert_eq!(queries, ["load"]);
    let s = node.stats();
    assert_eq!(s.decode_errors, 0, "{s:?}");
}

#[test]
fn captured_encrypted_packets_open_with_the_cluster_key_and_a_wrong_key_learns_nothing() {
    let mut node = beside_the_capture(cluster_key());
    let Fed {
        members, events, ..
    } = feed(&mut node, KEYED);
    assert!((0..3).all(|i| members.contains_key(&format!("hc{i}"))));
    assert_eq!(events, ["deploy=v1"]);
    assert_eq!(node.stats().frames_rejected, 0);

    let mut wrong = Keyring::default();
    wrong.install(Key::new(&[9u8; 32]).unwrap()).unwrap();
    let mut stranger = beside_the_capture(wrong);
    let Fed {
        members, events, ..
    } = feed(&mut stranger, KEYED);
    assert_eq!(members.len(), 1, "only itself");
    assert!(events.is_empty());
    assert_eq!(
        stranger.stats().frames_rejected,
        packets_of(KEYED).len() as u64
    );
    // And a plaintext node refuses nothing it can read, but reads nothing.
    let mut plain = beside_the_capture(Keyring::default());
    let members = feed(&mut plain, KEYED).members;
    assert_eq!(members.len(), 1);
}

#[test]
fn a_hashicorp_ping_is_acked_with_serfs_coordinate() {
    let mut node = hc_node(hc_id(0), &Config::local().with_members(8), 3);
    let ping = HcMessage::Ping(Ping {
        seq: 77,
        node: b"n0",
        ..Ping::default()
    });
    let mut buf = [0u8; MTU];
    let n = encode_message(&ping, &mut buf).unwrap();
    let from = hc_id(1).addr();
    node.handle_datagram(Instant::ZERO, from, &buf[..n])
        .unwrap();
    let mut out = [0u8; MTU];
    let t = node.poll_transmit(&mut out).expect("an ack");
    assert_eq!(t.to, from);
    let mut scratch = vec![0u8; 16 * 1024];
    let mut acked = None;
    read_packet(&out[..t.len], &mut scratch, |_, m| {
        if let Ok(HcMessage::Ack { seq, payload }) = m {
            acked = Some((seq, decode_coordinate(payload)));
        }
    })
    .unwrap();
    let (seq, coord) = acked.expect("the packet holds an ack");
    assert_eq!(seq, 77);
    assert_eq!(coord.unwrap().dims, 8, "Serf's 8-dimensional coordinate");
}

#[test]
fn nodes_on_hashicorps_wire_gossip_events_answer_filtered_queries_and_detect_a_crash() {
    let config = Config::local().with_members(16);
    let mut net = HcNet::new(4, &config);
    net.run(Duration::from_secs(3));
    for i in 0..4 {
        let n = net.node(i);
        let alive = n.members().filter(|(_, s, _)| *s == State::Alive).count();
        assert_eq!(alive, 4, "n{i} sees everyone alive");
        assert_eq!(n.stats().decode_errors, 0, "n{i}: {:?}", n.stats());
    }
    // Tags travel in Serf's encoding.
    let now = net.now;
    let mut meta = [0u8; 64];
    let len = serf_core::wire::tags::encode(&[("role", "web")], &mut meta).unwrap();
    net.node(2).set_meta(now, &meta[..len]).unwrap();
    net.run(Duration::from_secs(2));
    let web = hc_id(2);
    assert_eq!(
        net.node(0).tags_of(&web).and_then(|t| t.get("role")),
        Some("web")
    );

    net.node(1).user_event("deploy", b"v2", false).unwrap();
    net.run(Duration::from_secs(2));
    for i in 0..4 {
        assert_eq!(
            net.delivered[i].events,
            [("deploy".to_string(), b"v2".to_vec())],
            "n{i}"
        );
    }

    let params = QueryParams::<NodeId> {
        tags: &[("role", "^web$")],
        ..QueryParams::default()
    };
    let now = net.now;
    net.node(0).query(now, "load", b"", &params).unwrap();
    net.run(Duration::from_secs(3));
    let asked: Vec<_> = (0..4)
        .filter(|&i| !net.delivered[i].queries.is_empty())
        .collect();
    assert_eq!(
        asked,
        [2],
        "only the member with role=web is handed the query"
    );
    assert_eq!(
        net.delivered[0].responses,
        [("n2".to_string(), b"n2:load".to_vec())]
    );

    net.nodes[3] = None;
    net.run(Duration::from_secs(20));
    for i in 0..3 {
        let state = net
            .node(i)
            .members()
            .find(|(id, _, _)| id.name() == "n3")
            .map(|m| m.1);
        assert_eq!(state, Some(State::Dead), "n{i} saw the crash");
    }
    let s = net.node(0).stats();
    eprintln!("{} datagrams; n0 {s:?}", net.datagrams);
    assert!(net.datagrams > 0);
}

#[test]
fn a_response_over_one_packet_is_refused_on_hashicorps_wire_and_said_why() {
    let mut config = Config::local().with_members(8);
    config.query_response_size_limit = 65_536;
    let mut net = HcNet::new(2, &config);
    net.run(Duration::from_secs(2));
    let now = net.now;
    net.node(0)
        .query(now, "big", b"", &QueryParams::<NodeId>::default())
        .unwrap();
    net.run(Duration::from_secs(3));
    // Serf would send it as one oversized datagram; we do not chunk on its
    // wire, so the answer is refused with its reason, never cut or lost.
    assert_eq!(
        net.delivered[1].refused,
        [serf_core::query::QueryError::ResponseOverPacket]
    );
    assert_eq!(net.node(1).stats().responses_too_large, 1);
    assert!(net.delivered[0]
        .responses
        .iter()
        .all(|(from, _)| from != "n1"));
}

#[test]
fn responses_relayed_on_hashicorps_wire_reach_the_asker_once_through_other_members() {
    let config = Config::local().with_members(8);
    let mut net = HcNet::new(5, &config);
    net.run(Duration::from_secs(2));
    let params = QueryParams::<NodeId> {
        relay_factor: 2,
        ..QueryParams::default()
    };
    let now = net.now;
    net.node(0).query(now, "load", b"", &params).unwrap();
    net.run(Duration::from_secs(3));
    let mut from: Vec<_> = net.delivered[0]
        .responses
        .iter()
        .map(|(who, _)| who.clone())
        .collect();
    from.sort();
    assert_eq!(from, ["n0", "n1", "n2", "n3", "n4"], "each answer once");
    // Every responder but the asker sent two relayed copies of its ack and
    // its response; the relayers forwarded them in Serf's format, and the
    // asker counted the copies as duplicates.
    let forwarded: u64 = (0..5).map(|i| net.node(i).stats().relays_forwarded).sum();
    assert!(forwarded >= 16, "{forwarded} forwarded");
    let s = net.node(0).stats();
    assert!(s.response_duplicates >= 8, "{s:?}");
    for i in 0..5 {
        let s = net.node(i).stats();
        assert_eq!(
            (
                s.decode_errors,
                s.hashicorp_untranslated,
                s.hashicorp_overflow
            ),
            (0, 0, 0),
            "n{i}: {s:?}"
        );
    }
}

#[test]
fn a_relay_hashicorp_sent_is_forwarded_to_the_asker_as_its_response() {
    const INTERNAL: &[u8] = include_bytes!("../../core/testdata/hashicorp/internal.bin");
    // A node of ours in the relaying agents' place: hc0..hc2 are taught by
    // the capture, and every relay is forwarded to the asker, hc1.
    let mut node = beside_the_capture(Keyring::default());
    let from: SocketAddr = "127.0.0.61:7946".parse().unwrap();
    let hc1: SocketAddr = "127.0.0.62:7946".parse().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut to_hc1 = 0;
    for (i, p) in packets_of(INTERNAL).into_iter().enumerate() {
        let now = Instant::ZERO + Duration::from_millis(i as u64);
        let _ = node.handle_datagram(now, from, p);
        while let Some(t) = node.poll_transmit(&mut buf) {
            let mut response = false;
            let mut inflate = vec![0u8; 64 * 1024];
            read_packet(&buf[..t.len], &mut inflate, |_, m| {
                // Another's response (ours acks the query too).
                if let Ok(HcMessage::User(bytes)) = m {
                    response |= matches!(decode_serf(bytes),
                        Ok(SerfMessage::QueryResponse(r)) if r.from != b"ours");
                }
            })
            .unwrap();
            to_hc1 += usize::from(t.to == hc1 && response);
        }
    }
    let s = node.stats();
    assert!(s.relays_forwarded > 0, "{s:?}");
    assert_eq!(to_hc1 as u64, s.relays_forwarded, "{s:?}");
    assert_eq!(s.decode_errors, 0, "{s:?}");
}

#[test]
fn a_second_member_claiming_a_name_on_hashicorps_wire_loses_to_the_majority() {
    let config = Config::local().with_members(8);
    let mut net = HcNet::new(4, &config);
    net.run(Duration::from_secs(2));
    // Another "n1", at another address, told of everyone (n1 included);
    // its alive reaches n1 too (nobody else passes a conflicting alive on).
    let impostor = NodeId::new("n1", "127.0.0.1:7100".parse().unwrap()).unwrap();
    let late = net.add(impostor.clone(), &config, &[0, 1, 2, 3]);
    let now = net.now;
    net.node(1)
        .handle_datagram(now, impostor.addr(), &hc_alive(&impostor, 1))
        .unwrap();
    net.run(Duration::from_secs(8));
    // The others answered with their record of n1 (Serf's member record):
    // all hold the first one, so the impostor yields and n1 keeps its name.
    let saw = |net: &HcNet, i: usize, kind: EventKind| {
        net.delivered[i].members.iter().any(|(k, _)| *k == kind)
    };
    assert!(
        saw(&net, late, EventKind::ConflictLost),
        "{:?}",
        net.delivered[late].members
    );
    assert!(net.node(late).conflict_lost());
    assert!(
        saw(&net, 1, EventKind::ConflictWon),
        "{:?}",
        net.delivered[1].members
    );
    assert!(!net.node(1).conflict_lost());
    for i in [0, 2, 3] {
        let n1 = net
            .node(i)
            .members()
            .find(|(id, _, _)| id.name() == "n1")
            .map(|m| m.0.addr());
        assert_eq!(n1, Some(hc_id(1).addr()), "n{i} kept the first n1");
    }
}

/// A peer's stream into `node`, fed piece by piece as the runtime feeds one.
struct Incoming {
    feed: Box<serf_core::wire::hashicorp::feed::StreamFeed>,
    marks: Vec<u8>,
    reply: [u8; 1024],
}

impl Incoming {
    fn to(node: &HcTestNode) -> Incoming {
        Incoming {
            feed: Box::new(serf_core::wire::hashicorp::feed::StreamFeed::new()),
            marks: vec![0u8; node.stream_marks_len()],
            reply: [0u8; 1024],
        }
    }

    /// Feeds `pieces` from member 1; what the last one returned.
    fn feed(
        &mut self,
        node: &mut HcTestNode,
        pieces: &[&[u8]],
    ) -> Result<Option<serf_core::StreamReply>, serf_core::wire::DecodeError> {
        let mut last = Ok(None);
        for p in pieces {
            last = node.feed_stream(
                Instant::ZERO,
                hc_id(1).addr(),
                serf_core::StreamSide::Accepted,
                &mut self.feed,
                &mut self.marks,
                p,
                &mut self.reply,
            );
        }
        last
    }
}

#[test]
fn a_large_push_pull_is_merged_member_by_member_as_its_pieces_arrive() {
    use serf_core::wire::hashicorp::feed::StreamFeed;
    use serf_core::wire::hashicorp::serf::{encode_user_state, Clocks};
    use serf_core::wire::hashicorp::stream::{encode_header, encode_node, Header, NodeState};
    use serf_core::StreamReply;
    let n = 2000usize;
    let names: Vec<String> = (0..n).map(|i| format!("peer-{i}")).collect();
    let mut user = vec![0u8; 1 << 20];
    let statuses = || names.iter().map(|s| (s.as_bytes(), 1u64, false));
    let none = || std::iter::empty::<(u64, &[u8], &[u8])>();
    let user_len = encode_user_state(&Clocks::default(), statuses, none, &mut user).unwrap();
    let mut message = vec![0u8; 1 << 21];
    let header = Header {
        nodes: n as u32,
        user_state_len: user_len as u32,
        join: false,
    };
    let mut at = encode_header(&header, &mut message).unwrap();
    for (i, name) in names.iter().enumerate() {
        let s = NodeState {
            name: name.as_bytes(),
            addr: &[10, 1, (i / 250) as u8, (i % 250) as u8 + 1],
            port: 7946,
            meta: &[0xff, 0x80],
            incarnation: 1,
            state: 0,
            vsn: &[1, 5, 2, 2, 5, 5],
        };
        at += encode_node(&s, &mut message[at..]).unwrap();
    }
    message[at..at + user_len].copy_from_slice(&user[..user_len]);
    let message = &message[..at + user_len];

    let mut node = hc_node(hc_id(0), &Config::lan().with_members(4096), 3);
    let mut stream = Incoming::to(&node);
    let pieces: Vec<&[u8]> = message.chunks(1400).collect();
    let half = pieces.len() / 2;
    for p in &pieces[..half] {
        assert_eq!(stream.feed(&mut node, &[p]), Ok(None));
    }
    // Half the message read: about half the members are merged already;
    // the reader holds one value at most, whatever the message's size.
    let known = node.members().count();
    assert!(known > n / 3 && known < n, "{known} known half way");
    assert!(std::mem::size_of::<StreamFeed>() < 32 * 1024);
    let last = stream.feed(&mut node, &pieces[half..]);
    assert_eq!(last, Ok(Some(StreamReply::State { join: false })));
    assert_eq!(node.members().count(), n + 1);
    assert_eq!(node.stats().decode_errors, 0);
    eprintln!(
        "{} bytes in {} pieces; the reader holds {} bytes",
        message.len(),
        pieces.len(),
        std::mem::size_of::<StreamFeed>()
    );
}

#[test]
fn a_serf_message_sent_over_a_stream_is_taken_as_if_it_came_in_a_packet() {
    use serf_core::wire::hashicorp::serf::{encode_serf, UserEvent};
    use serf_core::StreamReply;
    let event = SerfMessage::UserEvent(UserEvent {
        ltime: 5,
        name: b"deploy",
        payload: Some(b"v3"),
        cc: false,
    });
    let mut body = [0u8; 256];
    let n = encode_serf(&event, &mut body).unwrap();
    // memberlist's stream user message: type, {UserMsgLen}, the bytes.
    let mut message = vec![8u8, 0x81, 0xaa];
    message.extend_from_slice(b"UserMsgLen");
    message.push(n as u8);
    message.extend_from_slice(&body[..n]);
    let mut node = hc_node(hc_id(0), &Config::local().with_members(8), 5);
    let pieces: Vec<&[u8]> = message.chunks(3).collect();
    let last = Incoming::to(&node).feed(&mut node, &pieces);
    assert_eq!(last, Ok(Some(StreamReply::Close)));
    let mut buf = vec![0u8; 4096];
    let mut events = Vec::new();
    while let Some(d) = node.poll_delivery(&mut buf) {
        if let Delivery::Event { name, payload, .. } = d {
            events.push(format!("{name}={}", String::from_utf8_lossy(payload)));
        }
    }
    assert_eq!(events, ["deploy=v3"]);
}

/// Runs `node` for `d` from `from` in 5 ms steps; the packets it wrote to `to`.
fn packets_to(node: &mut HcTestNode, to: SocketAddr, from: Instant, d: Duration) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; MTU];
    let mut now = from;
    while now < from + d {
        now = now + Duration::from_millis(5);
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        while let Some(t) = node.poll_transmit(&mut buf) {
            if t.to == to {
                out.push(buf[..t.len].to_vec());
            }
        }
    }
    out
}

/// The user events `node` delivers now, as `name=payload`.
fn delivered_events(node: &mut HcTestNode) -> Vec<String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut events = Vec::new();
    while let Some(d) = node.poll_delivery(&mut buf) {
        if let Delivery::Event { name, payload, .. } = d {
            events.push(format!("{name}={}", String::from_utf8_lossy(payload)));
        }
    }
    events
}

#[test]
fn a_plain_join_ignores_events_gossiped_before_its_seeds_answer_and_delivers_new_ones_after() {
    let config = Config::lan().with_members(8);
    let (seed_addr, joiner_addr) = (hc_id(0).addr(), hc_id(1).addr());
    let mut seed = hc_node(hc_id(0), &config, 1);
    let mut joiner = hc_node(hc_id(1), &config, 2);
    seed.user_event("deploy", b"one", false).unwrap();
    // The seed merged the joiner's state (it reads the stream before it
    // answers) and gossips the event to it while the answer is on its way.
    let now = Instant::ZERO + Duration::from_secs(1);
    seed.handle_datagram(now, joiner_addr, &hc_alive(&hc_id(1), 1))
        .unwrap();
    let early = packets_to(&mut seed, joiner_addr, now, Duration::from_secs(1));
    assert!(!early.is_empty(), "the seed gossips to the joiner");
    joiner.join(now, seed_addr);
    let open = joiner.poll_stream().expect("the join opens a stream");
    assert!(open.join && !open.replay);
    for p in &early {
        let _ = joiner.handle_datagram(now, seed_addr, p);
    }
    assert_eq!(
        delivered_events(&mut joiner),
        Vec::<String>::new(),
        "gossip outran the answer"
    );
    let ignored = joiner.stats().events_ignored_joining;
    assert!(ignored >= 1, "counted: {:?}", joiner.stats());

    // The seed's answer carries its event clock: "one" is history now.
    let mut state = vec![0u8; seed.stream_state_len()];
    let n = seed.write_stream_state(true, &mut state).unwrap();
    let mut scratch = vec![0u8; joiner.stream_scratch_len(n)];
    let mut reply = [0u8; 1024];
    let side = serf_core::StreamSide::Opened {
        join: true,
        replay: false,
    };
    joiner
        .handle_stream(now, seed_addr, side, &state[..n], &mut scratch, &mut reply)
        .unwrap();
    assert!(joiner
        .members()
        .any(|(id, s, _)| id.addr() == seed_addr && s.is_live()));
    for p in &early {
        let _ = joiner.handle_datagram(now, seed_addr, p);
    }
    assert_eq!(delivered_events(&mut joiner), Vec::<String>::new());
    assert_eq!(joiner.stats().events_ignored_joining, ignored);
    assert!(joiner.stats().events_too_old >= 1, "{:?}", joiner.stats());

    // An event fired after the join reaches the joiner.
    seed.user_event("deploy", b"two", false).unwrap();
    let later = packets_to(
        &mut seed,
        joiner_addr,
        now + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    for p in &later {
        let _ = joiner.handle_datagram(now + Duration::from_secs(2), seed_addr, p);
    }
    assert_eq!(delivered_events(&mut joiner), ["deploy=two"]);
}

#[test]
fn a_join_whose_seed_never_answers_stops_ignoring_events_after_memberlists_tcp_timeout() {
    let config = Config::lan().with_members(8);
    let mut member = hc_node(hc_id(0), &config, 1);
    let mut joiner = hc_node(hc_id(1), &config, 2);
    member.user_event("deploy", b"one", false).unwrap();
    member
        .handle_datagram(Instant::ZERO, hc_id(1).addr(), &hc_alive(&hc_id(1), 1))
        .unwrap();
    let gossip = packets_to(
        &mut member,
        hc_id(1).addr(),
        Instant::ZERO,
        Duration::from_secs(1),
    );
    // A seed that is down: the stream is opened and never answered.
    joiner.join(Instant::ZERO, hc_id(5).addr());
    assert!(joiner.poll_stream().is_some());
    let deliver_at = |joiner: &mut HcTestNode, secs: u64| {
        for p in &gossip {
            let at = Instant::ZERO + Duration::from_secs(secs);
            let _ = joiner.handle_datagram(at, hc_id(0).addr(), p);
        }
        delivered_events(joiner)
    };
    assert_eq!(deliver_at(&mut joiner, 9), Vec::<String>::new());
    assert_eq!(deliver_at(&mut joiner, 11), ["deploy=one"]);
}

#[test]
fn a_member_already_in_a_cluster_that_joins_another_seed_still_delivers_what_is_gossiped_meanwhile()
{
    let config = Config::lan().with_members(8);
    let mut member = hc_node(hc_id(0), &config, 1);
    let mut node = hc_node(hc_id(1), &config, 2);
    // The two already know each other.
    node.handle_datagram(Instant::ZERO, hc_id(0).addr(), &hc_alive(&hc_id(0), 1))
        .unwrap();
    member
        .handle_datagram(Instant::ZERO, hc_id(1).addr(), &hc_alive(&hc_id(1), 1))
        .unwrap();
    delivered_events(&mut node);
    member.user_event("deploy", b"one", false).unwrap();
    let gossip = packets_to(
        &mut member,
        hc_id(1).addr(),
        Instant::ZERO,
        Duration::from_secs(1),
    );
    // It joins another seed, which has not answered yet.
    node.join(Instant::ZERO, hc_id(5).addr());
    assert!(node.poll_stream().is_some());
    for p in &gossip {
        let _ = node.handle_datagram(Instant::from_millis(500), hc_id(0).addr(), p);
    }
    assert_eq!(delivered_events(&mut node), ["deploy=one"]);
    assert_eq!(node.stats().events_ignored_joining, 0);
}
