//! Round trips and typed errors of the native codec.

use super::*;

#[test]
fn state_exchange_is_told_from_the_first_tag() {
    let mut buf = [0u8; 128];
    let mut enc = Encoder::new(&mut buf).unwrap();
    enc.push::<u32>(&Message::PushPull {
        session: 1,
        flags: 0,
        event_ltime: 9,
        first: 0,
        end: 4,
    });
    let n = enc.len();
    assert!(starts_state_exchange(&buf[..n]));
    let mut enc = Encoder::new(&mut buf).unwrap();
    enc.push::<u32>(&Message::State {
        node: 3,
        incarnation: 1,
        state: wire_state::ALIVE,
        meta: &[],
        protocol: 5,
    });
    let n = enc.len();
    assert!(starts_state_exchange(&buf[..n]));
    let mut enc = Encoder::new(&mut buf).unwrap();
    enc.push::<u32>(&Message::Differ {
        session: 1,
        buckets: 1 << 100,
    });
    let n = enc.len();
    assert!(starts_state_exchange(&buf[..n]));
    let mut big = [0u8; 1100];
    let mut enc = Encoder::new(&mut big).unwrap();
    let sums = [7u8; digest::SUMS_LEN];
    assert!(enc.push::<u32>(&Message::Digest {
        session: 1,
        sums: &sums
    }));
    let n = enc.len();
    assert!(starts_state_exchange(&big[..n]));
    let mut enc = Encoder::new(&mut buf).unwrap();
    enc.push::<u32>(&Message::Ack {
        seq: 1,
        coord: None,
    });
    let n = enc.len();
    assert!(!starts_state_exchange(&buf[..n]));
    assert!(!starts_state_exchange(&[]));
}

#[test]
fn every_message_kind_round_trips() {
    let mut cbuf = [0u8; COORD_MAX];
    let coord = CoordBytes::encode(&Coordinate::default(), &mut cbuf).unwrap();
    assert_eq!(coord.decode(), Some(Coordinate::default()));
    let sums = [3u8; digest::SUMS_LEN];
    let msgs: [Message<'_, u32>; 18] = [
        Message::Ping { seq: 1, target: 2 },
        Message::IndirectPing {
            seq: 3,
            target: 4,
            nack: true,
        },
        Message::Ack {
            seq: u32::MAX,
            coord: Some(coord),
        },
        Message::Nack { seq: 0 },
        Message::Alive {
            incarnation: 7,
            node: 8,
            meta: b"\x01\x04role\x03web",
            protocol: 5,
        },
        Message::Suspect {
            incarnation: 9,
            node: 10,
            from: 11,
        },
        Message::Dead {
            incarnation: 12,
            node: 13,
            from: 13,
        },
        Message::PushPull {
            session: 14,
            flags: 3,
            event_ltime: 1 << 33,
            first: 40,
            end: u32::MAX,
        },
        Message::State {
            node: 15,
            incarnation: 16,
            state: 4,
            meta: b"",
            protocol: 3,
        },
        Message::User(b"hello"),
        Message::Event {
            ltime: 1 << 40,
            name: "deploy",
            payload: b"v2",
            coalesce: true,
        },
        Message::Query {
            ltime: 9,
            id: 77,
            from: 3,
            flags: 1,
            relay_factor: 2,
            timeout_ms: 3200,
            nodes: &[1, 5],
            tags: &[],
            name: "load",
            payload: b"",
        },
        Message::QueryResponse {
            ltime: 9,
            id: 77,
            from: 4,
            flags: 0,
            index: 2,
            total: 3,
            total_len: 3000,
            offset: 2000,
            payload: b"0.42",
        },
        Message::Relay {
            dest: 3,
            inner: &[9, 9],
        },
        Message::Intent {
            ltime: 5,
            node: 6,
            leave: true,
            prune: false,
        },
        Message::Resend {
            session: 14,
            first: 7,
            end: 90,
        },
        Message::Digest {
            session: 15,
            sums: &sums,
        },
        Message::Differ {
            session: 15,
            buckets: u128::MAX - 6,
        },
    ];
    let mut buf = [0u8; 1400];
    let mut enc = Encoder::new(&mut buf).unwrap();
    for m in &msgs {
        assert!(enc.push(m));
    }
    let n = enc.len();
    let got = Decoder::<u32>::new(&buf[..n], 1400).unwrap();
    for (a, b) in got.zip(msgs.iter()) {
        assert_eq!(&a.unwrap(), b);
    }
}

#[test]
fn bad_envelopes_are_typed_errors() {
    assert_eq!(
        Decoder::<u32>::new(&[], 1400).err(),
        Some(DecodeError::Empty)
    );
    assert_eq!(
        Decoder::<u32>::new(&[9, 1], 1400).err(),
        Some(DecodeError::Version(9))
    );
    assert_eq!(
        Decoder::<u32>::new(&[1; 20], 10).err(),
        Some(DecodeError::Oversized(20))
    );
    let mut d = Decoder::<u32>::new(&[1, 200], 1400).unwrap();
    assert_eq!(d.next(), Some(Err(DecodeError::Malformed)));
    assert_eq!(d.next(), None);
}

#[test]
fn encoder_refuses_what_does_not_fit() {
    let mut buf = [0u8; 4];
    let mut enc = Encoder::new(&mut buf).unwrap();
    assert!(!enc.push(&Message::<u32>::User(b"too long for four bytes")));
    assert!(enc.is_empty());
}

#[test]
fn a_header_filled_in_after_its_states_closes_the_gap() {
    let mut buf = [0u8; 128];
    let mut enc = Encoder::new(&mut buf).unwrap();
    let hole = enc.hole(32).unwrap();
    let state = Message::State {
        node: 5u32,
        incarnation: 1,
        state: wire_state::ALIVE,
        meta: &[],
        protocol: 5,
    };
    assert!(enc.push(&state));
    let header: Message<'_, u32> = Message::PushPull {
        session: 3,
        flags: push_pull_flags::LAST,
        event_ltime: 2,
        first: 0,
        end: 1,
    };
    assert!(enc.fill(hole, &header));
    let n = enc.len();
    let got = Decoder::<u32>::new(&buf[..n], 1400).unwrap();
    assert!(got.eq([Ok(header), Ok(state)]));
}

#[test]
fn a_header_longer_than_its_hole_is_refused_and_the_hole_removed() {
    let widest: Message<'_, u32> = Message::PushPull {
        session: u32::MAX,
        flags: u8::MAX,
        event_ltime: u64::MAX,
        first: u32::MAX,
        end: u32::MAX,
    };
    assert_eq!(
        message_len(&widest),
        27,
        "the tag and every field at its widest"
    );
    let mut buf = [0u8; 64];
    let mut enc = Encoder::new(&mut buf).unwrap();
    let hole = enc.hole(4).unwrap();
    assert!(!enc.fill(hole, &widest), "too long for a 4-byte hole");
    assert!(enc.is_empty(), "the hole is removed");
}

/// Both readers on the same bytes: equal messages and equal remainders, or
/// both refusing.
fn readers_agree<'a, I>(bytes: &'a [u8]) -> bool
where
    I: Deserialize<'a> + PartialEq + core::fmt::Debug,
{
    let Some(hand) = gossip::take::<I>(bytes) else {
        return true; // not a gossip message: postcard alone reads it
    };
    let derived = postcard::take_from_bytes::<Message<'a, I>>(bytes).map_err(|_| ());
    assert_eq!(hand, derived, "on {bytes:02x?}");
    true
}

#[test]
fn gossip_variant_numbers_are_the_enums_declaration_order() {
    let mut buf = [0u8; 64];
    for (m, tag) in [
        (
            Message::Alive {
                incarnation: 1,
                node: 2u32,
                meta: &[],
                protocol: 5,
            },
            gossip::ALIVE,
        ),
        (
            Message::Suspect {
                incarnation: 1,
                node: 2,
                from: 3,
            },
            gossip::SUSPECT,
        ),
        (
            Message::Dead {
                incarnation: 1,
                node: 2,
                from: 3,
            },
            gossip::DEAD,
        ),
    ] {
        let mut enc = Encoder::new(&mut buf).unwrap();
        assert!(enc.push::<u32>(&m));
        assert_eq!(buf[1], tag, "{m:?}");
    }
}

#[test]
fn hand_read_gossip_matches_postcard_on_whole_cut_and_damaged_messages() {
    extern crate std;
    use std::{vec, vec::Vec};
    let meta = [0xAAu8; 300];
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for inc in [0u32, 127, 128, 16_383, 16_384, u32::MAX] {
        for node in [0u32, 200, u32::MAX] {
            for len in [0usize, 1, 127, 128, 300] {
                let msgs = [
                    Message::Alive {
                        incarnation: inc,
                        node,
                        meta: &meta[..len],
                        protocol: 5,
                    },
                    Message::Suspect {
                        incarnation: inc,
                        node,
                        from: 7,
                    },
                    Message::Dead {
                        incarnation: inc,
                        node,
                        from: node,
                    },
                ];
                for m in msgs {
                    let mut buf = [0u8; 400];
                    let mut enc = Encoder::new(&mut buf).unwrap();
                    assert!(enc.push::<u32>(&m));
                    let n = enc.len();
                    samples.push(buf[1..n].to_vec());
                }
            }
        }
    }
    // Overlong and overflowing varints, and a length past the end.
    samples.push(vec![gossip::ALIVE, 0x80, 0x00, 3, 0, 5]);
    samples.push(vec![gossip::ALIVE, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 3, 0, 5]);
    samples.push(vec![gossip::ALIVE, 0xFF, 0xFF, 0xFF, 0xFF, 0x10, 3, 0, 5]);
    samples.push(vec![gossip::ALIVE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    // A meta length of ten varint bytes: the tenth may hold one bit, not two.
    for last in [0x01u8, 0x02] {
        let mut s = vec![gossip::ALIVE, 1, 3];
        s.extend([0xFF; 9]);
        s.extend([last, 5]);
        samples.push(s);
    }
    samples.push(vec![gossip::SUSPECT, 1, 2]);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for s in &samples {
        for cut in 0..=s.len() {
            assert!(readers_agree::<u32>(&s[..cut]));
            assert!(readers_agree::<&str>(&s[..cut]));
        }
        for _ in 0..64 {
            let mut d = s.clone();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % d.len();
            d[at] ^= (x >> 32) as u8 | 1;
            assert!(readers_agree::<u32>(&d));
            assert!(readers_agree::<&str>(&d));
        }
    }
}
