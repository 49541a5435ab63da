//! Refusing packet sockets where the kernel cannot run the BPF LSM guard.
//!
//! AF_PACKET and AF_XDP sockets put frames on the device queue directly: no sock_addr or
//! cgroup_skb hook sees them, so a container process holding CAP_NET_RAW could reach any
//! address. The `ebpf` crate refuses them with an `lsm_cgroup/socket_create` program, which
//! needs the BPF LSM; kernels without it (or, like this project's CI kernel, that refuse every
//! LSM/trampoline program) get this fallback instead: a seccomp filter that the runtime installs
//! on itself just before libcontainer forks the container (or an `exec` process), so that the
//! container inherits it. Filters stack (the most restrictive verdict wins), so the bundle's own
//! seccomp profile is kept as it is.
//!
//! The filter sends these calls to a user-space listener (`SECCOMP_RET_USER_NOTIF`):
//! - `socket(AF_PACKET | AF_XDP, ...)` (x86_64, x32, i386 and aarch64 numbers),
//! - `socketcall(SYS_SOCKET, ...)` from 32-bit processes (its arguments are in memory, which a
//!   filter cannot read, so every socket() of the legacy i386 multiplexer is refused),
//! - `io_uring_setup`: io_uring's IORING_OP_SOCKET creates sockets without a system call,
//!   where no seccomp filter can see the family.
//!
//! The firewall sidecar holds the listener: it logs each call (pid and command line, read
//! while the caller is stopped in the kernel) and answers EPERM (enforce) or lets it proceed
//! (audit). Fail closed: once nobody holds the listener (sidecar killed), the kernel fails
//! these calls with ENOSYS. While `create` runs hooks (before the sidecar exists), a thread of
//! the runtime answers instead ([`BuildResponder`]), so a hook cannot hang on its own filter.
//!
//! Needed only when a process of the container can hold CAP_NET_RAW: without it the kernel
//! refuses packet sockets anyway (an unprivileged user namespace does not help: the
//! container's network namespace belongs to the container's own user namespace or above it).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// How a firewalled container's packet sockets are refused (recorded in `cgfw.json`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PacketGuard {
    /// No process of the container can hold CAP_NET_RAW: nothing to refuse.
    #[default]
    NotNeeded,
    /// The BPF LSM program, attached to the container's cgroup with the others.
    Lsm,
    /// This module's seccomp filter (the kernel cannot run the LSM program).
    Seccomp,
}

const AF_PACKET: u32 = 17;
const AF_XDP: u32 = 44;
const SYS_SOCKETCALL_SOCKET: u32 = 1;

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// x32 system calls are the x86_64 numbers with this bit set.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const X86_64_SOCKET: u32 = 41;
const I386_SOCKET: u32 = 359;
const I386_SOCKETCALL: u32 = 102;
const AARCH64_SOCKET: u32 = 198;
/// io_uring_setup has the same number on every architecture (the unified table).
const IO_URING_SETUP: u32 = 425;

/// What a notification is about, from the architecture, number and arguments the kernel gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardedCall {
    PacketSocket { family: u32 },
    LegacySocketcall,
    IoUringSetup,
    /// Not one of ours (cannot happen with our filter; answered like the others).
    Other { arch: u32, nr: i32 },
}

impl GuardedCall {
    pub fn classify(arch: u32, nr: i32, arg0: u64) -> GuardedCall {
        let nr_u = nr as u32;
        let family = arg0 as u32;
        match arch {
            AUDIT_ARCH_X86_64 if nr_u & !X32_SYSCALL_BIT == X86_64_SOCKET => GuardedCall::PacketSocket { family },
            AUDIT_ARCH_I386 if nr_u == I386_SOCKET => GuardedCall::PacketSocket { family },
            AUDIT_ARCH_AARCH64 if nr_u == AARCH64_SOCKET => GuardedCall::PacketSocket { family },
            AUDIT_ARCH_I386 if nr_u == I386_SOCKETCALL => GuardedCall::LegacySocketcall,
            _ if nr_u & !X32_SYSCALL_BIT == IO_URING_SETUP => GuardedCall::IoUringSetup,
            _ => GuardedCall::Other { arch, nr },
        }
    }

    /// The event's rule text: why the call was refused.
    pub fn rule(&self) -> String {
        match self {
            GuardedCall::PacketSocket { family: AF_PACKET } => {
                "packet sockets (AF_PACKET) are not allowed in firewalled containers".into()
            }
            GuardedCall::PacketSocket { family: AF_XDP } => {
                "packet sockets (AF_XDP) are not allowed in firewalled containers".into()
            }
            GuardedCall::PacketSocket { family } => format!("socket family {family} is not allowed"),
            GuardedCall::LegacySocketcall => {
                "32-bit socketcall(SYS_SOCKET): the address family cannot be checked, refused".into()
            }
            GuardedCall::IoUringSetup => {
                "io_uring is not allowed in firewalled containers with CAP_NET_RAW (it opens sockets unseen)".into()
            }
            GuardedCall::Other { arch, nr } => format!("system call {nr} (arch {arch:#x})"),
        }
    }
}

/// One classic-BPF instruction.
const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`: nr, arch, then args[0] (its low word: the `int` family
/// on little-endian machines).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0_LOW: u32 = 16;

/// The filter program. Jump offsets count the instructions skipped after the jump; the
/// comments name each target, and `filter_shape` (test) checks every jump lands inside.
fn filter() -> Vec<libc::sock_filter> {
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const NOTIFY: u32 = libc::SECCOMP_RET_USER_NOTIF;
    vec![
        /* 0 */ stmt(LD_W_ABS, OFF_ARCH),
        /* 1 */ jump(JEQ_K, AUDIT_ARCH_X86_64, 0, 5), // else -> 7
        // x86_64 and x32 (the same numbers, bit 30 set for x32)
        /* 2 */ stmt(LD_W_ABS, OFF_NR),
        /* 3 */ stmt(AND_K, !X32_SYSCALL_BIT),
        /* 4 */ jump(JEQ_K, X86_64_SOCKET, 14, 0), // -> 19 family
        /* 5 */ jump(JEQ_K, IO_URING_SETUP, 16, 0), // -> 22 notify
        /* 6 */ stmt(RET_K, ALLOW),
        /* 7 */ jump(JEQ_K, AUDIT_ARCH_I386, 0, 5), // else -> 13
        /* 8 */ stmt(LD_W_ABS, OFF_NR),
        /* 9 */ jump(JEQ_K, I386_SOCKET, 9, 0), // -> 19 family
        /* 10 */ jump(JEQ_K, I386_SOCKETCALL, 6, 0), // -> 17 socketcall
        /* 11 */ jump(JEQ_K, IO_URING_SETUP, 10, 0), // -> 22 notify
        /* 12 */ stmt(RET_K, ALLOW),
        /* 13 */ jump(JEQ_K, AUDIT_ARCH_AARCH64, 0, 9), // else -> 23 allow (no other arch here)
        /* 14 */ stmt(LD_W_ABS, OFF_NR),
        /* 15 */ jump(JEQ_K, AARCH64_SOCKET, 3, 0), // -> 19 family
        /* 16 */ jump(JEQ_K, IO_URING_SETUP, 5, 6), // -> 22 notify, else -> 23 allow
        // socketcall(SYS_SOCKET, args*)
        /* 17 */ stmt(LD_W_ABS, OFF_ARG0_LOW),
        /* 18 */ jump(JEQ_K, SYS_SOCKETCALL_SOCKET, 3, 4), // -> 22 notify, else -> 23 allow
        // socket(family, ...)
        /* 19 */ stmt(LD_W_ABS, OFF_ARG0_LOW),
        /* 20 */ jump(JEQ_K, AF_PACKET, 1, 0), // -> 22 notify
        /* 21 */ jump(JEQ_K, AF_XDP, 0, 1), // -> 22 notify, else -> 23 allow
        /* 22 */ stmt(RET_K, NOTIFY),
        /* 23 */ stmt(RET_K, ALLOW),
    ]
}

/// Installs the filter on the calling thread (inherited by everything it forks from now on)
/// and returns the listener. The runtime and the sidecar never make these calls themselves.
/// The listener is moved to an fd at or above `min_fd`, out of the range of fds the caller
/// asked libcontainer to preserve into the container.
pub fn install(min_fd: RawFd) -> Result<OwnedFd> {
    let program = filter();
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr() as *mut libc::sock_filter };
    // SAFETY: seccomp(2) reads `fprog`, which points at `program`, alive for the call. No
    // no_new_privs: the runtime is root with CAP_SYS_ADMIN, which the kernel accepts instead.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("installing the packet-socket seccomp filter");
    }
    // SAFETY: the kernel just returned this fd (close-on-exec) and nothing else owns it.
    let listener = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    if listener.as_raw_fd() >= min_fd {
        return Ok(listener);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own returns a new fd that we then own.
    let moved = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min_fd) };
    if moved < 0 {
        return Err(std::io::Error::last_os_error()).context("moving the seccomp listener fd");
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

/// A notification as received, before it is answered.
pub struct Notification {
    id: u64,
    pub pid: u32,
    pub call: GuardedCall,
}

/// Waits up to `timeout_ms` for a notification. `Ok(None)`: none yet; `Err`: the listener is
/// finished (no process uses the filter any more) or broken.
pub fn receive(listener: RawFd, timeout_ms: i32) -> std::io::Result<Option<Notification>> {
    let mut pfd = libc::pollfd { fd: listener, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n < 0 {
        let err = std::io::Error::last_os_error();
        return if err.kind() == std::io::ErrorKind::Interrupted { Ok(None) } else { Err(err) };
    }
    if n == 0 {
        return Ok(None);
    }
    if pfd.revents & libc::POLLIN == 0 {
        // POLLHUP: every process that had the filter is gone.
        return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
    }
    // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV fills `notif`. A caller killed between poll and here leaves nothing to
    // receive: the ioctl then waits for the next notification, which is harmless here.
    if unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut notif) } < 0 {
        let err = std::io::Error::last_os_error();
        // ENOENT: the caller went away before we read it.
        return match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::EINTR) => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some(Notification {
        id: notif.id,
        pid: notif.pid,
        call: GuardedCall::classify(notif.data.arch, notif.data.nr, notif.data.args[0]),
    }))
}

/// Answers a notification: `refuse` fails the call with EPERM, else it proceeds (audit mode).
pub fn answer(listener: RawFd, notification: &Notification, refuse: bool) {
    let resp = libc::seccomp_notif_resp {
        id: notification.id,
        val: 0,
        error: if refuse { -libc::EPERM } else { 0 },
        flags: if refuse { 0 } else { libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32 },
    };
    // SAFETY: SEND reads `resp`. ENOENT (the caller died meanwhile) needs no handling.
    unsafe { libc::ioctl(listener, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
}

/// Answers notifications while `create` runs libcontainer (hooks run then, with the filter,
/// before the sidecar exists). Allocation-free after start: libcontainer forks while it runs.
pub struct BuildResponder {
    stop: Arc<std::sync::atomic::AtomicBool>,
    answered: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl BuildResponder {
    pub fn start(listener: RawFd, refuse: bool) -> BuildResponder {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let (s, a) = (stop.clone(), answered.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match receive(listener, 20) {
                    Ok(Some(n)) => {
                        answer(listener, &n, refuse);
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        });
        BuildResponder { stop, answered, thread: Some(thread) }
    }

    /// Stops the thread; returns how many calls it answered.
    pub fn finish(mut self) -> u64 {
        self.stop_thread();
        self.answered.load(Ordering::Relaxed)
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BuildResponder {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The socket in the container's state directory where the sidecar takes listeners.
pub const SOCKET_NAME: &str = "packet-guard.sock";

/// A path to `name` in `dir` short enough for `sockaddr_un` (108 bytes) however long the
/// state directory's path is: through the directory's open fd, which the caller keeps open.
pub fn short_socket_path(dir: &std::fs::File, name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// Hands a listener to the container's sidecar (SCM_RIGHTS over its socket).
pub fn hand_to_sidecar(container_dir: &Path, listener: &OwnedFd) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let dir = std::fs::File::open(container_dir).with_context(|| format!("opening {}", container_dir.display()))?;
    let path = short_socket_path(&dir, SOCKET_NAME);
    let stream = std::os::unix::net::UnixStream::connect(&path)
        .with_context(|| format!("connecting to the firewall sidecar at {}", container_dir.join(SOCKET_NAME).display()))?;
    let fds = [listener.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"L")];
    sendmsg::<()>(stream.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
        .context("passing the seccomp listener to the sidecar")?;
    // Wait for the sidecar's acknowledgement, so the caller's copy can be closed safely.
    let mut ack = [0u8; 1];
    use std::io::Read;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    (&stream).read_exact(&mut ack).context("waiting for the sidecar to take the seccomp listener")?;
    Ok(())
}

/// Receives one listener sent by [`hand_to_sidecar`] from an accepted connection.
pub fn take_from_runtime(stream: &std::os::unix::net::UnixStream) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .context("receiving a seccomp listener")?;
    for cmsg in msg.cmsgs().context("reading the control message")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            let mut owned: Vec<OwnedFd> = fds
                .into_iter()
                // SAFETY: SCM_RIGHTS installed these fds in this process for us.
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect();
            if owned.len() == 1 {
                use std::io::Write;
                let _ = (&*stream).write_all(b"k");
                return Ok(owned.remove(0));
            }
        }
    }
    anyhow::bail!("no seccomp listener in the message")
}

/// Whether a process with these capability sets could ever hold CAP_NET_RAW (the bounding set
/// caps what exec of a setuid or file-capability binary can gain).
pub fn may_hold_net_raw(caps: Option<&oci_spec::runtime::LinuxCapabilities>) -> bool {
    use oci_spec::runtime::Capability;
    // No capabilities object, or a missing set, keeps the runtime's own (full) set in
    // libcontainer: that may hold CAP_NET_RAW.
    let Some(caps) = caps else { return true };
    if caps.bounding().is_none() || caps.effective().is_none() || caps.permitted().is_none() {
        return true;
    }
    [caps.bounding(), caps.effective(), caps.permitted(), caps.inheritable(), caps.ambient()]
        .into_iter()
        .flatten()
        .any(|set| set.contains(&Capability::NetRaw))
}

/// Where the probe's answer is kept: host-wide (not in the runtime's `--root`, which belongs
/// to the caller, e.g. containerd's state directory), in tmpfs, with the boot id.
const PROBE_CACHE_DIR: &str = "/run/cgfw";
const PROBE_CACHE: &str = "/run/cgfw/packet-guard-probe";

/// Whether the kernel runs the BPF LSM packet-socket guard. Probing loads the program once
/// (tens of ms for the kernel's BTF); the answer is kept per boot in [`PROBE_CACHE`].
pub fn lsm_guard_supported() -> bool {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let boot = boot.trim();
    if let Ok(text) = std::fs::read_to_string(PROBE_CACHE) {
        if let Some((cached_boot, answer)) = text.split_once('\n') {
            if cached_boot == boot && !boot.is_empty() {
                return answer.starts_with("supported");
            }
        }
    }
    let result = ebpf::probe_packet_socket_guard();
    let answer = match &result {
        Ok(()) => "supported".to_string(),
        Err(why) => format!("unsupported: {why}"),
    };
    if let Err(why) = &result {
        tracing::debug!("BPF LSM packet-socket guard unavailable, using the seccomp fallback: {why}");
    }
    // Best effort: without the cache the next create probes again.
    let tmp = Path::new(PROBE_CACHE_DIR).join(format!(".packet-guard-probe.{}", std::process::id()));
    if std::fs::create_dir_all(PROBE_CACHE_DIR).is_ok() && std::fs::write(&tmp, format!("{boot}\n{answer}\n")).is_ok() {
        let _ = std::fs::rename(&tmp, PROBE_CACHE);
    }
    result.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_shape() {
        let program = filter();
        for (i, insn) in program.iter().enumerate() {
            let class = insn.code & 0x07;
            if class == libc::BPF_JMP as u16 {
                assert!(i + 1 + (insn.jt as usize) < program.len(), "jt of {i} out of range");
                assert!(i + 1 + (insn.jf as usize) < program.len(), "jf of {i} out of range");
            }
        }
        assert_eq!(program.last().unwrap().code, RET_K);
    }

    #[test]
    fn classify_by_arch_and_number() {
        assert_eq!(GuardedCall::classify(AUDIT_ARCH_X86_64, 41, 17), GuardedCall::PacketSocket { family: 17 });
        assert_eq!(
            GuardedCall::classify(AUDIT_ARCH_X86_64, (41 | X32_SYSCALL_BIT) as i32, 44),
            GuardedCall::PacketSocket { family: 44 }
        );
        assert_eq!(GuardedCall::classify(AUDIT_ARCH_I386, 359, 17), GuardedCall::PacketSocket { family: 17 });
        assert_eq!(GuardedCall::classify(AUDIT_ARCH_I386, 102, 1), GuardedCall::LegacySocketcall);
        assert_eq!(GuardedCall::classify(AUDIT_ARCH_X86_64, 425, 0), GuardedCall::IoUringSetup);
        assert_eq!(GuardedCall::classify(AUDIT_ARCH_AARCH64, 198, 17), GuardedCall::PacketSocket { family: 17 });
    }

    /// The filter in the real kernel: run in a re-executed copy of this test binary (forking
    /// a multi-threaded test harness is not safe), which installs it, answers with a
    /// `BuildResponder` and reports what each call returned.
    #[test]
    fn filter_refuses_packet_sockets_and_io_uring_only() {
        if std::env::var_os("CGFW_GUARD_CHILD").is_some() {
            return child_body();
        }
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root (seccomp without no_new_privs)");
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args(["--exact", "packet_guard::tests::filter_refuses_packet_sockets_and_io_uring_only", "--nocapture"])
            .env("CGFW_GUARD_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        for expected in [
            "packet=EPERM",
            "xdp=EPERM",
            "io_uring=EPERM",
            "inet_dgram=ok",
            "inet6_stream=ok",
            "unix=ok",
            "answered=3",
            "after_close=ENOSYS",
        ] {
            assert!(stdout.contains(expected), "{expected} missing in: {stdout}");
        }
    }

    fn child_body() {
        fn try_socket(family: i32, kind: i32) -> String {
            // SAFETY: plain socket(2); the fd is closed right away.
            let fd = unsafe { libc::socket(family, kind, 0) };
            if fd >= 0 {
                unsafe { libc::close(fd) };
                return "ok".into();
            }
            errno_name()
        }
        fn errno_name() -> String {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EPERM) => "EPERM".into(),
                Some(libc::ENOSYS) => "ENOSYS".into(),
                other => format!("errno {other:?}"),
            }
        }
        let listener = install(10).expect("install");
        assert!(listener.as_raw_fd() >= 10);
        let responder = BuildResponder::start(listener.as_raw_fd(), true);
        let mut results = vec![
            format!("packet={}", try_socket(libc::AF_PACKET, libc::SOCK_RAW)),
            format!("xdp={}", try_socket(libc::AF_XDP, libc::SOCK_RAW)),
            format!("inet_dgram={}", try_socket(libc::AF_INET, libc::SOCK_DGRAM)),
            format!("inet6_stream={}", try_socket(libc::AF_INET6, libc::SOCK_STREAM)),
            format!("unix={}", try_socket(libc::AF_UNIX, libc::SOCK_STREAM)),
        ];
        let mut params = [0u8; 120];
        // SAFETY: io_uring_setup with a zeroed params buffer of the kernel's size.
        let r = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
        results.push(format!("io_uring={}", if r >= 0 { "ok".to_string() } else { errno_name() }));
        results.push(format!("answered={}", responder.finish()));
        drop(listener);
        results.push(format!("after_close={}", try_socket(libc::AF_PACKET, libc::SOCK_RAW)));
        println!("{}", results.join(" "));
    }
}
