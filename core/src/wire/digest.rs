//! The push-pull digest's bytes: one little-endian `u64` per bucket.

/// Buckets in a member-table digest. Fixed for the whole cluster (both sides
/// of an exchange must bucket alike); a [`Message::Differ`](super::Message)
/// names the differing ones in a `u128`.
pub const BUCKETS: usize = 128;

/// Encoded size of a digest's sums.
pub const SUMS_LEN: usize = BUCKETS * 8;

/// Per-bucket sums of a member table.
pub type Sums = [u64; BUCKETS];

/// Writes `sums` as the bytes a `Message::Digest` carries.
pub fn sums_to_bytes(sums: &Sums, out: &mut [u8; SUMS_LEN]) {
    for (chunk, s) in out.chunks_exact_mut(8).zip(sums) {
        chunk.copy_from_slice(&s.to_le_bytes());
    }
}

/// Reads a `Message::Digest`'s bytes; `None` unless exactly [`SUMS_LEN`] long.
pub fn sums_from_bytes(bytes: &[u8]) -> Option<Sums> {
    if bytes.len() != SUMS_LEN {
        return None;
    }
    let mut sums = [0u64; BUCKETS];
    for (s, chunk) in sums.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *s = u64::from_le_bytes(b);
    }
    Some(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_survive_their_bytes_and_other_lengths_are_refused() {
        let mut sums = [0u64; BUCKETS];
        for (i, s) in sums.iter_mut().enumerate() {
            *s = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        let mut out = [0u8; SUMS_LEN];
        sums_to_bytes(&sums, &mut out);
        assert_eq!(sums_from_bytes(&out), Some(sums));
        assert_eq!(sums_from_bytes(&out[1..]), None);
        assert_eq!(sums_from_bytes(&[]), None);
    }
}
