//! Fans the protocol loop's outputs out to RPC streams (and tells the agent to
//! stop after an RPC `leave`). Nothing here is shared mutable state: the hub
//! is a set of channel senders; the subscriber list lives in the single
//! dispatcher thread that owns it (see [`Fanout`]).

use std::sync::mpsc::{self, Receiver, Sender};

use crate::member::Output;

/// Handles for RPC connections (cheap to clone).
#[derive(Clone)]
pub struct Hub {
    subscribe: Sender<Sender<Output>>,
    shutdown: Sender<()>,
    handlers: Vec<(String, String)>,
}

/// The subscriber list, owned by the agent's dispatcher thread.
pub struct Fanout {
    subscriptions: Receiver<Sender<Output>>,
    subscribers: Vec<Sender<Output>>,
}

impl Hub {
    /// A hub, its fan-out (for the dispatcher thread) and the receiver that
    /// fires when an RPC client asks the agent to stop; `handlers` are the
    /// handler specs for `stats`.
    pub fn new(handlers: Vec<(String, String)>) -> (Hub, Fanout, Receiver<()>) {
        let (sub_tx, sub_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel();
        (
            Hub {
                subscribe: sub_tx,
                shutdown: stop_tx,
                handlers,
            },
            Fanout {
                subscriptions: sub_rx,
                subscribers: Vec::new(),
            },
            stop_rx,
        )
    }
    /// A new subscriber: it receives every output from the next one on, until
    /// its receiver is dropped.
    pub fn subscribe(&self) -> Receiver<Output> {
        let (tx, rx) = mpsc::channel();
        let _ = self.subscribe.send(tx);
        rx
    }
    /// Handler specs as (filter, script).
    pub fn handler_specs(&self) -> Vec<(String, String)> {
        self.handlers.clone()
    }
    /// Asks the agent to exit (after an RPC `leave`).
    pub fn request_shutdown(&self) {
        let _ = self.shutdown.send(());
    }
}

impl Fanout {
    /// Delivers `out` to every live subscriber (dropping the gone ones).
    pub fn publish(&mut self, out: &Output) {
        while let Ok(s) = self.subscriptions.try_recv() {
            self.subscribers.push(s);
        }
        self.subscribers.retain(|tx| tx.send(out.clone()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Output;

    #[test]
    fn subscribers_get_outputs_after_subscribing_and_leave_by_dropping() {
        let (hub, mut d, stop) = Hub::new(vec![("*".into(), "true".into())]);
        let ev = || Output::User {
            ltime: 1,
            name: "e".into(),
            payload: vec![],
            coalesce: false,
        };
        d.publish(&ev());
        let a = hub.subscribe();
        let b = hub.subscribe();
        d.publish(&ev());
        assert!(a.try_recv().is_ok() && b.try_recv().is_ok());
        drop(b);
        d.publish(&ev());
        assert!(a.try_recv().is_ok());
        assert_eq!(d.subscribers.len(), 1);
        hub.request_shutdown();
        assert!(stop.try_recv().is_ok());
        assert_eq!(hub.handler_specs().len(), 1);
    }
}
