//! The handle RPC connections and the agent use to reach the dispatcher
//! (see [`crate::dispatch`]): subscribe to events, read the handler list,
//! reload, and ask the agent to stop. A hub is only channel senders, so it is
//! cheap to clone and shares no mutable state.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use crate::dispatch::Dispatch;
use crate::event::AgentEvent;
use crate::handlers::Handler;

/// Handles for RPC connections and the agent (cheap to clone).
#[derive(Clone)]
pub struct Hub {
    dispatch: Sender<Dispatch>,
    shutdown: Sender<()>,
}

impl Hub {
    /// A hub talking to the dispatcher at `dispatch`, and the receiver that
    /// fires when an RPC client asks the agent to stop.
    pub fn new(dispatch: Sender<Dispatch>) -> (Hub, Receiver<()>) {
        let (stop_tx, stop_rx) = mpsc::channel();
        (
            Hub {
                dispatch,
                shutdown: stop_tx,
            },
            stop_rx,
        )
    }
    /// A new subscriber: it receives every event from the next one on, until
    /// its receiver is dropped.
    pub fn subscribe(&self) -> Receiver<AgentEvent> {
        let (tx, rx) = mpsc::channel();
        let _ = self.dispatch.send(Dispatch::Subscribe(tx));
        rx
    }
    /// Handler specs as (filter, script), as they are now.
    pub fn handler_specs(&self) -> Vec<(String, String)> {
        let (tx, rx) = mpsc::channel();
        let _ = self.dispatch.send(Dispatch::Specs(tx));
        rx.recv_timeout(Duration::from_secs(1)).unwrap_or_default()
    }
    /// Replaces the event handlers and the agent's own tags as handlers see
    /// them (SIGHUP).
    pub fn reload(&self, handlers: Vec<Handler>, tags: Vec<(String, String)>) {
        let _ = self.dispatch.send(Dispatch::Reload(handlers, tags));
    }
    /// Asks the agent to exit (after an RPC `leave`).
    pub fn request_shutdown(&self) {
        let _ = self.shutdown.send(());
    }
}
