use std::path::Path;

use anyhow::{Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use std::os::fd::AsRawFd;

use crate::cli::GlobalOpts;
use crate::packet_guard::{self, PacketGuard};
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
    // Before anything is made: a refused container leaves nothing behind.
    let capability_warnings = match &policy {
        Some(p) => crate::capabilities::check_container(&spec, p)?,
        None => Vec::new(),
    };
    for warning in &capability_warnings {
        crate::logging::warn(&format!("container {}: {warning}", opts.id));
    }
    super::protect_devnull_stdio();
    let packet_guard = firewall::packet_guard_for(&spec, policy.as_ref());
    // Before the build, so that loading the BPF programs overlaps with it.
    let sidecar = match &policy {
        Some(p) => Some(firewall::start_sidecar_early(
            global,
            opts.id,
            &bundle,
            &spec,
            p,
            packet_guard,
            capability_warnings,
        )?),
        None => None,
    };
    // The seccomp fallback goes on this process right before libcontainer forks the
    // container from it; until the sidecar takes the listener, a thread answers (hooks).
    let guard_listener = match packet_guard {
        PacketGuard::Seccomp => Some(packet_guard::install(3 + opts.preserve_fds.max(0))?),
        _ => None,
    };
    let responder = guard_listener.as_ref().map(|l| {
        let refuse = policy.as_ref().is_some_and(|p| p.mode() == policy::Mode::Enforce);
        packet_guard::BuildResponder::start(l.as_raw_fd(), refuse)
    });

    tracing::debug!("nsexec container setup: creating container {}", opts.id);
    let built = ContainerBuilder::new(opts.id.to_string(), SyscallType::default())
        .with_executor(super::ContainerExecutor { tenant: false })
        // The pid file is written below (write_pid_file): a failure must fail the create.
        .with_pid_file(None::<&Path>)?
        .with_console_socket(opts.console_socket)
        .with_root_path(&root)?
        .with_preserved_fds(opts.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(global.systemd_cgroup)
        .with_detach(opts.detach)
        .with_no_pivot(opts.no_pivot)
        .build();
    if let Some(answered) = responder.map(|r| r.finish()).filter(|n| *n > 0) {
        crate::logging::warn(&format!("{answered} packet-socket/io_uring calls refused while creating {}", opts.id));
    }
    let mut container = built?;

    let container_dir = root.join(opts.id);
    if let Err(err) =
        firewall::after_build(&container, &container_dir, &spec, sidecar, packet_guard, guard_listener)
    {
        let record = firewall::Record::load(&container_dir);
        if let Err(e) = container.delete(true) {
            crate::logging::warn(&format!("deleting half-created container {}: {e}", opts.id));
        }
        if let Err(e) = firewall::teardown(opts.id, record) {
            crate::logging::warn(&format!("cleaning up after failed create of {}: {e:#}", opts.id));
        }
        return Err(err.context("setting up the container's firewall"));
    }
    if let Some(path) = opts.pid_file {
        let written = container.pid().context("created container has no init pid").and_then(|pid| super::write_pid_file(path, pid.as_raw()));
        if let Err(err) = written {
            // Firewall and all: the container is removed as a failed create leaves nothing.
            let _ = super::delete::delete_container(global, opts.id, true);
            return Err(err);
        }
    }
    Ok(container)
}
