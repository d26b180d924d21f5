//! Boxed-slice buffers for std callers of `serf-core`: the std runtime's
//! [`Heap`] store, and a shorthand for a node's buffers on it.

use serf_core::Buffers;
use serf_core::{Config, Identity};

pub use serf_runtime_std::member::Heap;

/// Buffers for `config`, on the heap.
pub fn buffers<I: Identity>(config: &Config) -> Buffers<I, Heap> {
    Buffers::new(config, &mut Heap)
}
