use anyhow::{Context, Result};
use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use crate::cli::GlobalOpts;
use crate::packet_guard::{self, PacketGuard};
use crate::{capabilities, container_ref, firewall};

pub fn exec(global: &GlobalOpts, args: liboci_cli::Exec) -> Result<i32> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    match container.status() {
        ContainerStatus::Running => {}
        ContainerStatus::Paused if args.ignore_paused => {}
        ContainerStatus::Paused => anyhow::bail!("cannot exec in a paused container (use --ignore-paused)"),
        // As runc: a created container's namespaces are set up, a process can join them.
        ContainerStatus::Created => {}
        _ => anyhow::bail!("cannot exec in a stopped container"),
    }
    // The container's spec, as its bundle has it (None: unreadable).
    let spec = super::load_spec(container.bundle()).ok();
    if spec.as_ref().is_some_and(has_user_namespace) {
        // libcontainer 0.7's tenant builder joins every namespace of the init but the user
        // namespace: the process would run as real host root with the container's
        // capabilities (able to detach the firewall). Refuse rather than run it so.
        anyhow::bail!(
            "exec into a container with its own user namespace is not supported: libcontainer 0.7 \
             would not join that user namespace (the process would run as host root)"
        );
    }
    if args.process.is_none() && args.command.is_empty() {
        anyhow::bail!("exec: no command given: pass a command or --process FILE");
    }
    if let Some(sub) = &args.cgroup {
        check_sub_cgroup(&container, sub)?;
    }
    let container_dir = container_ref::container_dir(&global.root, &args.container_id)?;
    // A process that could hold a capability defeating the firewall is refused, unless the
    // container's policy accepts it (as `create` does for the container's own process).
    let policy = spec.as_ref().and_then(|s| firewall::policy_of(s).ok().flatten());
    if policy.is_some() || firewall::Record::load(&container_dir).is_some_and(|r| r.firewalled) {
        let (own, added) = exec_capabilities(spec.as_ref(), &args)?;
        let what = "the exec'd process of this firewalled container";
        // The container's own were warned about by `create`: only what exec adds is repeated.
        capabilities::check(&own, policy.as_ref(), what)?;
        for warning in capabilities::check(&added, policy.as_ref(), what)? {
            crate::logging::warn(&format!("container {}: {warning}", args.container_id));
        }
    }
    // Before forking: what we fork inherits our cgroup v2, so it is firewalled like the rest.
    let record = firewall::join_for_exec(&container_dir)?;
    // A process that may hold CAP_NET_RAW in a firewalled container whose LSM guard is not
    // attached gets the seccomp fallback, answered by the sidecar.
    let guard_listener = match &record {
        Some(r) if r.firewalled && r.packet_guard != PacketGuard::Lsm && exec_may_hold_net_raw(spec.as_ref(), &args) => {
            Some(packet_guard::install(3 + args.preserve_fds.max(0))?)
        }
        _ => None,
    };

    super::protect_devnull_stdio();
    let user = args.user.map(|(uid, _)| uid);
    let group = args.user.and_then(|(_, gid)| gid);
    tracing::debug!("nsexec container setup: joining container {}", args.container_id);
    // libcontainer 0.7 joins only a running (or paused) container: a created one is joined
    // through a private copy of its state that says "running" (CreatedView), in the
    // container's own state directory; the container's real state is not touched.
    let created_view = match container.status() {
        ContainerStatus::Created => Some(CreatedView::new(&container_dir, &args.container_id)?),
        _ => None,
    };
    let state_root = created_view.as_ref().map_or(global.root.as_path(), |v| v.root.as_path());
    let pid = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(super::ContainerExecutor { tenant: true })
        .with_root_path(state_root)?
        .with_console_socket(args.console_socket.as_ref())
        // The pid file is ours to write (write_pid_file): a failure must fail the exec.
        .with_pid_file(None::<&std::path::Path>)?
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_tenant()
        .with_detach(args.detach)
        .with_cwd(args.cwd.as_ref())
        .with_env(args.env.into_iter().collect())
        .with_process(args.process.as_ref())
        .with_no_new_privs(args.no_new_privs)
        .with_container_args(args.command)
        .with_additional_gids(args.additional_gids)
        .with_user(user)
        .with_group(group)
        .with_capabilities(args.cap)
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup)
        .with_process_label(args.process_label)
        .with_apparmor(args.apparmor)
        .build()?;
    drop(created_view);
    if let Some(listener) = guard_listener {
        // Without the sidecar the listener closes with us: the kernel then fails these
        // calls with ENOSYS (still refused, not logged).
        if let Err(err) = packet_guard::hand_to_sidecar(&container_dir, &listener) {
            crate::logging::warn(&format!("packet-socket calls of this process will not be logged: {err:#}"));
        }
    }
    if let Some(path) = &args.pid_file {
        if let Err(err) = super::write_pid_file(path, pid.as_raw()) {
            // As runc: the process it could not record is killed, the exec fails.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            if !args.detach {
                let _ = super::wait_for_exit(pid);
            }
            return Err(err);
        }
    }
    if args.detach {
        return Ok(0);
    }
    super::wait_for_exit(pid)
}

/// The defeating capabilities the exec'd process may hold: the container's own (libcontainer
/// reuses them), and those exec adds: any `--cap`, or all of a `--process` file's (which
/// replaces the container's).
type ExecCapabilities = (Vec<capabilities::Held>, Vec<capabilities::Held>);

fn exec_capabilities(spec: Option<&oci_spec::runtime::Spec>, args: &liboci_cli::Exec) -> Result<ExecCapabilities> {
    if let Some(path) = &args.process {
        let raw = std::fs::read(path).with_context(|| format!("reading --process {}", path.display()))?;
        let process: oci_spec::runtime::Process = serde_json::from_slice(&raw)
            .with_context(|| format!("--process {}: not an OCI process object", path.display()))?;
        return Ok((Vec::new(), capabilities::held_by(process.capabilities().as_ref())));
    }
    let own = match spec {
        Some(spec) => capabilities::without_confined(
            capabilities::held_by(spec.process().as_ref().and_then(|p| p.capabilities().as_ref())),
            spec,
        ),
        // The bundle is gone: the container's own set was checked by `create`.
        None => Vec::new(),
    };
    let mut added = Vec::new();
    capabilities::add_exec_caps(&mut added, &args.cap);
    Ok((own, added))
}

/// The process's capabilities: the container's (libcontainer reuses them), any `--cap`, or
/// those of a `--process` file.
fn exec_may_hold_net_raw(spec: Option<&oci_spec::runtime::Spec>, args: &liboci_cli::Exec) -> bool {
    let from_spec = spec
        .map(|spec| packet_guard::may_hold_net_raw(spec.process().as_ref().and_then(|p| p.capabilities().as_ref())))
        // Unreadable: assume the worst.
        .unwrap_or(true);
    let from_args = args.cap.iter().any(|c| c.eq_ignore_ascii_case("CAP_NET_RAW") || c.eq_ignore_ascii_case("NET_RAW"));
    let from_process = args.process.as_ref().is_some_and(|path| {
        std::fs::read(path)
            .ok()
            .and_then(|raw| serde_json::from_slice::<oci_spec::runtime::Process>(&raw).ok())
            .map(|p| packet_guard::may_hold_net_raw(p.capabilities().as_ref()))
            .unwrap_or(true)
    });
    from_spec || from_args || from_process
}

fn has_user_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| nss.iter().any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::User))
}

/// A state root holding one container whose state says "running": the created container's
/// state.json (status rewritten) and its other regular files, under
/// `<container dir>/exec-<our pid>/`. Removed when dropped (after the exec'd process started).
struct CreatedView {
    root: std::path::PathBuf,
}

impl CreatedView {
    fn new(container_dir: &std::path::Path, id: &str) -> Result<Self> {
        let root = container_dir.join(format!("exec-{}", std::process::id()));
        let view = Self { root };
        let dir = view.root.join(id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for entry in std::fs::read_dir(container_dir)?.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let name = entry.file_name();
            if name == "state.json" {
                let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.path())?)
                    .context("reading the container's state")?;
                state["status"] = serde_json::Value::from("running");
                std::fs::write(dir.join(&name), serde_json::to_vec(&state)?)?;
            } else {
                std::fs::copy(entry.path(), dir.join(&name))?;
            }
        }
        Ok(view)
    }
}

impl Drop for CreatedView {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `--cgroup [CONTROLLERS:]PATH` checked as runc checks it before the process is made: the
/// sub-cgroup must exist (runc joins, it never creates: libcontainer would mkdir it), named
/// controllers must exist. Per-controller sub-cgroups (`memory:a --cgroup cpu:b`) are not
/// supported by libcontainer 0.7 (one path for all): a controller list is refused.
fn check_sub_cgroup(container: &libcontainer::container::Container, sub: &str) -> Result<()> {
    let (controllers, path) = match sub.split_once(':') {
        Some((c, p)) => (Some(c), p),
        None => (None, sub),
    };
    if let Some(controllers) = controllers {
        let known = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let known: Vec<&str> = known
            .lines()
            .filter_map(|l| l.splitn(3, ':').nth(1))
            .flat_map(|c| c.split(','))
            .collect();
        for controller in controllers.split(',') {
            if !known.contains(&controller) {
                anyhow::bail!("invalid --cgroup argument: unknown controller {controller:?}");
            }
        }
        anyhow::bail!("--cgroup {sub}: per-controller sub-cgroups are not supported (libcontainer 0.7 takes one path)");
    }
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return Ok(());
    }
    if std::path::Path::new(path).components().any(|c| c == std::path::Component::ParentDir) {
        anyhow::bail!("invalid --cgroup argument: {path} is not a sub cgroup path");
    }
    let base = container.spec()?.cgroup_path;
    let base = base.to_string_lossy();
    let base = base.trim_start_matches('/');
    let mut dirs: Vec<std::path::PathBuf> =
        super::delete::v1_mount_points().into_iter().map(|m| m.join(base)).filter(|d| d.is_dir()).collect();
    if dirs.is_empty() && crate::cgroup2::detect() == crate::cgroup2::Layout::PureV2 {
        dirs.push(std::path::Path::new("/sys/fs/cgroup").join(base));
    }
    for dir in dirs {
        let procs = dir.join(path).join("cgroup.procs");
        if !procs.exists() {
            anyhow::bail!(
                "exec --cgroup {sub}: adding pid of the new process to cgroups: open {}: no such file or directory",
                procs.display()
            );
        }
    }
    Ok(())
}
