use anyhow::{bail, Result};
use libcontainer::container::ContainerStatus;

use crate::cli::GlobalOpts;
use crate::container_ref;

pub fn start(global: &GlobalOpts, args: liboci_cli::Start) -> Result<()> {
    let mut container = container_ref::load(&global.root, &args.container_id)?;
    match container.status() {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => bail!("cannot start a container that has stopped"),
        ContainerStatus::Running => bail!("cannot start an already running container"),
        other => bail!("cannot start a container in the {} state", super::state::status_name(other)),
    }
    container.start()?;
    Ok(())
}
