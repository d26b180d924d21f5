//! Lifeguard's local health multiplier: a saturating score that grows when this
//! node misses acks or nacks (a sign that *it* is slow) and scales its probe
//! interval so that a struggling node accuses others less eagerly.

use core::time::Duration;

/// Health score in `0..max`.
#[derive(Clone, Copy, Debug)]
pub struct Awareness {
    score: i32,
    max: i32,
}

impl Awareness {
    /// A healthy node with ceiling `max` (memberlist's AwarenessMaxMultiplier).
    pub fn new(max: u32) -> Self {
        Awareness {
            score: 0,
            max: max.max(1) as i32,
        }
    }
    /// Adds `delta`, saturating to `0..max`.
    pub fn apply(&mut self, delta: i32) {
        self.score = (self.score.saturating_add(delta)).clamp(0, self.max - 1);
    }
    /// Current score (0 = healthy).
    pub fn score(&self) -> u32 {
        self.score as u32
    }
    /// `d × (score + 1)`.
    pub fn scale(&self, d: Duration) -> Duration {
        d * (self.score as u32 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_score_saturates_and_scales_the_interval() {
        use core::time::Duration;
        let mut a = Awareness::new(8);
        a.apply(3);
        assert_eq!(a.score(), 3);
        assert_eq!(a.scale(Duration::from_secs(1)), Duration::from_secs(4));
        a.apply(100);
        assert_eq!(a.score(), 7);
        a.apply(-100);
        assert_eq!(a.score(), 0);
    }
}
