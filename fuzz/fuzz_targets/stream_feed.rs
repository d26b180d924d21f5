//! The incremental stream reader against itself: any bytes fed in one piece
//! or in pieces of any size yield the same items and the same end (or the
//! same error), and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serf_core::wire::hashicorp::feed::{Item, Progress, StreamFeed};
use serf_core::wire::hashicorp::HcError;

/// A compressed push-pull HashiCorp sent: it fills the LZW table before the
/// reset.
const PRIMED: &[u8] = {
    const ALL: &[u8] = include_bytes!("../../core/testdata/hashicorp/plain-streams.bin");
    ALL.split_at(4).1.split_at(225).0
};

fn read(bytes: &[u8], piece: usize, feed: &mut StreamFeed) -> (Vec<String>, Result<Progress, HcError>) {
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
    let whole = read(bytes, bytes.len(), &mut StreamFeed::new());
    // A reset reader (its buffers and LZW table left dirty) reads the same.
    let mut reused = Box::new(StreamFeed::new());
    let _ = read(PRIMED, 3, &mut reused);
    reused.reset();
    let pieces = read(bytes, usize::from(piece), &mut reused);
    assert_eq!(whole, pieces, "in pieces of {piece}");
});
