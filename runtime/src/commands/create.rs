use std::path::Path;

use anyhow::{Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use crate::cli::GlobalOpts;
use crate::{container_ref, firewall};

/// The parts of `create` and `run` that build a container.
pub(crate) struct CreateOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    pub no_pivot: bool,
    pub detach: bool,
}

pub fn create(global: &GlobalOpts, args: liboci_cli::Create) -> Result<()> {
    create_container(
        global,
        &CreateOptions {
            id: &args.container_id,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            detach: true,
        },
    )?;
    Ok(())
}

/// Builds the container through libcontainer (its init waits for `start`), then runs the
/// firewall hook. Any failure after the build deletes the container again: a container that
/// should be firewalled never exists without its firewall.
pub(crate) fn create_container(global: &GlobalOpts, opts: &CreateOptions) -> Result<Container> {
    container_ref::validate_id(opts.id)?;
    let root = super::ensure_root(global)?;
    if container_ref::exists(&root, opts.id)? {
        anyhow::bail!("container with given ID already exists");
    }
    let bundle = std::fs::canonicalize(opts.bundle)
        .with_context(|| format!("bundle {}", opts.bundle.display()))?;
    let spec = super::load_spec(&bundle)?;
    let policy = firewall::policy_of(&spec)?;
    super::protect_devnull_stdio();

    let mut container = ContainerBuilder::new(opts.id.to_string(), SyscallType::default())
        .with_executor(DefaultExecutor {})
        .with_pid_file(opts.pid_file)?
        .with_console_socket(opts.console_socket)
        .with_root_path(&root)?
        .with_preserved_fds(opts.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(global.systemd_cgroup)
        .with_detach(opts.detach)
        .with_no_pivot(opts.no_pivot)
        .build()?;

    let container_dir = root.join(opts.id);
    if let Err(err) = firewall::after_build(global, &container, &container_dir, &spec, policy) {
        let record = firewall::Record::load(&container_dir);
        if let Err(e) = container.delete(true) {
            crate::logging::warn(&format!("deleting half-created container {}: {e}", opts.id));
        }
        if let Err(e) = firewall::teardown(opts.id, record) {
            crate::logging::warn(&format!("cleaning up after failed create of {}: {e:#}", opts.id));
        }
        return Err(err.context("setting up the container's firewall"));
    }
    Ok(container)
}
