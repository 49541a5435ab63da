//! `#[repr(C)]` mirrors of the structs in `src/bpf/cgfw.h`. Sizes and the offsets that matter
//! are const-asserted here with the same numbers as the `_Static_assert`s in the header, and
//! `tests/layout.rs` compares every field offset with the BTF of the compiled object.

use std::mem::{offset_of, size_of};

pub const MODE_ENFORCE: u8 = 0;
pub const MODE_AUDIT: u8 = 1;

pub const KIND_CONNECT: u8 = 1;
pub const KIND_SENDMSG: u8 = 2;
pub const KIND_PACKET: u8 = 3;
pub const KIND_DNS_REDIRECT: u8 = 4;
pub const KIND_MULTICAST: u8 = 5;
pub const KIND_INBOUND: u8 = 6;
pub const KIND_BOUNDARY: u8 = 7;

pub const VERDICT_ALLOWED: u8 = 1;
pub const VERDICT_BLOCKED: u8 = 2;
pub const VERDICT_WOULD_BLOCK: u8 = 3;

pub const REASON_LOOPBACK: u8 = 1;
pub const REASON_BLOCK_CIDR: u8 = 2;
pub const REASON_ALLOW_CIDR: u8 = 3;
pub const REASON_ALLOW_IP: u8 = 4;
pub const REASON_EXPIRED: u8 = 5;
pub const REASON_DEFAULT_ALLOW: u8 = 6;
pub const REASON_DEFAULT_DENY: u8 = 7;
pub const REASON_DNS_PROXY: u8 = 8;
pub const REASON_PACKET_SOCKET: u8 = 9;
pub const REASON_SPOOFED_SOURCE: u8 = 10;
pub const REASON_LOOPBACK_OFF_LO: u8 = 11;
pub const REASON_LINK_MESSAGE: u8 = 12;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub events_per_sec: u32,
    pub events_burst: u32,
    pub proxy4_addr: [u8; 4],
    pub proxy6_addr: [u8; 16],
    pub proxy4_port: u16,
    pub proxy6_port: u16,
    pub has_proxy4: u8,
    pub has_proxy6: u8,
    pub mode: u8,
    pub default_allow: u8,
    pub report_allowed: u8,
    pub _pad: [u8; 3],
    pub cgroup_level: u32,
    pub _pad2: u32,
    pub cgroup_id: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LpmKey {
    pub prefixlen: u32,
    pub addr: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllowIp {
    pub expires_ns: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerRaw {
    pub pid: u32,
    pub tgid: u32,
    pub comm: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrigDst {
    pub addr: [u8; 16],
    pub port: u16,
    pub family: u8,
    pub _pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsClientKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub proto: u8,
    pub _pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsClient {
    pub cookie: u64,
    pub owner: OwnerRaw,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub tokens: i64,
    pub last_ns: u64,
    pub suppressed: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRaw {
    pub ts_ns: u64,
    pub cgroup_id: u64,
    pub cookie: u64,
    pub pid: u32,
    pub tgid: u32,
    pub comm: [u8; 16],
    pub daddr: [u8; 16],
    pub dport: u16,
    pub kind: u8,
    pub verdict: u8,
    pub reason: u8,
    pub proto: u8,
    pub family: u8,
    pub _pad: u8,
}

/// Bytes of argv kept per process (`CGFW_ARGS_BYTES`).
pub const ARGS_BYTES: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecRaw {
    pub start_time_ns: u64,
    pub len: u32,
    pub full_len: u32,
    pub args: [u8; ARGS_BYTES],
}

impl Default for ExecRaw {
    fn default() -> Self {
        ExecRaw { start_time_ns: 0, len: 0, full_len: 0, args: [0; ARGS_BYTES] }
    }
}

const _: () = {
    assert!(size_of::<Config>() == 56);
    assert!(offset_of!(Config, cgroup_id) == 48);
    assert!(offset_of!(Config, proxy4_port) == 28);
    assert!(offset_of!(Config, report_allowed) == 36);
    assert!(size_of::<LpmKey>() == 20);
    assert!(size_of::<AllowIp>() == 8);
    assert!(size_of::<OwnerRaw>() == 24);
    assert!(size_of::<OrigDst>() == 20);
    assert!(size_of::<DnsClientKey>() == 20);
    assert!(size_of::<DnsClient>() == 32);
    assert!(size_of::<RateLimit>() == 24);
    assert!(size_of::<EventRaw>() == 72);
    assert!(offset_of!(EventRaw, daddr) == 48);
    assert!(offset_of!(EventRaw, dport) == 64);
    assert!(offset_of!(EventRaw, family) == 70);
    assert!(size_of::<ExecRaw>() == 272);
    assert!(offset_of!(ExecRaw, args) == 16);
};

/// (C struct name, Rust size, [(field, offset)]).
pub type Layout = (&'static str, usize, Vec<(&'static str, usize)>);

/// Layout of every mirrored struct, for the BTF comparison test.
pub fn layouts() -> Vec<Layout> {
    macro_rules! l {
        ($c:literal, $t:ty, [$($f:ident),*]) => {
            ($c, size_of::<$t>(), vec![$((stringify!($f), offset_of!($t, $f))),*])
        };
    }
    vec![
        l!("cgfw_config", Config, [events_per_sec, events_burst, proxy4_addr, proxy6_addr,
            proxy4_port, proxy6_port, has_proxy4, has_proxy6, mode, default_allow, report_allowed, _pad,
            cgroup_level, _pad2, cgroup_id]),
        l!("cgfw_lpm_key", LpmKey, [prefixlen, addr]),
        l!("cgfw_allow_ip", AllowIp, [expires_ns]),
        l!("cgfw_owner", OwnerRaw, [pid, tgid, comm]),
        l!("cgfw_orig_dst", OrigDst, [addr, port, family, _pad]),
        l!("cgfw_dns_client_key", DnsClientKey, [addr, port, proto, _pad]),
        l!("cgfw_dns_client", DnsClient, [cookie, owner]),
        l!("cgfw_ratelimit", RateLimit, [tokens, last_ns, suppressed]),
        l!("cgfw_event", EventRaw, [ts_ns, cgroup_id, cookie, pid, tgid, comm, daddr, dport,
            kind, verdict, reason, proto, family, _pad]),
        l!("cgfw_exec", ExecRaw, [start_time_ns, len, full_len, args]),
    ]
}
