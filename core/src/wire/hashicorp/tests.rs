//! The codec against gossip captured from three HashiCorp Serf agents
//! (`scripts/capture-hashicorp.py`: join, an event, a query, a graceful
//! leave): every packet reads, every message decodes, and every message we
//! re-encode is byte for byte what HashiCorp's agent sent.

extern crate std;
use super::*;
use std::vec;
use std::vec::Vec;

const PLAIN: &[u8] = include_bytes!("../../../testdata/hashicorp/plain.bin");
/// The same session with `-encrypt` set to the key of bytes 0..32
/// (`AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=`).
/// Each direction of the session's TCP push-pulls (the joins), plain and
/// encrypted.
const STREAMS: &[u8] = include_bytes!("../../../testdata/hashicorp/plain-streams.bin");
const KEYED_STREAMS: &[u8] = include_bytes!("../../../testdata/hashicorp/keyed-streams.bin");
const KEYED: &[u8] = include_bytes!("../../../testdata/hashicorp/keyed.bin");
/// A query relayed by two members, then a second `hc0` whose name conflict
/// the others are asked about (`capture-hashicorp.py --internal`).
const INTERNAL: &[u8] = include_bytes!("../../../testdata/hashicorp/internal.bin");

fn tag<'a>(key: &'a [u8], value: &'a [u8]) -> serf::Tag<'a> {
    serf::Tag { key, value }
}

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

#[derive(Debug)]
struct AliveSeen {
    node: Vec<u8>,
    addr: Vec<u8>,
    port: u16,
    meta: Vec<u8>,
    vsn: Vec<u8>,
}

#[derive(Default, Debug)]
struct Seen {
    pings: usize,
    acks: usize,
    alive: Vec<AliveSeen>,
    leaves: Vec<Vec<u8>>,
    user: usize,
    compressed: usize,
    crc: usize,
    messages: usize,
}

#[test]
fn every_captured_packet_reads_and_every_message_re_encodes_to_the_same_bytes() {
    let mut seen = Seen::default();
    let mut scratch = vec![0u8; 65536];
    let all = packets_of(PLAIN);
    assert!(all.len() > 100, "{} packets", all.len());
    for p in &all {
        let frame = read_packet(p, &mut scratch, |bytes, m| {
            let m = m.unwrap_or_else(|e| panic!("{e:?} in {bytes:02x?}"));
            seen.messages += 1;
            let mut buf = [0u8; 1500];
            let n = encode_message(&m, &mut buf).unwrap();
            assert_eq!(&buf[..n], bytes, "{m:?}");
            match m {
                HcMessage::Ping(_) => seen.pings += 1,
                HcMessage::Ack { .. } => seen.acks += 1,
                HcMessage::Alive(a) => seen.alive.push(AliveSeen {
                    node: a.node.to_vec(),
                    addr: a.addr.to_vec(),
                    port: a.port,
                    meta: a.meta.to_vec(),
                    vsn: a.vsn.to_vec(),
                }),
                HcMessage::Dead(d) if d.node == d.from => seen.leaves.push(d.node.to_vec()),
                HcMessage::User(_) => seen.user += 1,
                _ => {}
            }
        })
        .unwrap_or_else(|e| panic!("{e:?} in {p:02x?}"));
        assert!(frame.label.is_empty());
        seen.compressed += usize::from(frame.compressed);
        seen.crc += usize::from(frame.crc);
    }
    assert!(seen.pings > 10 && seen.acks > 10, "{seen:?}");
    assert!(seen.compressed > 0 && seen.crc > 0, "{seen:?}");
    assert!(seen.user > 0, "Serf's own messages ride in user messages");
    for (i, host) in [[127, 0, 0, 61], [127, 0, 0, 62], [127, 0, 0, 63]]
        .iter()
        .enumerate()
    {
        let name = std::format!("hc{i}").into_bytes();
        let AliveSeen {
            addr,
            port,
            meta,
            vsn,
            ..
        } = seen
            .alive
            .iter()
            .find(|a| a.node == name)
            .unwrap_or_else(|| panic!("an alive message for hc{i}: {:?}", seen.alive));
        assert_eq!((&addr[..], *port), (&host[..], 7946));
        // Serf's tags: 0xff, then a msgpack map holding role=r<i>.
        let role = std::format!("r{i}").into_bytes();
        let pairs: Vec<_> = serf::tags(meta).unwrap().map(Result::unwrap).collect();
        assert_eq!(pairs, [tag(b"role", &role)]);
        let mut buf = [0u8; 64];
        let n = serf::encode_tags(&pairs, &mut buf).unwrap();
        assert_eq!(&buf[..n], &meta[..], "one tag: no map order to differ in");
        // memberlist protocol 1..5 (current 2), Serf delegate 2..5 (current 5).
        assert_eq!(&vsn[..], &[1, 5, 2, 2, 5, 5]);
    }
    assert!(
        seen.leaves.iter().any(|n| n == b"hc2"),
        "hc2 left: {:?}",
        seen.leaves
    );
}

#[test]
fn a_crc_header_is_checked_and_written_as_memberlist_does() {
    let all = packets_of(PLAIN);
    let p = all
        .iter()
        .find(|p| p[0] == kind::HAS_CRC)
        .expect("a packet with a CRC");
    let mut buf = [0u8; 1600];
    let inner = &p[5..];
    buf[..inner.len()].copy_from_slice(inner);
    let n = add_crc(&mut buf, inner.len()).unwrap();
    assert_eq!(&buf[..n], *p);
    let mut bad = p.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut scratch = [0u8; 4096];
    assert_eq!(
        read_packet(&bad, &mut scratch, |_, _| {}),
        Err(HcError::Crc)
    );
}

#[test]
fn compounds_labels_and_bad_packets() {
    let mut a = [0u8; 64];
    let na = encode_message(&HcMessage::Nack { seq: 9 }, &mut a).unwrap();
    let mut b = [0u8; 64];
    let nb = encode_message(&HcMessage::User(b"\x03x"), &mut b).unwrap();
    let mut pkt = [0u8; 256];
    pkt[..4].copy_from_slice(&[kind::HAS_LABEL, 3, b'l', b'b']);
    pkt[4] = b'l';
    let n = encode_compound(&[&a[..na], &b[..nb]], &mut pkt[5..]).unwrap();
    let mut got = Vec::new();
    let mut scratch = [0u8; 64];
    let frame = read_packet(&pkt[..5 + n], &mut scratch, |_, m| {
        got.push(std::format!("{m:?}"))
    })
    .unwrap();
    assert_eq!(frame.label, b"lbl");
    assert_eq!(got, ["Ok(Nack { seq: 9 })", "Ok(User([3, 120]))"]);

    // A truncated tail part is reported and the parts before it kept.
    let mut got = 0;
    let short = &pkt[5..5 + n - 1];
    read_packet(short, &mut scratch, |_, m| got += usize::from(m.is_ok())).unwrap();
    assert_eq!(got, 1);
    let framing = [
        (&[kind::HAS_LABEL, 9, 1][..], HcError::Truncated),
        (&[kind::HAS_CRC, 1][..], HcError::Truncated),
        (&[kind::COMPRESS, 0x80][..], HcError::Compress),
    ];
    for (bad, why) in framing {
        assert_eq!(read_packet(bad, &mut scratch, |_, _| {}), Err(why));
    }
    let mut empty = None;
    read_packet(&[], &mut scratch, |_, m| empty = Some(m.err())).unwrap();
    assert_eq!(empty, Some(Some(HcError::Truncated)));
    assert_eq!(
        decode_message(&[kind::PUSH_PULL]),
        Err(HcError::Kind(kind::PUSH_PULL))
    );
    assert_eq!(
        decode_message(&[kind::PING, 0x81, 0xa5]),
        Err(HcError::Truncated)
    );
}

#[test]
fn every_encrypted_packet_hashicorp_sent_opens_with_the_cluster_key_and_reads() {
    use crate::wire::crypto::{Key, Keyring};
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let mut ring = Keyring::default();
    ring.install(Key::new(&[7u8; 32]).unwrap()).unwrap();
    ring.install(Key::new(&key).unwrap()).unwrap();
    let (mut plain, mut scratch) = (vec![0u8; 65536], vec![0u8; 65536]);
    let (mut packets, mut messages, mut alive) = (0, 0, 0);
    for p in packets_of(KEYED) {
        let n = security::open_packet(p, &mut plain, b"", &ring).unwrap();
        read_packet(&plain[..n], &mut scratch, |bytes, m| {
            let m = m.unwrap_or_else(|e| panic!("{e:?} in {bytes:02x?}"));
            let mut buf = [0u8; 1500];
            let len = encode_message(&m, &mut buf).unwrap();
            assert_eq!(&buf[..len], bytes);
            messages += 1;
            alive += usize::from(matches!(m, HcMessage::Alive(_)));
        })
        .unwrap();
        packets += 1;
        // And we seal what we read so that it opens the same way.
        let mut sealed = vec![0u8; n + 64];
        sealed[security::HEADER..security::HEADER + n].copy_from_slice(&plain[..n]);
        let len =
            security::seal_packet(&mut sealed, n, b"", &Key::new(&key).unwrap(), [3; 12]).unwrap();
        let mut again = vec![0u8; n];
        assert_eq!(
            security::open_packet(&sealed[..len], &mut again, b"", &ring),
            Ok(n)
        );
        assert_eq!(again, plain[..n]);
    }
    assert!(
        packets > 100 && messages > packets && alive >= 3,
        "{packets} {messages} {alive}"
    );
    let wrong = {
        let mut r = Keyring::default();
        r.install(Key::new(&[7u8; 32]).unwrap()).unwrap();
        r
    };
    let first = packets_of(KEYED)[0];
    assert_eq!(
        security::open_packet(first, &mut plain, b"", &wrong),
        Err(HcError::Decrypt)
    );
}

/// Every user message of the plain captures given.
fn plain_serf_messages(captures: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut scratch = vec![0u8; 65536];
    let mut out = Vec::new();
    for p in captures.iter().flat_map(|c| packets_of(c)) {
        read_packet(p, &mut scratch, |_, m| {
            if let Ok(HcMessage::User(bytes)) = m {
                out.push(bytes.to_vec());
            }
        })
        .unwrap();
    }
    out
}

#[test]
fn relays_and_conflict_answers_hashicorp_sent_read_and_re_encode_byte_for_byte() {
    use serf::{decode_serf, encode_serf, SerfMessage};
    let (mut relays, mut answers, mut nobody) = (0, 0, 0);
    for bytes in plain_serf_messages(&[INTERNAL]) {
        let m = decode_serf(&bytes).unwrap_or_else(|e| panic!("{e:?} in {bytes:02x?}"));
        let mut buf = [0u8; 1500];
        let n = encode_serf(&m, &mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..], "{m:?}");
        match m {
            SerfMessage::Relay(r) => {
                // hc1 asked; the inner message is a response or ack to it.
                assert_eq!((r.name, r.port), (&b"hc1"[..], 7946), "{r:?}");
                assert!(r.addr.ends_with(&[127, 0, 0, 62]), "{r:?}");
                let inner = decode_serf(r.inner).unwrap();
                assert!(matches!(inner, SerfMessage::QueryResponse(_)), "{inner:?}");
                relays += 1;
            }
            SerfMessage::QueryResponse(q) if q.payload.is_some_and(|p| p.first() == Some(&6)) => {
                let p = q.payload.unwrap_or_default();
                match conflict::decode_conflict_answer(p).unwrap() {
                    Some(held) => {
                        assert_eq!(held.name, b"hc0");
                        assert!(held.addr.ends_with(&[127, 0, 0, 61]), "{held:?}");
                        assert_eq!(held.status, conflict::status::ALIVE);
                        let mut again = [0u8; 512];
                        let n = conflict::encode_conflict_answer(Some(&held), &mut again).unwrap();
                        assert_eq!(&again[..n], p, "{held:?}");
                        answers += 1;
                    }
                    None => nobody += 1,
                }
            }
            _ => {}
        }
    }
    assert!(
        relays > 0 && answers > 0,
        "{relays} relays, {answers} answers, {nobody} nil"
    );
}

/// Every user message of both captures.
fn serf_messages() -> Vec<Vec<u8>> {
    use crate::wire::crypto::{Key, Keyring};
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let mut ring = Keyring::default();
    ring.install(Key::new(&key).unwrap()).unwrap();
    let (mut plain, mut scratch) = (vec![0u8; 65536], vec![0u8; 65536]);
    let mut out = Vec::new();
    let mut collect = |packet: &[u8], scratch: &mut [u8]| {
        read_packet(packet, scratch, |_, m| {
            if let Ok(HcMessage::User(bytes)) = m {
                out.push(bytes.to_vec());
            }
        })
        .unwrap();
    };
    for p in packets_of(PLAIN) {
        collect(p, &mut scratch);
    }
    for p in packets_of(KEYED) {
        let n = security::open_packet(p, &mut plain, b"", &ring).unwrap();
        collect(&plain[..n], &mut scratch);
    }
    out
}

#[test]
fn serfs_own_messages_decode_and_re_encode_to_the_bytes_hashicorp_sent() {
    use serf::{decode_serf, encode_serf, SerfMessage};
    let all = serf_messages();
    let (mut events, mut queries, mut responses, mut joins) = (0, 0, 0, 0);
    let mut leaves = Vec::new();
    for bytes in &all {
        let m = decode_serf(bytes).unwrap_or_else(|e| panic!("{e:?} in {bytes:02x?}"));
        let mut buf = [0u8; 1500];
        let n = encode_serf(&m, &mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..], "{m:?}");
        match m {
            SerfMessage::UserEvent(e) => {
                assert_eq!(
                    (e.name, e.payload, e.cc),
                    (&b"deploy"[..], Some(&b"v1"[..]), true)
                );
                events += 1;
            }
            SerfMessage::Query(q) => {
                assert_eq!((q.name, q.payload), (&b"load"[..], Some(&b"x"[..])));
                assert_eq!(
                    (q.port, q.timeout_ns, q.filters),
                    (7946, 2_000_000_000, &[0xc0][..])
                );
                queries += 1;
            }
            SerfMessage::QueryResponse(_) => responses += 1,
            SerfMessage::Join(_) => joins += 1,
            SerfMessage::Leave(l) => {
                assert!(!l.prune);
                leaves.push(l.node.to_vec());
            }
            SerfMessage::Relay(_) => panic!("no relays were asked for: {m:?}"),
        }
    }
    assert!(
        events > 0 && queries > 0 && responses > 0 && joins > 0,
        "{events} {queries} {responses} {joins}"
    );
    // hc2 left first; the others as the capture ended.
    assert!(leaves.iter().any(|n| n == b"hc2"), "{leaves:?}");
}

#[test]
fn tags_without_the_magic_byte_are_a_bare_role_and_bad_maps_end_the_pairs() {
    let pairs: Vec<_> = serf::tags(b"web").unwrap().collect();
    assert_eq!(pairs, [Ok(tag(b"role", b"web"))]);
    let mut buf = [0u8; 64];
    let both = [tag(b"dc", b"east"), tag(b"role", b"db")];
    let n = serf::encode_tags(&both, &mut buf).unwrap();
    let pairs: Vec<_> = serf::tags(&buf[..n]).unwrap().map(Result::unwrap).collect();
    assert_eq!(pairs, both);
    let cut: Vec<_> = serf::tags(&buf[..n - 2]).unwrap().collect();
    assert_eq!(cut.len(), 2);
    assert_eq!(cut[1], Err(HcError::Truncated));
    assert!(serf::tags(&[0xff, 0x91]).is_err());
}

#[test]
fn acks_carry_serfs_coordinate_and_it_re_encodes_to_the_same_bytes() {
    let mut scratch = vec![0u8; 65536];
    let mut coords = 0;
    for p in packets_of(PLAIN) {
        read_packet(p, &mut scratch, |_, m| {
            if let Ok(HcMessage::Ack { payload, .. }) = m {
                let c = serf::decode_coordinate(payload).unwrap();
                assert_eq!(c.dims, 8);
                assert!(c.error > 0.0 && c.error <= 1.5 && c.height >= 1e-5, "{c:?}");
                let mut buf = [0u8; 200];
                let n = serf::encode_coordinate(&c, &mut buf).unwrap();
                assert_eq!(&buf[..n], payload);
                coords += 1;
            }
        })
        .unwrap();
    }
    assert!(coords > 10, "{coords}");
    assert!(serf::decode_coordinate(&[2, 0x80]).is_err());
    assert!(serf::decode_coordinate(&[1, 0x81, 0xa3, b'V', b'e', b'c', 0x99]).is_err());
}

/// Each record of a streams capture.
fn streams_of(capture: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = capture;
    while let [a, b, c, d, tail @ ..] = rest {
        let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
        let (s, after) = tail.split_at(n);
        out.push(s);
        rest = after;
    }
    out
}

/// Reads one push-pull message node by node, checks it, and re-encodes it
/// whole: it must come out as HashiCorp's bytes. Returns its join flag.
fn check_push_pull(message: &[u8], everyone: &mut Vec<Vec<u8>>) -> bool {
    use stream::{encode_header, encode_node, node_state, read_push_pull};
    let mut pp = read_push_pull(message).unwrap();
    let header = pp.header;
    let mut again = vec![0u8; message.len() + 64];
    let mut at = encode_header(&header, &mut again).unwrap();
    let mut names = Vec::new();
    for node in pp.by_ref() {
        let node = node.unwrap();
        assert_eq!(node.state, node_state::ALIVE);
        assert_eq!((node.port, node.vsn.len()), (7946, 6));
        names.push(node.name.to_vec());
        at += encode_node(&node, &mut again[at..]).unwrap();
    }
    assert_eq!(names.len(), header.nodes as usize);
    everyone.extend(names);
    let user = pp.user_state().unwrap().unwrap();
    assert_eq!(user.len(), header.user_state_len as usize);
    // Serf's push-pull message: clocks, status times, left members.
    let state = serf::decode_push_pull(user).unwrap();
    assert_eq!(
        (state.ltime, state.event_ltime, state.query_ltime),
        (1, 1, 1)
    );
    let times: Vec<_> = state.status_times().map(Result::unwrap).collect();
    assert!(!times.is_empty() && times.iter().all(|(n, _)| n.starts_with(b"hc")));
    assert_eq!(state.left().count(), 0);
    let mut buf = vec![0u8; user.len()];
    let n = serf::encode_push_pull(&state, &mut buf).unwrap();
    assert_eq!(&buf[..n], user);
    again[at..at + user.len()].copy_from_slice(user);
    at += user.len();
    assert_eq!(&again[..at], message, "the whole push-pull, byte for byte");
    header.join
}

#[test]
fn tcp_push_pulls_read_node_by_node_and_re_encode_to_the_same_bytes() {
    use crate::wire::crypto::{Key, Keyring};
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let mut ring = Keyring::default();
    ring.install(Key::new(&key).unwrap()).unwrap();
    let mut wrong = Keyring::default();
    wrong.install(Key::new(&[9u8; 32]).unwrap()).unwrap();
    for (capture, keyed) in [(STREAMS, false), (KEYED_STREAMS, true)] {
        let (mut streams, mut joins, mut everyone) = (0, 0, Vec::new());
        for s in streams_of(capture) {
            let mut opened = vec![0u8; 1 << 16];
            let s = if keyed {
                let n = stream::open_encrypted(s, &mut opened, b"", &ring).unwrap();
                let refused = stream::open_encrypted(s, &mut [0u8; 1024], b"", &wrong);
                assert_eq!(refused, Err(HcError::Decrypt));
                &opened[..n]
            } else {
                s
            };
            let mut scratch = vec![0u8; 1 << 20];
            let message = stream::unwrap(s, &mut scratch).unwrap();
            joins += usize::from(check_push_pull(message, &mut everyone));
            streams += 1;
        }
        assert_eq!(streams, 4, "two joins, each a request and an answer");
        assert_eq!(joins, 4, "a join's answer carries the join flag too");
        for name in [b"hc0", b"hc1", b"hc2"] {
            assert!(everyone.iter().any(|n| n == name), "{everyone:?}");
        }
    }
}

#[test]
fn no_tags_are_serfs_empty_map_and_read_back_as_no_tags() {
    use super::bridge::{tags_to_hashicorp, tags_to_native};
    let mut hc = [0u8; 16];
    let n = tags_to_hashicorp(&[], &mut hc).unwrap();
    // What a HashiCorp agent without tags gossips about itself.
    assert_eq!(&hc[..n], &[0xff, 0x80]);
    let mut native = [0u8; 16];
    assert_eq!(tags_to_native(&hc[..n], &mut native).unwrap(), 0);
    assert_eq!(tags_to_native(&[], &mut native).unwrap(), 0);
}

/// What a stream message holds, described item by item, as the feed reads
/// it in pieces of `piece` bytes.
fn fed(stream: &[u8], piece: usize) -> Vec<std::string::String> {
    use feed::{Item, Progress, StreamFeed};
    use std::format;
    let mut feed = std::boxed::Box::new(StreamFeed::new());
    let mut out = Vec::new();
    let mut progress = Progress::More;
    for p in stream.chunks(piece) {
        assert_eq!(progress, Progress::More, "ended early");
        progress = feed
            .feed(p, &mut |item| {
                out.push(match item {
                    Item::Label(l) => format!("label {l:?}"),
                    Item::Header(h) => format!("header {h:?}"),
                    Item::Node(n) => format!("node {:?} {:?} {}", n.name, n.meta, n.incarnation),
                    Item::Clock(c, v) => format!("clock {c:?} {v}"),
                    Item::Left(n) => format!("left {n:?}"),
                    Item::Status(n, t) => format!("status {n:?} {t}"),
                    Item::Event(t, n, p) => format!("event {t} {n:?} {p:?}"),
                    Item::Message(m) => format!("message {m:?}"),
                });
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(progress, Progress::Done);
    out
}

/// The same, read whole by the message parsers.
fn whole(message: &[u8]) -> Vec<std::string::String> {
    use feed::Clock;
    use std::format;
    let mut pp = stream::read_push_pull(message).unwrap();
    let mut out = vec![
        format!("label {:?}", &b""[..]),
        format!("header {:?}", pp.header),
    ];
    for n in pp.by_ref() {
        let n = n.unwrap();
        out.push(format!("node {:?} {:?} {}", n.name, n.meta, n.incarnation));
    }
    let user = pp.user_state().unwrap().unwrap();
    if user.is_empty() {
        return out;
    }
    let s = serf::decode_push_pull(user).unwrap();
    out.push(format!("clock {:?} {}", Clock::Event, s.event_ltime));
    s.each_event(|t, n, p| out.push(format!("event {t} {n:?} {p:?}")))
        .unwrap();
    out.push(format!("clock {:?} {}", Clock::Member, s.ltime));
    out.extend(s.left().map(|n| format!("left {:?}", n.unwrap())));
    out.push(format!("clock {:?} {}", Clock::Query, s.query_ltime));
    out.extend(s.status_times().map(|r| {
        let (n, t) = r.unwrap();
        format!("status {n:?} {t}")
    }));
    out
}

#[test]
fn compressed_push_pulls_hashicorp_sent_read_the_same_fed_a_byte_at_a_time_or_whole() {
    let internal = include_bytes!("../../../testdata/hashicorp/internal-streams.bin");
    for s in streams_of(STREAMS).into_iter().chain(streams_of(internal)) {
        assert_eq!(s[0], kind::COMPRESS);
        let mut scratch = vec![0u8; 1 << 20];
        let expected = whole(stream::unwrap(s, &mut scratch).unwrap());
        assert!(expected.iter().any(|i| i.starts_with("node")));
        for piece in [1, 2, 7, 64, 4096, s.len()] {
            assert_eq!(fed(s, piece), expected, "in pieces of {piece}");
        }
    }
}

#[test]
fn a_large_push_pull_is_read_entry_by_entry_whatever_the_pieces() {
    use serf::{encode_user_state, Clocks};
    use stream::{encode_header, encode_node, Header, NodeState};
    let names: Vec<Vec<u8>> = (0..3000)
        .map(|i| std::format!("member-{i}").into_bytes())
        .collect();
    let meta = [
        0xff, 0x81, 0xa4, b'r', b'o', b'l', b'e', 0xa3, b'w', b'e', b'b',
    ];
    let statuses = || {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (&n[..], i as u64 + 1, i % 10 == 0))
    };
    let events = || (0..5u64).map(|t| (t + 3, &b"deploy"[..], &b"v2"[..]));
    let clocks = Clocks {
        ltime: 3001,
        event_ltime: 9,
        query_ltime: 4,
    };
    let mut user = vec![0u8; 1 << 20];
    let user_len = encode_user_state(&clocks, statuses, events, &mut user).unwrap();
    let mut message = vec![0u8; 1 << 21];
    let header = Header {
        nodes: names.len() as u32,
        user_state_len: user_len as u32,
        join: true,
    };
    let mut at = encode_header(&header, &mut message).unwrap();
    for (i, n) in names.iter().enumerate() {
        let s = NodeState {
            name: n,
            addr: &[10, 0, (i / 256) as u8, i as u8],
            port: 7946,
            meta: &meta,
            incarnation: i as u32,
            state: 0,
            vsn: &[1, 5, 2, 2, 5, 5],
        };
        at += encode_node(&s, &mut message[at..]).unwrap();
    }
    message[at..at + user_len].copy_from_slice(&user[..user_len]);
    let message = &message[..at + user_len];
    let expected = whole(message);
    assert_eq!(expected.len(), 2 + 3000 + 3 + 5 + 300 + 3000);
    for piece in [1, 3, 100, 1400, 16 * 1024] {
        assert_eq!(fed(message, piece), expected, "in pieces of {piece}");
    }
}

#[test]
fn a_stream_fed_bad_bytes_is_an_error_and_an_encrypted_one_is_read_whole() {
    use feed::StreamFeed;
    let mut ignore = |_: feed::Item<'_>| Ok(());
    let encrypted = [kind::ENCRYPT, 0, 0, 0, 9];
    let e = StreamFeed::new().feed(&encrypted, &mut ignore);
    assert_eq!(e, Err(HcError::Kind(kind::ENCRYPT)));
    // A node state claiming more bytes than any record may hold.
    let mut big = vec![kind::PUSH_PULL, 0x81, 0xa5];
    big.extend_from_slice(b"Nodes");
    big.extend_from_slice(&[1, 0xdb, 0, 1, 0, 0]);
    let mut f = StreamFeed::new();
    let mut last = Ok(feed::Progress::More);
    for p in big
        .chunks(2)
        .chain(core::iter::repeat_n(&[0u8; 512][..], 40))
    {
        last = f.feed(p, &mut ignore);
        if last.is_err() {
            break;
        }
    }
    assert_eq!(last, Err(HcError::TooLarge));
    // A compressed message naming another algorithm.
    let mut other = vec![kind::COMPRESS, 0x82, 0xa4];
    other.extend_from_slice(b"Algo");
    other.push(1);
    assert_eq!(
        StreamFeed::new().feed(&other, &mut ignore),
        Err(HcError::Compress)
    );
}
