//! The agent's member identity: a node name (≤ 128 bytes, unique in the
//! cluster) and the socket address where it listens.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serf_core::{hash_bytes, mix64, HcNode, Identity};

/// Longest node name (Serf's validation limit).
pub const MAX_NAME: usize = 128;

/// Name + address.
///
/// Every field is a plain integer, so an all-zero value is valid (it is
/// [`NodeId::default`]): the agent's member table can start as untouched zero
/// pages (see `Heap`), costing memory only for the slots members occupy.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeId {
    name: [u8; MAX_NAME],
    len: u8,
    /// 0 for IPv4 (the first four bytes of `ip`), 1 for IPv6.
    v6: u8,
    port: u16,
    /// IPv6 scope id (0 for IPv4).
    scope: u32,
    ip: [u8; 16],
}

impl NodeId {
    /// A node id; `None` if the name is empty or longer than 128 bytes.
    ///
    /// ```
    /// use serf_runtime_std::id::NodeId;
    /// let id = NodeId::new("web-1", "10.0.0.1:7946".parse().unwrap()).unwrap();
    /// assert_eq!((id.name(), id.addr().port()), ("web-1", 7946));
    /// ```
    pub fn new(name: &str, addr: SocketAddr) -> Option<NodeId> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > MAX_NAME {
            return None;
        }
        let mut id = NodeId {
            name: [0; MAX_NAME],
            len: b.len() as u8,
            ..NodeId::default()
        };
        id.name[..b.len()].copy_from_slice(b);
        id.set_addr(addr);
        Some(id)
    }
    /// The node name.
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..self.len as usize]).unwrap_or("")
    }
    /// Where the node listens.
    pub fn addr(&self) -> SocketAddr {
        if self.v6 == 0 {
            let [a, b, c, d, ..] = self.ip;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), self.port)
        } else {
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(self.ip),
                self.port,
                0,
                self.scope,
            ))
        }
    }
    fn set_addr(&mut self, addr: SocketAddr) {
        self.port = addr.port();
        self.ip = [0; 16];
        match addr {
            SocketAddr::V4(a) => {
                self.v6 = 0;
                self.scope = 0;
                self.ip[..4].copy_from_slice(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                self.v6 = 1;
                self.scope = a.scope_id();
                self.ip = a.ip().octets();
            }
        }
    }
}

impl Default for NodeId {
    /// No name, `0.0.0.0:0`: all zero bytes.
    fn default() -> Self {
        NodeId {
            name: [0; MAX_NAME],
            len: 0,
            v6: 0,
            port: 0,
            scope: 0,
            ip: [0; 16],
        }
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name(), self.addr())
    }
}

impl Identity for NodeId {
    type Addr = SocketAddr;
    fn addr(&self) -> SocketAddr {
        NodeId::addr(self)
    }
    fn hash_with(&self, seed: u64) -> u64 {
        let port = self.port.to_le_bytes();
        let addr = hash_bytes(seed, &self.ip) ^ hash_bytes(seed ^ u64::from(self.v6), &port);
        mix64(self.name_hash(seed) ^ addr)
    }
    fn name_hash(&self, seed: u64) -> u64 {
        hash_bytes(seed, &self.name[..self.len as usize])
    }
    fn same_name(&self, other: &Self) -> bool {
        self.name[..self.len as usize] == other.name[..other.len as usize]
    }
    fn hashicorp(&self) -> Option<HcNode<'_>> {
        let ip = if self.v6 == 0 {
            &self.ip[..4]
        } else {
            &self.ip[..]
        };
        Some(HcNode {
            name: &self.name[..self.len as usize],
            ip,
            port: self.port,
        })
    }
    fn from_hashicorp(node: HcNode<'_>) -> Option<Self> {
        let name = std::str::from_utf8(node.name).ok()?;
        let ip = match node.ip.len() {
            0 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            4 => IpAddr::V4(Ipv4Addr::new(
                node.ip[0], node.ip[1], node.ip[2], node.ip[3],
            )),
            16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(node.ip);
                let v6 = Ipv6Addr::from(b);
                // Go writes IPv4 addresses in their 16-byte mapped form.
                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
            }
            _ => return None,
        };
        NodeId::new(name, SocketAddr::new(ip, node.port))
    }
}

#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    name: &'a str,
    ip: IpAddr,
    port: u16,
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            name: self.name(),
            ip: self.addr().ip(),
            port: self.port,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        NodeId::new(w.name, SocketAddr::new(w.ip, w.port))
            .ok_or_else(|| serde::de::Error::custom("node name must be 1..=128 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_round_trips_and_compares_names() {
        let a = NodeId::new("web-1", "10.0.0.1:7946".parse().unwrap()).unwrap();
        let b = NodeId::new("web-1", "10.0.0.2:7946".parse().unwrap()).unwrap();
        assert!(a.same_name(&b));
        assert_ne!(a, b);
        assert_eq!(a.name_hash(3), b.name_hash(3));
        let mut buf = [0u8; 256];
        let bytes = postcard::to_slice(&a, &mut buf).unwrap();
        let back: NodeId = postcard::from_bytes(bytes).unwrap();
        assert_eq!(back, a);
        assert!(NodeId::new("", a.addr()).is_none());
        assert!(NodeId::new(&"x".repeat(129), a.addr()).is_none());
    }
}
