use std::path::{Path, PathBuf};

use anyhow::Result;
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

use crate::cli::GlobalOpts;
use crate::container_ref;

/// runc's `state` JSON (also the element of `list --format json`).
#[derive(Serialize, Debug)]
pub(crate) struct RuncState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
    pub owner: String,
}

pub(crate) fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

/// The bundle's rootfs as an absolute path, as runc reports it.
fn rootfs_of(bundle: &Path) -> PathBuf {
    super::load_spec(bundle)
        .ok()
        .and_then(|spec| spec.root().as_ref().map(|r| r.path().clone()))
        .map(|p| if p.is_absolute() { p } else { bundle.join(p) })
        .unwrap_or_default()
}

fn owner_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| format!("#{uid}"))
}

impl RuncState {
    pub fn of(container: &Container) -> RuncState {
        let state = &container.state;
        let status = container.status();
        RuncState {
            oci_version: state.oci_version.clone(),
            id: state.id.clone(),
            // runc reports 0 once the init is gone.
            pid: if status == ContainerStatus::Stopped { 0 } else { state.pid.unwrap_or(0) },
            status: status_name(status),
            bundle: state.bundle.clone(),
            rootfs: rootfs_of(&state.bundle),
            created: state
                .created
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default(),
            annotations: state.annotations.clone().filter(|a| !a.is_empty()),
            owner: owner_name(state.creator.unwrap_or(0)),
        }
    }
}

pub fn state(global: &GlobalOpts, args: liboci_cli::State) -> Result<()> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    println!("{}", serde_json::to_string_pretty(&RuncState::of(&container))?);
    Ok(())
}
