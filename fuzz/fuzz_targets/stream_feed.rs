//! The incremental stream reader against itself: any bytes fed in one piece
//! or in pieces of any size yield the same items and the same end (or the
//! same error), and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_core::wire::hashicorp::feed::{Item, Progress, StreamFeed};
use serf_core::wire::hashicorp::HcError;

fn read(bytes: &[u8], piece: usize) -> (Vec<String>, Result<Progress, HcError>) {
    let mut feed = Box::new(StreamFeed::new());
    let mut items = Vec::new();
    let mut last = Ok(Progress::More);
    for p in bytes.chunks(piece.max(1)) {
        last = feed.feed(p, &mut |item: Item<'_>| {
            items.push(format!("{item:?}"));
            Ok(())
        });
        if !matches!(last, Ok(Progress::More)) {
            break;
        }
    }
    (items, last)
}

fuzz_target!(|input: (u8, &[u8])| {
    let (piece, bytes) = input;
    let whole = read(bytes, bytes.len());
    let pieces = read(bytes, usize::from(piece));
    assert_eq!(whole, pieces, "in pieces of {piece}");
});
