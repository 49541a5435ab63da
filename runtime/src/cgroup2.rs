//! Where a container's cgroup v2 is. BPF cgroup programs attach only to cgroup2:
//! - pure v2 host (/sys/fs/cgroup is cgroup2): the container's own cgroup, read from
//!   /proc/<init>/cgroup ("0::/path"), which covers cgroupfs and systemd managers alike;
//! - hybrid host (v1 controllers, cgroup2 at /sys/fs/cgroup/unified): a cgroup of ours,
//!   `<unified>/cgfw/<id>`, with the init moved in before it starts. Its children inherit it;
//!   `exec` moves itself in before it forks, so exec'd processes land there too.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup2 mounted at /sys/fs/cgroup.
    PureV2,
    /// cgroup v1 controllers with cgroup2 mounted at the given path.
    Hybrid(PathBuf),
    /// No cgroup2 at all: the firewall cannot attach.
    V1Only,
}

fn is_cgroup2(path: &Path) -> bool {
    statfs(path).map(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC).unwrap_or(false)
}

pub fn detect() -> Layout {
    if is_cgroup2(Path::new(CGROUP_ROOT)) {
        Layout::PureV2
    } else if is_cgroup2(Path::new(HYBRID_UNIFIED)) {
        Layout::Hybrid(PathBuf::from(HYBRID_UNIFIED))
    } else {
        Layout::V1Only
    }
}

/// The cgroup v2 directory `pid` belongs to, from its "0::" line.
pub fn cgroup_of_pid(mount: &Path, pid: i32) -> Result<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .with_context(|| format!("reading /proc/{pid}/cgroup"))?;
    let rel = text
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .with_context(|| format!("process {pid} has no cgroup v2 membership"))?;
    Ok(mount.join(rel.trim_start_matches('/')))
}

/// Our own cgroup for a container on a hybrid host.
pub fn own_cgroup_path(unified: &Path, id: &str) -> PathBuf {
    unified.join("cgfw").join(id)
}

/// Creates `<unified>/cgfw/<id>` and moves `pid` into it.
pub fn create_own_cgroup(unified: &Path, id: &str, pid: i32) -> Result<PathBuf> {
    let dir = own_cgroup_path(unified, id);
    fs::create_dir_all(&dir).with_context(|| format!("creating cgroup {}", dir.display()))?;
    move_pid(&dir, pid)?;
    Ok(dir)
}

pub fn move_pid(dir: &Path, pid: i32) -> Result<()> {
    fs::write(dir.join("cgroup.procs"), pid.to_string())
        .with_context(|| format!("moving pid {pid} into cgroup {}", dir.display()))
}

/// Removes our cgroup. Processes may take a moment to leave after SIGKILL, so EBUSY is retried
/// for a bounded time; a missing directory is success.
pub fn remove_own_cgroup(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                kill_all(dir);
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => bail!("removing cgroup {}: {e}", dir.display()),
        }
    }
}

/// Pids currently in a cgroup v2 directory.
pub fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs what is left in our cgroup (e.g. a process exec'd into a container that escaped the
/// v1 cgroups libcontainer kills); used only on delete.
fn kill_all(dir: &Path) {
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    for pid in pids(dir) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}
