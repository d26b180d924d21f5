//! User events: Lamport-stamped, de-duplicated through a fixed ring of recent
//! times (Serf keeps 512), delivered once per member and re-broadcast when new.

use crate::clock::LamportClock;
use crate::identity::hash_bytes;
use crate::storage::Store;
use crate::time::Instant;
use core::time::Duration;

/// How long a join without replay ignores received events while it waits
/// for its seed's event clock: memberlist's TCP timeout, the longest the
/// seed's answer can take.
pub(crate) const JOIN_WAIT: Duration = Duration::from_secs(10);

/// Events remembered per Lamport time.
pub const PER_TIME: usize = 4;

/// The events seen at one Lamport time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSlot {
    ltime: u64,
    hashes: [u64; PER_TIME],
    n: u8,
}

/// What to do with an incoming event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// First sighting: deliver and re-broadcast.
    New,
    /// Seen before.
    Duplicate,
    /// Older than the ring (or than the restored clock) can vouch for.
    TooOld,
}

/// The event clock and the de-duplication ring.
pub struct UserEvents<S: Store> {
    ring: S::Buf<EventSlot>,
    /// The event Lamport clock.
    pub clock: LamportClock,
    /// Events below this time are dropped (set from a restored snapshot).
    pub min_time: u64,
    /// Events dropped as too old.
    pub too_old: u64,
    /// Duplicates ignored.
    pub duplicates: u64,
    /// Until when a join without replay waits for its seed's event clock.
    joining_until: Option<Instant>,
    /// Events ignored meanwhile (not delivered, not marked seen: a later
    /// copy past the seed's clock still counts as new).
    pub ignored_joining: u64,
}

impl<S: Store> UserEvents<S> {
    pub(crate) fn new(mut ring: S::Buf<EventSlot>) -> Self {
        ring.fill(EventSlot::default());
        UserEvents {
            ring,
            clock: LamportClock::new(),
            min_time: 0,
            too_old: 0,
            duplicates: 0,
            joining_until: None,
            ignored_joining: 0,
        }
    }

    /// A join without replay started: until its seed tells us its event
    /// clock, we cannot tell the cluster's past events from new ones, so
    /// received events are ignored (gossip can outrun the seed's answer;
    /// the copies gossip and push-pull bring later are judged then).
    pub(crate) fn wait_for_join_answer(&mut self, now: Instant) {
        self.joining_until = Some(now + JOIN_WAIT);
    }

    /// The seed of our join without replay answered with its event clock
    /// `ltime`: what it had seen is history for us (Serf's eventJoinIgnore).
    pub(crate) fn joined_at(&mut self, ltime: u64) {
        self.min_time = self.min_time.max(ltime);
        self.joining_until = None;
    }

    /// Whether an event received `now` must be ignored (and counted): a
    /// join without replay still waits for its seed's clock.
    pub(crate) fn ignore_while_joining(&mut self, now: Instant) -> bool {
        match self.joining_until {
            Some(until) if now < until => {
                self.ignored_joining += 1;
                true
            }
            Some(_) => {
                // The answer never came (the join failed): nothing to wait for.
                self.joining_until = None;
                false
            }
            None => false,
        }
    }

    /// Judges (and records) an event seen at `ltime`.
    pub(crate) fn observe(&mut self, ltime: u64, name: &str, payload: &[u8]) -> Verdict {
        self.clock.witness(ltime);
        let len = self.ring.len() as u64;
        let now = self.clock.time();
        if len == 0 || ltime < self.min_time || (now > len && ltime < now - len) {
            self.too_old += 1;
            return Verdict::TooOld;
        }
        let h = hash_bytes(hash_bytes(0x5e1f, name.as_bytes()), payload);
        let slot = &mut self.ring[(ltime % len) as usize];
        if slot.ltime != ltime {
            *slot = EventSlot {
                ltime,
                hashes: [0; PER_TIME],
                n: 0,
            };
        } else if slot.hashes[..slot.n as usize].contains(&h) {
            self.duplicates += 1;
            return Verdict::Duplicate;
        }
        if (slot.n as usize) < PER_TIME {
            slot.hashes[slot.n as usize] = h;
            slot.n += 1;
        }
        Verdict::New
    }
}
