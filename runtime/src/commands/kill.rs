use anyhow::{bail, Result};
use libcontainer::container::ContainerStatus;
use nix::errno::Errno;

use crate::cli::{GlobalOpts, KillArgs};
use crate::{container_ref, signals};

/// Delivers the signal ourselves instead of through libcontainer's `kill`, which records the
/// container as stopped after any signal (even USR1) and rewrites state.json non-atomically
/// while other commands may be reading it.
pub fn kill(global: &GlobalOpts, args: KillArgs) -> Result<()> {
    let number = signals::parse_signal(&args.signal)?;
    let mut container = container_ref::load(&global.root, &args.container_id)?;
    let status = container.status();
    let live = matches!(status, ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused);
    // As runc, `kill --all` also goes to a stopped container: processes its init left in the
    // cgroup (no pid namespace) are signalled; with none left it succeeds.
    if !live && !(args.all && status == ContainerStatus::Stopped) {
        bail!("container not running");
    }
    let pids = if args.all && !live {
        super::ps::container_pids(&container).unwrap_or_default()
    } else if args.all {
        super::ps::container_pids(&container)?
    } else {
        container.pid().map(|p| p.as_raw()).into_iter().collect()
    };
    for pid in pids {
        // SAFETY: kill(2) with a validated signal number (0 only checks the process exists).
        if unsafe { libc::kill(pid, number) } != 0 {
            let err = Errno::last();
            if err != Errno::ESRCH {
                bail!("sending signal {number} to {pid}: {err}");
            }
            if !args.all {
                bail!("container not running");
            }
        }
    }
    // A frozen process only acts on SIGKILL once thawed (cgroup v1 freezer), as runc does.
    if number == libc::SIGKILL && status == ContainerStatus::Paused {
        container.resume()?;
    }
    Ok(())
}
