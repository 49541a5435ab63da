//! IPv4/IPv6 networks and a longest-prefix set of them.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the same destination as `a.b.c.d` (a v6
//! socket connecting to one reaches the v4 host), so they are always looked at as IPv4, and a
//! mapped CIDR written with a prefix of at least 96 is stored as the IPv4 CIDR it denotes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fasthash::FastMap;

/// A network: address with all host bits clear, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawCidr")]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// Same shape as [`Cidr`], deserialised first and then validated, so an invalid network can
/// not be deserialised silently.
#[derive(Deserialize)]
struct RawCidr {
    addr: IpAddr,
    prefix_len: u8,
}

impl TryFrom<RawCidr> for Cidr {
    type Error = CidrError;
    fn try_from(raw: RawCidr) -> Result<Self, Self::Error> {
        Cidr::new(raw.addr, raw.prefix_len)
    }
}

/// Why a token is not a usable address or network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("not an IP address or CIDR")]
    NotAnAddress,
    #[error("prefix length {len} is out of range for {family} (0-{max})")]
    PrefixOutOfRange {
        len: String,
        family: &'static str,
        max: u8,
    },
    #[error("host bits are set; write the network as {network}, or {addr}/{host_len} for the single address")]
    HostBitsSet {
        network: Cidr,
        addr: IpAddr,
        host_len: u8,
    },
}

/// Map `::ffff:a.b.c.d` to `a.b.c.d`; leave everything else alone.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn max_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// The address with the bits past `len` cleared. `len` must be in range.
fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(mask_u32(u32::from(v4), len))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(mask_u128(u128::from(v6), len))),
    }
}

fn mask_u32(bits: u32, len: u8) -> u32 {
    match len {
        0 => 0,
        l if l >= 32 => bits,
        l => bits & (u32::MAX << (32 - l)),
    }
}

fn mask_u128(bits: u128, len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => bits,
        l => bits & (u128::MAX << (128 - l)),
    }
}

impl Cidr {
    /// A network from an address and prefix length. Host bits set is an error rather than
    /// being cleared: `10.0.0.1/8` might mean the host or the /8, and guessing wide in an allow
    /// list would open more than was meant. A mapped IPv6 network (`::ffff:10.0.0.0/104`) is
    /// stored as its IPv4 form (`10.0.0.0/8`).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Cidr, CidrError> {
        let (addr, prefix_len) = match addr {
            IpAddr::V6(v6) if (96..=128).contains(&prefix_len) => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix_len - 96),
                None => (addr, prefix_len),
            },
            _ => (addr, prefix_len),
        };
        let max = max_len(addr);
        if prefix_len > max {
            return Err(CidrError::PrefixOutOfRange {
                len: prefix_len.to_string(),
                family: family(addr),
                max,
            });
        }
        let network = mask(addr, prefix_len);
        if network != addr {
            return Err(CidrError::HostBitsSet {
                network: Cidr {
                    addr: network,
                    prefix_len,
                },
                addr,
                host_len: max,
            });
        }
        Ok(Cidr { addr, prefix_len })
    }

    /// The single-address network (/32 or /128) for `ip` (mapped addresses become IPv4).
    pub fn host(ip: IpAddr) -> Cidr {
        let addr = canonical_ip(ip);
        Cidr {
            addr,
            prefix_len: max_len(addr),
        }
    }

    /// Whether `ip` is in this network. Mapped addresses are compared as IPv4, so an IPv6
    /// network never contains `::ffff:a.b.c.d`. Robust to a hand-built `Cidr` with host bits
    /// or an oversized prefix (fields are public).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let len = self.prefix_len.min(32);
                mask_u32(u32::from(ip), len) == mask_u32(u32::from(net), len)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let len = self.prefix_len.min(128);
                mask_u128(u128::from(ip), len) == mask_u128(u128::from(net), len)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `10.0.0.0/8`, `fd00::/8`, or a plain address (`10.1.2.3` = /32, `::1` = /128).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        match s.split_once('/') {
            None => {
                let ip = IpAddr::from_str(s).map_err(|_| CidrError::NotAnAddress)?;
                Ok(Cidr::host(ip))
            }
            Some((addr, len)) => {
                let ip = IpAddr::from_str(addr).map_err(|_| CidrError::NotAnAddress)?;
                let out_of_range = || CidrError::PrefixOutOfRange {
                    len: len.to_owned(),
                    family: family(ip),
                    max: max_len(ip),
                };
                // Only plain decimal digits: u8::from_str would also take "+8".
                if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(out_of_range());
                }
                let len: u8 = len.parse().map_err(|_| out_of_range())?;
                Cidr::new(ip, len)
            }
        }
    }
}

/// Longest-prefix lookup over a list of networks: one hash table per distinct prefix length,
/// probed from the longest length down. Cost is (distinct lengths) hash probes, independent of
/// the number of networks. Values are indices into the list the set was built from.
#[derive(Clone, Debug, Default)]
pub(crate) struct CidrSet {
    v4: Vec<(u8, FastMap<u32, usize>)>,
    v6: Vec<(u8, FastMap<u128, usize>)>,
}

impl CidrSet {
    pub(crate) fn new(cidrs: &[Cidr]) -> CidrSet {
        let mut set = CidrSet::default();
        // Keep the first of equal networks so the named rule is stable.
        for (i, cidr) in cidrs.iter().enumerate() {
            match cidr.addr {
                IpAddr::V4(a) => {
                    let len = cidr.prefix_len.min(32);
                    table(&mut set.v4, len)
                        .entry(mask_u32(u32::from(a), len))
                        .or_insert(i);
                }
                IpAddr::V6(a) => {
                    let len = cidr.prefix_len.min(128);
                    table(&mut set.v6, len)
                        .entry(mask_u128(u128::from(a), len))
                        .or_insert(i);
                }
            }
        }
        set.v4.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        set.v6.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        set
    }

    /// Index of the most specific network containing `ip` (mapped addresses looked up as
    /// IPv4).
    pub(crate) fn longest_match(&self, ip: IpAddr) -> Option<usize> {
        match canonical_ip(ip) {
            IpAddr::V4(a) => {
                let bits = u32::from(a);
                self.v4
                    .iter()
                    .find_map(|(len, t)| t.get(&mask_u32(bits, *len)).copied())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a);
                self.v6
                    .iter()
                    .find_map(|(len, t)| t.get(&mask_u128(bits, *len)).copied())
            }
        }
    }
}

fn table<K>(tables: &mut Vec<(u8, FastMap<K, usize>)>, len: u8) -> &mut FastMap<K, usize> {
    let i = match tables.iter().position(|(l, _)| *l == len) {
        Some(i) => i,
        None => {
            tables.push((len, FastMap::default()));
            tables.len() - 1
        }
    };
    &mut tables[i].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(c("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(c("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(c("::1").to_string(), "::1/128");
        assert_eq!(c("fd00:cf::/64").to_string(), "fd00:cf::/64");
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("::/0").to_string(), "::/0");
    }

    #[test]
    fn host_bits_are_an_error() {
        let err = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "host bits are set; write the network as 10.0.0.0/8, or 10.0.0.1/32 for the single address"
        );
        assert!("fd00::1/64".parse::<Cidr>().is_err());
    }

    #[test]
    fn bad_prefixes() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "::/129",
            "10.0.0.0/1000",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        for bad in [
            "10.0.0",
            "example.com/8",
            "1.2.3.4.5",
            "[::1]",
            "fe80::1%eth0",
        ] {
            assert_eq!(bad.parse::<Cidr>(), Err(CidrError::NotAnAddress), "{bad}");
        }
        assert_eq!(
            "10.0.0.0/40".parse::<Cidr>().unwrap_err().to_string(),
            "prefix length 40 is out of range for IPv4 (0-32)"
        );
    }

    #[test]
    fn mapped_networks_become_ipv4() {
        assert_eq!(c("::ffff:10.0.0.0/104"), c("10.0.0.0/8"));
        assert_eq!(c("::ffff:1.2.3.4"), c("1.2.3.4/32"));
        // Shorter than /96 it is a genuine IPv6 network that merely spans the mapped range.
        assert!(c("::/64").addr.is_ipv6());
    }

    #[test]
    fn contains_treats_mapped_as_ipv4() {
        let net = c("10.0.0.0/8");
        assert!(net.contains(ip("10.9.9.9")));
        assert!(net.contains(ip("::ffff:10.9.9.9")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(!c("::/0").contains(ip("::ffff:10.9.9.9")));
        assert!(c("::/0").contains(ip("2001:db8::1")));
        assert!(c("0.0.0.0/0").contains(ip("::ffff:1.1.1.1")));
        assert!(!c("0.0.0.0/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn set_returns_longest_match() {
        let set = CidrSet::new(&[
            c("10.0.0.0/8"),
            c("10.1.0.0/16"),
            c("10.1.2.3"),
            c("fd00::/8"),
        ]);
        assert_eq!(set.longest_match(ip("10.1.2.3")), Some(2));
        assert_eq!(set.longest_match(ip("10.1.9.9")), Some(1));
        assert_eq!(set.longest_match(ip("::ffff:10.2.0.0")), Some(0));
        assert_eq!(set.longest_match(ip("fd12::1")), Some(3));
        assert_eq!(set.longest_match(ip("192.168.0.1")), None);
    }

    #[test]
    fn serde_revalidates() {
        let json = serde_json::to_string(&c("10.0.0.0/8")).unwrap();
        assert_eq!(
            serde_json::from_str::<Cidr>(&json).unwrap(),
            c("10.0.0.0/8")
        );
        assert!(serde_json::from_str::<Cidr>(r#"{"addr":"10.0.0.1","prefix_len":8}"#).is_err());
        assert!(serde_json::from_str::<Cidr>(r#"{"addr":"10.0.0.0","prefix_len":99}"#).is_err());
    }
}
