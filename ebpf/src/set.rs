//! The host's program set: the BPF programs and shared maps, loaded, verified and pinned once
//! per host and build, under `/sys/fs/bpf/cgfw-programs/<build id>/`.
//!
//! The first firewall that needs a set loads it into a private directory and renames that to
//! the set's name (bpffs renames are atomic; the loser of a race drops its copy and opens the
//! winner's). Later ones open the pins: no BTF parse, no verifier. The host-wide tracepoints
//! (exec/fork command lines) are attached once, with the set, and pinned in it.
//!
//! Locking: opening a set takes a shared flock on the root directory, kept until the container
//! using it has pinned its own links (which name the set); removing unused sets takes it
//! exclusively. So a set is never removed between a create opening it and the create's links
//! saying it is in use.
//!
//! Layout of a set directory: `prog_<program>` (every program but those the kernel refused),
//! `<map>` (the shared maps), `link_<tracepoint program>`, and `netns/<cookie>/tc_<ifindex>_<egress|ingress>`
//! for the boundary programs attached in a network namespace.

use std::{
    io,
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
};

use aya::{
    programs::{
        links::FdLink, BtfTracePoint, CgroupSkb, CgroupSock, CgroupSockAddr, CgroupSockopt, LsmCgroup, ProgramError,
        SchedClassifier,
    },
    Btf, EbpfLoader,
};

use crate::{abi, chain, maps::MapHandle, maps::OuterMap, sys, EbpfError, BPF_OBJECT};

/// Where the program sets live.
pub const SET_ROOT: &str = "/sys/fs/bpf/cgfw-programs";

/// This build's set: a hash of the BPF object (programs, maps and their sizes).
pub const BUILD_ID: &str = env!("CGFW_BUILD_ID");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    /// A cgroup program, attached per container with this attach type.
    Cgroup(u32),
    /// A BPF_LSM_CGROUP program on this LSM hook (the packet-socket guard; optional).
    LsmCgroup(&'static str),
    /// A tp_btf tracepoint, attached once per set (exec command lines; optional).
    Tracepoint(&'static str),
    /// A TCX program, attached per network namespace interface.
    Tc(u32),
}

/// Every program of the object and where it goes.
pub(crate) const PROGRAMS: [(&str, Hook); 16] = [
    ("cgfw_connect4", Hook::Cgroup(sys::BPF_CGROUP_INET4_CONNECT)),
    ("cgfw_connect6", Hook::Cgroup(sys::BPF_CGROUP_INET6_CONNECT)),
    ("cgfw_sendmsg4", Hook::Cgroup(sys::BPF_CGROUP_UDP4_SENDMSG)),
    ("cgfw_sendmsg6", Hook::Cgroup(sys::BPF_CGROUP_UDP6_SENDMSG)),
    ("cgfw_recvmsg4", Hook::Cgroup(sys::BPF_CGROUP_UDP4_RECVMSG)),
    ("cgfw_recvmsg6", Hook::Cgroup(sys::BPF_CGROUP_UDP6_RECVMSG)),
    ("cgfw_getpeername4", Hook::Cgroup(sys::BPF_CGROUP_INET4_GETPEERNAME)),
    ("cgfw_getpeername6", Hook::Cgroup(sys::BPF_CGROUP_INET6_GETPEERNAME)),
    ("cgfw_egress", Hook::Cgroup(sys::BPF_CGROUP_INET_EGRESS)),
    ("cgfw_sock_create", Hook::Cgroup(sys::BPF_CGROUP_INET_SOCK_CREATE)),
    ("cgfw_setsockopt", Hook::Cgroup(sys::BPF_CGROUP_SETSOCKOPT)),
    ("cgfw_socket_create", Hook::LsmCgroup("socket_create")),
    ("cgfw_exec", Hook::Tracepoint("sched_process_exec")),
    ("cgfw_fork", Hook::Tracepoint("sched_process_fork")),
    ("cgfw_tc_egress", Hook::Tc(sys::BPF_TCX_EGRESS)),
    ("cgfw_tc_ingress", Hook::Tc(sys::BPF_TCX_INGRESS)),
];

/// The shared maps, each pinned in the set under its name.
pub struct SetMaps {
    /// Legacy cgroup storage: cgroup id -> the container id its programs decide for.
    pub attached: MapHandle<u64, u64>,
    pub containers: MapHandle<u64, abi::Container>,
    /// cgroup id -> container id, for the exec hook (which walks a task's cgroups).
    pub cgroups: MapHandle<u64, u64>,
    pub netns: MapHandle<u64, abi::Netns>,
    pub allow_ip: OuterMap,
    pub allow_cidr: OuterMap,
    pub block_cidr: OuterMap,
    pub local_addr: OuterMap,
    pub upstream: OuterMap,
    pub events: OuterMap,
    /// Socket storage (key: a socket fd of the caller).
    pub sock: MapHandle<i32, abi::SockRaw>,
    pub dns_client: MapHandle<abi::DnsClientKey, abi::DnsClient>,
    pub exec_args: MapHandle<u32, abi::ExecRaw>,
}

const SET_MAP_NAMES: [&str; 13] = [
    "cgfw_attached",
    "cgfw_containers",
    "cgfw_cgroups",
    "cgfw_netns",
    "cgfw_allow_ip",
    "cgfw_allow_cidr",
    "cgfw_block_cidr",
    "cgfw_local_addr",
    "cgfw_upstream",
    "cgfw_events",
    "cgfw_sock",
    "cgfw_dns_client",
    "cgfw_exec_args",
];

impl SetMaps {
    fn open(dir: &Path) -> Result<SetMaps, EbpfError> {
        Ok(SetMaps {
            attached: MapHandle::from_pin(dir, "cgfw_attached")?,
            containers: MapHandle::from_pin(dir, "cgfw_containers")?,
            cgroups: MapHandle::from_pin(dir, "cgfw_cgroups")?,
            netns: MapHandle::from_pin(dir, "cgfw_netns")?,
            allow_ip: MapHandle::from_pin(dir, "cgfw_allow_ip")?,
            allow_cidr: MapHandle::from_pin(dir, "cgfw_allow_cidr")?,
            block_cidr: MapHandle::from_pin(dir, "cgfw_block_cidr")?,
            local_addr: MapHandle::from_pin(dir, "cgfw_local_addr")?,
            upstream: MapHandle::from_pin(dir, "cgfw_upstream")?,
            events: MapHandle::from_pin(dir, "cgfw_events")?,
            sock: MapHandle::from_pin(dir, "cgfw_sock")?,
            dns_client: MapHandle::from_pin(dir, "cgfw_dns_client")?,
            exec_args: MapHandle::from_pin(dir, "cgfw_exec_args")?,
        })
    }

    /// The outer maps, in the order of [`crate::Firewall`]'s inner maps.
    pub(crate) fn outers(&self) -> [&OuterMap; 6] {
        [&self.allow_ip, &self.allow_cidr, &self.block_cidr, &self.local_addr, &self.upstream, &self.events]
    }

    /// Memory the kernel accounts for each shared map.
    pub fn memory(&self) -> Result<Vec<(&'static str, u64)>, EbpfError> {
        macro_rules! m {
            ($($f:ident),*) => { vec![$((self.$f.name(), self.$f.memlock()?)),*] };
        }
        Ok(m!(attached, containers, cgroups, netns, allow_ip, allow_cidr, block_cidr, local_addr, upstream, events, sock, dns_client, exec_args))
    }
}

/// An opened program set.
pub struct ProgramSet {
    dir: PathBuf,
    build_id: String,
    pub maps: SetMaps,
    /// Program fds by name (absent: the kernel refused it when the set was loaded).
    programs: Vec<(&'static str, Hook, OwnedFd)>,
    /// Held from opening until the user's links are pinned (see the module doc).
    lease: Option<sys::DirLock>,
}

impl ProgramSet {
    /// Opens this build's set, loading it first if no create has yet on this host.
    pub fn open_or_load() -> Result<ProgramSet, EbpfError> {
        Self::open_or_load_at(Path::new(SET_ROOT))
    }

    pub fn open_or_load_at(root: &Path) -> Result<ProgramSet, EbpfError> {
        let perr = |path: &Path, source: io::Error| EbpfError::Pin { path: path.into(), source };
        sys::ensure_bpffs(root).map_err(|e| perr(root, e))?;
        std::fs::create_dir_all(root).map_err(|e| perr(root, e))?;
        let lease = sys::DirLock::new(root, false).map_err(|e| perr(root, e))?;
        let dir = root.join(BUILD_ID);
        if !dir.exists() {
            // (bpffs refuses names with a dot)
            static LOADS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = root.join(format!("tmp-{}-{n}-{BUILD_ID}", std::process::id()));
            let _ = remove_set_dir(&tmp);
            let loaded = load_into(&tmp);
            if let Err(e) = loaded {
                let _ = remove_set_dir(&tmp);
                return Err(e);
            }
            if let Err(e) = std::fs::rename(&tmp, &dir) {
                // Another create won the race (ENOTEMPTY/EEXIST): use its set.
                let _ = remove_set_dir(&tmp);
                if !dir.exists() {
                    return Err(perr(&dir, e));
                }
            } else {
                log::info!("loaded the BPF program set {BUILD_ID} into {}", dir.display());
            }
        }
        Self::open_dir(&dir, Some(lease))
    }

    /// Opens an existing set directory (e.g. the one a container's pins name).
    pub fn open_dir(dir: &Path, lease: Option<sys::DirLock>) -> Result<ProgramSet, EbpfError> {
        let maps = SetMaps::open(dir)?;
        let mut programs = Vec::new();
        for (name, hook) in PROGRAMS {
            let path = dir.join(format!("prog_{name}"));
            match sys::obj_get(&path) {
                Ok(fd) => programs.push((name, hook, fd)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(EbpfError::FromPin { path, source }),
            }
        }
        let build_id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(ProgramSet { dir: dir.into(), build_id, maps, programs, lease })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn build_id(&self) -> &str {
        &self.build_id
    }

    pub(crate) fn programs(&self) -> impl Iterator<Item = (&'static str, Hook, &OwnedFd)> {
        self.programs.iter().map(|(n, h, fd)| (*n, *h, fd))
    }

    pub(crate) fn program(&self, name: &str) -> Option<&OwnedFd> {
        self.programs.iter().find(|(n, _, _)| *n == name).map(|(_, _, fd)| fd)
    }

    /// Whether the set holds the packet-socket guard (the kernel ran the BPF LSM when the set
    /// was loaded).
    pub fn has_packet_socket_guard(&self) -> bool {
        self.program("cgfw_socket_create").is_some()
    }

    /// Whether the set records exec command lines (its tracepoints are attached).
    pub fn has_exec_capture(&self) -> bool {
        self.dir.join("link_cgfw_exec").exists()
    }

    /// Ends the lease: from now on the set may be removed once unused.
    pub(crate) fn release_lease(&mut self) {
        self.lease = None;
    }

    /// Where the boundary programs' links of a network namespace are pinned.
    pub(crate) fn netns_dir(&self, cookie: u64) -> PathBuf {
        self.dir.join("netns").join(cookie.to_string())
    }
}

/// Loads, verifies and pins every program and shared map into `dir` (new). Tracepoints are
/// attached and their links pinned. Programs the kernel refuses that are optional (the
/// packet-socket guard, exec capture) are left out, with a warning.
fn load_into(dir: &Path) -> Result<(), EbpfError> {
    let perr = |path: &Path, source: io::Error| EbpfError::Pin { path: path.into(), source };
    let btf = Btf::from_sys_fs();
    let mut bpf = EbpfLoader::new()
        .btf(btf.as_ref().ok())
        .load(BPF_OBJECT)
        .map_err(|e| EbpfError::Object(Box::new(e)))?;
    std::fs::create_dir(dir).map_err(|e| perr(dir, e))?;
    let guard_ok = crate::bpf_lsm_active();
    let mut exec_missing: Option<String> = None;
    for (name, hook) in PROGRAMS {
        let prog = bpf.program_mut(name).ok_or(EbpfError::MissingProgram(name))?;
        let loaded: Result<(), String> = match hook {
            Hook::Cgroup(attach) => {
                let r = match attach {
                    sys::BPF_CGROUP_INET_EGRESS => <&mut CgroupSkb>::try_from(prog).and_then(|p| p.load()),
                    sys::BPF_CGROUP_INET_SOCK_CREATE => <&mut CgroupSock>::try_from(prog).and_then(|p| p.load()),
                    sys::BPF_CGROUP_SETSOCKOPT => <&mut CgroupSockopt>::try_from(prog).and_then(|p| p.load()),
                    _ => <&mut CgroupSockAddr>::try_from(prog).and_then(|p| p.load()),
                };
                r.map_err(|e| EbpfError::ProgramLoad { program: name, source: Box::new(e) })?;
                Ok(())
            }
            Hook::Tc(_) => {
                <&mut SchedClassifier>::try_from(prog)
                    .and_then(|p| p.load())
                    .map_err(|e| EbpfError::ProgramLoad { program: name, source: Box::new(e) })?;
                Ok(())
            }
            Hook::LsmCgroup(lsm_hook) => match (&guard_ok, &btf) {
                (Err(why), _) => Err(why.clone()),
                (_, Err(e)) => Err(format!("no kernel BTF: {}", chain(e))),
                (Ok(()), Ok(btf)) => <&mut LsmCgroup>::try_from(prog)
                    .and_then(|p| p.load(lsm_hook, btf))
                    .map_err(|e| format!("loading {name} (lsm_cgroup/{lsm_hook}): {}", chain(&e))),
            },
            Hook::Tracepoint(tracepoint) => match (&exec_missing, &btf) {
                (Some(why), _) => Err(why.clone()),
                (None, Err(e)) => Err(format!("no kernel BTF: {}", chain(e))),
                (None, Ok(btf)) => <&mut BtfTracePoint>::try_from(prog)
                    .and_then(|p| {
                        p.load(tracepoint, btf)?;
                        let id = p.attach()?;
                        let link = FdLink::from(p.take_link(id)?);
                        link.pin(dir.join(format!("link_{name}")))
                            .map_err(|e| ProgramError::IOError(io::Error::other(e)))?;
                        Ok(())
                    })
                    .map_err(|e| format!("loading {name}: {}", chain(&e))),
            },
        };
        match loaded {
            Ok(()) => {
                let path = dir.join(format!("prog_{name}"));
                let prog = bpf.program_mut(name).ok_or(EbpfError::MissingProgram(name))?;
                prog.pin(&path).map_err(|e| perr(&path, io::Error::other(e)))?;
            }
            Err(why) => {
                if matches!(hook, Hook::Tracepoint(_)) {
                    log::warn!("exec command lines are not recorded: {why}");
                    exec_missing = Some(why);
                } else {
                    log::warn!("packet sockets (AF_PACKET/AF_XDP) cannot be refused by the BPF LSM: {why}");
                }
            }
        }
    }
    if exec_missing.is_some() {
        // One tracepoint without the other would record half the story: neither.
        for name in ["cgfw_exec", "cgfw_fork"] {
            let link = dir.join(format!("link_{name}"));
            if let Ok(fd) = sys::obj_get(&link) {
                let _ = sys::link_detach(fd.as_fd());
            }
            let _ = std::fs::remove_file(link);
            let _ = std::fs::remove_file(dir.join(format!("prog_{name}")));
        }
    }
    drop(btf); // tens of MiB parsed; not needed any more
    for name in SET_MAP_NAMES {
        let path = dir.join(name);
        let map = bpf.map(name).ok_or(EbpfError::MissingMap(name))?;
        map.pin(&path).map_err(|e| perr(&path, io::Error::other(e)))?;
    }
    Ok(())
}

/// Detaches the links pinned in a set directory (tracepoints, boundary programs) and removes
/// it. A missing directory is fine. The links are detached side by side: a TCX detach waits for
/// an RCU grace period.
pub(crate) fn remove_set_dir(dir: &Path) -> io::Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut links = Vec::new();
    for entry in rd.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_set_dir(&path)?;
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("link_") || name.starts_with("tc_") {
            if let Ok(fd) = sys::obj_get(&path) {
                links.push(fd);
            }
        }
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::thread::scope(|scope| {
        for link in &links {
            scope.spawn(move || sys::link_detach(link.as_fd()));
        }
    });
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes every program set of another build that no container uses any more: its
/// `cgfw_containers` map is empty (a firewall's entry leaves with [`crate::Firewall::unpin`],
/// or with its handle when it was never pinned), and the leftovers of loads that died half-way.
/// This build's set stays: the next create needs it, and loading it again would cost that
/// create the whole verification. Skipped (Ok, nothing removed) while a create holds a set
/// open: the next delete looks again. Returns the sets removed.
pub fn remove_unused_sets(root: &Path) -> Result<Vec<String>, EbpfError> {
    let perr = |path: &Path, source: io::Error| EbpfError::Pin { path: path.into(), source };
    let sets = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(perr(root, e)),
    };
    let Some(_lock) = sys::DirLock::try_exclusive(root).map_err(|e| perr(root, e))? else { return Ok(Vec::new()) };
    let mut removed = Vec::new();
    for set in sets.flatten() {
        let name = set.file_name().to_string_lossy().into_owned();
        let unused = if let Some(tmp) = name.strip_prefix("tmp-") {
            // `tmp-<pid>-<n>-<build>` of a load in progress: only if that process is gone.
            let pid = tmp.split('-').next().unwrap_or_default();
            !Path::new("/proc").join(pid).exists()
        } else if name == BUILD_ID {
            false
        } else {
            match MapHandle::<u64, abi::Container>::from_pin(&set.path(), "cgfw_containers") {
                Ok(containers) => containers.keys()?.is_empty(),
                Err(_) => true, // not a complete set
            }
        };
        if unused {
            remove_set_dir(&set.path()).map_err(|e| perr(&set.path(), e))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets of other builds without containers go, with what a dead load left behind; a set
    /// with a container and this build's set stay. Needs root (bpffs).
    #[test]
    fn unused_sets_of_other_builds_are_removed() {
        let root = PathBuf::from(format!("/sys/fs/bpf/cgfw-test-gc-{}", std::process::id()));
        sys::ensure_bpffs(&root).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let make_set = |name: &str, containers: u64| {
            let dir = root.join(name);
            std::fs::create_dir(&dir).unwrap();
            let map = sys::map_create(sys::BPF_MAP_TYPE_HASH, 8, 80, 4, sys::BPF_F_NO_PREALLOC, "cgfw_containers").unwrap();
            for id in 0..containers {
                sys::map_update(map.as_fd(), &id, &abi::Container::default()).unwrap();
            }
            sys::obj_pin(map.as_fd(), &dir.join("cgfw_containers")).unwrap();
        };
        make_set("00000000000000aa", 0);
        make_set("00000000000000bb", 1);
        make_set(BUILD_ID, 0);
        std::fs::create_dir(root.join("tmp-999999999-0-00000000000000cc")).unwrap(); // pid > pid_max
        let mut removed = remove_unused_sets(&root).unwrap();
        removed.sort();
        let kept = (root.join("00000000000000bb").exists(), root.join(BUILD_ID).exists());
        remove_set_dir(&root).unwrap();
        assert_eq!(removed, ["00000000000000aa", "tmp-999999999-0-00000000000000cc"]);
        assert_eq!(kept, (true, true), "the used set and this build's set stay");
    }
}
