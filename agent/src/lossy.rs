//! Bounded fan-out to readers that may stop reading (RPC `stream` and
//! `monitor` clients): what a slow reader cannot take is dropped and counted,
//! never queued without bound, and the sender never waits. HashiCorp's agent
//! does the same with a 512-entry buffer per stream ("Dropping event to ...").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// Entries buffered per reader (Serf's stream and log buffers hold 512).
pub const BUFFER: usize = 512;

/// The sending end for one reader.
pub struct LossySender<T> {
    tx: SyncSender<T>,
    /// Unique in this process: what an unsubscribe names.
    pub id: u64,
    /// Who reads (the RPC client's address), for the log.
    pub client: String,
    /// Entries dropped so far because the reader fell behind.
    pub dropped: u64,
    /// Whether the last offer was dropped (a drop episode is logged once).
    dropping: bool,
}

/// What became of one offer.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// Queued for the reader.
    Sent,
    /// The reader's buffer was full: dropped and counted. `first` is true for
    /// the first drop since the reader last kept up (log it then).
    Dropped { first: bool },
    /// The reader is gone: forget this sender.
    Gone,
}

impl<T> LossySender<T> {
    /// A sender for `client` and its receiver, holding [`BUFFER`] entries.
    ///
    /// ```
    /// use serf_agent::lossy::{LossySender, Offer};
    /// let (mut tx, rx) = LossySender::new("127.0.0.1:5000".into(), 1);
    /// assert_eq!(tx.offer(1), Offer::Sent);
    /// assert_eq!(tx.offer(2), Offer::Dropped { first: true });
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// drop(rx);
    /// assert_eq!(tx.offer(3), Offer::Gone);
    /// ```
    pub fn new(client: String, capacity: usize) -> (LossySender<T>, Receiver<T>) {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let (tx, rx) = sync_channel(capacity);
        let s = LossySender {
            tx,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            dropped: 0,
            dropping: false,
        };
        (s, rx)
    }

    /// Offers `v`, warning on the first drop of an episode that `what`
    /// (e.g. "events", "logs") to this client are dropped; false once the
    /// reader is gone (a `retain` predicate for a subscriber list).
    pub fn offer_or_warn(&mut self, v: T, what: &str) -> bool {
        match self.offer(v) {
            Offer::Sent => true,
            Offer::Dropped { first } => {
                if first {
                    tracing::warn!(target: "agent.ipc", "Dropping {what} to {}: it is not reading ({} dropped so far)", self.client, self.dropped);
                }
                true
            }
            Offer::Gone => false,
        }
    }

    /// Offers `v` without waiting.
    pub fn offer(&mut self, v: T) -> Offer {
        match self.tx.try_send(v) {
            Ok(()) => {
                self.dropping = false;
                Offer::Sent
            }
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                let first = !self.dropping;
                self.dropping = true;
                Offer::Dropped { first }
            }
            Err(TrySendError::Disconnected(_)) => Offer::Gone,
        }
    }
}
