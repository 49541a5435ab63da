//! The hook between "container built, init waiting" and "create returns", and its undo on
//! delete. Everything the runtime makes for a container besides libcontainer's own state is
//! created here and recorded in `<root>/<id>/cgfw.json`, and removed by `teardown`, which also
//! works from deterministic paths when that record is missing (a runtime killed mid-create).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::container::Container;
use serde::{Deserialize, Serialize};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use policy::Policy;

use crate::cgroup2::{self, Layout};
use crate::cli::GlobalOpts;
use crate::packet_guard::{self, PacketGuard};
use crate::sidecar::{self, recorder::process_start_time, ContainerPlace, PendingSidecar, SidecarConfig};

const RECORD_FILE: &str = "cgfw.json";

/// What the runtime made for one container, beyond libcontainer's state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The cgroup v2 the container's processes are in (where the firewall attaches).
    pub cgroup_v2: Option<PathBuf>,
    /// True when `cgroup_v2` is ours (hybrid host) and must be removed on delete.
    pub own_cgroup: bool,
    /// Set before the sidecar is spawned: the container has a policy.
    #[serde(default)]
    pub firewalled: bool,
    /// The firewall sidecar, once it reported ready.
    #[serde(default)]
    pub sidecar: Option<SidecarProcess>,
    /// How the container's packet sockets are refused (`exec` adds the seccomp fallback to
    /// a CAP_NET_RAW process unless the LSM program is attached).
    #[serde(default)]
    pub packet_guard: PacketGuard,
}

/// A process identified by pid and start time, so a reused pid is never signalled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SidecarProcess {
    pub pid: i32,
    pub start_time: u64,
}

impl SidecarProcess {
    pub fn is_alive(&self) -> bool {
        process_start_time(self.pid as u32) == Some(self.start_time)
    }
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

/// Validates the bundle's firewall policy before anything is created. `None`: no `cgfw.io/*`
/// annotation, the container runs exactly as under runc.
pub fn policy_of(spec: &Spec) -> Result<Option<Policy>> {
    let Some(annotations) = spec.annotations() else { return Ok(None) };
    Policy::from_annotations(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| anyhow::anyhow!("invalid firewall policy: {e}"))
}

/// How a container with this spec (and policy) needs its packet sockets refused; decided
/// before the build, because the seccomp fallback must be in place when libcontainer forks.
pub fn packet_guard_for(spec: &Spec, policy: Option<&Policy>) -> PacketGuard {
    let caps = spec.process().as_ref().and_then(|p| p.capabilities().as_ref());
    if policy.is_none() || !packet_guard::may_hold_net_raw(caps) {
        PacketGuard::NotNeeded
    } else if packet_guard::lsm_guard_supported() {
        PacketGuard::Lsm
    } else {
        PacketGuard::Seccomp
    }
}

/// Starts the firewall sidecar of a container with a policy, before the build: it loads its
/// programs meanwhile ([`PendingSidecar`]). `warnings` go into the container's report.
pub fn start_sidecar_early(
    global: &GlobalOpts,
    id: &str,
    bundle: &Path,
    spec: &Spec,
    policy: &Policy,
    packet_guard: PacketGuard,
    mut warnings: Vec<String>,
) -> Result<PendingSidecar> {
    let resolv_conf = sidecar::resolv_conf_of(spec, bundle);
    let annotations = spec.annotations().clone().unwrap_or_default();
    let (workload, dropped) = sidecar::workload::from_bundle(&annotations, bundle, id);
    for warning in &dropped {
        crate::logging::warn(&format!("container {id}: {warning}"));
    }
    warnings.extend(dropped);
    sidecar::spawn(
        global,
        &SidecarConfig {
            id: id.to_string(),
            upstreams: sidecar::upstreams_for(policy, resolv_conf.as_deref()),
            search: resolv_conf.as_deref().map(sidecar::search::SearchList::parse).unwrap_or_default(),
            workload,
            policy: policy.clone(),
            log_dir: global.cgfw_log_dir.clone(),
            pin_dir: sidecar::pin_dir(id),
            packet_guard,
            log_limits: global.log_limits(),
            warnings,
        },
    )
}

/// Runs after libcontainer built the container (init waiting for `start`): our cgroup v2 on
/// hybrid hosts, loopback up in a new network namespace (as runc does), and with a policy,
/// the firewall sidecar — attached and ready before this returns.
pub fn after_build(
    container: &Container,
    container_dir: &Path,
    spec: &Spec,
    sidecar: Option<PendingSidecar>,
    packet_guard: PacketGuard,
    guard_listener: Option<std::os::fd::OwnedFd>,
) -> Result<()> {
    let pid = container.pid().context("created container has no init pid")?.as_raw();
    let mut record = Record { packet_guard, ..Record::default() };
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
    record.save(container_dir)?;
    let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    if has_new_network_namespace(spec) {
        crate::netns::run_in(&netns, crate::netns::bring_loopback_up)?;
    }
    let Some(sidecar) = sidecar else { return Ok(()) };
    let cgroup = record
        .cgroup_v2
        .clone()
        .context("this host has no cgroup v2 (needed for the firewall's BPF programs)")?;
    // Recorded first: if we die between starting it and saving its pid, teardown still looks.
    record.firewalled = true;
    record.save(container_dir)?;
    let sidecar_pid = sidecar.start(&ContainerPlace { cgroup, netns })?;
    // No start time means the sidecar is already gone (or a zombie): a container without its
    // DNS proxy and event log is not created (teardown finds the pins by the record). A
    // placeholder time would make `is_alive` false for ever, and a live sidecar unsignalled.
    let start_time = process_start_time(sidecar_pid as u32)
        .with_context(|| format!("the firewall sidecar (pid {sidecar_pid}) exited right after it reported ready"))?;
    record.sidecar = Some(SidecarProcess { pid: sidecar_pid, start_time });
    record.save(container_dir)?;
    if let Some(listener) = guard_listener {
        packet_guard::hand_to_sidecar(container_dir, &listener)?;
    }
    Ok(())
}

fn has_new_network_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| nss.iter().any(|ns| ns.typ() == LinuxNamespaceType::Network && ns.path().is_none()))
}

/// Moves the calling process into the container's cgroup v2 (hybrid hosts), so that a process
/// `exec` forks inherits it and is confined like the container's own processes. Returns the
/// record (None: a container created by another runtime, or not by us).
pub fn join_for_exec(container_dir: &Path) -> Result<Option<Record>> {
    let record = Record::load(container_dir);
    if let Some(Record { cgroup_v2: Some(dir), own_cgroup: true, .. }) = &record {
        cgroup2::move_pid(dir, std::process::id() as i32)?;
    }
    Ok(record)
}

/// Undoes `after_build`. Called on delete (after libcontainer deleted the container, with the
/// record read before) and when create fails.
pub fn teardown(id: &str, record: Option<Record>) -> Result<()> {
    match record.as_ref() {
        Some(Record { sidecar: Some(process), .. }) => stop_sidecar(*process),
        // A container without a policy has no sidecar to look for.
        Some(Record { firewalled: false, .. }) => {}
        // The runtime died between spawning the sidecar and saving its pid, or the state is
        // lost: find it by its command line.
        _ => {
            for process in find_sidecars(id) {
                stop_sidecar(process);
            }
        }
    }
    let pins = sidecar::pin_dir(id);
    if pins.exists() {
        ebpf::Firewall::unpin(&pins).with_context(|| format!("removing pins {}", pins.display()))?;
    }
    let own = match record {
        Some(Record { cgroup_v2: Some(dir), own_cgroup: true, .. }) => Some(dir),
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

/// For a firewalled container whose recorded sidecar no longer runs (killed, OOM-killed,
/// crashed): the pinned programs keep refusing what the policy refuses, but from then on DNS
/// gets no answer and nothing is logged. The user reads that in the report.
pub fn dead_sidecar_warning(record: &Record) -> Option<String> {
    let sidecar = record.sidecar?;
    (!sidecar.is_alive()).then(|| {
        format!(
            "the firewall sidecar (pid {}) stopped while the container existed (killed, OOM-killed or \
             crashed): the pinned programs kept blocking, but DNS went unanswered and nothing was \
             logged after that",
            sidecar.pid
        )
    })
}

/// Adds `warning` to the container's report file (once), where its sidecar can no longer.
pub fn note_in_report(log_dir: &Path, id: &str, warning: &str) -> Result<()> {
    use crate::sidecar::recorder::{report_path, Report};
    let path = report_path(log_dir, id);
    let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut report: Report = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    if report.warnings.iter().any(|w| w == warning) {
        return Ok(());
    }
    report.warnings.push(warning.to_string());
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(&report)?)?;
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

/// SIGTERM, then SIGKILL after a bounded wait. The sidecar writes its final report on TERM.
fn stop_sidecar(process: SidecarProcess) {
    use nix::sys::signal::{kill, Signal};
    let pid = nix::unistd::Pid::from_raw(process.pid);
    if !process.is_alive() {
        return;
    }
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while process.is_alive() && std::time::Instant::now() < deadline {
        // Reap it if it happens to be our child (run, or create in the same process).
        let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if process.is_alive() {
        let _ = kill(pid, Signal::SIGKILL);
    }
    let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
}

/// Sidecars of container `id`, found by their command line (`... sidecar <id>`).
fn find_sidecars(id: &str) -> Vec<SidecarProcess> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else { return false };
            let args: Vec<&[u8]> = raw.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
            args.len() >= 2 && args[args.len() - 2] == b"sidecar" && args[args.len() - 1] == id.as_bytes()
        })
        .filter_map(|pid| Some(SidecarProcess { pid, start_time: process_start_time(pid as u32)? }))
        .collect()
}
