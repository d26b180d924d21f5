//! Memory figures: the per-member cost of the table and the whole node.

use std::mem::size_of;

use serf_core::member::{index_len, Slot};
use serf_core::store::Sizes;
use serf_core::Config;

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
    let bytes = z.bytes::<u32>();
    println!(
        "one node, 1024 members, u32 identities: {bytes} B of buffers ({:.1} KiB) {z:?}",
        bytes as f64 / 1024.0
    );
    let lean = Config {
        capacity: serf_core::Capacity {
            user_broadcasts: 8,
            events: 64,
            ..config.capacity.clone()
        },
        ..config
    };
    let lb = Sizes::for_config(&lean).bytes::<u32>();
    println!(
        "same with 8 user broadcasts and 64 queued events: {lb} B ({:.1} KiB)",
        lb as f64 / 1024.0
    );
    assert!(bytes < 512 * 1024);
}
