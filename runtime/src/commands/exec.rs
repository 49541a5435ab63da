use anyhow::{Context, Result};
use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use crate::cli::GlobalOpts;
use crate::packet_guard::{self, PacketGuard};
use crate::{capabilities, console, container_ref, firewall};

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
    // --process is read once (it may be a pipe: `-p <(...)`), and libcontainer reads our copy.
    let process_raw = match &args.process {
        Some(path) => Some(normalize_process(
            &std::fs::read(path).with_context(|| format!("reading --process {}", path.display()))?,
        )?),
        None => None,
    };
    let process = exec_process(spec.as_ref(), &args, process_raw.as_deref())?;
    let terminal = process.terminal().unwrap_or(false);
    console::check_terminal(terminal, args.detach, args.console_socket.as_deref())?;
    let console_target = match (terminal, &args.console_socket) {
        (false, _) => None,
        (true, Some(path)) => Some(console::Target::forward_to(path)?),
        (true, None) => Some(console::Target::Foreground),
    };
    if let Some(sub) = &args.cgroup {
        check_sub_cgroup(&container, sub)?;
    }
    let container_dir = container_ref::container_dir(&global.root, &args.container_id)?;
    // A process that could hold a capability defeating the firewall is refused, unless the
    // container's policy accepts it (as `create` does for the container's own process).
    let policy = spec.as_ref().and_then(|s| firewall::policy_of(s).ok().flatten());
    if policy.is_some() || firewall::Record::load(&container_dir).is_some_and(|r| r.firewalled) {
        let (own, added) = exec_capabilities(spec.as_ref(), &args, process_raw.as_deref())?;
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
        Some(r) if r.firewalled && r.packet_guard != PacketGuard::Lsm && exec_may_hold_net_raw(spec.as_ref(), &args, process_raw.as_deref()) => {
            Some(packet_guard::install(3 + args.preserve_fds.max(0))?)
        }
        _ => None,
    };

    super::protect_devnull_stdio();
    // The process as runc builds it (its getProcess): --process as given, or the container's
    // process with the command line's changes. libcontainer 0.7 would otherwise start from
    // an empty process (uid 0, cwd /, no terminal, no rlimits) when there is no --process.
    let private = tempfile_dir()?;
    let process_file = private.path.join("process.json");
    match &process_raw {
        Some(raw) => std::fs::write(&process_file, raw),
        None => std::fs::write(&process_file, serde_json::to_vec(&process)?),
    }
    .with_context(|| format!("writing {}", process_file.display()))?;
    let broker = match console_target {
        Some(target) => Some(console::Broker::start(
            target,
            console::Terminal::of(&process, spec.as_ref()),
            3 + args.preserve_fds.max(0),
        )?),
        None => None,
    };
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
        .with_executor(super::ContainerExecutor { tty_sync: broker.as_ref().map(|b| b.executor_sync_fd()), tenant: true })
        .with_root_path(state_root)?
        .with_console_socket(broker.as_ref().map(|b| b.socket()))
        // The pid file is ours to write (write_pid_file): a failure must fail the exec.
        .with_pid_file(None::<&std::path::Path>)?
        .with_preserved_fds(args.preserve_fds)
        .validate_id()?
        .as_tenant()
        // Our check_terminal (runc's) is done; libcontainer uses this flag for nothing else.
        .with_detach(args.detach || broker.is_some())
        .with_process(Some(&process_file))
        .with_ignore_paused(args.ignore_paused)
        .with_sub_cgroup(args.cgroup)
        .with_process_label(args.process_label)
        .build()?;
    // The process ran once the terminal was set up; the broker has handed it on.
    let console = match broker {
        Some(b) => b.finish()?,
        None => None,
    };
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
    let relay = console.map(console::Relay::start);
    let code = super::wait_for_exit(pid);
    if let Some(relay) = relay {
        relay.finish();
    }
    code
}

/// A --process file as runc reads it (Go's JSON decoding): an absent `user` is uid 0, gid 0
/// (oci-spec, and so libcontainer, would refuse the file). Anything else is kept as given.
fn normalize_process(raw: &[u8]) -> Result<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(raw).context("--process: not JSON")?;
    let Some(obj) = value.as_object_mut() else {
        anyhow::bail!("--process: not an OCI process object");
    };
    if obj.contains_key("user") {
        return Ok(raw.to_vec());
    }
    obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
    Ok(serde_json::to_vec(&value)?)
}

/// A private directory, removed when dropped.
struct PrivateDir {
    path: std::path::PathBuf,
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn tempfile_dir() -> Result<PrivateDir> {
    let path = nix::unistd::mkdtemp(&std::env::temp_dir().join("cgfw-runc-exec.XXXXXX"))
        .context("creating a private directory for the process")?;
    Ok(PrivateDir { path })
}

/// runc's getProcess: the --process file as is (`-t` does not change it), or the container's
/// process with the command, --cwd, --apparmor, --cap (added to the bounding, effective,
/// permitted and ambient sets), --env (a variable given replaces the container's), -t,
/// --no-new-privs, --user and --additional-gids.
fn exec_process(
    spec: Option<&oci_spec::runtime::Spec>,
    args: &liboci_cli::Exec,
    process_raw: Option<&[u8]>,
) -> Result<oci_spec::runtime::Process> {
    use oci_spec::runtime::{Capability, Process};

    if let Some(raw) = process_raw {
        return serde_json::from_slice::<Process>(raw).context("--process: not an OCI process object");
    }
    let mut p = spec
        .and_then(|s| s.process().clone())
        .context("the container's config.json (its process) cannot be read")?;
    p.set_args(Some(args.command.clone()));
    if let Some(cwd) = &args.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(profile) = &args.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if !args.cap.is_empty() {
        let mut added = Vec::new();
        for c in &args.cap {
            let upper = c.to_ascii_uppercase();
            let name = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
            // oci-spec's names are config.json's (serde: "CAP_X"; its FromStr wants "X").
            added.push(
                serde_json::from_value::<Capability>(serde_json::Value::String(name))
                    .map_err(|_| anyhow::anyhow!("unknown capability {c}"))?,
            );
        }
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: Option<&oci_spec::runtime::Capabilities>| {
            let mut set = set.cloned().unwrap_or_default();
            set.extend(added.iter().copied());
            set
        };
        caps.set_bounding(Some(add(caps.bounding().as_ref())));
        caps.set_effective(Some(add(caps.effective().as_ref())));
        caps.set_permitted(Some(add(caps.permitted().as_ref())));
        caps.set_ambient(Some(add(caps.ambient().as_ref())));
        p.set_capabilities(Some(caps));
    }
    if !args.env.is_empty() {
        let mut env: Vec<String> = p
            .env()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| {
                let key = e.split('=').next().unwrap_or("");
                !args.env.iter().any(|(k, _)| k == key)
            })
            .collect();
        env.extend(args.env.iter().map(|(k, v)| format!("{k}={v}")));
        p.set_env(Some(env));
    }
    p.set_terminal(Some(args.tty));
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    let mut user = p.user().clone();
    if let Some((uid, gid)) = args.user {
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !args.additional_gids.is_empty() {
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(args.additional_gids.iter().copied());
        user.set_additional_gids(Some(gids));
    }
    p.set_user(user);
    Ok(p)
}

/// The defeating capabilities the exec'd process may hold: the container's own (libcontainer
/// reuses them), and those exec adds: any `--cap`, or all of a `--process` file's (which
/// replaces the container's).
type ExecCapabilities = (Vec<capabilities::Held>, Vec<capabilities::Held>);

fn exec_capabilities(
    spec: Option<&oci_spec::runtime::Spec>,
    args: &liboci_cli::Exec,
    process_raw: Option<&[u8]>,
) -> Result<ExecCapabilities> {
    if let Some(raw) = process_raw {
        let process: oci_spec::runtime::Process =
            serde_json::from_slice(raw).context("--process: not an OCI process object")?;
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
fn exec_may_hold_net_raw(spec: Option<&oci_spec::runtime::Spec>, args: &liboci_cli::Exec, process_raw: Option<&[u8]>) -> bool {
    let from_spec = spec
        .map(|spec| packet_guard::may_hold_net_raw(spec.process().as_ref().and_then(|p| p.capabilities().as_ref())))
        // Unreadable: assume the worst.
        .unwrap_or(true);
    let from_args = args.cap.iter().any(|c| c.eq_ignore_ascii_case("CAP_NET_RAW") || c.eq_ignore_ascii_case("NET_RAW"));
    let from_process = process_raw.is_some_and(|raw| {
        serde_json::from_slice::<oci_spec::runtime::Process>(raw)
            .ok()
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

#[cfg(test)]
mod tests {
    use super::normalize_process;

    #[test]
    fn a_process_without_user_runs_as_root_and_others_are_kept_byte_for_byte() {
        let raw = br#"{"terminal": true, "args": ["/bin/sh"], "cwd": "/"}"#;
        let fixed: serde_json::Value = serde_json::from_slice(&normalize_process(raw).unwrap()).unwrap();
        assert_eq!(fixed["user"], serde_json::json!({"uid": 0, "gid": 0}));
        assert_eq!(fixed["terminal"], true);
        let _: oci_spec::runtime::Process = serde_json::from_value(fixed).unwrap();
        let given = br#"{"user": {"uid": 5, "gid": 6}, "args": ["x"], "cwd": "/"}"#;
        assert_eq!(normalize_process(given).unwrap(), given.to_vec());
        assert!(normalize_process(b"[1]").is_err());
    }
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
