//! The few raw bpf(2) commands the loader issues itself (map element access through a shared
//! `&self`, opening pinned objects, forced link detach), plus clock and filesystem checks.

use std::{
    ffi::CString,
    io,
    mem::size_of,
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_DETACH: libc::c_long = 34;

pub const BPF_ANY: u64 = 0;

pub const BPF_FS_MAGIC: i64 = 0xcafe4a11;
pub const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;

/// bpf_attr is a union of at most a few hundred bytes; the kernel accepts a shorter size
/// as long as the fields it reads are inside it. 16 u64 cover every command used here.
type Attr = [u64; 16];

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: attr points at a zero-initialised buffer of the size passed; pointers stored in
    // it reference live buffers owned by the caller for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), size_of::<Attr>() as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn elem_attr(fd: BorrowedFd<'_>, key: *const u8, value: u64, flags: u64) -> Attr {
    let mut a: Attr = [0; 16];
    a[0] = fd.as_raw_fd() as u32 as u64; // map_fd (u32) + pad
    a[1] = key as u64;
    a[2] = value;
    a[3] = flags;
    a
}

/// Marker for plain-old-data map keys and values (repr(C), no padding reads that matter).
///
/// # Safety
/// The type must be valid for any bit pattern and have no interior pointers.
pub unsafe trait Plain: Copy + Default {}
unsafe impl Plain for u32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for [u8; 16] {}
unsafe impl Plain for u8 {}
unsafe impl Plain for crate::abi::Config {}
unsafe impl Plain for crate::abi::LpmKey {}
unsafe impl Plain for crate::abi::AllowIp {}
unsafe impl Plain for crate::abi::OwnerRaw {}
unsafe impl Plain for crate::abi::OrigDst {}
unsafe impl Plain for crate::abi::DnsClientKey {}
unsafe impl Plain for crate::abi::DnsClient {}
unsafe impl Plain for crate::abi::RateLimit {}
unsafe impl Plain for crate::abi::ExecRaw {}
unsafe impl Plain for crate::abi::Container {}
unsafe impl Plain for crate::abi::Netns {}
unsafe impl Plain for crate::abi::SockRaw {}
unsafe impl Plain for i32 {}

pub fn map_lookup<K: Plain, V: Plain>(fd: BorrowedFd<'_>, key: &K) -> io::Result<Option<V>> {
    let mut v = V::default();
    let mut a = elem_attr(fd, key as *const K as *const u8, &mut v as *mut V as u64, 0);
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut a) {
        Ok(_) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn map_update<K: Plain, V: Plain>(fd: BorrowedFd<'_>, key: &K, value: &V) -> io::Result<()> {
    let mut a = elem_attr(fd, key as *const K as *const u8, value as *const V as u64, BPF_ANY);
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

pub fn map_delete<K: Plain>(fd: BorrowedFd<'_>, key: &K) -> io::Result<bool> {
    let mut a = elem_attr(fd, key as *const K as *const u8, 0, 0);
    match bpf(BPF_MAP_DELETE_ELEM, &mut a) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every key of a hash map (BPF_MAP_GET_NEXT_KEY from no key until ENOENT). A map changed
/// meanwhile may be walked partly twice: callers use it for small maps they own.
pub fn map_keys<K: Plain>(fd: BorrowedFd<'_>) -> io::Result<Vec<K>> {
    let mut keys = Vec::new();
    let mut next = K::default();
    let mut have_prev = false;
    loop {
        let prev = keys.last().copied().unwrap_or_default();
        let prev_ptr = if have_prev { &prev as *const K as *const u8 } else { std::ptr::null() };
        let mut a = elem_attr(fd, prev_ptr, &mut next as *mut K as u64, 0);
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut a) {
            Ok(_) => {
                keys.push(next);
                have_prev = true;
                if keys.len() > 1 << 20 {
                    return Err(io::Error::other("map walk does not end"));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(keys),
            Err(e) => return Err(e),
        }
    }
}

/// BPF_OBJ_GET: open a pinned map, program or link.
pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut a: Attr = [0; 16];
    a[0] = c.as_ptr() as u64;
    let fd = bpf(BPF_OBJ_GET, &mut a)?;
    // SAFETY: the kernel returned a new file descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// enum bpf_attach_type values of the cgroup hooks (linux/bpf.h).
pub const BPF_CGROUP_INET_EGRESS: u32 = 1;
pub const BPF_CGROUP_INET_SOCK_CREATE: u32 = 2;
pub const BPF_CGROUP_INET4_CONNECT: u32 = 10;
pub const BPF_CGROUP_INET6_CONNECT: u32 = 11;
pub const BPF_CGROUP_UDP4_SENDMSG: u32 = 14;
pub const BPF_CGROUP_UDP6_SENDMSG: u32 = 15;
pub const BPF_CGROUP_UDP4_RECVMSG: u32 = 19;
pub const BPF_CGROUP_UDP6_RECVMSG: u32 = 20;
pub const BPF_CGROUP_INET4_GETPEERNAME: u32 = 29;
pub const BPF_CGROUP_INET6_GETPEERNAME: u32 = 30;
pub const BPF_LSM_CGROUP: u32 = 43;

/// enum bpf_map_type values of the per-container inner maps.
pub const BPF_MAP_TYPE_HASH: u32 = 1;
pub const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// BPF_MAP_CREATE of a plain map (no BTF), named `name` (at most 15 bytes are kept).
pub fn map_create(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, flags: u32, name: &str) -> io::Result<OwnedFd> {
    let mut a: Attr = [0; 16];
    a[0] = map_type as u64 | (key_size as u64) << 32;
    a[1] = value_size as u64 | (max_entries as u64) << 32;
    a[2] = flags as u64; // map_flags, inner_map_fd 0
    // numa_node (u32 at byte 24) 0, map_name[16] at byte 28
    let mut bytes = [0u8; 16];
    for (b, c) in bytes.iter_mut().zip(name.bytes().take(15)) {
        *b = if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' { c } else { b'_' };
    }
    a[3] = u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as u64 * (1 << 32);
    a[4] = u64::from_ne_bytes(bytes[4..12].try_into().unwrap());
    a[5] = u32::from_ne_bytes(bytes[12..16].try_into().unwrap()) as u64;
    let fd = bpf(BPF_MAP_CREATE, &mut a)?;
    // SAFETY: the kernel returned a new file descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The first `N` u32 words of an object's info (BPF_OBJ_GET_INFO_BY_FD): for a program
/// [type, id, ...], for a link [type, id, prog_id, pad, then the attach-type union], for a map
/// [type, id, key_size, value_size, max_entries, map_flags, ...].
pub fn obj_info<const N: usize>(fd: BorrowedFd<'_>) -> io::Result<[u32; N]> {
    let mut info = [0u32; N];
    let mut a: Attr = [0; 16];
    a[0] = fd.as_raw_fd() as u32 as u64 | ((N * 4) as u64) << 32; // bpf_fd, info_len
    a[1] = info.as_mut_ptr() as u64;
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    Ok(info)
}

/// The network namespace cookie of the calling thread's namespace (SO_NETNS_COOKIE, 5.14+):
/// what bpf_get_netns_cookie() returns for a packet of that namespace.
pub fn current_netns_cookie() -> io::Result<u64> {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    // SAFETY: plain socket(2); the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut cookie: u64 = 0;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: cookie and len are valid for the sizes given.
    let r = unsafe {
        libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, SO_NETNS_COOKIE, &mut cookie as *mut u64 as *mut libc::c_void, &mut len)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// An flock(2) on a directory, held until dropped.
pub struct DirLock(OwnedFd);

impl DirLock {
    /// Shared (`exclusive` false) or exclusive lock on `dir`, waiting for it.
    pub fn new(dir: &Path, exclusive: bool) -> io::Result<DirLock> {
        Self::take(dir, if exclusive { libc::LOCK_EX } else { libc::LOCK_SH })
    }

    /// An exclusive lock if nobody holds any: None if someone does.
    pub fn try_exclusive(dir: &Path) -> io::Result<Option<DirLock>> {
        match Self::take(dir, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(lock) => Ok(Some(lock)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn take(dir: &Path, op: libc::c_int) -> io::Result<DirLock> {
        let f = std::fs::File::open(dir)?;
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(DirLock(f.into()));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl std::fmt::Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DirLock({})", self.0.as_raw_fd())
    }
}

/// enum bpf_attach_type values of TCX (kernel 6.6+; newer than Debian 12's uapi headers).
pub const BPF_TCX_INGRESS: u32 = 46;
pub const BPF_TCX_EGRESS: u32 = 47;

/// enum bpf_attach_type: BPF_CGROUP_SETSOCKOPT.
pub const BPF_CGROUP_SETSOCKOPT: u32 = 22;

/// BPF_LINK_CREATE: attach `prog` to `target` (a cgroup fd, or for TCX an interface index of
/// the calling thread's network namespace, appended after the programs already there).
/// Returns the link's fd.
pub fn link_create(prog: BorrowedFd<'_>, target: u32, attach_type: u32) -> io::Result<OwnedFd> {
    let mut a: Attr = [0; 16];
    a[0] = prog.as_raw_fd() as u32 as u64 | (target as u64) << 32; // prog_fd, target_fd/ifindex
    a[1] = attach_type as u64; // attach_type, flags 0
    let fd = bpf(BPF_LINK_CREATE, &mut a)?;
    // SAFETY: the kernel returned a new file descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_OBJ_PIN: pin a map, program or link at `path` on a bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut a: Attr = [0; 16];
    a[0] = c.as_ptr() as u64;
    a[1] = fd.as_raw_fd() as u32 as u64;
    bpf(BPF_OBJ_PIN, &mut a).map(|_| ())
}

/// BPF_LINK_DETACH: detach a link now, whoever else holds it or its pins.
pub fn link_detach(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut a: Attr = [0; 16];
    a[0] = fd.as_raw_fd() as u32 as u64;
    bpf(BPF_LINK_DETACH, &mut a).map(|_| ())
}

/// CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns().
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn fs_magic(path: &Path) -> io::Result<i64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: statfs writes into the zeroed struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64)
}

/// Make sure `dir` can hold BPF pins: if the nearest existing ancestor is not on a bpffs and
/// the path is under /sys/fs/bpf, mount a bpffs on /sys/fs/bpf (idempotent).
pub fn ensure_bpffs(dir: &Path) -> io::Result<()> {
    let mut probe = dir;
    while !probe.exists() {
        match probe.parent() {
            Some(p) => probe = p,
            None => break,
        }
    }
    if fs_magic(probe)? == BPF_FS_MAGIC {
        return Ok(());
    }
    let root = Path::new("/sys/fs/bpf");
    if !dir.starts_with(root) {
        return Err(io::Error::other(format!(
            "{} is not on a bpffs (and not under /sys/fs/bpf, so it is not mounted for you)",
            dir.display()
        )));
    }
    std::fs::create_dir_all(root)?;
    if fs_magic(root)? == BPF_FS_MAGIC {
        return Ok(());
    }
    let src = CString::new("bpf").unwrap();
    let target = CString::new("/sys/fs/bpf").unwrap();
    // SAFETY: NUL-terminated strings; no data argument.
    let r = unsafe {
        libc::mount(src.as_ptr(), target.as_ptr(), src.as_ptr(), 0, std::ptr::null())
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `memlock:` bytes the kernel accounts for a BPF map fd (from /proc/self/fdinfo).
pub fn fd_memlock(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    info.lines()
        .find_map(|l| l.strip_prefix("memlock:").map(|v| v.trim().parse::<u64>()))
        .ok_or_else(|| io::Error::other("no memlock line in fdinfo"))?
        .map_err(io::Error::other)
}

/// Depth of a cgroup v2 directory below the cgroup2 root (the root is level 0), as
/// bpf_skb_ancestor_cgroup_id() counts it: the path below the cgroup2 mount that holds it,
/// plus the depth of the mount's own root (a bind mount of a subtree, as in a container).
pub fn cgroup_level(dir: &Path) -> io::Result<u32> {
    let dir = std::fs::canonicalize(dir)?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<(std::path::PathBuf, String)> = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options... - fstype source superoptions
        let Some((left, right)) = line.split_once(" - ") else { continue };
        if right.split_whitespace().next() != Some("cgroup2") {
            continue;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        let (Some(root), Some(mountpoint)) = (fields.get(3), fields.get(4)) else { continue };
        let mountpoint = Path::new(mountpoint);
        if dir.starts_with(mountpoint) && best.as_ref().is_none_or(|(m, _)| mountpoint.as_os_str().len() > m.as_os_str().len()) {
            best = Some((mountpoint.to_path_buf(), root.to_string()));
        }
    }
    let (mountpoint, root) = best.ok_or_else(|| io::Error::other(format!("{} is on no cgroup2 mount", dir.display())))?;
    let below = dir.strip_prefix(&mountpoint).map_err(io::Error::other)?.components().count();
    let root_depth = Path::new(&root).components().filter(|c| matches!(c, std::path::Component::Normal(_))).count();
    Ok((below + root_depth) as u32)
}

/// The socket cookie of a socket fd (SO_COOKIE): what bpf_get_socket_cookie() returns for it.
pub fn socket_cookie(socket: BorrowedFd<'_>) -> io::Result<u64> {
    const SO_COOKIE: libc::c_int = 57;
    let mut cookie: u64 = 0;
    let mut len = size_of::<u64>() as libc::socklen_t;
    // SAFETY: cookie and len are valid for the sizes given.
    let r = unsafe {
        libc::getsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, SO_COOKIE, &mut cookie as *mut u64 as *mut libc::c_void, &mut len)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}
