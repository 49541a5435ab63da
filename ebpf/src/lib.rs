//! cgroup v2 egress firewall: BPF programs in C (`src/bpf/`) and a typed loader on aya.
//!
//! One [`Firewall`] is one set of programs and maps, attached to one cgroup (a container).
//! No policy logic lives here: the runtime turns a policy into [`Firewall::allow_ip`],
//! [`Firewall::allow_cidr`], [`Firewall::block_cidr`] and a [`FirewallConfig`].
//!
//! # Programs
//! | program | hook | job |
//! | --- | --- | --- |
//! | `cgfw_connect4/6` | `cgroup/connect4/6` | port 53 -> DNS proxy; policy (EPERM); owner |
//! | `cgfw_sendmsg4/6` | `cgroup/sendmsg4/6` | the same for unconnected UDP (`sendto`) |
//! | `cgfw_recvmsg4/6` | `cgroup/recvmsg4/6` | show replies as coming from the original server |
//! | `cgfw_getpeername4/6` | `cgroup/getpeername4/6` | the same for `getpeername` |
//! | `cgfw_egress` | `cgroup_skb/egress` | backstop by destination; DNS client attribution |
//! | `cgfw_exec` | `tp_btf/sched_process_exec` | record argv of processes in the cgroup |
//! | `cgfw_fork` | `tp_btf/sched_process_fork` | a new child process inherits its parent's argv |
//! | `cgfw_socket_create` | `lsm_cgroup/socket_create` | refuse AF_PACKET/AF_XDP sockets (EPERM) |
//! | `cgfw_sock_create` | `cgroup/sock_create` | mark sockets processes create (vs the kernel's) |
//! | `cgfw_setsockopt` | `cgroup/setsockopt` | multicast joins / source filters need the policy |
//! | `cgfw_tc_egress/ingress` | TCX on each interface of the netns | the namespace's boundary |
//!
//! # The namespace's boundary
//! The cgroup hooks see only the container's own sockets. What the kernel sends for the
//! namespace (ICMP replies and errors, TCP resets, IGMP/MLD reports) and what arrives from a
//! forbidden host is filtered by `cgfw_tc_egress`/`cgfw_tc_ingress`, attached with TCX links
//! (kernel 6.6+) to every interface of the container's network namespace but lo
//! ([`Firewall::attach_interface`], called by the sidecar, which lives in the namespace, for
//! each interface present at start and each one added later) and pinned with the other
//! links. Anti-spoofing needs the namespace's own addresses: [`Firewall::set_local_addrs`].
//!
//! # Packet sockets
//! AF_PACKET (and AF_XDP) sockets send frames straight to the device: no IP output, so no
//! sock_addr or cgroup_skb hook sees them, and any process with CAP_NET_RAW (granted by Docker
//! and CRI by default) could reach any address. `cgfw_socket_create` (BPF_LSM_CGROUP, attached
//! to the cgroup like the others, so it runs only for tasks in the cgroup or below it) refuses
//! them at `socket()` with EPERM in enforce mode and reports a `Packet` event with reason
//! [`Reason::PacketSocket`] (audit mode: allowed, `WouldBlock`). Sockets the kernel creates
//! for itself and raw IP sockets are left alone (cgroup_skb/egress decides raw IP packets).
//!
//! Where the kernel cannot run it (no kernel BTF; kernel before 6.0, no BPF_LSM_CGROUP; BPF
//! LSM compiled in but not active, `bpf` missing from `/sys/kernel/security/lsm`, where the
//! program would attach and never run; or LSM/trampoline programs refused at load, as on the
//! Firecracker development kernel 6.18.44-fc, where BPF_PROG_LOAD of any `lsm`, `lsm_cgroup`
//! or `fentry` program fails with EPERM and `bpftool feature probe` reports program types
//! `lsm` and `tracing` as NOT available, although `bpf` is an active LSM), the firewall runs
//! without the guard, logs a warning and reports why in
//! [`Firewall::packet_socket_guard_unavailable`] (final after [`Firewall::attach`]). The
//! caller refuses packet sockets another way for containers that may hold CAP_NET_RAW (the
//! bypass needs it): the runtime decides up front with [`probe_packet_socket_guard`] and
//! turns the program off ([`FirewallConfig::packet_socket_guard`]) where it uses its seccomp
//! fallback or where no process can hold CAP_NET_RAW. Not failing closed in here is
//! deliberate: the only alternative would be refusing every container on such kernels.
//!
//! # Maps (per firewall) and their sizes
//! Memory as the kernel accounts it (`memlock:` in fdinfo, kernel 6.18, x86_64, 2 CPUs);
//! `tests/firewall.rs::map_memory_is_bounded` measures it and asserts the total stays
//! < 2.5 MiB (the hard memlock limit here is 8 MiB; since 5.11 maps are charged to the memcg
//! instead).
//!
//! | map | type | entries | key/value bytes | memlock measured |
//! | --- | --- | --- | --- | --- |
//! | `cgfw_config` | array | 1 | 4 / 56 | 368 B |
//! | `cgfw_allow_ip` | hash (prealloc) | 4096 | 16 / 8 | 361,504 B |
//! | `cgfw_allow_cidr` | LPM trie (no prealloc) | 1024 | 20 / 4 | 0 empty; grows per prefix |
//! | `cgfw_block_cidr` | LPM trie (no prealloc) | 1024 | 20 / 4 | 0 empty; grows per prefix |
//! | `cgfw_owner` | LRU hash | 4096 | 8 / 24 | 394,112 B |
//! | `cgfw_dns_orig` | LRU hash | 2048 | 8 / 20 | 197,504 B |
//! | `cgfw_dns_client` | LRU hash | 2048 | 20 / 32 | 246,656 B |
//! | `cgfw_ratelimit` | array | 1 | 4 / 24 | 336 B |
//! | `cgfw_events` | ring buffer | 128 KiB (~1800 events of 72 B + 8 B header) | - | 144,200 B |
//! | `cgfw_exec_args` | LRU hash | 2048 | 4 / 272 | 705,408 B (344 B per entry) |
//! | `cgfw_cgroup` | cgroup array | 1 | 4 / 4 | 320 B |
//! | `cgfw_local_addr` | hash (prealloc) | 256 | 16 / 1 | 23,584 B: the netns's own addresses |
//! | `cgfw_upstream` | hash (prealloc) | 16 | 16 / 1 | 2,464 B: the proxy's upstreams |
//! | `cgfw_user_sock` | socket storage | per socket | - / 1 | grows with the container's sockets; freed with them |
//! | `cgfw_layout` | array | 1 | 4 / 72 | ~350 B; BTF anchor for the layout test, never used |
//! | total | | | | 2,076,456 B = 1.98 MiB per firewall |
//!
//! The measured figures are printed by `cargo test -p ebpf map_memory -- --nocapture`.
//!
//! # DNS client attribution
//! The connect/sendmsg hooks record socket cookie -> {pid, tgid, comm}. The skb egress hook
//! sees every packet to the proxy (loopback, proxy address and port) in the sender's context
//! before it is queued to the proxy socket, and records (proto, source address, source port)
//! -> {cookie, owner}. The proxy looks up the peer address of a datagram / accepted connection
//! with [`Firewall::dns_client_owner`]. A source tuple is unique among live sockets, so
//! concurrent clients never share an entry. The proxy should look the owner up when it
//! reads the datagram / accepts the connection: an entry is replaced only when a later
//! socket reuses the same source port and sends to the proxy, so a datagram still queued
//! from a socket that has since closed *and* whose port was already reused would be
//! attributed to the newer socket (tested: 4 concurrent clients x 25 queries, UDP and TCP).
//!
//! # Command lines of processes that have exited
//! A blocked tool usually exits within microseconds of its EPERM, before userspace reads the
//! event, so `/proc/PID/cmdline` is gone (or empty: a zombie). So the kernel records argv:
//! - `cgfw_exec` (`tp_btf/sched_process_exec`) runs after a successful exec with the new mm
//!   in place and copies `[mm->arg_start, mm->arg_end)` (what /proc shows, NUL-separated,
//!   first 256 bytes) with `bpf_probe_read_user` into `cgfw_exec_args`, keyed by tgid, with
//!   the task's start time (CLOCK_MONOTONIC, like event timestamps) to tell reused pids
//!   apart. A failed exec never fires the tracepoint, so there are no stale entries from
//!   execve attempts (the reason for preferring it over `syscalls/sys_enter_execve`, which
//!   would also need reading each argv pointer from user memory).
//! - `cgfw_fork` (`tp_btf/sched_process_fork`) copies the parent's entry to a new child
//!   process (not a thread), so a child that never execs (a subshell using bash's
//!   `/dev/tcp`, a forked worker) is named like its parent, as /proc would.
//! - Kernel structs are read with CO-RE: minimal `preserve_access_index` definitions of
//!   `task_struct` (mm, start_time, pid, tgid) and `mm_struct` (arg_start, arg_end),
//!   relocated by aya 0.14 against `/sys/kernel/btf/vmlinux` at load (tested: the real
//!   offsets are nothing like the local ones).
//! - Tracepoints are global: each firewall's programs run for every exec/fork on the host
//!   and return unless `bpf_current_task_under_cgroup(cgfw_cgroup, 0)`: the task is in the
//!   attached cgroup *or below it* (the cgroup programs cover the subtree too, which an
//!   equality test on `bpf_get_current_cgroup_id()` would miss). The test also checks that
//!   the id events carry is the cgroup2 directory's inode, on the hybrid host and in the
//!   pure-v2 view. `runc exec`-style processes join the cgroup before they exec: covered.
//! - Without kernel BTF, or if the kernel refuses these programs, the firewall still loads
//!   and enforces; [`Firewall::exec_capture_unavailable`] says why there are no entries.
//! - 2048 entries, LRU: a process's entry may be evicted after 2048 later execs/forks in
//!   the same container; by then a live process is read from /proc anyway.
//!
//! # Known limits
//! - Audit mode reports the packets of a would-block connection too (kind `Packet`), rate
//!   limited; enforce mode stops them at connect.
//! - Port-53 traffic is redirected only for a family with a proxy configured; otherwise the
//!   IP policy applies to it like to any destination.
//! - The packet parser (`src/bpf/packet.h`) walks at most 6 IPv6 extension headers; a packet
//!   whose transport header is not found gets no exemption that needs it (ports, ICMP type)
//!   and is decided by address.
//! - At most 63 firewalled containers share one network namespace (TCX programs per
//!   interface and direction, measured on 6.18): [`Firewall::attach_interface`] then fails
//!   with [`EbpfError::AttachInterface`] saying so.
//! - IPv6 neighbour discovery and MLD (ICMPv6 130-137, 143) pass the backstop only from
//!   sockets no process created (the kernel's; `cgfw_sock_create` marks every socket a
//!   process of the cgroup creates) and from the namespace's own or the unspecified address;
//!   from a process's raw socket they are decided by the policy like any packet.

pub mod abi;
mod events;
mod sys;

use std::{
    fs::File,
    io,
    net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
    time::Duration,
};

use aya::{
    maps::{Map, MapData, RingBuf},
    programs::{
        links::{FdLink, PinnedLink},
        BtfTracePoint, CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, CgroupSock, CgroupSockAddr, CgroupSockopt,
        LsmCgroup, ProgramError, SchedClassifier,
    },
    Btf, Ebpf, EbpfLoader,
};

pub use events::{Event, EventKind, EventStream, Reason, Verdict};

/// The compiled BPF object (built by build.rs).
pub static BPF_OBJECT: &[u8] = aya::include_bytes_aligned!(env!("CGFW_BPF_OBJ"));

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Enforce,
    /// Nothing is blocked; what would be blocked is reported as `WouldBlock`.
    Audit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirewallConfig {
    /// DNS proxy for IPv4 (and v4-mapped) port-53 traffic, e.g. 127.0.0.1:P in the netns.
    pub proxy_v4: Option<SocketAddrV4>,
    /// DNS proxy for IPv6 port-53 traffic, e.g. [::1]:P.
    pub proxy_v6: Option<SocketAddrV6>,
    pub mode: Mode,
    /// Destinations that match no rule are allowed (a policy with only a block list).
    pub default_allow: bool,
    /// Also report allowed connects/sends and DNS redirects (log level `all`).
    pub report_allowed: bool,
    /// Token bucket rate (and burst) of events; 0 disables events.
    pub events_per_sec: u32,
    /// Load and attach the packet-socket guard (the LSM program). The caller turns it off
    /// where it is not needed (no process of the container can hold CAP_NET_RAW) or where it
    /// refuses packet sockets another way; [`Firewall::packet_socket_guard_unavailable`] then
    /// says "not requested".
    pub packet_socket_guard: bool,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            proxy_v4: None,
            proxy_v6: None,
            mode: Mode::Enforce,
            default_allow: false,
            report_allowed: false,
            events_per_sec: 1000,
            packet_socket_guard: true,
        }
    }
}

/// The task that owns a socket (last to connect or send on it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Kernel task id (thread id).
    pub pid: u32,
    /// Userspace pid.
    pub tgid: u32,
    pub comm: String,
    pub cookie: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("parsing/creating maps of the BPF object: {}", chain(.0.as_ref()))]
    Object(#[source] Box<aya::EbpfError>),
    #[error("BPF object has no program {0}")]
    MissingProgram(&'static str),
    #[error("BPF object has no map {0}")]
    MissingMap(&'static str),
    #[error("loading BPF program {program}: {}", chain(source.as_ref()))]
    ProgramLoad { program: &'static str, #[source] source: Box<ProgramError> },
    #[error("attaching BPF program {program} to cgroup {}: {}", cgroup.display(), chain(source.as_ref()))]
    Attach {
        program: &'static str,
        cgroup: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("attaching BPF program {program} to interface #{ifindex} of the network namespace ({why}): {source}")]
    AttachInterface { program: &'static str, ifindex: u32, why: &'static str, #[source] source: io::Error },
    #[error("{} is not a cgroup v2 directory (BPF attaches only to cgroup2)", .0.display())]
    NotCgroup2(PathBuf),
    #[error("opening cgroup {}: {source}", path.display())]
    Cgroup { path: PathBuf, #[source] source: io::Error },
    #[error("already attached")]
    AlreadyAttached,
    #[error("pinning {}: {}", path.display(), chain(source))]
    Pin { path: PathBuf, #[source] source: io::Error },
    #[error("opening pinned {}: {}", path.display(), chain(source))]
    FromPin { path: PathBuf, #[source] source: io::Error },
    #[error("map {map}: {op}: {source}")]
    Map { map: &'static str, op: &'static str, #[source] source: io::Error },
    #[error("invalid prefix length /{prefix_len} for {net}")]
    Prefix { net: IpAddr, prefix_len: u8 },
    #[error("event stream: {0}")]
    Events(#[source] io::Error),
}

/// An error and its sources, "a: b: c" (aya's errors keep the errno in the source).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

// Index of each map in Firewall::maps.
const M_CONFIG: usize = 0;
const M_ALLOW_IP: usize = 1;
const M_ALLOW_CIDR: usize = 2;
const M_BLOCK_CIDR: usize = 3;
const M_OWNER: usize = 4;
const M_DNS_ORIG: usize = 5;
const M_DNS_CLIENT: usize = 6;
const M_RATELIMIT: usize = 7;
const M_EVENTS: usize = 8;
const M_EXEC_ARGS: usize = 9;
const M_CGROUP: usize = 10;
const M_LOCAL_ADDR: usize = 11;
const M_UPSTREAM: usize = 12;
/// Map names, also the pin file names.
pub const MAP_NAMES: [&str; 13] = [
    "cgfw_config",
    "cgfw_allow_ip",
    "cgfw_allow_cidr",
    "cgfw_block_cidr",
    "cgfw_owner",
    "cgfw_dns_orig",
    "cgfw_dns_client",
    "cgfw_ratelimit",
    "cgfw_events",
    "cgfw_exec_args",
    "cgfw_cgroup",
    "cgfw_local_addr",
    "cgfw_upstream",
];

#[derive(Clone, Copy)]
enum Hook {
    SockAddr,
    SkbEgress,
    /// A tp_btf tracepoint (global, filtered by the cgroup in `cgfw_cgroup`); part of the
    /// optional exec command line capture.
    Tracepoint(&'static str),
    /// A BPF_LSM_CGROUP program on this LSM hook, attached to the cgroup. Required.
    LsmCgroup(&'static str),
    /// cgroup/sock_create.
    SockCreate,
    /// cgroup/setsockopt.
    Sockopt,
    /// A TCX program (this attach type) for the namespace's interfaces: loaded with the others,
    /// attached per interface by [`Firewall::attach_interface`].
    Tc(u32),
}

/// Program names; links are pinned as `link_<name>`.
const PROGRAMS: [(&str, Hook); 16] = [
    ("cgfw_connect4", Hook::SockAddr),
    ("cgfw_connect6", Hook::SockAddr),
    ("cgfw_sendmsg4", Hook::SockAddr),
    ("cgfw_sendmsg6", Hook::SockAddr),
    ("cgfw_recvmsg4", Hook::SockAddr),
    ("cgfw_recvmsg6", Hook::SockAddr),
    ("cgfw_getpeername4", Hook::SockAddr),
    ("cgfw_getpeername6", Hook::SockAddr),
    ("cgfw_egress", Hook::SkbEgress),
    ("cgfw_exec", Hook::Tracepoint("sched_process_exec")),
    ("cgfw_fork", Hook::Tracepoint("sched_process_fork")),
    ("cgfw_socket_create", Hook::LsmCgroup("socket_create")),
    ("cgfw_sock_create", Hook::SockCreate),
    ("cgfw_setsockopt", Hook::Sockopt),
    ("cgfw_tc_egress", Hook::Tc(sys::BPF_TCX_EGRESS)),
    ("cgfw_tc_ingress", Hook::Tc(sys::BPF_TCX_INGRESS)),
];

enum AttachedLink {
    Fd(FdLink),
    Pinned(PinnedLink),
    /// A link made with BPF_LINK_CREATE here (aya has no FdLink for the setsockopt link).
    Raw(OwnedFd),
}

/// Memory the kernel accounts for one map.
#[derive(Clone, Debug)]
pub struct MapMemory {
    pub name: &'static str,
    pub memlock_bytes: u64,
}

pub struct Firewall {
    /// The loaded object (None when re-opened from pins: no programs held).
    bpf: Option<Ebpf>,
    maps: Vec<MapData>,
    links: Vec<(&'static str, AttachedLink)>,
    pin_dir: Option<PathBuf>,
    /// Why the exec hook was not loaded (no kernel BTF, or the kernel refused it). The
    /// firewall works without it; only [`Firewall::exec_cmdline`] has nothing to return.
    exec_unavailable: Option<String>,
    /// Why packet sockets are not refused (see [`Firewall::packet_socket_guard_unavailable`]).
    guard_unavailable: Option<String>,
    /// The loaded TCX programs and their attach types (none for a handle from pins).
    tc_programs: Vec<(&'static str, u32, OwnedFd)>,
    /// Interfaces the boundary programs are attached to: ifindex -> their TCX links. Behind a
    /// lock so that a shared handle (the sidecar's) can attach interfaces that appear later.
    interfaces: std::sync::Mutex<std::collections::BTreeMap<u32, Vec<OwnedFd>>>,
}

/// What the exec hook recorded for a process (see [`Firewall::exec_info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecInfo {
    /// argv joined by spaces, as `/proc/PID/cmdline` with NULs turned into spaces.
    pub cmdline: String,
    /// The process's start time (CLOCK_MONOTONIC ns, the clock of [`Event::ts_ns`]). An
    /// entry that started after an event belongs to a later process that reused the pid.
    pub start_time_ns: u64,
    /// argv was longer than the 256 bytes kept.
    pub truncated: bool,
}

/// `cgfw_local_addr` values (CGFW_LOCAL_UNICAST / CGFW_LOCAL_GROUP in cgfw.h).
const LOCAL_UNICAST: u8 = 1;
const LOCAL_GROUP: u8 = 2;

/// The solicited-node multicast group of an IPv6 address: ff02::1:ff00:0/104 + its low 24 bits.
fn solicited_node(addr: &Ipv6Addr) -> [u8; 16] {
    let mut group = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
    group[13..].copy_from_slice(&addr.octets()[13..]);
    group
}

fn v4_mapped(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn map_data(map: Map) -> Option<MapData> {
    match map {
        Map::Array(m)
        | Map::HashMap(m)
        | Map::LruHashMap(m)
        | Map::LpmTrie(m)
        | Map::RingBuf(m)
        | Map::CgroupArray(m) => Some(m),
        _ => None,
    }
}

impl Firewall {
    /// Loads every program (verifier included) and creates the maps, filled from `cfg`.
    ///
    /// The kernel's BTF (/sys/kernel/btf/vmlinux) is parsed once, for the CO-RE relocations
    /// and the attach point of the exec hook. Without it (or if the kernel refuses the exec
    /// hook) the firewall still loads, without exec command lines
    /// ([`Firewall::exec_capture_unavailable`] says why).
    pub fn load(cfg: &FirewallConfig) -> Result<Firewall, EbpfError> {
        let btf = Btf::from_sys_fs();
        let mut bpf = EbpfLoader::new()
            .btf(btf.as_ref().ok())
            .load(BPF_OBJECT)
            .map_err(|e| EbpfError::Object(Box::new(e)))?;
        let mut exec_unavailable = None;
        let mut guard_unavailable = (!cfg.packet_socket_guard).then(|| NOT_REQUESTED.to_string());
        let mut tc_programs = Vec::new();
        for (name, hook) in PROGRAMS {
            let prog = bpf.program_mut(name).ok_or(EbpfError::MissingProgram(name))?;
            let r = match hook {
                Hook::SockAddr => <&mut CgroupSockAddr>::try_from(prog).and_then(|p| p.load()),
                Hook::SkbEgress => <&mut CgroupSkb>::try_from(prog).and_then(|p| p.load()),
                Hook::SockCreate => <&mut CgroupSock>::try_from(prog).and_then(|p| p.load()),
                Hook::Sockopt => <&mut CgroupSockopt>::try_from(prog).and_then(|p| p.load()),
                Hook::Tc(attach_type) => <&mut SchedClassifier>::try_from(prog).and_then(|p| {
                    p.load()?;
                    let fd = p.fd()?.as_fd().try_clone_to_owned().map_err(ProgramError::IOError)?;
                    tc_programs.push((name, attach_type, fd));
                    Ok(())
                }),
                Hook::LsmCgroup(hook) => {
                    if guard_unavailable.is_some() {
                        continue;
                    }
                    let r = match &btf {
                        Ok(btf) => <&mut LsmCgroup>::try_from(prog)
                            .and_then(|p| p.load(hook, btf))
                            .map_err(|e| format!("loading {name} (lsm_cgroup/{hook}): {}", chain(&e))),
                        Err(e) => Err(format!("no kernel BTF: {}", chain(e))),
                    };
                    if let Err(why) = r {
                        guard_unavailable = Some(why);
                    }
                    continue;
                }
                Hook::Tracepoint(tracepoint) => {
                    if exec_unavailable.is_some() {
                        continue;
                    }
                    let r = match &btf {
                        Ok(btf) => <&mut BtfTracePoint>::try_from(prog)
                            .and_then(|p| p.load(tracepoint, btf))
                            .map_err(|e| format!("loading {name}: {}", chain(&e))),
                        Err(e) => Err(format!("no kernel BTF: {}", chain(e))),
                    };
                    if let Err(why) = r {
                        log::warn!("exec command lines are not recorded: {why}");
                        exec_unavailable = Some(why);
                    }
                    continue;
                }
            };
            r.map_err(|e| EbpfError::ProgramLoad { program: name, source: Box::new(e) })?;
        }
        drop(btf); // tens of MiB parsed; not needed any more
        let mut maps = Vec::with_capacity(MAP_NAMES.len());
        for name in MAP_NAMES {
            let m = bpf.take_map(name).and_then(map_data).ok_or(EbpfError::MissingMap(name))?;
            maps.push(m);
        }
        if let Some(why) = guard_unavailable.as_ref().filter(|why| *why != NOT_REQUESTED) {
            log::warn!("packet sockets (AF_PACKET/AF_XDP) are NOT refused: {why}");
        }
        let fw = Firewall {
            bpf: Some(bpf),
            maps,
            links: Vec::new(),
            pin_dir: None,
            exec_unavailable,
            guard_unavailable,
            tc_programs,
            interfaces: Default::default(),
        };
        fw.write_config(&config_raw(cfg))?;
        let burst = cfg.events_per_sec.max(1) as i64;
        fw.update(M_RATELIMIT, "init rate limit", &0u32, &abi::RateLimit {
            tokens: burst,
            last_ns: sys::monotonic_ns(),
            suppressed: 0,
        })?;
        Ok(fw)
    }

    /// Attaches every program to the cgroup v2 directory (all or nothing).
    pub fn attach(&mut self, cgroup_dir: &Path) -> Result<(), EbpfError> {
        if !self.links.is_empty() {
            return Err(EbpfError::AlreadyAttached);
        }
        if self.bpf.is_none() {
            return Err(EbpfError::AlreadyAttached);
        }
        match sys::fs_magic(cgroup_dir) {
            Ok(sys::CGROUP2_SUPER_MAGIC) => {}
            Ok(_) => return Err(EbpfError::NotCgroup2(cgroup_dir.into())),
            Err(source) => return Err(EbpfError::Cgroup { path: cgroup_dir.into(), source }),
        }
        let cg = File::open(cgroup_dir).map_err(|source| EbpfError::Cgroup { path: cgroup_dir.into(), source })?;
        // The boundary programs tell the container's sockets from others' by cgroup id.
        {
            use std::os::unix::fs::MetadataExt;
            let cerr = |source| EbpfError::Cgroup { path: cgroup_dir.into(), source };
            let mut c = self.config()?;
            c.cgroup_id = cg.metadata().map_err(cerr)?.ino();
            c.cgroup_level = sys::cgroup_level(cgroup_dir).map_err(cerr)?;
            self.write_config(&c)?;
        }
        let bpf = self.bpf.as_mut().ok_or(EbpfError::AlreadyAttached)?;
        // The LSM program attaches fine where the BPF LSM is compiled in but not active, and
        // then never runs: check that it is active.
        if self.guard_unavailable.is_none() {
            if let Err(why) = bpf_lsm_active() {
                log::warn!("packet sockets (AF_PACKET/AF_XDP) are NOT refused: {why}");
                self.guard_unavailable = Some(why);
            }
        }
        // The exec hook's filter: the map holds a reference to the cgroup itself.
        if self.exec_unavailable.is_none() {
            let cg_fd = cg.as_raw_fd() as u32;
            sys::map_update(self.maps[M_CGROUP].fd().as_fd(), &0u32, &cg_fd)
                .map_err(|source| EbpfError::Map { map: MAP_NAMES[M_CGROUP], op: "set cgroup", source })?;
        }
        let mut links = Vec::new();
        for (name, hook) in PROGRAMS {
            let prog = bpf.program_mut(name).ok_or(EbpfError::MissingProgram(name))?;
            let err = |e: ProgramError| EbpfError::Attach {
                program: name,
                cgroup: cgroup_dir.into(),
                source: Box::new(e),
            };
            let lerr = |e: aya::programs::links::LinkError| EbpfError::Attach {
                program: name,
                cgroup: cgroup_dir.into(),
                source: Box::new(e),
            };
            let link: FdLink = match hook {
                Hook::SockAddr => {
                    let p = <&mut CgroupSockAddr>::try_from(prog).map_err(err)?;
                    let id = p.attach(&cg, CgroupAttachMode::Single).map_err(err)?;
                    let l = p.take_link(id).map_err(err)?;
                    FdLink::try_from(l).map_err(lerr)?
                }
                Hook::SockCreate => {
                    let p = <&mut CgroupSock>::try_from(prog).map_err(err)?;
                    let id = p.attach(&cg, CgroupAttachMode::Single).map_err(err)?;
                    let l = p.take_link(id).map_err(err)?;
                    FdLink::try_from(l).map_err(lerr)?
                }
                Hook::Sockopt => {
                    let p = <&mut CgroupSockopt>::try_from(prog).map_err(err)?;
                    let fd = p.fd().map_err(err)?;
                    let link = sys::link_create(fd.as_fd(), cg.as_raw_fd() as u32, sys::BPF_CGROUP_SETSOCKOPT)
                        .map_err(|e| err(ProgramError::IOError(e)))?;
                    links.push((name, AttachedLink::Raw(link)));
                    continue;
                }
                Hook::Tc(_) => continue, // per interface: attach_interface
                Hook::SkbEgress => {
                    let p = <&mut CgroupSkb>::try_from(prog).map_err(err)?;
                    let id = p
                        .attach(&cg, CgroupSkbAttachType::Egress, CgroupAttachMode::Single)
                        .map_err(err)?;
                    let l = p.take_link(id).map_err(err)?;
                    FdLink::try_from(l).map_err(lerr)?
                }
                Hook::LsmCgroup(_) => {
                    if self.guard_unavailable.is_some() {
                        continue;
                    }
                    let p = <&mut LsmCgroup>::try_from(prog).map_err(err)?;
                    let id = p.attach(&cg).map_err(err)?;
                    let l = p.take_link(id).map_err(err)?;
                    FdLink::from(l)
                }
                Hook::Tracepoint(_) => {
                    if self.exec_unavailable.is_some() {
                        continue;
                    }
                    // A tracepoint is global: it runs for every exec on the host and returns
                    // at once unless the task is under the cgroup set above.
                    let p = <&mut BtfTracePoint>::try_from(prog).map_err(err)?;
                    let id = p.attach().map_err(err)?;
                    FdLink::from(p.take_link(id).map_err(err)?)
                }
            };
            links.push((name, AttachedLink::Fd(link)));
        }
        self.links = links;
        Ok(())
    }

    /// Pins maps (`<dir>/<map name>`) and links (`<dir>/link_<program>`). Pinned links keep
    /// the programs attached after this process exits. Mounts bpffs on /sys/fs/bpf if needed.
    pub fn pin(&mut self, dir: &Path) -> Result<(), EbpfError> {
        let perr = |path: &Path, source: io::Error| EbpfError::Pin { path: path.into(), source };
        sys::ensure_bpffs(dir).map_err(|e| perr(dir, e))?;
        std::fs::create_dir_all(dir).map_err(|e| perr(dir, e))?;
        for (i, name) in MAP_NAMES.iter().enumerate() {
            let p = dir.join(name);
            if p.exists() {
                continue; // already pinned (from_pins + pin again)
            }
            self.maps[i].pin(&p).map_err(|e| perr(&p, io::Error::other(e)))?;
        }
        let links = std::mem::take(&mut self.links);
        for (name, link) in links {
            let link = match link {
                AttachedLink::Fd(fd) => {
                    let p = dir.join(format!("link_{name}"));
                    AttachedLink::Pinned(fd.pin(&p).map_err(|e| perr(&p, io::Error::other(e)))?)
                }
                AttachedLink::Raw(fd) => {
                    let p = dir.join(format!("link_{name}"));
                    sys::obj_pin(fd.as_fd(), &p).map_err(|e| perr(&p, e))?;
                    AttachedLink::Raw(fd)
                }
                other => other,
            };
            self.links.push((name, link));
        }
        self.pin_dir = Some(dir.into());
        Ok(())
    }

    /// Re-opens the pinned maps of a firewall (e.g. a restarted sidecar). The pinned links
    /// stay attached; this handle holds no programs.
    pub fn from_pins(dir: &Path) -> Result<Firewall, EbpfError> {
        let mut maps = Vec::with_capacity(MAP_NAMES.len());
        for name in MAP_NAMES {
            let p = dir.join(name);
            let m = MapData::from_pin(&p)
                .map_err(|e| EbpfError::FromPin { path: p.clone(), source: io::Error::other(e) })?;
            maps.push(m);
        }
        // Whether the pinned set has the packet-socket guard: its link is pinned with the others.
        let guard_unavailable = (!dir.join("link_cgfw_socket_create").exists())
            .then(|| "the pinned firewall has no packet-socket guard link".to_string());
        Ok(Firewall {
            bpf: None,
            maps,
            links: Vec::new(),
            pin_dir: Some(dir.into()),
            exec_unavailable: None,
            guard_unavailable,
            tc_programs: Vec::new(),
            interfaces: Default::default(),
        })
    }

    /// Detaches the pinned links now (BPF_LINK_DETACH, whoever still holds them) and removes
    /// the pin directory. A missing directory is not an error.
    pub fn unpin(dir: &Path) -> Result<(), EbpfError> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(EbpfError::Pin { path: dir.into(), source }),
        };
        for entry in rd.flatten() {
            let p = entry.path();
            let is_link = entry.file_name().to_string_lossy().starts_with("link_");
            if is_link {
                if let Ok(fd) = sys::obj_get(&p) {
                    // EINVAL/ENOLINK: already detached (e.g. the cgroup is gone); fine.
                    let _ = sys::link_detach(fd.as_fd());
                }
            }
            if let Err(source) = std::fs::remove_file(&p) {
                if source.kind() != io::ErrorKind::NotFound {
                    return Err(EbpfError::Pin { path: p, source });
                }
            }
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(EbpfError::Pin { path: dir.into(), source }),
        }
    }

    /// Detaches the programs: links held by this handle are closed, and if the firewall is
    /// pinned (by [`Firewall::pin`] or opened with [`Firewall::from_pins`]) the pins are
    /// removed and the links force-detached.
    pub fn detach(mut self) -> Result<(), EbpfError> {
        let interfaces = std::mem::take(&mut *self.interfaces.lock().unwrap_or_else(|e| e.into_inner()));
        for link in interfaces.into_values().flatten() {
            let _ = sys::link_detach(link.as_fd()); // fails if the interface is gone: fine
        }
        let links = std::mem::take(&mut self.links);
        for (_, link) in links {
            match link {
                AttachedLink::Fd(fd) => {
                    // Detach now rather than when the kernel gets round to releasing it.
                    if let Ok(info) = fd.info() {
                        let _ = sys::link_detach_by_id(info.id());
                    }
                    drop(fd)
                }
                AttachedLink::Pinned(p) => drop(p), // the pin file goes with unpin() below
                AttachedLink::Raw(fd) => {
                    let _ = sys::link_detach(fd.as_fd()); // fails if the cgroup is gone: fine
                }
            }
        }
        if let Some(dir) = self.pin_dir.take() {
            Self::unpin(&dir)?;
        }
        Ok(())
    }

    /// Allows `ip` until now + ttl (CLOCK_MONOTONIC). An existing later expiry is kept.
    pub fn allow_ip(&self, ip: IpAddr, ttl: Duration) -> Result<(), EbpfError> {
        let key = v4_mapped(ip);
        let expires = sys::monotonic_ns().saturating_add(ttl.as_nanos().min(u64::MAX as u128) as u64);
        let old: Option<abi::AllowIp> = self.lookup(M_ALLOW_IP, "lookup", &key)?;
        let expires_ns = old.map_or(expires, |o| o.expires_ns.max(expires));
        self.update(M_ALLOW_IP, "update", &key, &abi::AllowIp { expires_ns })
    }

    /// Removes an allowed IP (e.g. on policy reload). Returns whether it was present.
    pub fn revoke_ip(&self, ip: IpAddr) -> Result<bool, EbpfError> {
        sys::map_delete(self.fd(M_ALLOW_IP), &v4_mapped(ip))
            .map_err(|source| EbpfError::Map { map: MAP_NAMES[M_ALLOW_IP], op: "delete", source })
    }

    /// Expiry of an allowed IP in CLOCK_MONOTONIC ns, if present.
    pub fn ip_expiry(&self, ip: IpAddr) -> Result<Option<u64>, EbpfError> {
        Ok(self.lookup::<_, abi::AllowIp>(M_ALLOW_IP, "lookup", &v4_mapped(ip))?.map(|a| a.expires_ns))
    }

    pub fn allow_cidr(&self, net: IpAddr, prefix_len: u8) -> Result<(), EbpfError> {
        self.cidr(M_ALLOW_CIDR, net, prefix_len)
    }

    /// Block CIDRs win over allow CIDRs and allowed IPs.
    pub fn block_cidr(&self, net: IpAddr, prefix_len: u8) -> Result<(), EbpfError> {
        self.cidr(M_BLOCK_CIDR, net, prefix_len)
    }

    fn cidr(&self, map: usize, net: IpAddr, prefix_len: u8) -> Result<(), EbpfError> {
        let (max, base) = match net {
            IpAddr::V4(_) => (32u8, 96u32),
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && prefix_len >= 96 => (128, 0),
            IpAddr::V6(_) => (128, 0),
        };
        if prefix_len > max {
            return Err(EbpfError::Prefix { net, prefix_len });
        }
        let key = abi::LpmKey { prefixlen: base + prefix_len as u32, addr: v4_mapped(net) };
        self.update(map, "update", &key, &1u32)
    }

    pub fn set_mode(&self, mode: Mode) -> Result<(), EbpfError> {
        let mut c = self.config()?;
        c.mode = match mode {
            Mode::Enforce => abi::MODE_ENFORCE,
            Mode::Audit => abi::MODE_AUDIT,
        };
        self.write_config(&c)
    }

    pub fn set_report_allowed(&self, on: bool) -> Result<(), EbpfError> {
        let mut c = self.config()?;
        c.report_allowed = on as u8;
        self.write_config(&c)
    }

    /// The raw configuration as the programs see it.
    pub fn config(&self) -> Result<abi::Config, EbpfError> {
        Ok(self.lookup(M_CONFIG, "lookup", &0u32)?.unwrap_or_default())
    }

    /// Who sent the DNS packet the proxy received from `src` (its peer address).
    pub fn dns_client_owner(&self, proto: Proto, src: SocketAddr) -> Option<Owner> {
        let key = abi::DnsClientKey {
            addr: v4_mapped(src.ip()),
            port: src.port(),
            proto: match proto {
                Proto::Tcp => libc::IPPROTO_TCP as u8,
                Proto::Udp => libc::IPPROTO_UDP as u8,
            },
            _pad: 0,
        };
        let v: abi::DnsClient = self.lookup(M_DNS_CLIENT, "lookup", &key).ok()??;
        Some(Owner { pid: v.owner.pid, tgid: v.owner.tgid, comm: events::comm_str(&v.owner.comm), cookie: v.cookie })
    }

    /// Owner of a socket by cookie (as recorded at connect/sendmsg).
    pub fn socket_owner(&self, cookie: u64) -> Option<Owner> {
        let o: abi::OwnerRaw = self.lookup(M_OWNER, "lookup", &cookie).ok()??;
        Some(Owner { pid: o.pid, tgid: o.tgid, comm: events::comm_str(&o.comm), cookie })
    }

    /// The DNS server a redirected socket originally addressed.
    pub fn original_dns_destination(&self, cookie: u64) -> Option<SocketAddr> {
        let o: abi::OrigDst = self.lookup(M_DNS_ORIG, "lookup", &cookie).ok()??;
        Some(SocketAddr::new(events::unmap(o.addr), o.port))
    }

    /// The command line `tgid` exec'd with, recorded in the kernel at exec time for
    /// processes in the firewall's cgroup (or below it): argv joined by spaces, as
    /// `/proc/PID/cmdline` shows it with NULs turned into spaces, at most 256 bytes. Still
    /// there after the process has exited (until the LRU map evicts it), which is the point:
    /// read /proc while the process lives, fall back to this.
    pub fn exec_cmdline(&self, tgid: u32) -> Option<String> {
        self.exec_info(tgid).map(|i| i.cmdline)
    }

    /// [`Firewall::exec_cmdline`] with the process start time, to reject an entry of a later
    /// process that reused the pid (`start_time_ns > event.ts_ns`).
    pub fn exec_info(&self, tgid: u32) -> Option<ExecInfo> {
        let e: abi::ExecRaw = self.lookup(M_EXEC_ARGS, "lookup", &tgid).ok()??;
        let len = (e.len as usize).min(abi::ARGS_BYTES);
        Some(ExecInfo {
            cmdline: args_to_cmdline(&e.args[..len]),
            start_time_ns: e.start_time_ns,
            truncated: e.full_len > e.len,
        })
    }

    /// Why packet sockets (AF_PACKET, AF_XDP) are NOT refused to the cgroup, if they are not:
    /// the kernel cannot run the BPF LSM guard (see the module doc, "Packet sockets"). Then a
    /// process with CAP_NET_RAW can send frames past the firewall: the caller should fail
    /// closed for containers that hold CAP_NET_RAW, or withhold it. Final after
    /// [`Firewall::attach`] (the BPF LSM being active is checked there); for a handle from
    /// [`Firewall::from_pins`]: whether the guard's link is pinned.
    pub fn packet_socket_guard_unavailable(&self) -> Option<&str> {
        self.guard_unavailable.as_deref()
    }

    /// Why exec command lines are not recorded, if they are not (see [`Firewall::load`]).
    /// Always None for a handle from [`Firewall::from_pins`].
    pub fn exec_capture_unavailable(&self) -> Option<&str> {
        self.exec_unavailable.as_deref()
    }

    /// Async stream of events (needs a tokio runtime). Several streams may exist; each event
    /// is delivered to one of them.
    pub fn events(&self) -> Result<EventStream, EbpfError> {
        let dup = |i: usize| {
            self.fd(i)
                .try_clone_to_owned()
                .map_err(|source| EbpfError::Map { map: MAP_NAMES[i], op: "dup", source })
        };
        let md = MapData::from_fd(dup(M_EVENTS)?).map_err(|e| EbpfError::Events(io::Error::other(e)))?;
        let ring = RingBuf::try_from(Map::RingBuf(md)).map_err(|e| EbpfError::Events(io::Error::other(e)))?;
        EventStream::new(ring, dup(M_RATELIMIT)?)
    }

    /// Events dropped by the kernel side (rate limit or full ring buffer).
    pub fn suppressed_events(&self) -> u64 {
        events::read_suppressed(self.fd(M_RATELIMIT))
    }

    /// Memory the kernel accounts for each map (fdinfo `memlock`).
    pub fn map_memory(&self) -> Result<Vec<MapMemory>, EbpfError> {
        MAP_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                sys::fd_memlock(self.fd(i))
                    .map(|memlock_bytes| MapMemory { name, memlock_bytes })
                    .map_err(|source| EbpfError::Map { map: name, op: "fdinfo", source })
            })
            .collect()
    }

    /// Whether this handle holds attached links (pinned or not).
    pub fn is_attached(&self) -> bool {
        !self.links.is_empty()
    }

    fn fd(&self, i: usize) -> BorrowedFd<'_> {
        self.maps[i].fd().as_fd()
    }

    fn lookup<K: sys::Plain, V: sys::Plain>(&self, i: usize, op: &'static str, k: &K) -> Result<Option<V>, EbpfError> {
        sys::map_lookup(self.fd(i), k).map_err(|source| EbpfError::Map { map: MAP_NAMES[i], op, source })
    }

    fn update<K: sys::Plain, V: sys::Plain>(&self, i: usize, op: &'static str, k: &K, v: &V) -> Result<(), EbpfError> {
        sys::map_update(self.fd(i), k, v).map_err(|source| EbpfError::Map { map: MAP_NAMES[i], op, source })
    }

    /// Attaches the boundary programs (TCX egress and ingress) to interface `ifindex` of the
    /// calling thread's network namespace, after whatever is attached there already, and pins
    /// the links (`link_tc_<ifindex>_<egress|ingress>`) if the firewall is pinned. Attaching
    /// an interface twice is a no-op. Needs the handle that loaded the programs.
    pub fn attach_interface(&self, ifindex: u32) -> Result<(), EbpfError> {
        let mut interfaces = self.interfaces.lock().unwrap_or_else(|e| e.into_inner());
        if interfaces.contains_key(&ifindex) {
            return Ok(());
        }
        if self.tc_programs.is_empty() {
            return Err(EbpfError::MissingProgram("cgfw_tc_egress (handle opened from pins)"));
        }
        let mut made = Vec::new();
        for (name, attach_type, prog) in &self.tc_programs {
            let link = sys::link_create(prog.as_fd(), ifindex, *attach_type).map_err(|source| {
                // bpf_mprog takes a bounded number of programs per interface and direction
                // (BPF_MPROG_MAX; 63 attached here on 6.18).
                let why = if source.raw_os_error() == Some(libc::ERANGE) {
                    "it carries as many TCX programs as the kernel takes per interface (63 on 6.18): no more firewalled containers can share this network namespace"
                } else {
                    "TCX needs kernel 6.6+"
                };
                EbpfError::AttachInterface { program: name, ifindex, why, source }
            })?;
            if let Some(dir) = &self.pin_dir {
                let suffix = if *attach_type == sys::BPF_TCX_EGRESS { "egress" } else { "ingress" };
                let path = dir.join(format!("link_tc_{ifindex}_{suffix}"));
                if let Err(source) = sys::obj_pin(link.as_fd(), &path) {
                    let _ = sys::link_detach(link.as_fd());
                    return Err(EbpfError::Pin { path, source });
                }
            }
            made.push(link);
        }
        interfaces.insert(ifindex, made);
        Ok(())
    }

    /// Interfaces the boundary programs are attached to (ifindex).
    pub fn attached_interfaces(&self) -> Vec<u32> {
        self.interfaces.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
    }

    /// Makes the namespace's own addresses exactly `addrs` (anti-spoofing: a packet of the
    /// container must carry one of them, or loopback, as its source), with the solicited-node
    /// multicast group of each IPv6 one (the kernel joins and reports those itself; the
    /// boundary lets membership reports name them). Returns whether the set changed.
    pub fn set_local_addrs(&self, addrs: &[IpAddr]) -> Result<bool, EbpfError> {
        let mut entries: Vec<([u8; 16], u8)> = Vec::new();
        for addr in addrs {
            entries.push((v4_mapped(*addr), LOCAL_UNICAST));
            if let IpAddr::V6(v6) = addr {
                if !v6.is_loopback() && !v6.is_unspecified() && v6.to_ipv4_mapped().is_none() {
                    entries.push((solicited_node(v6), LOCAL_GROUP));
                }
            }
        }
        self.set_address_set(M_LOCAL_ADDR, &entries)
    }

    /// The namespace's own addresses as the programs see them (not the groups).
    pub fn local_addrs(&self) -> Result<Vec<IpAddr>, EbpfError> {
        let keys: Vec<[u8; 16]> = sys::map_keys(self.fd(M_LOCAL_ADDR))
            .map_err(|source| EbpfError::Map { map: MAP_NAMES[M_LOCAL_ADDR], op: "walk", source })?;
        let mut addrs = Vec::new();
        for key in keys {
            if self.lookup::<_, u8>(M_LOCAL_ADDR, "lookup", &key)? == Some(LOCAL_UNICAST) {
                addrs.push(events::unmap(key));
            }
        }
        Ok(addrs)
    }

    /// The DNS proxy's upstream resolvers: its queries to them (port 53) pass the boundary.
    pub fn set_upstreams(&self, addrs: &[IpAddr]) -> Result<bool, EbpfError> {
        let entries: Vec<([u8; 16], u8)> = addrs.iter().map(|a| (v4_mapped(*a), 1)).collect();
        self.set_address_set(M_UPSTREAM, &entries)
    }

    /// Makes a set map (address -> kind) exactly `entries`.
    fn set_address_set(&self, map: usize, entries: &[([u8; 16], u8)]) -> Result<bool, EbpfError> {
        let want: std::collections::BTreeMap<[u8; 16], u8> = entries.iter().copied().collect();
        let mut changed = false;
        // Add (or update) first, then remove: an address that stays is never missing between.
        for (key, kind) in &want {
            if self.lookup::<_, u8>(map, "lookup", key)? != Some(*kind) {
                self.update(map, "add address", key, kind)?;
                changed = true;
            }
        }
        let have: Vec<[u8; 16]> = sys::map_keys(self.fd(map))
            .map_err(|source| EbpfError::Map { map: MAP_NAMES[map], op: "walk", source })?;
        for key in have.iter().filter(|k| !want.contains_key(*k)) {
            sys::map_delete(self.fd(map), key)
                .map_err(|source| EbpfError::Map { map: MAP_NAMES[map], op: "remove address", source })?;
            changed = true;
        }
        Ok(changed)
    }

    /// Sets (or clears) the DNS proxy addresses after [`Firewall::load`]: the programs can be
    /// loaded before the proxy's sockets exist (the runtime loads them while the container is
    /// still being built) and get the addresses before [`Firewall::attach`].
    pub fn set_dns_proxy(&self, v4: Option<SocketAddrV4>, v6: Option<SocketAddrV6>) -> Result<(), EbpfError> {
        let mut c = self.config()?;
        let with = config_raw(&FirewallConfig { proxy_v4: v4, proxy_v6: v6, ..FirewallConfig::default() });
        (c.has_proxy4, c.proxy4_addr, c.proxy4_port) = (with.has_proxy4, with.proxy4_addr, with.proxy4_port);
        (c.has_proxy6, c.proxy6_addr, c.proxy6_port) = (with.has_proxy6, with.proxy6_addr, with.proxy6_port);
        self.write_config(&c)
    }

    fn write_config(&self, c: &abi::Config) -> Result<(), EbpfError> {
        self.update(M_CONFIG, "write config", &0u32, c)
    }
}

/// [`Firewall::packet_socket_guard_unavailable`] when [`FirewallConfig::packet_socket_guard`]
/// is off.
pub const NOT_REQUESTED: &str = "not requested";

/// Whether this kernel runs the packet-socket guard: the BPF LSM is active and the kernel
/// accepts the program (loaded and dropped again; nothing is attached). Err says why not. It
/// costs a parse of the kernel's BTF (tens of ms): callers keep the answer.
pub fn probe_packet_socket_guard() -> Result<(), String> {
    bpf_lsm_active()?;
    let btf = Btf::from_sys_fs().map_err(|e| format!("no kernel BTF: {}", chain(&e)))?;
    let mut bpf = EbpfLoader::new()
        .btf(Some(&btf))
        .load(BPF_OBJECT)
        .map_err(|e| format!("loading the BPF object: {}", chain(&e)))?;
    let (name, hook) = PROGRAMS
        .iter()
        .find_map(|(name, hook)| match hook {
            Hook::LsmCgroup(hook) => Some((*name, *hook)),
            _ => None,
        })
        .ok_or("no LSM program in the object")?;
    let prog = bpf.program_mut(name).ok_or("LSM program missing from the object")?;
    <&mut LsmCgroup>::try_from(prog)
        .and_then(|p| p.load(hook, &btf))
        .map_err(|e| format!("loading {name} (lsm_cgroup/{hook}): {}", chain(&e)))
}

/// Whether the BPF LSM is active (`bpf` in /sys/kernel/security/lsm). Err says why not, or
/// why it cannot be told (securityfs not mounted: mount it, `mount -t securityfs none
/// /sys/kernel/security`).
fn bpf_lsm_active() -> Result<(), String> {
    const LSM: &str = "/sys/kernel/security/lsm";
    let list = std::fs::read_to_string(LSM).map_err(|e| format!("cannot read {LSM} to check that the BPF LSM is active: {e}"))?;
    if list.trim().split(',').any(|l| l == "bpf") {
        Ok(())
    } else {
        Err(format!("the BPF LSM is not active (active LSMs: {}; add bpf to the lsm= boot parameter)", list.trim()))
    }
}

/// NUL-separated argv -> "a b c" (trailing NULs dropped, inner NULs to spaces).
fn args_to_cmdline(raw: &[u8]) -> String {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let text: Vec<u8> = raw[..end].iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    String::from_utf8_lossy(&text).into_owned()
}

fn config_raw(cfg: &FirewallConfig) -> abi::Config {
    let mut c = abi::Config {
        events_per_sec: cfg.events_per_sec,
        events_burst: cfg.events_per_sec.max(1),
        mode: match cfg.mode {
            Mode::Enforce => abi::MODE_ENFORCE,
            Mode::Audit => abi::MODE_AUDIT,
        },
        default_allow: cfg.default_allow as u8,
        report_allowed: cfg.report_allowed as u8,
        ..Default::default()
    };
    if let Some(p) = cfg.proxy_v4 {
        c.has_proxy4 = 1;
        c.proxy4_addr = p.ip().octets();
        c.proxy4_port = p.port();
    }
    if let Some(p) = cfg.proxy_v6 {
        c.has_proxy6 = 1;
        c.proxy6_addr = p.ip().octets();
        c.proxy6_port = p.port();
    }
    c
}

#[cfg(test)]
mod tests {
    #[test]
    fn solicited_node_group() {
        let addr: std::net::Ipv6Addr = "fd00:cf::1:2:3456".parse().unwrap();
        let want: std::net::Ipv6Addr = "ff02::1:ff02:3456".parse().unwrap();
        assert_eq!(super::solicited_node(&addr), want.octets());
    }

    #[test]
    fn args_to_cmdline() {
        assert_eq!(super::args_to_cmdline(b"wget\0-q\0http://x/\0"), "wget -q http://x/");
        assert_eq!(super::args_to_cmdline(b"sh\0-c\0\0x\0\0\0"), "sh -c  x");
        assert_eq!(super::args_to_cmdline(b"truncat"), "truncat");
        assert_eq!(super::args_to_cmdline(b"\0\0"), "");
    }
}
