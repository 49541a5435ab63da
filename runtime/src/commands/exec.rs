use anyhow::Result;
use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use crate::cli::GlobalOpts;
use crate::{container_ref, firewall};

pub fn exec(global: &GlobalOpts, args: liboci_cli::Exec) -> Result<i32> {
    let container = container_ref::load(&global.root, &args.container_id)?;
    match container.status() {
        ContainerStatus::Running => {}
        ContainerStatus::Paused if args.ignore_paused => {}
        ContainerStatus::Paused => anyhow::bail!("cannot exec in a paused container (use --ignore-paused)"),
        ContainerStatus::Created => anyhow::bail!("cannot exec in a container that has not been started"),
        _ => anyhow::bail!("cannot exec in a stopped container"),
    }
    if has_user_namespace(&container) {
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
    // Before forking: what we fork inherits our cgroup v2, so it is firewalled like the rest.
    firewall::join_for_exec(&container_ref::container_dir(&global.root, &args.container_id)?)?;

    super::protect_devnull_stdio();
    let user = args.user.map(|(uid, _)| uid);
    let group = args.user.and_then(|(_, gid)| gid);
    let pid = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(DefaultExecutor {})
        .with_root_path(&global.root)?
        .with_console_socket(args.console_socket.as_ref())
        .with_pid_file(args.pid_file.as_ref())?
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
    if args.detach {
        return Ok(0);
    }
    super::wait_for_exit(pid)
}

fn has_user_namespace(container: &libcontainer::container::Container) -> bool {
    super::load_spec(container.bundle()).is_ok_and(|spec| {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|nss| nss.iter().any(|ns| ns.typ() == oci_spec::runtime::LinuxNamespaceType::User))
    })
}
