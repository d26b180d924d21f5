//! User events and raw broadcasts: firing, receiving once (de-duplication
//! by Lamport time, name and payload), keeping recent ones for push-pull and
//! `join -replay`.

pub(crate) mod dedup;
pub(crate) mod replay;

use crate::identity::Identity;
use crate::node::gossip::PayloadTooLarge;
use crate::node::user_events::dedup::Verdict;
use crate::node::Node;
use crate::storage::Store;
use crate::time::Instant;
use crate::wire::{encode_message, message_len, Message};
use rand_core::RngCore;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Queues a user payload for piggybacked dissemination.
    pub fn broadcast(&mut self, payload: &[u8]) -> Result<(), PayloadTooLarge> {
        self.user.enqueue(&Message::<'_, I>::User(payload))
    }

    /// Fires a user event: stamped with the event clock, delivered here and
    /// disseminated to every member, each delivering it once. Returns its
    /// Lamport time.
    pub fn user_event(
        &mut self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<u64, PayloadTooLarge> {
        if name.len() + payload.len() > self.config.user_event_size_limit {
            return Err(PayloadTooLarge);
        }
        let ltime = self.user_events.clock.time();
        self.user_events.clock.increment();
        let m: Message<'_, I> = Message::Event {
            ltime,
            name,
            payload,
            coalesce,
        };
        // Check it fits a broadcast before recording it as seen.
        self.user.enqueue(&m)?;
        self.on_event(ltime, name, payload, coalesce, false);
        Ok(ltime)
    }

    /// Restores the event clock from a snapshot; events at or before the
    /// restored time are never delivered again.
    pub fn restore_event_clock(&mut self, ltime: u64) {
        self.user_events.clock.restore(ltime);
        self.user_events.min_time = self.user_events.min_time.max(ltime.saturating_add(1));
    }

    /// Keeps an encoded copy of a new user event for push-pull and replay.
    pub(crate) fn record_event(&mut self, m: &Message<'_, I>) {
        self.event_log
            .record_with(message_len(m), |slot| encode_message(m, slot));
    }

    /// A user event received `now` (gossiped, or carried by a push-pull):
    /// ignored while a join without replay waits for its seed's clock,
    /// else delivered once and re-broadcast.
    pub(crate) fn on_received_event(
        &mut self,
        now: Instant,
        ltime: u64,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) {
        if !self.user_events.ignore_while_joining(now) {
            self.on_event(ltime, name, payload, coalesce, true);
        }
    }

    /// A user event, received (`rebroadcast`) or fired here.
    pub(crate) fn on_event(
        &mut self,
        ltime: u64,
        name: &str,
        payload: &[u8],
        coalesce: bool,
        rebroadcast: bool,
    ) {
        if self.user_events.observe(ltime, name, payload) != Verdict::New {
            return;
        }
        let m: Message<'_, I> = Message::Event {
            ltime,
            name,
            payload,
            coalesce,
        };
        self.inbox.push(&m);
        self.record_event(&m);
        if rebroadcast && self.user.enqueue(&m).is_err() {
            self.stats.user_broadcasts_dropped += 1;
        }
    }
}
