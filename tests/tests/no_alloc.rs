//! The core allocates nothing after construction: a whole scenario (joins,
//! gossip, probes, a crash, suspicion, failure, a leave, user broadcasts) runs
//! under a counting global allocator. This binary uses only `serf-core`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use serf_core::Buffers;
use serf_core::{Config, Instant, Node, State};
use serf_runtime_std::member::{Heap, Rng};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 24;
const MTU: usize = 1400;
const SLOTS: usize = 4096;

/// Packets in flight, delivered one tick after they are sent; fixed storage.
struct Wire {
    data: Vec<[u8; MTU]>,
    meta: Vec<(u32, u32, usize)>, // (to, from, len)
    len: usize,
}

#[test]
fn core_allocates_nothing_after_construction() {
    // Every layer on: encryption with a label, tags, events, queries.
    let mut config = Config::local().with_members(32);
    config
        .keyring
        .install(serf_core::wire::crypto::Key::new(&[4u8; 32]).unwrap())
        .unwrap();
    config.label = serf_core::wire::crypto::Label::new("no-alloc");
    let mut nodes: Vec<Option<Node<u32, Heap, Rng>>> = (0..N as u32)
        .map(|i| {
            Some(
                Node::new(
                    i,
                    config.clone(),
                    Buffers::new(&config, &mut Heap),
                    Rng::seeded(i as u64),
                    Instant::ZERO,
                )
                .unwrap(),
            )
        })
        .collect();
    let mut cur = Wire {
        data: vec![[0u8; MTU]; SLOTS],
        meta: vec![(0, 0, 0); SLOTS],
        len: 0,
    };
    let mut next = Wire {
        data: vec![[0u8; MTU]; SLOTS],
        meta: vec![(0, 0, 0); SLOTS],
        len: 0,
    };
    let mut buf = [0u8; MTU];
    let mut user = vec![0u8; serf_core::Sizes::for_config(&config).delivery_len()];
    let (mut events, mut delivered, mut failed_seen, mut left_seen, mut payloads) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut user_events, mut queries, mut responses, mut updates) = (0u64, 0u64, 0u64, 0u64);
    let mut tags = [0u8; 64];
    let tags_len = serf_core::wire::tags::encode(&[("role", "web")], &mut tags).unwrap();
    let params = serf_core::query::QueryParams::<u32>::default();

    COUNTING.with(|c| c.set(true));
    for n in nodes.iter_mut().skip(1) {
        n.as_mut().unwrap().join(Instant::ZERO, 0);
    }
    let tick = 5u64; // ms
    for step in 0..(120_000 / tick) {
        let now = Instant::from_millis(step * tick);
        if step == 20_000 / tick {
            nodes[3] = None; // crash
            nodes[1].as_mut().unwrap().broadcast(b"deploy v2").unwrap();
        }
        if step == 30_000 / tick {
            nodes[2]
                .as_mut()
                .unwrap()
                .user_event("deploy", b"v3", false)
                .unwrap();
            nodes[4]
                .as_mut()
                .unwrap()
                .set_meta(now, &tags[..tags_len])
                .unwrap();
        }
        if step == 40_000 / tick {
            nodes[0]
                .as_mut()
                .unwrap()
                .query(now, "load", b"", &params)
                .unwrap();
        }
        if step == 60_000 / tick {
            nodes[5].as_mut().unwrap().leave(now);
        }
        for k in 0..cur.len {
            let (to, from, len) = cur.meta[k];
            if let Some(n) = nodes[to as usize].as_mut() {
                let _ = n.handle_datagram(now, from, &cur.data[k][..len]);
                delivered += 1;
            }
        }
        cur.len = 0;
        for (i, slot) in nodes.iter_mut().enumerate() {
            let Some(n) = slot.as_mut() else { continue };
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
            while let Some(t) = n.poll_transmit(&mut buf) {
                if next.len < SLOTS {
                    next.data[next.len][..t.len].copy_from_slice(&buf[..t.len]);
                    next.meta[next.len] = (t.to, i as u32, t.len);
                    next.len += 1;
                }
            }
            while let Some(e) = n.poll_event() {
                events += 1;
                updates += (e.member == 4 && e.kind == serf_core::EventKind::Updated) as u64;
                failed_seen += (e.member == 3 && e.kind == serf_core::EventKind::Failed) as u64;
                left_seen += (e.member == 5 && e.kind == serf_core::EventKind::Left) as u64;
            }
            let mut answer = None;
            while let Some(d) = n.poll_delivery(&mut user) {
                payloads += 1;
                match d {
                    serf_core::Delivery::Event { .. } => user_events += 1,
                    serf_core::Delivery::Query { id, .. } => {
                        queries += 1;
                        answer = Some(id);
                    }
                    serf_core::Delivery::QueryResponse { .. } => responses += 1,
                    _ => {}
                }
            }
            if let Some(id) = answer {
                n.respond(now, id, b"0.42").unwrap();
            }
        }
        std::mem::swap(&mut cur, &mut next);
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.with(|a| a.get());

    println!(
        "{delivered} datagrams, {events} events, {payloads} user payloads, {allocs} allocations"
    );
    assert!(delivered > 5_000, "the scenario did real work");
    assert_eq!(failed_seen, (N - 1) as u64, "every survivor saw the crash");
    assert!(left_seen >= (N - 3) as u64, "the leave reached the others");
    assert!(payloads > 0, "user broadcasts were delivered");
    println!("{user_events} user events, {queries} queries, {responses} responses, {updates} tag updates");
    assert_eq!(
        user_events,
        (N - 1) as u64,
        "the event reached every live member once"
    );
    // Queries are gossip only (no anti-entropy, as in Serf): with the local
    // profile's limit of 4 transmissions per member, a member of 24 misses
    // one with a probability of a few percent. User events are healed by
    // the event log sent with push-pull, so the event above reaches all.
    assert!(
        queries >= (N - 3) as u64,
        "the query reached nearly every live member: {queries}"
    );
    assert_eq!(responses, queries, "every member that got it answered");
    assert_eq!(updates, (N - 2) as u64, "the tag change reached the others");
    let view = nodes[0].as_ref().unwrap();
    assert_eq!(view.member(&3).unwrap().state, State::Dead);
    assert_eq!(allocs, 0, "the core allocated after construction");
}
