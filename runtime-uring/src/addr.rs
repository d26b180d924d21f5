//! Socket addresses as the kernel lays them out (`sockaddr_in`,
//! `sockaddr_in6`), for `SendMsg` names and multishot receive headers.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Room for either family's address, as `msg_name` points at it.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

/// The name length a multishot receive reserves in each buffer: enough for
/// an IPv6 address, so both families arrive whole.
pub(crate) const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();

impl RawAddr {
    pub(crate) fn zeroed() -> RawAddr {
        // SAFETY: both members are plain integers; all-zero is a valid value.
        unsafe { std::mem::zeroed() }
    }

    /// Writes `a` and returns the length `msg_namelen` must carry.
    pub(crate) fn set(&mut self, a: SocketAddr) -> libc::socklen_t {
        match a {
            SocketAddr::V4(a) => {
                self.v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                self.v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }
}

/// The sender's address from a receive header's name bytes; `None` for a
/// family other than IPv4 and IPv6 or a truncated name.
pub(crate) fn parse(name: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*name.first()?, *name.get(1)?]);
    let port = u16::from_be_bytes([*name.get(2)?, *name.get(3)?]);
    match i32::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddrV4::new(Ipv4Addr::from(ip), port).into())
        }
        libc::AF_INET6 => {
            let flow = u32::from_ne_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            Some(SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(a: SocketAddr) -> Option<SocketAddr> {
        let mut raw = RawAddr::zeroed();
        let len = raw.set(a) as usize;
        // SAFETY: `raw` is at least `len` bytes of plain data.
        let bytes = unsafe { std::slice::from_raw_parts(&raw as *const RawAddr as *const u8, len) };
        parse(bytes)
    }

    #[test]
    fn both_families_survive_the_kernel_layout() {
        for a in ["127.0.0.9:7946", "[::1]:7946", "[fe80::1%3]:1"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(roundtrip(a), Some(a));
        }
    }

    #[test]
    fn short_or_foreign_names_are_refused() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[2, 0, 0]), None);
        let unix = (libc::AF_UNIX as u16).to_ne_bytes();
        assert_eq!(parse(&[unix[0], unix[1], 0, 0, 0, 0, 0, 0]), None);
    }
}
