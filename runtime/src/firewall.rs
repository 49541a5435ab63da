//! The hook between "container built, init waiting" and "create returns", and its undo on
//! delete. Everything the runtime makes for a container besides libcontainer's own state is
//! created here and recorded in `<root>/<id>/cgfw.json`, and removed by `teardown`, which also
//! works from deterministic paths when that record is missing (a runtime killed mid-create).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::Container;
use serde::{Deserialize, Serialize};

use crate::cgroup2::{self, Layout};
use crate::cli::GlobalOpts;

const RECORD_FILE: &str = "cgfw.json";

/// What the runtime made for one container, beyond libcontainer's state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record {
    /// The cgroup v2 the container's processes are in (where the firewall attaches).
    pub cgroup_v2: Option<PathBuf>,
    /// True when `cgroup_v2` is ours (hybrid host) and must be removed on delete.
    pub own_cgroup: bool,
}

impl Record {
    fn path(container_dir: &Path) -> PathBuf {
        container_dir.join(RECORD_FILE)
    }

    pub fn load(container_dir: &Path) -> Option<Record> {
        let text = fs::read_to_string(Self::path(container_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn save(&self, container_dir: &Path) -> Result<()> {
        let tmp = container_dir.join(".cgfw.json.tmp");
        fs::write(&tmp, serde_json::to_vec(self)?)?;
        fs::rename(&tmp, Self::path(container_dir)).context("saving runtime record")
    }
}

/// Validates the bundle's firewall policy before anything is created.
pub fn check_policy(spec: &oci_spec::runtime::Spec) -> Result<()> {
    let has_policy = spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.keys().any(|k| k.starts_with("cgfw.io/")));
    if has_policy {
        bail!("cgfw.io/* annotations found, but this build has no firewall yet: refusing to run the container unconfined");
    }
    Ok(())
}

/// Runs after libcontainer built the container (init waiting for `start`).
pub fn after_build(_global: &GlobalOpts, container: &Container, container_dir: &Path) -> Result<()> {
    let pid = container.pid().context("created container has no init pid")?.as_raw();
    let mut record = Record::default();
    match cgroup2::detect() {
        Layout::PureV2 => {
            record.cgroup_v2 = Some(cgroup2::cgroup_of_pid(Path::new("/sys/fs/cgroup"), pid)?);
        }
        Layout::Hybrid(unified) => {
            // Recorded first, so a failure half-way is still cleaned up by teardown.
            record.cgroup_v2 = Some(cgroup2::own_cgroup_path(&unified, container.id()));
            record.own_cgroup = true;
            record.save(container_dir)?;
            cgroup2::create_own_cgroup(&unified, container.id(), pid)?;
        }
        Layout::V1Only => {}
    }
    record.save(container_dir)
}

/// Moves the calling process into the container's cgroup v2 (hybrid hosts), so that a process
/// `exec` forks inherits it and is confined like the container's own processes.
pub fn join_for_exec(container_dir: &Path) -> Result<()> {
    if let Some(Record { cgroup_v2: Some(dir), own_cgroup: true }) = Record::load(container_dir) {
        cgroup2::move_pid(&dir, std::process::id() as i32)?;
    }
    Ok(())
}

/// Undoes `after_build`. Called on delete (after libcontainer deleted the container, with the
/// record read before) and when create fails.
pub fn teardown(id: &str, record: Option<Record>) -> Result<()> {
    let own = match record {
        Some(Record { cgroup_v2: Some(dir), own_cgroup: true }) => Some(dir),
        Some(_) => None,
        // No record: clean up the deterministic path in case we made it.
        None => match cgroup2::detect() {
            Layout::Hybrid(unified) => Some(cgroup2::own_cgroup_path(&unified, id)),
            _ => None,
        },
    };
    if let Some(dir) = own {
        cgroup2::remove_own_cgroup(&dir)?;
    }
    Ok(())
}
