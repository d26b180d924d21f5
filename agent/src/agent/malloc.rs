//! Allocator settings for a long-running, mostly idle agent (glibc only).
//!
//! - One arena: the agent's threads (RPC, handlers, the protocol loop) allocate
//!   little and rarely contend, while every extra arena keeps its own touched
//!   pages (about 60 KiB each at idle).
//! - A fixed 64 KiB mmap threshold: the core's tables above it (outbox, user
//!   payload arenas, member slots, coordinates) come straight from the kernel as
//!   zero pages that stay untouched until records land there. glibc's default
//!   threshold starts at 128 KiB and rises when a large block is freed, after
//!   which big zeroed tables land on the heap and are cleared there.
//!
//! Together: about 160 KiB less idle RSS (2,960 → 2,800 KiB measured with the
//! static build). Other libcs keep their defaults.

/// Applies the settings; call before the agent starts any thread.
pub fn lean() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}
