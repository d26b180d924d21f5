//! A summary of the member table, so that a periodic push-pull exchanges only
//! the members the two sides disagree on.
//!
//! Members fall into [`BUCKETS`] buckets by a cluster-wide hash of their
//! identity.
//! Each bucket keeps the XOR of its members' (identity, incarnation, state)
//! hashes, updated with every change to the table (O(1)). Two nodes whose
//! sums agree in a bucket hold the same states there (but for a 2⁻⁶⁴ chance),
//! so after trading digests each sends only the states of the buckets that
//! differ: in a settled cluster a handful of members, where a full exchange is
//! all of them. Joins still send everything.

use crate::identity::{mix64, Identity};
use crate::node::members::table::State;
use crate::wire::digest::{Sums, BUCKETS};

/// Fixed, not per node: every member must bucket and hash alike.
const SEED: u64 = 0x5e4f_d16e_57ab_1e00;
const BUCKET_BITS: u32 = BUCKETS.trailing_zeros();

/// The member's hash, which picks its bucket and seeds its records.
#[inline]
fn member_hash<I: Identity>(id: &I) -> u64 {
    id.hash_with(SEED)
}

#[inline]
fn bucket_of(h: u64) -> usize {
    (h >> (64 - BUCKET_BITS)) as usize
}

/// The bucket a member falls into.
#[inline]
pub(crate) fn bucket<I: Identity>(id: &I) -> usize {
    bucket_of(member_hash(id))
}

/// One record's term in its bucket's sum.
#[inline]
fn term(h: u64, incarnation: u32, state: State) -> u64 {
    let record = (u64::from(incarnation) << 8) | state as u64;
    mix64(h ^ record.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// A set of digest buckets (bit `b` = bucket `b`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mask(pub u128);

impl Mask {
    /// Every bucket: a full push-pull.
    pub const ALL: Mask = Mask(u128::MAX);

    /// Whether bucket `b` is in the set.
    #[inline]
    pub fn has(self, b: usize) -> bool {
        self.0 >> b & 1 == 1
    }

    /// Whether `id`'s bucket is in the set (no hashing for [`Mask::ALL`]).
    #[inline]
    pub(crate) fn covers<I: Identity>(self, id: &I) -> bool {
        self == Mask::ALL || self.has(bucket(id))
    }
}

/// Per-bucket XOR of member hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    sums: Sums,
}

impl Default for Digest {
    fn default() -> Self {
        Digest { sums: [0; BUCKETS] }
    }
}

impl Digest {
    /// Adds a member's record, or takes it out again (XOR is its own inverse).
    #[inline]
    pub(crate) fn toggle<I: Identity>(&mut self, id: &I, incarnation: u32, state: State) {
        let h = member_hash(id);
        self.sums[bucket_of(h)] ^= term(h, incarnation, state);
    }

    /// Replaces a member's record `old` (if it had one) by `new`, hashing its
    /// identity once.
    #[inline]
    pub(crate) fn replace<I: Identity>(
        &mut self,
        id: &I,
        old: Option<(u32, State)>,
        new: (u32, State),
    ) {
        let h = member_hash(id);
        let mut t = term(h, new.0, new.1);
        if let Some((inc, state)) = old {
            t ^= term(h, inc, state);
        }
        self.sums[bucket_of(h)] ^= t;
    }

    /// The sums, as a `Message::Digest` carries them.
    pub fn sums(&self) -> &Sums {
        &self.sums
    }

    /// The buckets where `theirs` differs from ours.
    pub fn differ(&self, theirs: &Sums) -> Mask {
        let mut m = 0u128;
        for (b, (a, t)) in self.sums.iter().zip(theirs).enumerate() {
            if a != t {
                m |= 1 << b;
            }
        }
        Mask(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_the_same_records_agree_in_any_order_of_changes() {
        let (mut a, mut b) = (Digest::default(), Digest::default());
        for id in 0..500u32 {
            a.toggle(&id, 1, State::Alive);
        }
        for id in (0..500u32).rev() {
            b.toggle(&id, 0, State::Alive);
            b.toggle(&id, 0, State::Alive);
            b.toggle(&id, 1, State::Alive);
        }
        assert_eq!(a.differ(b.sums()), Mask(0));
    }

    #[test]
    fn one_changed_state_differs_in_its_bucket_only() {
        let (mut a, mut b) = (Digest::default(), Digest::default());
        for id in 0..500u32 {
            a.toggle(&id, 1, State::Alive);
            b.toggle(&id, 1, State::Alive);
        }
        b.toggle(&42u32, 1, State::Alive);
        b.toggle(&42u32, 1, State::Suspect);
        let m = a.differ(b.sums());
        assert_eq!(m.0.count_ones(), 1);
        assert!(m.has(bucket(&42u32)));
        assert!(m.covers(&42u32) && Mask::ALL.covers(&7u32));
    }
}
