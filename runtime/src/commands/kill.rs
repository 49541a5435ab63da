use anyhow::{bail, Result};
use libcontainer::signal::Signal;

use crate::cli::{GlobalOpts, KillArgs};
use crate::{container_ref, signals};

pub fn kill(global: &GlobalOpts, args: KillArgs) -> Result<()> {
    let number = signals::parse_signal(&args.signal)?;
    let mut container = container_ref::load(&global.root, &args.container_id)?;
    if !container.can_kill() {
        bail!("container not running");
    }
    match Signal::try_from(number) {
        Ok(signal) => container.kill(signal, args.all)?,
        // Real-time signals are beyond libcontainer's Signal type: deliver them ourselves.
        Err(_) => {
            let pids = if args.all {
                super::ps::container_pids(&container)?
            } else {
                container.pid().map(|p| p.as_raw()).into_iter().collect()
            };
            for pid in pids {
                // SAFETY: plain kill(2) with a validated signal number.
                if unsafe { libc::kill(pid, number) } != 0 {
                    let err = std::io::Error::last_os_error();
                    if err.raw_os_error() != Some(libc::ESRCH) {
                        bail!("sending signal {number} to {pid}: {err}");
                    }
                }
            }
        }
    }
    Ok(())
}
