use std::path::Path;

use anyhow::{Context, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use std::os::fd::AsRawFd;

use crate::cli::GlobalOpts;
use crate::packet_guard::{self, PacketGuard};
use crate::{console, container_ref, firewall};

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

/// A created container, and the master of its terminal when `run` relays it itself.
pub(crate) struct Created {
    pub container: Container,
    pub console: Option<std::os::fd::OwnedFd>,
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
pub(crate) fn create_container(global: &GlobalOpts, opts: &CreateOptions) -> Result<Created> {
    container_ref::validate_id(opts.id)?;
    let root = super::ensure_root(global)?;
    if container_ref::exists(&root, opts.id)? {
        anyhow::bail!("container with given ID already exists");
    }
    let bundle = std::fs::canonicalize(opts.bundle)
        .with_context(|| format!("bundle {}", opts.bundle.display()))?;
    let spec = super::load_spec(&bundle)?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    console::check_terminal(terminal, opts.detach, opts.console_socket)?;
    // Connected now: a bad --console-socket fails before anything is made, as with runc.
    let console_target = match (terminal, opts.console_socket) {
        (false, _) => None,
        (true, Some(path)) => Some(console::Target::forward_to(path)?),
        (true, None) => Some(console::Target::Foreground),
    };
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

    // Every terminal goes through our console broker (crate::console): libcontainer gets its
    // socket, and so is told "detached" (its check_terminal, done above as runc does, is all
    // it uses that for).
    let broker = match console_target {
        Some(target) => {
            let process = spec.process().as_ref().context("spec has no process")?;
            Some(console::Broker::start(target, console::Terminal::of(process, Some(&spec)), 3 + opts.preserve_fds.max(0))?)
        }
        None => None,
    };
    tracing::debug!("nsexec container setup: creating container {}", opts.id);
    let built = ContainerBuilder::new(opts.id.to_string(), SyscallType::default())
        // No wait in the init: create/run return (and so start comes) only once the broker is done.
        .with_executor(super::ContainerExecutor::default())
        // The pid file is written below (write_pid_file): a failure must fail the create.
        .with_pid_file(None::<&Path>)?
        .with_console_socket(broker.as_ref().map(|b| b.socket()))
        .with_root_path(&root)?
        .with_preserved_fds(opts.preserve_fds)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(global.systemd_cgroup)
        .with_detach(opts.detach || broker.is_some())
        .with_no_pivot(opts.no_pivot)
        .build();
    if let Some(answered) = responder.map(|r| r.finish()).filter(|n| *n > 0) {
        crate::logging::warn(&format!("{answered} packet-socket/io_uring calls refused while creating {}", opts.id));
    }
    let mut container = built?;
    let container_dir = root.join(opts.id);
    let mut ready = firewall::after_build(&container, &container_dir, &spec, sidecar, packet_guard, guard_listener)
        .context("setting up the container's firewall");
    // The init sent its terminal before it reported ready: the broker has it, or is at it.
    let mut console = None;
    if let (Ok(()), Some(broker)) = (&ready, broker) {
        match broker.finish() {
            Ok(master) => console = master,
            Err(err) => ready = Err(err),
        }
    }
    if let Err(err) = ready {
        let record = firewall::Record::load(&container_dir);
        if let Err(e) = container.delete(true) {
            crate::logging::warn(&format!("deleting half-created container {}: {e}", opts.id));
        }
        if let Err(e) = firewall::teardown(opts.id, record) {
            crate::logging::warn(&format!("cleaning up after failed create of {}: {e:#}", opts.id));
        }
        return Err(err);
    }
    if let Some(path) = opts.pid_file {
        let written = container.pid().context("created container has no init pid").and_then(|pid| super::write_pid_file(path, pid.as_raw()));
        if let Err(err) = written {
            // Firewall and all: the container is removed as a failed create leaves nothing.
            let _ = super::delete::delete_container(global, opts.id, true);
            return Err(err);
        }
    }
    Ok(Created { container, console })
}
