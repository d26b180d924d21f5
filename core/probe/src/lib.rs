//! A `#![no_std]` static library that drives `serf-core` from stack buffers.
//! If `alloc` were anywhere in the graph, linking would fail with "no global
//! memory allocator found"; if `std` were, with "duplicate lang item".
#![no_std]

use serf_core::wire::{Encoder, Message};
use serf_core::wire::crypto;
use serf_core::{Borrowed, Buffers};
use serf_core::{Capacity, Config, Instant, Node};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

struct Rng(u64);
impl serf_core::rand_core::RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = serf_core::mix64(self.0);
        self.0
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for b in d {
            *b = self.next_u32() as u8;
        }
    }
}

const MEMBERS: usize = 32;

/// Builds a node on the stack, feeds it `len` bytes at `data` as a datagram
/// (or a built-in one when `data` is null), runs a timer, and writes the first
/// outbound datagram to `out`. Returns its length, or a negative error code.
///
/// # Safety
/// `data` must be valid for `len` bytes (or null); `out` for `out_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn serf_probe_run(
    data: *const u8,
    len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    let config = Config {
        capacity: Capacity {
            members: MEMBERS,
            broadcasts: 32,
            user_broadcasts: 4,
            user_payload: 256,
            suspicions: 8,
            transmits: 16,
            events: 32,
            relays: 4,
            coordinates: 8,
            meta: 16,
            meta_pool: MEMBERS * 16 + 64,
            tagged: MEMBERS,
            event_ring: 16,
            query_ring: 16,
            incoming_queries: 2,
            outgoing_queries: 2,
            query_seen: 16,
            reassembly_slots: 1,
            reassembly_bytes: 2048,
            outbox: 4,
            pending_intents: 4,
            replay_events: 2,
        },
        keyring: {
            let mut ring = serf_core::wire::crypto::Keyring::default();
            if let Ok(k) = serf_core::wire::crypto::Key::new(&[7u8; 32]) {
                let _ = ring.install(k);
            }
            ring
        },
        ..Config::lan()
    };
    let mut slots = [Default::default(); MEMBERS];
    let mut index = [0u32; MEMBERS + MEMBERS / 4 + 1];
    let mut broadcasts = [Default::default(); 32];
    let mut broadcast_handles = [0u16; MEMBERS];
    let mut user_broadcasts = [Default::default(); 4];
    let mut user_arena = [0u8; 4 * 256];
    let mut user_lens = [0u16; 4];
    let mut suspicions = [Default::default(); 8];
    let mut suspicion_map = [0u64; 16];
    let mut transmits: [Option<_>; 16] = core::array::from_fn(|_| None);
    let mut events: [Option<_>; 32] = core::array::from_fn(|_| None);
    let mut relays: [Option<_>; 4] = core::array::from_fn(|_| None);
    let mut inbox = [0u8; 4 * 256];
    let mut inbox_lens = [0u16; 4];
    let mut inbox_kinds = [Default::default(); 4];
    let mut coordinates = [Default::default(); 8];
    let mut coordinate_map = [0u64; 16];
    let mut meta = [0u8; MEMBERS * 16 + 64];
    let mut meta_map = [0u64; MEMBERS * 2];
    let mut meta_flags = [0u64; MEMBERS.div_ceil(64)];
    let mut event_ring = [Default::default(); 16];
    let mut query_ring = [Default::default(); 16];
    let mut incoming: [_; 2] = core::array::from_fn(|_| Default::default());
    let mut outgoing: [_; 2] = core::array::from_fn(|_| Default::default());
    let mut query_seen = [0u64; 16];
    let mut reassembly: [_; 1] = core::array::from_fn(|_| Default::default());
    let mut reassembly_bytes = [0u8; 2048];
    let mut outbox = [0u8; 4 * 1400];
    let mut outbox_lens = [0u16; 4];
    let mut intent_status = [0u32; MEMBERS];
    let mut scratch = [0u8; 1400];
    let mut piggybacked = [0u32; 700];
    let mut replay = [0u8; 2 * serf_core::storage::replay_slot_len(512)];
    let mut replay_lens = [0u16; 2];
    let mut pending_intents: [_; 4] = core::array::from_fn(|_| Default::default());
    let buffers = Buffers::<u32, Borrowed<'_>> {
        slots: &mut slots,
        index: &mut index,
        broadcasts: &mut broadcasts,
        broadcast_handles: &mut broadcast_handles,
        user_broadcasts: &mut user_broadcasts,
        user_arena: &mut user_arena,
        user_lens: &mut user_lens,
        suspicions: &mut suspicions,
        suspicion_map: &mut suspicion_map,
        transmits: &mut transmits,
        events: &mut events,
        relays: &mut relays,
        inbox: &mut inbox,
        inbox_lens: &mut inbox_lens,
        inbox_kinds: &mut inbox_kinds,
        coordinates: &mut coordinates,
        coordinate_map: &mut coordinate_map,
        meta: &mut meta,
        meta_map: &mut meta_map,
        meta_flags: &mut meta_flags,
        event_ring: &mut event_ring,
        query_ring: &mut query_ring,
        incoming: &mut incoming,
        outgoing: &mut outgoing,
        query_seen: &mut query_seen,
        reassembly: &mut reassembly,
        reassembly_bytes: &mut reassembly_bytes,
        outbox: &mut outbox,
        outbox_lens: &mut outbox_lens,
        intent_status: &mut intent_status,
        pending_intents: &mut pending_intents,
        scratch: &mut scratch,
        piggybacked: &mut piggybacked,
        replay: &mut replay,
        replay_lens: &mut replay_lens,
    };
    let Ok(mut node) = Node::new(1u32, config, buffers, Rng(42), Instant::ZERO) else {
        return -1;
    };
    let mut builtin = [0u8; 128];
    let input: &[u8] = if data.is_null() {
        // A datagram sealed with the cluster key, as a peer would send it.
        let head = crypto::header_len(None, node.keyring());
        let Some(mut enc) = Encoder::new(&mut builtin[head..100]) else {
            return -2;
        };
        enc.push::<u32>(&Message::Alive {
            incarnation: 1,
            node: 2,
            meta: &[],
            protocol: 5,
        });
        enc.push::<u32>(&Message::Ping { seq: 7, target: 1 });
        let n = enc.len();
        let ring = node.keyring().clone();
        match crypto::seal(&mut builtin, n, None, &ring, [9; crypto::NONCE]) {
            Some(len) => &builtin[..len],
            None => return -4,
        }
    } else {
        unsafe { core::slice::from_raw_parts(data, len) }
    };
    if node
        .handle_datagram(Instant::from_millis(1), 2, input)
        .is_err()
    {
        return -3;
    }
    node.handle_timeout(Instant::from_secs(2));
    while node.poll_event().is_some() {}
    let out = unsafe { core::slice::from_raw_parts_mut(out, out_len) };
    match node.poll_transmit(out) {
        Some(t) => t.len as i32,
        None => 0,
    }
}
