//! Caller-supplied monotonic time.
//!
//! The core never reads a clock: every input carries an [`Instant`], a count of
//! nanoseconds since an arbitrary epoch chosen by the runtime (or the simulator's
//! virtual clock).

use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on the caller's monotonic clock, in nanoseconds since its epoch.
///
/// ```
/// use core::time::Duration;
/// use serf_core::Instant;
/// let t = Instant::from_millis(1_500);
/// assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);
    /// Far future: used for "no deadline".
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `n` nanoseconds after the epoch.
    pub const fn from_nanos(n: u64) -> Self {
        Instant(n)
    }
    /// An instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1_000_000))
    }
    /// An instant `s` seconds after the epoch.
    pub const fn from_secs(s: u64) -> Self {
        Instant(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
    /// The coarse 24-bit timestamp kept in member records (unit = 2^28 ns ≈ 0.27 s,
    /// wrapping every ≈ 52 days; ages are always far shorter than that because the
    /// probe walk reaps old records within one round).
    pub(crate) fn coarse(self) -> u32 {
        ((self.0 >> COARSE_SHIFT) as u32) & COARSE_MASK
    }
}

pub(crate) const COARSE_SHIFT: u32 = 28;
pub(crate) const COARSE_MASK: u32 = 0x00FF_FFFF;

/// Age of a coarse timestamp relative to `now`.
pub(crate) fn coarse_age(now: Instant, then: u32) -> Duration {
    let units = now.coarse().wrapping_sub(then) & COARSE_MASK;
    Duration::from_nanos((units as u64) << COARSE_SHIFT)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(nanos(d)))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(nanos(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_age_survives_wrap() {
        let then = Instant::from_nanos(((COARSE_MASK as u64) << COARSE_SHIFT) + 5);
        let now = then + Duration::from_secs(10);
        let age = coarse_age(now, then.coarse());
        assert!(age >= Duration::from_secs(9) && age <= Duration::from_secs(11));
    }
}
