use std::time::Instant;

use anyhow::Result;
use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager};
use libcontainer::container::ContainerStatus;
use serde_json::json;

use crate::cli::{EventsArgs, GlobalOpts};
use crate::container_ref;

/// runc's `events`: `{"type":"stats","id":…,"data":{…}}` lines, once with `--stats`, else every
/// interval until the container stops.
pub fn events(global: &GlobalOpts, args: EventsArgs) -> Result<()> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    let manager = create_cgroup_manager(CgroupConfig {
        cgroup_path: container.spec()?.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_string(),
    })?;
    loop {
        let started = Instant::now();
        let stats = manager.stats()?;
        println!("{}", json!({"type": "stats", "id": args.container_id, "data": stats}));
        if args.stats {
            return Ok(());
        }
        std::thread::sleep(args.interval.saturating_sub(started.elapsed()));
        let current = container_ref::load(&global.root, &args.container_id);
        if current.map(|c| c.status() == ContainerStatus::Stopped).unwrap_or(true) {
            return Ok(());
        }
    }
}
