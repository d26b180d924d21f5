//! Go's `compress/lzw` decoder (LSB bit order, 8-bit literals: what
//! memberlist's `compress` message carries), in bounded memory: a 4,096-code
//! table on the stack and output into the caller's buffer.

use super::HcError;

const LIT_WIDTH: u32 = 8;
const MAX_WIDTH: u32 = 12;
const CLEAR: u16 = 1 << LIT_WIDTH;
const EOF: u16 = CLEAR + 1;
const CODES: usize = 1 << MAX_WIDTH;
const INVALID: u16 = u16::MAX;

/// Decompresses `input` into `out`; returns the length written. Output that
/// would not fit `out` is [`HcError::TooLarge`]; a bad code is
/// [`HcError::Compress`]. Input ending without the end code is accepted, as
/// Go's reader returns what it decoded up to there.
pub fn decompress(input: &[u8], out: &mut [u8]) -> Result<usize, HcError> {
    let mut prefix = [0u16; CODES];
    let mut suffix = [0u8; CODES];
    let (mut width, mut hi, mut overflow) = (LIT_WIDTH + 1, EOF, 1u16 << (LIT_WIDTH + 1));
    let mut last = INVALID;
    let (mut acc, mut bits, mut at) = (0u32, 0u32, 0usize);
    let mut o = 0usize;
    loop {
        while bits < width {
            let Some(&b) = input.get(at) else {
                return Ok(o);
            };
            at += 1;
            acc |= u32::from(b) << bits;
            bits += 8;
        }
        let code = (acc & ((1 << width) - 1)) as u16;
        acc >>= width;
        bits -= width;
        if code < CLEAR {
            *out.get_mut(o).ok_or(HcError::TooLarge)? = code as u8;
            o += 1;
            if last != INVALID {
                suffix[usize::from(hi)] = code as u8;
                prefix[usize::from(hi)] = last;
            }
        } else if code == CLEAR {
            width = LIT_WIDTH + 1;
            hi = EOF;
            overflow = 1 << width;
            last = INVALID;
            continue;
        } else if code == EOF {
            return Ok(o);
        } else if code <= hi {
            // The expansion's length, then its bytes written back to front.
            let kwk = code == hi && last != INVALID;
            let mut c = if kwk { last } else { code };
            let mut len = 1usize;
            while c >= CLEAR {
                c = prefix[usize::from(c)];
                len += 1;
            }
            let head = c as u8;
            let total = len + usize::from(kwk);
            let end = o.checked_add(total).ok_or(HcError::TooLarge)?;
            let dst = out.get_mut(o..end).ok_or(HcError::TooLarge)?;
            let mut i = total;
            if kwk {
                // hi expands to last's expansion followed by its first byte.
                i -= 1;
                dst[i] = head;
            }
            let mut c = if kwk { last } else { code };
            while c >= CLEAR {
                i -= 1;
                dst[i] = suffix[usize::from(c)];
                c = prefix[usize::from(c)];
            }
            dst[0] = c as u8;
            o = end;
            if last != INVALID {
                suffix[usize::from(hi)] = head;
                prefix[usize::from(hi)] = last;
            }
        } else {
            return Err(HcError::Compress);
        }
        last = code;
        hi += 1;
        if hi >= overflow {
            if width == MAX_WIDTH {
                last = INVALID;
                hi -= 1;
            } else {
                width += 1;
                overflow = 1 << width;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes written LSB first at width 9.
    fn pack(codes: &[u16]) -> ([u8; 32], usize) {
        let (mut out, mut acc, mut bits, mut n) = ([0u8; 32], 0u32, 0u32, 0usize);
        for &c in codes {
            acc |= u32::from(c) << bits;
            bits += 9;
            while bits >= 8 {
                out[n] = acc as u8;
                n += 1;
                acc >>= 8;
                bits -= 8;
            }
        }
        if bits > 0 {
            out[n] = acc as u8;
            n += 1;
        }
        (out, n)
    }

    #[test]
    fn codes_expand_including_the_one_being_defined() {
        // clear, 'a', 'b', 258 ("ab"), 260 (being defined: "ab" + "a"), eof.
        let (bytes, n) = pack(&[CLEAR, 97, 98, 258, 260, EOF]);
        let mut out = [0u8; 16];
        let len = decompress(&bytes[..n], &mut out).unwrap();
        assert_eq!(&out[..len], b"abababa");
    }

    #[test]
    fn output_past_the_buffer_and_bad_codes_are_errors() {
        let (bytes, n) = pack(&[CLEAR, 97, 98, 258, 260, EOF]);
        assert_eq!(
            decompress(&bytes[..n], &mut [0u8; 4]),
            Err(HcError::TooLarge)
        );
        // Code 300 before the table holds it.
        let (bad, n) = pack(&[300]);
        assert_eq!(decompress(&bad[..n], &mut [0u8; 8]), Err(HcError::Compress));
    }
}
