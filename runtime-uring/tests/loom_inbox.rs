//! Model check of the ring's inbox (the one state shared between threads):
//! producers push then notify; the ring consumes the signal and then drains.
//! In every interleaving loom finds, every item pushed is drained and the
//! consumer never sleeps with items queued.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release -p serf-runtime-uring --test loom_inbox`
#![cfg(loom)]

mod sync {
    pub(crate) use loom::sync::Mutex;
}

#[allow(dead_code)]
#[path = "../src/inbox.rs"]
mod inbox;

use inbox::{Inbox, Signal};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;

/// The eventfd's counter: notify adds one; the ring's read takes it all.
#[derive(Default)]
struct Counter(AtomicU64);

impl Signal for Counter {
    fn notify(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

impl Counter {
    /// The ring's eventfd read: completes only when non-zero, resetting it.
    fn wait(&self) {
        while self.0.swap(0, Ordering::Acquire) == 0 {
            loom::thread::yield_now();
        }
    }
}

#[derive(Debug, PartialEq)]
enum Item {
    Ready(u32),
    Stop,
}

#[test]
fn commands_from_two_threads_are_all_drained_and_stop_is_seen() {
    loom::model(|| {
        let inbox = Arc::new(Inbox::new(Counter::default()));
        let producer = {
            let inbox = inbox.clone();
            loom::thread::spawn(move || inbox.push(Item::Ready(0)))
        };
        let stopper = {
            let inbox = inbox.clone();
            loom::thread::spawn(move || {
                inbox.push(Item::Stop);
            })
        };
        // The ring: wait, drain, act, until it saw everything it must.
        let mut seen = Vec::new();
        let mut batch = Vec::new();
        while seen.len() < 2 {
            inbox.signal().wait();
            inbox.drain_into(&mut batch);
            seen.append(&mut batch);
        }
        producer.join().unwrap();
        stopper.join().unwrap();
        assert!(seen.contains(&Item::Ready(0)));
        assert!(seen.contains(&Item::Stop));
    });
}

#[test]
fn a_push_racing_the_drain_wakes_the_next_wait() {
    loom::model(|| {
        let inbox = Arc::new(Inbox::new(Counter::default()));
        let p = {
            let inbox = inbox.clone();
            loom::thread::spawn(move || {
                inbox.push(Item::Ready(7));
                inbox.push(Item::Ready(8));
            })
        };
        let mut got = Vec::new();
        let mut batch = Vec::new();
        // Whatever the interleaving, waiting again after a partial drain
        // must return (the later push's notify is still pending).
        while got.len() < 2 {
            inbox.signal().wait();
            inbox.drain_into(&mut batch);
            got.append(&mut batch);
        }
        p.join().unwrap();
        assert_eq!(got, [Item::Ready(7), Item::Ready(8)]);
    });
}
