//! Telling a member about many others at once, through the real decoder:
//! warm starts, benchmark fixtures and test seeds.

use std::ops::Range;

use serf_core::wire::{Encoder, Message};
use serf_core::Instant;

use super::SimNode;

/// Tells `node` that members `ids` are alive at `incarnation`, speaking
/// `protocol(id)`, in as few full datagrams as they fit, sent from address
/// `from`. The news raises no events (they are discarded, as for members a
/// node has long known); the broadcasts it queues stay queued.
pub fn tell_alive(
    node: &mut SimNode,
    ids: Range<u32>,
    incarnation: u32,
    protocol: impl Fn(u32) -> u8,
    from: u32,
) {
    let mut datagram = vec![0u8; node.config().mtu];
    let mut next = ids.start;
    while next < ids.end {
        let Some(mut enc) = Encoder::new(&mut datagram) else {
            return;
        };
        while next < ids.end
            && enc.push::<u32>(&Message::Alive {
                incarnation,
                node: next,
                meta: &[],
                protocol: protocol(next),
            })
        {
            next += 1;
        }
        let len = enc.len();
        // Well-formed by construction; a refusal would show in the counts.
        let _ = node.handle_datagram(Instant::ZERO, from, &datagram[..len]);
        while node.poll_event().is_some() {}
    }
}
