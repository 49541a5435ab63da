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
    let force = match status {
        ContainerStatus::Stopped => force,
        // As runc: a created container that never ran is killed and deleted without --force.
        ContainerStatus::Created => true,
        _ if force => true,
        _ => anyhow::bail!(
            "cannot delete container {id} that is not stopped: {}",
            super::state::status_name(status)
        ),
    };
    let sub_cgroups = V1SubCgroups::of(&container);
    let mut result = container.delete(force);
    if result.is_err() && sub_cgroups.remove() {
        // libcontainer removes only the container's own cgroup directories; sub-cgroups its
        // processes made (cgroup v1, with cgroupns) are gone now, and it has recorded the
        // container as stopped: its second pass removes the rest.
        // Its init was killed by the first pass: once it is gone, the second pass does not
        // kill again (which would read cgroup directories the first pass already removed).
        if let Some(pid) = container.pid() {
            wait_gone(pid.as_raw());
        }
        result = container.delete(true);
    }
    match result {
        Ok(()) => {}
        // A poststop hook runs after the cgroups are gone: as runc, its failure is reported
        // and the container is deleted all the same (its state would make every later
        // `delete` run the hook again and fail, for ever once the bundle is gone).
        Err(libcontainer::error::LibcontainerError::Hook(err)) => {
            crate::logging::log("error", &format!("error running poststop hook: {err}"));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(anyhow::anyhow!("removing state directory {}: {e}", dir.display()));
                }
            }
        }
        Err(err) => return Err(err.into()),
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

/// The sub-cgroups of a container's cgroup v1 directories (found before the delete, while
/// the container's config is there), which processes of the container may have made
/// (`mkdir /sys/fs/cgroup/memory/foo` with a writable cgroupfs, as runc's tests do).
struct V1SubCgroups(Vec<std::path::PathBuf>);

impl V1SubCgroups {
    fn of(container: &libcontainer::container::Container) -> Self {
        let Ok(config) = container.spec() else { return Self(Vec::new()) };
        let relative = config.cgroup_path.to_string_lossy().trim_start_matches('/').to_string();
        if container.systemd() || relative.is_empty() {
            return Self(Vec::new());
        }
        Self(v1_mount_points().into_iter().map(|m| m.join(&relative)).filter(|d| d.is_dir()).collect())
    }

    /// Kills what is in the sub-cgroups and removes them, deepest first. True when there were
    /// any (all removed or not: the caller's retry reports what is left).
    fn remove(&self) -> bool {
        let mut subs = Vec::new();
        for dir in &self.0 {
            collect_subdirs(dir, &mut subs);
        }
        if subs.is_empty() {
            return false;
        }
        // Deepest first: a child path is longer than its parent's.
        subs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
        for sub in &subs {
            for _ in 0..20 {
                if let Ok(procs) = std::fs::read_to_string(sub.join("cgroup.procs")) {
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        // SAFETY: kill(2) on a process of the container being deleted.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
                match std::fs::remove_dir(sub) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        }
        true
    }
}

fn collect_subdirs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            collect_subdirs(&path, out);
            out.push(path);
        }
    }
}

/// Mount points of the cgroup v1 hierarchies (fstype "cgroup") in /proc/self/mountinfo.
pub(crate) fn v1_mount_points() -> Vec<std::path::PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let (fields, rest) = line.split_once(" - ")?;
            let mount_point = fields.split_whitespace().nth(4)?;
            (rest.split_whitespace().next()? == "cgroup").then(|| std::path::PathBuf::from(mount_point))
        })
        .collect()
}

/// Waits (at most 2 s) until a process has exited (gone or a zombie).
fn wait_gone(pid: i32) {
    for _ in 0..100 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()));
        if matches!(state, None | Some('Z') | Some('X')) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
