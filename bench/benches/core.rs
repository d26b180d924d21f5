//! Criterion benchmarks of the core's hot paths.
//!
//! `cargo bench -p serf-bench --bench core`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use serf_bench::heap::{buffers, Heap};
use serf_bench::rng::SimRng;
use serf_bench::sim::tell_alive;
use serf_core::vivaldi::Coordinate;
use serf_core::wire::{CoordBytes, Decoder, Encoder, Message, COORD_MAX};
use serf_core::{Config, Instant, Node};

type BenchNode = Node<u32, Heap, SimRng>;

/// An encoded coordinate for the ack benchmarks.
static COORD: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let mut buf = [0u8; COORD_MAX];
    CoordBytes::encode(&Coordinate::default(), &mut buf)
        .unwrap()
        .0
        .to_vec()
});

fn messages() -> Vec<Message<'static, u32>> {
    vec![
        Message::Ping {
            seq: 123_456,
            target: 40_000,
        },
        Message::IndirectPing {
            seq: 123_456,
            target: 40_000,
            nack: true,
        },
        Message::Ack {
            seq: 123_456,
            coord: Some(CoordBytes(&COORD)),
        },
        Message::Nack { seq: 123_456 },
        Message::Alive {
            incarnation: 17,
            node: 40_000,
            meta: &[],
            protocol: 5,
        },
        Message::Suspect {
            incarnation: 17,
            node: 40_000,
            from: 12,
        },
        Message::Dead {
            incarnation: 17,
            node: 40_000,
            from: 12,
        },
        Message::PushPull {
            session: 99,
            flags: 1,
            event_ltime: 12_345,
            first: 0,
            end: 40,
        },
        Message::State {
            node: 40_000,
            incarnation: 17,
            state: 1,
            meta: &[],
            protocol: 5,
        },
        Message::User(&[0x5a; 128]),
    ]
}

fn codec(c: &mut Criterion) {
    let mut buf = [0u8; 1400];
    for m in messages() {
        c.bench_function(&format!("encode/{}", m.kind()), |b| {
            b.iter(|| {
                let mut enc = Encoder::new(&mut buf).unwrap();
                enc.push(black_box(&m));
                enc.len()
            })
        });
        let mut enc = Encoder::new(&mut buf).unwrap();
        enc.push(&m);
        let n = enc.len();
        let bytes = buf[..n].to_vec();
        c.bench_function(&format!("decode/{}", m.kind()), |b| {
            b.iter(|| {
                let mut d = Decoder::<u32>::new(black_box(&bytes), 1400).unwrap();
                d.next().unwrap().unwrap()
            })
        });
    }
}

/// A push-pull of 2,000 members read whole by the message parsers, and fed
/// to the incremental reader as a socket would hand it over (16 KiB and
/// 1,400-byte pieces); and HashiCorp's captured compressed push-pull both ways.
fn hashicorp_stream(c: &mut Criterion) {
    use serf_core::wire::hashicorp::feed::{Progress, StreamFeed};
    use serf_core::wire::hashicorp::serf::{decode_push_pull, encode_user_state, Clocks};
    use serf_core::wire::hashicorp::stream::{
        encode_header, encode_node, read_push_pull, unwrap, Header, NodeState,
    };
    let names: Vec<String> = (0..2000).map(|i| format!("member-{i}")).collect();
    let statuses = || names.iter().map(|n| (n.as_bytes(), 7u64, false));
    let none = || std::iter::empty::<(u64, &[u8], &[u8])>();
    let mut user = vec![0u8; 1 << 20];
    let user_len = encode_user_state(&Clocks::default(), statuses, none, &mut user).unwrap();
    let mut message = vec![0u8; 1 << 21];
    let header = Header {
        nodes: names.len() as u32,
        user_state_len: user_len as u32,
        join: false,
    };
    let mut at = encode_header(&header, &mut message).unwrap();
    let meta = [
        0xff, 0x81, 0xa4, b'r', b'o', b'l', b'e', 0xa3, b'w', b'e', b'b',
    ];
    for (i, n) in names.iter().enumerate() {
        let s = NodeState {
            name: n.as_bytes(),
            addr: &[10, 0, (i / 256) as u8, i as u8],
            port: 7946,
            meta: &meta,
            incarnation: 3,
            state: 0,
            vsn: &[1, 5, 2, 2, 5, 5],
        };
        at += encode_node(&s, &mut message[at..]).unwrap();
    }
    message[at..at + user_len].copy_from_slice(&user[..user_len]);
    message.truncate(at + user_len);
    println!("hashicorp_stream: {} bytes, 2000 members", message.len());
    let whole = |m: &[u8]| {
        let mut pp = read_push_pull(m).unwrap();
        let mut n = pp.by_ref().filter(|s| s.is_ok()).count();
        let state = decode_push_pull(pp.user_state().unwrap().unwrap()).unwrap();
        n += state.status_times().count();
        n
    };
    let fed = |m: &[u8], piece: usize, feed: &mut StreamFeed| {
        feed.reset();
        let mut n = 0;
        for p in m.chunks(piece) {
            if feed.feed(p, &mut |_| {
                n += 1;
                Ok(())
            }) == Ok(Progress::Done)
            {
                break;
            }
        }
        n
    };
    let mut feed = Box::new(StreamFeed::new());
    c.bench_function("hashicorp_stream/whole/2000", |b| {
        b.iter(|| whole(black_box(&message)))
    });
    for piece in [16 * 1024, 1400] {
        c.bench_function(&format!("hashicorp_stream/fed_{piece}/2000"), |b| {
            b.iter(|| fed(black_box(&message), piece, &mut feed))
        });
    }
    const STREAMS: &[u8] = include_bytes!("../../core/testdata/hashicorp/plain-streams.bin");
    let n = u32::from_be_bytes([STREAMS[0], STREAMS[1], STREAMS[2], STREAMS[3]]) as usize;
    let captured = &STREAMS[4..4 + n];
    let mut scratch = vec![0u8; 1 << 16];
    c.bench_function("hashicorp_stream/whole/captured_compressed", |b| {
        b.iter(|| whole(unwrap(black_box(captured), &mut scratch).unwrap()))
    });
    c.bench_function("hashicorp_stream/fed/captured_compressed", |b| {
        b.iter(|| fed(black_box(captured), captured.len(), &mut feed))
    });
}

/// memberlist messages as HashiCorp's agents sent them (the codec's test
/// capture): one of each kind, decoded and encoded; and a whole compressed
/// packet read (CRC, LZW, compound).
fn hashicorp_codec(c: &mut Criterion) {
    use serf_core::wire::hashicorp::{decode_message, encode_message, kind, read_packet};
    const CAPTURE: &[u8] = include_bytes!("../../core/testdata/hashicorp/plain.bin");
    let mut packets = Vec::new();
    let mut rest = CAPTURE;
    while let [a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b]));
        packets.push(&tail[..n]);
        rest = &tail[n..];
    }
    let mut scratch = vec![0u8; 65536];
    let mut by_kind: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut compressed = None;
    for p in &packets {
        let frame = read_packet(p, &mut scratch, |bytes, m| {
            if m.is_ok() && !by_kind.iter().any(|(k, _)| *k == bytes[0]) {
                by_kind.push((bytes[0], bytes.to_vec()));
            }
        })
        .unwrap();
        if frame.compressed && compressed.is_none() {
            compressed = Some(p.to_vec());
        }
    }
    // No member failed in the capture: a suspicion has a death's body.
    if let Some((_, dead)) = by_kind.iter().find(|(k, _)| *k == kind::DEAD) {
        let mut suspect = dead.clone();
        suspect[0] = kind::SUSPECT;
        by_kind.push((kind::SUSPECT, suspect));
    }
    let name = |k: u8| match k {
        kind::PING => "ping",
        kind::INDIRECT_PING => "indirect_ping",
        kind::ACK => "ack",
        kind::SUSPECT => "suspect",
        kind::ALIVE => "alive",
        kind::DEAD => "dead",
        kind::USER => "user",
        kind::NACK => "nack",
        _ => "other",
    };
    let mut buf = [0u8; 1400];
    for (k, bytes) in &by_kind {
        c.bench_function(&format!("hashicorp_decode/{}", name(*k)), |b| {
            b.iter(|| decode_message(black_box(bytes)).unwrap())
        });
        let m = decode_message(bytes).unwrap();
        c.bench_function(&format!("hashicorp_encode/{}", name(*k)), |b| {
            b.iter(|| encode_message(black_box(&m), &mut buf).unwrap())
        });
    }
    if let Some(p) = compressed {
        println!("hashicorp_decode/compressed_packet: {} bytes", p.len());
        c.bench_function("hashicorp_decode/compressed_packet", |b| {
            b.iter(|| {
                let mut n = 0;
                read_packet(black_box(&p), &mut scratch, |_, m| {
                    n += usize::from(m.is_ok())
                })
                .unwrap();
                n
            })
        });
    }
}

/// A node that knows `n` members (ids 1..=n, itself 0).
fn node_with(n: u32) -> BenchNode {
    let config = Config::lan().with_members(n as usize + 16);
    let mut node = Node::new(
        0,
        config.clone(),
        buffers(&config),
        SimRng::new(3),
        Instant::ZERO,
    )
    .unwrap();
    tell_alive(&mut node, 1..n + 1, 1, |_| 5, 1);
    drain(&mut node);
    assert_eq!(node.counts().alive, n + 1);
    node
}

fn drain(node: &mut BenchNode) {
    let mut out = [0u8; 1400];
    while node.poll_transmit(&mut out).is_some() {}
    while node.poll_event().is_some() {}
}

/// A full 1400-byte gossip packet of alive updates about random known members,
/// each at a new incarnation (so every message is a real state change).
fn update_packet(rng: &mut SimRng, n: u32, incarnation: u32) -> Vec<u8> {
    let mut buf = [0u8; 1400];
    let mut enc = Encoder::new(&mut buf).unwrap();
    loop {
        let id = 1 + rng.below(n as u64) as u32;
        if !enc.push::<u32>(&Message::Alive {
            incarnation,
            node: id,
            meta: &[],
            protocol: 5,
        }) {
            break;
        }
    }
    let len = enc.len();
    buf[..len].to_vec()
}

fn handle_packet(c: &mut Criterion) {
    let mut g = c.benchmark_group("handle_packet");
    for n in [1_000u32, 10_000, 50_000] {
        let mut node = node_with(n);
        let mut rng = SimRng::new(9);
        let mut inc = 2u32;
        let sample = update_packet(&mut rng, n, 1_000_000);
        let per_packet = Decoder::<u32>::new(&sample, 1400).unwrap().count();
        println!("handle_packet/{n}: {per_packet} alive updates per 1400-byte packet");
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched(
                || {
                    inc += 1;
                    update_packet(&mut rng, n, inc)
                },
                |p| {
                    node.handle_datagram(Instant::ZERO, 1, &p).unwrap();
                    while node.poll_event().is_some() {}
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// One full 1400-byte packet of alive updates (each a real state change)
/// handled by a node that knows `n` members: ours and foca's. Both name the
/// same members; foca's encoding is denser, so its packet carries about half
/// as many updates again (both counts are printed).
fn race_packet(c: &mut Criterion) {
    use serf_bench::race::{foca_packet, foca_with, our_packet, Discard};
    let mut g = c.benchmark_group("race_packet");
    for n in [1_000u32, 10_000, 50_000] {
        let mut ours = node_with(n);
        let mut foca = foca_with(n, 3);
        let (mut rng, mut foca_inc, mut our_inc) = (
            SimRng::new(9),
            vec![0u16; n as usize + 1],
            vec![1u32; n as usize + 1],
        );
        let (sample, named) = foca_packet(
            &mut SimRng::new(1),
            n,
            &mut vec![0u16; n as usize + 1],
            1400,
        );
        let ours_holds = Decoder::<u32>::new(
            &our_packet(&named, &mut vec![1u32; n as usize + 1], 1400),
            1400,
        )
        .map_or(0, |d| d.count());
        println!(
            "race_packet/{n}: {} updates in a {}-byte foca packet, {ours_holds} in ours",
            named.len(),
            sample.len()
        );
        g.bench_with_input(BenchmarkId::new("ours", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    let (_, named) = foca_packet(&mut rng, n, &mut foca_inc, 1400);
                    our_packet(&named, &mut our_inc, 1400)
                },
                |p| {
                    ours.handle_datagram(Instant::ZERO, 1, &p).unwrap();
                    while ours.poll_event().is_some() {}
                },
                BatchSize::SmallInput,
            )
        });
        let mut rng = SimRng::new(9);
        let mut foca_inc = vec![0u16; n as usize + 1];
        g.bench_with_input(BenchmarkId::new("foca", n), &n, |b, &n| {
            b.iter_batched(
                || foca_packet(&mut rng, n, &mut foca_inc, 1400).0,
                |p| foca.handle_data(black_box(&p), Discard).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn probe_tick(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe_tick");
    for n in [1_000u32, 10_000, 50_000] {
        let mut node = node_with(n);
        let mut out = [0u8; 1400];
        let mut ack = [0u8; 256];
        let mut now = Instant::ZERO;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                // Advance to the next deadline, run it, send what it produced and
                // answer its ping so that members stay alive.
                now = node.poll_timeout().unwrap().max(now);
                node.handle_timeout(now);
                while let Some(t) = node.poll_transmit(&mut out) {
                    let seq =
                        Decoder::<u32>::new(&out[..t.len], 1400)
                            .ok()
                            .and_then(|mut d| match d.next() {
                                Some(Ok(Message::Ping { seq, .. })) => Some(seq),
                                _ => None,
                            });
                    if let Some(seq) = seq {
                        let mut enc = Encoder::new(&mut ack).unwrap();
                        enc.push::<u32>(&Message::Ack {
                            seq,
                            coord: Some(CoordBytes(&COORD)),
                        });
                        let len = enc.len();
                        let _ = node.handle_datagram(now, t.to, &ack[..len]);
                    }
                }
                while node.poll_event().is_some() {}
            })
        });
        let c = node.counts();
        println!(
            "probe_tick/{n}: after the run {} alive, {} suspect, {} dead",
            c.alive, c.suspect, c.dead
        );
    }
    g.finish();
}

fn vivaldi_update(c: &mut Criterion) {
    use serf_core::vivaldi::{Client, LatencyFilter, VivaldiConfig};
    let cfg = VivaldiConfig::default();
    let mut rng = SimRng::new(5);
    // Peers spread in the space so every update does the full work.
    let peers: Vec<Coordinate> = (0..64)
        .map(|i| {
            let mut p = Coordinate::new(&cfg);
            for (k, x) in p.vec.iter_mut().enumerate() {
                *x = ((i * 7 + k * 3) % 11) as f64 * 0.004;
            }
            p.error = 0.3;
            p
        })
        .collect();
    let mut client = Client::new(cfg);
    let mut filters = vec![LatencyFilter::default(); 64];
    let mut i = 0usize;
    c.bench_function("vivaldi_update", |b| {
        b.iter(|| {
            i = (i + 1) % 64;
            let rtt = 0.010 + (i as f64) * 0.0005;
            client
                .update(black_box(&peers[i]), rtt, &mut filters[i], &mut rng)
                .unwrap();
        })
    });
}

criterion_group!(
    benches,
    codec,
    hashicorp_codec,
    hashicorp_stream,
    handle_packet,
    race_packet,
    probe_tick,
    vivaldi_update
);
criterion_main!(benches);
