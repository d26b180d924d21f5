//! Memory figures: the per-member cost of the member tables and of the whole
//! node in the simulator's configuration.

use std::mem::size_of;

use serf_bench::sim::sim_config;
use serf_core::storage::{index_len, Slot};
use serf_core::Config;
use serf_core::Sizes;

/// Each table's bytes for `config` (u32 identities), largest first.
fn breakdown(config: &Config) -> Vec<(&'static str, usize)> {
    let mut tables = Vec::new();
    Sizes::for_config(config).each_table::<u32>(|name, bytes| tables.push((name, bytes)));
    tables.sort_by_key(|t| std::cmp::Reverse(t.1));
    tables
}

#[test]
fn one_known_member_costs_at_most_21_bytes_of_member_tables() {
    let members = 10_000usize;
    let z = Sizes::for_config(&Config::lan().with_members(members));
    let table = z.slots * size_of::<Slot<u32>>() + z.index * 4 + z.intent_status * 4;
    let per_member = table as f64 / members as f64;
    println!(
        "size_of: Slot<u32> = {} B, index buckets = {} per member ({} B), intent word = 4 B",
        size_of::<Slot<u32>>(),
        index_len(members) as f64 / members as f64,
        index_len(members) as f64 * 4.0 / members as f64,
    );
    println!("per-member tables: {per_member:.2} B");
    assert_eq!(size_of::<Slot<u32>>(), 12);
    assert!(per_member < 21.01, "{per_member} B per member");
}

#[test]
fn simulated_node_costs_at_most_28_bytes_per_member_at_20000() {
    let members = 20_000;
    let config = sim_config(Config::lan(), members);
    assert!(config.coordinates && config.lifeguard, "every feature on");
    assert!(config.capacity.meta == 512 && config.capacity.coordinates > 0);
    // The tables plus the node's own struct (its fixed fields and queues' heads).
    let node = size_of::<serf_bench::sim::SimNode>();
    let total = Sizes::for_config(&config).bytes::<u32>() + node;
    let per_member = total as f64 / members as f64;
    for (name, bytes) in breakdown(&config).iter().take(12) {
        println!(
            "{name:>18}: {:>9} B = {:.2} B/member",
            bytes,
            *bytes as f64 / members as f64
        );
    }
    println!("node struct: {node} B");
    println!("whole node, {members} members: {total} B = {per_member:.2} B/member");
    assert!(per_member <= 28.0, "{per_member:.2} B per member");
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
            meta_pool: 0,
            tagged: 0,
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
