use anyhow::Result;

use crate::cli::GlobalOpts;
use crate::{container_ref, firewall};

pub fn delete(global: &GlobalOpts, args: liboci_cli::Delete) -> Result<()> {
    delete_container(global, &args.container_id, args.force)
}

/// Deletes through libcontainer, then removes what the runtime made for the container. With
/// `force`, a container whose state is gone still has its leftovers removed.
pub(crate) fn delete_container(global: &GlobalOpts, id: &str, force: bool) -> Result<()> {
    let dir = container_ref::container_dir(&global.root, id)?;
    if !container_ref::exists(&global.root, id)? {
        if force {
            return firewall::teardown(id, None);
        }
        anyhow::bail!("container does not exist");
    }
    let record = firewall::Record::load(&dir);
    let mut container = container_ref::load(&global.root, id)?;
    let status = container.status();
    use libcontainer::container::ContainerStatus;
    match status {
        ContainerStatus::Stopped => container.delete(force)?,
        // As runc: a created container that never ran is killed and deleted without --force.
        ContainerStatus::Created => container.delete(true)?,
        _ if force => container.delete(true)?,
        _ => anyhow::bail!(
            "cannot delete container {id} that is not stopped: {}",
            super::state::status_name(status)
        ),
    }
    firewall::teardown(id, record)
}
