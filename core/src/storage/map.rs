//! A fixed-capacity open-addressing map from `u32` to `u32` (linear probing,
//! backward-shift deletion), used to find the queued broadcast or the running
//! suspicion of a member slot in O(1).

const EMPTY: u64 = u64::MAX;

/// Fibonacci hashing: the keys are slot numbers (small, dense), which one
/// multiply spreads well; the high half picks the bucket.
#[inline]
fn home(len: usize, key: u32) -> usize {
    let h = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (((h >> 32) * len as u64) >> 32) as usize
}

/// Looks `key` up.
pub fn get(buckets: &[u64], key: u32) -> Option<u32> {
    let n = buckets.len();
    if n == 0 {
        return None;
    }
    let mut b = home(n, key);
    for _ in 0..n {
        let e = buckets[b];
        if e == EMPTY {
            return None;
        }
        if (e >> 32) as u32 == key {
            return Some(e as u32);
        }
        b = if b + 1 == n { 0 } else { b + 1 };
    }
    None
}

/// Inserts or overwrites; fails only when every bucket is taken (callers size
/// the map at twice the entries it indexes, so this never happens in use).
pub fn insert(buckets: &mut [u64], key: u32, value: u32) -> bool {
    let n = buckets.len();
    if n == 0 {
        return false;
    }
    let mut b = home(n, key);
    for _ in 0..n {
        let e = buckets[b];
        if e == EMPTY || (e >> 32) as u32 == key {
            buckets[b] = ((key as u64) << 32) | value as u64;
            return true;
        }
        b = if b + 1 == n { 0 } else { b + 1 };
    }
    false
}

/// Removes `key` if present.
pub fn remove(buckets: &mut [u64], key: u32) {
    let n = buckets.len();
    if n == 0 {
        return;
    }
    let mut i = home(n, key);
    let mut found = false;
    for _ in 0..n {
        let e = buckets[i];
        if e == EMPTY {
            return;
        }
        if (e >> 32) as u32 == key {
            found = true;
            break;
        }
        i = if i + 1 == n { 0 } else { i + 1 };
    }
    if !found {
        return;
    }
    let mut j = i;
    loop {
        j = if j + 1 == n { 0 } else { j + 1 };
        let e = buckets[j];
        if e == EMPTY {
            break;
        }
        let k = home(n, (e >> 32) as u32);
        let stays = if i <= j {
            i < k && k <= j
        } else {
            i < k || k <= j
        };
        if !stays {
            buckets[i] = e;
            i = j;
        }
    }
    buckets[i] = EMPTY;
}

/// Empties the map.
pub fn clear(buckets: &mut [u64]) {
    buckets.fill(EMPTY);
}

#[cfg(test)]
mod tests {
    #[test]
    fn map_survives_churn() {
        let mut b = [0u64; 64];
        super::clear(&mut b);
        for k in 0..32u32 {
            assert!(super::insert(&mut b, k * 31, k));
        }
        for k in (0..32u32).filter(|k| k % 2 == 0) {
            super::remove(&mut b, k * 31);
        }
        for k in 0..32u32 {
            let want = (k % 2 == 1).then_some(k);
            assert_eq!(super::get(&b, k * 31), want);
        }
    }
}
