//! Network-namespace helpers. `setns(CLONE_NEWNET)` changes only the calling thread, and a
//! socket belongs to the namespace of the thread that created it.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sched::{setns, CloneFlags};

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &Path) -> Result<()> {
    let file = File::open(path).with_context(|| format!("opening network namespace {}", path.display()))?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering network namespace {}", path.display()))
}

/// Runs `f` on a short-lived thread inside the namespace at `path`.
pub fn run_in<T: Send + 'static>(path: &Path, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        enter(&path)?;
        f()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("network namespace helper thread panicked"))?
}

/// Brings the loopback interface up in the calling thread's network namespace. runc does this
/// for every new network namespace; libcontainer does not, and localhost (and our DNS proxy,
/// which listens on loopback) needs it.
pub fn bring_loopback_up() -> Result<()> {
    // SAFETY: an ioctl on a fresh datagram socket with a zeroed, NUL-terminated ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).context("socket for loopback setup");
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let result = (|| {
            if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
                return Err(std::io::Error::last_os_error()).context("reading flags of lo");
            }
            if req.ifr_ifru.ifru_flags & libc::IFF_UP as libc::c_short == 0 {
                req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) < 0 {
                    return Err(std::io::Error::last_os_error()).context("bringing lo up");
                }
            }
            Ok(())
        })();
        libc::close(fd);
        result
    }
}
