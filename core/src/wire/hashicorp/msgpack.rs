//! msgpack as HashiCorp's go-msgpack writes memberlist's gossip, without
//! allocation: structs are maps keyed by field name (written in name order),
//! strings and byte slices are both "raw" (old-spec str: fixstr, str16, str32;
//! never str8 or bin), unsigned integers take the smallest form that holds
//! them. The reader also accepts the new spec (str8, bin, signed forms of
//! non-negative integers), as go-msgpack's decoder does.

use super::HcError;

/// Deepest nesting skipped over in an unknown field.
const MAX_DEPTH: u32 = 8;

/// Reads msgpack values from a byte slice; every malformed or truncated
/// input is an error, never a panic.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// What is left unread.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    fn byte(&mut self) -> Result<u8, HcError> {
        let (&b, rest) = self.rest.split_first().ok_or(HcError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HcError> {
        if self.rest.len() < n {
            return Err(HcError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn be(&mut self, n: usize) -> Result<u64, HcError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |v, &b| v << 8 | u64::from(b)))
    }

    /// A map header: the number of entries.
    pub fn map_len(&mut self) -> Result<usize, HcError> {
        match self.byte()? {
            b @ 0x80..=0x8f => Ok(usize::from(b & 0x0f)),
            0xde => Ok(self.be(2)? as usize),
            0xdf => Ok(self.be(4)? as usize),
            _ => Err(HcError::Msgpack),
        }
    }

    /// An array header: the number of items.
    pub fn array_len(&mut self) -> Result<usize, HcError> {
        match self.byte()? {
            b @ 0x90..=0x9f => Ok(usize::from(b & 0x0f)),
            0xdc => Ok(self.be(2)? as usize),
            0xdd => Ok(self.be(4)? as usize),
            _ => Err(HcError::Msgpack),
        }
    }

    /// An array header, or nil (Go's nil slice): `None`.
    pub fn opt_array_len(&mut self) -> Result<Option<usize>, HcError> {
        if self.rest.first() == Some(&0xc0) {
            self.rest = &self.rest[1..];
            return Ok(None);
        }
        self.array_len().map(Some)
    }

    /// A string or byte slice in any form (nil reads as empty, as Go's nil
    /// slice).
    pub fn bytes(&mut self) -> Result<&'a [u8], HcError> {
        let n = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 | 0xc4 => self.be(1)? as usize,
            0xda | 0xc5 => self.be(2)? as usize,
            0xdb | 0xc6 => self.be(4)? as usize,
            0xc0 => 0,
            _ => return Err(HcError::Msgpack),
        };
        self.take(n)
    }

    /// A string or byte slice that may be nil (Go's nil slice), kept apart
    /// from an empty one so it is written back the same way.
    pub fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, HcError> {
        if self.rest.first() == Some(&0xc0) {
            self.rest = &self.rest[1..];
            return Ok(None);
        }
        self.bytes().map(Some)
    }

    /// One whole value of any kind, as its encoded bytes.
    pub fn raw_value(&mut self) -> Result<&'a [u8], HcError> {
        let start = self.rest;
        self.skip()?;
        Ok(&start[..start.len() - self.rest.len()])
    }

    /// A non-negative integer in any form, at most `max`.
    pub fn uint(&mut self, max: u64) -> Result<u64, HcError> {
        let v = match self.byte()? {
            b @ 0x00..=0x7f => u64::from(b),
            0xcc => self.be(1)?,
            0xcd => self.be(2)?,
            0xce => self.be(4)?,
            0xcf => self.be(8)?,
            w @ 0xd0..=0xd3 => {
                let n = 1usize << (w - 0xd0);
                let raw = self.be(n)?;
                let sign = 1u64 << (n * 8 - 1);
                if raw & sign != 0 {
                    return Err(HcError::Msgpack);
                }
                raw
            }
            _ => return Err(HcError::Msgpack),
        };
        if v > max {
            return Err(HcError::Msgpack);
        }
        Ok(v)
    }

    /// A `u32` field.
    pub fn u32(&mut self) -> Result<u32, HcError> {
        Ok(self.uint(u64::from(u32::MAX))? as u32)
    }

    /// A `u16` field.
    pub fn u16(&mut self) -> Result<u16, HcError> {
        Ok(self.uint(u64::from(u16::MAX))? as u16)
    }

    /// A float (float64, or float32 widened).
    pub fn f64(&mut self) -> Result<f64, HcError> {
        match self.byte()? {
            0xcb => Ok(f64::from_bits(self.be(8)?)),
            0xca => Ok(f64::from(f32::from_bits(self.be(4)? as u32))),
            _ => Err(HcError::Msgpack),
        }
    }

    /// A boolean.
    pub fn bool(&mut self) -> Result<bool, HcError> {
        match self.byte()? {
            0xc2 => Ok(false),
            0xc3 => Ok(true),
            _ => Err(HcError::Msgpack),
        }
    }

    /// Skips one value of any kind (an unknown field).
    pub fn skip(&mut self) -> Result<(), HcError> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: u32) -> Result<(), HcError> {
        if depth > MAX_DEPTH {
            return Err(HcError::Msgpack);
        }
        let b = self.byte()?;
        let (bytes, items) = match b {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * usize::from(b & 0x0f)),
            0x90..=0x9f => (0, usize::from(b & 0x0f)),
            0xa0..=0xbf => (usize::from(b & 0x1f), 0),
            0xc4 | 0xd9 => (self.be(1)? as usize, 0),
            0xc5 | 0xda => (self.be(2)? as usize, 0),
            0xc6 | 0xdb => (self.be(4)? as usize, 0),
            0xc7 => (self.be(1)? as usize + 1, 0),
            0xc8 => (self.be(2)? as usize + 1, 0),
            0xc9 => (self.be(4)? as usize + 1, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.be(2)? as usize),
            0xdd => (0, self.be(4)? as usize),
            0xde => (0, 2 * self.be(2)? as usize),
            0xdf => (0, 2 * self.be(4)? as usize),
            0xc1 => return Err(HcError::Msgpack),
        };
        self.take(bytes)?;
        // Each item is at least one byte: a count past what is left is
        // malformed, and the loop below stays bounded by the input.
        if items > self.rest.len() {
            return Err(HcError::Truncated);
        }
        for _ in 0..items {
            self.skip_at(depth + 1)?;
        }
        Ok(())
    }
}

/// Writes msgpack into a byte slice; every write reports whether it fit.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// A writer filling `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Raw bytes, as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), HcError> {
        let end = self.len.checked_add(bytes.len()).ok_or(HcError::TooLarge)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(HcError::TooLarge)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn head(&mut self, tag: u8, value: u64, width: usize) -> Result<(), HcError> {
        let mut b = [0u8; 9];
        b[0] = tag;
        for i in 0..width {
            b[1 + i] = (value >> (8 * (width - 1 - i))) as u8;
        }
        self.raw(&b[..1 + width])
    }

    /// A map header of `n` entries.
    pub fn map(&mut self, n: usize) -> Result<(), HcError> {
        match n {
            0..=15 => self.raw(&[0x80 | n as u8]),
            16..=0xffff => self.head(0xde, n as u64, 2),
            _ => self.head(0xdf, n as u64, 4),
        }
    }

    /// An array header of `n` items.
    pub fn array(&mut self, n: usize) -> Result<(), HcError> {
        match n {
            0..=15 => self.raw(&[0x90 | n as u8]),
            16..=0xffff => self.head(0xdc, n as u64, 2),
            _ => self.head(0xdd, n as u64, 4),
        }
    }

    /// A float64.
    pub fn f64(&mut self, v: f64) -> Result<(), HcError> {
        self.head(0xcb, v.to_bits(), 8)
    }

    /// A string or byte slice, old-spec raw (as go-msgpack writes gossip).
    pub fn str(&mut self, s: &[u8]) -> Result<(), HcError> {
        match s.len() {
            0..=31 => self.raw(&[0xa0 | s.len() as u8])?,
            32..=0xffff => self.head(0xda, s.len() as u64, 2)?,
            n if n <= u32::MAX as usize => self.head(0xdb, n as u64, 4)?,
            _ => return Err(HcError::TooLarge),
        }
        self.raw(s)
    }

    /// An unsigned integer in its smallest form.
    pub fn uint(&mut self, v: u64) -> Result<(), HcError> {
        match v {
            0..=0x7f => self.raw(&[v as u8]),
            0x80..=0xff => self.head(0xcc, v, 1),
            0x100..=0xffff => self.head(0xcd, v, 2),
            0x1_0000..=0xffff_ffff => self.head(0xce, v, 4),
            _ => self.head(0xcf, v, 8),
        }
    }

    /// Bytes that may be nil (written as msgpack nil, as Go writes a nil
    /// slice).
    pub fn opt_str(&mut self, v: Option<&[u8]>) -> Result<(), HcError> {
        match v {
            Some(v) => self.str(v),
            None => self.raw(&[0xc0]),
        }
    }

    /// A boolean.
    pub fn bool(&mut self, v: bool) -> Result<(), HcError> {
        self.raw(&[if v { 0xc3 } else { 0xc2 }])
    }

    /// A map key followed by a string value.
    pub fn field_str(&mut self, key: &str, v: &[u8]) -> Result<(), HcError> {
        self.str(key.as_bytes())?;
        self.str(v)
    }

    /// A map key followed by an unsigned value.
    pub fn field_uint(&mut self, key: &str, v: u64) -> Result<(), HcError> {
        self.str(key.as_bytes())?;
        self.uint(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_strings_take_go_msgpacks_forms() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.uint(1).unwrap();
        w.uint(7946).unwrap();
        w.uint(0x7483_1e08).unwrap();
        w.str(b"hc1").unwrap();
        let n = w.len();
        assert_eq!(
            &buf[..n],
            &[0x01, 0xcd, 0x1f, 0x0a, 0xce, 0x74, 0x83, 0x1e, 0x08, 0xa3, b'h', b'c', b'1']
        );
        let mut r = Reader::new(&buf[..n]);
        assert_eq!(r.u32(), Ok(1));
        assert_eq!(r.u16(), Ok(7946));
        assert_eq!(r.u32(), Ok(0x7483_1e08));
        assert_eq!(r.bytes(), Ok(&b"hc1"[..]));
        assert!(r.rest().is_empty());
    }

    #[test]
    fn new_spec_forms_are_read_and_bad_ones_refused() {
        assert_eq!(Reader::new(&[0xd9, 1, b'x']).bytes(), Ok(&b"x"[..]));
        assert_eq!(Reader::new(&[0xc4, 1, 7]).bytes(), Ok(&[7u8][..]));
        assert_eq!(Reader::new(&[0xd1, 0x01, 0x00]).u32(), Ok(256));
        assert_eq!(Reader::new(&[0xd0, 0xff]).u32(), Err(HcError::Msgpack));
        assert_eq!(Reader::new(&[0xcd, 0xff, 0xff]).u16(), Ok(u16::MAX));
        assert_eq!(
            Reader::new(&[0xce, 0, 1, 0, 0]).u16(),
            Err(HcError::Msgpack)
        );
        assert_eq!(
            Reader::new(&[0xda, 0, 9, 1]).bytes(),
            Err(HcError::Truncated)
        );
        assert_eq!(Reader::new(&[0xc1]).skip(), Err(HcError::Msgpack));
        assert_eq!(
            Reader::new(&[0xdd, 0xff, 0xff, 0xff, 0xff]).skip(),
            Err(HcError::Truncated)
        );
        let nested = [0x91; 20];
        assert_eq!(Reader::new(&nested).skip(), Err(HcError::Msgpack));
    }
}
