//! Any message encodes, and decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_core::codec::{Decoder, Encoder, Message};

fuzz_target!(|msgs: Vec<Message<'_, u32>>| {
    let mut buf = [0u8; 1400];
    let Some(mut enc) = Encoder::new(&mut buf) else {
        return;
    };
    let mut pushed = Vec::new();
    for m in &msgs {
        if enc.push(m) {
            pushed.push(m.clone());
        }
    }
    let n = enc.len();
    if pushed.is_empty() {
        return;
    }
    let got: Vec<_> = Decoder::<u32>::new(&buf[..n], 1400)
        .unwrap()
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(got, pushed);
});
