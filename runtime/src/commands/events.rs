use std::time::Instant;

use anyhow::Result;
use libcgroups::common::CgroupManager;
use libcontainer::container::ContainerStatus;
use serde_json::json;

use crate::cli::{EventsArgs, GlobalOpts};
use crate::container_ref;

/// runc's `events`: `{"type":"stats","id":…,"data":{…}}` lines, once with `--stats`, else every
/// interval until the container stops.
pub fn events(global: &GlobalOpts, args: EventsArgs) -> Result<()> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    let manager = super::cgroup_manager(&container)?;
    let init = container.pid().map(|p| p.as_raw());
    loop {
        let started = Instant::now();
        let data = match manager.stats() {
            Ok(stats) => serde_json::to_value(stats)?,
            // libcgroups' v2 reader needs every controller's files; a cgroup without some
            // controllers enabled still has its core files, which runc reports.
            Err(err) => match init.and_then(core_v2_stats) {
                Some(data) => data,
                None => return Err(err.into()),
            },
        };
        println!("{}", json!({"type": "stats", "id": args.container_id, "data": data}));
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

/// Stats from the files every cgroup v2 directory has (cpu.stat's usage lines), plus memory
/// and pids where those controllers are enabled; None on a host without cgroup v2.
fn core_v2_stats(init_pid: i32) -> Option<serde_json::Value> {
    if crate::cgroup2::detect() != crate::cgroup2::Layout::PureV2 {
        return None;
    }
    let dir = crate::cgroup2::cgroup_of_pid(std::path::Path::new("/sys/fs/cgroup"), init_pid).ok()?;
    let cpu_stat = std::fs::read_to_string(dir.join("cpu.stat")).ok()?;
    let field = |name: &str| -> u64 {
        cpu_stat
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let read_u64 = |file: &str| -> Option<u64> { std::fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok() };
    let mut data = json!({
        "cpu": {"usage": {
            "total": field("usage_usec") * 1000,
            "user": field("user_usec") * 1000,
            "kernel": field("system_usec") * 1000,
        }},
    });
    if let Some(current) = read_u64("memory.current") {
        data["memory"] = json!({"usage": {"usage": current, "limit": read_u64("memory.max").unwrap_or(u64::MAX)}});
    }
    if let Some(current) = read_u64("pids.current") {
        data["pids"] = json!({"current": current, "limit": read_u64("pids.max").unwrap_or(0)});
    }
    Some(data)
}
