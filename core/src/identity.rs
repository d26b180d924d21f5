//! What names a member on the wire and in the table.

use serde::{de::DeserializeOwned, Serialize};

/// The identity of a member: compact, comparable, serialisable, and able to say
/// where datagrams for it go.
///
/// The simulator uses `u32` (identity = address); the agent uses a bounded node
/// name plus socket address.
///
/// ```
/// use serf_core::Identity;
/// let id: u32 = 7;
/// assert_eq!(id.addr(), 7);
/// assert_ne!(id.hash_with(1), id.hash_with(2));
/// ```
pub trait Identity: Clone + Eq + Default + Serialize + DeserializeOwned + 'static {
    /// Where datagrams for this member are sent.
    type Addr: Clone + Eq + 'static;
    /// The address of this member.
    fn addr(&self) -> Self::Addr;
    /// A well-mixed 64-bit hash keyed by `seed` (a per-node random value, so that
    /// forged identities cannot be chosen to collide).
    fn hash_with(&self, seed: u64) -> u64;
    /// Hash of the part that must be unique in a cluster (the node name); by
    /// default the whole identity.
    fn name_hash(&self, seed: u64) -> u64 {
        self.hash_with(seed)
    }
    /// True if both identities carry the same name (possibly at different
    /// addresses: a name conflict).
    fn same_name(&self, other: &Self) -> bool {
        self == other
    }
    /// The member as HashiCorp's wire describes it ([`crate::config::Wire::HashiCorp`]);
    /// `None` (the default) for identities that cannot travel on it.
    fn hashicorp(&self) -> Option<HcNode<'_>> {
        None
    }
    /// The identity of a member HashiCorp's wire describes: `ip` is 4 or 16
    /// bytes, or empty when the message names the member only.
    fn from_hashicorp(node: HcNode<'_>) -> Option<Self> {
        let _ = node;
        None
    }
}

/// A member as HashiCorp's wire names it: a node name, IP bytes and a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HcNode<'a> {
    /// Node name.
    pub name: &'a [u8],
    /// IPv4 (4 bytes) or IPv6 (16 bytes) address; empty if unknown.
    pub ip: &'a [u8],
    /// UDP and TCP port.
    pub port: u16,
}

/// A 64-bit finaliser (SplitMix64): cheap and good enough to spread keys.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a byte string with a seed (FNV-1a folded through [`mix64`]); for
/// identities that carry names.
pub fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix64(h)
}

impl Identity for u32 {
    type Addr = u32;
    fn addr(&self) -> u32 {
        *self
    }
    #[inline]
    fn hash_with(&self, seed: u64) -> u64 {
        mix64(*self as u64 ^ seed)
    }
}
