//! Any byte string read as a HashiCorp memberlist packet: a typed error or
//! messages, never a panic; and every message that decodes encodes again to
//! bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_core::wire::hashicorp::{decode_message, encode_message, read_packet};

fuzz_target!(|data: &[u8]| {
    let mut scratch = vec![0u8; 65536];
    let _ = read_packet(data, &mut scratch, |_, m| {
        if let Ok(m) = m {
            let mut buf = vec![0u8; 70000];
            let n = encode_message(&m, &mut buf).expect("a decoded message fits 70 kB");
            assert_eq!(decode_message(&buf[..n]), Ok(m));
        }
    });
});
