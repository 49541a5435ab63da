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
            return remove_leftovers(global, id, &dir);
        }
        anyhow::bail!("container does not exist");
    }
    let record = firewall::Record::load(&dir);
    let mut container = match container_ref::load(&global.root, id) {
        Ok(container) => container,
        // Unreadable state (a runtime killed while writing it): clean up what we can find.
        Err(_) if force => return remove_leftovers(global, id, &dir),
        Err(err) => return Err(err),
    };
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
    if let Some(warning) = record.as_ref().and_then(firewall::dead_sidecar_warning) {
        crate::logging::warn(&format!("container {id}: {warning}"));
        if let Err(err) = firewall::note_in_report(&global.cgfw_log_dir, id, &warning) {
            crate::logging::warn(&format!("container {id}: {err:#}"));
        }
    }
    firewall::teardown(id, record)
}

/// `delete --force` of a container without usable state, e.g. after a runtime was killed in
/// the middle of `create` or `delete`: libcontainer's cgroups (from its saved config, if that
/// is still there), our sidecar, pins and cgroup (found from the record if it was written,
/// else from their deterministic names), and the half-written state directory.
fn remove_leftovers(global: &GlobalOpts, id: &str, dir: &std::path::Path) -> Result<()> {
    if let Ok(config) = libcontainer::config::YoukiConfig::load(dir) {
        use libcgroups::common::CgroupManager;
        let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: global.systemd_cgroup,
            container_name: id.to_string(),
        })?;
        manager.remove().map_err(|e| anyhow::anyhow!("removing the container's cgroups: {e}"))?;
    }
    firewall::teardown(id, firewall::Record::load(dir))?;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(anyhow::anyhow!("removing state directory {}: {e}", dir.display()))
        }
        _ => Ok(()),
    }
}
