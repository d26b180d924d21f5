//! Any message encodes, decodes, and encodes again to the same bytes (bytes,
//! not values, are compared: coordinates may hold NaN, which is never equal).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_core::wire::{Decoder, Encoder, Message};

fuzz_target!(|msgs: Vec<Message<'_, u32>>| {
    let mut first = [0u8; 1400];
    let Some(mut enc) = Encoder::new(&mut first) else {
        return;
    };
    let mut pushed = 0;
    for m in &msgs {
        if enc.push(m) {
            pushed += 1;
        }
    }
    let n = enc.len();
    if pushed == 0 {
        return;
    }
    let decoded: Vec<_> = Decoder::<u32>::new(&first[..n], 1400)
        .unwrap()
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(decoded.len(), pushed);
    let mut second = [0u8; 1400];
    let mut enc = Encoder::new(&mut second).unwrap();
    for m in &decoded {
        assert!(enc.push(m));
    }
    let m = enc.len();
    assert_eq!(&first[..n], &second[..m]);
});
