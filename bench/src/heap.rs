//! Boxed-slice buffers for std callers of `serf-core`.

use serf_core::{Buffers, Provide, Store};
use serf_core::{Config, Identity};

/// Buffers owned as boxed slices.
pub struct Heap;

impl Store for Heap {
    type Buf<T: 'static> = Box<[T]>;
}

impl Provide<Heap> for Heap {
    fn provide<T: Clone + 'static>(&mut self, len: usize, fill: T) -> Box<[T]> {
        vec![fill; len].into_boxed_slice()
    }
}

/// Buffers for `config`, on the heap.
pub fn buffers<I: Identity>(config: &Config) -> Buffers<I, Heap> {
    Buffers::new(config, &mut Heap)
}
