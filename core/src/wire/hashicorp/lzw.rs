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
    let mut z = Lzw::new();
    let (used, n) = z.step(input, out, 1)?;
    if let Some(e) = z.failed {
        return Err(e);
    }
    if used < input.len() && !z.done {
        return Err(HcError::TooLarge);
    }
    Ok(n)
}

/// The most one code expands to: what an output buffer handed to
/// [`Lzw::feed`] must hold for it to make progress.
pub const MAX_EXPANSION: usize = CODES;

/// A decoder fed a compressed stream piece by piece: the code table, the
/// bits of a code not yet complete, and whether the end code came.
pub struct Lzw {
    prefix: [u16; CODES],
    suffix: [u8; CODES],
    width: u32,
    hi: u16,
    overflow: u16,
    last: u16,
    acc: u32,
    bits: u32,
    done: bool,
    /// A bad code: what came before it is handed out, then this.
    failed: Option<HcError>,
}

impl Default for Lzw {
    fn default() -> Self {
        Self::new()
    }
}

impl Lzw {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Lzw {
            prefix: [0; CODES],
            suffix: [0; CODES],
            width: LIT_WIDTH + 1,
            hi: EOF,
            overflow: 1 << (LIT_WIDTH + 1),
            last: INVALID,
            acc: 0,
            bits: 0,
            done: false,
            failed: None,
        }
    }

    /// Back to the start of a stream. The table is not cleared: an entry is
    /// always written before a code can name it.
    pub fn reset(&mut self) {
        self.width = LIT_WIDTH + 1;
        self.hi = EOF;
        self.overflow = 1 << (LIT_WIDTH + 1);
        self.last = INVALID;
        self.acc = 0;
        self.bits = 0;
        self.done = false;
        self.failed = None;
    }

    /// The bad code's error, once one was read.
    pub fn failure(&self) -> Option<HcError> {
        self.failed
    }

    /// Whether the end code has been read (what follows it is ignored).
    pub fn done(&self) -> bool {
        self.done
    }

    /// Decodes as much of `input` as fits `out` (which should hold at least
    /// [`MAX_EXPANSION`] bytes); returns (input bytes used, output bytes
    /// written). Unused input is offered again with the next call. A bad
    /// code ends the output before it; the next call returns the error.
    pub fn feed(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), HcError> {
        self.step(input, out, MAX_EXPANSION)
    }

    /// Decodes while at least `room` bytes of `out` are left (a code that
    /// does not fit what is left is an error).
    fn step(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        room: usize,
    ) -> Result<(usize, usize), HcError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let (mut at, mut o) = (0usize, 0usize);
        let room = room.min(out.len());
        // With a room of one, a code that does not fit is the error.
        while !self.done && (room <= 1 || out.len() - o >= room) {
            while self.bits < self.width {
                let Some(&b) = input.get(at) else {
                    return Ok((at, o));
                };
                at += 1;
                self.acc |= u32::from(b) << self.bits;
                self.bits += 8;
            }
            let code = (self.acc & ((1 << self.width) - 1)) as u16;
            self.acc >>= self.width;
            self.bits -= self.width;
            match self.code(code, &mut out[o..]) {
                Ok(n) => o += n,
                Err(e) => {
                    self.failed = Some(e);
                    return Ok((at, o));
                }
            }
        }
        Ok((at, o))
    }

    /// One code: its expansion written at the start of `out`; returns its
    /// length.
    fn code(&mut self, code: u16, out: &mut [u8]) -> Result<usize, HcError> {
        let written;
        if code < CLEAR {
            *out.first_mut().ok_or(HcError::TooLarge)? = code as u8;
            written = 1;
            if self.last != INVALID {
                self.suffix[usize::from(self.hi)] = code as u8;
                self.prefix[usize::from(self.hi)] = self.last;
            }
        } else if code == CLEAR {
            self.width = LIT_WIDTH + 1;
            self.hi = EOF;
            self.overflow = 1 << self.width;
            self.last = INVALID;
            return Ok(0);
        } else if code == EOF {
            self.done = true;
            return Ok(0);
        } else if code <= self.hi {
            // The expansion's length, then its bytes written back to front.
            let kwk = code == self.hi && self.last != INVALID;
            let mut c = if kwk { self.last } else { code };
            let mut len = 1usize;
            while c >= CLEAR {
                c = self.prefix[usize::from(c)];
                len += 1;
            }
            let head = c as u8;
            let total = len + usize::from(kwk);
            let dst = out.get_mut(..total).ok_or(HcError::TooLarge)?;
            let mut i = total;
            if kwk {
                // hi expands to last's expansion followed by its first byte.
                i -= 1;
                dst[i] = head;
            }
            let mut c = if kwk { self.last } else { code };
            while c >= CLEAR {
                i -= 1;
                dst[i] = self.suffix[usize::from(c)];
                c = self.prefix[usize::from(c)];
            }
            dst[0] = c as u8;
            written = total;
            if self.last != INVALID {
                self.suffix[usize::from(self.hi)] = head;
                self.prefix[usize::from(self.hi)] = self.last;
            }
        } else {
            return Err(HcError::Compress);
        }
        self.last = code;
        self.hi += 1;
        if self.hi >= self.overflow {
            if self.width == MAX_WIDTH {
                self.last = INVALID;
                self.hi -= 1;
            } else {
                self.width += 1;
                self.overflow = 1 << self.width;
            }
        }
        Ok(written)
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
