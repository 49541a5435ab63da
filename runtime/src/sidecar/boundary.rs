//! The network namespace as the firewall must know it: its own addresses (anti-spoofing) and
//! its interfaces (where the boundary programs attach). Both change while a container runs —
//! IPv6 adds link-local and SLAAC addresses when a link comes up, CNI plugins and tests move
//! interfaces in after `create` — so the sidecar, which lives in the namespace, follows them:
//! a rtnetlink socket subscribed to link and address changes wakes it, and it re-reads the
//! whole state (getifaddrs, if_nameindex) rather than decoding each message: the state is
//! small, and a missed or overrun message (ENOBUFS) then costs nothing.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result};
use ebpf::Firewall;
use tokio::io::unix::AsyncFd;

/// Subscribed multicast groups: RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR.
const RTNL_GROUPS: u32 = 0x1 | 0x10 | 0x100;

/// Wakes up when a link or address of the calling thread's network namespace changes.
pub struct Watcher {
    socket: OwnedFd,
    /// Registered with the tokio runtime on first use (`open` runs before there is one).
    registered: Option<AsyncFd<OwnedFd>>,
}

impl Watcher {
    /// Opens the subscription in the calling thread's network namespace. Open it before the
    /// first [`sync`], so that no change falls between the two.
    pub fn open() -> Result<Watcher> {
        // SAFETY: plain socket/bind calls on a zeroed sockaddr_nl; the fd is owned at once.
        let socket = unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            if fd < 0 {
                return Err(std::io::Error::last_os_error()).context("opening a rtnetlink socket");
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            addr.nl_groups = RTNL_GROUPS;
            let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            if libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_nl).cast(), len) < 0 {
                return Err(std::io::Error::last_os_error()).context("subscribing to link and address changes");
            }
            fd
        };
        Ok(Watcher { socket, registered: None })
    }

    /// Returns when something changed (after draining what is queued). Needs a tokio runtime.
    pub async fn changed(&mut self) -> Result<()> {
        let mut buf = [0u8; 8192];
        if self.registered.is_none() {
            let fd = self.socket.try_clone().context("duplicating the rtnetlink socket")?;
            // SAFETY: the duplicate is owned by the AsyncFd and not used elsewhere; the original
            // stays open in self (same open file) for as long as the AsyncFd lives.
            self.registered = Some(unsafe { AsyncFd::register(fd) }.context("registering the rtnetlink socket")?);
        }
        let socket = self.registered.as_ref().expect("registered above");
        loop {
            let mut guard = socket.readable().await.context("waiting on rtnetlink")?;
            let mut drained_any = false;
            loop {
                // SAFETY: recv into our own buffer.
                let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n > 0 {
                    drained_any = true;
                    continue;
                }
                let err = std::io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    // Messages were lost: the state changed in ways we did not read. Fine: we
                    // re-read all of it.
                    Some(libc::ENOBUFS) => drained_any = true,
                    Some(libc::EINTR) => continue,
                    _ => return Err(err).context("reading rtnetlink"),
                }
            }
            guard.clear_ready();
            if drained_any {
                return Ok(());
            }
        }
    }
}

/// Refuses a container that shares the host's network namespace (the runtime's, or init's):
/// its boundary filter would sit on the host's own interfaces and decide every packet of
/// every process there by the container's policy. Call before entering `netns`.
pub fn refuse_host_netns(netns: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let container = id(netns).with_context(|| format!("reading network namespace {}", netns.display()))?;
    for host in ["/proc/self/ns/net", "/proc/1/ns/net"] {
        if id(std::path::Path::new(host)).ok() == Some(container) {
            anyhow::bail!(
                "the container shares the host's network namespace: a firewalled container needs its own \
                 (its filter on the namespace's interfaces would decide the host's traffic); do not use \
                 host networking (podman --network host, hostNetwork: true) with cgfw.io/* annotations"
            );
        }
    }
    Ok(())
}

/// The addresses of every interface of the calling thread's network namespace.
pub fn local_addrs() -> Result<Vec<IpAddr>> {
    let mut addrs = Vec::new();
    for ifaddr in nix::ifaddrs::getifaddrs().context("listing the namespace's addresses")? {
        let Some(address) = ifaddr.address else { continue };
        if let Some(v4) = address.as_sockaddr_in() {
            addrs.push(IpAddr::V4(v4.ip()));
        } else if let Some(v6) = address.as_sockaddr_in6() {
            addrs.push(IpAddr::V6(v6.ip()));
        }
    }
    addrs.sort();
    addrs.dedup();
    Ok(addrs)
}

/// Every interface of the calling thread's network namespace but the loopback (ifindex).
pub fn interfaces() -> Result<Vec<u32>> {
    const LOOPBACK_IFINDEX: u32 = 1; // lo is 1 in every namespace
    let list = nix::net::if_::if_nameindex().context("listing the namespace's interfaces")?;
    Ok(list.iter().map(|i| i.index()).filter(|&i| i != LOOPBACK_IFINDEX).collect())
}

/// Brings the firewall's view of the namespace up to date: the address set, and the boundary
/// programs on every interface. Returns the interfaces newly attached.
pub fn sync(firewall: &Firewall) -> Result<Vec<u32>> {
    firewall.set_local_addrs(&local_addrs()?).context("updating the namespace's own addresses")?;
    let before = firewall.attached_interfaces();
    for ifindex in interfaces()? {
        firewall
            .attach_interface(ifindex)
            .with_context(|| format!("attaching the boundary filter to interface #{ifindex}"))?;
    }
    let after = firewall.attached_interfaces();
    Ok(after.into_iter().filter(|i| !before.contains(i)).collect())
}
