//! Lazy iteration over a postcard-encoded sequence, borrowing from its bytes
//! (tag sets, node filter lists). Malformed input ends the iteration.

use core::marker::PhantomData;

use serde::Deserialize;

/// Items of an encoded sequence, decoded one at a time.
#[derive(Clone, Debug)]
pub struct Seq<'a, T> {
    rest: &'a [u8],
    left: usize,
    _item: PhantomData<T>,
}

impl<'a, T: Deserialize<'a>> Seq<'a, T> {
    /// Reads a sequence (empty bytes: no items).
    pub fn new(bytes: &'a [u8]) -> Self {
        // The length prefix is a varint.
        let (left, rest) = postcard::take_from_bytes::<usize>(bytes).unwrap_or((0, &[]));
        Seq {
            rest,
            left,
            _item: PhantomData,
        }
    }
}

impl<'a, T: Deserialize<'a>> Iterator for Seq<'a, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        match postcard::take_from_bytes::<T>(self.rest) {
            Ok((v, rest)) => {
                self.rest = rest;
                self.left -= 1;
                Some(v)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }
}
