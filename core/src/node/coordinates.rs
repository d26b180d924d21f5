//! Network coordinates: RTT samples from direct probes feed Vivaldi; the
//! per-member cache answers `rtt` and `nearest`.

use crate::identity::Identity;
use crate::node::members::table::State;
use crate::node::Node;
use crate::storage::Store;
use crate::vivaldi::Coordinate;
use rand_core::RngCore;

impl<I: Identity, S: Store, R: RngCore> Node<I, S, R> {
    /// Feeds a direct probe's RTT and the target's coordinate to Vivaldi and
    /// caches the coordinate for `rtt` / `nearest`.
    pub(crate) fn observe_coordinate(&mut self, rtt: core::time::Duration, c: &Coordinate) {
        if self.vivaldi.validate(c, rtt.as_secs_f64()).is_err() {
            return; // counted; nothing cached for a bad coordinate
        }
        let Some(target) = self.probe.target() else {
            return;
        };
        let Some(slot) = self.members.find(target) else {
            return;
        };
        let Some(entry) = self.coordinates.entry(slot, &mut self.rng) else {
            return;
        };
        if self
            .vivaldi
            .update(c, rtt.as_secs_f64(), &mut entry.filter, &mut self.rng)
            .is_ok()
        {
            entry.coord = *c;
        }
    }

    /// This node's network coordinate.
    pub fn coordinate(&self) -> &Coordinate {
        self.vivaldi.coordinate()
    }

    /// The latest coordinate known for `id` (this node's own for itself).
    pub fn coordinate_of(&self, id: &I) -> Option<Coordinate> {
        if *id == self.me {
            return Some(*self.vivaldi.coordinate());
        }
        let slot = self.members.find(id)?;
        self.coordinates.get(slot).copied()
    }

    /// Estimated round-trip time between two members this node has coordinates
    /// for (as `serf rtt a b`).
    pub fn rtt(&self, a: &I, b: &I) -> Option<core::time::Duration> {
        let (ca, cb) = (self.coordinate_of(a)?, self.coordinate_of(b)?);
        if !ca.is_compatible_with(&cb) {
            return None;
        }
        Some(core::time::Duration::from_secs_f64(
            ca.distance_to(&cb).max(0.0),
        ))
    }

    /// Fills `out` with the live members closest to this node by estimated RTT,
    /// nearest first; returns how many were written (at most `out.len()`).
    pub fn nearest(&self, out: &mut [(I, core::time::Duration)]) -> usize {
        let me = self.vivaldi.coordinate();
        let mut n = 0usize;
        for (slot, c) in self.coordinates.iter() {
            let s = self.members.slot(slot);
            let live = s.state().is_some_and(State::is_live);
            if slot == self.my_slot || !live || !me.is_compatible_with(c) {
                continue;
            }
            let d = core::time::Duration::from_secs_f64(me.distance_to(c).max(0.0));
            // Insert into the sorted prefix, dropping the farthest when full.
            let mut at = n;
            while at > 0 && out[at - 1].1 > d {
                at -= 1;
            }
            if at >= out.len() {
                continue;
            }
            let end = n.min(out.len() - 1);
            for k in (at..end).rev() {
                out[k + 1] = out[k].clone();
            }
            out[at] = (s.id().clone(), d);
            n = (n + 1).min(out.len());
        }
        n
    }
}
