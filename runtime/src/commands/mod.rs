//! One module per verb; `dispatch` maps the parsed command line onto them and returns the
//! process exit code (the container's for `run`/`exec`, 0 otherwise; errors exit 1).

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod metrics;
mod pause;
mod policy_check;
mod ps;
mod report;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{Cli, Command, GlobalOpts};

pub fn dispatch(cli: Cli) -> Result<i32> {
    let global = cli.global;
    if global.criu.is_some() {
        crate::logging::warn("--criu is ignored: checkpoint/restore is not supported");
    }
    let ok = |r: Result<()>| r.map(|()| 0);
    match cli.command {
        Command::Create(args) => ok(create::create(&global, args)),
        Command::Start(args) => ok(start::start(&global, args)),
        Command::State(args) => ok(state::state(&global, args)),
        Command::Kill(args) => ok(kill::kill(&global, args)),
        Command::Delete(args) => ok(delete::delete(&global, args)),
        Command::Run(args) => run::run(&global, args),
        // runc reports a failed exec (no container, no binary, paused) with status 255.
        Command::Exec(args) => exec::exec(&global, args).or_else(|err| {
            crate::logging::fatal(&err);
            Ok(255)
        }),
        Command::Ps(args) => ok(ps::ps(&global, args)),
        Command::List(args) => ok(list::list(&global, args)),
        Command::Pause(args) => ok(pause::pause(&global, args)),
        Command::Resume(args) => ok(pause::resume(&global, args)),
        Command::Events(args) => ok(events::events(&global, args)),
        Command::Features(_) => ok(features::features()),
        Command::Spec(args) => ok(spec::spec(args)),
        Command::Update(args) => ok(update::update(&global, args)),
        Command::Report(args) => ok(report::report(&global, args)),
        Command::Metrics(args) => ok(metrics::metrics(&global, args)),
        Command::Policy(crate::cli::PolicyCommand::Check(args)) => policy_check::check(args),
        Command::Checkpoint(_) | Command::Restore(_) => {
            anyhow::bail!("checkpoint/restore is not supported by cgfw-runc (no CRIU support)")
        }
        Command::Sidecar(args) => crate::sidecar::run(&global, &args.container_id),
    }
}

/// Makes sure `--root` exists (0700, like runc) and returns it canonicalised.
pub(crate) fn ensure_root(global: &GlobalOpts) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&global.root)
        .with_context(|| format!("creating root directory {}", global.root.display()))?;
    std::fs::canonicalize(&global.root)
        .with_context(|| format!("resolving root directory {}", global.root.display()))
}

/// Exit code of a waited-for process as a shell reports it: the status, or 128+signal.
pub(crate) fn exit_code(status: nix::sys::wait::WaitStatus) -> Option<i32> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Waits for a child process to end, retrying on EINTR.
pub(crate) fn wait_for_exit(pid: nix::unistd::Pid) -> Result<i32> {
    loop {
        match nix::sys::wait::waitpid(pid, None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(code);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).with_context(|| format!("waiting for process {pid}")),
        }
    }
}

/// The cgroup manager of a container, as libcontainer set it up (cgroupfs or systemd).
pub(crate) fn cgroup_manager(
    container: &libcontainer::container::Container,
) -> Result<libcgroups::common::AnyCgroupManager> {
    Ok(libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: container.spec()?.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_string(),
    })?)
}

/// Writes a `--pid-file` as runc does: a hidden temporary file in the same directory, renamed
/// over the path, so a reader never sees a partial pid. libcontainer only warns when it cannot
/// write the file; runc fails the command (status 255 for exec), and so do we: the caller was
/// promised a pid file.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = std::path::absolute(path).with_context(|| format!("pid file {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}"));
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("creating pid file {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// The bundle's config.json, parsed.
pub(crate) fn load_spec(bundle: &Path) -> Result<oci_spec::runtime::Spec> {
    let path = bundle.join("config.json");
    oci_spec::runtime::Spec::load(&path).with_context(|| format!("loading {}", path.display()))
}

/// Works around libcontainer 0.7 re-opening a /dev/null stdio fd *read-only* inside the
/// container (`reopen_dev_null` uses `File::open`), which makes `cgfw-runc run ... >/dev/null`
/// fail with "write error: Bad file descriptor" where runc works. An output fd that is
/// /dev/null is swapped for /dev/zero opened write-only: writes are discarded the same way,
/// and libcontainer leaves it alone. stdin on /dev/null is fine read-only and is kept.
pub(crate) fn protect_devnull_stdio() {
    use std::os::fd::AsRawFd;

    use nix::sys::stat::{fstat, stat};
    let Ok(null) = stat("/dev/null") else { return };
    for fd in [1, 2] {
        let Ok(current) = fstat(fd) else { continue };
        if current.st_mode & libc::S_IFMT == libc::S_IFCHR && current.st_rdev == null.st_rdev {
            if let Ok(zero) = std::fs::OpenOptions::new().write(true).open("/dev/zero") {
                let _ = nix::unistd::dup2(zero.as_raw_fd(), fd);
            }
        }
    }
}

/// libcontainer's default executor, with SIGPIPE put back to its default disposition in the
/// container process right before exec. The runtime keeps SIGPIPE ignored (Rust's default):
/// a write to a channel or socket whose peer is gone must be an error it handles, not a
/// silent death (a quick container's init can exit while libcontainer still talks to it).
/// An ignored signal stays ignored across exec, and runc's containers start with SIGPIPE at
/// its default (`yes | head` must end), so the reset happens here, in the container only.
///
/// With a terminal, it first waits for the console broker to have set the terminal up (owner,
/// size: see `crate::console`), reading the broker's pipe, inherited through libcontainer's
/// clone (close-on-exec, so gone once the payload runs).
///
/// With `--debug` it also logs the steps runc's own debug output names ("child process in
/// init()", "init: closing the pipe to signal completion", "setns_init: about to exec"), at
/// the matching points of libcontainer's container process, so that what reads runc's debug
/// log finds them. `tenant` is set for `exec`.
#[derive(Clone, Default)]
pub(crate) struct ContainerExecutor {
    pub tty_sync: Option<std::os::fd::RawFd>,
    pub tenant: bool,
}

impl libcontainer::workload::Executor for ContainerExecutor {
    fn exec(&self, spec: &oci_spec::runtime::Spec) -> Result<(), libcontainer::workload::ExecutorError> {
        if let Some(fd) = self.tty_sync {
            crate::console::wait_for_broker(fd);
        }
        if self.tenant {
            tracing::debug!("setns_init: about to exec");
        } else {
            tracing::debug!("standard_init: about to exec");
        }
        // SAFETY: the container process is single-threaded here, just before execvp.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        libcontainer::workload::default::DefaultExecutor {}.exec(spec)
    }

    /// Runs in the container process once it is set up, right before it tells the runtime it
    /// is ready (libcontainer's init_ready).
    fn validate(&self, spec: &oci_spec::runtime::Spec) -> Result<(), libcontainer::workload::ExecutorValidationError> {
        tracing::debug!("child process in init(): container process set up, checking its executable");
        match without_path(spec) {
            Some(args0) => validate_without_path(&args0)?,
            None => libcontainer::workload::default::DefaultExecutor {}.validate(spec)?,
        }
        tracing::debug!("init: closing the pipe to signal completion");
        Ok(())
    }
}

/// args[0] of a process whose environment has no PATH (None: it has one, or no args).
fn without_path(spec: &oci_spec::runtime::Spec) -> Option<String> {
    let process = spec.process().as_ref()?;
    let args0 = process.args().as_ref()?.first()?.clone();
    let has_path = process.env().as_ref().is_some_and(|env| env.iter().any(|e| e.starts_with("PATH=")));
    (!has_path).then_some(args0)
}

/// A process without PATH in its environment, as runc treats it (Go's exec.LookPath with an
/// empty PATH): a name with a slash is run as given, a bare name is not found. libcontainer
/// refuses every such process ("PATH environment variable is not set"); `ctr run --rootfs`
/// writes specs without PATH.
fn validate_without_path(args0: &str) -> Result<(), libcontainer::workload::ExecutorValidationError> {
    use std::os::unix::fs::PermissionsExt;
    use libcontainer::workload::ExecutorValidationError::ArgValidationError;
    if !args0.contains('/') {
        return Err(ArgValidationError(format!("exec: {args0:?}: executable file not found in $PATH")));
    }
    match std::fs::metadata(args0) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(ArgValidationError(format!("exec: {args0:?}: permission denied"))),
        Err(err) => Err(ArgValidationError(format!("exec: {args0:?}: {err}"))),
    }
}
