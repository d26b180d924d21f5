//! The probe walk: every round visits each used slot once, in a fresh random
//! order, without storing the order.
//!
//! A round walks positions `0..4^h` (the smallest power of four at least the
//! slot count when the round began) through a keyed four-round Feistel
//! permutation and yields the images below the current slot count; others
//! are skipped (cycle-walking, at most four positions per slot on average).
//! A slot added during a round lands at a random point of it, as memberlist
//! inserts new nodes at a random place in its shuffled list. Memory: 16 bytes
//! per node instead of 4 per member.

use rand_core::RngCore;

use crate::identity::mix64;

/// The walk's position in the current round.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProbeWalk {
    key: u64,
    pos: u32,
    /// Bits of each Feistel half; the round covers `1 << (2 * half)` positions.
    half: u32,
}

/// Feistel rounds: four make a keyed permutation good enough that consecutive
/// positions land on unrelated slots.
const ROUNDS: u64 = 4;

impl ProbeWalk {
    /// The next slot below `high` in this round's order (starting a new round
    /// when this one is done); `None` only when `high` is 0.
    pub(crate) fn next(&mut self, high: u32, rng: &mut impl RngCore) -> Option<u32> {
        if high == 0 {
            return None;
        }
        // Each round yields every slot below `high` exactly once, so two rounds
        // of positions always find one.
        for _ in 0..2 {
            while self.pos < self.span() {
                let v = self.permute(self.pos);
                self.pos += 1;
                if v < high {
                    return Some(v);
                }
            }
            self.start_round(high, rng);
        }
        None
    }

    fn span(&self) -> u32 {
        if self.key == 0 {
            return 0; // no round started yet
        }
        1u32 << (2 * self.half)
    }

    fn start_round(&mut self, high: u32, rng: &mut impl RngCore) {
        let bits = u32::BITS - (high - 1).leading_zeros();
        self.half = bits.div_ceil(2);
        // A zero key marks "no round yet".
        self.key = rng.next_u64() | 1;
        self.pos = 0;
    }

    fn permute(&self, x: u32) -> u32 {
        let mask = (1u32 << self.half) - 1;
        let (mut l, mut r) = (x >> self.half, x & mask);
        for round in 0..ROUNDS {
            let f = mix64(self.key ^ (round << 56) ^ u64::from(r)) as u32 & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half) | r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::TestRng;
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn every_round_visits_each_slot_once() {
        let mut rng = TestRng(3);
        for high in [1u32, 2, 3, 5, 17, 64, 65, 1000] {
            let mut walk = ProbeWalk::default();
            for _round in 0..3 {
                let mut seen = vec![false; high as usize];
                for _ in 0..high {
                    let s = walk.next(high, &mut rng).unwrap();
                    assert!(!seen[s as usize], "slot {s} twice in a round of {high}");
                    seen[s as usize] = true;
                }
            }
        }
    }

    #[test]
    fn rounds_are_shuffled_afresh() {
        let mut rng = TestRng(9);
        let mut walk = ProbeWalk::default();
        let first: Vec<u32> = (0..100)
            .map(|_| walk.next(100, &mut rng).unwrap())
            .collect();
        let second: Vec<u32> = (0..100)
            .map(|_| walk.next(100, &mut rng).unwrap())
            .collect();
        assert_ne!(first, second);
        assert_ne!(
            first,
            (0..100).collect::<Vec<_>>(),
            "not the identity order"
        );
    }

    #[test]
    fn a_slot_added_mid_round_is_visited_within_two_rounds() {
        let mut rng = TestRng(5);
        let mut walk = ProbeWalk::default();
        for _ in 0..30 {
            walk.next(60, &mut rng);
        }
        let visited = (0..2 * 61).any(|_| walk.next(61, &mut rng) == Some(60));
        assert!(visited);
    }
}
