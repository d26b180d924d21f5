//! Small helpers over the caller's `RngCore`.

use rand_core::RngCore;

/// Uniform integer in `0..n` (Lemire's multiply-and-reject; 0 when `n == 0`).
pub fn below(rng: &mut impl RngCore, n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = rng.next_u32() as u64 * n as u64;
        if (m as u32) >= threshold {
            return (m >> 32) as u32;
        }
    }
}

/// Uniform duration in `0..d` (for timer stagger).
pub fn jitter(rng: &mut impl RngCore, d: core::time::Duration) -> core::time::Duration {
    let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if n == 0 {
        return d;
    }
    core::time::Duration::from_nanos(rng.next_u64() % n)
}
