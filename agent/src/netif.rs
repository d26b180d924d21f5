//! Network interface addresses, for `-iface` and for choosing the address
//! an agent bound to `0.0.0.0` advertises (Serf picks a private address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};

/// One address of one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name (`eth0`).
    pub name: String,
    /// Its address.
    pub ip: IpAddr,
}

/// Every address of every interface that is up, in the kernel's order.
pub fn addresses() -> std::io::Result<Vec<InterfaceAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & libc::IFF_UP as u32 == 0 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated C string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: the address family says which sockaddr it points to.
        let ip = match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
            libc::AF_INET => {
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
            }
            libc::AF_INET6 => {
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
            }
            _ => continue,
        };
        out.push(InterfaceAddr { name, ip });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// The address to bind for `-iface=NAME`: its first IPv4 address, else its
/// first IPv6 one.
pub fn interface_ip(name: &str) -> Result<IpAddr, String> {
    let all = addresses().map_err(|e| format!("cannot list network interfaces: {e}"))?;
    let mine: Vec<IpAddr> = all
        .iter()
        .filter(|a| a.name == name)
        .map(|a| a.ip)
        .collect();
    if mine.is_empty() {
        return Err(if all.iter().any(|a| a.name == name) {
            format!("interface {name:?} has no IP address")
        } else {
            format!("no network interface named {name:?} (or it is down)")
        });
    }
    Ok(mine
        .iter()
        .copied()
        .find(IpAddr::is_ipv4)
        .unwrap_or(mine[0]))
}

/// RFC 6890 private-use IPv4 space, as Serf's address choice understands it.
fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private() || v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64
            // CGNAT
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00, // unique local
    }
}

/// The address an agent bound to the unspecified address advertises: the
/// private address the default route leaves by, else the first private
/// address of any interface (a host whose only network is private has no
/// default route), else the routed address, else loopback.
pub fn advertise_ip() -> IpAddr {
    let routed = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    pick_advertise(routed, &addresses().unwrap_or_default())
}

fn pick_advertise(routed: Option<IpAddr>, all: &[InterfaceAddr]) -> IpAddr {
    if let Some(ip) = routed.filter(is_private) {
        return ip;
    }
    if let Some(a) = all.iter().find(|a| a.ip.is_ipv4() && is_private(&a.ip)) {
        return a.ip;
    }
    routed.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(name: &str, ip: &str) -> InterfaceAddr {
        InterfaceAddr {
            name: name.into(),
            ip: ip.parse().unwrap(),
        }
    }

    #[test]
    fn a_host_with_only_a_private_interface_advertises_it_not_loopback() {
        let all = [at("lo", "127.0.0.1"), at("eth0", "10.1.2.3")];
        assert_eq!(
            pick_advertise(None, &all),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
        // The routed private address wins over other private ones.
        let routed: IpAddr = "192.168.1.5".parse().unwrap();
        assert_eq!(pick_advertise(Some(routed), &all), routed);
        assert_eq!(
            pick_advertise(None, &[at("lo", "127.0.0.1")]),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
    }

    #[test]
    fn the_loopback_interface_is_found_by_name() {
        assert_eq!(interface_ip("lo").unwrap(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let e = interface_ip("no-such-if0").unwrap_err();
        assert!(e.contains("no network interface named"), "{e}");
    }
}
