//! Tags: a member's key/value metadata, carried encoded in alive messages.
//!
//! Encoding: postcard of a sequence of `(key, value)` string pairs, at most
//! [`MAX_META`] bytes (Serf's limit). Decoding borrows from the bytes and
//! never panics: a malformed encoding simply yields fewer pairs.

use serde::Serialize;

use crate::wire::seq::Seq;

/// Largest encoded tag set (Serf / memberlist `MetaMaxSize`).
pub const MAX_META: usize = 512;

/// Why tags could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagsTooLarge;

/// Encodes `pairs` into `buf`, returning the encoded length.
///
/// ```
/// use serf_core::wire::tags::{encode, Tags};
/// let mut buf = [0u8; 512];
/// let n = encode(&[("role", "web"), ("region", "syd")], &mut buf).unwrap();
/// let tags: Vec<_> = Tags::new(&buf[..n]).collect();
/// assert_eq!(tags, [("role", "web"), ("region", "syd")]);
/// assert_eq!(Tags::new(&buf[..n]).get("region"), Some("syd"));
/// ```
pub fn encode(pairs: &[(&str, &str)], buf: &mut [u8]) -> Result<usize, TagsTooLarge> {
    let limit = buf.len().min(MAX_META);
    #[derive(Serialize)]
    struct Seq<'a, 'b>(&'a [(&'b str, &'b str)]);
    postcard::to_slice(&Seq(pairs), &mut buf[..limit])
        .map(|b| b.len())
        .map_err(|_| TagsTooLarge)
}

/// Iterates over the pairs of an encoded tag set.
#[derive(Clone, Debug)]
pub struct Tags<'a>(Seq<'a, (&'a str, &'a str)>);

impl<'a> Tags<'a> {
    /// Reads encoded tags (empty bytes = no tags).
    pub fn new(meta: &'a [u8]) -> Self {
        Tags(Seq::new(meta))
    }
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.clone().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_tags_are_refused() {
        let big = [b'x'; 600];
        let v = core::str::from_utf8(&big).unwrap();
        let mut buf = [0u8; 1024];
        assert_eq!(encode(&[("k", v)], &mut buf), Err(TagsTooLarge));
    }

    #[test]
    fn garbage_meta_yields_no_pairs_without_panicking() {
        for bytes in [&[0xFFu8, 0xFF, 0xFF][..], &[5, 1], &[2, 3, b'a', b'b']] {
            let _ = Tags::new(bytes).count();
        }
        assert_eq!(Tags::new(&[]).count(), 0);
    }
}
