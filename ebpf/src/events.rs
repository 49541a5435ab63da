//! Typed events from the ring buffer, and the async stream that yields them.

use std::{
    net::{IpAddr, Ipv6Addr},
    os::fd::{AsFd, OwnedFd},
};

use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;

use crate::{abi, sys, EbpfError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Connect,
    Sendmsg,
    Packet,
    DnsRedirect,
    /// A multicast group join or source filter (setsockopt): `daddr` is the group, `dport`
    /// the option (IP_ADD_MEMBERSHIP, MCAST_JOIN_GROUP, ...), `proto` the level (SOL_IP 0,
    /// SOL_IPV6 41).
    Multicast,
    /// A packet arriving at the network namespace's interface from a source the policy does
    /// not allow: `daddr` and `dport` are the packet's SOURCE address and port.
    Inbound,
    /// A packet leaving the namespace's interface that no socket of the container sent (a
    /// reply or report of the kernel's), towards a destination the policy does not allow.
    Boundary,
    Unknown(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Blocked,
    WouldBlock,
    Unknown(u8),
}

/// Which rule decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Loopback,
    BlockCidr,
    AllowCidr,
    AllowIp,
    /// The IP was allowed by a DNS answer whose TTL has run out.
    Expired,
    DefaultAllow,
    DefaultDeny,
    DnsProxy,
    /// A packet socket (AF_PACKET, AF_XDP) was refused (enforce) or would be (audit). Kind
    /// `Packet`; `family` is the socket family, `proto` the socket type (libc::SOCK_RAW,
    /// SOCK_DGRAM), `dport` the protocol argument (AF_PACKET: the ethertype, host order),
    /// `daddr` unspecified (`::`).
    PacketSocket,
    /// The packet's source is not an address of the network namespace (forged).
    SpoofedSource,
    /// A loopback or unspecified address on a device other than lo.
    LoopbackOffLo,
    /// Neighbour discovery / MLD typed ICMPv6 from a process's socket, to a destination the
    /// policy does not allow.
    LinkMessage,
    Unknown(u8),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// CLOCK_MONOTONIC ns (bpf_ktime_get_ns).
    pub ts_ns: u64,
    pub cgroup_id: u64,
    pub cookie: u64,
    /// Kernel task id (a thread id); `tgid` is what userspace calls the pid.
    pub pid: u32,
    pub tgid: u32,
    pub comm: String,
    pub kind: EventKind,
    pub verdict: Verdict,
    pub reason: Reason,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub proto: u8,
    /// Address family of the socket or packet: libc::AF_INET or libc::AF_INET6.
    pub family: u8,
    /// IPv4-mapped addresses are returned as IPv4.
    pub daddr: IpAddr,
    pub dport: u16,
}

pub(crate) fn comm_str(c: &[u8; 16]) -> String {
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    String::from_utf8_lossy(&c[..end]).into_owned()
}

pub(crate) fn unmap(a: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl Event {
    pub(crate) fn from_raw(r: &abi::EventRaw) -> Event {
        Event {
            ts_ns: r.ts_ns,
            cgroup_id: r.cgroup_id,
            cookie: r.cookie,
            pid: r.pid,
            tgid: r.tgid,
            comm: comm_str(&r.comm),
            kind: match r.kind {
                abi::KIND_CONNECT => EventKind::Connect,
                abi::KIND_SENDMSG => EventKind::Sendmsg,
                abi::KIND_PACKET => EventKind::Packet,
                abi::KIND_DNS_REDIRECT => EventKind::DnsRedirect,
                abi::KIND_MULTICAST => EventKind::Multicast,
                abi::KIND_INBOUND => EventKind::Inbound,
                abi::KIND_BOUNDARY => EventKind::Boundary,
                k => EventKind::Unknown(k),
            },
            verdict: match r.verdict {
                abi::VERDICT_ALLOWED => Verdict::Allowed,
                abi::VERDICT_BLOCKED => Verdict::Blocked,
                abi::VERDICT_WOULD_BLOCK => Verdict::WouldBlock,
                v => Verdict::Unknown(v),
            },
            reason: match r.reason {
                abi::REASON_LOOPBACK => Reason::Loopback,
                abi::REASON_BLOCK_CIDR => Reason::BlockCidr,
                abi::REASON_ALLOW_CIDR => Reason::AllowCidr,
                abi::REASON_ALLOW_IP => Reason::AllowIp,
                abi::REASON_EXPIRED => Reason::Expired,
                abi::REASON_DEFAULT_ALLOW => Reason::DefaultAllow,
                abi::REASON_DEFAULT_DENY => Reason::DefaultDeny,
                abi::REASON_DNS_PROXY => Reason::DnsProxy,
                abi::REASON_PACKET_SOCKET => Reason::PacketSocket,
                abi::REASON_SPOOFED_SOURCE => Reason::SpoofedSource,
                abi::REASON_LOOPBACK_OFF_LO => Reason::LoopbackOffLo,
                abi::REASON_LINK_MESSAGE => Reason::LinkMessage,
                x => Reason::Unknown(x),
            },
            proto: r.proto,
            family: r.family,
            daddr: unmap(r.daddr),
            dport: r.dport,
        }
    }
}

/// Events from the firewall's ring buffer. Needs a tokio runtime with I/O enabled.
pub struct EventStream {
    ring: AsyncFd<RingBuf<MapData>>,
    /// The set's container map (a dup) and the container's id: its event budget.
    containers: OwnedFd,
    id: u64,
}

impl EventStream {
    pub(crate) fn new(ring: RingBuf<MapData>, containers: OwnedFd, id: u64) -> Result<Self, EbpfError> {
        // SAFETY: the RingBuf owns its map fd (a dup made for this stream) and keeps it open,
        // unreplaced, for as long as the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register(ring) }.map_err(|e| EbpfError::Events(e.into()))?;
        Ok(EventStream { ring, containers, id })
    }

    /// The next event without waiting, if one is ready.
    pub fn try_next(&mut self) -> Option<Event> {
        let ring = self.ring.get_mut();
        let item = ring.next()?;
        parse(&item)
    }

    /// Waits for the next event.
    pub async fn next(&mut self) -> Result<Event, EbpfError> {
        loop {
            if let Some(e) = self.try_next() {
                return Ok(e);
            }
            let mut guard = self.ring.readable_mut().await.map_err(EbpfError::Events)?;
            let got = guard.get_inner_mut().next().map(|item| parse(&item));
            match got {
                Some(Some(e)) => return Ok(e),
                Some(None) => continue,
                None => guard.clear_ready(),
            }
        }
    }

    /// Events the kernel side dropped (rate limit or full ring buffer) since load.
    pub fn suppressed(&self) -> u64 {
        read_suppressed(self.containers.as_fd(), self.id)
    }
}

pub(crate) fn read_suppressed(containers: std::os::fd::BorrowedFd<'_>, id: u64) -> u64 {
    sys::map_lookup::<u64, abi::Container>(containers, &id)
        .ok()
        .flatten()
        .map(|c| c.rl.suppressed)
        .unwrap_or(0)
}

fn parse(bytes: &[u8]) -> Option<Event> {
    if bytes.len() < std::mem::size_of::<abi::EventRaw>() {
        return None;
    }
    // SAFETY: length checked; EventRaw is plain data valid for any bit pattern.
    let raw: abi::EventRaw = unsafe { std::ptr::read_unaligned(bytes.as_ptr() as *const abi::EventRaw) };
    Some(Event::from_raw(&raw))
}
