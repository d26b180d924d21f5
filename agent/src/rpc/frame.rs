//! Reading one msgpack object off a stream within limits.
//!
//! An RPC stream has no framing: objects are self-delimiting. The object is
//! first walked byte by byte (copying what arrives), checking its size, depth
//! and element count; only a complete, bounded object is then decoded into a
//! value. No length read from the wire sizes an allocation: memory grows with
//! the bytes that actually arrived (HashiCorp's agent, fed random bytes on
//! 1,000 connections, ran out of memory), and a declared million-element array
//! of nils cannot become a million decoded values.

use std::io::Read;

use rmpv::Value;

/// How big an object may be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Encoded bytes.
    pub(crate) bytes: usize,
    /// Array elements plus map keys and values, over the whole object.
    pub(crate) items: usize,
    /// Nesting of arrays and maps.
    pub(crate) depth: usize,
}

impl Limits {
    /// Requests: a header or a body (a query payload, a join list, tags).
    /// Serf's own limits keep every legitimate body far below these.
    pub(crate) const REQUEST: Limits = Limits {
        bytes: 1 << 20,
        items: 4096,
        depth: 16,
    };
    /// Responses as the CLI reads them (a members list of a large cluster).
    pub(crate) const RESPONSE: Limits = Limits {
        bytes: 256 << 20,
        items: 1 << 24,
        depth: 32,
    };
}

/// Reads one object from `r`: an error for a closed stream, bytes that are
/// not msgpack, or an object over `limits`.
pub(crate) fn read_object(r: &mut impl Read, limits: Limits) -> Result<Value, String> {
    let mut walk = Walk {
        r,
        bytes: Vec::new(),
        items: 0,
        limits,
    };
    walk.object(0)?;
    rmpv::decode::read_value(&mut &walk.bytes[..]).map_err(|e| format!("malformed request: {e}"))
}

struct Walk<'a, R> {
    r: &'a mut R,
    /// What was read so far (the object's encoding).
    bytes: Vec<u8>,
    items: usize,
    limits: Limits,
}

impl<R: Read> Walk<'_, R> {
    /// Reads `n` more bytes onto the copy, in chunks as they arrive.
    fn take(&mut self, n: usize) -> Result<(), String> {
        if self.bytes.len() + n > self.limits.bytes {
            return Err(format!(
                "malformed request: object over {} bytes",
                self.limits.bytes
            ));
        }
        let mut left = n;
        let mut chunk = [0u8; 4096];
        while left > 0 {
            let want = left.min(chunk.len());
            self.r
                .read_exact(&mut chunk[..want])
                .map_err(|e| format!("malformed request: {e}"))?;
            self.bytes.extend_from_slice(&chunk[..want]);
            left -= want;
        }
        Ok(())
    }

    /// The last `n` bytes read, as a big-endian length.
    fn len(&mut self, n: usize) -> Result<usize, String> {
        self.take(n)?;
        let tail = &self.bytes[self.bytes.len() - n..];
        Ok(tail.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
    }

    fn elements(&mut self, n: usize, depth: usize) -> Result<(), String> {
        if depth >= self.limits.depth {
            return Err("malformed request: nested too deeply".into());
        }
        for _ in 0..n {
            self.items += 1;
            if self.items > self.limits.items {
                return Err(format!(
                    "malformed request: more than {} elements",
                    self.limits.items
                ));
            }
            self.object(depth + 1)?;
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), String> {
        self.take(1)?;
        let marker = self.bytes[self.bytes.len() - 1];
        match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Ok(()),
            0x80..=0x8f => self.elements(2 * (marker & 0x0f) as usize, depth),
            0x90..=0x9f => self.elements((marker & 0x0f) as usize, depth),
            0xa0..=0xbf => self.take((marker & 0x1f) as usize),
            0xc4 | 0xd9 => {
                let n = self.len(1)?;
                self.take(n)
            }
            0xc5 | 0xda => {
                let n = self.len(2)?;
                self.take(n)
            }
            0xc6 | 0xdb => {
                let n = self.len(4)?;
                self.take(n)
            }
            // ext 8/16/32: length, type byte, data.
            0xc7 => {
                let n = self.len(1)?;
                self.take(n + 1)
            }
            0xc8 => {
                let n = self.len(2)?;
                self.take(n + 1)
            }
            0xc9 => {
                let n = self.len(4)?;
                self.take(n + 1)
            }
            0xca => self.take(4),
            0xcb => self.take(8),
            0xcc | 0xd0 => self.take(1),
            0xcd | 0xd1 => self.take(2),
            0xce | 0xd2 => self.take(4),
            0xcf | 0xd3 => self.take(8),
            // fixext 1/2/4/8/16: type byte and data.
            0xd4 => self.take(2),
            0xd5 => self.take(3),
            0xd6 => self.take(5),
            0xd7 => self.take(9),
            0xd8 => self.take(17),
            0xdc => {
                let n = self.len(2)?;
                self.elements(n, depth)
            }
            0xdd => {
                let n = self.len(4)?;
                self.elements(n, depth)
            }
            0xde => {
                let n = self.len(2)?;
                self.elements(2 * n, depth)
            }
            0xdf => {
                let n = self.len(4)?;
                self.elements(2 * n, depth)
            }
            0xc1 => Err("malformed request: reserved byte 0xc1".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, v).unwrap();
        b
    }

    #[test]
    fn every_kind_of_value_reads_back_whole_and_consecutive_objects_stay_apart() {
        let v = Value::Map(vec![
            ("Command".into(), "members".into()),
            ("Seq".into(), u64::MAX.into()),
            ("N".into(), (-40_000i64).into()),
            ("F".into(), 1.5f64.into()),
            ("B".into(), Value::Binary(vec![7; 300])),
            ("S".into(), "x".repeat(70_000).into()),
            (
                "A".into(),
                Value::Array(vec![Value::Nil, true.into(), 0.5f32.into()]),
            ),
            ("E".into(), Value::Ext(3, vec![1, 2, 3, 4])),
        ]);
        let mut bytes = encode(&v);
        bytes.extend(encode(&Value::from(5)));
        let mut r = &bytes[..];
        assert_eq!(read_object(&mut r, Limits::REQUEST).unwrap(), v);
        assert_eq!(
            read_object(&mut r, Limits::REQUEST).unwrap(),
            Value::from(5)
        );
        assert!(
            read_object(&mut r, Limits::REQUEST).is_err(),
            "end of stream"
        );
    }

    #[test]
    fn declared_lengths_never_size_memory_only_arrived_bytes_do() {
        // A 4-billion-element array and a 4 GiB string, each a few bytes long.
        for bytes in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0][..],
            &[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
        ] {
            assert!(read_object(&mut &bytes[..], Limits::REQUEST).is_err());
        }
    }

    #[test]
    fn objects_over_the_limits_are_refused() {
        let many = Value::Array(vec![Value::Nil; 5000]);
        let e = read_object(&mut &encode(&many)[..], Limits::REQUEST).unwrap_err();
        assert!(e.contains("elements"), "{e}");
        let mut deep = Value::Nil;
        for _ in 0..20 {
            deep = Value::Array(vec![deep]);
        }
        let e = read_object(&mut &encode(&deep)[..], Limits::REQUEST).unwrap_err();
        assert!(e.contains("deeply"), "{e}");
        let big = Value::Binary(vec![0; 2 << 20]);
        let e = read_object(&mut &encode(&big)[..], Limits::REQUEST).unwrap_err();
        assert!(e.contains("bytes"), "{e}");
        assert!(read_object(&mut &[0xc1][..], Limits::REQUEST).is_err());
    }
}
