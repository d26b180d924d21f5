//! Any byte string read as a HashiCorp memberlist packet and as a push-pull
//! stream (and, inside its user messages, acks and alive metas, as Serf's
//! messages, coordinates and tags): a typed error or messages, never a
//! panic; and every message that decodes encodes again to bytes that decode
//! to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_core::wire::hashicorp::serf::{
    decode_coordinate, decode_push_pull, decode_serf, encode_coordinate, encode_push_pull,
    encode_serf, tags,
};
use serf_core::wire::hashicorp::stream::{open_encrypted, read_push_pull, unwrap};
use serf_core::wire::{Key, Keyring};
use serf_core::wire::hashicorp::{decode_message, encode_message, read_packet, HcMessage};

fuzz_target!(|data: &[u8]| {
    // The same bytes as an encrypted stream (no key opens forged bytes, but
    // the framing must be refused cleanly).
    let mut ring = Keyring::default();
    ring.install(Key::new(&[7u8; 32]).expect("a 32-byte key"))
        .expect("an empty keyring takes a key");
    let mut opened = vec![0u8; 65536];
    let _ = open_encrypted(data, &mut opened, b"", &ring);
    // And as a TCP push-pull stream: node states one by one.
    let mut stream_scratch = vec![0u8; 65536];
    if let Ok(m) = unwrap(data, &mut stream_scratch) {
        if let Ok(mut pp) = read_push_pull(m) {
            pp.by_ref().for_each(drop);
            if let Some(Ok(user)) = pp.user_state() {
                if let Ok(state) = decode_push_pull(user) {
                    state.status_times().for_each(drop);
                    state.left().for_each(drop);
                    let mut out = vec![0u8; user.len() + 64];
                    let n = encode_push_pull(&state, &mut out).expect("what was read fits");
                    assert_eq!(decode_push_pull(&out[..n]), Ok(state));
                }
            }
        }
    }
    let mut scratch = vec![0u8; 65536];
    let mut buf = vec![0u8; 70000];
    let _ = read_packet(data, &mut scratch, |_, m| {
        let Ok(m) = m else { return };
        let n = encode_message(&m, &mut buf).expect("a decoded message fits 70 kB");
        assert_eq!(decode_message(&buf[..n]), Ok(m));
        match m {
            HcMessage::User(bytes) => {
                if let Ok(s) = decode_serf(bytes) {
                    let mut out = vec![0u8; 70000];
                    let n = encode_serf(&s, &mut out).expect("a decoded message fits 70 kB");
                    assert_eq!(decode_serf(&out[..n]), Ok(s));
                }
            }
            HcMessage::Ack { payload, .. } => {
                // Floats may be NaN: compare the bytes of two encodings.
                if let Ok(c) = decode_coordinate(payload) {
                    let (mut a, mut b) = ([0u8; 200], [0u8; 200]);
                    let n = encode_coordinate(&c, &mut a).expect("8 dimensions fit");
                    let again = decode_coordinate(&a[..n]).expect("our own encoding");
                    let m = encode_coordinate(&again, &mut b).expect("8 dimensions fit");
                    assert_eq!(a[..n], b[..m]);
                }
            }
            HcMessage::Alive(a) => {
                if let Ok(t) = tags(a.meta) {
                    t.for_each(drop);
                }
            }
            _ => {}
        }
    });
});
