use std::time::Instant;

use anyhow::Result;
use libcgroups::common::CgroupManager;
use libcontainer::container::ContainerStatus;
use serde_json::json;

use crate::cli::{EventsArgs, GlobalOpts};
use crate::container_ref;

/// One line of `events`, its fields in runc's order (`{"type":"stats","id":…,"data":…}`:
/// consumers and runc's tests match the line's beginning).
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    data: serde_json::Value,
}

#[derive(serde::Serialize)]
struct OomEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
}

const OOM_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The `oom_kill` count of the container's memory cgroup (v1 memory.oom_control, v2
/// memory.events), located once from its init's /proc/PID/cgroup.
struct OomCounter {
    file: std::path::PathBuf,
    seen: u64,
}

impl OomCounter {
    fn of(init_pid: i32) -> Option<Self> {
        let cgroups = std::fs::read_to_string(format!("/proc/{init_pid}/cgroup")).ok()?;
        let v1 = cgroups.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers.split(',').any(|c| c == "memory").then(|| path.to_string())
        });
        let file = match v1 {
            Some(path) => {
                std::path::Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/')).join("memory.oom_control")
            }
            None => {
                let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
                let root = match crate::cgroup2::detect() {
                    crate::cgroup2::Layout::PureV2 => std::path::PathBuf::from("/sys/fs/cgroup"),
                    crate::cgroup2::Layout::Hybrid(root) => root,
                    crate::cgroup2::Layout::V1Only => return None,
                };
                root.join(path.trim_start_matches('/')).join("memory.events")
            }
        };
        let mut counter = Self { file, seen: 0 };
        counter.seen = counter.read()?;
        Some(counter)
    }

    fn read(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        text.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
    }
}

/// runc's `events`: `{"type":"stats","id":…,"data":{…}}` lines, once with `--stats`, else every
/// interval until the container stops.
pub fn events(global: &GlobalOpts, args: EventsArgs) -> Result<()> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    let manager = super::cgroup_manager(&container)?;
    let init = container.pid().map(|p| p.as_raw());
    let mut oom = if args.stats { None } else { init.and_then(OomCounter::of) };
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
        println!("{}", serde_json::to_string(&Event { kind: "stats", id: &args.container_id, data })?);
        if args.stats {
            return Ok(());
        }
        // Between stats lines, OOM kills in the container's memory cgroup are reported as
        // they happen (`{"type":"oom","id":…}`), as runc reports its OOM notifications.
        while started.elapsed() < args.interval {
            if let Some(counter) = &mut oom {
                if let Some(count) = counter.read().filter(|n| *n > counter.seen) {
                    counter.seen = count;
                    println!("{}", serde_json::to_string(&OomEvent { kind: "oom", id: &args.container_id })?);
                }
            }
            std::thread::sleep(args.interval.saturating_sub(started.elapsed()).min(OOM_POLL));
        }
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
