//! Memory figures: the per-member cost of the table and the whole node.

use std::mem::size_of;

use serf_core::storage::{index_len, Slot};
use serf_core::Config;
use serf_core::Sizes;

#[test]
fn one_known_member_costs_at_most_24_bytes_of_table_memory() {
    let members = 10_000usize;
    let z = Sizes::for_config(&Config::lan().with_members(members));
    let table =
        z.slots * size_of::<Slot<u32>>() + z.index * 4 + z.order * 4 + z.broadcast_handles * 2;
    let per_member = table as f64 / members as f64;
    println!(
        "size_of: Slot<u32> = {} B, index buckets = {} per member ({} B), order entry = 4 B, broadcast handle = 2 B",
        size_of::<Slot<u32>>(),
        index_len(members) as f64 / members as f64,
        index_len(members) as f64 * 4.0 / members as f64,
    );
    println!("table memory per member: {per_member:.2} B");
    assert_eq!(size_of::<Slot<u32>>(), 12);
    assert!(per_member <= 24.0, "{per_member} B per member");
}

#[test]
fn node_memory_for_1024_members_is_reported() {
    let config = Config::lan().with_members(1024);
    let z = Sizes::for_config(&config);
    let full = z.bytes::<u32>();
    println!(
        "one node, 1024 members, every feature at default capacity: {full} B ({:.1} KiB) {z:?}",
        full as f64 / 1024.0
    );
    // A membership-only sidecar: no coordinates cache, tags, user messages or
    // large responses, small queues.
    let lean = Config {
        capacity: serf_core::Capacity {
            user_broadcasts: 4,
            user_payload: 256,
            events: 64,
            coordinates: 0,
            meta: 0,
            event_ring: 16,
            query_ring: 16,
            incoming_queries: 1,
            outgoing_queries: 1,
            query_seen: 16,
            reassembly_slots: 0,
            outbox: 4,
            pending_intents: 4,
            replay_events: 0,
            ..config.capacity.clone()
        },
        ..config
    };
    let lb = Sizes::for_config(&lean).bytes::<u32>();
    println!(
        "one node, 1024 members, membership only: {lb} B ({:.1} KiB)",
        lb as f64 / 1024.0
    );
    assert!(
        lb < 128 * 1024,
        "membership-only node for 1024 members stays small: {lb}"
    );
    assert!(
        full < 2 * 1024 * 1024,
        "full node for 1024 members under 2 MiB: {full}"
    );
}
