//! No allocation per datagram: once members on a ring have joined and the
//! join's news is out, a window of steady probing (datagrams in and out,
//! timers, acks with coordinates) runs under a counting global allocator
//! and allocates nothing, on any thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serf_core::Config;
use serf_runtime_std::member::Member;
use serf_runtime_uring::Runtime;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_probing_on_the_ring_allocates_nothing() {
    let ring = match Runtime::builder().members(3).start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skipped: io_uring unavailable here: {e}");
            return;
        }
    };
    let mut config = Config::local();
    config.probe_interval = Duration::from_millis(50);
    config.probe_timeout = Duration::from_millis(40);
    let local = "127.0.0.1:0".parse().unwrap();
    let start = |name: &str| {
        ring.spawn(Member::builder(name).bind(local).config(config.clone()))
            .unwrap()
    };
    let (a, _a_out) = start("alloc-a");
    let (b, _b_out) = start("alloc-b");
    let (c, _c_out) = start("alloc-c");
    assert_eq!(b.join(&[a.local_addr]), 1);
    assert_eq!(c.join(&[a.local_addr]), 1);
    // Let the join's news drain from the gossip queues.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(a.members().len(), 3);
    let before = ring.counters();
    COUNTING.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    COUNTING.store(false, Ordering::SeqCst);
    let after = ring.counters();
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let handled = after.datagrams_received - before.datagrams_received;
    assert!(
        handled >= 100,
        "the window saw traffic: {handled} datagrams"
    );
    assert_eq!(allocs, 0, "{allocs} allocations over {handled} datagrams");
}
