//! The handle RPC connections and the agent use to reach the dispatcher
//! (see [`crate::dispatch`]): subscribe to events, read the handler list,
//! reload, and ask the agent to stop. A hub is only channel senders, so it is
//! cheap to clone and shares no mutable state.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use crate::dispatch::Dispatch;
use crate::event::AgentEvent;
use crate::handlers::Handler;
use crate::lossy::LossySender;

/// What the agent's main thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// A POSIX signal arrived.
    Signal(i32),
    /// Exit with this code (retry-join gave up).
    Exit(i32),
    /// An RPC client made the agent leave: record it, then exit.
    Left,
}

/// One stream subscriber's end: events arrive on [`Subscription::events`];
/// dropping it unsubscribes at once.
pub struct Subscription {
    rx: Receiver<AgentEvent>,
    id: u64,
    dispatch: Sender<Dispatch>,
}

impl Subscription {
    /// Where the events arrive.
    pub fn events(&self) -> &Receiver<AgentEvent> {
        &self.rx
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.dispatch.send(Dispatch::Unsubscribe(self.id));
    }
}

/// Handles for RPC connections and the agent (cheap to clone).
#[derive(Clone)]
pub struct Hub {
    dispatch: Sender<Dispatch>,
    control: Sender<Control>,
}

impl Hub {
    /// A hub talking to the dispatcher at `dispatch` and to the agent's main
    /// thread at `control`.
    pub fn new(dispatch: Sender<Dispatch>, control: Sender<Control>) -> Hub {
        Hub { dispatch, control }
    }
    /// A new subscriber for `client`: it receives every event from the next
    /// one on, until its receiver is dropped. Events it does not read in time
    /// (more than [`crate::lossy::BUFFER`] behind) are dropped and logged.
    pub fn subscribe(&self, client: String) -> Subscription {
        let (tx, rx) = LossySender::new(client, crate::lossy::BUFFER);
        let id = tx.id;
        let _ = self.dispatch.send(Dispatch::Subscribe(tx));
        Subscription {
            rx,
            id,
            dispatch: self.dispatch.clone(),
        }
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
    /// Tells the agent it has left the cluster (RPC `leave`): it records the
    /// leave in its snapshot and exits.
    pub fn left(&self) {
        let _ = self.control.send(Control::Left);
    }
    /// Asks the agent to exit with `code`.
    pub fn request_exit(&self, code: i32) {
        let _ = self.control.send(Control::Exit(code));
    }
}
