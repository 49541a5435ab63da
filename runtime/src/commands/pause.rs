use anyhow::{bail, Result};
use libcontainer::container::ContainerStatus;

use crate::cli::GlobalOpts;
use crate::container_ref;

pub fn pause(global: &GlobalOpts, args: liboci_cli::Pause) -> Result<()> {
    let mut container = container_ref::load(&global.root, &args.container_id)?;
    if container.status() != ContainerStatus::Running {
        bail!("container not running");
    }
    container.pause()?;
    Ok(())
}

pub fn resume(global: &GlobalOpts, args: liboci_cli::Resume) -> Result<()> {
    let mut container = container_ref::load(&global.root, &args.container_id)?;
    if container.status() != ContainerStatus::Paused {
        bail!("container not paused");
    }
    container.resume()?;
    Ok(())
}
