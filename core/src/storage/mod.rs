//! Where the core's memory comes from.
//!
//! The core never allocates. Every table lives in a buffer the caller provides:
//! a borrowed slice (`&mut [T]`, e.g. a `static` or a stack array in a sidecar),
//! or an owned boxed slice in a std runtime. [`Store`] names the buffer type;
//! [`crate::Buffers`] bundles one buffer per table. The primitives every table
//! is built from live here: `ring` (a bounded FIFO), `slots` (fixed byte
//! slots with a length each) and `map` (a small integer map).

use core::marker::PhantomData;
use core::ops::DerefMut;

pub(crate) mod map;
pub(crate) mod ring;
pub(crate) mod slots;

/// Layout facts for callers that size or lay out buffers themselves.
pub use crate::node::members::table::{index_len, Slot};
pub use crate::node::user_events::replay::slot_len as replay_slot_len;
pub use crate::vivaldi::cache::CacheEntry;

/// A family of slice-like buffers.
///
/// ```
/// use serf_core::{Borrowed, Store};
/// fn takes<S: Store>(b: S::Buf<u32>) -> usize { b.len() }
/// let mut a = [0u32; 4];
/// assert_eq!(takes::<Borrowed<'_>>(&mut a[..]), 4);
/// ```
pub trait Store {
    /// A buffer of `T`.
    type Buf<T: 'static>: DerefMut<Target = [T]>;

    /// Hints that the line at `at` will be read soon. The core calls it
    /// where it knows several scattered reads ahead of time, so that their
    /// cache misses overlap. The default does nothing; a store for a CPU
    /// with a prefetch instruction may issue it (a hint: it must not fault
    /// whatever the address).
    #[inline(always)]
    fn prefetch(at: *const u8) {
        let _ = at;
    }
}

/// Buffers borrowed from the caller for `'a`.
pub struct Borrowed<'a>(PhantomData<&'a mut ()>);

impl<'a> Store for Borrowed<'a> {
    type Buf<T: 'static> = &'a mut [T];
}

/// Makes buffers for a [`Store`] (a std runtime implements this with boxed slices).
pub trait Provide<S: Store> {
    /// A buffer of `len` copies of `fill`.
    fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> S::Buf<T>;
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Unit tests (which run with std) keep their buffers in vectors.
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    pub struct Heapless;
    impl Store for Heapless {
        type Buf<T: 'static> = Vec<T>;
    }
    impl Heapless {
        pub fn buf<T: Clone + 'static>(len: usize, fill: T) -> Vec<T> {
            vec![fill; len]
        }
    }
    impl Provide<Heapless> for Heapless {
        fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> Vec<T> {
            Heapless::buf(len, fill)
        }
    }

    pub struct TestRng(pub u64);
    impl rand_core::RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            crate::identity::mix64(self.0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for b in dst {
                *b = self.next_u32() as u8;
            }
        }
    }
}
