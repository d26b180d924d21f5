//! The other side of the race: foca 1.x (a Rust SWIM crate), driven through
//! its public API with a `u32` identity and its postcard codec, on the same
//! inputs as our node. Packets for both are built here so they carry the
//! same updates.

use std::time::Duration;

use bytes::BufMut;
use foca::{
    Codec, Config as FocaConfig, Foca, Header, Identity, Incarnation, Member, Message,
    Notification, PostcardCodec, Runtime, State, Timer,
};
use serde::{Deserialize, Serialize};
use serf_core::wire::{Encoder, Message as OurMessage};

use crate::rng::SimRng;

/// A foca identity that is just a member number (foca's own identities are
/// socket addresses; it asks for no more than this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FocaId(pub u32);

impl Identity for FocaId {
    type Addr = u32;
    fn renew(&self) -> Option<Self> {
        None
    }
    fn addr(&self) -> u32 {
        self.0
    }
    fn win_addr_conflict(&self, _adversary: &Self) -> bool {
        false
    }
}

/// A foca member on the simulator's RNG.
pub type FocaNode = Foca<FocaId, PostcardCodec, SimRng, foca::NoCustomBroadcast>;

/// A runtime that keeps what foca asks of it: datagrams to send, timers to
/// set and members seen going down.
#[derive(Default)]
pub struct Outputs {
    /// (destination, datagram).
    pub sent: Vec<(u32, Vec<u8>)>,
    /// (timer, after).
    pub timers: Vec<(Timer<FocaId>, Duration)>,
    /// Members this node declared down.
    pub down: Vec<u32>,
}

impl Runtime<FocaId> for Outputs {
    fn notify(&mut self, notification: Notification<'_, FocaId>) {
        if let Notification::MemberDown(m) = notification {
            self.down.push(m.0);
        }
    }
    fn send_to(&mut self, to: FocaId, data: &[u8]) {
        self.sent.push((to.0, data.to_vec()));
    }
    fn submit_after(&mut self, event: Timer<FocaId>, after: Duration) {
        self.timers.push((event, after));
    }
}

/// A runtime that drops everything (benchmarks of handling alone).
pub struct Discard;

impl Runtime<FocaId> for Discard {
    fn notify(&mut self, _: Notification<'_, FocaId>) {}
    fn send_to(&mut self, _: FocaId, _: &[u8]) {}
    fn submit_after(&mut self, _: Timer<FocaId>, _: Duration) {}
}

/// foca's LAN configuration for a cluster of `n`.
pub fn foca_config(n: u32) -> FocaConfig {
    FocaConfig::new_lan(std::num::NonZeroU32::new(n.max(1)).unwrap_or(std::num::NonZeroU32::MIN))
}

/// Member 0 of a cluster of `n + 1`, already knowing members `1..=n` alive
/// at incarnation 0 (warm, nothing queued for gossip).
pub fn foca_with(n: u32, seed: u64) -> FocaNode {
    let mut node = Foca::new(
        FocaId(0),
        foca_config(n + 1),
        SimRng::new(seed),
        PostcardCodec,
    );
    // Applying a known-good list cannot fail.
    let _ = node.apply_many(
        (1..=n).map(|i| Member::new(FocaId(i), 0, State::Alive)),
        false,
        Discard,
    );
    node
}

/// One MTU-sized foca gossip datagram from member 1 to member 0 carrying
/// alive updates about random members of `1..=n`, each at its next
/// incarnation (counted in `incarnations`, indexed by member): every update
/// is a real state change. Returns the packet and the members it names, so
/// the same updates can be put in our format.
pub fn foca_packet(
    rng: &mut SimRng,
    n: u32,
    incarnations: &mut [u16],
    mtu: usize,
) -> (Vec<u8>, Vec<u32>) {
    let mut codec = PostcardCodec;
    let mut head = Vec::new();
    let header = Header {
        src: FocaId(1),
        src_incarnation: 0,
        dst: FocaId(0),
        message: Message::Gossip,
    };
    if codec.encode_header(&header, &mut head).is_err() {
        return (Vec::new(), Vec::new());
    }
    let mut body = Vec::new();
    let mut named = Vec::new();
    loop {
        let id = 1 + rng.below(n as u64) as u32;
        let inc: Incarnation = incarnations[id as usize].wrapping_add(1);
        let mut one = Vec::new();
        if codec
            .encode_member(&Member::new(FocaId(id), inc, State::Alive), &mut one)
            .is_err()
            || head.len() + 2 + body.len() + one.len() > mtu
        {
            break;
        }
        incarnations[id as usize] = inc;
        body.extend_from_slice(&one);
        named.push(id);
    }
    let mut packet = head;
    packet.put_u16(named.len() as u16);
    packet.extend_from_slice(&body);
    (packet, named)
}

/// Our datagram with alive updates about `named` at their next incarnation
/// (counted in `incarnations`), as many as fit `mtu` (about two thirds of a
/// foca packet's: ours carries a protocol version and tags with each).
pub fn our_packet(named: &[u32], incarnations: &mut [u32], mtu: usize) -> Vec<u8> {
    let mut buf = vec![0u8; mtu];
    let Some(mut enc) = Encoder::new(&mut buf) else {
        return Vec::new();
    };
    for &id in named {
        let inc = incarnations[id as usize] + 1;
        if !enc.push::<u32>(&OurMessage::Alive {
            incarnation: inc,
            node: id,
            meta: &[],
            protocol: 5,
        }) {
            break;
        }
        incarnations[id as usize] = inc;
    }
    let len = enc.len();
    buf.truncate(len);
    buf
}
