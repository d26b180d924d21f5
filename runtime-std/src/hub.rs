//! Fans the protocol loop's outputs out to RPC streams and event handlers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;

use crate::member::Output;

/// Subscribers and agent-wide flags.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Vec<Sender<Output>>>,
    handlers: Mutex<Vec<(String, String)>>,
    shutdown: AtomicBool,
}

impl Hub {
    /// A new subscriber; it stays until its receiver is dropped.
    pub fn subscribe(&self) -> Receiver<Output> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut s) = self.subscribers.lock() {
            s.push(tx);
        }
        rx
    }
    /// Delivers `out` to every live subscriber (dropping the gone ones).
    pub fn publish(&self, out: &Output) {
        if let Ok(mut s) = self.subscribers.lock() {
            s.retain(|tx| tx.send(out.clone()).is_ok());
        }
    }
    /// Records the handler specs for `stats`.
    pub fn set_handler_specs(&self, specs: Vec<(String, String)>) {
        if let Ok(mut h) = self.handlers.lock() {
            *h = specs;
        }
    }
    /// Handler specs as (filter, script).
    pub fn handler_specs(&self) -> Vec<(String, String)> {
        self.handlers.lock().map(|h| h.clone()).unwrap_or_default()
    }
    /// Asks the agent to exit (after an RPC `leave`).
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }
    /// True once shutdown was requested.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}
