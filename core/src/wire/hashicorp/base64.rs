//! Standard base64 with padding (Go's `base64.StdEncoding`): Serf's key
//! responses list keys as base64 text.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` into `out`; returns the length (`None` if it does not fit).
///
/// ```
/// use serf_core::wire::hashicorp::base64::{decode, encode};
/// let mut text = [0u8; 8];
/// let n = encode(b"key", &mut text).unwrap();
/// assert_eq!(&text[..n], b"a2V5");
/// let mut back = [0u8; 8];
/// assert_eq!(decode(&text[..n], &mut back), Some(3));
/// ```
pub fn encode(bytes: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = bytes.len().div_ceil(3) * 4;
    let out = out.get_mut(..n)?;
    for (chunk, o) in bytes.chunks(3).zip(out.chunks_mut(4)) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, c) in o.iter_mut().enumerate() {
            *c = if i <= chunk.len() {
                ALPHABET[(v >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            };
        }
    }
    Some(n)
}

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes padded base64 `text` into `out`; returns the length (`None` if
/// it is not base64 or does not fit).
pub fn decode(text: &[u8], out: &mut [u8]) -> Option<usize> {
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut n = 0;
    let quads = text.len() / 4;
    for (q, quad) in text.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && q + 1 != quads) {
            return None;
        }
        let mut v = 0u32;
        for &c in &quad[..4 - pad] {
            v = v << 6 | value(c)?;
        }
        v <<= 6 * pad as u32;
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        let take = 3 - pad;
        out.get_mut(n..n + take)?.copy_from_slice(&bytes[..take]);
        n += take;
    }
    Some(n)
}
