//! cgroup v2 egress firewall: BPF programs in C (`src/bpf/`) and a typed loader on aya.
//!
//! The programs and the shared maps are loaded once per host and build: a [`ProgramSet`],
//! pinned under `/sys/fs/bpf/cgfw-programs/<build id>/` by the first firewall that needs it
//! (see `set.rs`). One [`Firewall`] is one container's state in that set and the set's cgroup
//! programs linked to its cgroup. No policy logic lives here: the runtime turns a policy into
//! [`Firewall::allow_ip`], [`Firewall::allow_cidr`], [`Firewall::block_cidr`] and a
//! [`FirewallConfig`].
//!
//! # Per-container state
//! A container is known by its id, a random number chosen when its firewall is loaded: its
//! state goes into the set then, while libcontainer is still building the container (every
//! update of a map of maps waits for an RCU grace period, ~13 ms here: they overlap the
//! build instead of following it), and [`Firewall::attach`] names the id to the container's
//! cgroup. Its state, and how the programs reach it:
//! - configuration and event budget: `cgfw_containers[id]`; its cgroup: `cgfw_cgroups`;
//! - which container a cgroup program runs for: `cgfw_attached`, legacy cgroup storage
//!   keyed by cgroup id, holding the container id. The kernel hands each program the storage of the cgroup it was
//!   *attached* to, also when it runs for a task in a cgroup nested below (a cgroup the
//!   container made, the one an `exec` joins), so nested cgroups are confined exactly like
//!   the container's own (tested). The value is 0 until [`Firewall::attach`] has written it
//!   last: until then every hook refuses;
//! - allowed addresses, allow/block CIDRs, the namespace's own addresses, the upstream
//!   resolvers, the event ring buffer: inner maps of the set's maps-of-maps, keyed by id,
//!   created for each container with the template's type and sizes. A container that fills
//!   one fills its own: the kernel refuses the insert (E2BIG), the address stays refused for
//!   that container only (tested). Deleting a container drops its maps with one delete each;
//! - per socket (who last connected or sent, the DNS server before the redirect, which
//!   container's process created it): socket storage, freed with the socket;
//! - shared and only for attribution: `cgfw_dns_client` (keyed by container id too) and
//!   `cgfw_exec_args` (by tgid), LRU: a container that churns them can age out another's
//!   entries (its events then lack a command line or a DNS client's pid), never change a
//!   decision.
//!
//! Keyed entries in shared maps (an LPM key prefixed with the container id, one hash for all
//! containers) were the alternative. They cost less memory per container (no per-map bucket
//! array: the 64 KiB of an empty 4096-entry hash) but need a per-container count the sidecar
//! keeps to stop one container filling the map for all, and a walk of every shared map to
//! delete a container. Inner maps get both from the kernel; measured: 148 KiB of map memory
//! per container (64 KiB allow-IP buckets, 78 KiB ring buffer) plus 2.85 MiB shared by all
//! (mostly the two LRU maps): 206 KiB per container with 50 containers, 163 KiB with 200,
//! against 1.98 MiB per container when every container loaded its own set.
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
//! The cgroup programs are linked to each container's cgroup (links pinned in its own
//! directory, `/sys/fs/bpf/cgfw/<id>/`); the two tracepoints are attached once, with the set;
//! the TCX pair once per network namespace.
//!
//! # The namespace's boundary
//! The cgroup hooks see only the container's own sockets. What the kernel sends for the
//! namespace (ICMP replies and errors, TCP resets, IGMP/MLD reports) and what arrives from a
//! forbidden host is filtered by `cgfw_tc_egress`/`cgfw_tc_ingress`, attached with TCX links
//! (kernel 6.6+) to every interface of the container's network namespace but lo
//! ([`Firewall::attach_interface`], called by the sidecar, which lives in the namespace, for
//! each interface present at start and each one added later). One pair serves every
//! firewalled container of a namespace: the containers join `cgfw_netns[netns cookie]`, the
//! programs decide for each member, the first member attaches the pair (links pinned in the
//! set, `netns/<cookie>/`), the last one to leave detaches it. Anti-spoofing needs the
//! namespace's own addresses: [`Firewall::set_local_addrs`].
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
//! # Maps and their sizes
//! Memory as the kernel accounts it (`memlock:` in fdinfo, kernel 6.18, x86_64, 2 CPUs),
//! printed by `cargo test -p ebpf map_memory -- --nocapture`, which asserts at most 256 KiB
//! per container with 50 containers (own maps plus a 50th of the shared ones).
//!
//! | map | whose | type | entries | key/value bytes | memlock measured |
//! | --- | --- | --- | --- | --- | --- |
//! | `cgfw_allow_ip` | container | hash (no prealloc) | 4096 | 16 / 8 | 66,496 B empty (buckets); grows per entry |
//! | `cgfw_allow_cidr`, `cgfw_block_cidr` | container | LPM trie (no prealloc) | 1024 | 20 / 4 | 0 empty; grows per prefix |
//! | `cgfw_local_addr` | container | hash (no prealloc) | 256 | 16 / 1 | 5,616 B |
//! | `cgfw_upstream` | container | hash (no prealloc) | 16 | 16 / 1 | 1,216 B |
//! | `cgfw_events` | container | ring buffer | 64 KiB (~800 events of 72 B + 8 B header) | - | 78,408 B |
//! | `cgfw_containers` | set | hash (no prealloc) | 4096 | 8 / 80 | 66,784 B |
//! | `cgfw_netns` | set | hash (no prealloc) | 4096 | 8 / 520 | 66,496 B |
//! | six `*_of` outer maps | set | hash of maps | 4096 | 8 / 4 | ~66,600 B each |
//! | `cgfw_attached` | set | cgroup storage | per cgroup | 8 / 8 | 328 B |
//! | `cgfw_sock` | set | socket storage | per socket | - / 80 | grows with sockets; freed with them |
//! | `cgfw_dns_client` | set | LRU hash | 8192 | 32 / 32 | 1,049,536 B |
//! | `cgfw_exec_args` | set | LRU hash | 4096 | 4 / 272 | 1,409,984 B |
//! | total | | | | | 148 KiB per container + 2.85 MiB per host |
//!
//! # DNS client attribution
//! The connect/sendmsg hooks record {pid, tgid, comm} in the socket's storage. The skb egress hook
//! sees every packet to the proxy (loopback, proxy address and port) in the sender's context
//! before it is queued to the proxy socket, and records (container, proto, source address,
//! source port) -> {cookie, owner}. The proxy looks up the peer address of a datagram / accepted connection
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
//! - One pair for the host: `cgfw_exec` looks up the task's cgroup v2 ancestors (at most 16
//!   levels, `bpf_get_current_ancestor_cgroup_id`) in `cgfw_containers`, so it records tasks
//!   of every firewalled container and of cgroups nested below one; `cgfw_fork` only copies
//!   an entry the parent has. Every exec and fork on the host pays that walk once, however
//!   many containers run (before program sets: two programs per container). `runc
//!   exec`-style processes join the cgroup before they exec: covered.
//! - Without kernel BTF, or if the kernel refuses these programs, the firewall still loads
//!   and enforces; [`Firewall::exec_capture_unavailable`] says why there are no entries.
//! - 4096 entries for the host, LRU: a process's entry may be evicted after 4096 later
//!   execs/forks in firewalled containers; by then a live process is read from /proc anyway.
//!
//! # Known limits
//! - Audit mode reports the packets of a would-block connection too (kind `Packet`), rate
//!   limited; enforce mode stops them at connect.
//! - Port-53 traffic is redirected only for a family with a proxy configured; otherwise the
//!   IP policy applies to it like to any destination.
//! - The packet parser (`src/bpf/packet.h`) walks at most 6 IPv6 extension headers; a packet
//!   whose transport header is not found gets no exemption that needs it (ports, ICMP type)
//!   and is decided by address.
//! - At most 64 firewalled containers share one network namespace (`CGFW_NETNS_MEMBERS`):
//!   [`Firewall::attach_interface`] then fails with [`EbpfError::NetnsFull`]. The boundary
//!   programs decide for each member in turn, so their cost grows with the members of a
//!   namespace (as it did with one pair per container).
//! - IPv6 neighbour discovery and MLD (ICMPv6 130-137, 143) pass the backstop only from
//!   sockets no process created (the kernel's; `cgfw_sock_create` marks every socket a
//!   process of the cgroup creates) and from the namespace's own or the unspecified address;
//!   from a process's raw socket they are decided by the policy like any packet.

pub mod abi;
mod events;
pub mod maps;
pub mod set;
mod sys;

use std::{
    fs::File,
    io,
    net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use aya::{
    maps::{Map, MapData, RingBuf},
    programs::ProgramError,
};

pub use events::{Event, EventKind, EventStream, Reason, Verdict};
use maps::MapHandle;
pub use set::{ProgramSet, BUILD_ID, SET_ROOT};

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
    #[error("the network namespace already has {0} firewalled containers, the most one namespace takes")]
    NetnsFull(u32),
    #[error("{0}")]
    Incomplete(String),
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


/// A container's own maps (inner maps of the set's map-of-maps), created for it.
struct ContainerMaps {
    allow_ip: MapHandle<[u8; 16], abi::AllowIp>,
    allow_cidr: MapHandle<abi::LpmKey, u32>,
    block_cidr: MapHandle<abi::LpmKey, u32>,
    local_addr: MapHandle<[u8; 16], u8>,
    upstream: MapHandle<[u8; 16], u8>,
    /// The ring buffer (no key or value type).
    events: MapHandle<u32, u32>,
}

/// Type, key size, value size, entries and flags of each inner map: exactly those of the
/// templates in maps.h (the kernel compares type, sizes and flags on insert).
const INNER_MAPS: [(&str, u32, u32, u32, u32, u32); 6] = [
    ("cgfw_allow_ip", sys::BPF_MAP_TYPE_HASH, 16, 8, abi::ALLOW_IP_ENTRIES, sys::BPF_F_NO_PREALLOC),
    ("cgfw_allow_cidr", sys::BPF_MAP_TYPE_LPM_TRIE, 20, 4, abi::CIDR_ENTRIES, sys::BPF_F_NO_PREALLOC),
    ("cgfw_block_cidr", sys::BPF_MAP_TYPE_LPM_TRIE, 20, 4, abi::CIDR_ENTRIES, sys::BPF_F_NO_PREALLOC),
    ("cgfw_local_addr", sys::BPF_MAP_TYPE_HASH, 16, 1, abi::LOCAL_ADDR_ENTRIES, sys::BPF_F_NO_PREALLOC),
    ("cgfw_upstream", sys::BPF_MAP_TYPE_HASH, 16, 1, abi::UPSTREAM_ENTRIES, sys::BPF_F_NO_PREALLOC),
    ("cgfw_events", sys::BPF_MAP_TYPE_RINGBUF, 0, 0, abi::EVENTS_BYTES, 0),
];

impl ContainerMaps {
    fn create() -> Result<ContainerMaps, EbpfError> {
        let mut fds = Vec::with_capacity(INNER_MAPS.len());
        for (name, ty, key, value, entries, flags) in INNER_MAPS {
            let fd = sys::map_create(ty, key, value, entries, flags, name)
                .map_err(|source| EbpfError::Map { map: name, op: "create the container's map", source })?;
            fds.push(fd);
        }
        let [allow_ip, allow_cidr, block_cidr, local_addr, upstream, events]: [OwnedFd; 6] =
            fds.try_into().map_err(|_| EbpfError::Incomplete("one fd per inner map".into()))?;
        Ok(ContainerMaps {
            allow_ip: MapHandle::new("cgfw_allow_ip", allow_ip),
            allow_cidr: MapHandle::new("cgfw_allow_cidr", allow_cidr),
            block_cidr: MapHandle::new("cgfw_block_cidr", block_cidr),
            local_addr: MapHandle::new("cgfw_local_addr", local_addr),
            upstream: MapHandle::new("cgfw_upstream", upstream),
            events: MapHandle::new("cgfw_events", events),
        })
    }

    fn from_pins(dir: &Path) -> Result<ContainerMaps, EbpfError> {
        Ok(ContainerMaps {
            allow_ip: MapHandle::from_pin(dir, "cgfw_allow_ip")?,
            allow_cidr: MapHandle::from_pin(dir, "cgfw_allow_cidr")?,
            block_cidr: MapHandle::from_pin(dir, "cgfw_block_cidr")?,
            local_addr: MapHandle::from_pin(dir, "cgfw_local_addr")?,
            upstream: MapHandle::from_pin(dir, "cgfw_upstream")?,
            events: MapHandle::from_pin(dir, "cgfw_events")?,
        })
    }

    /// In the order of [`set::SetMaps::outers`].
    fn fds(&self) -> [BorrowedFd<'_>; 6] {
        [
            self.allow_ip.fd(),
            self.allow_cidr.fd(),
            self.block_cidr.fd(),
            self.local_addr.fd(),
            self.upstream.fd(),
            self.events.fd(),
        ]
    }

    fn memory(&self) -> Result<Vec<(&'static str, u64)>, EbpfError> {
        macro_rules! m {
            ($($f:ident),*) => { vec![$((self.$f.name(), self.$f.memlock()?)),*] };
        }
        Ok(m!(allow_ip, allow_cidr, block_cidr, local_addr, upstream, events))
    }

    fn pin(&self, dir: &Path) -> Result<(), EbpfError> {
        macro_rules! pin {
            ($($f:ident),*) => { $(if !dir.join(self.$f.name()).exists() { self.$f.pin(dir)?; })* };
        }
        pin!(allow_ip, allow_cidr, block_cidr, local_addr, upstream, events);
        Ok(())
    }
}

/// Memory the kernel accounts for one map.
#[derive(Clone, Debug)]
pub struct MapMemory {
    pub name: &'static str,
    pub memlock_bytes: u64,
    /// Shared by every container of the set (counted once per host), or the container's own.
    pub shared: bool,
}

/// The firewall of one container: its state in the host's program set (its own maps, its
/// configuration), the set's cgroup programs attached to its cgroup, and its membership of
/// its network namespace's boundary filter.
pub struct Firewall {
    set: ProgramSet,
    maps: ContainerMaps,
    /// Serialises changes to the container's configuration (a read-modify-write of its entry in
    /// the set, which is the only copy).
    config_lock: Mutex<()>,
    /// The container's id in the set (random, chosen at load; 0 only while failing to load).
    id: u64,
    /// The id of its cgroup, once attached.
    cgroup: Option<u64>,
    links: Vec<(&'static str, OwnedFd)>,
    pin_dir: Option<PathBuf>,
    /// The network namespace joined (its cookie), once the boundary programs were asked for.
    netns: Mutex<Option<u64>>,
    exec_unavailable: Option<String>,
    guard_unavailable: Option<String>,
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

/// Names of the marker directories a container's pin directory holds (bpffs has no files):
/// the set it uses, its id, the network namespace it joined.
const MARK_SET: &str = "set-";
const MARK_ID: &str = "id-";
const MARK_NETNS: &str = "netns-";

fn marker(dir: &Path, prefix: &str) -> Option<String> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        e.file_name().to_str().and_then(|n| n.strip_prefix(prefix)).map(str::to_string)
    })
}

impl Firewall {
    /// Opens the host's program set (loading it first if this is the first firewall of this
    /// build on the host) and creates the container's own maps, configured from `cfg`. Nothing
    /// is attached yet.
    pub fn load(cfg: &FirewallConfig) -> Result<Firewall, EbpfError> {
        Self::load_with(ProgramSet::open_or_load()?, cfg)
    }

    /// [`Firewall::load`] on a given set (tests use a private set root).
    pub fn load_with(set: ProgramSet, cfg: &FirewallConfig) -> Result<Firewall, EbpfError> {
        let guard_unavailable = if !cfg.packet_socket_guard {
            Some(NOT_REQUESTED.to_string())
        } else if !set.has_packet_socket_guard() {
            Some(format!(
                "the program set {} was loaded without the packet-socket guard: the kernel did not run it \
                 (BPF LSM not active, or LSM programs refused)",
                set.build_id()
            ))
        } else {
            None
        };
        let exec_unavailable = (!set.has_exec_capture()).then(|| {
            format!("the program set {} has no exec hooks: the kernel refused them or has no BTF", set.build_id())
        });
        let config = config_raw(cfg);
        let id = new_container_id(&set)?;
        let mut fw = Firewall {
            maps: ContainerMaps::create()?,
            set,
            config_lock: Mutex::new(()),
            id,
            cgroup: None,
            links: Vec::new(),
            pin_dir: None,
            netns: Mutex::new(None),
            exec_unavailable,
            guard_unavailable,
        };
        // The container's state goes into the set now, before its cgroup exists: each map of
        // maps update waits for an RCU grace period, and the runtime loads while libcontainer
        // builds the container, so these waits overlap the build. Nothing refers to the id
        // until attach() names it to the cgroup's programs. Dropped unattached, it is removed.
        let burst = config.events_burst as i64;
        let container = abi::Container {
            cfg: config,
            rl: abi::RateLimit { tokens: burst, last_ns: sys::monotonic_ns(), suppressed: 0 },
        };
        fw.set.maps.containers.set(&id, &container, "add the container")?;
        let (outers, inners) = (fw.set.maps.outers(), fw.maps.fds());
        let inserted =
            in_parallel(outers.into_iter().zip(inners).map(|(outer, inner)| move || outer.insert_inner(id, inner)));
        if let Err(e) = inserted {
            let _ = fw.forget();
            fw.id = 0;
            return Err(e);
        }
        fw.id = id;
        Ok(fw)
    }

    /// The container's id in the set: chosen at load, named to its cgroup's programs by
    /// [`Firewall::attach`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The id of the cgroup the firewall is attached to.
    pub fn cgroup_id(&self) -> Option<u64> {
        self.cgroup
    }

    /// The program set this firewall uses.
    pub fn program_set(&self) -> &ProgramSet {
        &self.set
    }

    /// Attaches the set's cgroup programs to the cgroup v2 directory (all or nothing): the
    /// cgroup is recorded in the container's state, the links are made, and the programs learn
    /// which container they decide for last (until then they refuse everything).
    pub fn attach(&mut self, cgroup_dir: &Path) -> Result<(), EbpfError> {
        use std::os::unix::fs::MetadataExt;
        if self.cgroup.is_some() {
            return Err(EbpfError::AlreadyAttached);
        }
        match sys::fs_magic(cgroup_dir) {
            Ok(sys::CGROUP2_SUPER_MAGIC) => {}
            Ok(_) => return Err(EbpfError::NotCgroup2(cgroup_dir.into())),
            Err(source) => return Err(EbpfError::Cgroup { path: cgroup_dir.into(), source }),
        }
        let cerr = |source| EbpfError::Cgroup { path: cgroup_dir.into(), source };
        let cg = File::open(cgroup_dir).map_err(cerr)?;
        let cgroup_id = cg.metadata().map_err(cerr)?.ino();
        let level = sys::cgroup_level(cgroup_dir).map_err(cerr)?;
        self.change_config(|c| {
            c.cgroup_id = cgroup_id;
            c.cgroup_level = level;
        })?;
        self.cgroup = Some(cgroup_id);
        // The exec hook finds a task's container by the cgroups above the task.
        self.set.maps.cgroups.set(&cgroup_id, &self.id, "add the container's cgroup")?;
        let mut links = Vec::new();
        for (name, hook, prog) in self.set.programs() {
            let attach_type = match hook {
                set::Hook::Cgroup(t) => t,
                set::Hook::LsmCgroup(_) if self.guard_unavailable.is_none() => sys::BPF_LSM_CGROUP,
                _ => continue,
            };
            let link = sys::link_create(prog.as_fd(), cg.as_raw_fd() as u32, attach_type).map_err(|e| {
                EbpfError::Attach { program: name, cgroup: cgroup_dir.into(), source: Box::new(e) }
            })?;
            links.push((name, link));
        }
        self.links = links;
        self.set.maps.attached.set(&cgroup_id, &self.id, "name the container to its programs")?;
        Ok(())
    }

    /// Pins the container's links (`<dir>/link_<program>`) and maps, and names its set, id and
    /// network namespace with marker directories. Pinned links keep the programs attached
    /// after this process exits. Mounts bpffs on /sys/fs/bpf if needed.
    pub fn pin(&mut self, dir: &Path) -> Result<(), EbpfError> {
        let perr = |path: &Path, source: io::Error| EbpfError::Pin { path: path.into(), source };
        sys::ensure_bpffs(dir).map_err(|e| perr(dir, e))?;
        std::fs::create_dir_all(dir).map_err(|e| perr(dir, e))?;
        let id = self.id;
        for mark in [format!("{MARK_SET}{}", self.set.build_id()), format!("{MARK_ID}{id}")] {
            let p = dir.join(mark);
            if !p.exists() {
                std::fs::create_dir(&p).map_err(|e| perr(&p, e))?;
            }
        }
        if let Some(cookie) = *self.netns.lock().unwrap_or_else(|e| e.into_inner()) {
            let p = dir.join(format!("{MARK_NETNS}{cookie}"));
            if !p.exists() {
                std::fs::create_dir(&p).map_err(|e| perr(&p, e))?;
            }
        }
        self.maps.pin(dir)?;
        for (name, link) in &self.links {
            let p = dir.join(format!("link_{name}"));
            if !p.exists() {
                sys::obj_pin(link.as_fd(), &p).map_err(|e| perr(&p, e))?;
            }
        }
        self.pin_dir = Some(dir.into());
        // The pins name the set now: it may be removed once they are gone.
        self.set.release_lease();
        Ok(())
    }

    /// Re-opens a pinned firewall (e.g. for a restarted sidecar): its set, its maps, its id.
    /// The pinned links stay attached; this handle holds none.
    pub fn from_pins(dir: &Path) -> Result<Firewall, EbpfError> {
        let build = marker(dir, MARK_SET)
            .ok_or_else(|| EbpfError::Incomplete(format!("{} names no program set", dir.display())))?;
        let id = marker(dir, MARK_ID)
            .and_then(|i| i.parse::<u64>().ok())
            .ok_or_else(|| EbpfError::Incomplete(format!("{} names no container id", dir.display())))?;
        let set = ProgramSet::open_dir(&Path::new(SET_ROOT).join(&build), None)?;
        let maps = ContainerMaps::from_pins(dir)?;
        let config = set.maps.containers.get(&id)?.map(|c| c.cfg).unwrap_or_default();
        let netns = marker(dir, MARK_NETNS).and_then(|c| c.parse().ok());
        let guard_unavailable = (!dir.join("link_cgfw_socket_create").exists())
            .then(|| "the pinned firewall has no packet-socket guard link".to_string());
        Ok(Firewall {
            exec_unavailable: (!set.has_exec_capture()).then(|| "the program set has no exec hooks".to_string()),
            set,
            maps,
            cgroup: (config.cgroup_id != 0).then_some(config.cgroup_id),
            config_lock: Mutex::new(()),
            id,
            links: Vec::new(),
            pin_dir: Some(dir.into()),
            netns: Mutex::new(netns),
            guard_unavailable,
        })
    }

    /// Removes a container's firewall from its pins: detaches the pinned links now
    /// (BPF_LINK_DETACH, whoever still holds them), takes its state out of the set, leaves
    /// its network namespace's boundary filter (detaching that when it was the last member),
    /// removes the pin directory, and then removes program sets of other builds that no
    /// container uses any more. Also removes the pins of a firewall made by a build from
    /// before program sets (its own programs and maps). A missing directory is not an error.
    pub fn unpin(dir: &Path) -> Result<(), EbpfError> {
        if !dir.exists() {
            return Ok(());
        }
        let perr = |path: &Path, source: io::Error| EbpfError::Pin { path: path.into(), source };
        // State in the set first (the links are detached below either way).
        if let Ok(fw) = Firewall::from_pins(dir) {
            fw.forget()?;
        }
        for entry in std::fs::read_dir(dir).map_err(|e| perr(dir, e))?.flatten() {
            let p = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir(&p).or_else(not_found_ok).map_err(|e| perr(&p, e))?;
                continue;
            }
            if entry.file_name().to_string_lossy().starts_with("link_") {
                if let Ok(fd) = sys::obj_get(&p) {
                    // EINVAL/ENOLINK: already detached (e.g. the cgroup is gone); fine.
                    let _ = sys::link_detach(fd.as_fd());
                }
            }
            std::fs::remove_file(&p).or_else(not_found_ok).map_err(|e| perr(&p, e))?;
        }
        std::fs::remove_dir(dir).or_else(not_found_ok).map_err(|e| perr(dir, e))?;
        match set::remove_unused_sets(Path::new(SET_ROOT)) {
            Ok(removed) if !removed.is_empty() => log::info!("removed unused BPF program sets {removed:?}"),
            Ok(_) => {}
            Err(e) => log::warn!("removing unused BPF program sets: {e}"),
        }
        Ok(())
    }

    /// Takes the container out of the set: its network namespace membership, its maps, its
    /// configuration. The cgroup storage goes with the cgroup.
    fn forget(&self) -> Result<(), EbpfError> {
        let id = self.id;
        if id == 0 {
            return Ok(());
        }
        if let Some(cgroup) = self.cgroup {
            self.set.maps.cgroups.remove(&cgroup, "remove the container's cgroup")?;
        }
        let removals = self.set.maps.outers().into_iter().map(|outer| {
            Box::new(move || outer.remove(&id, "remove the container's map").map(drop))
                as Box<dyn FnOnce() -> Result<(), EbpfError> + Send + '_>
        });
        in_parallel(std::iter::once(Box::new(|| self.leave_netns()) as Box<dyn FnOnce() -> Result<(), EbpfError> + Send + '_>).chain(removals))?;
        self.set.maps.containers.remove(&id, "remove the container")?;
        Ok(())
    }

    /// Detaches the programs: links held by this handle are detached now, and if the
    /// firewall is pinned its pins are removed (see [`Firewall::unpin`]); otherwise its state
    /// leaves the set here.
    pub fn detach(mut self) -> Result<(), EbpfError> {
        for (_, link) in std::mem::take(&mut self.links) {
            let _ = sys::link_detach(link.as_fd()); // fails if the cgroup is gone: fine
        }
        match self.pin_dir.take() {
            Some(dir) => Self::unpin(&dir),
            None => self.forget(),
        }
    }

    /// Allows `ip` until now + ttl (CLOCK_MONOTONIC). An existing later expiry is kept. When
    /// the container's map is full the kernel refuses the insert: the error says so, and the
    /// address stays refused (fail closed for this container alone).
    pub fn allow_ip(&self, ip: IpAddr, ttl: Duration) -> Result<(), EbpfError> {
        let key = v4_mapped(ip);
        let expires = sys::monotonic_ns().saturating_add(ttl.as_nanos().min(u64::MAX as u128) as u64);
        let old = self.maps.allow_ip.get(&key)?;
        let expires_ns = old.map_or(expires, |o| o.expires_ns.max(expires));
        self.maps.allow_ip.set(&key, &abi::AllowIp { expires_ns }, "update")
    }

    /// Removes an allowed IP (e.g. on policy reload). Returns whether it was present.
    pub fn revoke_ip(&self, ip: IpAddr) -> Result<bool, EbpfError> {
        self.maps.allow_ip.remove(&v4_mapped(ip), "delete")
    }

    /// Expiry of an allowed IP in CLOCK_MONOTONIC ns, if present.
    pub fn ip_expiry(&self, ip: IpAddr) -> Result<Option<u64>, EbpfError> {
        Ok(self.maps.allow_ip.get(&v4_mapped(ip))?.map(|a| a.expires_ns))
    }

    pub fn allow_cidr(&self, net: IpAddr, prefix_len: u8) -> Result<(), EbpfError> {
        Self::cidr(&self.maps.allow_cidr, net, prefix_len)
    }

    /// Block CIDRs win over allow CIDRs and allowed IPs.
    pub fn block_cidr(&self, net: IpAddr, prefix_len: u8) -> Result<(), EbpfError> {
        Self::cidr(&self.maps.block_cidr, net, prefix_len)
    }

    fn cidr(map: &MapHandle<abi::LpmKey, u32>, net: IpAddr, prefix_len: u8) -> Result<(), EbpfError> {
        let (max, base) = match net {
            IpAddr::V4(_) => (32u8, 96u32),
            IpAddr::V6(_) => (128, 0),
        };
        if prefix_len > max {
            return Err(EbpfError::Prefix { net, prefix_len });
        }
        let key = abi::LpmKey { prefixlen: base + prefix_len as u32, addr: v4_mapped(net) };
        map.set(&key, &1u32, "update")
    }

    pub fn set_mode(&self, mode: Mode) -> Result<(), EbpfError> {
        self.change_config(|c| {
            c.mode = match mode {
                Mode::Enforce => abi::MODE_ENFORCE,
                Mode::Audit => abi::MODE_AUDIT,
            }
        })
    }

    pub fn set_report_allowed(&self, on: bool) -> Result<(), EbpfError> {
        self.change_config(|c| c.report_allowed = on as u8)
    }

    /// Sets (or clears) the DNS proxy addresses: the programs can be set up before the
    /// proxy's sockets exist (the runtime does that while the container is still being built).
    pub fn set_dns_proxy(&self, v4: Option<SocketAddrV4>, v6: Option<SocketAddrV6>) -> Result<(), EbpfError> {
        let with = config_raw(&FirewallConfig { proxy_v4: v4, proxy_v6: v6, ..FirewallConfig::default() });
        self.change_config(|c| {
            (c.has_proxy4, c.proxy4_addr, c.proxy4_port) = (with.has_proxy4, with.proxy4_addr, with.proxy4_port);
            (c.has_proxy6, c.proxy6_addr, c.proxy6_port) = (with.has_proxy6, with.proxy6_addr, with.proxy6_port);
        })
    }

    /// Changes the container's configuration in the set (its event budget is kept).
    fn change_config(&self, change: impl FnOnce(&mut abi::Config)) -> Result<(), EbpfError> {
        let _serialised = self.config_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut container = self.set.maps.containers.get(&self.id)?.unwrap_or_default();
        change(&mut container.cfg);
        self.set.maps.containers.set(&self.id, &container, "write config")
    }

    /// The raw configuration as the programs see it.
    pub fn config(&self) -> Result<abi::Config, EbpfError> {
        Ok(self.set.maps.containers.get(&self.id)?.map(|c| c.cfg).unwrap_or_default())
    }

    /// Who sent the DNS packet the proxy received from `src` (its peer address).
    pub fn dns_client_owner(&self, proto: Proto, src: SocketAddr) -> Option<Owner> {
        let key = abi::DnsClientKey {
            container: self.id,
            addr: v4_mapped(src.ip()),
            port: src.port(),
            proto: match proto {
                Proto::Tcp => libc::IPPROTO_TCP as u8,
                Proto::Udp => libc::IPPROTO_UDP as u8,
            },
            _pad: [0; 5],
        };
        let v = self.set.maps.dns_client.get(&key).ok()??;
        Some(Owner { pid: v.owner.pid, tgid: v.owner.tgid, comm: events::comm_str(&v.owner.comm), cookie: v.cookie })
    }

    /// The firewall's per-socket record of a socket of the caller's: who last connected or sent
    /// on it, and the DNS server it addressed before the redirect to the proxy.
    fn sock_record(&self, socket: BorrowedFd<'_>) -> Option<abi::SockRaw> {
        self.set.maps.sock.get(&socket.as_raw_fd()).ok()?
    }

    /// Owner of a socket (as recorded at connect/sendmsg).
    pub fn socket_owner(&self, socket: BorrowedFd<'_>) -> Option<Owner> {
        let s = self.sock_record(socket).filter(|s| s.has_owner != 0)?;
        let cookie = sys::socket_cookie(socket).unwrap_or(0);
        Some(Owner { pid: s.owner.pid, tgid: s.owner.tgid, comm: events::comm_str(&s.owner.comm), cookie })
    }

    /// The DNS server a redirected socket originally addressed.
    pub fn original_dns_destination(&self, socket: BorrowedFd<'_>) -> Option<SocketAddr> {
        let s = self.sock_record(socket).filter(|s| s.has_orig != 0)?;
        Some(SocketAddr::new(events::unmap(s.orig.addr), s.orig.port))
    }

    /// The command line `tgid` exec'd with, recorded in the kernel at exec time for
    /// processes of firewalled containers: argv joined by spaces, as `/proc/PID/cmdline`
    /// shows it with NULs turned into spaces, at most 256 bytes. Still there after the process
    /// has exited (until the shared LRU map evicts it), which is the point: read /proc while
    /// the process lives, fall back to this.
    pub fn exec_cmdline(&self, tgid: u32) -> Option<String> {
        self.exec_info(tgid).map(|i| i.cmdline)
    }

    /// [`Firewall::exec_cmdline`] with the process start time, to reject an entry of a later
    /// process that reused the pid (`start_time_ns > event.ts_ns`).
    pub fn exec_info(&self, tgid: u32) -> Option<ExecInfo> {
        let e = self.set.maps.exec_args.get(&tgid).ok()??;
        let len = (e.len as usize).min(abi::ARGS_BYTES as usize);
        Some(ExecInfo {
            cmdline: args_to_cmdline(&e.args[..len]),
            start_time_ns: e.start_time_ns,
            truncated: e.full_len > e.len,
        })
    }

    /// Why packet sockets (AF_PACKET, AF_XDP) are NOT refused to the cgroup, if they are not:
    /// the kernel cannot run the BPF LSM guard (see the module doc, "Packet sockets"). Then a
    /// process with CAP_NET_RAW can send frames past the firewall: the caller should fail
    /// closed for containers that hold CAP_NET_RAW, or withhold it.
    pub fn packet_socket_guard_unavailable(&self) -> Option<&str> {
        self.guard_unavailable.as_deref()
    }

    /// Why exec command lines are not recorded, if they are not.
    pub fn exec_capture_unavailable(&self) -> Option<&str> {
        self.exec_unavailable.as_deref()
    }

    /// Async stream of the container's events (needs a tokio runtime).
    pub fn events(&self) -> Result<EventStream, EbpfError> {
        let id = self.id;
        let md = MapData::from_fd(self.maps.events.try_clone()?).map_err(|e| EbpfError::Events(io::Error::other(e)))?;
        let ring = RingBuf::try_from(Map::RingBuf(md)).map_err(|e| EbpfError::Events(io::Error::other(e)))?;
        EventStream::new(ring, self.set.maps.containers.try_clone()?, id)
    }

    /// Events dropped by the kernel side (rate limit or full ring buffer).
    pub fn suppressed_events(&self) -> u64 {
        events::read_suppressed(self.set.maps.containers.fd(), self.id)
    }

    /// Memory the kernel accounts for the container's own maps and the set's shared ones.
    pub fn map_memory(&self) -> Result<Vec<MapMemory>, EbpfError> {
        let own = self.maps.memory()?.into_iter().map(|(name, b)| MapMemory { name, memlock_bytes: b, shared: false });
        let shared = self.set.maps.memory()?.into_iter().map(|(name, b)| MapMemory { name, memlock_bytes: b, shared: true });
        Ok(own.chain(shared).collect())
    }

    /// Whether this handle holds attached links.
    pub fn is_attached(&self) -> bool {
        !self.links.is_empty()
    }

    /// Makes the container a member of the calling thread's network namespace's boundary
    /// filter (once). At most [`abi::NETNS_MEMBERS`] firewalled containers share a namespace.
    fn join_netns(&self) -> Result<u64, EbpfError> {
        let mut joined = self.netns.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cookie) = *joined {
            return Ok(cookie);
        }
        let id = self.id;
        let cookie = sys::current_netns_cookie().map_err(|source| EbpfError::Map { map: "cgfw_netns", op: "netns cookie", source })?;
        let _lock = self.netns_lock()?;
        let mut members = self.set.maps.netns.get(&cookie)?.unwrap_or_default();
        let n = members.n as usize;
        if !members.ids[..n.min(members.ids.len())].contains(&id) {
            if n >= members.ids.len() {
                return Err(EbpfError::NetnsFull(abi::NETNS_MEMBERS));
            }
            members.ids[n] = id;
            members.n += 1;
            self.set.maps.netns.set(&cookie, &members, "join the network namespace")?;
        }
        *joined = Some(cookie);
        if let Some(dir) = &self.pin_dir {
            let _ = std::fs::create_dir(dir.join(format!("{MARK_NETNS}{cookie}")));
        }
        Ok(cookie)
    }

    /// Leaves the network namespace joined; the last member detaches the boundary programs.
    fn leave_netns(&self) -> Result<(), EbpfError> {
        let Some(cookie) = *self.netns.lock().unwrap_or_else(|e| e.into_inner()) else { return Ok(()) };
        let id = self.id;
        let _lock = self.netns_lock()?;
        let Some(mut members) = self.set.maps.netns.get(&cookie)? else { return Ok(()) };
        let n = (members.n as usize).min(members.ids.len());
        let kept: Vec<u64> = members.ids[..n].iter().copied().filter(|m| *m != id).collect();
        if kept.is_empty() {
            self.set.maps.netns.remove(&cookie, "leave the network namespace")?;
            let dir = self.set.netns_dir(cookie);
            set::remove_set_dir(&dir).map_err(|source| EbpfError::Pin { path: dir, source })?;
            return Ok(());
        }
        members.ids = [0; abi::NETNS_MEMBERS as usize];
        members.ids[..kept.len()].copy_from_slice(&kept);
        members.n = kept.len() as u32;
        self.set.maps.netns.set(&cookie, &members, "leave the network namespace")
    }

    /// Serialises changes to namespace memberships and boundary links across sidecars.
    fn netns_lock(&self) -> Result<sys::DirLock, EbpfError> {
        let dir = self.set.dir().join("netns");
        std::fs::create_dir_all(&dir).map_err(|source| EbpfError::Pin { path: dir.clone(), source })?;
        sys::DirLock::new(&dir, true).map_err(|source| EbpfError::Pin { path: dir, source })
    }

    /// Makes sure the boundary programs (TCX egress and ingress) are attached to interface
    /// `ifindex` of the calling thread's network namespace, and the container is one of the
    /// namespace's members they decide for. One pair serves every firewalled container of the
    /// namespace: the first attaches it (links pinned in the set, `netns/<cookie>/`), later
    /// ones find it. Idempotent.
    pub fn attach_interface(&self, ifindex: u32) -> Result<(), EbpfError> {
        let cookie = self.join_netns()?;
        let _lock = self.netns_lock()?;
        let dir = self.set.netns_dir(cookie);
        std::fs::create_dir_all(&dir).map_err(|source| EbpfError::Pin { path: dir.clone(), source })?;
        // Each TCX attach waits for an RCU grace period (bpf_mprog): the two run side by side.
        let attach_one = |(name, attach_type, suffix): (&'static str, u32, &str)| {
            let path = dir.join(format!("tc_{ifindex}_{suffix}"));
            let prog = self.set.program(name).ok_or(EbpfError::MissingProgram(name));
            move || -> Result<(), EbpfError> {
                if live_tcx_link(&path) == Some(ifindex) {
                    return Ok(());
                }
                let _ = std::fs::remove_file(&path); // a link whose interface is gone
                let link = sys::link_create(prog?.as_fd(), ifindex, attach_type).map_err(|source| {
                    let why = if source.raw_os_error() == Some(libc::ERANGE) {
                        "it carries as many TCX programs as the kernel takes per interface (63 on 6.18)"
                    } else {
                        "TCX needs kernel 6.6+"
                    };
                    EbpfError::AttachInterface { program: name, ifindex, why, source }
                })?;
                if let Err(source) = sys::obj_pin(link.as_fd(), &path) {
                    let _ = sys::link_detach(link.as_fd());
                    return Err(EbpfError::Pin { path, source });
                }
                Ok(())
            }
        };
        in_parallel(
            [("cgfw_tc_egress", sys::BPF_TCX_EGRESS, "egress"), ("cgfw_tc_ingress", sys::BPF_TCX_INGRESS, "ingress")]
                .into_iter()
                .map(attach_one),
        )?;
        Ok(())
    }

    /// Interfaces of the joined network namespace the boundary programs are attached to.
    pub fn attached_interfaces(&self) -> Vec<u32> {
        let Some(cookie) = *self.netns.lock().unwrap_or_else(|e| e.into_inner()) else { return Vec::new() };
        let dir = self.set.netns_dir(cookie);
        let mut found: Vec<u32> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let ifindex: u32 = name.strip_prefix("tc_")?.strip_suffix("_egress")?.parse().ok()?;
                (live_tcx_link(&e.path()) == Some(ifindex)).then_some(ifindex)
            })
            .collect();
        found.sort_unstable();
        found
    }

    /// Makes the namespace's own addresses exactly `addrs` (anti-spoofing: a packet of the
    /// container must carry one of them, or loopback, as its source), with the solicited-node
    /// multicast group of each IPv6 one (the kernel joins and reports those itself; the
    /// boundary lets membership reports name them). Returns whether the set changed.
    pub fn set_local_addrs(&self, addrs: &[IpAddr]) -> Result<bool, EbpfError> {
        let mut entries: Vec<([u8; 16], u8)> = Vec::new();
        for addr in addrs {
            entries.push((v4_mapped(*addr), abi::LOCAL_UNICAST));
            if let IpAddr::V6(v6) = addr {
                if !v6.is_loopback() && !v6.is_unspecified() && v6.to_ipv4_mapped().is_none() {
                    entries.push((solicited_node(v6), abi::LOCAL_GROUP));
                }
            }
        }
        set_address_set(&self.maps.local_addr, &entries)
    }

    /// The namespace's own addresses as the programs see them (not the groups).
    pub fn local_addrs(&self) -> Result<Vec<IpAddr>, EbpfError> {
        let mut addrs = Vec::new();
        for key in self.maps.local_addr.keys()? {
            if self.maps.local_addr.get(&key)? == Some(abi::LOCAL_UNICAST) {
                addrs.push(events::unmap(key));
            }
        }
        Ok(addrs)
    }

    /// The DNS proxy's upstream resolvers: its queries to them (port 53) pass the boundary.
    pub fn set_upstreams(&self, addrs: &[IpAddr]) -> Result<bool, EbpfError> {
        let entries: Vec<([u8; 16], u8)> = addrs.iter().map(|a| (v4_mapped(*a), 1)).collect();
        set_address_set(&self.maps.upstream, &entries)
    }
}

impl Drop for Firewall {
    /// A firewall that was never pinned lives only as long as its handle: its state leaves the
    /// set with it (its links close with their fds). A pinned one stays until unpinned.
    fn drop(&mut self) {
        if self.pin_dir.is_none() {
            let _ = self.forget();
        }
    }
}

/// A random container id not in use in the set (never 0: the programs' "not set up").
fn new_container_id(set: &ProgramSet) -> Result<u64, EbpfError> {
    loop {
        let mut bytes = [0u8; 8];
        // SAFETY: getrandom writes at most len bytes into the buffer.
        let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        if n != bytes.len() as isize {
            let source = io::Error::last_os_error();
            if source.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(EbpfError::Map { map: "cgfw_containers", op: "choose a container id", source });
        }
        let id = u64::from_ne_bytes(bytes);
        if id != 0 && set.maps.containers.get(&id)?.is_none() {
            return Ok(id);
        }
    }
}

/// Runs the changes each on its own thread (spawned from the caller's, so in its network
/// namespace). Every update or delete of a map of maps waits for an RCU grace period in the
/// kernel (synchronize_rcu in maybe_wait_bpf_programs: ~13 ms each here, measured with
/// strace), and so do TCX attaches and detaches: six in a row cost a create ~80 ms; at the
/// same time their waits overlap.
fn in_parallel<F>(changes: impl Iterator<Item = F>) -> Result<(), EbpfError>
where
    F: FnOnce() -> Result<(), EbpfError> + Send,
{
    std::thread::scope(|scope| {
        let running: Vec<_> = changes.map(|change| scope.spawn(change)).collect();
        running.into_iter().try_for_each(|t| {
            t.join().unwrap_or_else(|_| Err(EbpfError::Incomplete("a BPF update thread panicked".into())))
        })
    })
}

fn not_found_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// The interface a pinned TCX link is attached to; None if the pin is missing or the link was
/// detached (its interface went away: the kernel clears the ifindex).
fn live_tcx_link(path: &Path) -> Option<u32> {
    let fd = sys::obj_get(path).ok()?;
    // bpf_link_info: type, id, prog_id, pad, then tcx { ifindex, attach_type }.
    let info = sys::obj_info::<6>(fd.as_fd()).ok()?;
    (info[4] != 0).then_some(info[4])
}

/// Makes a set map (address -> kind) exactly `entries`. Returns whether it changed.
fn set_address_set(map: &MapHandle<[u8; 16], u8>, entries: &[([u8; 16], u8)]) -> Result<bool, EbpfError> {
    let want: std::collections::BTreeMap<[u8; 16], u8> = entries.iter().copied().collect();
    let mut changed = false;
    // Add (or update) first, then remove: an address that stays is never missing between.
    for (key, kind) in &want {
        if map.get(key)? != Some(*kind) {
            map.set(key, kind, "add address")?;
            changed = true;
        }
    }
    for key in map.keys()?.iter().filter(|k| !want.contains_key(*k)) {
        map.remove(key, "remove address")?;
        changed = true;
    }
    Ok(changed)
}

/// [`Firewall::packet_socket_guard_unavailable`] when [`FirewallConfig::packet_socket_guard`]
/// is off.
pub const NOT_REQUESTED: &str = "not requested";

/// Whether this kernel runs the packet-socket guard: the BPF LSM is active and the kernel
/// accepts the program (loaded and dropped again; nothing is attached). Err says why not. It
/// costs a parse of the kernel's BTF (tens of ms) unless this build's program set is loaded
/// already (then the set says): callers keep the answer.
pub fn probe_packet_socket_guard() -> Result<(), String> {
    bpf_lsm_active()?;
    let set_dir = Path::new(SET_ROOT).join(BUILD_ID);
    if set_dir.exists() {
        return if set_dir.join("prog_cgfw_socket_create").exists() {
            Ok(())
        } else {
            Err("the kernel refused the packet-socket guard when the program set was loaded".into())
        };
    }
    let btf = aya::Btf::from_sys_fs().map_err(|e| format!("no kernel BTF: {}", chain(&e)))?;
    let mut bpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .load(BPF_OBJECT)
        .map_err(|e| format!("loading the BPF object: {}", chain(&e)))?;
    let (name, hook) = set::PROGRAMS
        .iter()
        .find_map(|(name, hook)| match hook {
            set::Hook::LsmCgroup(hook) => Some((*name, *hook)),
            _ => None,
        })
        .ok_or("no LSM program in the object")?;
    let prog = bpf.program_mut(name).ok_or("LSM program missing from the object")?;
    <&mut aya::programs::LsmCgroup>::try_from(prog)
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
