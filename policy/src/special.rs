//! DNS rebinding guard: addresses a DNS answer for an allowed name must not point at.
//!
//! An allowed name is attacker-influenced data (anyone who controls its zone, or a CNAME
//! target, chooses the answer). Pointing it at the container's own loopback, the host's
//! link-local services (notably the cloud metadata endpoint) or a broadcast/multicast group
//! would turn "allow example.com" into "allow whatever example.com says". Private ranges are
//! deliberately *not* listed: internal names resolving to 10/8 or fc00::/7 is the normal case.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const LOOPBACK: &str = "loopback address";
const LINK_LOCAL: &str = "link-local address";
const METADATA: &str = "cloud metadata address";
const UNSPECIFIED: &str = "unspecified address";
const MULTICAST: &str = "multicast address";
const BROADCAST: &str = "broadcast address";

/// Why `ip` must not be accepted from a DNS answer, or `None` if it may be.
///
/// Covers loopback (127/8, ::1), link-local (169.254/16 including the metadata address
/// 169.254.169.254, fe80::/10), unspecified (0.0.0.0/8, ::), multicast (224/4, ff00::/8),
/// the limited broadcast 255.255.255.255, the AWS IPv6 metadata address fd00:ec2::254, and the
/// same IPv4 addresses written IPv4-mapped (`::ffff:a.b.c.d`) or in the NAT64 well-known prefix
/// (`64:ff9b::a.b.c.d`), which reach the same IPv4 destination through a translator.
/// Not private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) and not 198.18.0.0/15.
///
/// The DNS proxy drops such answers unless an allow CIDR covers them
/// ([`crate::Policy::cidr_allows`]).
pub fn special_address_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, d] = ip.octets();
    if ip.is_loopback() {
        Some(LOOPBACK)
    } else if (a, b, c, d) == (169, 254, 169, 254) {
        Some(METADATA)
    } else if ip.is_link_local() {
        Some(LINK_LOCAL)
    } else if a == 0 {
        // 0.0.0.0/8 "this network": connecting to it reaches the local host on Linux.
        Some(UNSPECIFIED)
    } else if ip.is_multicast() {
        Some(MULTICAST)
    } else if ip.is_broadcast() {
        Some(BROADCAST)
    } else {
        None
    }
}

/// NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
const NAT64_PREFIX: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;
/// AWS instance metadata over IPv6.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let bits = u128::from(ip);
    if bits >> 32 == NAT64_PREFIX >> 32 {
        return v4_reason(Ipv4Addr::from(bits as u32));
    }
    if ip.is_loopback() {
        Some(LOOPBACK)
    } else if ip.is_unspecified() {
        Some(UNSPECIFIED)
    } else if ip == AWS_METADATA_V6 {
        Some(METADATA)
    } else if ip.segments()[0] & 0xffc0 == 0xfe80 {
        Some(LINK_LOCAL)
    } else if ip.is_multicast() {
        Some(MULTICAST)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> Option<&'static str> {
        special_address_reason(s.parse().unwrap())
    }

    #[test]
    fn special_addresses_are_named() {
        for (ip, why) in [
            ("127.0.0.1", LOOPBACK),
            ("127.255.255.254", LOOPBACK),
            ("::1", LOOPBACK),
            ("169.254.169.254", METADATA),
            ("169.254.0.1", LINK_LOCAL),
            ("fe80::1", LINK_LOCAL),
            ("febf::1", LINK_LOCAL),
            ("0.0.0.0", UNSPECIFIED),
            ("0.1.2.3", UNSPECIFIED),
            ("::", UNSPECIFIED),
            ("224.0.0.1", MULTICAST),
            ("239.255.255.250", MULTICAST),
            ("ff02::1", MULTICAST),
            ("255.255.255.255", BROADCAST),
            ("::ffff:127.0.0.1", LOOPBACK),
            ("::ffff:169.254.169.254", METADATA),
            ("::ffff:0.0.0.0", UNSPECIFIED),
            ("::ffff:255.255.255.255", BROADCAST),
            ("64:ff9b::169.254.169.254", METADATA),
            ("64:ff9b::127.0.0.1", LOOPBACK),
            ("fd00:ec2::254", METADATA),
        ] {
            assert_eq!(reason(ip), Some(why), "{ip}");
        }
    }

    #[test]
    fn ordinary_and_private_addresses_pass() {
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.254",
            "1.1.1.1",
            "fd00:cf::1",
            "fc00::1",
            "2001:db8::1",
            "fec0::1",
            "::ffff:10.0.0.1",
            "::ffff:198.18.0.5",
            "64:ff9b::1.1.1.1",
            "128.0.0.1",
            "255.255.255.254",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }
}
